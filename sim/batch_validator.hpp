#pragma once
// The asynchronous validation a batch goes through while `validating`: every
// line of the input file is checked against the batch's endpoint and the
// Batch API's limits. Failures become the batch's errors.data[].
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace batchd::sim {

// The Batch API's per-batch limits (API-FACTS §2).
inline constexpr std::int64_t max_batch_requests = 50'000;
inline constexpr std::int64_t max_batch_bytes = 209'715'200;  // 200 MiB
inline constexpr std::int64_t max_batch_embedding_inputs = 50'000;

struct batch_error {
  std::string code;
  std::string message;
  std::optional<std::string> param;
  std::optional<std::int64_t> line;  // 1-based input line
};

struct input_line {
  std::uint64_t offset = 0;  // where the line starts in the input file
  std::uint32_t length = 0;  // without the line ending
  std::int64_t prompt_tokens = 0;
  bool body_ok = true;  // false: the request itself is invalid and will fail with a 4xx
};

struct validation_report {
  std::vector<batch_error> errors;  // empty: the batch may run
  std::vector<input_line> lines;
  std::string model;
  std::int64_t prompt_tokens = 0;
};

validation_report validate_batch_input(const std::filesystem::path& file,
                                       const std::string& endpoint);

}  // namespace batchd::sim
