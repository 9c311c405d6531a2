#include "io/range_hasher.hpp"

#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <system_error>

#include "io/sha256.hpp"

namespace batchd::io {

range_hasher::range_hasher(std::filesystem::path file)
    : file_(std::move(file)), thread_([this] { run(); }) {}

range_hasher::~range_hasher() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void range_hasher::advance(std::uint64_t offset) {
  {
    std::lock_guard lock(mu_);
    frontier_ = offset;
  }
  cv_.notify_all();
}

void range_hasher::cut(std::uint64_t offset) {
  {
    std::lock_guard lock(mu_);
    cuts_.push_back(offset);
    frontier_ = std::max(frontier_, offset);
  }
  cv_.notify_all();
}

std::vector<std::string> range_hasher::finish() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (error_) std::rethrow_exception(error_);
  return hashes_;
}

void range_hasher::run() {
  constexpr std::uint64_t step = 4 << 20;
  int fd = -1;
  try {
    // Read, not mapped: a file cut short under us is an error to report, where
    // a mapping would kill the process with SIGBUS.
    fd = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + file_.string());
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    std::vector<char> buf(step);
    std::uint64_t pos = 0;
    std::size_t next_cut = 0;
    sha256 hash;
    for (;;) {
      std::uint64_t limit;
      bool at_cut = false;
      {
        std::unique_lock lock(mu_);
        // Wait for bytes to hash, a cut to close, or the end.
        cv_.wait(lock, [&] {
          return frontier_ > pos || (next_cut < cuts_.size() && cuts_[next_cut] == pos) || closed_;
        });
        if (next_cut < cuts_.size() && cuts_[next_cut] == pos) at_cut = true;
        else if (frontier_ <= pos) break;  // closed, nothing left
        limit = next_cut < cuts_.size() ? std::min(frontier_, cuts_[next_cut]) : frontier_;
      }
      if (at_cut) {
        hashes_.push_back(hash.hex());
        hash = sha256();
        ++next_cut;
        continue;
      }
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(step, limit - pos));
      const auto got = ::pread(fd, buf.data(), want, static_cast<off_t>(pos));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw std::system_error(errno, std::generic_category(), "read " + file_.string());
      if (got == 0) throw std::system_error(EIO, std::generic_category(), "the file shrank: " + file_.string());
      hash.update({buf.data(), static_cast<std::size_t>(got)});
      pos += static_cast<std::uint64_t>(got);
    }
  } catch (...) {
    error_ = std::current_exception();
  }
  if (fd >= 0) ::close(fd);
}

}  // namespace batchd::io
