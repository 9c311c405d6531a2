#pragma once
// Fault injection: what can go wrong, set by flag at start and changed at run
// time through POST /admin/faults. Rates are probabilities drawn from one
// seeded generator, so a failing run can be replayed with the same --seed;
// the next_* counters hit exactly the next N requests or batches.
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <random>
#include <string>

namespace batchd::sim {

struct fault_settings {
  // Transport faults on /v1 routes.
  double rate_429 = 0;       // 429 rate_limit_exceeded with retry-after(-ms)
  double rate_5xx = 0;       // 500, 502 or 503
  double rate_drop = 0;      // connection closed without a response
  double rate_truncate = 0;  // body cut short, then the connection closed
  double rate_slow = 0;      // response delayed by slow_ms
  int next_429 = 0, next_5xx = 0, next_drop = 0, next_truncate = 0;
  std::int64_t slow_ms = 2000;        // real milliseconds
  // Sent as retry-after-ms, and as retry-after (whole seconds, rounded up).
  // Like every time the simulator states, it is simulated time.
  std::int64_t retry_after_ms = 200;
  // Refusals of creates (POST /v1/files, POST /v1/batches), decided once the
  // request is read: nothing is created (API-FACTS §7).
  double rate_429_create = 0;  // 429 rate_limit_exceeded with retry-after(-ms) from retry_after_ms
  int next_429_create = 0;
  double rate_503_create = 0;  // 503 "Slow Down" with retry-after(-ms) from retry_after_ms
  int next_503_create = 0;
  // The next N uploads / batch creates: the connection closes with no answer, and nothing is created.
  int next_drop_upload = 0, next_drop_batch = 0;
  // The account is out of quota until this is switched off again: batch
  // creates and the paid synchronous routes answer 429 insufficient_quota,
  // with no Retry-After (waiting does not mend it).
  bool insufficient_quota = false;
  // Per-request failures inside a batch.
  double request_retryable_rate = 0;  // 500 server_error / 429 rate_limit_exceeded lines
  double request_final_rate = 0;      // 400 invalid_request_error lines
  // Whole-batch faults (counters: the next N batches created).
  int expire_next = 0;       // runs past expires_at: expired, partial results
  int token_limit_next = 0;  // fails validation with token_limit_exceeded
  int fail_all_next = 0;     // every request fails: completed, output_file_id null
  int output_gone_next = 0;  // completes, but its output file answers 404 for good (expired, deleted elsewhere)
  std::int64_t enqueued_token_limit = 0;  // per model; 0 = unlimited
  double finalizing_stuck_s = 0;          // extra simulated seconds in finalizing
  double not_found_s = 0;    // new files/batches answer 404 for this long (simulated s)
  bool counts_mismatch = false;  // expired/cancelled request_counts omit unrun requests
  double cache_hit_rate = 0;     // share of chat prompts >= 1024 tokens served from cache
  // Batch.usage (filled from the result lines): batches created while these
  // are set report that many more input tokens than their lines used, or no
  // usage at all (as batches created before 2025-09-07).
  std::int64_t usage_extra_input_tokens = 0;
  bool usage_absent = false;
  // Eventual consistency (API-FACTS §11): lists leave out files and batches
  // younger than this (simulated s), while GET by id already finds them.
  double list_lag_s = 0;
  // A create (POST /v1/files, POST /v1/batches) that commits, then loses its
  // reply: the connection closes with no answer (over HTTPS, without
  // close_notify), after lost_reply_delay_ms of real time.
  double rate_lost_reply = 0;
  int next_lost_reply = 0;
  std::int64_t lost_reply_delay_ms = 0;
  // A slow link: file contents (downloads) are sent at this many real bytes
  // a second; 0 for as fast as the socket takes them.
  std::int64_t download_bytes_per_s = 0;
};

void to_json(nlohmann::json& j, const fault_settings& f);
// Applies the keys present in `j`; throws std::invalid_argument naming an
// unknown key or a value of the wrong type.
void merge_faults(fault_settings& f, const nlohmann::json& j);

// What happens to one /v1 request on the wire.
struct transport_fault {
  enum class kind { none, status, drop, truncate } what = kind::none;
  int status = 0;  // for kind::status
  std::int64_t delay_ms = 0;
};

class fault_engine {
 public:
  explicit fault_engine(std::uint64_t seed) : rng_(seed), seed_(seed) {}

  fault_settings& settings() { return settings_; }
  const fault_settings& settings() const { return settings_; }
  std::uint64_t seed() const { return seed_; }

  transport_fault next_transport_fault();
  // Whether this create's reply is to be lost after it commits.
  bool lose_reply();
  // What happens to a create (an upload, else a batch create) once it is
  // read: 0 = goes ahead, else the refusal's status (429, 503), or -1 = dropped.
  int create_refusal(bool upload);
  // Consume one of the whole-batch counters; true if this batch gets it.
  bool take(int fault_settings::*counter);

 private:
  bool draw(double p);
  fault_settings settings_;
  std::mt19937_64 rng_;
  std::uint64_t seed_;
};

}  // namespace batchd::sim
