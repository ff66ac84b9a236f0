#include "trigger/event_metrics.hpp"

namespace edgefn {
namespace {

Counter* events_counter(MetricsRegistry& registry, const std::string& trigger, const char* result) {
  return &registry.counter("edgefn_events_total", "Events handled, by trigger and result",
                           {{"trigger", trigger}, {"result", result}});
}

}  // namespace

const char* EventMetrics::result_name(DispatchError::Code code) noexcept {
  switch (code) {
    case DispatchError::Code::kOverloaded: return "overloaded";
    case DispatchError::Code::kTimedOut: return "timeout";
    case DispatchError::Code::kCrashed: return "crashed";
    case DispatchError::Code::kStopping: return "stopping";
    case DispatchError::Code::kCancelled: return "cancelled";
  }
  return "crashed";
}

const char* EventMetrics::result_name(const DispatchResult& result) noexcept {
  if (result) return result->status >= 500 ? "handler_error" : "success";
  return result_name(result.error().code);
}

EventMetrics::EventMetrics(MetricsRegistry& registry, const std::string& trigger)
    : recording_(registry.recording()),
      success_(events_counter(registry, trigger, "success")),
      handler_error_(events_counter(registry, trigger, "handler_error")),
      dispatch_errors_{events_counter(registry, trigger, result_name(DispatchError::Code::kOverloaded)),
                       events_counter(registry, trigger, result_name(DispatchError::Code::kTimedOut)),
                       events_counter(registry, trigger, result_name(DispatchError::Code::kCrashed)),
                       events_counter(registry, trigger, result_name(DispatchError::Code::kStopping)),
                       events_counter(registry, trigger, result_name(DispatchError::Code::kCancelled))},
      duration_(&registry.histogram("edgefn_event_duration_seconds",
                                    "Time from dispatch to answer (waiting for a worker included), by trigger",
                                    {{"trigger", trigger}})) {}

// The array above is indexed by the code: every code has its counter, in
// the enumeration's order.
static_assert(static_cast<std::size_t>(DispatchError::Code::kCancelled) + 1 == DispatchError::kCodes);

void EventMetrics::record(const DispatchResult& result, std::chrono::steady_clock::duration took) noexcept {
  if (!recording_) return;
  duration_->observe(std::chrono::duration<double>(took).count());
  if (result)
    (result->status >= 500 ? handler_error_ : success_)->inc();
  else
    dispatch_errors_[static_cast<std::size_t>(result.error().code)]->inc();
}

}  // namespace edgefn
