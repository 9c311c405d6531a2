#pragma once
// A manifest embeddings job's vector file: outbox/<job>/embeddings.npy
// (NumPy format 1.0, '<f4', C order, shape (rows, dims)) and
// embeddings.rows.jsonl, one line a row: {"row", "custom_id", "index" (the
// input's, 0-based), "input" (the start of its text)}. Only inputs that got
// a vector have a row; the others are in errors.jsonl. Written as the
// results stream by, so memory stays flat; the header's shape is filled in
// at commit, and both files are put in place atomically.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/atomic_file.hpp"

namespace batchd::io {
class line_reader;
}

namespace batchd::vectors {

// The NumPy header (magic, version, length, dict) for float32 rows; always
// npy_header_bytes long.
inline constexpr std::size_t npy_header_bytes = 128;
std::string npy_header(std::int64_t rows, std::int64_t dims);

// An embedding as the API sends it: an array of numbers, or base64 of
// little-endian float32. False if it is neither.
bool decode_base64_floats(std::string_view text, std::vector<float>& out);

// Shortest text that reads back as the same float32 ("[0.1,-0.25]").
void append_floats_json(std::string& out, std::span<const float> v);

class vector_file {
 public:
  // `texts`: the job's inputs.text (one JSON string a line, by input index).
  vector_file(const std::filesystem::path& dir, const std::filesystem::path& texts);
  ~vector_file();

  // Whether a vector of `dims` may be a row: as long as the first row's.
  bool fits(std::size_t dims) const { return dims > 0 && (rows_ == 0 || static_cast<std::int64_t>(dims) == dims_); }
  // Rows come in increasing input order. Throws std::logic_error for a
  // vector that does not fit (callers check fits() first).
  void add(std::int64_t input, std::string_view custom_id, std::span<const float> v);
  void commit();
  std::int64_t rows() const { return rows_; }

 private:
  // The input's text as a JSON string, as inputs.text holds it ("" when absent).
  std::string_view text_of(std::int64_t input);
  io::atomic_file npy_, map_;
  std::unique_ptr<io::line_reader> texts_;
  std::int64_t texts_at_ = 0;  // the input index of the next line `texts_` gives
  std::int64_t rows_ = 0, dims_ = 0;
  std::string line_;
};

}  // namespace batchd::vectors
