#pragma once
// What the simulator's request handlers share (processor*.cpp only):
// deterministic hashing and the API's usual refusals.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "sim/api_error.hpp"
#include "sim/processor.hpp"

namespace batchd::sim::detail {

inline std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

inline api_result bad_request(std::string message, std::optional<std::string> param = std::nullopt) {
  return {400, error_body(message, "invalid_request_error", param, std::nullopt), {}, 0, 0, 0};
}

inline api_result model_not_found(const std::string& model) {
  return {404,
          error_body("The model `" + model + "` does not exist or you do not have access to it.",
                     "invalid_request_error", std::nullopt, "model_not_found"),
          {}, 0, 0, 0};
}

// "you must provide a model parameter", or nullopt.
inline std::optional<api_result> need_model(const nlohmann::json& body) {
  if (!body.contains("model") || !body["model"].is_string())
    return bad_request("you must provide a model parameter", "model");
  return std::nullopt;
}

std::string base64(const unsigned char* p, std::size_t n);

// Embeddings (processor_embeddings.cpp).
std::optional<api_result> check_embeddings(const nlohmann::json& body);
api_result run_embeddings(const nlohmann::json& body);
std::int64_t embedding_prompt_tokens(const nlohmann::json& body);

// Text generation (processor_text.cpp): chat completions, responses, completions.
std::optional<api_result> check_text(const std::string& endpoint, const nlohmann::json& body);
api_result run_text(const std::string& endpoint, const nlohmann::json& body, const request_context& ctx);
std::int64_t text_prompt_tokens(const std::string& endpoint, const nlohmann::json& body);

// Moderations, images and videos (processor_media.cpp).
std::optional<api_result> check_media(const std::string& endpoint, const nlohmann::json& body);
api_result run_media(const std::string& endpoint, const nlohmann::json& body, const request_context& ctx);
std::int64_t media_prompt_tokens(const std::string& endpoint, const nlohmann::json& body);

}  // namespace batchd::sim::detail
