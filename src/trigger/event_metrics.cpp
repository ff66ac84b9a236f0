#include "trigger/event_metrics.hpp"

namespace edgefn {
namespace {

Counter* events_counter(MetricsRegistry& registry, const std::string& trigger, const char* result) {
  return &registry.counter("edgefn_events_total", "Events handled, by trigger and result",
                           {{"trigger", trigger}, {"result", result}});
}

}  // namespace

EventMetrics::EventMetrics(MetricsRegistry& registry, const std::string& trigger)
    : ok_(events_counter(registry, trigger, "ok")),
      handler_error_(events_counter(registry, trigger, "handler_error")),
      dispatch_errors_{events_counter(registry, trigger, to_string(DispatchError::Code::kOverloaded)),
                       events_counter(registry, trigger, to_string(DispatchError::Code::kTimedOut)),
                       events_counter(registry, trigger, to_string(DispatchError::Code::kCrashed)),
                       events_counter(registry, trigger, to_string(DispatchError::Code::kStopping)),
                       events_counter(registry, trigger, to_string(DispatchError::Code::kCancelled))},
      duration_(&registry.histogram("edgefn_event_duration_seconds", "Time from dispatch to answer",
                                    {{"trigger", trigger}})) {}

// The array above is indexed by the code: every code has its counter, in
// the enumeration's order.
static_assert(static_cast<std::size_t>(DispatchError::Code::kCancelled) + 1 == DispatchError::kCodes);

void EventMetrics::record(const DispatchResult& result, std::chrono::steady_clock::duration took) noexcept {
  duration_->observe(std::chrono::duration<double>(took).count());
  if (result)
    (result->status >= 500 ? handler_error_ : ok_)->inc();
  else
    dispatch_errors_[static_cast<std::size_t>(result.error().code)]->inc();
}

}  // namespace edgefn
