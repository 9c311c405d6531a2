#include "openai/client.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <system_error>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "openai/error.hpp"
#include "openai/json_types.hpp"
#include "openai/rate_limiter.hpp"
#include "openai/transport.hpp"

#ifndef BATCHD_VERSION
#define BATCHD_VERSION "0"
#endif

namespace batchd::openai {
namespace asio = boost::asio;
using asio::awaitable;
using nlohmann::json;

namespace {

transport_config make_transport_config(const client_config& c) {
  transport_config t;
  t.url = parse_base_url(c.base_url);
  t.headers.emplace_back("Authorization", "Bearer " + c.api_key);
  if (!c.organization.empty()) t.headers.emplace_back("OpenAI-Organization", c.organization);
  if (!c.project.empty()) t.headers.emplace_back("OpenAI-Project", c.project);
  t.headers.emplace_back("User-Agent", "batchd/" BATCHD_VERSION);
  t.ca_file = c.ca_file;
  t.connect_timeout = c.connect_timeout;
  t.idle_timeout = c.idle_timeout;
  t.first_byte_timeout = c.first_byte_timeout;
  t.request_timeout = c.request_timeout;
  t.offload = c.offload;
  return t;
}

std::string url_encode(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') out += static_cast<char>(ch);
    else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

// "/v1/batches/batch_abc?x=1" → "/v1/batches/{id}": one metrics series per route.
std::string route_of(const std::string& target) {
  std::string path = target.substr(0, target.find('?')), out;
  std::size_t i = 0;
  while (i < path.size()) {
    const auto next = path.find('/', i + 1);
    const auto seg = path.substr(i, next == std::string::npos ? std::string::npos : next - i);
    const bool is_id = seg.find('_') != std::string::npos || seg.find("file-") != std::string::npos;
    out += is_id ? "/{id}" : seg;
    if (next == std::string::npos) break;
    i = next;
  }
  return out;
}

json parse_body(const http_reply& r) {
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw api_error::failure(api_error::kind::truncated, "the response was not a JSON object");
  return j;
}

}  // namespace

struct client::impl {
  client_config config;
  transport wire;
  rate_limiter limiter;
  std::mt19937_64 rng{std::random_device{}()};
  call_stats stats;

  void count(const http_call& call, const http_reply& reply, const std::optional<api_error>& error) {
    const bool answered = reply.status > 0;
    const std::string outcome = answered ? std::to_string(reply.status / 100) + "xx" : "network";
    ++stats.calls[{call.method + " " + route_of(call.target), outcome}];
    std::uint64_t up = call.body.size() + call.body_prefix.size() + call.body_suffix.size();
    if (!call.body_file.empty()) {
      std::error_code ec;
      const auto size = std::filesystem::file_size(call.body_file, ec);
      if (!ec && size > call.body_offset) up += std::min<std::uint64_t>(call.body_length, size - call.body_offset);
    }
    stats.bytes_up += up;
    stats.bytes_down += reply.body_bytes ? reply.body_bytes : reply.body.size();
    const auto now = std::chrono::system_clock::now();
    if (answered) stats.last_answer = now;
    else stats.last_network_error = now;
    if (error) stats.last_error = error->what();
  }

  impl(asio::any_io_executor ex, client_config c)
      : config(std::move(c)), wire(ex, make_transport_config(config)),
        limiter(config.requests_per_second, config.burst) {}

