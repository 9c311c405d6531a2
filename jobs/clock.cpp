#include "clock.hpp"

#include <algorithm>

namespace batchd::jobs {
namespace {

double system_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

clock::clock(double scale, double not_before)
    : scale_(std::max(scale, 1e-3)), start_unix_(system_now()), start_(std::chrono::steady_clock::now()) {
  if (scale_ != 1) start_unix_ = std::max(start_unix_, not_before);
}

double clock::now() const {
  if (scale_ == 1) return system_now();
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
  return start_unix_ + elapsed.count() * scale_;
}

std::chrono::steady_clock::duration clock::real(double seconds) const {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(std::max(seconds, 0.0) / scale_));
}

}  // namespace batchd::jobs
