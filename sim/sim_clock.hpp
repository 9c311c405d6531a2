#pragma once
// The simulator's wall clock: it starts at the real time and runs `scale`
// times faster, so a 24-hour batch lifecycle fits in a test.
#include <chrono>
#include <cstdint>

namespace batchd::sim {

class sim_clock {
 public:
  explicit sim_clock(double scale);

  // Simulated unix time in seconds (fractional).
  double now() const;
  std::int64_t now_s() const { return static_cast<std::int64_t>(now()); }
  double scale() const { return scale_; }
  // The real duration that `sim_seconds` of simulated time takes.
  std::chrono::nanoseconds real_for(double sim_seconds) const;

 private:
  double scale_;
  double start_unix_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace batchd::sim
