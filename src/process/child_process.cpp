#include "process/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace edgefn {
namespace {

// Where the child was when it failed, sent to the parent with errno.
enum class Stage : int { kChdir = 1, kExec = 2, kPassFd = 3, kCredentials = 4 };

struct Report {
  Stage stage;
  int error;
};

// Pipe ends land at fd 3 or above so that the dup2() calls in the child
// onto 0, 1 and 2 can never clobber one another, even when the daemon was
// started with its own stdio closed.
int lift_above_stdio(int fd) {
  if (fd > 2) return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}

bool make_pipe(UniqueFd& read_end, UniqueFd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  read_end = UniqueFd(lift_above_stdio(fds[0]));
  write_end = UniqueFd(lift_above_stdio(fds[1]));
  return read_end && write_end;
}

bool set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  // Called directly: the glibc wrapper is only in 2.36+, and an older
  // kernel answers ENOSYS, which the caller handles by polling.
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

// Everything the child touches, prepared before vfork(): between vfork() and
// execve() a child of a threaded process may only make async-signal-safe
// calls, so nothing here allocates.
struct ChildPlan {
  char* const* argv;
  char* const* envp;
  const char* directory;
  int stdin_read, stdout_write, stderr_write, report_write;
  PassedFd pass[kMaxPassedFds];
  std::size_t pass_count;
  bool ignore_termination_signals;
  bool change_credentials;
  uid_t uid;
  gid_t gid;
  const gid_t* groups;
  std::size_t group_count;
  pid_t parent;
  int fallback_max_fd;
};

[[noreturn]] void fail_child(const ChildPlan& plan, Stage stage) {
  Report r{stage, errno};
  [[maybe_unused]] auto n = ::write(plan.report_write, &r, sizeof r);
  ::_exit(127);
}

[[noreturn]] void run_child(const ChildPlan& plan) {
  // Its own group first, so that no process of this event can start
  // outside the group the daemon kills.
  ::setpgid(0, 0);
  if (plan.change_credentials) {
    // System calls rather than glibc's setgroups/setgid/setuid: in a
    // threaded process those make every thread change its credentials
    // (POSIX wants them per process), and this child shares the daemon's
    // memory, thread list included, until execve(): they would signal the
    // daemon's threads. The kernel changes only this task. Groups first:
    // dropping the uid first would take the right to change them.
    if (::syscall(SYS_setgroups, plan.group_count, plan.groups) != 0 ||
        ::syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0 ||
        ::syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0)
      fail_child(plan, Stage::kCredentials);
  }
  // After the credential change, which clears the parent-death signal.
  // Dies with the daemon, even on SIGKILL. This is why the child is made
  // with vfork() rather than posix_spawn(), which has no such attribute. It
  // covers the leader only: grandchildren of a SIGKILLed daemon are left
  // to init, as nothing short of a cgroup could reach them. (The "parent"
  // is the forking thread; the daemon's I/O threads live until after the
  // pools have stopped.)
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != plan.parent) ::_exit(127);  // the daemon died before prctl()

  ::dup2(plan.stdin_read, STDIN_FILENO);
  ::dup2(plan.stdout_write, STDOUT_FILENO);
  ::dup2(plan.stderr_write, STDERR_FILENO);
  // Asio opens sockets without O_CLOEXEC; a handler must not inherit the
  // daemon's listening socket or its clients' connections.
  bool marked = false;
#ifdef SYS_close_range
  constexpr unsigned kCloseRangeCloexec = 1u << 2;  // CLOSE_RANGE_CLOEXEC, Linux 5.11
  marked = ::syscall(SYS_close_range, 3u, ~0u, kCloseRangeCloexec) == 0;
#endif
  if (!marked)
    for (int fd = 3; fd < plan.fallback_max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);

