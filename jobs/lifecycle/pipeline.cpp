#include "jobs/lifecycle/pipeline.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <set>
#include <thread>

#include "openai/client.hpp"
#include "openai/error.hpp"
#include "jobs/intake/intake.hpp"
#include "jobs/lifecycle/job_assembly.hpp"
#include "jobs/lifecycle/job_outbox.hpp"
#include "jobs/results/job_report.hpp"
#include "jobs/lifecycle/retention.hpp"

namespace batchd::jobs {
namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;

namespace {

rescue_policy rescue_of(const pipeline_config& c) {
  return {c.step_retry_initial_s, c.step_retry_cap_s, c.step_max_failures};
}

std::string message_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "an unknown error";
  }
}

}  // namespace

pipeline::pipeline(asio::any_io_executor ex, store::database& db, spool dirs, openai::client& api, const io::clock& clk,
                   io::worker_pool& pool, pipeline_config config, pipeline_inputs inputs)
    : ex_(ex),
      db_(db),
      dirs_(std::move(dirs)),
      api_(api),
      clock_(clk),
      config_(std::move(config)),
      inputs_(std::move(inputs)),
      pool_(pool),
      moves_(db, dirs_, clk, inputs_.prices),
      rescuer_(db, moves_, rescue_of(config_)),
      board_(ex, api, clk),
      gate_(config_.enqueued_token_limit),
      steps_(step_context{ex, db, dirs_, api, clk, [this](std::int64_t id) { moves_.report(id); }, board_, gate_,
                          config_, [this] { return inputs_.prices; },
                          [this](const char* p) { crash_point(p); }, pool_}) {
  board_.set_policy(static_cast<std::size_t>(config_.list_refresh_from), config_.poll_initial_s);
}

void pipeline::set_config(pipeline_config config, pipeline_inputs inputs) {
  config_ = std::move(config);
  inputs_ = std::move(inputs);
  moves_.set_prices(inputs_.prices);
  rescuer_.set_policy(rescue_of(config_));
  board_.set_policy(static_cast<std::size_t>(config_.list_refresh_from), config_.poll_initial_s);
  gate_.set_configured(config_.enqueued_token_limit);
}

void pipeline::crash_point(const char* point) const {
  if (inputs_.crash_at == point) {
    spdlog::critical("crash test: SIGKILL at {}", point);
    spdlog::default_logger()->flush();
    ::raise(SIGKILL);
  }
}

awaitable<pipeline::taken> pipeline::take(std::filesystem::path file, std::optional<ledger::picousd> max_cost,
                                          bool settled) {
  taken t;
  // A rescan may offer a file again while it is on its way in: once is enough.
  if (!arriving_->insert(file).second) co_return t;
  struct arrived {
    std::shared_ptr<std::set<std::filesystem::path>> s;
    std::filesystem::path file;
    ~arrived() { s->erase(file); }
  } done_arriving{arriving_, file};
  // The name first (the database is the loop's), held while the file work
  // runs on a worker, so that two drops taken at once never share a folder.
  const auto name = db_.free_job_name(job_base_name(file.filename().string()), *naming_);
  naming_->insert(name);
  struct named {
    std::shared_ptr<std::set<std::string>> s;
    std::string name;
    ~named() { s->erase(name); }
  } done_naming{naming_, name};
  const auto bring = [dirs = dirs_, file, opt = config_.intake(), settled, name] {
    return bring_in(dirs, file, opt, settled, companions_of(file), name);  // reads, copies, scans /proc
  };
  const auto in = co_await pool_.run(bring);
  if (in.source.empty()) {
    t.rejection = in.refusal;
    co_return t;
  }
  // A crash before the insert is healed by adopt_orphans().
  t.job_id = db_.insert_job(name, std::string(kind_for_file(file.filename().string())->name()), in.source.string(),
                            clock_.now());
  const auto job = *db_.job(*t.job_id);
  spdlog::info("received {} as job {}; validating", file.filename().string(), job.name);
  // Taken here: the rescuer must not start the same job while this assembles it.
  taking_->insert(job.id);
  struct untake {
    std::shared_ptr<std::set<std::int64_t>> s;
    std::int64_t id;
    ~untake() { s->erase(id); }
  } done_taking{taking_, job.id};
  try {
    const auto assemble = [dirs = dirs_, job, opt = config_.intake()] { return assemble_files(dirs, job, opt); };
    const auto a = co_await pool_.run(assemble);
    t.rejection = record_assembly(moves_, dirs_, job, a);
  } catch (const std::exception& e) {
    // The file is the job's now: nothing is lost, and the rescuer tries again.
    rescuer_.step_failed(job, std::string("assembling: ") + e.what(), clock_.now());
    co_return t;
  }
  if (t.rejection) {
    spdlog::warn("job {}: rejected: {}", job.name, t.rejection->value("error", ""));
    co_return t;
  }
  if (max_cost) db_.set_job_max_cost(*t.job_id, max_cost);  // the submitter's limit wins over the manifest's
  taking_->erase(job.id);
  start(*t.job_id);
  co_return t;
}

