#pragma once
// systemd's notify protocol, without libsystemd: datagrams to $NOTIFY_SOCKET
// (READY=1, STATUS=…, STOPPING=1, RELOADING=1, WATCHDOG=1). A no-op when the
// variable is unset, so the daemon runs the same outside systemd.
#include <chrono>
#include <optional>
#include <string>

namespace batchd::daemon {

class notifier {
 public:
  // Reads $NOTIFY_SOCKET and $WATCHDOG_USEC (with $WATCHDOG_PID, if set, naming us).
  notifier();
  ~notifier();
  notifier(const notifier&) = delete;
  notifier& operator=(const notifier&) = delete;

  bool enabled() const { return fd_ >= 0; }
  // Sends one message such as "READY=1\nSTATUS=…"; errors are ignored (systemd may be gone).
  void send(const std::string& message) const;
  // How often to send WATCHDOG=1: half the configured timeout, if any.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }

 private:
  int fd_ = -1;
  std::string address_;
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace batchd::daemon
