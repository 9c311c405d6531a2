// batchd-sim: serving one request, for the synchronous routes and for the
// lines of a batch alike; the endpoints' own handlers live in
// processor_embeddings.cpp, processor_text.cpp and processor_media.cpp.
#include "sim/processor.hpp"

#include <algorithm>

#include "sim/processor_detail.hpp"

namespace batchd::sim {
using nlohmann::json;

std::int64_t count_tokens(std::string_view text) {
  return std::max<std::int64_t>(1, static_cast<std::int64_t>((text.size() + 3) / 4));
}

namespace {

bool is_text(const std::string& e) {
  return e == "/v1/chat/completions" || e == "/v1/responses" || e == "/v1/completions";
}

bool is_media(const std::string& e) {
  return e == "/v1/moderations" || e == "/v1/images/generations" || e == "/v1/images/edits" || e == "/v1/videos";
}

}  // namespace

bool is_supported_endpoint(const std::string& e) { return e == "/v1/embeddings" || is_text(e) || is_media(e); }

std::optional<api_result> check_request(const std::string& endpoint, const json& body) {
  if (!body.is_object()) return detail::bad_request("The request body must be a JSON object.");
  if (endpoint == "/v1/embeddings") return detail::check_embeddings(body);
  if (is_text(endpoint)) return detail::check_text(endpoint, body);
  if (is_media(endpoint)) return detail::check_media(endpoint, body);
  return detail::bad_request("batchd-sim does not serve " + endpoint + ".");
}

std::int64_t estimate_prompt_tokens(const std::string& endpoint, const json& body) {
  if (!body.is_object()) return 0;
  if (endpoint == "/v1/embeddings") return detail::embedding_prompt_tokens(body);
  if (is_text(endpoint)) return detail::text_prompt_tokens(endpoint, body);
  if (is_media(endpoint)) return detail::media_prompt_tokens(endpoint, body);
  return 0;
}

api_result run_request(const std::string& endpoint, const json& body, const request_context& ctx) {
  if (auto err = check_request(endpoint, body)) return *err;
  if (endpoint == "/v1/embeddings") return detail::run_embeddings(body);
  if (is_text(endpoint)) return detail::run_text(endpoint, body, ctx);
  return detail::run_media(endpoint, body, ctx);
}

}  // namespace batchd::sim
