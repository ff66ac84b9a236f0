#pragma once
// The process's own families, read from /proc when /metrics is scraped,
// under the names every Prometheus client library uses (process_*), so
// that existing dashboards and alerts work unchanged; and
// edgefn_build_info{version,commit}.
#include "metrics/metrics.hpp"

namespace edgefn {

// Registers process_resident_memory_bytes, process_virtual_memory_bytes,
// process_cpu_seconds_total, process_open_fds, process_max_fds,
// process_start_time_seconds and edgefn_build_info. Start-up thread.
void register_process_metrics(MetricsRegistry& registry);

// What /proc/self says now; NaN where it cannot be read. Any thread.
struct ProcessSample {
  double resident_bytes;
  double virtual_bytes;
  double cpu_seconds;
  double start_time_seconds;  // since the Unix epoch
};
ProcessSample sample_process();
double count_open_fds();

}  // namespace edgefn
