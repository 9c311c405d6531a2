#include "vectors/vector_file.hpp"

#include <array>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "io/line_reader.hpp"

namespace batchd::vectors {
namespace fs = std::filesystem;

std::string npy_header(std::int64_t rows, std::int64_t dims) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                     std::to_string(dims) + "), }";
  std::string h = "\x93NUMPY";
  h += '\x01';
  h += '\x00';
  const std::size_t len = npy_header_bytes - 10;  // the dict, padded with spaces, then '\n'
  h += static_cast<char>(len & 0xff);
  h += static_cast<char>(len >> 8);
  dict.resize(len - 1, ' ');
  h += dict;
  h += '\n';
  return h;
}

bool decode_base64_floats(std::string_view text, std::vector<float>& out) {
  static const auto table = [] {
    std::array<signed char, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
    return t;
  }();
  if (text.size() % 4 != 0) return false;
  std::size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  const std::size_t bytes = text.size() / 4 * 3 - pad;
  if (bytes % 4 != 0) return false;
  out.resize(bytes / 4);  // little-endian float32, as x86-64 and arm64 hold them: the bytes are the floats
  auto* raw = reinterpret_cast<unsigned char*>(out.data());
  std::size_t o = 0;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      const bool padding = c == '=' && i + 4 == text.size() && k >= 4 - pad;
      if (!padding && table[c] < 0) return false;
      v = v << 6 | static_cast<std::uint32_t>(padding ? 0 : table[c]);
    }
    for (int k = 2; k >= 0 && o < bytes; --k) raw[o++] = static_cast<unsigned char>(v >> (8 * k));
  }
  return true;
}

void append_floats_json(std::string& out, std::span<const float> v) {
  out += '[';
  char buf[32];
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    const auto r = std::to_chars(buf, buf + sizeof buf, v[i]);
    out.append(buf, r.ptr);
  }
  out += ']';
}

vector_file::vector_file(const fs::path& dir, const fs::path& texts)
    : npy_(dir / "embeddings.npy"), map_(dir / "embeddings.rows.jsonl") {
  npy_.write(npy_header(0, 0));  // room for the real one
  if (!texts.empty() && fs::exists(texts)) texts_ = std::make_unique<io::line_reader>(texts, 0, UINT64_MAX, 256 << 10);  // short lines: a small buffer
}

vector_file::~vector_file() = default;

std::string_view vector_file::text_of(std::int64_t input) {
  if (!texts_ || input < texts_at_) return "\"\"";
  std::string_view line;
  while (texts_at_ <= input) {
    if (!texts_->next(line)) {
      texts_.reset();
      return "\"\"";
    }
    ++texts_at_;
  }
  return line;
}

void vector_file::add(std::int64_t input, std::string_view custom_id, std::span<const float> v) {
  if (!fits(v.size()))
    throw std::logic_error("embedding of " + std::string(custom_id) + " has " + std::to_string(v.size()) +
                           " dimensions; the rows before it have " + std::to_string(dims_));
  if (rows_ == 0) dims_ = static_cast<std::int64_t>(v.size());
  npy_.write({reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)});
  // As nlohmann would print it (keys in order), custom_id first, which
  // search's look-up relies on; the text goes in as assembly escaped it.
  line_ = "{\"custom_id\":" + nlohmann::json(custom_id).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line_ += ",\"index\":" + std::to_string(input) + ",\"input\":";
  line_ += text_of(input);
  line_ += ",\"row\":" + std::to_string(rows_) + "}";
  map_.line(line_);
  ++rows_;
}

void vector_file::commit() {
  npy_.write_at(0, npy_header(rows_, dims_));
  map_.commit();  // first: a reader that finds the vectors finds their row map
  npy_.commit();
}

}  // namespace batchd::vectors
