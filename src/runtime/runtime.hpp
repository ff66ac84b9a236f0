#pragma once
// The Runtime interface: one instance per worker, running the user's
// handler. Implementations live in native/, python/, shell/, and are listed
// in app/kinds.cpp and app/factories.cpp. A runtime knows nothing of triggers or of the dispatch
// contract: WorkerPool drives it and turns its results into what triggers
// see (worker/dispatch.hpp).
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include <tl/expected.hpp>

#include "event/event.hpp"
#include "util/unique_function.hpp"

namespace edgefn {

// Why a runtime gave no answer from the handler. Kept apart from handler
// errors, which are Responses (the handler said no).
struct RuntimeError {
  enum class Code {
    kCrashed,      // the worker died holding the event
    kStopping,     // the runtime is stopping
    kUnavailable,  // the worker could not take the event (its process just
                   // ended): the event never started and is in `unstarted`
  };
  Code code;
  std::string detail;  // for logs, and for 500 bodies in --dev mode
  std::optional<Event> unstarted;
};

using InvokeResult = tl::expected<Response, RuntimeError>;
using InvokeCompletion = UniqueFunction<void(InvokeResult)>;
// Called with true when the worker can take events and with false when it
// no longer can (its process ended, it is stopping). Any thread, possibly
// inside start().
using ReadinessCallback = std::function<void(bool ready)>;

struct WorkerIdentity {
  int id = 0;               // 0-based within its pool
  std::string pool_name;    // the trigger name or workerAllocatorName
  std::string function_name;
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  // Starts the worker. Process-backed runtimes start their process in the
  // background and report readiness when init_context has run; in-process
  // ones run their init hook here and are ready at once. Start-up thread;
  // throws StartError for what no retry can fix (a native init hook that
  // fails). Called once.
  virtual void start(ReadinessCallback on_readiness) = 0;

  // True when invoke_inline() may be used: the handler answers on the
  // calling I/O thread (native, non-blocking). Constant for the lifetime.
  virtual bool runs_inline() const noexcept = 0;

  // Inline runtimes only: run the handler now, on this thread. Never throws.
  virtual InvokeResult invoke_inline(const Event& event) noexcept;

  // Every runtime: start handling `event`; `done` is called exactly once,
  // from any thread (never inside invoke()), when the handler finished, the
  // worker failed, or it could not take the event (kUnavailable, with the
  // event given back). Only while ready, and one event at a time beyond
  // queue_capacity(). Never throws.
  virtual void invoke(Event event, InvokeCompletion done) noexcept = 0;

  // How many events invoke() may take while one runs: they wait in the
  // worker (a Python worker's ring, where it finds the next one without
  // waiting for the daemon) and run in the order invoke() was called, each
  // once the one before it is answered. If the worker dies or is
  // abandoned, those that never started come back as kUnavailable with
  // the event. 0: one event at a time. Constant for the lifetime.
  virtual std::size_t queue_capacity() const noexcept { return 0; }

  // The event in flight exceeded spec.eventTimeout and its client was
  // answered. A process-backed runtime kills its process and starts a new
  // one; a thread cannot be killed, so a native runtime keeps the slot
  // busy. `done` of the abandoned invoke() still comes. Any thread.
  virtual void abandon() noexcept {}

  // The processor drains: the handler's drain callback runs, and no
  // process is started any more once the current one ends. Events may still
  // come. Any thread; returns at once.
  virtual void drain() noexcept {}

  // Only the handler's drain callback runs, now or once the event in hand
  // is answered; nothing else changes (a stream trigger's partitions are
  // being revoked in a rebalance). A worker with no process up has handled
  // nothing that needs it and skips it. Any thread; returns at once.
  virtual void run_drain_callbacks() noexcept {}

  // Stops the worker: termination hooks, then its process ends, killed
  // after `timeout` if it has not. `done` runs once, from any thread, when
  // everything the worker started has ended. Returns at once; every worker
  // of every pool stops at the same time. Called once, after start().
  virtual void stop(std::chrono::milliseconds timeout, UniqueFunction<void()> done) noexcept = 0;

  // After stop(): true while a handler the runtime could not stop still
  // runs on a thread of the daemon's (a native handler that never returned).
  // The process must then end without running its static destructors.
  virtual bool left_running() const noexcept { return false; }

  // For /status and logs: "ready", "busy", or why the worker cannot take
  // events ("starting", "init_context failed: ... (retry in 4 s)"). Any
  // thread.
  virtual std::string describe() const = 0;

  // For /status: the process handling this worker's events now, if it has
  // one of its own (a Python worker's interpreter). Any thread.
  virtual std::optional<int> process_id() const { return std::nullopt; }
};

}  // namespace edgefn
