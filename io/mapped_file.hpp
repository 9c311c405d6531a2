#pragma once
// A whole file mapped read-only: its pages are the file's (the page cache),
// never the heap's. For the vector file and its row map, which search reads
// many times.
#include <cstddef>
#include <filesystem>
#include <string_view>

namespace batchd::io {

class mapped_file {
 public:
  // Throws std::runtime_error naming the file. An empty file maps to "".
  explicit mapped_file(const std::filesystem::path& path);
  ~mapped_file();
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;

  std::string_view bytes() const { return {static_cast<const char*>(map_), size_}; }

 private:
  void* map_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace batchd::io
