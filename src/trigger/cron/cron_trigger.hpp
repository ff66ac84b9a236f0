#pragma once
// The cron trigger: a synthetic event on a fixed-rate interval or a cron
// schedule. Ticks are serialised: the next tick is not due before the
// previous one has been answered, so a tick that is still waiting for a
// worker (up to workerAvailabilityTimeoutMilliseconds) or still in the
// handler when later ticks fall due makes those ticks missed. Missed ticks
// are counted (/status, edgefn_cron_missed_ticks_total) and logged, never
// replayed: after a pause the trigger fires at most the one tick that was
// due and then waits for the next one ahead.
//
// Metrics, all labelled {trigger}: edgefn_cron_ticks_total,
// edgefn_cron_missed_ticks_total, edgefn_cron_lateness_seconds (dispatch
// start minus scheduled time), and the common edgefn_events_total{result}
// and edgefn_event_duration_seconds.
#include <memory>

#include "trigger/cron/cron_settings.hpp"
#include "trigger/trigger.hpp"

namespace edgefn {

// Builds the trigger; the first tick is armed at start(). Start-up thread.
std::unique_ptr<Trigger> make_cron_trigger(const TriggerContext& context, CronSettings settings);

}  // namespace edgefn
