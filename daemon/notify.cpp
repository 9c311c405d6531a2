#include "daemon/notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace batchd::daemon {

notifier::notifier() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path && (path[0] == '/' || path[0] == '@') && std::strlen(path) < sizeof(sockaddr_un::sun_path)) {
    address_ = path;
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  }
  const char* usec = std::getenv("WATCHDOG_USEC");
  const char* pid = std::getenv("WATCHDOG_PID");
  if (usec && (!pid || std::atol(pid) == static_cast<long>(::getpid()))) {
    const long long v = std::atoll(usec);
    if (v > 0) watchdog_ = std::chrono::microseconds(v / 2);
  }
}

notifier::~notifier() {
  if (fd_ >= 0) ::close(fd_);
}

void notifier::send(const std::string& message) const {
  if (fd_ < 0) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, address_.data(), address_.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // an abstract socket
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
  ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
}

}  // namespace batchd::daemon
