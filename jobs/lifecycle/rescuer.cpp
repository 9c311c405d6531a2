#include "jobs/lifecycle/rescuer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "jobs/lifecycle/job_transitions.hpp"

namespace batchd::jobs {

double step_retry_at(const rescue_policy& p, int failures, double now) {
  const double delay = p.initial_s * std::pow(2.0, std::max(0, failures - 1));
  return now + std::min(p.cap_s, delay);
}

rescuer::rescuer(store::database& db, job_transitions& moves, rescue_policy policy)
    : db_(db), moves_(moves), policy_(policy) {}

bool rescuer::step_failed(const store::job_row& job, const std::string& what, double now) {
  const int failures = job.step_failures + 1;
  if (failures >= policy_.max_failures) {
    const auto reason = "gave up after " + std::to_string(failures) + " failed tries: " + what;
    spdlog::error("job {}: {}", job.name, reason);
    (void)moves_.fail(job, reason);
    return false;
  }
  const double at = step_retry_at(policy_, failures, now);
  spdlog::error("job {}: {}; trying again in {:.0f} s ({} of {})", job.name, what, at - now, failures,
                policy_.max_failures);
  (void)moves_.record_step_error(job, what, failures, at);
  return true;
}

std::vector<std::int64_t> rescuer::run_once(double now, const std::function<bool(std::int64_t)>& running) {
  for (const auto& j : db_.finished_jobs_due(now)) moves_.republish(j, step_retry_at(policy_, j.step_failures + 1, now));
  std::vector<std::int64_t> due;
  for (const auto& j : db_.unfinished_jobs())
    if (!running(j.id) && (!j.retry_at || *j.retry_at <= now)) due.push_back(j.id);
  return due;
}

}  // namespace batchd::jobs
