#pragma once
// Incremental SHA-256 (OpenSSL), hex-encoded: the content hash that names an
// upload so a restart can find it again.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace batchd::io {

class sha256 {
 public:
  sha256();
  ~sha256();
  sha256(sha256&&) noexcept;
  sha256& operator=(sha256&&) noexcept;
  void update(std::string_view bytes);
  std::string hex();  // finishes; call once

 private:
  struct state;
  std::unique_ptr<state> state_;
};

// The SHA-256 of `length` bytes of a file from `offset` (of what there is,
// if the file is shorter). Throws std::system_error if it cannot be read.
std::string file_sha256(const std::filesystem::path& p, std::uint64_t offset = 0,
                        std::uint64_t length = UINT64_MAX);

}  // namespace batchd::io
