// Times jobs::split_request_file on one file: validate every line, cut it
// into chunks and hash them. Usage: split-bench INPUT.jsonl
#include <chrono>
#include <cstdio>

#include "jobfiles/request_file.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: split-bench INPUT.jsonl\n");
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto r = batchd::jobfiles::split_request_file(argv[1], {});
  const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
  std::int64_t bytes = 0;
  for (const auto& c : r.chunks) bytes += c.bytes;
  std::printf("%lld requests, %zu chunks, %lld bytes, %zu errors, %.3f s, %.0f MB/s\n",
              static_cast<long long>(r.requests), r.chunks.size(), static_cast<long long>(bytes),
              r.errors.size(), dt.count(), bytes / 1e6 / dt.count());
  return r.errors.empty() ? 0 : 1;
}
