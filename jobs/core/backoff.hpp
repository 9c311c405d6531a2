#pragma once
// Poll and retry delays as pure functions of the attempt and a random draw,
// so tests can pin them (after River's retry policy).
#include <cstdint>
#include <string_view>

namespace batchd::jobs {

struct backoff_policy {
  double initial_s = 5;
  double factor = 1.5;
  double cap_s = 300;
};

// The delay before try `n` (0-based) with full jitter: uniform in
// [d/2, d] where d = min(cap, initial * factor^n); `unit` is a draw in [0, 1).
double backoff_delay(const backoff_policy& p, int n, double unit);

// How long to wait before polling a batch again. Quick while the service is
// validating or finalizing, patient while in progress (resetting when the
// counts move, which the caller shows by passing n = 0), and never past
// expires_at, when something is sure to change.
double poll_delay(const backoff_policy& in_progress, const std::string_view status, int n,
                  double unit, double now, double expires_at);

}  // namespace batchd::jobs
