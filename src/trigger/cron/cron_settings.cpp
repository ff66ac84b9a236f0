#include "trigger/cron/cron_settings.hpp"

#include "util/duration.hpp"

namespace edgefn {
namespace {

ConfigMap make_event_map() {
  const CronEventTemplate defaults;
  ConfigMap map{"event", "", {}, {}};
  map.keys = {
      {.name = "body", .default_value = defaults.body, .help = "the event's body"},
      {.name = "headers",
       .type = KeyType::kMapping,
       .help = "header names to values (strings or integers); `Content-Type` sets the content type"},
      {.name = "path", .default_value = defaults.path, .help = "the event's path"},
      {.name = "method", .default_value = defaults.method, .help = "the event's method; none unless set, as in Nuclio"},
  };
  return map;
}

ConfigMap make_cron_map() {
  static const ConfigMap event = make_event_map();
  ConfigMap map{"cron", "spec.triggers.<name>.attributes", {}, {}};
  map.keys = {
      {.name = "interval",
       .type = KeyType::kDuration,
       .help = "ticks at a fixed rate, at start + k × interval; exactly one of `interval` and `schedule`"},
      {.name = "schedule", .help = "a cron schedule in Nuclio's (robfig/cron v3) syntax, see below"},
      {.name = "timezone",
       .default_note = "the host's",
       .help = "IANA zone the schedule is evaluated in (`Europe/Berlin`, `UTC`, `Local`)"},
      {.name = "event",
       .type = KeyType::kMapping,
       .help = "the synthetic event every tick carries (see `cron.event`)",
       .fields = &event},
  };
  add_ignored(map, {"concurrencyPolicy", "jobBackoffLimit"}, "Kubernetes CronJob mode");
  return map;
}

// Keys and types were checked with the attributes (see cron_config_map()).
CronEventTemplate read_event(const ConfigNode& node) {
  CronEventTemplate event;
  if (!node.defined()) return event;
  if (!node.is_map()) node.fail("expected a mapping with body, headers, path, method");
  event.body = node.get_string("body", event.body);
  event.path = node.get_string("path", event.path);
  event.method = node.get_string("method", event.method);
  ConfigNode headers = node.child("headers");
  if (headers.defined()) {
    if (!headers.is_map()) headers.fail("expected a mapping of header names to values");
    // Nuclio allows strings and integers; both arrive as the scalar's text.
    for (const auto& [name, value] : headers.entries()) {
      std::string text = value.defined() ? value.as_string() : std::string{};
      if (iequals(name, "Content-Type")) event.content_type = text;
      event.headers.emplace_back(name, std::move(text));
    }
  }
  return event;
}

cctz::time_zone read_zone(const ConfigNode& node) {
  if (!node.defined()) return cctz::local_time_zone();
  const std::string name = node.as_string();
  auto zone = load_zone(name);
  if (!zone) {
    node.fail("unknown time zone '" + name +
              "' (expected an IANA name such as Europe/Berlin or UTC, or Local; is tzdata installed?)");
  }
  return *zone;
}

}  // namespace

const ConfigMap& cron_config_map() {
  static const ConfigMap map = make_cron_map();
  return map;
}

CronSettings read_cron_settings(const TriggerConfig& trigger) {
  const auto needs = [&] {
    return "cron trigger '" + trigger.name +
           "' needs attributes.interval (e.g. '10s') or attributes.schedule (e.g. '*/5 * * * *')";
  };
  if (!trigger.attributes || !trigger.attributes->defined()) throw ConfigError(trigger.mark, needs());
  const ConfigNode& attrs = *trigger.attributes;
  if (!attrs.is_map()) attrs.fail("expected a mapping");
  attrs.check_keys(cron_config_map());

  CronSettings s;
  const ConfigNode interval = attrs.child("interval");
  const ConfigNode schedule = attrs.child("schedule");
  const ConfigNode timezone = attrs.child("timezone");
  if (interval.defined() && schedule.defined()) {
    schedule.fail("interval (line " + std::to_string(interval.key_mark().line) +
                  ") and schedule are mutually exclusive; set only one");
  }
  if (!interval.defined() && !schedule.defined()) attrs.fail(needs());

  if (interval.defined()) {
    const auto period = interval.as_duration();
    if (period.count() <= 0)
      interval.fail("expected a positive duration such as '10s' or '100ms', got '" + interval.as_string() + "'");
    s.interval = period;
    if (timezone.defined()) {
      read_zone(timezone);
      timezone.notice(ConfigNotice::Level::kWarning, "applies to schedule only; an interval ignores it");
    }
  } else {
    s.schedule_text = schedule.as_string();
    const auto zone = read_zone(timezone);
    try {
      s.schedule = CronSchedule::parse(s.schedule_text, zone);
    } catch (const CronSyntaxError& e) {
      schedule.fail("invalid schedule '" + s.schedule_text + "': " + e.what());
    }
    if (s.schedule->zone_from_text() && timezone.defined())
      timezone.notice(ConfigNotice::Level::kWarning, "the schedule's CRON_TZ= (or TZ=) prefix takes precedence");
    if (auto every = s.schedule->every(); every && *every != s.schedule->every_as_written()) {
      schedule.notice(ConfigNotice::Level::kWarning,
                      "@every rounds down to whole seconds (at least 1s), as Nuclio does, so this ticks every " +
                          format_duration(*every) + "; use attributes.interval for other periods");
    }
  }
  s.event = read_event(attrs.child("event"));
  return s;
}

}  // namespace edgefn
