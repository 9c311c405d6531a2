#pragma once
// The daemon's clock: real unix time, or running `scale` times faster for
// tests and the demo (--time-scale), so a 24-hour batch lifecycle takes
// seconds. Everything that waits or stamps a time asks here.
//
// At scale 1 every now() reads the system clock afresh, so stored absolute
// times (grace periods, token-limit waits, the budget day) stay right across
// restarts and clock steps. A scaled clock runs ahead of real time; started
// with `not_before` (the latest time the store holds), it never goes back
// across a restart.
#include <chrono>

namespace batchd::jobs {

class clock {
 public:
  explicit clock(double scale = 1.0, double not_before = 0);
  // Unix seconds on this clock.
  double now() const;
  // How long to really wait for `seconds` of this clock's time.
  std::chrono::steady_clock::duration real(double seconds) const;
  double scale() const { return scale_; }

 private:
  double scale_;
  double start_unix_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace batchd::jobs
