#pragma once
// HTTP/1.1 over the control socket (Beast on a unix stream socket, all of it
// in the .cpp): keep-alive, limits on header and body size and on
// concurrent connections, a deadline for each request to arrive.
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "daemon/control_http.hpp"

namespace batchd::daemon {

struct control_server_options {
  std::size_t max_connections = 256;         // more are answered 503 and closed
  std::uint32_t max_header_bytes = 16 * 1024;  // 431 beyond
  std::uint64_t max_body_bytes = 64 << 20;   // 413 beyond (POST /v1/jobs carries a job file)
  std::chrono::milliseconds request_timeout{30'000};  // idle or slow: 408 and close
  // The body a request may carry, decided from its start line and peer
  // before the body is read; max_body_bytes when unset.
  std::function<std::uint64_t(const std::string& method, const std::string& target, const peer_credentials& peer)>
      body_limit;
};

class control_server {
 public:
  // Serves on `listen_fd` (a listening unix stream socket, now owned here).
  control_server(boost::asio::any_io_executor ex, int listen_fd, control_server_options options,
                 control_handler handler);
  ~control_server();
  std::size_t connections() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace batchd::daemon
