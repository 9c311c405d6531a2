// batchd's exact top-k over an embeddings.npy, as the daemon runs it, for
// bench/search_vs_numpy.py: `search-bench FILE QUERIES K` picks QUERIES rows
// as queries (rows 0, 997, 1994, …) and prints one JSON line: per-query
// latencies in ms, and the anonymous memory (RssAnon) before and after.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "vectors/vector_search.hpp"

namespace {
long rss_anon_kib() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("RssAnon:", 0) == 0) return std::stol(line.substr(8));
  return -1;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: search-bench FILE QUERIES K\n";
    return 2;
  }
  const long before = rss_anon_kib();
  const batchd::vectors::npy_map m(argv[1]);
  const int queries = std::stoi(argv[2]);
  const auto k = static_cast<std::size_t>(std::stoul(argv[3]));
  std::vector<double> ms;
  std::int64_t checksum = 0;
  for (int q = 0; q < queries; ++q) {
    const auto row = (static_cast<std::int64_t>(q) * 997) % m.rows();
    const std::vector<float> query(m.row(row).begin(), m.row(row).end());  // a copy, as a query arrives
    const auto t0 = std::chrono::steady_clock::now();
    const auto hits = batchd::vectors::top_k(m, query, k);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    checksum += hits.empty() ? -1 : hits[0].row;
  }
  std::cout << "{\"ms\": [";
  for (std::size_t i = 0; i < ms.size(); ++i) std::cout << (i ? ", " : "") << ms[i];
  std::cout << "], \"rss_anon_kib_before\": " << before << ", \"rss_anon_kib_after\": " << rss_anon_kib()
            << ", \"top_row_checksum\": " << checksum << "}\n";
}
