#pragma once
// Exact top-k by cosine similarity over a job's embeddings.npy, memory-mapped
// (the pages are the file's, not the heap's), scanned by a few threads. Runs
// on a worker, never on the event loop.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "io/mapped_file.hpp"

namespace batchd::vectors {

// A read-only map of an .npy file of float32 rows ('<f4', C order, 2-D).
class npy_map {
 public:
  // Throws std::runtime_error naming what is wrong with the file.
  explicit npy_map(const std::filesystem::path& path);

  std::int64_t rows() const { return rows_; }
  std::int64_t dims() const { return dims_; }
  std::span<const float> row(std::int64_t i) const {
    return {data_ + i * dims_, static_cast<std::size_t>(dims_)};
  }
  const float* data() const { return data_; }

 private:
  io::mapped_file file_;
  const float* data_ = nullptr;
  std::int64_t rows_ = 0, dims_ = 0;
};

struct scored_row {
  std::int64_t row = 0;
  float score = 0;  // cosine similarity, -1 to 1
};

// The `k` rows most like `query`, best first (ties: the lower row first).
// `threads` 0: one a core.
std::vector<scored_row> top_k(const npy_map& m, std::span<const float> query, std::size_t k, unsigned threads = 0);

}  // namespace batchd::vectors
