#pragma once
// WorkerPool's own records of its workers and of the events it holds,
// shared by worker_pool.cpp (dispatching) and worker_pool_lifecycle.cpp
// (readiness, stopping, status). Nothing outside the pool includes this.
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "worker/worker_pool.hpp"

namespace edgefn {

struct WorkerPool::Worker {
  int id = 0;
  std::unique_ptr<Runtime> runtime;
  bool runs_inline = false;
  std::size_t queue_capacity = 0;  // Runtime::queue_capacity()
  // Guarded by the pool's mutex.
  bool ready = false;
  bool busy = false;       // runs an event
  bool abandoned = false;  // timed out; the runtime has not given it back
  // The event it runs (none for an inline call), and for a queueing
  // runtime the ones queued behind it, in the order they were invoked.
  std::shared_ptr<Request> running;
  std::deque<std::shared_ptr<Request>> queued;
  // An event was handed to this worker and its invoke() has not returned:
  // nothing more is queued here until it has, so that the runtime sees its
  // events in the order the pool gave them (invoke() runs outside the lock).
  bool handing_over = false;
  std::chrono::steady_clock::time_point ready_since;
  std::uint64_t readies = 0;
  std::string last_error;
  std::atomic<std::uint64_t> events{0};
  std::atomic<std::uint64_t> timeouts{0};
};

struct WorkerPool::Request {
  enum class Stage { kNew, kKey, kQueue, kRunning, kDone };

  Request(asio::io_context& io, asio::any_io_executor executor, Event e, DispatchOptions o, Done d)
      : event(std::move(e)),
        options(std::move(o)),
        done(std::move(d)),
        // Tracked: the io_context does not run out of work while an event
        // waits or runs, so a drain lets it finish.
        work(asio::prefer(std::move(executor), asio::execution::outstanding_work.tracked)),
        io_context(io) {}

  Event event;
  DispatchOptions options;
  Done done;
  asio::any_io_executor work;
  asio::io_context& io_context;
  std::atomic<bool> claimed{false};
  // Set only when the pool records allocation waits.
  std::chrono::steady_clock::time_point dispatched_at;
  bool wait_observed = false;
  // Guarded by the pool's mutex, timers included: Asio timers are not
  // thread-safe objects, and every call on them happens under that lock.
  std::uint64_t sequence = 0;  // submission order: an event given back keeps its place
  Stage stage = Stage::kNew;   // kRunning: in a worker's hands, running or queued there
  bool owns_key = false;       // the head of its key: waiting for a worker or running
  std::optional<asio::steady_timer> wait_timer;  // the start deadline
  bool wait_armed = false;
  std::optional<asio::steady_timer> run_timer;  // spec.eventTimeout, from the moment it runs
  std::optional<std::uint64_t> cancel_watch;
  // Orders the timeout's abandon() against the handler finishing: once the
  // worker is released it may hold another event, which abandon() (a
  // process kill) must never hit.
  std::mutex run_mutex;
  bool finished = false;

  asio::steady_timer& timer(std::optional<asio::steady_timer>& slot) {
    if (!slot) slot.emplace(io_context);
    return *slot;
  }
};

inline DispatchError dispatch_error(DispatchError::Code code, std::string detail) {
  return {code, std::move(detail)};
}

}  // namespace edgefn
