#pragma once
// A batch request file (*.jsonl, OpenAI's input format) checked line by line
// and cut into chunks, one chunk per OpenAI batch, in one streaming pass.
// A chunk's bytes are the input's lines, unchanged and in order (line endings
// normalised to "\n"), so the same input always gives the same chunks.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "limits.hpp"

namespace batchd::jobs {

struct line_error {
  std::int64_t line = 0;  // 1-based
  std::string message;    // what is wrong
  std::string hint;       // how to fix it
};

struct chunk_file {
  std::filesystem::path path;
  std::int64_t requests = 0;
  std::int64_t bytes = 0;
  std::int64_t embedding_inputs = 0;
  std::int64_t estimated_prompt_tokens = 0;
  std::string sha256;  // hex, of the chunk's bytes
};

struct request_file_report {
  std::vector<line_error> errors;  // empty: valid; else the first max_errors
  std::int64_t lines_with_errors = 0;
  std::string endpoint;
  std::string model;
  std::int64_t requests = 0;
  std::vector<chunk_file> chunks;  // written only when valid
};

struct split_options {
  batch_limits limits;
  std::size_t max_errors = 20;
};

// Reads `input`, validates every line, and (if all are valid) writes chunks as
// `<out_dir>/chunk-<n>.jsonl`. On errors, no chunk files are left behind.
// Throws std::system_error if a file cannot be read or written.
request_file_report split_request_file(const std::filesystem::path& input,
                                       const std::filesystem::path& out_dir,
                                       const split_options& options);

// The endpoints batchd sends batches to.
bool is_batch_endpoint(std::string_view url);

}  // namespace batchd::jobs
