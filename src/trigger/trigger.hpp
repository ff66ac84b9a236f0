#pragma once
// The Trigger interface: a source of events (HTTP, cron, MQTT, Kafka...). A
// trigger turns what arrives into Events, dispatches them through its
// WorkerPool and delivers the answers. Kinds live in one folder each and
// are registered in app/kinds.cpp; a trigger never sees a runtime.
#include <cstddef>
#include <memory>
#include <string>

#include "config/function_config.hpp"
#include "event/event.hpp"
#include "metrics/metrics.hpp"
#include "util/asio.hpp"
#include "util/json.hpp"
#include "worker/worker_pool.hpp"

namespace edgefn {

// What every kind is built from. References outlive the trigger.
struct TriggerContext {
  asio::io_context& io;
  const FunctionConfig& function;
  const TriggerConfig& config;
  WorkerPool& pool;
  MetricsRegistry& metrics;
  bool dev_mode = false;  // error details (tracebacks) may go to clients
};

class Trigger {
 public:
  virtual ~Trigger() = default;

  virtual const TriggerInfo& info() const noexcept = 0;

  // Begins taking events (binds, connects, arms timers). Start-up thread;
  // throws StartError naming what failed and the knob that fixes it.
  virtual void start() = 0;

  // Drain, step one: take no new events; let accepted ones finish. Any
  // thread; returns at once.
  virtual void stop_accepting() noexcept = 0;

  // Events accepted and not yet answered (for the drain). Any thread.
  virtual std::size_t in_flight() const noexcept = 0;

  // Drain, last step: drop whatever is left (connections, sessions). Any
  // thread; returns at once.
  virtual void stop() noexcept = 0;

  // Kind-specific fields for /status (bound address, counters), written as
  // key/value pairs into an open JSON object. Any thread.
  virtual void write_status(JsonWriter& out) const = 0;
};

}  // namespace edgefn
