#pragma once
// The endpoints the Batch API takes (openapi.yaml, #CreateBatchRequest's
// `endpoint`), and what each one's request body needs besides its model —
// checked in request files line by line, and on a manifest's first filled
// body, so a batch is never sent to fail at the API line by line.
#include <simdjson.h>

#include <string>
#include <string_view>

namespace batchd::jobfiles {

bool is_batch_endpoint(std::string_view url);
// "/v1/responses, /v1/chat/completions, …": for messages.
std::string batch_endpoint_list();

// What a request body for `endpoint` lacks: "" if nothing, else the problem
// (and `hint`, how to fix it). The model is checked apart.
std::string check_body(std::string_view endpoint, simdjson::dom::element body, std::string& hint);

}  // namespace batchd::jobfiles
