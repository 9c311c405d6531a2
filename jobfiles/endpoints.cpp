#include "jobfiles/endpoints.hpp"

#include <array>

namespace batchd::jobfiles {
namespace {

using simdjson::dom::element;

// openapi.yaml, #CreateBatchRequest.endpoint, in its order.
constexpr std::array<std::string_view, 8> endpoints = {
    "/v1/responses",  "/v1/chat/completions",   "/v1/embeddings",   "/v1/completions",
    "/v1/moderations", "/v1/images/generations", "/v1/images/edits", "/v1/videos"};

bool non_empty_string(element v) {
  std::string_view s;
  return !v.get(s) && !s.empty();
}

bool non_empty_array(element v) { return v.is_array() && v.get_array().value_unsafe().size() > 0; }

}  // namespace

bool is_batch_endpoint(std::string_view url) {
  for (const auto e : endpoints)
    if (url == e) return true;
  return false;
}

std::string batch_endpoint_list() {
  std::string out;
  for (const auto e : endpoints) out += (out.empty() ? "" : ", ") + std::string(e);
  return out;
}

std::string check_body(std::string_view endpoint, element body, std::string& hint) {
  element v;
  // The fields each request schema requires (openapi.yaml): #CreateChatCompletionRequest
  // `messages`; #CreateResponse and #CreateModerationRequest `input`; #CreateCompletionRequest
  // `prompt`; #CreateImageRequest and #CreateVideoJsonBody `prompt`; #EditImageBodyJsonParam
  // `images` and `prompt`; #CreateEmbeddingRequest `input`.
  if (endpoint == "/v1/chat/completions" && (body["messages"].get(v) || !non_empty_array(v))) {
    hint = "give \"body.messages\": a non-empty array of {\"role\", \"content\"}";
    return "a chat request needs a non-empty \"messages\" array";
  }
  if ((endpoint == "/v1/responses" || endpoint == "/v1/moderations" || endpoint == "/v1/embeddings") &&
      body["input"].get(v)) {
    hint = "give \"body.input\"";
    return "a " + std::string(endpoint) + " request needs \"input\"";
  }
  if (endpoint == "/v1/completions" && body["prompt"].get(v)) {
    hint = "give \"body.prompt\"";
    return "a completions request needs \"prompt\"";
  }
  const bool wants_prompt =
      endpoint == "/v1/images/generations" || endpoint == "/v1/images/edits" || endpoint == "/v1/videos";
  if (wants_prompt && (body["prompt"].get(v) || !non_empty_string(v))) {
    hint = "give \"body.prompt\": the text that describes what to make";
    return "a " + std::string(endpoint) + " request needs a non-empty string \"prompt\"";
  }
  if (endpoint == "/v1/images/edits" && (body["images"].get(v) || !non_empty_array(v))) {
    hint = "give \"body.images\": [{\"image_url\": …} or {\"file_id\": …}] (a batch line is JSON, not a file upload)";
    return "an image edit needs a non-empty \"images\" array";
  }
  return "";
}

}  // namespace batchd::jobfiles