void pipeline::resume_all() {
  for (auto id : rescuer_.run_once(clock_.now(), [this](std::int64_t id) { return busy(id); }))
    start(id);
  if (!rescuing_) asio::co_spawn(ex_, rescue_loop(), asio::detached);
}

awaitable<void> pipeline::rescue_loop() {
  rescuing_ = true;
  asio::steady_timer t(ex_);
  bool first = true;
  for (;;) {
    if (!first) {
      // A scaled clock would make this a busy loop of queries: never more than ten passes a real second.
      t.expires_after(std::max<std::chrono::steady_clock::duration>(clock_.real(config_.step_retry_initial_s / 4),
                                                                     std::chrono::milliseconds(100)));
      co_await t.async_wait(asio::as_tuple(use_awaitable));
    }
    first = false;
    try {
      for (auto id : rescuer_.run_once(clock_.now(), [this](std::int64_t id) { return busy(id); }))
        start(id);
      co_await housekeeping();
    } catch (const std::exception& e) {
      spdlog::error("rescuer: {}", e.what());
    }
  }
}

awaitable<void> pipeline::housekeeping() {
  // Every real minute, whatever the clock's scale: walking the state directory is not free.
  const auto real_now = std::chrono::steady_clock::now();
  if (housekept_at_ && real_now - *housekept_at_ < std::chrono::minutes(1)) co_return;
  housekept_at_ = real_now;
  const double now = clock_.now();
  const auto tidy = [expired = expired_work(db_, dirs_, now, config_.retention_days), dirs = dirs_] {
    remove_work(expired);
    return directory_bytes(dirs.state);
  };
  state_bytes_ = co_await pool_.run(tidy);
}

void pipeline::start(std::int64_t job_id) {
  if (busy(job_id)) return;
  const auto row = db_.job(job_id);
  if (!row || is_terminal(*parse_job_stage(row->stage))) return;
  auto signal = std::make_shared<job_signal>(ex_, row->cancel_requested);
  signals_.emplace(job_id, signal);
  asio::co_spawn(ex_, run_job(job_id, signal), [this, job_id](std::exception_ptr e) { on_job_end(job_id, e); });
}

void pipeline::on_job_end(std::int64_t job_id, std::exception_ptr e) {
  signals_.erase(job_id);
  if (!e) return;
  const auto what = message_of(e);
  try {
    const auto job = db_.job(job_id);
    if (!job || is_terminal(*parse_job_stage(job->stage))) return;
    const auto chunks = db_.chunks_of(job_id);  // as they were, to find batches left at the API
    if (job->cancel_requested && job->last_error) {  // cancelled, and it had failed before: it ends now
      end_stranded(*job, chunks, std::nullopt);
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const source_changed&) {  // no retry can mend it
      spdlog::error("job {}: {}", job->name, what);
      end_stranded(*job, chunks, what);
      return;
    } catch (const quota_exhausted&) {  // waiting for the rescuer would not mend it either: the operator does
      if (moved(moves_.to_quota_held(*job, what, clock_.now() + config_.quota_recheck_s))) {
        spdlog::error("job {}: held: {}", job->name, what);
        start(job_id);  // it waits, held, for a resume or the next look
      }
      return;
    } catch (...) {
    }
    if (!rescuer_.step_failed(*job, what, clock_.now())) cancel_at_api(*job, chunks);
  } catch (const std::exception& again) {
    // Even the record failed (a full disk?): the rescue loop comes back to it.
    spdlog::error("job {}: {}; and recording that failed too: {}", job_id, what, again.what());
  }
}

namespace {

// Whether a batch's metadata (batch_metadata in chunk_steps.cpp) names this
// job's chunk attempt, whichever try created it. Keys set by someone else may
// be missing: never .at().
bool names_chunk(const std::map<std::string, std::string>& md, std::int64_t job_id, const store::chunk_row& c) {
  const auto is = [&](const char* key, const std::string& value) {
    const auto it = md.find(key);
    return it != md.end() && it->second == value;
  };
  return is("batchd_job_id", std::to_string(job_id)) && is("batchd_chunk", std::to_string(c.idx)) &&
         is("batchd_attempt", std::to_string(c.attempt));
}

}  // namespace

