#include "daemon/state_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

namespace batchd::daemon {

state_lock::state_lock(const std::filesystem::path& state) {
  std::filesystem::create_directories(state);
  const auto file = state / "batchd.lock";
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "open " + file.string());
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    char pid[32] = {};
    const auto n = ::pread(fd_, pid, sizeof pid - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (e != EWOULDBLOCK) throw std::system_error(e, std::generic_category(), "lock " + file.string());
    std::string holder(pid, n > 0 ? static_cast<std::size_t>(n) : 0);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
    throw std::runtime_error("another batchd (pid " + (holder.empty() ? std::string("unknown") : holder) +
                             ") is using the state directory " + state.string() + "; stop it first");
  }
  const auto me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size()))
    throw std::system_error(errno, std::generic_category(), "write " + file.string());
}

state_lock::~state_lock() {
  if (fd_ >= 0) ::close(fd_);  // the lock goes with the descriptor
}

}  // namespace batchd::daemon
