#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace batchd::io {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& what, const fs::path& p, int e = errno) {
  throw std::system_error(e, std::generic_category(), what + " " + p.string());
}

void fsync_path(const fs::path& p, int flags) {
  const int fd = ::open(p.c_str(), flags | O_CLOEXEC);
  if (fd < 0) fail("open", p);
  const int rc = ::fsync(fd);
  const int e = errno;
  ::close(fd);
  if (rc != 0) fail("fsync", p, e);
}

void rename_durably(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) fail("rename " + from.string() + " to", to);
  fsync_directory(to.parent_path().empty() ? fs::path(".") : to.parent_path());
}

}  // namespace

void fsync_directory(const fs::path& dir) { fsync_path(dir, O_RDONLY | O_DIRECTORY); }

atomic_file::atomic_file(fs::path path) : path_(std::move(path)), temp_(path_.string() + ".tmp") {
  file_ = std::fopen(temp_.c_str(), "wbe");
  if (!file_) fail("create", temp_);
}

atomic_file::~atomic_file() {
  if (!file_) return;
  std::fclose(file_);
  std::error_code ignored;
  fs::remove(temp_, ignored);
}

void atomic_file::write(std::string_view bytes) {
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) fail("write", temp_);
}

void atomic_file::write_at(std::uint64_t offset, std::string_view bytes) {
  if (std::fflush(file_) != 0 ||
      ::pwrite(fileno(file_), bytes.data(), bytes.size(), static_cast<off_t>(offset)) != static_cast<ssize_t>(bytes.size()))
    fail("write", temp_);
}

void atomic_file::line(std::string_view s) {
  write(s);
  if (std::fputc('\n', file_) == EOF) fail("write", temp_);
  ++lines_;
}

void atomic_file::commit() {
  const bool synced = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
  const int e = errno;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!synced || !closed) {
    std::error_code ignored;
    fs::remove(temp_, ignored);
    fail("close", temp_, synced ? errno : e);
  }
  rename_durably(temp_, path_);
}

void write_file_atomically(const fs::path& path, std::string_view content) {
  atomic_file f(path);
  f.write(content);
  f.commit();
}

void create_directories_durably(const fs::path& dir) {
  if (dir.empty() || fs::is_directory(dir)) return;
  create_directories_durably(dir.parent_path());
  fs::create_directory(dir);
  fsync_directory(dir.parent_path().empty() ? fs::path(".") : dir.parent_path());
}

void copy_file_durably(const fs::path& from, const fs::path& to) {
  const auto temp = to.string() + ".part";
  fs::copy_file(from, temp, fs::copy_options::overwrite_existing);
  fsync_path(temp, O_RDONLY);
  rename_durably(temp, to);
}

void move_file(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) == 0) {
    fsync_directory(to.parent_path());
    fsync_directory(from.parent_path());  // the name is gone from there too
    return;
  }
  if (errno != EXDEV) fail("move " + from.string() + " to", to);
  copy_file_durably(from, to);
  fs::remove(from);  // only now: the copy is durable
  fsync_directory(from.parent_path());
}

}  // namespace batchd::io
