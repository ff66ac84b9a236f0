#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "util/service_notifier.hpp"
#include "util/unique_fd.hpp"

using namespace edgefn;

namespace {

void set_environment(const char* socket, const char* usec, const char* pid) {
  for (auto [name, value] : {std::pair{"NOTIFY_SOCKET", socket}, {"WATCHDOG_USEC", usec}, {"WATCHDOG_PID", pid}}) {
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
}

bool environment_cleared() {
  return !std::getenv("NOTIFY_SOCKET") && !std::getenv("WATCHDOG_USEC") && !std::getenv("WATCHDOG_PID");
}

}  // namespace

TEST_CASE("without NOTIFY_SOCKET the notifier does nothing, and says nothing") {
  set_environment(nullptr, "200000", nullptr);
  auto notifier = ServiceNotifier::from_environment();
  CHECK_FALSE(notifier.enabled());
  CHECK(notifier.problem().empty());
  CHECK_FALSE(notifier.watchdog_interval());
  CHECK_FALSE(notifier.send("READY=1"));
  CHECK(environment_cleared());
}

TEST_CASE("a NOTIFY_SOCKET that is neither a path nor an abstract name is refused with a reason") {
  const std::string too_long = "/" + std::string(sizeof(sockaddr_un::sun_path), 'x');
  for (const std::string& name : {std::string{"relative/notify.sock"}, std::string{"vsock:2:1234"}, too_long}) {
    set_environment(name.c_str(), "200000", nullptr);
    auto notifier = ServiceNotifier::from_environment();
    CHECK_FALSE(notifier.enabled());
    CHECK_THAT(notifier.problem(), Catch::Contains("NOTIFY_SOCKET"));
    CHECK(environment_cleared());
  }
}

TEST_CASE("the watchdog is on for this process only, at half of WATCHDOG_USEC") {
  const std::string self = std::to_string(::getpid());
  struct Case {
    const char* usec;
    const char* pid;
    long expected_us;  // 0: off
  };
  for (const Case& c : {Case{"200000", nullptr, 100000}, Case{"200000", self.c_str(), 100000},
                        Case{"200000", "1", 0}, Case{"0", nullptr, 0}, Case{"soon", nullptr, 0},
                        Case{nullptr, nullptr, 0}}) {
    set_environment("@edgefn-unit-test", c.usec, c.pid);
    auto notifier = ServiceNotifier::from_environment();
    CHECK(notifier.enabled());
    CHECK(environment_cleared());
    if (c.expected_us == 0)
      CHECK_FALSE(notifier.watchdog_interval());
    else
      CHECK(notifier.watchdog_interval() == std::chrono::microseconds{c.expected_us});
  }
}

TEST_CASE("send delivers one datagram to a socket path") {
  char dir_template[] = "/tmp/edgefn-notify-XXXXXX";
  REQUIRE(::mkdtemp(dir_template));
  const std::filesystem::path dir = dir_template;
  const std::string path = (dir / "notify.sock").string();
  UniqueFd listener{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  path.copy(address.sun_path, sizeof address.sun_path - 1);
  REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);

  set_environment(path.c_str(), nullptr, nullptr);
  auto notifier = ServiceNotifier::from_environment();
  REQUIRE(notifier.enabled());
  CHECK(notifier.send("READY=1\nSTATUS=serving"));
  char buffer[256];
  const ssize_t n = ::recv(listener.get(), buffer, sizeof buffer, MSG_DONTWAIT);
  CHECK(std::string(buffer, n > 0 ? static_cast<std::size_t>(n) : 0) == "READY=1\nSTATUS=serving");
  std::filesystem::remove_all(dir);
}

TEST_CASE("MONOTONIC_USEC is a number of microseconds") {
  const std::string text = monotonic_usec_assignment();
  REQUIRE(text.rfind("MONOTONIC_USEC=", 0) == 0);
  CHECK(std::stoull(text.substr(15)) > 0);
}