  ChildPlan adjusted = plan;
  if (plan.pass_count > 0) {
    // Lift every descriptor to pass, and the report pipe, above all the
    // targets first: a straight dup2() of one onto its target could
    // clobber another that still sits there.
    int above = 3;
    for (std::size_t i = 0; i < plan.pass_count; ++i) above = std::max(above, plan.pass[i].as + 1);
    adjusted.report_write = ::fcntl(plan.report_write, F_DUPFD_CLOEXEC, above);
    if (adjusted.report_write < 0) ::_exit(127);
    for (std::size_t i = 0; i < plan.pass_count; ++i) {
      adjusted.pass[i].fd = ::fcntl(plan.pass[i].fd, F_DUPFD_CLOEXEC, above);
      if (adjusted.pass[i].fd < 0) fail_child(adjusted, Stage::kPassFd);
    }
    for (std::size_t i = 0; i < plan.pass_count; ++i)
      if (inherit_fd(adjusted.pass[i].fd, plan.pass[i].as) != 0) fail_child(adjusted, Stage::kPassFd);
  }

  // Ignored signals survive execve(): the daemon ignores SIGPIPE, and a
  // handler in a pipeline must not. A worker that the daemon stops itself
  // ignores SIGTERM and SIGINT from the very start of its interpreter.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    const bool ignore = plan.ignore_termination_signals && (sig == SIGTERM || sig == SIGINT);
    ::sigaction(sig, ignore ? &ign : &dfl, nullptr);
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  if (adjusted.directory[0] != '\0' && ::chdir(adjusted.directory) != 0) fail_child(adjusted, Stage::kChdir);
  ::execve(adjusted.argv[0], adjusted.argv, adjusted.envp);
  fail_child(adjusted, Stage::kExec);
}

// vfork() rather than fork(): the child borrows the daemon's address space
// until execve() instead of copying its page tables, which halves the cost
// of a shell event (measured in bench/cron), and can still set
// PR_SET_PDEATHSIG, which posix_spawn() cannot. It is what glibc's
// posix_spawn() does inside: run_child() makes only async-signal-safe calls
// on its own stack frame, never returns, and writes no shared state but
// errno. Signals stay blocked across vfork() so that no handler of the
// daemon runs in the child before run_child() resets them to defaults and
// unblocks them. A function of its own so that nothing in spawn() is live
// across the returns-twice call (-Wclobbered).
pid_t start_child(const ChildPlan& plan) {
  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = ::vfork();
  if (pid == 0) run_child(plan);
  const int saved = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return pid;
}

std::string error_text(int error) { return std::strerror(error); }

}  // namespace

