#include "range_hasher.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <system_error>

#include "sha256.hpp"

namespace batchd::jobs {

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
  try {
    // Mapped, not read: hashing from the page cache without copying it again.
    const int fd = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + file_.string());
    struct stat st {};
    ::fstat(fd, &st);
    const auto size = static_cast<std::size_t>(st.st_size);
    void* map = size ? ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0) : nullptr;
    ::close(fd);
    if (map == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap " + file_.string());
    ::madvise(map, size, MADV_SEQUENTIAL);
    const auto* bytes = static_cast<const char*>(map);
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
      limit = std::min<std::uint64_t>(limit, size);
      if (limit <= pos) {
        if (map) ::munmap(map, size);
        throw std::system_error(EIO, std::generic_category(), "the file shrank: " + file_.string());
      }
      const auto n = std::min<std::uint64_t>(step, limit - pos);
      hash.update({bytes + pos, static_cast<std::size_t>(n)});
      // Drop what is hashed from this process (the page cache keeps it), so
      // the mapping never counts a whole big file against our memory.
      const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
      const auto done = (pos + n) / page * page, from = pos / page * page;
      if (done > from) ::madvise(const_cast<char*>(bytes) + from, done - from, MADV_DONTNEED);
      pos += n;
    }
    if (map) ::munmap(map, size);
  } catch (...) {
    error_ = std::current_exception();
  }
}

}  // namespace batchd::jobs
