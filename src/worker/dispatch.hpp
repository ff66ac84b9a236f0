#pragma once
// The dispatch contract every trigger uses (WorkerPool implements it): what
// a trigger asks for when it hands an event over, and why an event may get
// no answer from the handler.
//
// - A start deadline: how long the event may wait for a worker. HTTP and
//   cron use workerAvailabilityTimeoutMilliseconds (past it: kOverloaded,
//   503); a stream trigger waits as long as it takes and bounds its own
//   events in flight instead, pausing its source (it never answers 503).
// - An ordering key: events with the same non-empty key run one at a time,
//   in the order dispatch() was called (a Kafka partition, an MQTT topic),
//   while other keys run in parallel on the other workers.
// - Cancellation: a CancelScope fails the events of a scope that have not
//   started yet (a Kafka partition revoked in a rebalance); events already
//   in a handler finish.
// - spec.eventTimeout is the pool's: a handler that runs past it is
//   answered kTimedOut (408, as Nuclio; the HTTP trigger may be set to
//   answer 504) and its worker is replaced.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <tl/expected.hpp>

#include "event/event.hpp"
#include "util/asio.hpp"
#include "util/unique_function.hpp"

namespace edgefn {

// Why an event got no answer from the handler. Kept apart from handler
// errors, which are Responses (the handler said no).
struct DispatchError {
  enum class Code {
    kOverloaded,  // no worker became free before the start deadline -> 503
    kTimedOut,    // spec.eventTimeout exceeded -> 408
    kCrashed,     // the worker died holding the event -> 500
    kStopping,    // the processor is shutting down -> 503
    kCancelled,   // its CancelScope was cancelled before it started
  };
  static constexpr std::size_t kCodes = 5;
  Code code;
  std::string detail;  // for logs, and for 500 bodies in --dev mode
  int worker = -1;     // the worker that held the event (timed out, crashed); -1: none
};
const char* to_string(DispatchError::Code code) noexcept;
// The HTTP status a trigger answers with (Nuclio's where it has one).
int http_status(DispatchError::Code code) noexcept;

using DispatchResult = tl::expected<Response, DispatchError>;

// Cancels a group of events that have not started. Shared by a trigger and
// the pool; the pool must outlive the scope's last cancel().
class CancelScope {
 public:
  // Every event of this scope still waiting (for its key or for a worker)
  // fails with kCancelled, and so does any later dispatch() with it.
  // Events already in a handler are not touched. Any thread; idempotent.
  void cancel() noexcept;
  bool cancelled() const noexcept;

  // For WorkerPool: `hook` runs (outside this scope's lock, on the thread
  // calling cancel()) when cancel() is called. Returns an id for unwatch(),
  // or nullopt, without keeping the hook, when the scope was already
  // cancelled.
  std::optional<std::uint64_t> watch(std::function<void()> hook);
  void unwatch(std::uint64_t id) noexcept;

 private:
  mutable std::mutex mutex_;
  bool cancelled_ = false;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, std::function<void()>> hooks_;
};

struct DispatchOptions {
  using Clock = std::chrono::steady_clock;
  // Latest time the event may start; past it without a worker it fails
  // with kOverloaded. A deadline not after now means: a free worker now or
  // kOverloaded at once. Clock::time_point::max(): wait as long as needed.
  Clock::time_point start_deadline = Clock::time_point::max();
  std::string ordering_key;             // empty: no ordering
  std::shared_ptr<CancelScope> cancel;  // null: cannot be cancelled

  // Start deadline `timeout` from now (workerAvailabilityTimeoutMilliseconds).
  static DispatchOptions within(std::chrono::milliseconds timeout) {
    DispatchOptions o;
    o.start_deadline = Clock::now() + timeout;
    return o;
  }
};

// What a trigger dispatches its events to: a pool of workers
// (worker_pool.hpp). Every call may come from any thread and never throws.
class Dispatcher {
 public:
  using Done = UniqueFunction<void(DispatchResult)>;
  virtual ~Dispatcher() = default;

  // Runs `event` as `options` say; `done` runs once, on the io_context,
  // never inside this call.
  virtual void dispatch(Event event, DispatchOptions options, Done done) noexcept = 0;
  // The same for a coroutine, resumed on its own executor.
  virtual awaitable<DispatchResult> dispatch(Event event, DispatchOptions options) = 0;
  // When an inline worker (a native handler that does not block) is idle,
  // runs `event` on it now, on this thread, and returns the result; else
  // none, with `event` untouched, and the caller dispatches as usual. The
  // HTTP path's shortcut: no completion hop, no coroutine frames. Events
  // with an ordering key or a cancel scope never take it.
  virtual std::optional<DispatchResult> try_run_inline(Event& /*event*/, const DispatchOptions& /*options*/) noexcept {
    return std::nullopt;
  }
  // Calls `fn` on the io_context once at least one worker is ready.
  virtual void when_ready(UniqueFunction<void()> fn) = 0;
  // Runs the handlers' drain callbacks (Nuclio's set_drain_callback) on
  // every worker now, without draining the pool: a stream trigger's
  // partitions are being revoked in a rebalance. Any thread; returns at once.
  virtual void run_drain_callbacks() noexcept {}

  virtual const std::string& name() const noexcept = 0;
  virtual int size() const noexcept = 0;  // workers, ready or not
  virtual int ready_workers() const noexcept = 0;
};

}  // namespace edgefn
