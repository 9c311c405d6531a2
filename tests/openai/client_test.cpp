// The client against the real batchd-sim over loopback, faults on.
#include "openai/client.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/any_io_executor.hpp>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "openai/error.hpp"
#include "tests/support/run_coro.hpp"
#include "tests/support/sim_process.hpp"

namespace batchd::openai {
namespace {

using batchd::testing::run_coro;
using batchd::testing::sim_process;
using nlohmann::json;
namespace fs = std::filesystem;
using ex_t = boost::asio::any_io_executor;

const std::string key = "sk-test-key-0123456789";

template <class T>
struct awaited;
template <class T>
struct awaited<boost::asio::awaitable<T>> {
  using type = T;
};

// The admin routes, through curl (a real, separate HTTP client).
json admin(const sim_process& sim, const std::string& method, const std::string& route,
           const std::string& body = "") {
  std::string cmd = "curl -s -X " + method + " " + sim.admin_url() + route;
  if (!body.empty()) cmd += " -H 'Content-Type: application/json' -d '" + body + "'";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  pclose(p);
  return json::parse(out);
}

std::int64_t calls(const json& stats, const std::string& route, const std::string& outcome) {
  return stats["calls"].value(route, json::object()).value(outcome, 0);
}

client_config config_for(const sim_process& sim) {
  client_config c;
  c.base_url = sim.base_url();
  c.api_key = key;
  c.requests_per_second = 1000;
  c.burst = 100;
  c.retry.initial = std::chrono::milliseconds(10);
  c.retry.cap = std::chrono::milliseconds(50);
  return c;
}

class client_test : public ::testing::Test {
 protected:
  sim_process sim{{"--time-scale", "2000"}};
  fs::path dir = fs::temp_directory_path() / ("batchd-client-test-" + std::to_string(::getpid()));
  fs::path input = dir / "in.jsonl";
  void SetUp() override {
    fs::create_directories(dir);
    std::ofstream(input) << R"({"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}})"
                         << "\n";
  }
  void TearDown() override { fs::remove_all(dir); }
  template <class F>
  auto with_client(F&& f, client_config cfg = {}) {
    if (cfg.api_key.empty()) cfg = config_for(sim);
    using result = typename awaited<decltype(f(std::declval<client&>()))>::type;
    return run_coro([&](ex_t ex) -> boost::asio::awaitable<result> {
      client c(ex, cfg);
      if constexpr (std::is_void_v<result>) co_await f(c);
      else co_return co_await f(c);
    });
  }
};

TEST_F(client_test, files_and_batches_round_trip) {
  // Built outside the coroutine: GCC 12 cannot keep an initializer list's array in a coroutine frame.
  create_batch_request req{"", "/v1/chat/completions", "24h", {{"job", "j"}, {"chunk", "1"}}};
  auto result = run_coro([&](ex_t ex) -> boost::asio::awaitable<std::string> {
    client c(ex, config_for(sim));
    auto f = co_await c.upload_file(input, "job-1-c1-abc.jsonl", "batch");
    EXPECT_EQ(f.filename, std::string("job-1-c1-abc.jsonl"));
    EXPECT_EQ(f.bytes, static_cast<std::int64_t>(fs::file_size(input)));
    EXPECT_EQ((co_await c.retrieve_file(f.id)).id, f.id);
    auto files = co_await c.list_files(std::string("batch"));
    EXPECT_EQ(files.size(), 1u);
    req.input_file_id = f.id;
    auto b = co_await c.create_batch(req);
    EXPECT_EQ(b.status, std::string("validating"));
    EXPECT_EQ(b.metadata.at("chunk"), std::string("1"));
    while (!b.is_terminal()) b = co_await c.retrieve_batch(b.id);
    EXPECT_EQ(b.status, std::string("completed"));
    EXPECT_EQ(b.counts.completed, 1);
    EXPECT_TRUE(b.in_progress_at && b.completed_at);
    auto listed = co_await c.list_batches();
    EXPECT_EQ(listed.size(), 1u);
    const auto out = dir / "out.jsonl";
    co_await c.download_file(*b.output_file_id, out);
    std::ifstream in(out);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(json::parse(line)["custom_id"], std::string("a"));
    co_await c.delete_file(f.id);
    co_return f.id;
  });
  EXPECT_EQ(admin(sim, "GET", "/stats")["uploads_by_filename"]["job-1-c1-abc.jsonl"], 1);
}

TEST_F(client_test, each_retryable_fault_is_ridden_out) {
  admin(sim, "POST", "/faults", R"({"next_429":2,"retry_after_ms":30})");
  with_client([](client& c) { return c.list_files(std::nullopt); });
  admin(sim, "POST", "/faults", R"({"next_5xx":2})");
  with_client([](client& c) { return c.list_files(std::nullopt); });
  admin(sim, "POST", "/faults", R"({"next_drop":1})");
  with_client([](client& c) { return c.list_files(std::nullopt); });
  admin(sim, "POST", "/faults", R"({"next_truncate":1})");
  with_client([](client& c) { return c.list_files(std::nullopt); });
  auto stats = admin(sim, "GET", "/stats");
  const std::string route = "GET /v1/files";
  EXPECT_EQ(calls(stats, route, "429"), 2);
  EXPECT_EQ(calls(stats, route, "dropped"), 1);
  EXPECT_EQ(calls(stats, route, "truncated"), 1);
  EXPECT_EQ(calls(stats, route, "500") + calls(stats, route, "502") + calls(stats, route, "503"), 2);
  EXPECT_EQ(calls(stats, route, "200"), 4) << "each call succeeded in the end";
}

