#include "app/observability.hpp"

namespace edgefn {

void register_pool_metrics(MetricsRegistry& registry, const std::string& pool, PoolReading reading) {
  const Labels labels{{"pool", pool}};
  auto gauge = [&](const char* name, const char* help, double (*read)(const WorkerPool&)) {
    registry.gauge_fn(name, help, labels, [reading, pool, read] { return reading(pool, read); });
  };
  gauge("edgefn_pool_workers", "Workers of the pool, ready or not (numWorkers)",
        [](const WorkerPool& p) { return static_cast<double>(p.size()); });
  gauge("edgefn_pool_ready_workers", "Workers of the pool that can take an event (idle or busy)",
        [](const WorkerPool& p) { return static_cast<double>(p.ready_workers()); });
  gauge("edgefn_pool_busy_workers", "Workers of the pool handling an event now",
        [](const WorkerPool& p) { return static_cast<double>(p.busy()); });
  gauge("edgefn_pool_waiting_events", "Events of the pool not started yet: waiting for a worker or their ordering key, or queued in a busy worker",
        [](const WorkerPool& p) { return static_cast<double>(p.waiting()); });
}

void register_trigger_metrics(MetricsRegistry& registry, const TriggerInfo& trigger, TriggerReading reading) {
  const Labels labels{{"trigger", trigger.name}, {"kind", trigger.kind}};
  auto gauge = [&](const char* name, const char* help, double (*read)(const Trigger&)) {
    registry.gauge_fn(name, help, labels, [reading, name = trigger.name, read] { return reading(name, read); });
  };
  gauge("edgefn_trigger_in_flight_events", "Events the trigger accepted and has not answered yet",
        [](const Trigger& t) { return static_cast<double>(t.in_flight()); });
  gauge("edgefn_trigger_ready", "1 when the trigger can take events (a stream trigger: connected to its broker), else 0",
        [](const Trigger& t) { return t.ready() ? 1.0 : 0.0; });
}

void write_worker_status(JsonWriter& out, const WorkerStatus& worker) {
  out.begin_object();
  out.key("id").value(worker.id);
  out.key("state").value(worker.state);
  out.key("detail").value(worker.detail);
  out.key("pid");
  if (worker.pid)
    out.value(*worker.pid);
  else
    out.null();
  out.key("uptimeSeconds");
  if (worker.uptime)
    out.value(std::chrono::duration<double>(*worker.uptime).count());
  else
    out.null();
  out.key("events").value(worker.events);
  out.key("timeouts").value(worker.timeouts);
  out.key("queued").value(static_cast<std::uint64_t>(worker.queued));
  out.key("restarts").value(worker.restarts);
  out.key("lastError");
  if (worker.last_error.empty())
    out.null();
  else
    out.value(worker.last_error);
  out.end_object();
}

}  // namespace edgefn
