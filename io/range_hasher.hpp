#pragma once
// Hashes consecutive byte ranges of a file on a second thread while the
// caller is still reading it, so validation and hashing overlap. The caller
// says how far the file is safe to hash (advance) and where each range ends
// (cut); finish() returns one SHA-256 per range.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace batchd::io {

class range_hasher {
 public:
  explicit range_hasher(std::filesystem::path file);
  ~range_hasher();
  range_hasher(const range_hasher&) = delete;
  range_hasher& operator=(const range_hasher&) = delete;

  // Bytes before `offset` may be hashed now.
  void advance(std::uint64_t offset);
  // A range ends at `offset` (ranges start at 0 and follow each other).
  void cut(std::uint64_t offset);
  // Waits, then returns each range's hash (hex) in order. Rethrows a read error.
  std::vector<std::string> finish();

 private:
  void run();

  std::filesystem::path file_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t frontier_ = 0;
  std::vector<std::uint64_t> cuts_;
  bool closed_ = false;
  std::vector<std::string> hashes_;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace batchd::io
