#include "io/hashing_writer.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

#include "io/sha256.hpp"

namespace batchd::io {

namespace {
constexpr std::size_t max_waiting = 8;  // blocks
}

hashing_writer::hashing_writer(std::filesystem::path path, std::size_t block)
    : path_(std::move(path)), block_size_(block) {
  current_.data.reserve(block_size_ + (64 << 10));
  thread_ = std::thread([this] { run(); });
}

hashing_writer::~hashing_writer() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void hashing_writer::maybe_send() {
  if (current_.data.size() >= block_size_) send();
}

void hashing_writer::cut(std::uint64_t offset) { current_.cuts.push_back(static_cast<std::size_t>(offset - sent_)); }

void hashing_writer::send() {
  sent_ += current_.data.size();
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return queue_.size() < max_waiting || error_; });
  if (error_) std::rethrow_exception(error_);
  queue_.push_back(std::move(current_));
  lock.unlock();
  cv_.notify_all();
  current_ = {};
  current_.data.reserve(block_size_ + (64 << 10));
}

std::vector<std::string> hashing_writer::finish() {
  send();
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (error_) std::rethrow_exception(error_);
  return std::move(hashes_);
}

void hashing_writer::run() {
  try {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (!f) throw std::system_error(errno, std::generic_category(), "create " + path_.string());
    sha256 hash;
    bool any = false;  // bytes in the current range
    for (;;) {
      block b;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty() || closed_; });
        if (queue_.empty()) break;
        b = std::move(queue_.front());
        queue_.pop_front();
      }
      cv_.notify_all();
      std::size_t at = 0;
      for (auto cut : b.cuts) {
        hash.update({b.data.data() + at, cut - at});
        hashes_.push_back(hash.hex());
        hash = sha256();
        any = false;
        at = cut;
      }
      hash.update({b.data.data() + at, b.data.size() - at});
      any = any || b.data.size() > at;
      if (std::fwrite(b.data.data(), 1, b.data.size(), f) != b.data.size()) {
        std::fclose(f);
        throw std::system_error(errno, std::generic_category(), "write " + path_.string());
      }
    }
    if (any) hashes_.push_back(hash.hex());
    const bool synced = std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
    if (std::fclose(f) != 0 || !synced)
      throw std::system_error(errno, std::generic_category(), "close " + path_.string());
  } catch (...) {
    std::lock_guard lock(mu_);
    error_ = std::current_exception();
  }
  cv_.notify_all();
}

}  // namespace batchd::io
