#pragma once
// Runs jobs: one coroutine per job, and within it one per chunk, each
// reading as the steps it takes — upload, create, poll, download, sort — with
// every step's intent committed before the call it enables, so that after a
// crash the same code finds what was already done instead of doing it twice.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "backoff.hpp"
#include "clock.hpp"
#include "database.hpp"
#include "intake.hpp"
#include "ledger.hpp"
#include "pricing.hpp"
#include "spool.hpp"
#include "stage.hpp"

#include "types.hpp"

namespace batchd::openai {
class client;
}

namespace batchd::jobs {

struct pipeline_options {
  intake_options intake;
  int max_attempts = 3;
  backoff_policy poll{30, 1.5, 600};
  double api_grace_s = 120;
  double token_limit_retry_s = 900;
  std::int64_t enqueued_token_limit = 0;  // 0: learn it from the API
  bool delete_remote_files = true;
  std::size_t list_refresh_from = 5;  // batches in flight from which one list call refreshes them all
  std::shared_ptr<const pricing_table> prices = std::make_shared<pricing_table>();
  budget spending;                  // the daily budget, if any
  double held_recheck_s = 60;       // how often a held job looks again at the budget
  // Tests only: die by SIGKILL at this point ("after_upload", "after_create",
  // "mid_download", "mid_merge", "mid_booking") to prove a restart neither loses nor repeats work.
  std::string crash_at;
};

class pipeline {
 public:
  pipeline(boost::asio::any_io_executor ex, store::database& db, spool dirs, openai::client& api,
           const clock& clk, pipeline_options options);
  ~pipeline() { *alive_ = false; }

  // Starts running a job unless it already runs.
  void start(std::int64_t job_id);
  // Starts every unfinished job (after a restart).
  void resume_all();
  // Jobs running now.
  std::size_t running() const { return running_.size(); }
  // Records the cancel (durably, first), then wakes the job: chunks without a
  // batch end as cancelled, batches in flight are cancelled at the API and
  // their partial results still collected. False if the job is finished or unknown.
  bool cancel(std::int64_t job_id);
  // Sends a held job despite its estimate (recorded durably first). False if
  // the job is not held.
  bool release(std::int64_t job_id);
  // What job.json and the socket show about a job's money.
  nlohmann::json money_of(const store::job_row& job);
  // New settings (SIGHUP): steps from now on use them.
  void set_options(pipeline_options options) { options_ = std::move(options); }
  const pipeline_options& options() const { return options_; }

 private:
  boost::asio::awaitable<void> run_job(std::int64_t job_id);
  boost::asio::awaitable<void> run_chunks(const store::job_row& job);
  boost::asio::awaitable<void> run_chunk_chain(store::job_row job, int idx);
  boost::asio::awaitable<void> run_attempt(const store::job_row& job, std::int64_t chunk_id);
  boost::asio::awaitable<void> upload(const store::job_row& job, const store::chunk_row& c);
  boost::asio::awaitable<void> create(const store::job_row& job, const store::chunk_row& c);
  boost::asio::awaitable<void> poll(const store::job_row& job, const store::chunk_row& c);
  boost::asio::awaitable<void> download_and_sort(const store::job_row& job, const store::chunk_row& c);
  // Sleeps (scaled time); cancel() wakes the sleepers of its job early.
  boost::asio::awaitable<void> sleep(double seconds, std::int64_t job_id = 0);
  bool cancel_requested(std::int64_t job_id);
  void wake(std::int64_t job_id);  // ends the job's sleeps now
  // With many batches in flight, one list call refreshes them all; poll()
  // then reads the board instead of asking for each batch.
  boost::asio::awaitable<void> refresh_board();
  boost::asio::awaitable<openai::batch> current(const std::string& batch_id);
  void finish_job(std::int64_t job_id);
  // assembled → running, or → held while over a cost limit; held → running
  // once released, cancelled, or within the budget again.
  boost::asio::awaitable<void> hold_or_run(std::int64_t job_id);
  void refresh_job_json(std::int64_t job_id);
  void crash_point(const char* point) const;
  // The one way a chunk moves: checked against the stage machine, then a
  // guarded write (false if the row was not in its stage any more).
  bool move(const store::chunk_row& c, chunk_stage to, const store::chunk_update& fields = {});
  // Ends a chunk that can go no further (failed, or cancelled before its
  // batch existed); its requests become error lines.
  void end_chunk(const store::job_row& job, const store::chunk_row& c, chunk_stage to, const std::string& reason);

  boost::asio::any_io_executor ex_;
  store::database& db_;
  spool dirs_;
  openai::client& api_;
  const clock& clock_;
  pipeline_options options_;
  std::set<std::int64_t> running_;
  std::map<std::string, std::int64_t> token_limits_;  // per model, learned from token_limit_exceeded
  // Chunks whose upload or create intent this process recorded and whose call
  // has not failed in doubt: nothing can exist at the API yet, so there is
  // nothing to look for. After a restart the set is empty and every intent is
  // checked against the API's lists.
  std::set<std::int64_t> nothing_sent_;
  std::map<std::string, double> in_flight_;  // batch id → its created_at, while polled
  std::map<std::string, std::pair<double, openai::batch>> board_;  // batch id → (when listed, what)
  bool refreshing_ = false;
  std::multimap<std::int64_t, boost::asio::steady_timer*> sleepers_;  // job id → its sleeping timers
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);       // false once destroyed
};

// "… Limit: 2,000,000 enqueued tokens …" → 2000000.
std::optional<std::int64_t> parse_token_limit(const std::string& message);

}  // namespace batchd::jobs
