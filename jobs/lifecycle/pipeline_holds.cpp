// pipeline: what holds a job back and lets it go — its cost against its
// limit and the daily budget, an account out of quota — and the user's
// release and resume.
#include <spdlog/spdlog.h>

#include "ledger/ledger.hpp"
#include "jobs/results/job_report.hpp"
#include "jobs/lifecycle/pipeline.hpp"

namespace batchd::jobs {
using boost::asio::awaitable;

bool pipeline::resume(std::int64_t job_id) { return let_go(job_id, &job_transitions::resume, "resumed"); }

bool pipeline::release(std::int64_t job_id) { return let_go(job_id, &job_transitions::release, "released"); }

bool pipeline::let_go(std::int64_t job_id, job_result (job_transitions::*change)(const store::job_row&),
                      const char* what) {
  const auto job = db_.job(job_id);
  if (!job || !moved((moves_.*change)(*job))) return false;
  spdlog::info("job {}: {}", job->name, what);
  if (auto it = signals_.find(job_id); it != signals_.end()) it->second->wake();
  else start(job_id);
  return true;
}

int pipeline::resume_quota_holds() {
  int n = 0;
  for (const auto& j : db_.unfinished_jobs())
    if (j.stage == name(job_stage::held) && j.held_for == std::optional<std::string>("quota") && resume(j.id)) ++n;
  return n;
}

awaitable<void> pipeline::hold_or_run(running_job& job) {
  for (;;) {
    const auto stage = *parse_job_stage(job.row.stage);
    if (stage != job_stage::assembled && stage != job_stage::held) co_return;
    std::optional<std::string> reason;
    double recheck_s = config_.held_recheck_s;
    if (job.row.held_for == std::optional<std::string>("quota")) {
      // Out of quota: asked again when resumed or at look_again_at (a cancelled job runs on to end its chunks).
      const double now = clock_.now();
      if (!job.signal->cancelled() && job.row.look_again_at && *job.row.look_again_at > now) {
        reason = job.row.hold_reason;
        recheck_s = *job.row.look_again_at - now;
      }
    } else if (!job.signal->cancelled()) {  // a cancelled job runs on only to end its chunks as cancelled
      const auto today = io::utc_day(clock_.now());
      const auto& prices = *inputs_.prices;
      reason = ledger::hold_reason(job.row, ledger::estimate(job.row, prices), inputs_.spending,
                           ledger::committed_today(db_, prices, today), today);
    }
    if (!reason) {
      auto r = moved(moves_.to_running(job.row));
      if (!r) co_return;
      job.row = std::move(*r);
      spdlog::info("job {}: running, {} requests", job.row.name, job.row.total);
      co_return;
    }
    if (stage == job_stage::assembled || job.row.hold_reason != reason) {
      auto r = moved(moves_.to_held(job.row, *reason));
      if (!r) co_return;
      job.row = std::move(*r);
      spdlog::warn("job {}: held: {}", job.row.name, *reason);
    }
    co_await job.signal->sleep(clock_.real(recheck_s));
    if (auto fresh = db_.job(job.row.id)) job.row = std::move(*fresh);  // released or resumed meanwhile?
  }
}

}  // namespace batchd::jobs
