#pragma once
// One daemon per state directory: <state>/batchd.lock is held (flock) for
// the daemon's whole life, and names its pid. Two daemons on one state
// would both upload, create and book.
#include <filesystem>

namespace batchd::daemon {

class state_lock {
 public:
  // Takes the lock, creating the state directory if needed. Throws
  // std::runtime_error naming the holder's pid if another daemon has it.
  explicit state_lock(const std::filesystem::path& state);
  ~state_lock();
  state_lock(const state_lock&) = delete;
  state_lock& operator=(const state_lock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace batchd::daemon
