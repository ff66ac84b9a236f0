#include "process/exit_watcher.hpp"

#include <algorithm>
#include <chrono>
#include <optional>

namespace edgefn {
namespace {

using namespace std::chrono_literals;
using Descriptor = asio::posix::stream_descriptor;

constexpr auto kPollFirst = 2ms;
constexpr auto kPollMax = 50ms;

}  // namespace

// Shared with the pending waits, which may complete (cancelled) after the
// watcher is gone.
struct ExitWatcher::State : std::enable_shared_from_this<State> {
  State(asio::any_io_executor executor, std::shared_ptr<ChildProcess> c, UniqueFunction<void(int)> callback)
      : child(std::move(c)), on_exit(std::move(callback)), poll(executor) {}

  std::shared_ptr<ChildProcess> child;
  UniqueFunction<void(int)> on_exit;
  std::optional<Descriptor> pidfd;
  asio::steady_timer poll;
  bool done = false;

  void watch_pidfd() {
    pidfd->async_wait(Descriptor::wait_read, [self = shared_from_this()](error_code ec) {
      if (self->done || ec == asio::error::operation_aborted) return;
      if (ec) {
        // A pidfd the reactor cannot wait on: fall back to polling.
        self->pidfd.reset();
        return self->poll_exit(kPollFirst);
      }
      if (!self->reap_if_exited()) self->watch_pidfd();
    });
    // Asio registers descriptors edge-triggered and its waits do not look
    // before they sleep: an exit between registering the pidfd and queueing
    // this wait would never be reported. Look once it is queued.
    reap_if_exited();
  }

  void poll_exit(std::chrono::milliseconds interval) {
    if (reap_if_exited()) return;
    poll.expires_after(interval);
    poll.async_wait([self = shared_from_this(), interval](error_code ec) {
      if (ec || self->done) return;
      self->poll_exit(std::min<std::chrono::milliseconds>(interval * 2, kPollMax));
    });
  }

  bool reap_if_exited() {
    if (done) return true;
    auto status = child->try_reap();
    if (!status) return false;
    finish();
    auto callback = std::move(on_exit);
    callback(*status);
    return true;
  }

  void finish() {
    done = true;
    error_code ignored;
    if (pidfd) pidfd->close(ignored);
    poll.cancel();
  }
};

ExitWatcher::ExitWatcher(asio::any_io_executor executor, std::shared_ptr<ChildProcess> child, UniqueFd pidfd,
                         UniqueFunction<void(int)> on_exit)
    : state_(std::make_shared<State>(executor, std::move(child), std::move(on_exit))) {
  if (pidfd) state_->pidfd.emplace(executor, pidfd.release());
  // Never inside the constructor: the owner has not stored the watcher yet.
  asio::post(executor, [state = state_] {
    if (state->done) return;
    if (state->pidfd)
      state->watch_pidfd();
    else
      state->poll_exit(kPollFirst);
  });
}

ExitWatcher::~ExitWatcher() {
  if (!state_->done) state_->finish();
}

bool ExitWatcher::exited() const noexcept { return state_->done && !state_->on_exit; }

}  // namespace edgefn
