#pragma once
// A manifest's inputs → batch request lines (one JSONL file, which the
// request-file splitter then validates and cuts into chunks like any other).
// Embedding inputs are packed many to a request within the API's limits
// (≤ 2048 inputs, ≤ 300,000 tokens a request; ≤ 50,000 inputs a batch), with
// requests laid out so that batches fill up to their input limit exactly.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "jobfiles/limits.hpp"
#include "jobfiles/manifest.hpp"
#include "jobfiles/request_file.hpp"

namespace batchd::jobfiles {

struct assembly_report {
  std::vector<manifest_problem> problems;  // the first `max_problems`
  std::int64_t problem_lines = 0;
  std::int64_t inputs = 0, requests = 0;
  std::int64_t output_token_caps = 0;  // max_tokens-style caps the template sets, summed
  // The request file cut into chunks within the batch limits, each hashed
  // as it is written: lines batchd wrote itself need no second reading.
  std::vector<chunk_file> chunks;
};

// `inputs_file`: the manifest's inputs file (empty for inline inputs).
// Writes the request lines to `requests` and every input's custom_id, one a
// line in input order, to `ids`, and (unless `texts` is empty) the start of
// each input's text to `texts`, one JSON string a line. Chunks are cut as
// split_request_file cuts.
assembly_report assemble_manifest(const manifest& m, const std::filesystem::path& inputs_file,
                                  const std::filesystem::path& requests, const std::filesystem::path& ids,
                                  const std::filesystem::path& texts, const batch_limits& limits,
                                  std::size_t max_problems = 20);

// How much of an input's text the row map of a vector file keeps.
inline constexpr std::size_t row_text_bytes = 200;

// Embedding requests batchd packed carry this custom_id: "batchd-pack-<first
// input index, 0-based>-<count>".
std::string pack_id(std::int64_t first, std::int64_t count);
bool parse_pack_id(std::string_view id, std::int64_t& first, std::int64_t& count);

inline constexpr std::int64_t max_tokens_per_embedding_input = 8192;
inline constexpr std::int64_t max_tokens_per_embedding_request = 300'000;

}  // namespace batchd::jobfiles
