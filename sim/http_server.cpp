#include "sim/http_server.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>
#include <iostream>
#include <optional>

#include "sim/api.hpp"

namespace batchd::sim {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
constexpr auto tuple_awaitable = asio::as_tuple(use_awaitable);

constexpr std::uint64_t max_body_bytes = 600ULL * 1024 * 1024;   // uploads; the route caps at 512 MB
constexpr std::size_t max_json_body_bytes = 64 * 1024 * 1024;
constexpr std::size_t io_chunk = 256 * 1024;
constexpr auto idle_timeout = std::chrono::seconds(120);
constexpr auto io_timeout = std::chrono::seconds(60);

template <class Fields>
http_request to_request(const http::request_header<Fields>& h) {
  http_request req;
  req.method = std::string(h.method_string());
  const std::string_view target = h.target();
  const auto q = target.find('?');
  req.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) req.query = parse_query(target.substr(q + 1));
  req.authorization = std::string(h[http::field::authorization]);
  req.content_type = std::string(h[http::field::content_type]);
  return req;
}

std::string request_id() {
  static std::uint64_t n = 0;
  char buf[40];
  std::snprintf(buf, sizeof buf, "req_sim%024llx", static_cast<unsigned long long>(++n));
  return buf;
}

template <class Message>
void set_common_headers(Message& res, const http_response& r, bool keep_alive) {
  res.set(http::field::server, "batchd-sim");
  res.set(http::field::content_type, r.content_type);
  res.set("x-request-id", request_id());
  res.set("openai-version", "2020-10-01");
  res.set("openai-processing-ms", "1");
  for (const auto& [k, v] : r.headers) res.set(k, v);
  res.keep_alive(keep_alive);
}

// Writes the header and only the first half of the body, so the client sees
// a Content-Length it never gets: a truncated response.
template <class Stream, class Body>
awaitable<void> write_truncated(Stream& stream, http::response<Body>& res, std::uint64_t size) {
  http::response_serializer<Body> sr(res);
  co_await http::async_write_header(stream, sr, use_awaitable);
  const auto half = size / 2;
  if constexpr (std::is_same_v<Body, http::string_body>) {
    co_await asio::async_write(stream, asio::buffer(res.body().data(), half), use_awaitable);
  } else {
    std::vector<char> buf(io_chunk);
    beast::error_code ec;
    for (std::uint64_t sent = 0; sent < half;) {
      const auto n = res.body().file().read(buf.data(), std::min<std::uint64_t>(buf.size(), half - sent), ec);
      if (ec || n == 0) break;
      co_await asio::async_write(stream, asio::buffer(buf.data(), n), use_awaitable);
      sent += n;
    }
  }
}

// Writes a file response at `rate` bytes a second: a slow link.
template <class Stream>
awaitable<void> write_throttled(Stream& stream, http::response<http::file_body>& res, std::uint64_t size,
                                std::int64_t rate) {
  http::response_serializer<http::file_body> sr(res);
  co_await http::async_write_header(stream, sr, use_awaitable);
  std::vector<char> buf(64 * 1024);
  beast::error_code ec;
  asio::steady_timer pace(co_await asio::this_coro::executor);
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t sent = 0; sent < size;) {
    const auto n = res.body().file().read(buf.data(), std::min<std::uint64_t>(buf.size(), size - sent), ec);
    if (ec || n == 0) co_return;
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(60));  // a slow link, not a dead one
    co_await asio::async_write(stream, asio::buffer(buf.data(), n), use_awaitable);
    sent += n;
    pace.expires_at(start + std::chrono::microseconds(static_cast<std::int64_t>(sent * 1'000'000 / rate)));
    co_await pace.async_wait(use_awaitable);
  }
}

template <class Stream>
awaitable<void> write_response(Stream& stream, const http_response& r, bool keep_alive,
                               bool truncate, std::int64_t file_rate = 0) {
  if (!r.file.empty()) {
    http::response<http::file_body> res{static_cast<http::status>(r.status), 11};
    beast::error_code ec;
    res.body().open(r.file.c_str(), beast::file_mode::scan, ec);
    if (ec) throw beast::system_error(ec);
    set_common_headers(res, r, keep_alive);
    res.prepare_payload();
    const auto size = res.body().size();
    if (truncate) co_return co_await write_truncated(stream, res, size);
    if (file_rate > 0) co_return co_await write_throttled(stream, res, size, file_rate);
    co_await http::async_write(stream, res, use_awaitable);
  } else {
    http::response<http::string_body> res{static_cast<http::status>(r.status), 11};
    set_common_headers(res, r, keep_alive);
    res.body() = r.body;
    res.prepare_payload();
    if (truncate) co_return co_await write_truncated(stream, res, r.body.size());
    co_await http::async_write(stream, res, use_awaitable);
  }
}

