#include "sim/sim_clock.hpp"

#include <algorithm>

namespace batchd::sim {

sim_clock::sim_clock(double scale)
    : scale_(std::max(scale, 1e-3)),
      start_unix_(std::chrono::duration<double>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count()),
      start_(std::chrono::steady_clock::now()) {}

double sim_clock::now() const {
  const std::chrono::duration<double> real = std::chrono::steady_clock::now() - start_;
  return start_unix_ + real.count() * scale_;
}

std::chrono::nanoseconds sim_clock::real_for(double sim_seconds) const {
  return std::chrono::nanoseconds(static_cast<std::int64_t>(sim_seconds / scale_ * 1e9));
}

}  // namespace batchd::sim
