#include "clock.hpp"

#include <algorithm>

namespace batchd::jobs {

clock::clock(double scale)
    : scale_(std::max(scale, 1e-3)),
      start_unix_(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()),
      start_(std::chrono::steady_clock::now()) {}

double clock::now() const {
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
  return start_unix_ + elapsed.count() * scale_;
}

std::chrono::steady_clock::duration clock::real(double seconds) const {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(std::max(seconds, 0.0) / scale_));
}

}  // namespace batchd::jobs
