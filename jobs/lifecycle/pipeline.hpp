#pragma once
// Runs jobs: one coroutine per job that reads as its flow — assemble, hold
// or run, run every chunk (chunk_steps.hpp), finish — with every move made
// by job_transitions and every step that throws handed to the rescuer.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "jobs/chunks/batch_board.hpp"
#include "jobs/chunks/chunk_steps.hpp"
#include "io/clock.hpp"
#include "store/database.hpp"
#include "jobs/lifecycle/job_transitions.hpp"
#include "ledger/ledger.hpp"
#include "jobs/core/pipeline_config.hpp"
#include "ledger/pricing.hpp"
#include "jobs/lifecycle/rescuer.hpp"
#include "jobs/core/spool.hpp"
#include "jobs/chunks/token_gate.hpp"
#include "io/worker_pool.hpp"

namespace batchd::openai {
class client;
}

namespace batchd::jobs {

// What the pipeline is given besides its config section.
struct pipeline_inputs {
  std::shared_ptr<const ledger::pricing_table> prices = std::make_shared<ledger::pricing_table>();
  ledger::budget spending;  // the daily budget, if any
  // Tests only: die by SIGKILL at this point ("after_upload", "after_create",
  // "mid_download", "mid_merge", "mid_booking") to prove a restart neither loses nor repeats work.
  std::string crash_at;
};

class pipeline {
 public:
  // `pool`: the workers for heavy steps (shared with the API client's fsyncs).
  pipeline(boost::asio::any_io_executor ex, store::database& db, spool dirs, openai::client& api, const io::clock& clk,
           io::worker_pool& pool, pipeline_config config, pipeline_inputs inputs);

  // The one intake, for the inbox and the control socket alike: checks the
  // file, takes it into the state directory, validates and assembles it,
  // and starts the job. `job_id` is set once a job exists; `rejection` (the
  // .error.json's content) when the file was refused.
  struct taken {
    std::optional<std::int64_t> job_id;
    std::optional<nlohmann::json> rejection;
  };
  // `settled`: as inbox_watcher says (a submitted body is).
  boost::asio::awaitable<taken> take(std::filesystem::path file, std::optional<ledger::picousd> max_cost = std::nullopt,
                                     bool settled = true);

  // Starts the rescuer: every unfinished job runs now (after a restart) or
  // when its retry time comes.
  void resume_all();
  std::size_t running() const { return signals_.size(); }
  // The state directory's size at the last housekeeping pass (bytes).
  std::uintmax_t state_bytes() const { return state_bytes_; }
  // Records the cancel (durably, first), then wakes the job: chunks without a
  // batch end as cancelled, batches in flight are cancelled at the API and
  // their partial results still collected. A job stranded on a failing step
  // ends now instead. False if the job is finished or unknown.
  bool cancel(std::int64_t job_id);
  // Sends a held job despite its estimate (recorded durably first). False if not held.
  bool release(std::int64_t job_id);
  // A held job looks again now: one out of quota asks the API again, one
  // over a cost limit weighs its estimate again. False if not held.
  bool resume(std::int64_t job_id);
  // Every job held for quota asks again now (a reload: the operator may
  // have topped the account up). Returns how many.
  int resume_quota_holds();
  nlohmann::json money_of(const store::job_row& job) { return moves_.money_of(job); }
  // New settings (SIGHUP): steps from now on use them.
  void set_config(pipeline_config config, pipeline_inputs inputs);
  const pipeline_config& config() const { return config_; }
  // The price table in force (replaced on SIGHUP).
  std::shared_ptr<const ledger::pricing_table> prices() const { return inputs_.prices; }

 private:
  void start(std::int64_t job_id);
  // A held job the user let go (`change`: released or resumed) goes on now. False if not held.
  bool let_go(std::int64_t job_id, job_result (job_transitions::*change)(const store::job_row&), const char* what);
  // Running, or being taken in by take().
  bool busy(std::int64_t job_id) const { return signals_.count(job_id) > 0 || taking_->count(job_id) > 0; }
  void on_job_end(std::int64_t job_id, std::exception_ptr e);
  boost::asio::awaitable<void> run_job(std::int64_t job_id, std::shared_ptr<job_signal> signal);
  // assembled → running, or → held while over a cost limit; held → running
  // once released, cancelled, or within the budget again.
  boost::asio::awaitable<void> hold_or_run(running_job& job);
  boost::asio::awaitable<void> run_chunks(const running_job& job);
  boost::asio::awaitable<void> run_chunk_chain(const running_job& job, int idx);
  boost::asio::awaitable<void> rescue_loop();
  // Retention and the state directory's size, once a real minute.
  boost::asio::awaitable<void> housekeeping();
  // A job that cannot run on ends now — failed with `failure`, else cancelled
  // — and its batches still in flight (`chunks` as they were) are cancelled at the API.
  void end_stranded(const store::job_row& job, const std::vector<store::chunk_row>& chunks,
                    const std::optional<std::string>& failure);
  void cancel_at_api(const store::job_row& job, const std::vector<store::chunk_row>& chunks);
  void crash_point(const char* point) const;

  boost::asio::any_io_executor ex_;
  store::database& db_;
  spool dirs_;
  openai::client& api_;
  const io::clock& clock_;
  pipeline_config config_;
  pipeline_inputs inputs_;
  io::worker_pool& pool_;
  job_transitions moves_;
  rescuer rescuer_;
  batch_board board_;
  token_gate gate_;
  chunk_steps steps_;
  std::map<std::int64_t, std::shared_ptr<job_signal>> signals_;  // the jobs running now
  // Jobs take() is assembling, and files it is taking in. Shared: a take()
  // frame destroyed at shutdown, after the pipeline, still erases from them.
  std::shared_ptr<std::set<std::int64_t>> taking_ = std::make_shared<std::set<std::int64_t>>();
  std::shared_ptr<std::set<std::filesystem::path>> arriving_ = std::make_shared<std::set<std::filesystem::path>>();
  // Job names chosen for drops whose files are still being taken in.
  std::shared_ptr<std::set<std::string>> naming_ = std::make_shared<std::set<std::string>>();
  bool rescuing_ = false;
  std::uintmax_t state_bytes_ = 0;
  std::optional<std::chrono::steady_clock::time_point> housekept_at_;  // the last housekeeping pass
};

}  // namespace batchd::jobs
