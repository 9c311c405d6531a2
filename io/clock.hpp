#pragma once
// The daemon's clock: real unix time, or running `scale` times faster for
// tests and the demo (--time-scale), so a 24-hour batch lifecycle takes
// seconds. Everything that waits or stamps a time asks here.
//
// At scale 1 every now() reads the system clock afresh, so stored absolute
// times (grace periods, token-limit waits, the budget day) stay right across
// restarts and clock steps. A scaled clock runs ahead of real time from an
// origin — the pair (its reading, the real unix time) — that the daemon
// keeps in its store: after a restart it reads as if it had run all along,
// the downtime scaled too, so it never goes back and a stored wait (a
// Retry-After's not_before, a grace) is neither cut short nor repeated.
#include <chrono>
#include <string>

namespace batchd::io {

class clock {
 public:
  // Scale 1: the system clock. Else `origin_clock` at real unix time
  // `origin_real`, running `scale` times faster (origin 0: from now).
  explicit clock(double scale = 1.0, double origin_clock = 0, double origin_real = 0);
  // Unix seconds on this clock.
  double now() const;
  // How long to really wait for `seconds` of this clock's time.
  std::chrono::steady_clock::duration real(double seconds) const;
  double scale() const { return scale_; }

 private:
  double scale_;
  double origin_clock_, origin_real_;
};

// RFC 3339 in UTC, second precision.
std::string rfc3339(double unix_seconds);
// "YYYY-MM-DD" (UTC).
std::string utc_day(double unix_seconds);

}  // namespace batchd::io
