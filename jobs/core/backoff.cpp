#include "jobs/core/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace batchd::jobs {

double backoff_delay(const backoff_policy& p, int n, double unit) {
  const double d = std::min(p.cap_s, p.initial_s * std::pow(p.factor, std::clamp(n, 0, 64)));
  return d / 2 + d / 2 * std::clamp(unit, 0.0, 1.0);
}

double poll_delay(const backoff_policy& in_progress, std::string_view status, int n, double unit,
                  double now, double expires_at) {
  backoff_policy p = in_progress;
  if (status == "validating" || status == "finalizing" || status == "cancelling") {
    // These end within seconds to minutes: look often, but not hammering.
    p.initial_s = std::min(in_progress.initial_s, 2.0);
    p.cap_s = std::min(in_progress.cap_s, 30.0);
  }
  double d = backoff_delay(p, n, unit);
  if (expires_at > now && now + d > expires_at) d = expires_at - now + 1;
  return d;
}

}  // namespace batchd::jobs
