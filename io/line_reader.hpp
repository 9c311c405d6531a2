#pragma once
// Reads a file line by line in large blocks, handing out views into its
// buffer with simdjson's padding readable past each line, so a line can be
// parsed in place without a copy.
#include <cstdint>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <string_view>
#include <vector>

namespace batchd::io {

class line_reader {
 public:
  // Reads `length` bytes from `offset` (the whole file by default).
  explicit line_reader(const std::filesystem::path& path, std::uint64_t offset = 0,
                       std::uint64_t length = UINT64_MAX, std::size_t block = 4 << 20);
  ~line_reader();
  line_reader(const line_reader&) = delete;
  line_reader& operator=(const line_reader&) = delete;

  // The next line without its "\n" (and "\r"); false at end of file.
  bool next(std::string_view& line);
  std::int64_t line_number() const { return number_; }
  // The file offset just past the last line returned, its line ending included.
  std::uint64_t position() const { return position_; }

 private:
  bool fill();
  std::FILE* file_;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  std::uint64_t remaining_;
  std::uint64_t position_;
  std::int64_t number_ = 0;
};

}  // namespace batchd::io
