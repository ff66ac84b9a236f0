#pragma once
// The metrics every trigger kind keeps for the events it dispatches, so that
// edgefn_events_total{trigger,result} and edgefn_event_duration_seconds mean
// the same for HTTP, cron and whatever kind comes next.
#include <array>
#include <chrono>
#include <string>

#include "metrics/metrics.hpp"
#include "worker/dispatch.hpp"

namespace edgefn {

class EventMetrics {
 public:
  // Registers the series for `trigger`. Start-up thread.
  EventMetrics(MetricsRegistry& registry, const std::string& trigger);

  // Counts one dispatch: "ok", "handler_error" (a response of 500 or more),
  // or the DispatchError's code; and how long it took. Any thread.
  void record(const DispatchResult& result, std::chrono::steady_clock::duration took) noexcept;

 private:
  Counter* ok_;
  Counter* handler_error_;
  std::array<Counter*, DispatchError::kCodes> dispatch_errors_;  // indexed by DispatchError::Code
  Histogram* duration_;
};

}  // namespace edgefn
