#include "clock.hpp"

#include <algorithm>

#include "database.hpp"

namespace batchd::jobs {
namespace {

double system_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

clock::clock(double scale, double origin_clock, double origin_real)
    : scale_(std::max(scale, 1e-3)), origin_clock_(origin_clock), origin_real_(origin_real) {
  if (origin_real_ == 0) origin_clock_ = origin_real_ = system_now();
}

double clock::now() const {
  const double real = system_now();
  if (scale_ == 1) return real;
  return origin_clock_ + (real - origin_real_) * scale_;
}

std::chrono::steady_clock::duration clock::real(double seconds) const {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(std::max(seconds, 0.0) / scale_));
}

clock clock_for(store::database& db, double scale) {
  if (scale == 1) return clock();
  if (const auto o = db.clock_origin(scale)) return clock(scale, o->clock, o->real);
  const double real = system_now();
  const double start = std::max(real, db.latest_time());
  db.set_clock_origin(scale, start, real);
  return clock(scale, start, real);
}

}  // namespace batchd::jobs
