#pragma once
// Reading the API's JSON into the typed structs (and the request bodies out).
#include <nlohmann/json_fwd.hpp>

#include "openai/types.hpp"

namespace batchd::openai {

file_object parse_file(const nlohmann::json& j);
batch parse_batch(const nlohmann::json& j);
nlohmann::json to_json(const create_batch_request& r);

}  // namespace batchd::openai
