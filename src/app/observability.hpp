#pragma once
// What /metrics and /status read from the pools and triggers the
// composition root built: gauges read when /metrics is scraped (nothing
// on the hot path), and the per-worker JSON of /status.
#include <functional>
#include <string>

#include "metrics/metrics.hpp"
#include "trigger/trigger.hpp"
#include "util/json.hpp"
#include "worker/worker_pool.hpp"

namespace edgefn {

// Runs `read` on the pool or trigger of that name while it cannot go away
// (a reload replaces pools and triggers), or returns NaN when there is none
// now. Any thread.
using PoolReading = std::function<double(const std::string& pool, const std::function<double(const WorkerPool&)>& read)>;
using TriggerReading =
    std::function<double(const std::string& trigger, const std::function<double(const Trigger&)>& read)>;

// edgefn_pool_workers, edgefn_pool_ready_workers, edgefn_pool_busy_workers,
// edgefn_pool_waiting_events {pool}, read through `reading` when /metrics
// is scraped. Registering a name again replaces its readers. Any thread.
void register_pool_metrics(MetricsRegistry& registry, const std::string& pool, PoolReading reading);

// edgefn_trigger_in_flight_events and edgefn_trigger_ready {trigger,kind}.
// Same rules as above.
void register_trigger_metrics(MetricsRegistry& registry, const TriggerInfo& trigger, TriggerReading reading);

// One worker of /status's "pools[].workers[]", as an object. Any thread.
void write_worker_status(JsonWriter& out, const WorkerStatus& worker);

}  // namespace edgefn
