#pragma once
// Reads a file line by line in large blocks, handing out views into its
// buffer with simdjson's padding readable past each line, so a line can be
// parsed in place without a copy.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string_view>
#include <vector>

namespace batchd::jobs {

class line_reader {
 public:
  explicit line_reader(const std::filesystem::path& path, std::size_t block = 4 << 20);
  ~line_reader();
  line_reader(const line_reader&) = delete;
  line_reader& operator=(const line_reader&) = delete;

  // The next line without its "\n" (and "\r"); false at end of file.
  bool next(std::string_view& line);
  std::int64_t line_number() const { return number_; }

 private:
  bool fill();
  std::FILE* file_;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  std::int64_t number_ = 0;
};

}  // namespace batchd::jobs
