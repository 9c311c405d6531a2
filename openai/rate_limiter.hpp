#pragma once
// A token bucket on the client's requests (GCRA form): at most `burst` at
// once, then one every 1/rate seconds, across every coroutine that shares it.
#include <boost/asio/awaitable.hpp>
#include <chrono>

namespace batchd::openai {

class rate_limiter {
 public:
  rate_limiter(double per_second, int burst);
  // Waits until a request may go.
  boost::asio::awaitable<void> acquire();
  // The pure part: how long a request arriving at `now` must wait; books it.
  std::chrono::steady_clock::duration reserve(std::chrono::steady_clock::time_point now);

 private:
  std::chrono::steady_clock::duration interval_;
  std::chrono::steady_clock::duration tolerance_;
  std::chrono::steady_clock::time_point tat_{};  // theoretical arrival time of the next request
};

}  // namespace batchd::openai
