#include "line_reader.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>

namespace batchd::jobs {

// simdjson reads up to this many bytes past the end of what it parses.
constexpr std::size_t padding = 64;

line_reader::line_reader(const std::filesystem::path& path, std::size_t block)
    : file_(std::fopen(path.c_str(), "rb")), buf_(block + padding) {
  if (!file_) throw std::system_error(errno, std::generic_category(), "open " + path.string());
}

line_reader::~line_reader() { std::fclose(file_); }

bool line_reader::fill() {
  if (eof_) return false;
  // Move the unfinished line to the front; grow if one line fills the buffer.
  std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
  if (buf_.size() - padding - end_ < buf_.size() / 4) buf_.resize(buf_.size() * 2);
  const auto room = buf_.size() - padding - end_;
  const auto n = std::fread(buf_.data() + end_, 1, room, file_);
  if (n < room) {
    if (std::ferror(file_)) throw std::system_error(errno, std::generic_category(), "read");
    eof_ = true;
  }
  end_ += n;
  return n > 0;
}

bool line_reader::next(std::string_view& line) {
  for (;;) {
    auto* start = buf_.data() + begin_;
    auto* nl = static_cast<char*>(std::memchr(start, '\n', end_ - begin_));
    if (nl || (eof_ && begin_ < end_)) {
      auto* stop = nl ? nl : buf_.data() + end_;
      begin_ = nl ? static_cast<std::size_t>(nl - buf_.data()) + 1 : end_;
      std::size_t len = static_cast<std::size_t>(stop - start);
      if (len > 0 && start[len - 1] == '\r') --len;
      line = std::string_view(start, len);
      ++number_;
      return true;
    }
    if (!fill() && begin_ >= end_) return false;
  }
}

}  // namespace batchd::jobs
