#include "range_hasher.hpp"

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
  constexpr std::size_t step = 1 << 20;
  try {
    std::FILE* f = std::fopen(file_.c_str(), "rb");
    if (!f) throw std::system_error(errno, std::generic_category(), "open " + file_.string());
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
      const auto got = std::fread(buf.data(), 1, want, f);
      if (got != want) {
        std::fclose(f);
        throw std::system_error(errno ? errno : EIO, std::generic_category(), "read " + file_.string());
      }
      hash.update({buf.data(), got});
      pos += got;
    }
    std::fclose(f);
  } catch (...) {
    error_ = std::current_exception();
  }
}

}  // namespace batchd::jobs
