#include "openai/rate_limiter.hpp"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace batchd::openai {

rate_limiter::rate_limiter(double per_second, int burst)
    : interval_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(1.0 / std::max(per_second, 1e-6)))),
      tolerance_(interval_ * std::max(burst - 1, 0)) {}

std::chrono::steady_clock::duration rate_limiter::reserve(std::chrono::steady_clock::time_point now) {
  const auto tat = std::max(tat_, now);
  const auto allowed = tat - tolerance_;
  const auto wait = allowed > now ? allowed - now : std::chrono::steady_clock::duration::zero();
  tat_ = tat + interval_;
  return wait;
}

boost::asio::awaitable<void> rate_limiter::acquire() {
  const auto wait = reserve(std::chrono::steady_clock::now());
  if (wait <= std::chrono::steady_clock::duration::zero()) co_return;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, wait);
  co_await timer.async_wait(boost::asio::use_awaitable);
}

}  // namespace batchd::openai
