#pragma once
// The store's rows: plain data, the same whichever backend keeps them.
// Stages are plain strings here; jobs/core/stage.hpp gives them meaning.
#include <cstdint>
#include <optional>
#include <string>

namespace batchd::store {

struct job_row {
  std::int64_t id = 0;
  std::string name, kind, source, stage;
  std::optional<std::string> endpoint, model, error;
  std::int64_t total = 0, succeeded = 0, failed = 0;
  bool cancel_requested = false;
  double created_at = 0;
  std::optional<double> finished_at;
  std::int64_t est_input_tokens = 0, est_output_tokens = 0;
  std::optional<std::int64_t> max_cost;  // pico-USD
  std::optional<std::string> hold_reason;
  std::optional<std::string> held_for;  // "cost" or "quota" while held
  std::optional<double> look_again_at;  // a quota hold: when the API is asked again
  std::string warnings;                 // JSON array of what intake warned of ("" for none)
  bool released = false;
  std::string spec;                       // JSON kept from assembly for later steps ("" before it)
  std::optional<std::string> last_error;  // a step threw; retried at retry_at
  int step_failures = 0;
  std::optional<double> retry_at;
};

// One booking: what one chunk attempt's results used of one model, or one
// synchronous call made for a job (chunk_id 0; paid at the regular price).
struct ledger_entry {
  std::int64_t job_id = 0, chunk_id = 0;
  std::string model;
  std::int64_t requests = 0, prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  std::int64_t reasoning_tokens = 0, cache_write_tokens = 0, image_tokens = 0;  // of the tokens above
  std::optional<std::int64_t> batch_cost, regular_cost;  // pico-USD; unset: unknown
  std::optional<std::string> priced_as;                  // the price row used (unset: unknown)
  bool sync = false;
};

// Bookings summed under one key (a day, a month, a model or a job name).
struct ledger_sum {
  std::string key;
  std::int64_t requests = 0, prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  std::int64_t reasoning_tokens = 0, cache_write_tokens = 0, image_tokens = 0;
  std::int64_t batch_cost = 0, regular_cost = 0;  // of the priced bookings
  std::int64_t unpriced_requests = 0;             // requests whose cost is unknown
  std::int64_t priced_requests = 0;
  std::string priced_as;  // by model: the price rows used, comma-separated ("" if none)

  ledger_sum& operator+=(const ledger_sum& o) {
    requests += o.requests;
    prompt_tokens += o.prompt_tokens;
    cached_tokens += o.cached_tokens;
    completion_tokens += o.completion_tokens;
    reasoning_tokens += o.reasoning_tokens;
    cache_write_tokens += o.cache_write_tokens;
    image_tokens += o.image_tokens;
    batch_cost += o.batch_cost;
    regular_cost += o.regular_cost;
    unpriced_requests += o.unpriced_requests;
    priced_requests += o.priced_requests;
    return *this;
  }
};

struct ledger_query {
  std::string by = "day";  // day, month, model, job, chunk (its id), or all (one row)
  std::optional<std::string> since,
      until;  // UTC dates YYYY-MM-DD, since inclusive, until exclusive
  std::optional<std::int64_t> job_id;
};

struct chunk_row {
  std::int64_t id = 0, job_id = 0;
  int idx = 0, attempt = 0;
  std::string stage, path, sha256;
  std::int64_t offset = 0;  // the chunk is `bytes` bytes of `path` from here
  std::int64_t requests = 0, bytes = 0, est_tokens = 0;
  std::optional<std::string> file_id, batch_id, batch_status, output_file_id, error_file_id, error;
  std::int64_t req_total = 0, req_completed = 0, req_failed = 0;
  double not_before = 0;
  int creates = 0;
  double updated_at = 0;  // the last move or update
  std::string
      ids_path;  // the attempt's custom_ids, one a line ("" for chunks from before migration 4)
  // What this attempt's merge accounted for, in requests.
  std::int64_t merged_succeeded = 0, merged_failed = 0, merged_retry = 0;
  std::int64_t merged_lost = 0;  // of merged_failed: requests batchd could no longer account for
  // Set while an upload or create of this stage may have happened without
  // our knowing (the call is out, or ended with no answer): since when the
  // API may hold what it made, unlisted as yet. Unset: nothing is in doubt.
  std::optional<double> unsure_at;
  // The batch's own usage, as the API reported it (unset: it carried none),
  // and whether the merge found it different from what its lines booked.
  std::optional<std::int64_t> api_input_tokens, api_cached_tokens, api_output_tokens;
  bool usage_mismatch = false;
};

// Columns a chunk move may set along with its stage; unset ones stay as they are.
struct chunk_update {
  std::optional<std::string> file_id, batch_id, batch_status, output_file_id, error_file_id, error;
  std::optional<std::int64_t> req_total, req_completed, req_failed;
  std::optional<double> not_before;
  std::optional<int> creates;
  std::optional<std::int64_t> merged_succeeded, merged_failed, merged_retry, merged_lost;
  std::optional<double> unsure_at;
  bool clear_unsure = false;  // unsure_at = NULL: the API refused, nothing is in doubt
  std::optional<std::int64_t> api_input_tokens, api_cached_tokens, api_output_tokens;
  std::optional<int> usage_mismatch;  // 0 or 1
};

// Batches whose usage the merge compared with their bookings, and how many differed.
struct usage_checks {
  std::int64_t checked = 0, mismatched = 0;
};

// A scaled clock's origin: its reading at a real unix time.
struct clock_origin {
  double clock = 0, real = 0;
};

}  // namespace batchd::store
