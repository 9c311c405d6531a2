#include "daemon/control_socket.hpp"

#include <algorithm>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace batchd::daemon {
namespace {

constexpr int first_passed_fd = 3;  // SD_LISTEN_FDS_START

std::runtime_error failure(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

sockaddr_un address_of(const std::filesystem::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const auto s = path.string();
  if (s.size() >= sizeof addr.sun_path)
    throw std::runtime_error("control socket path " + s + " is longer than " +
                             std::to_string(sizeof addr.sun_path - 1) + " bytes");
  std::memcpy(addr.sun_path, s.c_str(), s.size() + 1);
  return addr;
}

// The socket systemd handed over, if this process is its addressee.
std::optional<int> passed_socket() {
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  if (!pid || !fds || std::atol(pid) != static_cast<long>(::getpid()) || std::atoi(fds) < 1) return std::nullopt;
  // Not inherited by anything this process starts.
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  int type = 0;
  socklen_t len = sizeof type;
  sockaddr_storage addr{};
  socklen_t alen = sizeof addr;
  if (::getsockopt(first_passed_fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM ||
      ::getsockname(first_passed_fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0 || addr.ss_family != AF_UNIX)
    throw std::runtime_error("the socket passed by systemd (fd 3) is not a unix stream socket");
  ::fcntl(first_passed_fd, F_SETFD, FD_CLOEXEC);
  return first_passed_fd;
}

// Removes a socket file nobody listens on; refuses a live or foreign one.
void clear_stale(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // nothing there
  if (!S_ISSOCK(st.st_mode))
    throw std::runtime_error("control socket path " + path.string() + " exists and is not a socket; not touching it");
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) throw failure("socket");
  const auto addr = address_of(path);
  const bool live = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  const int why = errno;
  ::close(probe);
  if (live) throw std::runtime_error("another batchd is listening on " + path.string());
  if (why != ECONNREFUSED && why != ENOENT)
    throw std::runtime_error("cannot tell whether " + path.string() + " is in use: " + std::strerror(why));
  ::unlink(path.c_str());
}

}  // namespace

int open_control_socket(const control_socket_options& opt, bool& from_systemd) {
  if (auto fd = passed_socket()) {
    from_systemd = true;
    return *fd;
  }
  from_systemd = false;
  std::error_code ec;
  std::filesystem::create_directories(opt.path.parent_path(), ec);
  clear_stale(opt.path);
  const auto addr = address_of(opt.path);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw failure("socket");
  // The file is born with the final mode: no moment where it is more open.
  const mode_t old = ::umask(static_cast<mode_t>(~opt.mode & 0777));
  const int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (bound != 0) {
    ::close(fd);
    throw failure("binding the control socket " + opt.path.string());
  }
  struct stat made {};
  if (auto gid = group_id(opt.group)) {
    // Already the group's when the service runs as it (systemd's Group=), where chown is not allowed.
    if ((::stat(opt.path.c_str(), &made) != 0 || made.st_gid != *gid) &&
        ::chown(opt.path.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
      ::close(fd);
      throw failure("giving " + opt.path.string() + " to group " + opt.group);
    }
  } else if (!opt.group.empty()) {
    ::close(fd);
    throw std::runtime_error("control socket group " + opt.group + " does not exist");
  }
  ::chmod(opt.path.c_str(), opt.mode);
  if (::listen(fd, SOMAXCONN) != 0) {
    ::close(fd);
    throw failure("listen on " + opt.path.string());
  }
  return fd;
}

std::optional<gid_t> group_id(const std::string& group) {
  if (group.empty()) return std::nullopt;
  for (std::size_t size = 16384; size <= (1u << 22); size *= 4) {
    std::vector<char> buf(size);
    struct group g {}, *found = nullptr;
    const int rc = getgrnam_r(group.c_str(), &g, buf.data(), buf.size(), &found);
    if (rc == ERANGE) continue;  // a group with very many members
    if (rc != 0 || !found) return std::nullopt;
    return found->gr_gid;
  }
  return std::nullopt;
}

std::optional<peer_credentials> peer_of(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
  peer_credentials peer{cred.pid, cred.uid, cred.gid, {}};
  std::vector<gid_t> groups(64);
  for (int tries = 0; tries < 3; ++tries) {
    socklen_t bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) == 0) {
      groups.resize(bytes / sizeof(gid_t));
      peer.groups = std::move(groups);
      break;
    }
    if (errno != ERANGE) break;  // an old kernel: the primary group alone counts
    groups.resize(bytes / sizeof(gid_t) + 1);
  }
  return peer;
}

bool may_change(const peer_credentials& peer, std::optional<gid_t> group_gid) {
  if (peer.uid == 0 || peer.uid == ::geteuid()) return true;
  if (!group_gid) return false;
  if (peer.gid == *group_gid) return true;
  return std::find(peer.groups.begin(), peer.groups.end(), *group_gid) != peer.groups.end();
}

}  // namespace batchd::daemon