// One connection: read a request, answer it, repeat while kept alive. True
// when it ends by cutting the connection (a lost reply): no TLS close_notify.
template <class Stream>
awaitable<bool> serve_requests(Stream& stream, api& service) {
  auto& socket = beast::get_lowest_layer(stream);
  beast::flat_buffer buffer;
  buffer.reserve(io_chunk);  // Beast reads as much as there is room for: else 512 bytes a syscall
  std::vector<char> chunk(io_chunk);
  for (;;) {
    http::request_parser<http::buffer_body> parser;
    parser.body_limit(max_body_bytes);
    parser.header_limit(64 * 1024);
    socket.expires_after(idle_timeout);
    auto [ec, header_bytes] = co_await http::async_read_header(stream, buffer, parser, tuple_awaitable);
    if (ec) co_return false;  // closed, timed out or garbage: nothing to answer
    (void)header_bytes;
    auto req = to_request(parser.get().base());
    const bool keep_alive = parser.get().keep_alive();
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> cont{http::status::continue_, 11};
      co_await http::async_write(stream, cont, use_awaitable);
    }
    auto sink = service.open_upload(req);
    bool too_large = false;
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      socket.expires_after(io_timeout);
      auto [read_ec, _] = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
      if (read_ec == http::error::need_buffer) read_ec = {};
      if (read_ec) co_return false;  // the client went away mid-body
      const auto got = chunk.size() - parser.get().body().size;
      if (sink) {
        sink->write({chunk.data(), got});
      } else if (req.body.size() + got > max_json_body_bytes) {
        too_large = true;
        break;
      } else {
        req.body.append(chunk.data(), got);
      }
    }
    if (too_large) {
      http_response r{413, "application/json", {}, R"({"error":{"message":"Request body too large.","type":"invalid_request_error","param":null,"code":null}})", {}};
      co_await write_response(stream, r, false, false);
      co_return false;
    }

    const auto fault = service.transport_fault_for(req);
    if (fault.delay_ms > 0) {
      asio::steady_timer timer(co_await asio::this_coro::executor,
                               std::chrono::milliseconds(fault.delay_ms));
      co_await timer.async_wait(use_awaitable);
    }
    if (fault.what == transport_fault::kind::drop) {
      service.count_call(req, "dropped");
      co_return false;  // closing without a response
    }
    const bool truncate = fault.what == transport_fault::kind::truncate;
    const auto response = fault.what == transport_fault::kind::status
                              ? service.injected_error(fault.status)
                              : service.handle(req, sink.get());
    sink.reset();
    if (response.status == 0) {  // dropped by the fault menu once read: no answer, nothing made
      service.count_call(req, "dropped");
      co_return false;
    }
    if (const auto lost = service.lost_reply_for(req, response.status)) {
      service.count_call(req, "lost_reply");  // committed: the caller cannot know
      if (*lost > 0) {
        asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(*lost));
        co_await timer.async_wait(use_awaitable);
      }
      co_return true;  // closed with no answer (and over TLS, no close_notify)
    }
    service.count_call(req, truncate ? "truncated" : std::to_string(response.status));
    const bool keep = keep_alive && !truncate;
    socket.expires_after(io_timeout * 10);
    co_await write_response(stream, response, keep, truncate, service.download_rate());
    if (!keep) co_return false;
  }
}

awaitable<void> serve_plain(tcp::socket socket, api& service) {
  beast::tcp_stream stream(std::move(socket));
  co_await serve_requests(stream, service);
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);  // the peer may be gone already
}

awaitable<void> serve_tls(tcp::socket socket, ssl::context& ctx, api& service) {
  beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), ctx);
  beast::get_lowest_layer(stream).expires_after(io_timeout);
  auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, tuple_awaitable);
  if (ec) co_return;  // a client that rejects our certificate ends here
  if (co_await serve_requests(stream, service)) {
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().close(ignored);  // cut: the client sees stream_truncated
    co_return;
  }
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  co_await stream.async_shutdown(tuple_awaitable);  // truncation at close is harmless here
}

awaitable<void> accept_loop(tcp::acceptor& acceptor, api& service, ssl::context* tls) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(tuple_awaitable);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;  // e.g. EMFILE: try the next one
    socket.set_option(tcp::no_delay(true));
    auto log = [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::cerr << "batchd-sim: connection error: " << ex.what() << "\n";
      }
    };
    if (tls)
      asio::co_spawn(acceptor.get_executor(), serve_tls(std::move(socket), *tls, service), log);
    else
      asio::co_spawn(acceptor.get_executor(), serve_plain(std::move(socket), service), log);
  }
}

awaitable<void> tick_loop(api& service) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::chrono::milliseconds(50));
    co_await timer.async_wait(use_awaitable);
    service.tick();
  }
}

}  // namespace

void run_server(api& service, const server_options& options,
                const std::function<void(std::uint16_t, bool)>& on_ready) {
  asio::io_context ioc(1);
  std::optional<ssl::context> tls;
  if (!options.tls_cert.empty()) {
    tls.emplace(ssl::context::tls_server);
    tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    tls->use_certificate_chain_file(options.tls_cert);
    tls->use_private_key_file(options.tls_key, ssl::context::pem);
  }
  tcp::acceptor acceptor(ioc);
  const tcp::endpoint endpoint(asio::ip::make_address(options.host), options.port);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { ioc.stop(); });
  auto rethrow = [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  };
  asio::co_spawn(ioc, accept_loop(acceptor, service, tls ? &*tls : nullptr), rethrow);
  asio::co_spawn(ioc, tick_loop(service), rethrow);
  on_ready(acceptor.local_endpoint().port(), tls.has_value());
  ioc.run();
}

}  // namespace batchd::sim
