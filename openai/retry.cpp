#include "openai/retry.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace batchd::openai {

std::chrono::milliseconds backoff(const retry_policy& p, int n, double unit) {
  const double ceiling = std::min<double>(static_cast<double>(p.cap.count()),
                                          static_cast<double>(p.initial.count()) * std::pow(2.0, std::clamp(n, 0, 30)));
  return std::chrono::milliseconds(static_cast<std::int64_t>(ceiling * std::clamp(unit, 0.0, 1.0)));
}

std::optional<std::chrono::milliseconds> server_delay(std::string_view ms, std::string_view s) {
  auto number = [](std::string_view v) -> std::optional<double> {
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    double d = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
    if (ec != std::errc() || end != v.data() + v.size() || d < 0 || !std::isfinite(d)) return std::nullopt;
    return d;
  };
  if (auto v = number(ms)) return std::chrono::milliseconds(static_cast<std::int64_t>(*v));
  if (auto v = number(s)) return std::chrono::milliseconds(static_cast<std::int64_t>(*v * 1000));
  return std::nullopt;  // an HTTP-date Retry-After falls back to our own backoff
}

}  // namespace batchd::openai
