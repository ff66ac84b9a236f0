#include "app/health_command.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <ostream>

#include "config/config_error.hpp"
#include "trigger/http/http_settings.hpp"
#include "util/printable.hpp"
#include "util/unique_fd.hpp"

namespace edgefn {
namespace {

using Clock = std::chrono::steady_clock;

// A /ready answer is a line; anything past this is not ours to read.
constexpr std::size_t kMaxAnswer = 64 * 1024;

struct Target {
  sockaddr_storage address{};
  socklen_t length = 0;
  std::string text;  // for messages: "127.0.0.1:8082"
};

bool resolve(const std::string& management_address, Target& target, std::string& error) {
  std::string host;
  std::uint16_t port = 0;
  try {
    parse_listen_address(management_address, "--management-address", host, port);
  } catch (const ConfigError& e) {
    error = e.what();
    return false;
  }
  if (port == 0) {
    error = "--management-address: port 0 is where a daemon picks a free port; give the port it logged";
    return false;
  }
  if (host.empty() || host == "localhost" || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  auto* v4 = reinterpret_cast<sockaddr_in*>(&target.address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&target.address);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    target.length = sizeof *v4;
    target.text = host + ":" + std::to_string(port);
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    target.length = sizeof *v6;
    target.text = "[" + host + "]:" + std::to_string(port);
  } else {
    error = "--management-address: '" + host + "' is not an IP address";
    return false;
  }
  return true;
}

// Waits for `events` on `fd` until `deadline`; false on timeout.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60'000)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;  // the next call reports the error
  }
}

// The exchange itself; fills `answer` with the raw response, or `error`.
bool exchange(const Target& target, const std::string& request, Clock::time_point deadline, std::string& answer,
              std::string& error) {
  UniqueFd fd{::socket(target.address.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  if (!fd) {
    error = std::string{"socket: "} + std::strerror(errno);
    return false;
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&target.address), target.length) != 0) {
    if (errno != EINPROGRESS) {
      error = "cannot connect to " + target.text + ": " + std::strerror(errno);
      return false;
    }
    if (!wait_for(fd.get(), POLLOUT, deadline)) {
      error = "no connection to " + target.text + " within the timeout";
      return false;
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0) {
      error = "cannot connect to " + target.text + ": " + std::strerror(so_error);
      return false;
    }
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd.get(), POLLOUT, deadline)) {
        error = "timed out sending to " + target.text;
        return false;
      }
    } else {
      error = "cannot send to " + target.text + ": " + std::strerror(errno);
      return false;
    }
  }
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (n == 0) return true;  // Connection: close
    if (n > 0) {
      answer.append(buffer, static_cast<std::size_t>(n));
      if (answer.size() > kMaxAnswer) {
        error = target.text + " answered more than " + std::to_string(kMaxAnswer) + " bytes";
        return false;
      }
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait_for(fd.get(), POLLIN, deadline)) {
        error = "no answer from " + target.text + " within the timeout";
        return false;
      }
    } else {
      error = "cannot read from " + target.text + ": " + std::strerror(errno);
      return false;
    }
  }
}

}  // namespace

int run_health_check(const HealthOptions& options, std::ostream& out, std::ostream& err) {
  Target target;
  std::string error;
  if (!resolve(options.management_address, target, error)) {
    err << "health: " << error << "\n";
    return 2;
  }
  const std::string path = options.live ? "/live" : "/ready";
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: " + target.text + "\r\nUser-Agent: processor-health\r\nConnection: close\r\n\r\n";
  std::string answer;
  if (!exchange(target, request, Clock::now() + options.timeout, answer, error)) {
    err << "health: " << printable(error) << "\n";
    return 1;
  }
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  int status = 0;
  if (answer.rfind("HTTP/1.", 0) == 0 && answer.size() >= 12) {
    const std::string code = answer.substr(9, 3);
    if (code.find_first_not_of("0123456789") == std::string::npos) status = std::stoi(code);
  }
  const auto body_at = answer.find("\r\n\r\n");
  std::string body = body_at == std::string::npos ? std::string{} : answer.substr(body_at + 4);
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  if (status == 0) {
    err << "health: " << target.text << " did not answer HTTP\n";
    return 1;
  }
  if (status == 200) {
    out << printable(body.empty() ? std::string{"ok"} : body) << "\n";
    return 0;
  }
  err << "health: GET " << path << " on " << target.text << " answered " << status;
  if (!body.empty()) err << ": " << printable(body);
  err << "\n";
  return 1;
}

}  // namespace edgefn
