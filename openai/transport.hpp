#pragma once
// HTTP/1.1 to the API over TCP or TLS, with a small keep-alive pool. Bodies
// can stream from a file (uploads) and responses into one (downloads), so a
// 200 MB file never sits in memory. Beast and OpenSSL stay in transport.cpp.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace batchd::openai {

class api_error;
// What a failed step of an exchange (`step`: "resolve", "connect", "TLS
// handshake", "send", "receive") means for the caller: see transport.cpp.
api_error transport_error(const boost::system::error_code& ec, const std::string& step);


struct base_url {
  bool tls = true;
  std::string host, port, path;  // path: "/v1"
};

// Parses the API root. Plain http:// is accepted only for loopback hosts.
// Throws api_error (config) otherwise.
base_url parse_base_url(const std::string& url);

struct transport_config {
  base_url url;
  std::vector<std::pair<std::string, std::string>> headers;  // sent with every request
  std::filesystem::path ca_file;  // added to the system store
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};        // no progress for this long (bodies)
  std::chrono::milliseconds first_byte_timeout{120'000};  // from the request sent to the response head
  std::chrono::milliseconds request_timeout{600'000};    // connect and send the request's head, never the bodies
  std::size_t pool_size = 4;
  std::function<boost::asio::awaitable<void>(std::function<void()>)> offload;  // see client_config
};

struct http_call {
  std::string method = "GET";
  std::string target;  // path and query, e.g. "/v1/files?purpose=batch"
  std::string content_type;
  std::string body;
  // A streamed body: prefix, then the file's bytes (body_length of them from
  // body_offset; all by default), then suffix.
  std::filesystem::path body_file;
  std::uint64_t body_offset = 0;
  std::uint64_t body_length = UINT64_MAX;
  std::string body_prefix, body_suffix;
  // When set, a 2xx response body is written here instead of into `body`.
  std::filesystem::path response_file;
  std::string accept = "application/json";
};

struct http_reply {
  int status = 0;
  std::string body;  // empty when streamed to response_file
  std::uint64_t body_bytes = 0;
  std::string request_id, retry_after, retry_after_ms;
};

class transport {
 public:
  transport(boost::asio::any_io_executor ex, transport_config config);
  ~transport();
  // One exchange, no retries. Throws api_error (transport, timeout,
  // truncated, tls) when no complete response arrives.
  boost::asio::awaitable<http_reply> send(http_call call);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace batchd::openai
