#pragma once
// The service manager's notification protocol (sd_notify(3)), without
// libsystemd: newline-separated "NAME=value" assignments sent as one
// datagram to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an
// abstract name written with a leading '@'). systemd reads READY=1 (a
// Type=notify unit has started), RELOADING=1 / READY=1 around a reload,
// STOPPING=1, STATUS=text (`systemctl status`) and WATCHDOG=1 (a keep-alive
// every WatchdogSec, which it passes as $WATCHDOG_USEC and $WATCHDOG_PID).
// Outside systemd (no NOTIFY_SOCKET) every call does nothing.
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "util/unique_fd.hpp"

namespace edgefn {

class ServiceNotifier {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID and removes them
  // from the environment, as sd_notify(unset_environment = 1) and
  // sd_watchdog_enabled(1) do: child processes (Python workers, shell
  // handlers, the handler check) must not talk to the service manager in
  // the daemon's name. Call before any thread or child starts. A socket
  // address that cannot be used (too long, not a path or '@' name) leaves
  // the notifier disabled and says why in problem().
  static ServiceNotifier from_environment();

  ServiceNotifier() = default;

  bool enabled() const noexcept { return static_cast<bool>(fd_); }
  // Half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises, when the
  // watchdog is on for this process (WATCHDOG_PID absent or our pid).
  std::optional<std::chrono::microseconds> watchdog_interval() const noexcept { return watchdog_interval_; }
  // Why NOTIFY_SOCKET was set and not used; empty otherwise.
  const std::string& problem() const noexcept { return problem_; }

  // Sends one datagram, e.g. "READY=1\nSTATUS=serving". Any thread; never
  // blocks (a full socket buffer drops the message, as sd_notify's would
  // fail); errors are ignored, since systemd not listening is no reason to
  // stop serving. Returns whether it was sent.
  bool send(std::string_view message) const noexcept;

 private:
  UniqueFd fd_;
  sockaddr_un address_{};
  socklen_t address_length_ = 0;
  std::optional<std::chrono::microseconds> watchdog_interval_;
  std::string problem_;
};

// "MONOTONIC_USEC=<CLOCK_MONOTONIC in µs>", which systemd 253 and later
// expect beside RELOADING=1 (older ones ignore it).
std::string monotonic_usec_assignment();

}  // namespace edgefn
