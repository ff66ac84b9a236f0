#pragma once
// What /metrics and /status read from the pools and triggers the
// composition root built: gauges read when /metrics is scraped (nothing
// on the hot path), and the per-worker JSON of /status.
#include "metrics/metrics.hpp"
#include "trigger/trigger.hpp"
#include "util/json.hpp"
#include "worker/worker_pool.hpp"

namespace edgefn {

// edgefn_pool_workers, edgefn_pool_ready_workers, edgefn_pool_busy_workers,
// edgefn_pool_waiting_events {pool}. `pool` must outlive every scrape of
// `registry` (the management server stops before the pools go). Start-up
// thread.
void register_pool_metrics(MetricsRegistry& registry, const WorkerPool& pool);

// edgefn_trigger_in_flight_events and edgefn_trigger_ready {trigger,kind}.
// Same lifetime rule as above.
void register_trigger_metrics(MetricsRegistry& registry, const Trigger& trigger);

// One worker of /status's "pools[].workers[]", as an object. Any thread.
void write_worker_status(JsonWriter& out, const WorkerStatus& worker);

}  // namespace edgefn
