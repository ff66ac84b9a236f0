#pragma once
// A real mosquitto for tests: started on a free loopback port with its own
// config and persistence directory, stopped (and restarted on the same
// port, keeping its persistence) by the test. The config keeps every
// message (autosave each second, no queue limit) so tests measure the
// client, not mosquitto's defaults.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>

extern char** environ;

namespace edgefn::test {

// A fresh directory under the system's temp directory, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "edgefn-mqtt-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Runs a command to its end, bounded by `timeout` (coreutils' timeout).
// Its exit status (124 when it timed out).
inline int run_command(const std::string& command, int timeout_seconds = 20) {
  const int status = std::system(("timeout " + std::to_string(timeout_seconds) + " " + command).c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline std::uint16_t free_loopback_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

inline bool port_accepts(std::uint16_t port) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
  return !ec;
}

struct MosquittoOptions {
  std::string extra_config;  // appended to the listener's lines (password_file, TLS files, ...)
  bool allow_anonymous = true;
};

class Mosquitto {
 public:
  using Options = MosquittoOptions;

  explicit Mosquitto(Options options = {}) : options_(std::move(options)) {
    // A free port can be taken between the probe and mosquitto's bind:
    // one retry on a new port.
    for (int attempt = 0; attempt < 2; ++attempt) {
      port_ = free_loopback_port();
      if (start()) return;
    }
    throw std::runtime_error("mosquitto did not start; its log:\n" + log());
  }
  ~Mosquitto() { stop(); }
  Mosquitto(const Mosquitto&) = delete;
  Mosquitto& operator=(const Mosquitto&) = delete;

  std::uint16_t port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

  // SIGTERM (mosquitto saves its persistence file) and waits for the exit.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }

  // Starts again on the same port with the same persistence.
  void restart() {
    stop();
    // The port was ours a moment ago; a retry covers a slow release.
    for (int attempt = 0; attempt < 3; ++attempt)
      if (start()) return;
    throw std::runtime_error("mosquitto did not restart; its log:\n" + log());
  }

  std::string log() const {
    std::ifstream in(dir_.path() / "mosquitto.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  bool start() {
    const auto config = dir_.path() / "mosquitto.conf";
    {
      std::ofstream out(config);
      out << "listener " << port_ << " 127.0.0.1\n"
          << "allow_anonymous " << (options_.allow_anonymous ? "true" : "false") << "\n"
          << "persistence true\n"
          << "persistence_location " << dir_.path().string() << "/\n"
          << "autosave_interval 1\n"
          << "autosave_on_changes true\n"
          << "max_queued_messages 0\n"
          << "log_dest file " << (dir_.path() / "mosquitto.log").string() << "\n"
          << "log_type all\n";
      // As root mosquitto drops to user mosquitto, which cannot write a
      // root-owned persistence directory.
      if (::geteuid() == 0) out << "user root\n";
      out << options_.extra_config;
    }
    std::vector<std::string> args{"/usr/sbin/mosquitto", "-c", config.string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // Its own warnings (running as root) go to a file, not the test's output.
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    const auto out = (dir_.path() / "mosquitto.out").string();
    ::posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const int spawned = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
      pid_ = -1;
      return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: the port was taken
        pid_ = -1;
        return false;
      }
      if (port_accepts(port_)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop();
    return false;
  }

  Options options_;
  TempDir dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace edgefn::test