void pipeline::cancel_at_api(const store::job_row& job, const std::vector<store::chunk_row>& chunks) {
  for (const auto& c : chunks) {
    const bool live = c.stage == name(chunk_stage::polling) && c.batch_id;
    const bool maybe = c.stage == name(chunk_stage::creating);  // a batch may exist: look for it by its metadata
    if (!live && !maybe) continue;
    asio::co_spawn(ex_, [this, c, job_id = job.id, live]() -> awaitable<void> {
      try {
        auto id = live ? c.batch_id : std::nullopt;
        if (!id) {
          const double since = c.updated_at - 2 * 86400;
          for (const auto& b : co_await api_.list_batches([&](const openai::batch& b) { return b.created_at >= since; }))
            if (!b.is_terminal() && names_chunk(b.metadata, job_id, c)) id = b.id;
        }
        if (id) co_await api_.cancel_batch(*id);
      } catch (const openai::api_error& e) {
        spdlog::warn("job {} chunk {}: could not cancel its batch at the API: {}", job_id, c.idx, e.what());
      }
    }, asio::detached);
  }
}

void pipeline::end_stranded(const store::job_row& job, const std::vector<store::chunk_row>& chunks,
                            const std::optional<std::string>& failure) {
  cancel_at_api(job, chunks);
  const auto ended = failure ? moves_.fail(job, *failure) : moves_.cancel_now(job);
  if (ended) spdlog::info("job {}: {}", job.name, ended->stage);
}

bool pipeline::cancel(std::int64_t job_id) {
  const auto job = db_.job(job_id);
  if (!job) return false;
  const auto asked = moved(moves_.request_cancel(*job));
  if (!asked) return false;
  spdlog::info("job {}: cancel requested", job->name);
  if (auto it = signals_.find(job_id); it != signals_.end()) {
    it->second->cancel();
  } else if (asked->last_error) {
    end_stranded(*asked, db_.chunks_of(job_id), std::nullopt);  // rather than run the failing step again
  } else {
    start(job_id);
  }
  return true;
}

awaitable<void> pipeline::run_job(std::int64_t job_id, std::shared_ptr<job_signal> signal) {
  auto row = db_.job(job_id);
  if (!row) co_return;
  if (row->stage == name(job_stage::received)) {  // taken in before a crash, never assembled
    spdlog::info("job {}: validating {}", row->name, row->source);
    const auto assemble = [dirs = dirs_, job = *row, opt = config_.intake()] { return assemble_files(dirs, job, opt); };
    const auto a = co_await pool_.run(assemble);
    if (record_assembly(moves_, dirs_, *row, a)) co_return;
    row = db_.job(job_id);
  }
  running_job job{*row, moves_.spec_of(*row), std::move(signal)};
  if (job.row.stage == name(job_stage::assembled) || job.row.stage == name(job_stage::held))
    co_await hold_or_run(job);
  if (job.row.stage == name(job_stage::running)) {
    co_await run_chunks(job);
    auto r = moved(moves_.to_merged(job.row));
    if (!r) co_return;
    job.row = std::move(*r);
  }
  if (job.row.stage == name(job_stage::merged)) {
    const auto publish = [dirs = dirs_, row = job.row, spec = job.spec, chunks = db_.chunks_of(job_id)] {
      return publish_outbox(dirs, row, spec, chunks, false, finish_missing.code, finish_missing.message);
    };
    const auto published = co_await pool_.run(publish);
    const auto r = moves_.finish(job.row, published);
    if (r.has_error() && r.error() == errc::forbidden_move) throw std::logic_error("job cannot finish");
    if (r) spdlog::info("job {}: {}: {} succeeded, {} failed; results in {}", r->name, r->stage, r->succeeded,
                        r->failed, (dirs_.outbox / r->name).string());
  }
}

awaitable<void> pipeline::run_chunks(const running_job& job) {
  std::set<int> indexes;
  for (const auto& c : db_.chunks_of(job.row.id)) indexes.insert(c.idx);
  std::size_t remaining = indexes.size();
  asio::steady_timer all_done(ex_, asio::steady_timer::time_point::max());
  std::exception_ptr first_error;
  for (int idx : indexes) {
    asio::co_spawn(ex_, run_chunk_chain(job, idx), [&](std::exception_ptr e) {
      if (e && !first_error) {
        first_error = e;
        job.signal->stop();  // the rescuer gets the job now, not when the slowest chunk ends
      }
      if (--remaining == 0) all_done.cancel();
    });
  }
  if (remaining > 0) co_await all_done.async_wait(asio::as_tuple(use_awaitable));
  if (first_error) std::rethrow_exception(first_error);
}

awaitable<void> pipeline::run_chunk_chain(const running_job& job, int idx) {
  for (;;) {
    std::optional<store::chunk_row> latest;
    for (const auto& c : db_.chunks_of(job.row.id))
      if (c.idx == idx && (!latest || c.attempt > latest->attempt)) latest = c;
    if (!latest || is_terminal(*parse_chunk_stage(latest->stage))) co_return;
    co_await steps_.run_attempt(job, latest->id);
  }
}

}  // namespace batchd::jobs