  // Sends `call` until it succeeds, fails for good, or may not be repeated.
  awaitable<http_reply> call(http_call call, bool may_repeat) {
    for (int attempt = 0;; ++attempt) {
      co_await limiter.acquire();
      const auto started = std::chrono::steady_clock::now();
      std::optional<api_error> error;
      http_reply reply;
      try {
        reply = co_await wire.send(call);
        if (reply.status < 400) {
          count(call, reply, std::nullopt);
          spdlog::debug("openai: {} {} -> {} ({}, {} ms)", call.method, call.target, reply.status,
                        reply.request_id,
                        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
          co_return reply;
        }
        error = api_error::from_response(reply.status, reply.body, reply.request_id,
                                         server_delay(reply.retry_after_ms, reply.retry_after));
      } catch (const api_error& e) {
        error = e;
      }
      count(call, reply, error);
      const bool retry = error->retryable() && may_repeat && attempt < config.retry.max_retries;
      if (!retry) {
        spdlog::warn("openai: {} {} failed: {}", call.method, call.target, error->what());
        throw *error;
      }
      auto delay = backoff(config.retry, attempt, std::uniform_real_distribution<double>(0, 1)(rng));
      if (const auto& server = error->retry_after(); server && *server <= config.retry.max_server_delay)
        delay = *server;
      ++stats.retries;
      spdlog::info("openai: {} {} failed ({}); retry {} in {} ms", call.method, call.target,
                   error->what(), attempt + 1, delay.count());
      const auto real = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double, std::milli>(static_cast<double>(delay.count()) / config.time_scale));
      asio::steady_timer timer(co_await asio::this_coro::executor, real);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }

  awaitable<json> get_json(std::string target) {
    http_call c;
    c.target = target;
    co_return parse_body(co_await call(c, true));
  }
};

client::client(asio::any_io_executor ex, client_config config)
    : impl_(std::make_unique<impl>(std::move(ex), std::move(config))) {}
client::~client() = default;

const call_stats& client::stats() const { return impl_->stats; }

std::string sent_filename(std::string name) {
  for (auto& ch : name)
    if (ch == '"' || ch == '\r' || ch == '\n') ch = '_';
  return name;
}

awaitable<file_object> client::upload_file(std::filesystem::path path, std::string filename,
                                           std::string purpose, retry_create retry,
                                           std::optional<byte_range> range) {
  std::string boundary = "batchd-";
  for (int i = 0; i < 24; ++i) boundary += "0123456789abcdef"[impl_->rng() % 16];
  const auto quoted = sent_filename(filename);
  http_call c;
  c.method = "POST";
  c.target = "/files";
  c.content_type = "multipart/form-data; boundary=" + boundary;
  c.body_prefix = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n" + purpose +
                  "\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
                  quoted + "\"\r\nContent-Type: application/octet-stream\r\n\r\n";
  c.body_file = path;
  if (range) {
    c.body_offset = range->offset;
    c.body_length = range->length;
  }
  c.body_suffix = "\r\n--" + boundary + "--\r\n";
  co_return parse_file(parse_body(co_await impl_->call(c, retry == retry_create::yes)));
}

awaitable<file_object> client::retrieve_file(std::string id) {
  const auto target = "/files/" + url_encode(id);
  co_return parse_file(co_await impl_->get_json(target));
}

awaitable<std::vector<file_object>> client::list_files(std::optional<std::string> purpose) {
  std::vector<file_object> out;
  std::optional<std::string> after;
  for (;;) {
    std::string target = "/files?order=desc&limit=10000";
    if (purpose) target += "&purpose=" + url_encode(*purpose);
    if (after) target += "&after=" + url_encode(*after);
    auto page = co_await impl_->get_json(target);
    if (page.contains("data") && page["data"].is_array())
      for (const auto& f : page["data"]) out.push_back(parse_file(f));
    if (!page.value("has_more", false) || out.empty() || (after && *after == out.back().id)) break;
    after = out.back().id;
  }
  co_return out;
}

awaitable<std::uint64_t> client::download_file(std::string id, std::filesystem::path dest,
                                               std::optional<std::uint64_t> expected_bytes) {
  const auto part = std::filesystem::path(dest.string() + ".part");
  http_call c;
  c.target = "/files/" + url_encode(id) + "/content";
  c.accept = "application/binary";
  c.response_file = part;
  auto reply = co_await impl_->call(c, true);
  if (expected_bytes && reply.body_bytes != *expected_bytes) {
    std::filesystem::remove(part);
    throw api_error::failure(api_error::kind::truncated,
                             "download of " + id + " gave " + std::to_string(reply.body_bytes) +
                                 " bytes, expected " + std::to_string(*expected_bytes));
  }
  std::filesystem::rename(part, dest);
  // The new name survives a power loss only once its directory is on disk.
  const auto dir = dest.parent_path().empty() ? std::filesystem::path(".") : dest.parent_path();
  int rc = 0, err = 0;
  const std::function<void()> sync_dir = [&dir, &rc, &err] {  // named: no temporary inside co_await (GCC 12)
    if (const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
      rc = ::fsync(fd);
      err = errno;
      ::close(fd);
    }
  };
  if (impl_->config.offload) co_await impl_->config.offload(sync_dir);
  else sync_dir();
  if (rc != 0) throw std::system_error(err, std::generic_category(), "fsync " + dir.string());
  co_return reply.body_bytes;
}

awaitable<void> client::delete_file(std::string id) {
  http_call c;
  c.method = "DELETE";
  c.target = "/files/" + url_encode(id);
  co_await impl_->call(c, true);
}

awaitable<batch> client::create_batch(create_batch_request req, retry_create retry) {
  http_call c;
  c.method = "POST";
  c.target = "/batches";
  c.content_type = "application/json";
  c.body = to_json(req).dump();
  co_return parse_batch(parse_body(co_await impl_->call(c, retry == retry_create::yes)));
}

awaitable<json> client::create_embeddings(json body) {
  http_call c;
  c.method = "POST";
  c.target = "/embeddings";
  c.content_type = "application/json";
  c.body = body.dump();
  co_return parse_body(co_await impl_->call(c, true));
}

awaitable<batch> client::retrieve_batch(std::string id) {
  const auto target = "/batches/" + url_encode(id);
  co_return parse_batch(co_await impl_->get_json(target));
}

awaitable<std::vector<batch>> client::list_batches(std::function<bool(const batch&)> keep_going) {
  std::vector<batch> out;
  std::optional<std::string> after;
  for (;;) {
    std::string target = "/batches?limit=100";
    if (after) target += "&after=" + url_encode(*after);
    auto page = co_await impl_->get_json(target);
    bool stop = false;
    if (page.contains("data") && page["data"].is_array())
      for (const auto& j : page["data"]) {
        out.push_back(parse_batch(j));
        if (keep_going && !keep_going(out.back())) stop = true;
      }
    if (stop || !page.value("has_more", false) || out.empty() || (after && *after == out.back().id)) break;
    after = out.back().id;
  }
  co_return out;
}

awaitable<batch> client::cancel_batch(std::string id) {
  http_call c;
  c.method = "POST";
  c.target = "/batches/" + url_encode(id) + "/cancel";
  // Cancelling twice is harmless: safe to repeat.
  co_return parse_batch(parse_body(co_await impl_->call(c, true)));
}

}  // namespace batchd::openai
