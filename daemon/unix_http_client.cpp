#include "daemon/unix_http_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <optional>

namespace batchd::daemon {
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

using local = asio::local::stream_protocol;

asio::awaitable<http_result> exchange(local::socket& s, std::string socket, http::request<http::string_body> req) {
  try {
    co_await s.async_connect(local::endpoint(socket), asio::use_awaitable);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("cannot connect to batchd at " + socket + ": " + e.code().message() +
                             " (is batchd running? is --socket right? are you in its group?)");
  }
  try {
    co_await http::async_write(s, req, asio::use_awaitable);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("sending to batchd at " + socket + ": " + e.code().message());
  }
  boost::beast::flat_buffer buffer;
  buffer.reserve(64 * 1024);
  http::response_parser<http::string_body> parser;
  parser.body_limit(1ULL << 30);
  try {
    co_await http::async_read(s, buffer, parser, asio::use_awaitable);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("reading batchd's answer on " + socket + ": " + e.code().message());
  }
  co_return http_result{static_cast<int>(parser.get().result_int()), std::move(parser.get().body())};
}

}  // namespace

http_result unix_http(const std::filesystem::path& socket, const std::string& method, const std::string& target,
                      const std::string& body, const std::string& content_type, std::chrono::milliseconds timeout) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "localhost");
  req.set(http::field::user_agent, "batchctl/" BATCHD_VERSION);
  if (!body.empty() || method == "POST") {
    req.set(http::field::content_type, content_type);
    req.body() = body;
  }
  req.keep_alive(false);
  req.prepare_payload();
  asio::io_context ioc;
  local::socket s(ioc);
  std::optional<http_result> result;
  std::exception_ptr failed;
  asio::co_spawn(ioc, exchange(s, socket.string(), std::move(req)), [&](std::exception_ptr e, http_result r) {
    if (e) failed = e;
    else result = std::move(r);
  });
  ioc.run_for(timeout);  // the whole exchange, connect to last byte
  if (failed) std::rethrow_exception(failed);
  if (!result)
    throw std::runtime_error("batchd at " + socket.string() + " did not answer within " +
                             std::to_string(timeout.count() / 1000.0).substr(0, 5) + " s (see --timeout)" +
                             (method == "POST" ? "; it may still have acted on the request: look before sending it again"
                                               : ""));
  return *result;
}

}  // namespace batchd::daemon
