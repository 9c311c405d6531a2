// A 200 MB file up and back down through the client is byte-identical.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "client.hpp"
#include "run_coro.hpp"
#include "sim_process.hpp"

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

}  // namespace
}  // namespace batchd::openai
