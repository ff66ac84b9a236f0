#pragma once
// Learns when a child process exits, without SIGCHLD (which would belong to
// the whole daemon): its pidfd becomes readable (Linux 5.3+) and the
// reactor reports it; where the kernel has none, a timer polls, 2 ms at
// first and backing off to 50 ms. Used for every child the daemon starts.
#include <memory>

#include "process/child_process.hpp"
#include "util/asio.hpp"
#include "util/unique_fd.hpp"
#include "util/unique_function.hpp"

namespace edgefn {

class ExitWatcher {
 public:
  // `on_exit` runs once on `executor` (a strand), never inside this
  // constructor, with the wait status, after the leader was reaped (and
  // what was left of its group killed, see ChildProcess::try_reap).
  // `pidfd` may be invalid. Any thread; throws only std::bad_alloc and Asio's errors for a
  // descriptor it cannot register.
  ExitWatcher(asio::any_io_executor executor, std::shared_ptr<ChildProcess> child, UniqueFd pidfd,
              UniqueFunction<void(int status)> on_exit);
  // Stops watching; `on_exit` is then never called. The child is not
  // touched (its owner kills and reaps it). Call on the executor.
  ~ExitWatcher();
  ExitWatcher(const ExitWatcher&) = delete;
  ExitWatcher& operator=(const ExitWatcher&) = delete;

  // True once `on_exit` has run.
  bool exited() const noexcept;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace edgefn
