#include "openai/transport.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>
#include <optional>

#include "openai/error.hpp"

namespace batchd::openai {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using steady = std::chrono::steady_clock;

// The one table from a failed step's error code to the client's error kind
// (and so to retryable or final: api_error::retryable). Only a TLS
// handshake's failure is final — the peer is not who it should be. A TLS
// stream cut without close_notify, a reset, EOF or a timeout mid-exchange
// say nothing about whether the server acted: retryable, and for creates
// unsure (the caller looks before it creates again). A failure while
// connecting (resolve, connect, the TLS handshake) sent nothing at all.
api_error transport_error(const boost::system::error_code& ec, const std::string& step) {
  using k = api_error::kind;
  const bool sent = step != "resolve" && step != "connect" && step != "TLS handshake";
  if (ec == beast::error::timeout) return api_error::failure(k::timeout, step + ": timed out", sent);
  if (ec == ssl::error::stream_truncated)
    return api_error::failure(k::truncated, step + ": the TLS stream was cut without close_notify", sent);
  if (ec.category() == asio::error::get_ssl_category()) {
    // Final only when the peer's certificate does not verify (not who it should be);
    // any other TLS failure, a middlebox's alert say, may pass.
    const bool not_trusted = step == "TLS handshake" && ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
                                                            SSL_R_CERTIFICATE_VERIFY_FAILED;
    return api_error::failure(not_trusted ? k::tls : k::transport, step + ": TLS: " + ec.message(), sent);
  }
  if (ec == http::error::partial_message)
    return api_error::failure(k::truncated, step + ": the response was cut short", sent);
  if (ec == http::error::end_of_stream || ec == asio::error::eof)
    return api_error::failure(k::transport, step + ": the connection closed before a response", sent);
  return api_error::failure(k::transport, step + ": " + ec.message(), sent);
}

namespace {

constexpr std::size_t io_chunk = 256 * 1024;
constexpr std::size_t max_json_body = 64 * 1024 * 1024;
constexpr std::uint64_t writeback_step = 16 * 1024 * 1024;

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  return !ec && addr.is_loopback();
}

[[noreturn]] void fail(const boost::system::error_code& ec, const char* step) { throw transport_error(ec, step); }

// A file read in pieces, closed on every path.
struct file_reader {
  std::FILE* f;
  explicit file_reader(const std::filesystem::path& p) : f(std::fopen(p.c_str(), "rb")) {
    if (!f) throw api_error::failure(api_error::kind::config, "cannot read " + p.string());
  }
  ~file_reader() { std::fclose(f); }
};

}  // namespace

base_url parse_base_url(const std::string& url) {
  base_url out;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    out.tls = false;
    rest = url.substr(7);
  } else {
    throw api_error::failure(api_error::kind::config, "the API base URL must start with https://");
  }
  const auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  out.path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!out.path.empty() && out.path.back() == '/') out.path.pop_back();
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    const auto close = authority.find(']');
    out.host = authority.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    if (close != std::string::npos && close + 1 < authority.size() && authority[close + 1] == ':')
      out.port = authority.substr(close + 2);
  } else {
    const auto colon = authority.find(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) out.port = authority.substr(colon + 1);
  }
  if (out.port.empty()) out.port = out.tls ? "443" : "80";
  if (out.host.empty()) throw api_error::failure(api_error::kind::config, "the API base URL has no host");
  if (!out.tls && !is_loopback(out.host))
    throw api_error::failure(api_error::kind::config,
                             "plain http:// is allowed only for loopback addresses; use https://");
  return out;
}

// Where a download's body goes: its file, written back to disk as it comes
// (so the final fsync has little left to wait for), then fsynced.
class download_sink {
 public:
  explicit download_sink(std::filesystem::path path) : path_(std::move(path)), f_(std::fopen(path_.c_str(), "wb")) {
    if (!f_) throw api_error::failure(api_error::kind::config, "cannot write " + path_.string());
  }
  ~download_sink() {
    if (f_) std::fclose(f_);
  }
  download_sink(const download_sink&) = delete;
  download_sink& operator=(const download_sink&) = delete;

  // `total`: the body's bytes so far, these included.
  void write(const char* data, std::size_t n, std::uint64_t total) {
    if (std::fwrite(data, 1, n, f_) != n) throw api_error::failure(api_error::kind::config, "cannot write " + path_.string());
    if (total - synced_ >= writeback_step && std::fflush(f_) == 0) {
      ::sync_file_range(fileno(f_), static_cast<off64_t>(synced_), static_cast<off64_t>(total - synced_),
                        SYNC_FILE_RANGE_WRITE);
      synced_ = total;
    }
  }
  // Blocks on the disk: the caller runs it off the loop.
  void sync() { ok_ = std::fflush(f_) == 0 && ::fsync(fileno(f_)) == 0; }
  void check() const {
    if (!ok_) throw api_error::failure(api_error::kind::config, "cannot write " + path_.string());
  }

