#pragma once
// The metrics every trigger kind keeps for the events it dispatches, so that
// edgefn_events_total{trigger,result} and edgefn_event_duration_seconds mean
// the same for HTTP, cron, MQTT, Kafka and whatever kind comes next.
#include <array>
#include <chrono>
#include <string>

#include "metrics/metrics.hpp"
#include "worker/dispatch.hpp"

namespace edgefn {

class EventMetrics {
 public:
  // Registers the series for `trigger`, every result at 0. Start-up thread.
  EventMetrics(MetricsRegistry& registry, const std::string& trigger);

  // The result label of a dispatch: "success" (a response below 500),
  // "handler_error" (500 or more), or why it got no answer: "overloaded",
  // "timeout", "crashed", "stopping", "cancelled".
  static const char* result_name(const DispatchResult& result) noexcept;
  static const char* result_name(DispatchError::Code code) noexcept;

  // Counts one dispatch under its result and observes how long it took.
  // Any thread; two relaxed atomic adds and a histogram bucket, nothing at
  // all when the registry does not record.
  void record(const DispatchResult& result, std::chrono::steady_clock::duration took) noexcept;
  bool recording() const noexcept { return recording_; }

 private:
  bool recording_;
  Counter* success_;
  Counter* handler_error_;
  std::array<Counter*, DispatchError::kCodes> dispatch_errors_;  // indexed by DispatchError::Code
  Histogram* duration_;
};

}  // namespace edgefn
