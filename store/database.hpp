#pragma once
// The daemon's store, as an interface: jobs, their chunks (one per batch
// attempt), the ledger, an event log and the scaled clock's origin. It
// knows rows, not HTTP and not the job logic; a backend (store/sqlite/, the
// default) keeps them and enforces the invariants (stages as CHECKs, one
// booking per chunk attempt and model) in its schema.
//
// Errors: an unusable store (I/O, corruption, a constraint broken by a bug)
// throws. An outcome that depends on the data — a guarded move whose row is
// not in the expected stage — returns false.
//
// Threads: one. A store is used from the thread that opened it (the event
// loop) and nowhere else; a call from any other thread throws
// std::logic_error at once rather than race. Every call is short.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/rows.hpp"

namespace batchd::store {

class database {
 public:
  virtual ~database() = default;

  // Runs `fn` in one IMMEDIATE transaction, committed when it returns and
  // rolled back if it throws.
  virtual void transaction(const std::function<void()>& fn) = 0;

  // ---- jobs
  // The name itself if free, else name-2, name-3, … (DESIGN.md).
  // `base`, else base-2, base-3, …: the first not used by a job nor in `reserved`.
  virtual std::string free_job_name(const std::string& base,
                                    const std::set<std::string>& reserved = {}) = 0;
  virtual std::int64_t insert_job(const std::string& name, const std::string& kind,
                                  const std::string& source, double now) = 0;
  virtual std::optional<job_row> job(std::int64_t id) = 0;
  virtual std::optional<job_row> job_by_name(const std::string& name) = 0;
  virtual std::vector<job_row> unfinished_jobs() = 0;
  // A page of jobs, newest first: those older than `before_id` (0: from the
  // newest), in one of `stages` (all when empty).
  virtual std::vector<job_row> jobs_newest_first(std::int64_t limit, std::int64_t before_id,
                                                 const std::vector<std::string>& stages = {}) = 0;
  virtual std::map<std::string, std::int64_t> jobs_by_stage() = 0;
  // Held jobs by why: "cost" or "quota".
  virtual std::map<std::string, std::int64_t> held_jobs_by_reason() = 0;
  // Batches (chunks with a batch) by their last known status.
  virtual std::map<std::string, std::int64_t> batches_by_status() = 0;
  // Moves a job from `from` to `to`; false if it was not in `from`. Only
  // jobs/job_transitions.cpp calls this: it checks the stage table first.
  // A move clears the step error (the job got somewhere).
  virtual bool move_job(std::int64_t id, const std::string& from, const std::string& to, double now,
                        const std::optional<std::string>& error = std::nullopt) = 0;
  virtual void add_job_counts(std::int64_t id, std::int64_t succeeded, std::int64_t failed) = 0;
  virtual void set_job_spec(std::int64_t id, const std::string& spec) = 0;
  // A step threw: remember why, how often in a row, and when to try again.
  virtual void set_step_error(std::int64_t id, const std::string& error, int failures,
                              double retry_at) = 0;
  // The job got somewhere (a chunk moved): its failures in a row start again.
  virtual void clear_step_error(std::int64_t id) = 0;
  // Finished jobs with something left to write (their result files), due by `now`.
  virtual std::vector<job_row> finished_jobs_due(double now) = 0;
  virtual void set_job_request(std::int64_t id, const std::string& endpoint,
                               const std::string& model, std::int64_t total) = 0;
  virtual void set_job_counts(std::int64_t id, std::int64_t succeeded, std::int64_t failed) = 0;
  virtual void request_cancel(std::int64_t id) = 0;
  virtual void set_job_estimate(std::int64_t id, std::int64_t input_tokens,
                                std::int64_t output_tokens) = 0;
  virtual void set_job_max_cost(std::int64_t id, std::optional<std::int64_t> pico_usd) = 0;
  // Why a held job is held (`held_for`: "cost" or "quota"; for a quota hold,
  // when to ask the API again); nullopt clears all three.
  virtual void set_hold(std::int64_t id, const std::optional<std::string>& reason,
                        const std::string& held_for = "cost",
                        std::optional<double> look_again_at = std::nullopt) = 0;
  virtual void set_look_again_at(std::int64_t id, double at) = 0;
  virtual void release_job(std::int64_t id) = 0;
  // What intake warned of, as a JSON array.
  virtual void set_job_warnings(std::int64_t id, const std::string& warnings) = 0;

  // ---- ledger
  // Books an entry; false (and nothing booked) if this chunk and model are booked already.
  virtual bool book(const ledger_entry& e, double now) = 0;
  // A synchronous call's booking (e.sync): made before the call, with an
  // estimate, so a call whose answer is lost is still in the ledger; then
  // settled with what the answer says, or dropped when the API refused it.
  virtual std::int64_t book_sync(const ledger_entry& e, double now) = 0;
  virtual void settle_sync(std::int64_t id, const ledger_entry& e) = 0;
  virtual void drop_sync(std::int64_t id) = 0;
  virtual std::vector<ledger_sum> ledger(const ledger_query& q) = 0;

  // ---- chunks
  virtual std::int64_t insert_chunk(const chunk_row& c, double now) = 0;
  virtual std::optional<chunk_row> chunk(std::int64_t id) = 0;
  virtual std::vector<chunk_row> chunks_of(std::int64_t job_id) = 0;
  // Moves a chunk and sets `fields`; false if it was not in `from`.
  virtual bool move_chunk(std::int64_t id, const std::string& from, const std::string& to,
                          const chunk_update& fields, double now) = 0;
  // Sets fields without a stage change (progress, next poll time).
  virtual void update_chunk(std::int64_t id, const chunk_update& fields, double now) = 0;
  virtual usage_checks usage_check_counts() = 0;
  // Estimated tokens of chunks of `model` whose batch is in flight.
  virtual std::int64_t tokens_in_flight(const std::string& model) = 0;

  // The latest time any row records (events, chunk updates, jobs): where a
  // scaled clock starts when the store has no origin for it yet.
  virtual double latest_time() = 0;
  // A scaled clock's origin, per scale.
  virtual std::optional<store::clock_origin> clock_origin(double scale) = 0;
  virtual void set_clock_origin(double scale, double clock, double real) = 0;

  // ---- events
  virtual void add_event(std::optional<std::int64_t> job_id, std::optional<std::int64_t> chunk_id,
                         const std::string& message, double now) = 0;
};

}  // namespace batchd::store
