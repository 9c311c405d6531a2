#include "daemon/control_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace batchd::daemon {
namespace asio = boost::asio;
namespace http = boost::beast::http;
using local = asio::local::stream_protocol;
using asio::awaitable;
using asio::use_awaitable;

control_response error_response(int status, const std::string& code, const std::string& message) {
  control_response r;
  r.status = status;
  r.body = nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump() + "\n";
  return r;
}

control_response json_response(const nlohmann::json& body, int status) {
  control_response r;
  r.status = status;
  r.body = body.dump() + "\n";
  return r;
}

namespace {

// Cancels the socket's operations when the deadline passes; the awaited
// read or write then ends with an error and expired() says why. The timer's
// handler may run after the coroutine frame holding this is gone, or after
// a later arm(): it holds the shared state, checks the generation, and finds
// no socket once the deadline is destroyed.
class deadline {
 public:
  explicit deadline(local::socket& sock) : state_(std::make_shared<state>()), timer_(sock.get_executor()) {
    state_->sock = &sock;
  }
  ~deadline() { state_->sock = nullptr; }
  deadline(const deadline&) = delete;
  deadline& operator=(const deadline&) = delete;

  void arm(std::chrono::milliseconds after) {
    state_->expired = false;
    const auto generation = ++state_->generation;
    timer_.expires_after(after);
    timer_.async_wait([st = state_, generation](const boost::system::error_code& ec) {
      if (ec || generation != st->generation || !st->sock) return;
      st->expired = true;
      boost::system::error_code ignored;
      st->sock->cancel(ignored);
    });
  }
  void disarm() {
    ++state_->generation;
    timer_.cancel();
  }
  bool expired() const { return state_->expired; }

 private:
  struct state {
    local::socket* sock = nullptr;
    std::uint64_t generation = 0;
    bool expired = false;
  };
  std::shared_ptr<state> state_;
  asio::steady_timer timer_;
};

}  // namespace

struct control_server::impl : std::enable_shared_from_this<impl> {
  local::acceptor acceptor;
  control_server_options options;
  control_handler handler;
  std::size_t open = 0;

  impl(asio::any_io_executor ex, int fd, control_server_options opt, control_handler h)
      : acceptor(ex, local(), fd), options(opt), handler(std::move(h)) {}

  awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      auto accepted = co_await acceptor.async_accept(asio::as_tuple(use_awaitable));
      auto& [ec, sock] = accepted;
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) {
        // Out of descriptors, most likely: wait a moment rather than spin.
        spdlog::warn("control socket: accept: {}", ec.message());
        asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
        co_await pause.async_wait(asio::as_tuple(use_awaitable));
        continue;
      }
      if (open >= options.max_connections) {
        asio::co_spawn(acceptor.get_executor(), refuse(std::move(sock)), asio::detached);
        continue;
      }
      ++open;
      asio::co_spawn(acceptor.get_executor(), session(std::move(sock)), [self](std::exception_ptr e) {
        --self->open;
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::warn("control socket: connection ended: {}", ex.what());
        }
      });
    }
  }

  awaitable<void> refuse(local::socket sock) {
    auto self = shared_from_this();
    deadline d(sock);
    co_await send_within(sock, d,
                         error_response(503, "too_many_connections",
                                        "the control socket serves " + std::to_string(options.max_connections) +
                                            " connections at once; try again shortly"),
                         false, 11);
  }

  // Sends under the request deadline: a client that does not read is dropped.
  awaitable<bool> send_within(local::socket& sock, deadline& d, const control_response& r, bool keep_alive,
                              unsigned version) {
    d.arm(options.request_timeout);
    const bool sent = co_await send(sock, r, keep_alive, version);
    d.disarm();
    co_return sent;
  }

  static awaitable<bool> send(local::socket& sock, const control_response& r, bool keep_alive, unsigned version) {
    http::response<http::string_body> res{static_cast<http::status>(r.status), version};
    res.set(http::field::server, "batchd/" BATCHD_VERSION);
    res.set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res.set(k, v);
    res.keep_alive(keep_alive);
    res.body() = r.body;
    res.prepare_payload();
    auto written = co_await http::async_write(sock, res, asio::as_tuple(use_awaitable));
    co_return !std::get<0>(written);
  }

  // After an error answer to a request not read whole: stop sending, then
  // read and drop what the client still sends (briefly), so that closing
  // does not reset the connection before the client has read the answer.
  awaitable<void> drain(local::socket& sock, deadline& d) {
    boost::system::error_code ignored;
    sock.shutdown(local::socket::shutdown_send, ignored);
    d.arm(std::min<std::chrono::milliseconds>(options.request_timeout, std::chrono::seconds(2)));
    std::vector<char> sink(64 * 1024);
    for (std::uint64_t dropped = 0; dropped < options.max_body_bytes + (1 << 20);) {
      auto r = co_await sock.async_read_some(asio::buffer(sink), asio::as_tuple(use_awaitable));
      if (std::get<0>(r)) break;
      dropped += std::get<1>(r);
    }
    d.disarm();
  }

  // Reads one request (header, then body within its limit) under one
  // deadline: a client trickling bytes gains nothing. The error is an
  // ordinary ending (EOF, timeout) or the client's fault.
  awaitable<boost::system::error_code> read_request(local::socket& sock, boost::beast::flat_buffer& buffer,
                                                    http::request_parser<http::string_body>& parser,
                                                    const peer_credentials& peer, deadline& d) {
    parser.header_limit(options.max_header_bytes);
    d.arm(options.request_timeout);
    auto header = co_await http::async_read_header(sock, buffer, parser, asio::as_tuple(use_awaitable));
    auto ec = std::get<0>(header);
    if (!ec) {
      auto& h = parser.get();
      const auto limit = options.body_limit
                             ? options.body_limit(std::string(h.method_string()), std::string(h.target()), peer)
                             : options.max_body_bytes;
      parser.body_limit(limit);
      if (parser.content_length() && *parser.content_length() > limit) ec = http::error::body_limit;
    }
    if (!ec && parser.get()[http::field::expect] == "100-continue") {
      // curl asks before sending a large body; answer so it does not wait.
      http::response<http::empty_body> go{http::status::continue_, parser.get().version()};
      auto sent = co_await http::async_write(sock, go, asio::as_tuple(use_awaitable));
      ec = std::get<0>(sent);
    }
    if (!ec) {
      auto body = co_await http::async_read(sock, buffer, parser, asio::as_tuple(use_awaitable));
      ec = std::get<0>(body);
    }
    d.disarm();
    co_return ec;
  }

  // The answer to a request that could not be read (nullopt: close quietly).
  std::optional<control_response> read_failure(const boost::system::error_code& ec, bool partial, bool expired) const {
    if (expired) {
      // Idle between requests: close quietly. Mid-request: say so.
      if (!partial) return std::nullopt;
      return error_response(408, "request_timeout",
                            "the request did not arrive within " + std::to_string(options.request_timeout.count()) + " ms");
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::error::broken_pipe)
      return std::nullopt;
    if (ec == http::error::header_limit)
      return error_response(431, "header_too_large",
                            "request headers over " + std::to_string(options.max_header_bytes) + " bytes");
    if (ec == http::error::body_limit)
      return error_response(413, "body_too_large",
                            "the request body is too large for this route: job files of up to " +
                                std::to_string(options.max_body_bytes) +
                                " bytes may be POSTed to /v1/jobs (by the service's group); larger ones go "
                                "into the inbox");
    return error_response(400, "bad_request", "malformed HTTP request: " + ec.message());
  }

  awaitable<void> session(local::socket sock) {
    const auto peer = peer_of(sock.native_handle()).value_or(peer_credentials{});
    boost::beast::flat_buffer buffer;
    buffer.reserve(options.max_header_bytes);  // else Beast reads in 512-byte steps
    deadline d(sock);
    for (;;) {
      http::request_parser<http::string_body> parser;
      if (const auto ec = co_await read_request(sock, buffer, parser, peer, d)) {
        const auto answer = read_failure(ec, parser.got_some() || buffer.size() > 0, d.expired());
        if (answer) co_await send_within(sock, d, *answer, false, 11);
        if (answer && !d.expired()) co_await drain(sock, d);
        co_return;
      }
      auto req = parser.release();
      control_request request{std::string(req.method_string()), std::string(req.target()), std::move(req.body()),
                              peer};
      const auto what = request.method + " " + request.target;
      control_response response;
      try {
        response = co_await handler(std::move(request));
      } catch (const std::exception& e) {
        spdlog::error("control socket: {}: {}", what, e.what());
        response = error_response(500, "internal_error", "the request failed inside batchd; see its log");
      }
      const bool keep_alive = req.keep_alive();
      const bool sent = co_await send_within(sock, d, response, keep_alive, req.version());
      if (!sent || !keep_alive) co_return;
    }
  }
};

control_server::control_server(asio::any_io_executor ex, int listen_fd, control_server_options options,
                               control_handler handler)
    : impl_(std::make_shared<impl>(std::move(ex), listen_fd, options, std::move(handler))) {
  asio::co_spawn(impl_->acceptor.get_executor(), impl_->accept_loop(), asio::detached);
}

control_server::~control_server() {
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

std::size_t control_server::connections() const { return impl_->open; }

}  // namespace batchd::daemon
