#pragma once
// WorkerPool: a fixed set of worker slots, each owning one Runtime, shared by
// the triggers that name it. Triggers call dispatch() from a coroutine on an
// I/O thread; it waits for a free worker (bounded), runs the event, and
// yields a Response or a DispatchError.
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/runtime.hpp"
#include "util/asio.hpp"

namespace edgefn {

struct PoolSettings {
  std::string name;  // trigger name or workerAllocatorName
  std::optional<std::chrono::nanoseconds> event_timeout;
};

struct WorkerStatus {
  int id;
  std::string state;  // "idle", "busy", "abandoned" (timed out, still running), "dead"
  std::uint64_t events;
  std::uint64_t timeouts;
};

struct PoolStatus {
  std::string name;
  int size;
  int busy;
  std::size_t waiting;
  std::vector<WorkerStatus> workers;
};

class WorkerPool {
 public:
  // `io` runs the completions and timers. Runtimes are not started yet.
  WorkerPool(asio::io_context& io, PoolSettings settings, std::vector<std::unique_ptr<Runtime>> runtimes);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts every runtime. Start-up thread; throws StartError.
  void start();

  // Runs `event` on a free worker. Waits at most `availability_timeout` for
  // one (0 = fail at once with kOverloaded). Any I/O thread. Never throws.
  awaitable<InvokeResult> dispatch(Event event, std::chrono::milliseconds availability_timeout);

  // Fails current and later waiters with kStopping, then stops every runtime
  // (each bounded by `per_worker_timeout`). Start-up thread; noexcept.
  void stop(std::chrono::milliseconds per_worker_timeout) noexcept;

  const std::string& name() const noexcept { return settings_.name; }
  int size() const noexcept { return static_cast<int>(workers_.size()); }
  int busy() const noexcept;
  int live_workers() const noexcept;  // alive and not stuck on an abandoned event
  bool started() const noexcept { return started_.load(std::memory_order_acquire); }
  PoolStatus status() const;

 private:
  struct Worker;
  struct Waiter;
  using AcquireResult = tl::expected<Worker*, DispatchError>;

  Worker* try_acquire() noexcept;
  void release(Worker* worker) noexcept;
  awaitable<AcquireResult> wait_for_worker(std::chrono::milliseconds timeout);
  awaitable<InvokeResult> run_async(Worker* worker, Event event);

  asio::io_context& io_;
  PoolSettings settings_;
  std::vector<std::unique_ptr<Worker>> workers_;
  mutable std::mutex mutex_;
  std::vector<Worker*> free_;  // LIFO: the most recently used worker is warm
  std::deque<std::shared_ptr<Waiter>> waiters_;
  bool stopping_ = false;
  std::atomic<bool> started_{false};
};

}  // namespace edgefn
