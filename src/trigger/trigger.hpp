#pragma once
// The Trigger interface: a source of events (HTTP, cron, MQTT, Kafka...). A
// trigger turns what arrives into Events, hands them to its Dispatcher (a
// worker pool, worker/dispatch.hpp) and delivers the answers. Kinds live in
// one folder each and are listed in app/kinds.cpp and app/factories.cpp; a
// trigger never sees a runtime.
//
// Lifecycle, driven by the app from one thread at a time:
//   start() -> [pause() / resume()]* -> drain(deadline, done) -> stop()
// start() binds or connects; a stream trigger consumes only once its pool
// has a ready worker (Dispatcher::when_ready). drain() stops taking new
// events, lets accepted ones finish until the deadline, settles with the
// source (commits offsets, sends acks, answers 503 to what is left), then
// calls `done`. stop() drops whatever remains.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "config/function_config.hpp"
#include "event/event.hpp"
#include "host/host_services.hpp"
#include "metrics/metrics.hpp"
#include "util/asio.hpp"
#include "util/json.hpp"
#include "util/unique_function.hpp"
#include "worker/dispatch.hpp"

namespace edgefn {

// What every kind is built from. References outlive the trigger.
struct TriggerContext {
  asio::io_context& io;
  const FunctionConfig& function;
  const TriggerConfig& config;
  Dispatcher& pool;
  MetricsRegistry& metrics;
  Host& host;             // where a kind registers its outputs and ack sinks
  bool dev_mode = false;  // error details (tracebacks) may go to clients
  // One thread runs `io`: every handler is in an implicit strand, and an
  // explicit one (a lock and a queue per completion) would only cost time.
  bool single_threaded_io = false;
  bool access_log = false;  // --access-log: every trigger writes access lines (trigger/access_log.hpp)
};

class Trigger {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~Trigger() = default;

  virtual const TriggerInfo& info() const noexcept = 0;

  // Begins taking events (binds, connects, arms timers). Start-up thread;
  // throws StartError naming what failed and the knob that fixes it.
  virtual void start() = 0;

  // Takes no new events until resume(); events already taken go on. For
  // backpressure and reloads. Any thread; returns at once; idempotent.
  virtual void pause() noexcept = 0;
  virtual void resume() noexcept = 0;

  // Takes no new events, lets accepted ones finish until `deadline`, then
  // settles with its source and calls `done` (on the io_context). Any
  // thread; returns at once; once.
  virtual void drain(Clock::time_point deadline, UniqueFunction<void()> done) noexcept = 0;

  // Drops whatever is left (connections, sessions, timers); after drain().
  // Any thread; returns at once; idempotent.
  virtual void stop() noexcept = 0;

  // Events accepted and not yet answered. Any thread.
  virtual std::size_t in_flight() const noexcept = 0;

  // False while the trigger cannot take events for reasons of its own (a
  // stream disconnected from its broker); /ready follows it. Any thread.
  virtual bool ready() const noexcept { return true; }

  // Where the events come from, for the start banner: the address bound
  // (after start(), port 0 resolved), the broker and topics, the schedule.
  // Any thread.
  virtual std::string address() const = 0;

  // Kind-specific fields for /status (bound address, counters), written as
  // key/value pairs into an open JSON object. Any thread.
  virtual void write_status(JsonWriter& out) const = 0;
};

}  // namespace edgefn
