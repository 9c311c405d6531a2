#include "spool.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace batchd::jobs {
namespace fs = std::filesystem;

namespace {

void fsync_path(const fs::path& p, int flags) {
  const int fd = ::open(p.c_str(), flags);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + p.string());
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw std::system_error(errno, std::generic_category(), "fsync " + p.string());
}

}  // namespace

void spool::create_all() const {
  for (const auto& d : {inbox, outbox, rejected, state / "jobs"}) fs::create_directories(d);
}

void move_file(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (!ec) {
    fsync_path(to.parent_path(), O_RDONLY | O_DIRECTORY);
    return;
  }
  if (ec != std::errc::cross_device_link) throw fs::filesystem_error("move", from, to, ec);
  const auto temp = to.string() + ".part";
  fs::copy_file(from, temp, fs::copy_options::overwrite_existing);
  fsync_path(temp, O_RDONLY);
  fs::rename(temp, to);
  fsync_path(to.parent_path(), O_RDONLY | O_DIRECTORY);
  fs::remove(from);  // only now: the copy is durable
}

fs::path free_path(const fs::path& dir, const std::string& name) {
  if (!fs::exists(dir / name)) return dir / name;
  const auto dot = name.find('.', 1);
  const auto stem = name.substr(0, dot);
  const auto ext = dot == std::string::npos ? "" : name.substr(dot);
  for (int n = 2;; ++n) {
    auto p = dir / (stem + "-" + std::to_string(n) + ext);
    if (!fs::exists(p)) return p;
  }
}

void write_file_atomically(const fs::path& path, std::string_view content) {
  const auto temp = path.string() + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "create " + temp);
  std::size_t done = 0;
  while (done < content.size()) {
    const auto n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      throw std::system_error(e, std::generic_category(), "write " + temp);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    throw std::system_error(errno, std::generic_category(), "close " + temp);
  fs::rename(temp, path);
}

}  // namespace batchd::jobs
