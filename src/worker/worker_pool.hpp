#pragma once
// WorkerPool: a fixed set of workers (spec.triggers.*.numWorkers), each
// owning one Runtime, shared by the triggers that name it
// (workerAllocatorName). It implements the dispatch contract
// (dispatch.hpp): events go only to ready workers, wait for one up to
// their start deadline, keep the order of their ordering key, can be
// cancelled until they start, and are bounded by spec.eventTimeout once
// they run. Every Response leaves the pool with a valid final HTTP status
// (200-599): anything else a handler answers becomes a 500.
//
// Queueing in a worker: when every worker is busy, a worker whose runtime
// can hold events behind the running one (Runtime::queue_capacity, a
// Python worker's ring) is given the next waiting event, so that it finds
// it the moment it answers instead of waiting for the daemon's hand-off.
// Only the head of an ordering key is queued, so never behind an event of
// its own key. Its eventTimeout starts when the event before it is
// answered; from then on it is "running". A worker that times out or dies
// gives the events queued in it back to the pool, which runs them
// elsewhere in their order; their clients hear nothing of it. Once queued,
// an event can no longer be cancelled (its ring holds it) and no longer
// moves to a worker that frees up meanwhile: the capacity is kept at one.
//
// Threads: dispatch(), cancellation and the runtimes' callbacks may come
// from any thread; one mutex guards the pool's state and is never held
// while a runtime or a completion runs. Completions resume their waiter on
// its own executor.
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <spdlog/logger.h>

#include "metrics/metrics.hpp"
#include "runtime/runtime.hpp"
#include "util/asio.hpp"
#include "util/unique_function.hpp"
#include "worker/dispatch.hpp"

namespace edgefn {

struct PoolSettings {
  std::string name;  // trigger name or workerAllocatorName
  std::optional<std::chrono::nanoseconds> event_timeout;
  // edgefn_worker_allocation_wait_seconds{pool}: from dispatch() to the
  // event's start on a worker, once per event. Null: not recorded.
  Histogram* allocation_wait = nullptr;
};

struct WorkerStatus {
  int id;
  // "starting" (not ready yet, or again), "idle", "busy", "abandoned"
  // (timed out, still running: a native handler cannot be interrupted)
  std::string state;
  std::string detail;  // the runtime's own account (Runtime::describe)
  std::uint64_t events;
  std::uint64_t timeouts;
  std::size_t queued;  // events queued behind the running one (Runtime::queue_capacity)
  std::optional<int> pid;  // the worker's process now; none for in-process runtimes
  // Since the worker last became ready; none while it is not ready.
  std::optional<std::chrono::steady_clock::duration> uptime;
  std::uint64_t restarts;  // times it became ready again after it was ready
  std::string last_error;  // the last event it gave no answer to (crash, timeout); empty: none
};

struct PoolStatus {
  std::string name;
  int size;
  int ready;  // workers that can take an event (idle or busy)
  int busy;
  std::size_t waiting;  // events waiting for a worker, for their key, or queued in a busy worker
  std::vector<WorkerStatus> workers;
};

class WorkerPool final : public Dispatcher {
 public:
  // `io` runs timers and completions. Runtimes are not started yet.
  WorkerPool(asio::io_context& io, PoolSettings settings, std::vector<std::unique_ptr<Runtime>> runtimes);
  // Must not be destroyed before stop()'s `done` has run (when started).
  ~WorkerPool() override;
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts every runtime. Start-up thread; throws StartError.
  void start();

  // Runs `event` as `options` say; `done` runs once on the io_context (or
  // on the associated executor of the awaiting coroutine), never inside
  // this call. Any thread; never throws.
  void dispatch(Event event, DispatchOptions options, Done done) noexcept override;
  // The same for a coroutine. An inline native handler runs on the calling
  // thread and its result returns without a hop.
  awaitable<DispatchResult> dispatch(Event event, DispatchOptions options) override;
  std::optional<DispatchResult> try_run_inline(Event& event, const DispatchOptions& options) noexcept override;