 private:
  std::filesystem::path path_;
  std::FILE* f_;
  std::uint64_t synced_ = 0;
  bool ok_ = false;
};

struct connection {
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  beast::tcp_stream& lowest() { return plain ? *plain : beast::get_lowest_layer(*secure); }
};

struct transport::impl {
  asio::any_io_executor ex;
  transport_config config;
  ssl::context tls{ssl::context::tls_client};
  std::vector<std::unique_ptr<connection>> idle;

  impl(asio::any_io_executor e, transport_config c) : ex(std::move(e)), config(std::move(c)) {
    SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
    tls.set_default_verify_paths();
    if (!config.ca_file.empty()) tls.load_verify_file(config.ca_file.string());
    tls.set_verify_mode(ssl::verify_peer);
  }

  void arm(connection& c, steady::time_point deadline, std::chrono::milliseconds step) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    c.lowest().expires_after(std::max(std::chrono::milliseconds(1), std::min(step, left)));
  }

  awaitable<std::unique_ptr<connection>> connect(steady::time_point deadline) {
    auto c = std::make_unique<connection>();
    // Beast reads as much as the buffer has room for: without room, 512 bytes a syscall.
    c->buffer.reserve(io_chunk);
    const auto& url = config.url;
    if (url.tls) {
      c->secure.emplace(ex, tls);
      boost::system::error_code ec;
      asio::ip::make_address(url.host, ec);
      if (ec && !SSL_set_tlsext_host_name(c->secure->native_handle(), url.host.c_str()))  // SNI
        throw api_error::failure(api_error::kind::tls, "cannot set the TLS server name");
      c->secure->set_verify_callback(ssl::host_name_verification(url.host));
    } else {
      c->plain.emplace(ex);
    }
    tcp::resolver resolver(ex);
    auto [rec, endpoints] = co_await resolver.async_resolve(url.host, url.port, asio::as_tuple(use_awaitable));
    if (rec) fail(rec, "resolve");
    arm(*c, deadline, config.connect_timeout);
    auto [cec, _] = co_await c->lowest().async_connect(endpoints, asio::as_tuple(use_awaitable));
    if (cec) fail(cec, "connect");
    if (c->secure) {
      arm(*c, deadline, config.connect_timeout);
      auto [hec] = co_await c->secure->async_handshake(ssl::stream_base::client, asio::as_tuple(use_awaitable));
      if (hec) fail(hec, "TLS handshake");
    }
    co_return c;
  }

  template <class Stream>
  awaitable<http_reply> exchange(Stream& stream, connection& c, const http_call& call,
                                 steady::time_point deadline, bool& keep_alive) {
    if (!call.body_file.empty()) co_await send_streamed(stream, c, call, deadline);
    else co_await send(stream, c, call, deadline);
    co_return co_await receive(stream, c, call, keep_alive);
  }

  template <class Request>
  void set_headers(Request& req, const http_call& call) const {
    req.set(http::field::host, config.url.host);
    for (const auto& [k, v] : config.headers) req.set(k, v);
    req.set(http::field::accept, call.accept);
    if (!call.content_type.empty()) req.set(http::field::content_type, call.content_type);
    req.keep_alive(true);
  }

  // A request whose body is in memory.
  template <class Stream>
  awaitable<void> send(Stream& stream, connection& c, const http_call& call, steady::time_point deadline) {
    http::request<http::string_body> req{http::string_to_verb(call.method), config.url.path + call.target, 11};
    set_headers(req, call);
    req.body() = call.body;
    req.prepare_payload();
    arm(c, deadline, config.idle_timeout);
    auto [ec, n] = co_await http::async_write(stream, req, asio::as_tuple(use_awaitable));
    if (ec) fail(ec, "send");
  }

  // A request whose body streams from a file: prefix, the file's range, suffix.
  template <class Stream>
  awaitable<void> send_streamed(Stream& stream, connection& c, const http_call& call, steady::time_point deadline) {
    const auto idle_step = config.idle_timeout;
    http::request<http::empty_body> req{http::string_to_verb(call.method), config.url.path + call.target, 11};
    set_headers(req, call);
    const auto file_size = std::filesystem::file_size(call.body_file);
    if (call.body_offset > file_size)
      throw api_error::failure(api_error::kind::config, "upload range starts past the end of " + call.body_file.string());
    const auto size = std::min<std::uint64_t>(call.body_length, file_size - call.body_offset);
    req.content_length(call.body_prefix.size() + size + call.body_suffix.size());
    http::request_serializer<http::empty_body> sr(req);
    arm(c, deadline, idle_step);
    auto [ec, n] = co_await http::async_write_header(stream, sr, asio::as_tuple(use_awaitable));
    if (ec) fail(ec, "send");
    arm(c, deadline, idle_step);
    auto [pec, pn] = co_await asio::async_write(stream, asio::buffer(call.body_prefix), asio::as_tuple(use_awaitable));
    if (pec) fail(pec, "send");
    file_reader in(call.body_file);
    if (::fseeko(in.f, static_cast<off_t>(call.body_offset), SEEK_SET) != 0)
      throw api_error::failure(api_error::kind::config, "cannot seek in " + call.body_file.string());
    std::vector<char> chunk(io_chunk);
    for (std::uint64_t left = size; left > 0;) {
      const auto got = std::fread(chunk.data(), 1, static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), left)), in.f);
      if (got == 0) throw api_error::failure(api_error::kind::config, "the upload file shrank: " + call.body_file.string());
      left -= got;
      c.lowest().expires_after(idle_step);  // progress, not the whole upload
      auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(chunk.data(), got), asio::as_tuple(use_awaitable));
      if (wec) fail(wec, "send");
    }
    c.lowest().expires_after(idle_step);  // the body may have taken long: it moved
    auto [sec, sn] = co_await asio::async_write(stream, asio::buffer(call.body_suffix), asio::as_tuple(use_awaitable));
    if (sec) fail(sec, "send");
  }

  // The response: its head, then the body into memory, or (a 2xx for a
  // download) into the call's response file, written back as it comes and
  // fsynced at the end.
  template <class Stream>
  awaitable<http_reply> receive(Stream& stream, connection& c, const http_call& call, bool& keep_alive) {
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    c.lowest().expires_after(config.first_byte_timeout);  // the body may have taken long: it moved
    auto [hec, hn] = co_await http::async_read_header(stream, c.buffer, parser, asio::as_tuple(use_awaitable));
    if (hec) fail(hec, "receive");
    http_reply reply;
    const auto& h = parser.get();
    reply.status = static_cast<int>(h.result_int());
    reply.request_id = std::string(h["x-request-id"]);
    reply.retry_after = std::string(h[http::field::retry_after]);
    reply.retry_after_ms = std::string(h["retry-after-ms"]);
    std::optional<download_sink> out;
    if (!call.response_file.empty() && reply.status >= 200 && reply.status < 300) out.emplace(call.response_file);
    std::vector<char> chunk(io_chunk);
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      c.lowest().expires_after(config.idle_timeout);  // progress, not the whole download
      auto [rec, rn] = co_await http::async_read(stream, c.buffer, parser, asio::as_tuple(use_awaitable));
      if (rec == http::error::need_buffer) rec = {};
      if (rec) fail(rec, "receive");
      const auto got = chunk.size() - parser.get().body().size;
      reply.body_bytes += got;
      if (out) {
        out->write(chunk.data(), got, reply.body_bytes);
      } else {
        if (reply.body.size() + got > max_json_body)
          throw api_error::failure(api_error::kind::transport, "response body too large");
        reply.body.append(chunk.data(), got);
      }
    }
    if (out) {
      // The fsync waits for the disk: off the loop when the owner gave a way.
      const std::function<void()> sync = [&out] { out->sync(); };
      if (config.offload) co_await config.offload(sync);  // named: no temporary inside co_await (GCC 12)
      else sync();
      out->check();
    }
    keep_alive = parser.get().keep_alive();
    co_return reply;
  }
};

