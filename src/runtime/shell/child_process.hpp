#pragma once
// One handler process: forked into a process group of its own, its stdin,
// stdout and stderr on pipes, and (on Linux 5.3+) a pidfd that becomes
// readable when it exits, so the daemon learns of exits without SIGCHLD.
//
// Reaping is the only delicate part. A process group id is the leader's
// pid, which the kernel may reuse once the leader is reaped; signalling
// the group after that could hit a stranger. So the group is only ever
// signalled while the leader is unreaped (a zombie at worst, still holding
// its pid), and reaping first kills whatever is left of the group: nothing
// an event started outlives it, unless it left the group on purpose
// (setsid). Both happen under one mutex, from whichever thread gets there.
#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <tl/expected.hpp>
#include "util/unique_fd.hpp"

namespace edgefn {

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is the path execve() runs
  std::vector<std::string> env;   // "NAME=value"
  std::filesystem::path working_directory;
  // A descriptor of the daemon's the child gets as fd `pass_fd_as` (3 or
  // above) across exec, such as a shm channel's notify eventfd; -1: none.
  int pass_fd = -1;
  int pass_fd_as = -1;
};

class ChildProcess {
 public:
  // The daemon's ends of the pipes (O_NONBLOCK, O_CLOEXEC), and the pidfd
  // (invalid when the kernel has none: poll try_reap() instead). Taken
  // once, by whoever drives the I/O.
  struct Pipes {
    UniqueFd stdin_write;
    UniqueFd stdout_read;
    UniqueFd stderr_read;
    UniqueFd pidfd;
  };

  // Forks and execs. Blocks only until the child has exec'd (or failed
  // to), as posix_spawn() does. Returns a message naming the program and
  // errno on failure. Any thread.
  static tl::expected<std::unique_ptr<ChildProcess>, std::string> spawn(const SpawnRequest& request, Pipes& pipes);

  // Kills the group and reaps the leader if that has not happened yet
  // (blocking, briefly: SIGKILL cannot be ignored).
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const noexcept { return pid_; }

  // Sends `signal` to the whole process group, unless the leader was
  // reaped. Any thread.
  void signal_group(int signal) noexcept;

  // True once the leader has exited (reaped or not). Any thread.
  bool exited() noexcept;

  // If the leader has exited: kills what remains of its group, reaps it
  // and returns its wait status (the same one on every later call).
  // nullopt while it runs. Never blocks. Any thread.
  std::optional<int> try_reap() noexcept;

  // Waits for the leader, then does what try_reap() does. Any thread.
  int reap() noexcept;

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  bool exited_locked() noexcept;
  int reap_locked(bool wait) noexcept;

  const pid_t pid_;
  std::mutex mutex_;
  std::optional<int> status_;  // set once reaped
};

// "exit status 3", "signal 9 (Killed)": a wait status for messages.
std::string describe_wait_status(int status);

}  // namespace edgefn