tl::expected<std::shared_ptr<ChildProcess>, std::string> ChildProcess::spawn(const SpawnRequest& request, Pipes& pipes) {
  if (request.argv.empty()) return tl::make_unexpected(std::string("nothing to run"));
  if (request.pass_fds.size() > kMaxPassedFds) return tl::make_unexpected(std::string("too many descriptors to pass"));
  std::vector<char*> argv;
  for (const auto& a : request.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : request.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const std::string directory = request.working_directory.string();

  UniqueFd stdin_read, stdin_write, stdout_read, stdout_write, stderr_read, stderr_write, report_read, report_write;
  if (!make_pipe(stdin_read, stdin_write) || !make_pipe(stdout_read, stdout_write) ||
      !make_pipe(stderr_read, stderr_write) || !make_pipe(report_read, report_write))
    return tl::make_unexpected("cannot create pipes for " + request.argv[0] + ": " + error_text(errno));

  rlimit limit{};
  int max_fd = 1024;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    max_fd = static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 65536));
  ChildPlan plan{};
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.directory = directory.c_str();
  plan.stdin_read = stdin_read.get();
  plan.stdout_write = stdout_write.get();
  plan.stderr_write = request.merge_stderr ? stdout_write.get() : stderr_write.get();
  plan.report_write = report_write.get();
  plan.pass_count = request.pass_fds.size();
  std::copy(request.pass_fds.begin(), request.pass_fds.end(), plan.pass);
  plan.ignore_termination_signals = request.ignore_termination_signals;
  if (request.credentials) {
    plan.change_credentials = true;
    plan.uid = request.credentials->uid;
    plan.gid = request.credentials->gid;
    plan.groups = request.credentials->groups.data();
    plan.group_count = request.credentials->groups.size();
  }
  plan.parent = ::getpid();
  plan.fallback_max_fd = max_fd;

  const pid_t pid = start_child(plan);
  if (pid < 0) return tl::make_unexpected("cannot start " + request.argv[0] + ": vfork: " + error_text(errno));

  // Also from this side, so the group exists before spawn() returns and
  // anyone signals it (EACCES once the child has exec'd is harmless).
  ::setpgid(pid, pid);
  stdin_read = {};
  stdout_write = {};
  stderr_write = {};
  report_write = {};

  std::shared_ptr<ChildProcess> child(new ChildProcess(pid));
  Report report{};
  ssize_t n;
  do {
    n = ::read(report_read.get(), &report, sizeof report);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof report)) {
    child->reap();
    if (report.stage == Stage::kPassFd)
      return tl::make_unexpected("cannot pass descriptors to " + request.argv[0] + ": " + error_text(report.error));
    const std::string as =
        request.credentials ? " as user " + describe(*request.credentials) + " (--worker-user)" : std::string{};
    if (report.stage == Stage::kCredentials)
      return tl::make_unexpected("cannot run " + request.argv[0] + as + ": " + error_text(report.error));
    const char* what = report.stage == Stage::kChdir ? "cannot enter " : "cannot execute ";
    const std::string& target = report.stage == Stage::kChdir ? directory : request.argv[0];
    return tl::make_unexpected(what + target + as + ": " + error_text(report.error));
  }

  if (!set_nonblocking(stdin_write.get()) || !set_nonblocking(stdout_read.get()) || !set_nonblocking(stderr_read.get()))
    return tl::make_unexpected("cannot set up pipes for " + request.argv[0] + ": " + error_text(errno));
  pipes.stdin_write = std::move(stdin_write);
  pipes.stdout_read = std::move(stdout_read);
  pipes.stderr_read = std::move(stderr_read);
  pipes.pidfd = UniqueFd(open_pidfd(pid));
  return child;
}

ChildProcess::~ChildProcess() {
  signal_group(SIGKILL);
  reap();
}

void ChildProcess::signal_group(int signal) noexcept {
  std::lock_guard lock(mutex_);
  if (!status_) ::kill(-pid_, signal);
}

bool ChildProcess::exited_locked() noexcept {
  if (status_) return true;
  siginfo_t info{};
  // WNOWAIT leaves the zombie, and with it the pid and the group id, in place.
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    if (errno != ECHILD) return false;
    // Reaped by something else (SIGCHLD set to SIG_IGN, a waitpid(-1)):
    // the status is lost, and the group must never be signalled again.
    status_ = -1;
    return true;
  }
  return info.si_pid != 0;
}

bool ChildProcess::exited() noexcept {
  std::lock_guard lock(mutex_);
  return exited_locked();
}

int ChildProcess::reap_locked(bool wait) noexcept {
  if (status_) return *status_;
  if (wait) {
    siginfo_t info{};
    int rc;
    while ((rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT)) != 0 && errno == EINTR) {
    }
    if (rc != 0 && errno == ECHILD) return *(status_ = -1);
  }
  ::kill(-pid_, SIGKILL);
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  // ECHILD: something else in the process reaped it (SIGCHLD set to
  // SIG_IGN, or a waitpid(-1)); the status is lost.
  status_ = r == pid_ ? status : -1;
  return *status_;
}

std::optional<int> ChildProcess::try_reap() noexcept {
  std::lock_guard lock(mutex_);
  if (!exited_locked()) return std::nullopt;
  return reap_locked(false);
}

int ChildProcess::reap() noexcept {
  std::lock_guard lock(mutex_);
  return reap_locked(true);
}

std::string describe_wait_status(int status) {
  if (status == -1) return "an unknown status (reaped elsewhere)";
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    return "signal " + std::to_string(WTERMSIG(status)) + (name ? std::string(" (SIG") + name + ")" : std::string{});
  }
  return "wait status " + std::to_string(status);
}

}  // namespace edgefn
