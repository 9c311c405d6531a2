#pragma once
// The pipeline's section of the configuration ("pipeline" in the config
// file), used as it is by the daemon's config and by the pipeline: one
// struct, one set of defaults.
#include <cstdint>

#include "jobs/core/backoff.hpp"
#include "jobfiles/limits.hpp"

namespace batchd::jobs {

struct pipeline_config {
  int max_attempts = 3;                // tries per request, first included
  double poll_initial_s = 30;          // while in_progress; quicker while validating/finalizing
  double poll_factor = 1.5;
  double poll_cap_s = 600;
  // How long something batchd may have created (a 404 on it, or its absence
  // from a list) is taken for the API catching up, counted from the call
  // whose answer was lost: only after it may batchd create or upload again.
  double api_grace_s = 600;
  double token_limit_retry_s = 900;    // wait before creating again after token_limit_exceeded
  // A refused upload or create waits the server's Retry-After, at most this
  // long (the SDKs' cap: API-FACTS §8); without one, backoff from 2 s.
  double retry_after_cap_s = 120;
  // A job held because its account is out of quota asks the API again this
  // often by itself (and at once on `batchctl resume` or a reload).
  double quota_recheck_s = 3600;
  std::int64_t enqueued_token_limit = 0;  // per model; 0 = learn it from the API's refusals
  bool delete_remote_files = true;
  double rescan_s = 30;                // inbox rescan, a safety net for missed events
  double inbox_settle_s = 5;           // real seconds a file found by a rescan must have rested
  std::int64_t list_refresh_from = 5;  // batches in flight from which one list call refreshes them all
  double held_recheck_s = 60;          // how often a held job looks again at the budget
  // A step that throws (disk full, unreadable file) is run again after
  // step_retry_initial_s, doubling up to step_retry_cap_s; after
  // step_max_failures in a row the job fails with the error.
  double step_retry_initial_s = 30;
  double step_retry_cap_s = 3600;
  int step_max_failures = 10;
  double retention_days = 7;           // a finished job's working files go this long after it ended
  int workers = 0;                     // threads for heavy file work; 0: one a core, at least 2
  std::int64_t max_file_bytes = 1LL << 31;
  jobfiles::batch_limits limits;

  backoff_policy poll() const { return {poll_initial_s, poll_factor, poll_cap_s}; }
  jobfiles::intake_options intake() const { return {max_file_bytes, limits, inbox_settle_s}; }
};

}  // namespace batchd::jobs
