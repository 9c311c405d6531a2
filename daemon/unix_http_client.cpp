#include "unix_http_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace batchd::daemon {
namespace asio = boost::asio;
namespace http = boost::beast::http;

http_result unix_http(const std::filesystem::path& socket, const std::string& method, const std::string& target,
                      const std::string& body, const std::string& content_type) {
  asio::io_context ioc;
  asio::local::stream_protocol::socket s(ioc);
  boost::system::error_code ec;
  s.connect(asio::local::stream_protocol::endpoint(socket.string()), ec);
  if (ec)
    throw std::runtime_error("cannot connect to batchd at " + socket.string() + ": " + ec.message() +
                             " (is batchd running? is --socket right? are you in its group?)");
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "localhost");
  req.set(http::field::user_agent, "batchctl/" BATCHD_VERSION);
  if (!body.empty() || method == "POST") {
    req.set(http::field::content_type, content_type);
    req.body() = body;
  }
  req.keep_alive(false);
  req.prepare_payload();
  http::write(s, req, ec);
  if (ec) throw std::runtime_error("sending to batchd at " + socket.string() + ": " + ec.message());
  boost::beast::flat_buffer buffer;
  buffer.reserve(64 * 1024);
  http::response_parser<http::string_body> parser;
  parser.body_limit(1ULL << 30);
  http::read(s, buffer, parser, ec);
  if (ec) throw std::runtime_error("reading batchd's answer on " + socket.string() + ": " + ec.message());
  return {static_cast<int>(parser.get().result_int()), std::move(parser.get().body())};
}

}  // namespace batchd::daemon
