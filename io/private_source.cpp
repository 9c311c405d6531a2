#include "io/private_source.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <system_error>

#include "io/atomic_file.hpp"

namespace batchd::io {
namespace fs = std::filesystem;

namespace {

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

bool unchanged(const struct stat& a, const struct stat& b) {
  return same_file(a, b) && a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
         a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

// "flags:\t0100002" in /proc/PID/fdinfo/FD: opened for writing?
bool writes(const fs::path& fdinfo) {
  std::ifstream in(fdinfo);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("flags:", 0) == 0) return (std::strtol(line.c_str() + 6, nullptr, 8) & O_ACCMODE) != O_RDONLY;
  return false;
}

}  // namespace

bool open_for_writing(const struct stat& st) {
  std::error_code ec;
  for (const auto& proc : fs::directory_iterator("/proc", ec)) {
    const auto pid = proc.path().filename().string();
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code denied;  // not ours to look at, or gone: skip it
    for (const auto& fd : fs::directory_iterator(proc.path() / "fd", denied)) {
      struct stat target {};
      if (::stat(fd.path().c_str(), &target) != 0 || !same_file(target, st)) continue;
      if (writes(proc.path() / "fdinfo" / fd.path().filename())) return true;
    }
  }
  return false;
}

bool take_private(const fs::path& from, const fs::path& to, const struct stat& st) {
  if (st.st_nlink <= 1) {
    move_file(from, to);
    return true;
  }
  copy_file_durably(from, to);
  struct stat after {};
  if (::lstat(from.c_str(), &after) != 0 || !unchanged(st, after)) {
    fs::remove(to);  // changed while copied: the copy may be torn
    return false;
  }
  fs::remove(from);  // the user's other names keep the bytes; this one was a drop into inbox/
  fsync_directory(from.parent_path());
  return true;
}

}  // namespace batchd::io
