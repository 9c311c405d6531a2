#include "vectors/vector_search.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <regex>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace batchd::vectors {

npy_map::npy_map(const std::filesystem::path& path) : file_(path) {
  const auto length = file_.bytes().size();
  if (length < 12) throw std::runtime_error(path.string() + " is too short to be an .npy file");
  const auto* p = reinterpret_cast<const unsigned char*>(file_.bytes().data());
  if (std::memcmp(p, "\x93NUMPY", 6) != 0) throw std::runtime_error(path.string() + " is not an .npy file");
  std::size_t header_len = 0, start = 0;
  if (p[6] == 1) {
    header_len = p[8] | p[9] << 8;
    start = 10;
  } else {
    header_len = p[8] | p[9] << 8 | p[10] << 16 | static_cast<std::size_t>(p[11]) << 24;
    start = 12;
  }
  if (start + header_len > length) throw std::runtime_error(path.string() + ": the header runs past the file");
  const std::string header(reinterpret_cast<const char*>(p + start), header_len);
  static const std::regex descr(R"('descr':\s*'<f4')"), fortran(R"('fortran_order':\s*False)"),
      shape(R"('shape':\s*\((\d+),\s*(\d+),?\s*\))");
  std::smatch s;
  if (!std::regex_search(header, descr) || !std::regex_search(header, fortran) || !std::regex_search(header, s, shape))
    throw std::runtime_error(path.string() + " does not hold 2-D little-endian float32 rows in C order");
  const std::size_t data_at = start + header_len;
  const std::size_t room = (length - data_at) / sizeof(float);  // floats the file holds
  try {
    rows_ = std::stoll(s[1]);
    dims_ = std::stoll(s[2]);
  } catch (const std::exception&) {
    throw std::runtime_error(path.string() + ": its shape is out of range");
  }
  if (dims_ <= 0 && rows_ > 0) throw std::runtime_error(path.string() + " has rows of no dimensions");
  if (rows_ > 0 && static_cast<std::size_t>(rows_) > room / static_cast<std::size_t>(dims_))
    throw std::runtime_error(path.string() + " is shorter than its shape says");
  data_ = reinterpret_cast<const float*>(p + data_at);  // 64-byte aligned header: aligned floats
}

namespace {

// Dot product and squared norm of a row in one pass. Cloned for AVX2, so a
// machine that has it scans at memory speed; the default build stays portable.
__attribute__((target_clones("avx2", "default"))) void dot_and_norm(const float* a, const float* b, std::int64_t n,
                                                                    float& dot, float& norm) {
  float d = 0, s = 0;
#pragma omp simd reduction(+ : d, s)
  for (std::int64_t i = 0; i < n; ++i) {
    d += a[i] * b[i];
    s += b[i] * b[i];
  }
  dot = d;
  norm = s;
}

bool better(const scored_row& a, const scored_row& b) { return a.score > b.score || (a.score == b.score && a.row < b.row); }

void scan(const npy_map& m, const float* q, float q_norm, std::int64_t from, std::int64_t to, std::size_t k,
          std::vector<scored_row>& heap) {
  // A min-heap of the best k so far: its top is the one to beat.
  for (std::int64_t r = from; r < to; ++r) {
    float dot = 0, norm = 0;
    dot_and_norm(q, m.data() + r * m.dims(), m.dims(), dot, norm);
    float score = norm > 0 ? dot / (q_norm * std::sqrt(norm)) : 0.0f;
    if (!std::isfinite(score)) score = -2;  // a NaN would break the ordering: such a row ranks last
    const scored_row s{r, score};
    if (heap.size() < k) {
      heap.push_back(s);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (better(s, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = s;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
}

}  // namespace

std::vector<scored_row> top_k(const npy_map& m, std::span<const float> query, std::size_t k, unsigned threads) {
  if (static_cast<std::int64_t>(query.size()) != m.dims())
    throw std::invalid_argument("the query has " + std::to_string(query.size()) + " dimensions; the rows have " +
                                std::to_string(m.dims()));
  float q_norm = 0;
  for (float x : query) q_norm += x * x;
  q_norm = std::sqrt(q_norm);
  if (!std::isfinite(q_norm)) throw std::invalid_argument("the query holds a NaN or an infinity");
  if (k == 0 || m.rows() == 0 || q_norm == 0) return {};
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  // Slices of at least 16k rows: below that a thread costs more than it saves.
  threads = static_cast<unsigned>(std::clamp<std::int64_t>(m.rows() / 16384, 1, threads));
  std::vector<std::vector<scored_row>> heaps(threads);
  std::vector<std::thread> pool;
  const std::int64_t per = (m.rows() + threads - 1) / threads;
  for (unsigned t = 0; t < threads; ++t) {
    const std::int64_t from = t * per, to = std::min(m.rows(), from + per);
    auto work = [&, t, from, to] { scan(m, query.data(), q_norm, from, to, k, heaps[t]); };
    if (t + 1 == threads) {
      work();  // the last slice on this thread
      continue;
    }
    try {
      pool.emplace_back(work);
    } catch (const std::system_error&) {
      work();  // no thread to be had (TasksMax): this one does the slice
    }
  }
  for (auto& th : pool) th.join();
  std::vector<scored_row> all;
  for (auto& h : heaps) all.insert(all.end(), h.begin(), h.end());
  std::sort(all.begin(), all.end(), better);
  if (all.size() > k) all.resize(k);
  return all;
}

}  // namespace batchd::vectors
