#pragma once
// The daemon's SQLite store: jobs, their chunks (one per OpenAI batch
// attempt) and an event log. It knows SQL, not HTTP and not the job logic:
// stages are plain strings here, checked by the schema's CHECK constraints.
//
// Errors: an unusable database (I/O, corruption, a constraint broken by a
// bug) throws SQLite::Exception. An outcome that depends on the data — a
// guarded move whose row is not in the expected stage — returns false.
//
// Threads: one. The database is used from the thread that opened it (the
// event loop) and nowhere else; SQLiteCpp's statements and this class's
// statement cache are not safe to share, and a transaction must not
// interleave with another's. A call from any other thread throws
// std::logic_error at once rather than race. Every call is short (WAL,
// prepared statements, small transactions), and the one daemon per state
// directory means the busy timeout is never waited on in practice.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace SQLite {
class Database;
class Statement;
}

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
  bool released = false;
  std::string spec;  // JSON kept from assembly for later steps ("" before it)
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
  std::optional<std::int64_t> batch_cost, regular_cost;  // pico-USD; unset: unknown
  bool sync = false;
};

// Bookings summed under one key (a day, a month, a model or a job name).
struct ledger_sum {
  std::string key;
  std::int64_t requests = 0, prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  std::int64_t batch_cost = 0, regular_cost = 0;  // of the priced bookings
  std::int64_t unpriced_requests = 0;             // requests whose cost is unknown
  std::int64_t priced_requests = 0;

  ledger_sum& operator+=(const ledger_sum& o) {
    requests += o.requests;
    prompt_tokens += o.prompt_tokens;
    cached_tokens += o.cached_tokens;
    completion_tokens += o.completion_tokens;
    batch_cost += o.batch_cost;
    regular_cost += o.regular_cost;
    unpriced_requests += o.unpriced_requests;
    priced_requests += o.priced_requests;
    return *this;
  }
};

struct ledger_query {
  std::string by = "day";  // day, month, model, job, chunk (its id), or all (one row)
  std::optional<std::string> since, until;  // UTC dates YYYY-MM-DD, since inclusive, until exclusive
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
  std::string ids_path;   // the attempt's custom_ids, one a line ("" for chunks from before migration 4)
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

class database {
 public:
  // Opens (creating if needed) and migrates to the current schema.
  explicit database(const std::filesystem::path& file);
  ~database();

  // Runs `fn` in one IMMEDIATE transaction, committed when it returns and
  // rolled back if it throws.
  void transaction(const std::function<void()>& fn);

  // ---- jobs
  // The name itself if free, else name-2, name-3, … (DESIGN.md).
  // `base`, else base-2, base-3, …: the first not used by a job nor in `reserved`.
  std::string free_job_name(const std::string& base, const std::set<std::string>& reserved = {});
  std::int64_t insert_job(const std::string& name, const std::string& kind, const std::string& source,
                          double now);
  std::optional<job_row> job(std::int64_t id);
  std::optional<job_row> job_by_name(const std::string& name);
  std::vector<job_row> unfinished_jobs();
  // A page of jobs, newest first: those older than `before_id` (0: from the
  // newest), in one of `stages` (all when empty).
  std::vector<job_row> jobs_newest_first(std::int64_t limit, std::int64_t before_id,
                                         const std::vector<std::string>& stages = {});
  std::map<std::string, std::int64_t> jobs_by_stage();
  // Held jobs by why: "cost" or "quota".
  std::map<std::string, std::int64_t> held_jobs_by_reason();
  // Batches (chunks with a batch) by their last known status.
  std::map<std::string, std::int64_t> batches_by_status();
  // Moves a job from `from` to `to`; false if it was not in `from`. Only
  // jobs/job_transitions.cpp calls this: it checks the stage table first.
  // A move clears the step error (the job got somewhere).
  bool move_job(std::int64_t id, const std::string& from, const std::string& to, double now,
                const std::optional<std::string>& error = std::nullopt);
  void add_job_counts(std::int64_t id, std::int64_t succeeded, std::int64_t failed);
  void set_job_spec(std::int64_t id, const std::string& spec);
  // A step threw: remember why, how often in a row, and when to try again.
  void set_step_error(std::int64_t id, const std::string& error, int failures, double retry_at);
  // The job got somewhere (a chunk moved): its failures in a row start again.
  void clear_step_error(std::int64_t id);
  // Finished jobs with something left to write (their result files), due by `now`.
  std::vector<job_row> finished_jobs_due(double now);
  void set_job_request(std::int64_t id, const std::string& endpoint, const std::string& model,
                       std::int64_t total);
  void set_job_counts(std::int64_t id, std::int64_t succeeded, std::int64_t failed);
  void request_cancel(std::int64_t id);
  void set_job_estimate(std::int64_t id, std::int64_t input_tokens, std::int64_t output_tokens);
  void set_job_max_cost(std::int64_t id, std::optional<std::int64_t> pico_usd);
  // Why a held job is held (`held_for`: "cost" or "quota"; for a quota hold,
  // when to ask the API again); nullopt clears all three.
  void set_hold(std::int64_t id, const std::optional<std::string>& reason, const std::string& held_for = "cost",
                std::optional<double> look_again_at = std::nullopt);
  void set_look_again_at(std::int64_t id, double at);
  void release_job(std::int64_t id);

  // ---- ledger
  // Books an entry; false (and nothing booked) if this chunk and model are booked already.
  bool book(const ledger_entry& e, double now);
  // A synchronous call's booking (e.sync): made before the call, with an
  // estimate, so a call whose answer is lost is still in the ledger; then
  // settled with what the answer says, or dropped when the API refused it.
  std::int64_t book_sync(const ledger_entry& e, double now);
  void settle_sync(std::int64_t id, const ledger_entry& e);
  void drop_sync(std::int64_t id);
  std::vector<ledger_sum> ledger(const ledger_query& q);

  // ---- chunks
  std::int64_t insert_chunk(const chunk_row& c, double now);
  std::optional<chunk_row> chunk(std::int64_t id);
  std::vector<chunk_row> chunks_of(std::int64_t job_id);
  // Moves a chunk and sets `fields`; false if it was not in `from`.
  bool move_chunk(std::int64_t id, const std::string& from, const std::string& to,
                  const chunk_update& fields, double now);
  // Sets fields without a stage change (progress, next poll time).
  void update_chunk(std::int64_t id, const chunk_update& fields, double now);
  usage_checks usage_check_counts();
  // Estimated tokens of chunks of `model` whose batch is in flight.
  std::int64_t tokens_in_flight(const std::string& model);

  // The latest time any row records (events, chunk updates, jobs): where a
  // scaled clock starts when the store has no origin for it yet.
  double latest_time();
  // A scaled clock's origin (its reading at a real unix time), per scale.
  struct clock_origin_row {
    double clock = 0, real = 0;
  };
  std::optional<clock_origin_row> clock_origin(double scale);
  void set_clock_origin(double scale, double clock, double real);

  // ---- events
  void add_event(std::optional<std::int64_t> job_id, std::optional<std::int64_t> chunk_id,
                 const std::string& message, double now);

  SQLite::Database& sql() { return *db_; }

 private:
  // Prepared once, reused: preparing costs more than running most of these.
  // Returned reset and with no bindings.
  SQLite::Statement& statement(const std::string& sql);

  void on_own_thread() const;

  std::unique_ptr<SQLite::Database> db_;
  std::map<std::string, std::unique_ptr<SQLite::Statement>> statements_;
  std::thread::id owner_ = std::this_thread::get_id();
};

}  // namespace batchd::store