  // Calls `fn` on the io_context once at least one worker is ready (soon,
  // if one is now). Stream triggers consume only from then on. Any thread.
  void when_ready(UniqueFunction<void()> fn) override;

  // The processor drains: runtimes stop replacing processes that end and
  // run the handlers' drain callbacks. Queued events are still served. Any
  // thread; returns at once.
  void drain() noexcept;

  // Every runtime runs its handler's drain callback, and that is all: the
  // pool goes on as before (a rebalance, not a drain). Any thread.
  void run_drain_callbacks() noexcept override;

  // Fails waiting events with kStopping and stops every runtime at once,
  // each bounded by `per_worker_timeout`; `done` runs on the io_context
  // when all have stopped. Any thread; returns at once; once.
  void stop(std::chrono::milliseconds per_worker_timeout, UniqueFunction<void()> done) noexcept;

  const std::string& name() const noexcept override { return settings_.name; }
  int size() const noexcept override { return static_cast<int>(workers_.size()); }
  int ready_workers() const noexcept override;
  int busy() const noexcept;
  std::size_t waiting() const noexcept;  // events not started yet: PoolStatus::waiting
  PoolStatus status() const;
  // After stop(): handlers left running on threads that could not be
  // stopped (Runtime::left_running).
  int left_running() const noexcept;

 private:
  struct Worker;
  struct Request;
  struct KeyState {
    bool active = false;  // a request of this key is waiting for a worker or running
    std::deque<std::shared_ptr<Request>> waiting;
  };
  struct Start {
    Worker* worker;
    std::shared_ptr<Request> request;
    bool queued;  // behind the worker's running event
  };
  // Work decided under the lock, done after it.
  struct Actions {
    std::vector<Start> starts;
    std::vector<std::pair<std::shared_ptr<Request>, DispatchError>> failures;
    std::vector<UniqueFunction<void()>> ready_calls;
  };

  void submit(std::shared_ptr<Request> request) noexcept;
  void enqueue_locked(const std::shared_ptr<Request>& request, Actions& actions);
  void schedule_locked(Actions& actions);
  bool assign_locked(const std::shared_ptr<Request>& request, Actions& actions);
  void requeue_locked(const std::shared_ptr<Request>& request);
  void arm_run_timer_locked(Worker* worker, const std::shared_ptr<Request>& request);
  void remove_waiting_locked(const std::shared_ptr<Request>& request) noexcept;
  void release_key_locked(const std::shared_ptr<Request>& request, Actions& actions);
  void arm_waiting(const std::shared_ptr<Request>& request);
  void expire(const std::shared_ptr<Request>& request, DispatchError::Code code, const char* detail) noexcept;
  void run(Actions actions) noexcept;
  void start_event(Worker* worker, std::shared_ptr<Request> request, bool queued) noexcept;
  void finished(Worker* worker, const std::shared_ptr<Request>& request, InvokeResult result) noexcept;
  void on_readiness(Worker* worker, bool ready) noexcept;
  void complete(const std::shared_ptr<Request>& request, DispatchResult result) noexcept;
  std::size_t waiting_locked() const noexcept;
  DispatchResult checked(InvokeResult result, const Event* event) noexcept;

  asio::io_context& io_;
  PoolSettings settings_;
  std::shared_ptr<spdlog::logger> logger_;
  std::vector<std::unique_ptr<Worker>> workers_;

  mutable std::mutex mutex_;
  std::vector<Worker*> idle_;  // LIFO: the most recently used worker is warm
  std::deque<std::shared_ptr<Request>> queue_;  // waiting for a worker, in order
  std::unordered_map<std::string, KeyState> keys_;
  std::vector<UniqueFunction<void()>> ready_waiters_;
  std::size_t key_waiting_ = 0;  // requests in some KeyState::waiting
  std::uint64_t next_sequence_ = 0;
  int ready_count_ = 0;
  bool stopping_ = false;
  bool started_ = false;
};

}  // namespace edgefn
