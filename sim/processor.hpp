#pragma once
// Serving one API request — every endpoint the Batch API takes (openapi.yaml,
// #CreateBatchRequest.endpoint): embeddings, chat completions, responses,
// completions, moderations, image generations and edits, videos — the same
// for the synchronous routes and for lines inside a batch. Answers are
// deterministic (a function of the request), so tests can predict them.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace batchd::sim {

struct api_result {
  int status = 200;
  nlohmann::json body;  // the response body, or the {"error": …} envelope
  std::string model;    // the model that served it (for usage accounting)
  std::int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
  std::int64_t reasoning_tokens = 0;  // of the completion tokens
  std::int64_t image_tokens = 0;      // of the prompt tokens
};

struct request_context {
  std::int64_t now_s = 0;          // the "created" timestamp
  std::uint64_t key = 0;           // makes ids and cache hits deterministic per request
  double cache_hit_rate = 0;
};

// The token count the simulator bills for a text: one token per 4 UTF-8
// bytes, at least one. A stand-in for a real tokenizer, documented as such.
std::int64_t count_tokens(std::string_view text);

// Checks a request body for `endpoint` the way the service does before
// running it: nullopt if acceptable, else the 4xx result to answer with.
std::optional<api_result> check_request(const std::string& endpoint, const nlohmann::json& body);

// Prompt tokens the request would enqueue (for the enqueued-token limit).
std::int64_t estimate_prompt_tokens(const std::string& endpoint, const nlohmann::json& body);

// Runs the request (checking it first).
api_result run_request(const std::string& endpoint, const nlohmann::json& body,
                       const request_context& ctx);

bool is_supported_endpoint(const std::string& endpoint);

}  // namespace batchd::sim
