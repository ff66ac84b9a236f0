#include "util/service_notifier.hpp"

#include <unistd.h>

#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace edgefn {
namespace {

std::string take_environment(const char* name) {
  const char* value = std::getenv(name);
  std::string out = value ? value : "";
  ::unsetenv(name);
  return out;
}

template <typename T>
bool parse_number(std::string_view text, T& value) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && ec == std::errc{} && ptr == text.data() + text.size();
}

}  // namespace

ServiceNotifier ServiceNotifier::from_environment() {
  ServiceNotifier notifier;
  const std::string socket_name = take_environment("NOTIFY_SOCKET");
  const std::string watchdog_usec = take_environment("WATCHDOG_USEC");
  const std::string watchdog_pid = take_environment("WATCHDOG_PID");
  if (socket_name.empty()) return notifier;

  sockaddr_un& address = notifier.address_;
  address.sun_family = AF_UNIX;
  if (socket_name.front() != '/' && socket_name.front() != '@') {
    // systemd 254 also takes "vsock:CID:PORT", for a service manager
    // outside a VM; nothing here runs that way.
    notifier.problem_ = "NOTIFY_SOCKET '" + socket_name + "' is neither a path nor an abstract '@' name";
    return notifier;
  }
  if (socket_name.size() >= sizeof address.sun_path) {
    notifier.problem_ = "NOTIFY_SOCKET '" + socket_name + "' is longer than a socket address can be";
    return notifier;
  }
  std::memcpy(address.sun_path, socket_name.data(), socket_name.size());
  // An abstract name starts with a NUL byte and has no terminator: its
  // length is the address length.
  if (socket_name.front() == '@') address.sun_path[0] = '\0';
  notifier.address_length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_name.size());

  notifier.fd_ = UniqueFd{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  if (!notifier.fd_) {
    notifier.problem_ = std::string{"cannot create a socket for NOTIFY_SOCKET: "} + std::strerror(errno);
    return notifier;
  }

  std::uint64_t usec = 0;
  if (parse_number(watchdog_usec, usec) && usec > 0) {
    long pid = 0;
    // WATCHDOG_PID names the process the watchdog is for: a child that
    // inherited the variables from a parent which did not clear them is not.
    if (watchdog_pid.empty() || (parse_number(watchdog_pid, pid) && pid == ::getpid()))
      notifier.watchdog_interval_ = std::chrono::microseconds{usec / 2};
  }
  return notifier;
}

bool ServiceNotifier::send(std::string_view message) const noexcept {
  if (!fd_) return false;
  const auto* address = reinterpret_cast<const sockaddr*>(&address_);
  const ssize_t sent = ::sendto(fd_.get(), message.data(), message.size(), MSG_NOSIGNAL, address, address_length_);
  return sent == static_cast<ssize_t>(message.size());
}

std::string monotonic_usec_assignment() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<std::uint64_t>(now.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
  return "MONOTONIC_USEC=" + std::to_string(usec);
}

}  // namespace edgefn