TEST_F(client_test, a_truncated_download_is_retried_and_comes_out_whole) {
  auto bytes = run_coro([&](ex_t ex) -> boost::asio::awaitable<std::uint64_t> {
    client c(ex, config_for(sim));
    auto f = co_await c.upload_file(input, "t.jsonl", "batch");
    admin(sim, "POST", "/faults", R"({"next_truncate":1})");
    co_return co_await c.download_file(f.id, dir / "back.jsonl", static_cast<std::uint64_t>(f.bytes));
  });
  EXPECT_EQ(bytes, fs::file_size(input));
  EXPECT_FALSE(fs::exists(dir / "back.jsonl.part"));
}

TEST_F(client_test, final_errors_surface_at_once_with_their_code) {
  auto bad = config_for(sim);
  bad.api_key = "sk-wrong-key-999999999";
  try {
    with_client([](client& c) { return c.list_files(std::nullopt); }, bad);
    FAIL() << "expected a 401";
  } catch (const api_error& e) {
    EXPECT_EQ(e.status(), 401);
    EXPECT_EQ(e.code(), "invalid_api_key");
    EXPECT_FALSE(e.retryable());
    EXPECT_EQ(std::string(e.what()).find(bad.api_key), std::string::npos) << "the key never shows";
  }
  try {
    with_client([](client& c) { return c.retrieve_batch("batch_missing"); });
    FAIL() << "expected a 404";
  } catch (const api_error& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_FALSE(e.request_id().empty());
  }
  try {
    with_client([](client& c) { return c.create_batch({"file-nope", "/v1/chat/completions", "24h", {}}); });
    FAIL() << "expected a 400";
  } catch (const api_error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.param(), "file_id");
  }
  auto stats = admin(sim, "GET", "/stats");
  EXPECT_EQ(calls(stats, "GET /v1/files", "401"), 1);
  EXPECT_EQ(calls(stats, "GET /v1/batches/{batch_id}", "404"), 1);
  EXPECT_EQ(calls(stats, "POST /v1/batches", "400"), 1);
}

TEST_F(client_test, a_create_is_retried_only_when_the_caller_says_so) {
  const auto file_id = with_client([&](client& c) -> boost::asio::awaitable<std::string> {
    co_return (co_await c.upload_file(input, "x.jsonl", "batch")).id;
  });
  admin(sim, "POST", "/faults", R"({"next_5xx":1})");
  EXPECT_THROW(with_client([&](client& c) { return c.create_batch({file_id, "/v1/chat/completions", "24h", {}}); }),
               api_error);
  admin(sim, "POST", "/faults", R"({"next_5xx":1})");
  auto b = with_client([&](client& c) {
    return c.create_batch({file_id, "/v1/chat/completions", "24h", {}}, retry_create::yes);
  });
  EXPECT_EQ(b.status, "validating");
}

TEST_F(client_test, the_request_rate_stays_within_budget) {
  auto cfg = config_for(sim);
  cfg.requests_per_second = 20;
  cfg.burst = 1;
  const auto start = std::chrono::steady_clock::now();
  with_client([](client& c) -> boost::asio::awaitable<int> {
    for (int i = 0; i < 21; ++i) co_await c.list_files(std::nullopt);
    co_return 0;
  }, cfg);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took.count(), 0.99) << "21 requests at 20/s need at least 1 s";
}

TEST_F(client_test, the_key_never_reaches_the_logs) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto logger = std::make_shared<spdlog::logger>("capture", sink);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::trace);
  admin(sim, "POST", "/faults", R"({"next_429":1,"retry_after_ms":10})");
  with_client([](client& c) { return c.list_files(std::nullopt); });
  auto bad = config_for(sim);
  bad.api_key = "sk-secret-never-print-me";
  EXPECT_THROW(with_client([](client& c) { return c.list_files(std::nullopt); }, bad), api_error);
  spdlog::set_default_logger(previous);
  EXPECT_NE(captured.str().find("retry"), std::string::npos) << captured.str();
  EXPECT_EQ(captured.str().find(key), std::string::npos);
  EXPECT_EQ(captured.str().find("sk-secret-never-print-me"), std::string::npos);
}

TEST(client_config, plain_http_only_on_loopback) {
  boost::asio::io_context ioc;
  client_config c;
  c.api_key = "k";
  c.base_url = "http://api.example.com/v1";
  EXPECT_THROW(client(ioc.get_executor(), c), api_error);
  c.base_url = "http://127.0.0.1:1/v1";
  EXPECT_NO_THROW(client(ioc.get_executor(), c));
  c.base_url = "http://[::1]:1/v1";
  EXPECT_NO_THROW(client(ioc.get_executor(), c));
  c.base_url = "ftp://x";
  EXPECT_THROW(client(ioc.get_executor(), c), api_error);
}

}  // namespace
}  // namespace batchd::openai
