#pragma once
// The cron trigger's settings, read from its attributes:
//
//   interval: 10s                 # Go-style duration; ticks at start + k * interval
//   schedule: "*/5 * * * *"       # or a cron schedule (see cron_schedule.hpp); exactly one of the two
//   timezone: Europe/Berlin       # IANA zone for schedule (default: the host's); CRON_TZ= in schedule wins
//   event: {body, headers, path, method}   # the synthetic event every tick carries
//
// concurrencyPolicy and jobBackoffLimit (Nuclio's Kubernetes CronJob mode)
// are accepted and ignored.
#include <chrono>
#include <optional>
#include <string>

#include "config/function_config.hpp"
#include "event/event.hpp"
#include "trigger/cron/cron_schedule.hpp"

namespace edgefn {

struct CronEventTemplate {
  std::string body;
  Headers headers;
  std::string path;
  // Nuclio's cron event has no method unless one is configured; handlers
  // that branch on it see the same empty string here.
  std::string method;
  std::string content_type;  // the Content-Type header's value, if given
};

struct CronSettings {
  // Exactly one of interval and schedule is set.
  std::optional<std::chrono::nanoseconds> interval;
  std::optional<CronSchedule> schedule;
  std::string schedule_text;  // as written, for logs and /status
  CronEventTemplate event;
};

// The cron trigger's attributes (spec.triggers.<name>.attributes), with
// `event` nested; defaults from CronEventTemplate's members.
const ConfigMap& cron_config_map();

// Reads and checks the trigger's attributes. Throws ConfigError at the
// offending value (file:line:col, key path, which field of a schedule).
// Start-up thread; may read zone files.
CronSettings read_cron_settings(const TriggerConfig& trigger);

}  // namespace edgefn
