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

#include "process/credentials.hpp"
#include "util/unique_fd.hpp"

namespace edgefn {

// A descriptor of the daemon's that the child gets as fd `as` (3 or above)
// across exec, such as a shm channel's segment or eventfd.
struct PassedFd {
  int fd;
  int as;
};

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is the path execve() runs
  std::vector<std::string> env;   // "NAME=value"
  std::filesystem::path working_directory;
  std::vector<PassedFd> pass_fds;  // at most kMaxPassedFds; each `as` distinct
  // SIGTERM and SIGINT ignored across exec: for workers that stop when the
  // daemon tells them, so that a signal sent to every process at once (a
  // container runtime, systemd's control-group kill, pkill) reaches only
  // the daemon, which then drains. Handlers run with default signals.
  bool ignore_termination_signals = false;
  // The user the child runs as (--worker-user); none: the daemon's. Taken
  // before anything else runs in the child, so that the working directory
  // and the program must be reachable by that user. Changing users needs
  // root (CAP_SETUID and CAP_SETGID).
  std::optional<Credentials> credentials = std::nullopt;
  // The child's stderr is its stdout pipe: one pipe, so the two arrive
  // interleaved in the order written (Go's CombinedOutput, which Nuclio's
  // shell runtime answers with). Pipes::stderr_read then reads only EOF.
  bool merge_stderr = false;
};

inline constexpr std::size_t kMaxPassedFds = 6;

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
  // errno on failure. The child's PR_SET_PDEATHSIG is tied to the calling
  // thread: use the spawner (spawner.hpp), whose thread lives as long as
  // the daemon, rather than calling this directly.
  static tl::expected<std::shared_ptr<ChildProcess>, std::string> spawn(const SpawnRequest& request, Pipes& pipes);

  // Kills the group and reaps the leader if that has not happened yet
  // (blocking, briefly: SIGKILL cannot be ignored).
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const noexcept { return pid_; }

  // Sends `signal` to the whole process group, unless the leader was
  // reaped. Any thread.
  void signal_group(int signal) noexcept;

  // True once the leader has exited (reaped or not), or was reaped by
  // someone else (ECHILD). Any thread.
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
  // Set once reaped; -1 when something else reaped it (ECHILD): its pid,
  // and so its group id, may already belong to a stranger.
  std::optional<int> status_;
};

// "exit status 3", "signal 9 (Killed)": a wait status for messages.
std::string describe_wait_status(int status);

}  // namespace edgefn
