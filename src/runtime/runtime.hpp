#pragma once
// The Runtime interface: one instance per worker slot, running the user's
// handler. Implementations live in native/, python/, shell/. A runtime knows
// nothing of triggers; WorkerPool drives it.
#include <chrono>
#include <string>

#include "event/event.hpp"
#include <tl/expected.hpp>
#include "util/unique_function.hpp"

namespace edgefn {

// Why an event got no answer from the handler. Kept apart from handler
// errors, which are Responses (the handler said no).
struct DispatchError {
  enum class Code {
    kOverloaded,  // no worker freed up within the availability timeout -> 503
    kTimedOut,    // spec.eventTimeout exceeded -> 504
    kCrashed,     // the worker died holding the event -> 500
    kStopping,    // the processor is shutting down -> 503
  };
  Code code;
  std::string detail;  // for logs, and for 500 bodies in --dev mode
};
const char* to_string(DispatchError::Code code) noexcept;
int http_status(DispatchError::Code code) noexcept;

using InvokeResult = tl::expected<Response, DispatchError>;
using InvokeCompletion = UniqueFunction<void(InvokeResult)>;

struct WorkerIdentity {
  int id = 0;               // 0-based within its pool
  std::string pool_name;    // the trigger name or workerAllocatorName
  std::string function_name;
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  // Prepares the worker: per-worker init hooks, processes. Called once, on
  // the start-up thread, before any event. Throws StartError.
  virtual void start() = 0;

  // True when invoke_inline() may be used: the handler answers on the
  // calling I/O thread (native, non-blocking). Constant for the lifetime.
  virtual bool runs_inline() const noexcept = 0;

  // Inline runtimes only: run the handler now, on this thread. Never throws.
  virtual InvokeResult invoke_inline(const Event& event) noexcept;

  // Every runtime: start handling `event`; `done` is called exactly once,
  // from any thread, when the handler finished or the worker failed. The
  // runtime owns the event until then. Never throws.
  virtual void invoke(Event event, InvokeCompletion done) noexcept = 0;

  // The event in flight exceeded its timeout and its client was answered
  // 504. A process-backed runtime kills and restarts its process; a thread
  // cannot be killed, so a native runtime just keeps the slot busy. `done`
  // of the abandoned invoke() still comes. Any thread.
  virtual void abandon() noexcept {}

  // Stops the worker (per-worker shutdown hooks, processes), waiting at most
  // `timeout`. Start-up thread. Idempotent.
  virtual void stop(std::chrono::milliseconds timeout) noexcept = 0;

  // False while the worker cannot take events (a process being respawned).
  virtual bool alive() const noexcept { return true; }
};

}  // namespace edgefn
