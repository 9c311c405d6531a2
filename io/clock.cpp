#include "io/clock.hpp"

#include <algorithm>

#include <ctime>

namespace batchd::io {
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

namespace {

std::string utc_format(double unix_seconds, const char* format) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

}  // namespace

std::string rfc3339(double unix_seconds) { return utc_format(unix_seconds, "%Y-%m-%dT%H:%M:%SZ"); }
std::string utc_day(double unix_seconds) { return utc_format(unix_seconds, "%Y-%m-%d"); }

}  // namespace batchd::io
