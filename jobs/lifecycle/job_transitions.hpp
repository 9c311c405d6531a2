#pragma once
// Every move of a job between stages, as named moves, in one place (after
// Boost.MySQL's change_order_status and River's guarded exits). Each move
//   - checks the stage table (stage.hpp),
//   - updates the row guarded on its current stage, with its event, in one
//     transaction, committed before any side effect the move enables,
//   - refuses a move the table forbids loudly: errc::forbidden_move, logged
//     as a bug, and an abort when strict (tests),
//   - rewrites job.json, of which this is the one writer.
// A move whose row was moved meanwhile by someone else gives
// errc::wrong_stage: an ordinary outcome (a cancel racing a step).
// SQLite failures throw SQLite::Exception; file failures std::system_error.
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "io/clock.hpp"
#include "store/database.hpp"
#include "ledger/pricing.hpp"
#include "jobs/core/spool.hpp"
#include "jobs/core/stage.hpp"

namespace batchd::jobs {

struct assembly;
struct job_spec;

enum class errc { forbidden_move = 1, wrong_stage, unknown_job };
const boost::system::error_category& job_category();
inline boost::system::error_code make_error_code(errc e) { return {static_cast<int>(e), job_category()}; }

using job_result = boost::system::result<store::job_row>;

// The row a move left, or nullopt when it could not move (already logged
// as a bug if the table forbids it; someone else moved it otherwise).
inline std::optional<store::job_row> moved(job_result r) {
  if (r) return *r;
  return std::nullopt;
}

class job_transitions {
 public:
  job_transitions(store::database& db, spool dirs, const io::clock& clk, std::shared_ptr<const ledger::pricing_table> prices);

  // Tests: a forbidden move aborts the process instead of returning an error.
  static void set_strict(bool strict);

  // received → assembled: the chunks, counts, estimate and spec of `a`.
  job_result to_assembled(const store::job_row& job, const assembly& a);
  // received → failed: the file was refused; `summary` says why, `where` is its .error.json.
  job_result to_rejected(const store::job_row& job, const std::string& summary, const std::string& where);
  // assembled → held (or a held job's reason changed).
  job_result to_held(const store::job_row& job, const std::string& reason);
  // running → held: the account is out of quota (`reason`); the API is asked
  // again at `look_again_at`, or sooner when resumed.
  job_result to_quota_held(const store::job_row& job, const std::string& reason, double look_again_at);
  // assembled | held → running.
  job_result to_running(const store::job_row& job);
  // running → merged: every chunk ended.
  job_result to_merged(const store::job_row& job);
  // merged → completed (or cancelled when asked), after publishing the outbox.
  // The completion invariant: if any asked id has no line, each gets a
  // `batchd_result_missing` error line and the job ends failed, never completed.
  job_result finish(const store::job_row& job);
  // The same, with the outbox already published (off the loop) by
  // publish_outbox(…, finish_missing) for this job.
  job_result finish(const store::job_row& job, const struct outbox_result& published);
  // any unfinished → failed with `reason`; what was merged is published and
  // every other request becomes an error line saying why.
  job_result fail(const store::job_row& job, const std::string& reason);
  // any unfinished → cancelled now (a job that cannot run on); every request
  // without a result becomes a `cancelled` error line.
  job_result cancel_now(const store::job_row& job);

  // Changes that are not moves, recorded durably, then shown in job.json.
  job_result request_cancel(const store::job_row& job);
  job_result release(const store::job_row& job);
  // A held job looks again now: a quota hold asks the API (its look_again_at
  // becomes now), a cost hold weighs its estimate again. wrong_stage if not held.
  job_result resume(const store::job_row& job);
  // A step threw: the rescuer runs the job again at `retry_at`.
  job_result record_step_error(const store::job_row& job, const std::string& error, int failures, double retry_at);

  // What later steps need from the job's file, kept at assembly (rebuilt
  // and kept now for a job assembled before specs existed).
  job_spec spec_of(const store::job_row& job);
  // A finished job whose result files (or job.json) could not be written
  // when it ended: writes them now. False, with the next try at `retry_at`,
  // if that fails again.
  bool republish(const store::job_row& job, double retry_at);
  // Rewrites job.json from the job's row (progress while batches run).
  void report(std::int64_t job_id);
  // What job.json and the socket show about a job's money.
  nlohmann::json money_of(const store::job_row& job);
  void set_prices(std::shared_ptr<const ledger::pricing_table> prices) { prices_ = std::move(prices); }
  const ledger::pricing_table& prices() const { return *prices_; }
  const io::clock& clock() const { return clock_; }

 private:
  job_result refuse(const store::job_row& job, job_stage to);
  std::optional<errc> guarded(const store::job_row& job, job_stage to, const std::string& event,
                              const std::optional<std::string>& error, const std::function<void()>& also);
  job_result reread(std::int64_t id);
  // Ends every chunk still open (a job ended from outside its steps), so
  // none counts as in flight.
  void end_open_chunks(const std::vector<store::chunk_row>& chunks, job_stage to, const std::string& reason);
  void write_report(const store::job_row& job);
  // Publishes the outbox and ends the job in `to` (or failed when ids are missing).
  job_result end_with_outbox(const store::job_row& job, job_stage to, const std::string& missing_code,
                             const std::string& missing_message, std::optional<std::string> error,
                             const struct outbox_result* published = nullptr);

  store::database& db_;
  spool dirs_;
  const io::clock& clock_;
  std::shared_ptr<const ledger::pricing_table> prices_;
};

}  // namespace batchd::jobs

template <>
struct boost::system::is_error_code_enum<batchd::jobs::errc> : std::true_type {};
