#pragma once
// Cron schedules in Nuclio's syntax (robfig/cron v3 with an optional seconds
// field), and the tick arithmetic of the cron trigger. Everything here is a
// pure function of the instants passed in: tests inject "now" instead of
// waiting for it.
//
// Syntax (fields are separated by blanks):
//
//   [CRON_TZ=Zone |TZ=Zone ] [seconds] minutes hours day-of-month month day-of-week
//   @yearly @annually @monthly @weekly @daily @midnight @hourly @every <duration>
//
// A field is a comma-separated list of `*`, `?`, `N`, `N-M`, each optionally
// followed by `/step`; `N/step` means `N-max/step`. Months accept JAN-DEC
// and weekdays SUN-SAT (any case). Ranges: seconds and minutes 0-59, hours
// 0-23, day-of-month 1-31, month 1-12, day-of-week 0-6 with 0 = Sunday.
//
// Where edgefn departs from robfig, and why:
// - A `*` seconds field of a 6-field schedule is read as `0`, as Nuclio does,
//   so `* */5 * * * *` fires once every five minutes rather than 60 times.
// - Day-of-week 7 is accepted as Sunday (robfig rejects it; most crontab
//   documentation allows it), so `1-7` and `5-7` mean what people expect.
//   Every schedule robfig accepts means the same here.
// - A schedule that can never fire (`0 0 30 2 *`) is an error, not a
//   trigger that silently never ticks.
//
// Shared with robfig: when both day-of-month and day-of-week are restricted
// (neither starts with `*` or `?`), a day matching either fires (classic
// cron); `?` is a synonym of `*`; @every rounds its duration down to whole
// seconds, at least one second.
//
// Time zones: a schedule is evaluated in its zone's civil time. A civil time
// that a spring-forward gap skips fires once, at the first instant after
// the gap; a civil time that an autumn overlap repeats fires once, at its
// first occurrence.
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

// cctz as Abseil carries it (the same library under absl::time_internal):
// Debian ships it as a static archive too, which the static build needs and
// libcctz-dev does not have.
#include <absl/time/internal/cctz/include/cctz/civil_time.h>
#include <absl/time/internal/cctz/include/cctz/time_zone.h>

namespace cctz = absl::time_internal::cctz;

namespace edgefn {

using SystemTime = std::chrono::system_clock::time_point;

// A malformed schedule. The message names the field and the value at fault
// (e.g. "minute field '61': 61 is above the maximum 59") and carries no
// file position: the config reader adds that.
class CronSyntaxError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// An IANA zone by name ("Europe/Berlin", "UTC"); "Local" is the host's
// zone. Nullopt when the name is unknown (or tzdata is missing), and for a
// path ("/dev/stdin", "../x", "file:..."), which is not opened. Blocking:
// may read /usr/share/zoneinfo the first time a name is used. Any thread.
std::optional<cctz::time_zone> load_zone(const std::string& name);

class CronSchedule {
 public:
  // Parses `text`, evaluating it in `zone` unless it starts with CRON_TZ=
  // or TZ=. Throws CronSyntaxError.
  static CronSchedule parse(std::string_view text, const cctz::time_zone& zone);

  // The first firing instant strictly after `after`, or nullopt when there
  // is none in the next kSearchYears years or before SystemTime's end (the
  // year 2262). Pure; any thread.
  std::optional<SystemTime> next(SystemTime after) const;

  // For @every: the (rounded) period. Nullopt for field schedules.
  std::optional<std::chrono::seconds> every() const noexcept { return every_; }
  // @every's duration as written, before rounding.
  std::chrono::nanoseconds every_as_written() const noexcept { return every_written_; }

  const cctz::time_zone& zone() const noexcept { return zone_; }
  // True when the text named its own zone (CRON_TZ= or TZ=).
  bool zone_from_text() const noexcept { return zone_from_text_; }

  // 9 years covers the longest gap between two 29ths of February (2096 to
  // 2104) with room to spare.
  static constexpr int kSearchYears = 9;

 private:
  CronSchedule() = default;
  bool day_matches(const cctz::civil_day& day) const noexcept;
  std::optional<cctz::civil_second> next_civil_match(cctz::civil_second from, cctz::year_t limit) const;

  std::uint64_t seconds_ = 0;  // bit n: second n matches
  std::uint64_t minutes_ = 0;
  std::uint64_t hours_ = 0;
  std::uint64_t days_of_month_ = 0;  // bits 1-31
  std::uint64_t months_ = 0;         // bits 1-12
  std::uint64_t days_of_week_ = 0;   // bits 0-6, 0 = Sunday
  bool dom_star_ = false;            // day-of-month started with * or ?
  bool dow_star_ = false;
  std::optional<std::chrono::seconds> every_;
  std::chrono::nanoseconds every_written_{0};
  cctz::time_zone zone_;
  bool zone_from_text_ = false;
};

// The next tick of a fixed-rate interval: ticks fall at start + k * period
// for k = 1, 2, ... Given the last tick fired (0 before the first) and the
// time now, the next tick is last + 1 unless that is already past, in which
// case every tick up to now is skipped (and counted) and the next one still
// ahead is taken: late ticks are never replayed in a burst.
struct IntervalStep {
  std::uint64_t index;   // the tick to wait for
  std::uint64_t missed;  // ticks skipped because they were already past
};
IntervalStep next_interval_tick(std::chrono::nanoseconds elapsed_since_start, std::chrono::nanoseconds period,
                                std::uint64_t last_index) noexcept;

// The same for a schedule: the first firing instant after `last_fired` (the
// scheduled instant of the last tick, or the start time) that is not before
// `now`. Instants in between are counted as missed, up to `max_counted`
// (beyond which counting stops and `missed_capped` is set, so a long pause
// of a per-second schedule cannot stall the trigger). `at` is nullopt when
// the schedule never fires again.
struct ScheduleStep {
  std::optional<SystemTime> at;
  std::uint64_t missed = 0;
  bool missed_capped = false;
};
ScheduleStep next_schedule_tick(const CronSchedule& schedule, SystemTime last_fired, SystemTime now,
                                std::uint64_t max_counted = 100'000);

}  // namespace edgefn
