#include "app/observability.hpp"

namespace edgefn {

void register_pool_metrics(MetricsRegistry& registry, const WorkerPool& pool) {
  const Labels labels{{"pool", pool.name()}};
  registry.gauge_fn("edgefn_pool_workers", "Workers of the pool, ready or not (numWorkers)", labels,
                    [&pool] { return static_cast<double>(pool.size()); });
  registry.gauge_fn("edgefn_pool_ready_workers", "Workers of the pool that can take an event (idle or busy)", labels,
                    [&pool] { return static_cast<double>(pool.ready_workers()); });
  registry.gauge_fn("edgefn_pool_busy_workers", "Workers of the pool handling an event now", labels,
                    [&pool] { return static_cast<double>(pool.busy()); });
  registry.gauge_fn("edgefn_pool_waiting_events", "Events waiting for a worker of the pool (or for their ordering key)",
                    labels, [&pool] { return static_cast<double>(pool.waiting()); });
}

void register_trigger_metrics(MetricsRegistry& registry, const Trigger& trigger) {
  const Labels labels{{"trigger", trigger.info().name}, {"kind", trigger.info().kind}};
  registry.gauge_fn("edgefn_trigger_in_flight_events", "Events the trigger accepted and has not answered yet", labels,
                    [&trigger] { return static_cast<double>(trigger.in_flight()); });
  registry.gauge_fn("edgefn_trigger_ready",
                    "1 when the trigger can take events (a stream trigger: connected to its broker), else 0", labels,
                    [&trigger] { return trigger.ready() ? 1.0 : 0.0; });
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
  out.key("restarts").value(worker.restarts);
  out.key("lastError");
  if (worker.last_error.empty())
    out.null();
  else
    out.value(worker.last_error);
  out.end_object();
}

}  // namespace edgefn
