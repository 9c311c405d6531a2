#pragma once
// A batch request file (*.jsonl, OpenAI's input format) checked line by line
// and cut into chunks, one chunk per OpenAI batch, in one streaming pass.
// A chunk is a byte range of the input file — its lines, unchanged and in
// order — so nothing is copied, and the same input always gives the same
// chunks (and the same hashes).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "jobfiles/endpoints.hpp"
#include "jobfiles/limits.hpp"

namespace batchd::jobfiles {

struct line_error {
  std::int64_t line = 0;  // 1-based
  std::string message;    // what is wrong
  std::string hint;       // how to fix it
};

struct chunk_file {
  std::filesystem::path path;  // the input file
  std::uint64_t offset = 0;    // where the chunk starts in it
  std::int64_t requests = 0;
  std::int64_t bytes = 0;
  std::int64_t embedding_inputs = 0;
  std::int64_t estimated_prompt_tokens = 0;
  std::string sha256;  // hex, of the chunk's bytes (computed on a second thread)
  std::filesystem::path ids;  // the chunk's custom_ids, one a line (when asked for)
};

struct request_file_report {
  std::vector<line_error> errors;  // empty: valid; else the first max_errors
  std::int64_t lines_with_errors = 0;
  std::string endpoint;
  std::string model;
  std::int64_t requests = 0;
  std::int64_t output_token_caps = 0;  // sum of max_tokens / max_completion_tokens / max_output_tokens given
  std::vector<chunk_file> chunks;  // only when every line is valid
};

struct split_options {
  batch_limits limits;
  std::size_t max_errors = 20;
  // When set, each chunk's custom_ids are written to `ids_dir/chunk-<n>.ids`
  // as they are validated: what was asked, kept apart from the input.
  std::filesystem::path ids_dir;
};

// Reads `input`, validates every line, and (if all are valid) cuts it into
// chunks within the limits. Throws std::system_error if it cannot be read.
request_file_report split_request_file(const std::filesystem::path& input, const split_options& options);


}  // namespace batchd::jobfiles
