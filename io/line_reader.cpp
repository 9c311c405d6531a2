#include "io/line_reader.hpp"

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <system_error>

namespace batchd::io {

// simdjson reads up to this many bytes past the end of what it parses.
constexpr std::size_t padding = 64;

line_reader::line_reader(const std::filesystem::path& path, std::uint64_t offset, std::uint64_t length,
                         std::size_t block)
    : file_(std::fopen(path.c_str(), "rb")), buf_(block + padding), remaining_(length), position_(offset) {
  if (!file_) throw std::system_error(errno, std::generic_category(), "open " + path.string());
  if (offset > 0 && ::fseeko(file_, static_cast<off_t>(offset), SEEK_SET) != 0) {
    const int e = errno;
    std::fclose(file_);
    throw std::system_error(e, std::generic_category(), "seek " + path.string());
  }
}

line_reader::~line_reader() { std::fclose(file_); }

bool line_reader::fill() {
  if (eof_) return false;
  // Move the unfinished line to the front; grow if one line fills the buffer.
  std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
  if (buf_.size() - padding - end_ < buf_.size() / 4) buf_.resize(buf_.size() * 2);
  const auto room = static_cast<std::size_t>(std::min<std::uint64_t>(buf_.size() - padding - end_, remaining_));
  const auto n = std::fread(buf_.data() + end_, 1, room, file_);
  remaining_ -= n;
  if (n < room || remaining_ == 0) {
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
      const auto before = begin_;
      begin_ = nl ? static_cast<std::size_t>(nl - buf_.data()) + 1 : end_;
      position_ += begin_ - before;
      std::size_t len = static_cast<std::size_t>(stop - start);
      if (len > 0 && start[len - 1] == '\r') --len;
      line = std::string_view(start, len);
      ++number_;
      return true;
    }
    if (!fill() && begin_ >= end_) return false;
  }
}

}  // namespace batchd::io
