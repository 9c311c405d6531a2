#pragma once
// What the simulator has served, for tests to check against: uploads by
// filename, batches by metadata, calls by route and status, usage by model.
#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace batchd::sim {

struct usage_totals {
  std::int64_t requests = 0, prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  std::int64_t reasoning_tokens = 0, image_tokens = 0;
};

// One create as it came in: when (simulated s) and what became of it ("200",
// "429", "503", "dropped", or an error status).
struct create_attempt {
  double at = 0;
  std::string outcome;
};

struct sim_stats {
  std::map<std::string, std::int64_t> uploads_by_filename;
  std::map<std::string, std::int64_t> batches_by_metadata;  // key: metadata as compact JSON
  // "GET /v1/files/{file_id}" → "200" / "429" / "dropped" / "truncated" → count
  std::map<std::string, std::map<std::string, std::int64_t>> calls;
  std::map<std::string, usage_totals> batch_usage;  // billed lines of batch output files
  std::map<std::string, usage_totals> sync_usage;   // synchronous /v1/embeddings, /v1/chat/completions
  // Every upload by filename and batch create by metadata, in order: what a
  // refusal cost the caller in time, seen from the server.
  std::map<std::string, std::vector<create_attempt>> upload_attempts, batch_attempts;
  std::map<std::string, double> batch_first_read;  // batch id → first GET /v1/batches/{id} (simulated s)
};

void to_json(nlohmann::json& j, const sim_stats& s);

}  // namespace batchd::sim
