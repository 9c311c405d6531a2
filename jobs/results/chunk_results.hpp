#pragma once
// Sorting one batch attempt's results: every request of the chunk ends in
// exactly one of three places — a success line, a final error line, or the
// retry file that becomes the next attempt's input. Requests missing from
// both result files did not run; the two files, matched by custom_id, are
// trusted over request_counts.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "ledger/usage.hpp"
#include <optional>

namespace batchd::jobs {

struct chunk_outcome_input {
  std::filesystem::path chunk;                      // the attempt's input JSONL …
  std::uint64_t chunk_offset = 0, chunk_length = UINT64_MAX;  // … this byte range of it
  // What was asked: the attempt's custom_ids as validated, one a line. The
  // input is read only for the lines to send again; when unset (chunks from
  // before these files existed) the ids are read from the input.
  std::filesystem::path ids_file;
  std::optional<std::filesystem::path> output_file;  // downloaded output, if any
  std::optional<std::filesystem::path> error_file;   // downloaded errors, if any
  std::string batch_status;    // completed, expired, cancelled or failed
  std::string batch_error;     // for a failed batch: why (errors.data[0])
  bool cancelled_by_user = false;
  bool may_retry = true;       // attempts are left
  std::string unfetchable;     // a result file the API no longer serves: which, and why (its requests did not come back)
  bool packed_ids = false;     // a manifest job: batchd-pack-… ids stand for several inputs
};

struct chunk_outcome {
  // In inputs: a packed embedding request (manifest_assembly.hpp) counts its inputs.
  std::int64_t succeeded = 0, failed = 0, retry = 0;
  // The same in requests: requests = these three, always.
  std::int64_t requests_succeeded = 0, requests_failed = 0, requests_retry = 0;
  std::int64_t requests_lost = 0;  // of requests_failed: with result_missing_code
  // Tokens of the succeeded lines, by the model their response names: what
  // the ledger books (failed requests are not billed).
  std::map<std::string, ledger::token_usage> usage;
  std::filesystem::path results;  // success lines, as OpenAI sent them
  std::filesystem::path errors;   // final failures, one line per custom_id
  std::filesystem::path retry_input;  // input lines to send again (absent if none) …
  std::filesystem::path retry_ids;    // … and their custom_ids, the next attempt's ids_file
};

// The error code of a request batchd can no longer account for (its line
// could not be read again, or no result came back for it).
inline constexpr const char* result_missing_code = "batchd_result_missing";

// Writes `<out_prefix>.results.jsonl`, `.errors.jsonl` and (when needed)
// `.retry.jsonl` with `.retry.ids`, each to a temporary name renamed when
// complete, so running it again after a crash gives the same files. A
// request to retry whose line is no longer in the input becomes an error
// line (result_missing_code), so every asked id ends in exactly one place.
// Throws std::system_error on I/O.
chunk_outcome sort_chunk_results(const chunk_outcome_input& in, const std::filesystem::path& out_prefix);

// Whether a failed request is worth sending again: rate limits, server
// errors, and requests the batch never ran (expired; cancelled by the service).
bool is_retryable_failure(int status_code, std::string_view error_code);

}  // namespace batchd::jobs
