#pragma once
// Writes a file from a second thread, hashing consecutive byte ranges of it
// on the way, so whoever produces the bytes only fills buffers. Ranges start
// at 0 and follow each other; cut() ends one. Memory stays bounded: at most
// a few blocks wait for the thread.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace batchd::io {

class hashing_writer {
 public:
  explicit hashing_writer(std::filesystem::path path, std::size_t block = 1 << 20);
  ~hashing_writer();
  hashing_writer(const hashing_writer&) = delete;
  hashing_writer& operator=(const hashing_writer&) = delete;

  // The buffer to append to; call maybe_send() after appending.
  std::string& buf() { return current_.data; }
  void maybe_send();
  // The file offset of the buffer's end.
  std::uint64_t written() const { return sent_ + current_.data.size(); }
  // A range ends at file offset `offset` (within what was appended).
  void cut(std::uint64_t offset);
  // Writes the rest, fsyncs, closes; returns each range's hash (hex), the
  // last range ending at the end. Rethrows a write error.
  std::vector<std::string> finish();

 private:
  struct block {
    std::string data;
    std::vector<std::size_t> cuts;  // offsets within data
  };
  void send();
  void run();

  std::filesystem::path path_;
  std::size_t block_size_;
  block current_;
  std::uint64_t sent_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<block> queue_;
  bool closed_ = false;
  std::vector<std::string> hashes_;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace batchd::io
