#pragma once
// The API objects batchd uses, as typed structs (API-FACTS §1–2). Fields the
// service may leave null are optional; unknown fields are ignored.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace batchd::openai {

struct file_object {
  std::string id;
  std::string filename;
  std::string purpose;
  std::int64_t bytes = 0;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> expires_at;
};

struct batch_error {
  std::string code;
  std::string message;
  std::optional<std::string> param;
  std::optional<std::int64_t> line;
};

struct request_counts {
  std::int64_t total = 0, completed = 0, failed = 0;
};

// Batch.usage: what the whole batch used, by the API's own count. Only on
// batches created after 2025-09-07 (API-FACTS §2).
struct batch_usage {
  std::int64_t input_tokens = 0, cached_tokens = 0, output_tokens = 0, reasoning_tokens = 0, total_tokens = 0;
};

struct batch {
  std::string id;
  std::string endpoint;
  std::string input_file_id;
  std::string completion_window;
  std::string status;  // validating, failed, in_progress, finalizing, completed, expired, cancelling, cancelled
  std::optional<std::string> model;
  std::optional<std::string> output_file_id, error_file_id;
  std::vector<batch_error> errors;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> in_progress_at, expires_at, finalizing_at, completed_at, failed_at,
      expired_at, cancelling_at, cancelled_at;
  request_counts counts;
  std::optional<batch_usage> usage;  // unset: the batch carries none
  std::map<std::string, std::string> metadata;

  bool is_terminal() const {
    return status == "completed" || status == "failed" || status == "expired" || status == "cancelled";
  }
};

struct create_batch_request {
  std::string input_file_id;
  std::string endpoint;
  std::string completion_window = "24h";
  std::map<std::string, std::string> metadata;  // ≤ 16 pairs, keys ≤ 64, values ≤ 512 chars
};

}  // namespace batchd::openai
