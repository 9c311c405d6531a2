#pragma once
// One HTTP/1.1 exchange over a unix socket, for batchctl (Beast in the .cpp).
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace batchd::daemon {

struct http_result {
  int status = 0;
  std::string body;
};

// Throws std::runtime_error (saying which socket, and why) when there is no
// answer, or when batchd lets any step of the exchange wait more than
// `timeout` (a hung daemon must not hang a script).
http_result unix_http(const std::filesystem::path& socket, const std::string& method, const std::string& target,
                      const std::string& body = {}, const std::string& content_type = "application/json",
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace batchd::daemon
