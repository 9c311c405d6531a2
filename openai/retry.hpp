#pragma once
// Retry timing as pure functions: capped exponential backoff with full
// jitter, and the server's own Retry-After-Ms / Retry-After, which win.
#include <chrono>
#include <optional>
#include <string_view>

namespace batchd::openai {

struct retry_policy {
  int max_retries = 5;
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds cap{8000};
  std::chrono::milliseconds max_server_delay{120'000};  // a longer Retry-After is not waited for
};

// Full jitter: uniform in [0, min(cap, initial * 2^n)], `unit` in [0, 1).
std::chrono::milliseconds backoff(const retry_policy& p, int n, double unit);

// The server's delay: retry-after-ms first, then retry-after (seconds).
// nullopt when neither parses.
std::optional<std::chrono::milliseconds> server_delay(std::string_view retry_after_ms,
                                                      std::string_view retry_after);

}  // namespace batchd::openai