transport::transport(asio::any_io_executor ex, transport_config config)
    : impl_(std::make_unique<impl>(std::move(ex), std::move(config))) {}

transport::~transport() = default;

awaitable<http_reply> transport::send(http_call call) {
  auto& s = *impl_;
  const auto deadline = steady::now() + s.config.request_timeout;
  // A POST may create something: never send it on a pooled connection the
  // server may have closed meanwhile, where a failure would leave us unsure
  // whether it ran. Other calls reuse one, and start over once on a fresh
  // connection if the pooled one turns out to be dead.
  std::unique_ptr<connection> c;
  bool reused = false;
  if (call.method != "POST" && !s.idle.empty()) {
    c = std::move(s.idle.back());
    s.idle.pop_back();
    reused = true;
  } else {
    c = co_await s.connect(deadline);
  }
  bool keep_alive = false;
  std::optional<http_reply> reply;
  for (;;) {
    bool stale = false;
    try {
      // if/else, not ?: — GCC 12 miscompiles co_await inside a conditional expression.
      if (c->secure) reply = co_await s.exchange(*c->secure, *c, call, deadline, keep_alive);
      else reply = co_await s.exchange(*c->plain, *c, call, deadline, keep_alive);
    } catch (const api_error& e) {
      if (!reused || e.error_kind() == api_error::kind::timeout || e.error_kind() == api_error::kind::config) throw;
      stale = true;
    }
    if (!stale) break;
    reused = false;
    c = co_await s.connect(steady::now() + s.config.request_timeout);  // a fresh start on a fresh connection
  }
  if (keep_alive && s.idle.size() < s.config.pool_size) {
    c->lowest().expires_never();
    s.idle.push_back(std::move(c));
  }
  co_return std::move(*reply);
}

}  // namespace batchd::openai
