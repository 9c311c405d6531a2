// Times the client on one transfer against a running server.
//   openai-bench BASE_URL upload FILE        → prints the file id and MB/s
//   openai-bench BASE_URL download ID DEST   → prints MB/s
//   openai-bench BASE_URL idle               → does nothing (baseline RSS)
// The key comes from $OPENAI_API_KEY.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "openai/client.hpp"

int main(int argc, char** argv) {
  using namespace batchd::openai;
  if (argc < 3) {
    std::fprintf(stderr, "usage: openai-bench BASE_URL upload FILE | download ID DEST | idle\n");
    return 2;
  }
  const std::string mode = argv[2];
  if (mode == "idle") return 0;
  client_config cfg;
  cfg.base_url = argv[1];
  cfg.api_key = std::getenv("OPENAI_API_KEY") ? std::getenv("OPENAI_API_KEY") : "";
  boost::asio::io_context ioc;
  int rc = 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::uint64_t bytes = 0;
  std::string id;
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        client c(ioc.get_executor(), cfg);
        if (mode == "upload" && argc == 4) {
          auto f = co_await c.upload_file(argv[3], std::filesystem::path(argv[3]).filename().string(), "batch");
          bytes = static_cast<std::uint64_t>(f.bytes);
          id = f.id;
        } else if (mode == "download" && argc == 5) {
          bytes = co_await c.download_file(argv[3], argv[4]);
        } else {
          rc = 2;
        }
      },
      [&](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          std::fprintf(stderr, "openai-bench: %s\n", ex.what());
          rc = 1;
        }
      });
  ioc.run();
  const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
  if (rc == 0) std::printf("%s %.1f MB/s %.3f s\n", id.empty() ? "-" : id.c_str(), bytes / 1e6 / dt.count(), dt.count());
  return rc;
}
