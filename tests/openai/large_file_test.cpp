// A 200 MB file up and back down through the client is byte-identical.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "openai/client.hpp"
#include "tests/support/run_coro.hpp"
#include "tests/support/sim_process.hpp"

namespace batchd::openai {
namespace {

namespace fs = std::filesystem;
using batchd::testing::run_coro;
using batchd::testing::sim_process;

bool same_bytes(const fs::path& a, const fs::path& b) {
  if (fs::file_size(a) != fs::file_size(b)) return false;
  std::ifstream x(a, std::ios::binary), y(b, std::ios::binary);
  std::vector<char> bx(1 << 20), by(1 << 20);
  while (x && y) {
    x.read(bx.data(), bx.size());
    y.read(by.data(), by.size());
    if (x.gcount() != y.gcount() || !std::equal(bx.begin(), bx.begin() + x.gcount(), by.begin())) return false;
  }
  return true;
}

TEST(large_file, two_hundred_megabytes_round_trip_byte_identical) {
  const fs::path dir = fs::temp_directory_path() / ("batchd-large-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto input = dir / "big.jsonl";
  {
    std::ofstream out(input, std::ios::binary);
    std::string pad(3800, 'x');
    for (int i = 0; out.tellp() < 209'000'000; ++i)
      out << R"({"custom_id":"r)" << i << R"(","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":")"
          << pad << "\"}]}}\n";
  }
  sim_process sim;
  client_config c;
  c.base_url = sim.base_url();
  c.api_key = "sk-test-key-0123456789";
  const auto back = dir / "back.jsonl";
  run_coro([&](boost::asio::any_io_executor ex) -> boost::asio::awaitable<int> {
    client cl(ex, c);
    auto f = co_await cl.upload_file(input, "big.jsonl", "batch");
    EXPECT_EQ(static_cast<std::uintmax_t>(f.bytes), fs::file_size(input));
    co_await cl.download_file(f.id, back, static_cast<std::uint64_t>(f.bytes));
    co_return 0;
  });
  EXPECT_TRUE(same_bytes(input, back));
  fs::remove_all(dir);
}

// A slow link: 500 MB (the Files API's upload limit is 512 MB, so a file this
// test can put there) at 200 MB/s takes about 2.5 s, and the whole-exchange
// deadline is set to 1 s. Timeouts measure progress, so it completes intact.
TEST(large_file, a_download_that_keeps_moving_is_never_cut) {
  const fs::path dir = fs::temp_directory_path() / ("batchd-slow-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto input = dir / "big.jsonl";
  {
    std::ofstream out(input, std::ios::binary);
    const std::string line = R"({"custom_id":"r","method":"POST","url":"/v1/chat/completions","body":{}})" + std::string("\n");
    std::string block;
    while (block.size() < (1 << 20)) block += line;
    while (out.tellp() < 500'000'000) out << block;
  }
  sim_process sim({"--faults", R"({"download_bytes_per_s": 200000000})"});
  client_config c;
  c.base_url = sim.base_url();
  c.api_key = "sk-test-key-0123456789";
  c.request_timeout = std::chrono::seconds(1);  // far less than the transfer takes
  c.idle_timeout = std::chrono::seconds(10);
  c.first_byte_timeout = std::chrono::seconds(10);
  const auto back = dir / "back.jsonl";
  std::chrono::duration<double> took{};
  run_coro([&](boost::asio::any_io_executor ex) -> boost::asio::awaitable<int> {
    client cl(ex, c);
    auto f = co_await cl.upload_file(input, "big.jsonl", "user_data");  // batch files stop at 200 MB
    const auto start = std::chrono::steady_clock::now();
    co_await cl.download_file(f.id, back, static_cast<std::uint64_t>(f.bytes));
    took = std::chrono::steady_clock::now() - start;
    co_return 0;
  });
  EXPECT_GT(took.count(), 2.0) << "the link was slow, longer than the 1 s deadline";
  EXPECT_TRUE(same_bytes(input, back));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace batchd::openai
