#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "trigger/cron/cron_schedule.hpp"
#include "trigger/cron/cron_settings.hpp"

using namespace std::chrono_literals;
using edgefn::CronSchedule;
using edgefn::CronSyntaxError;
using edgefn::SystemTime;

namespace {

cctz::time_zone zone(const char* name) {
  auto z = edgefn::load_zone(name);
  REQUIRE(z);
  return *z;
}

// A civil time that exists exactly once in `z`.
SystemTime at(const cctz::time_zone& z, int y, int mo, int d, int h, int mi, int s = 0) {
  return SystemTime{cctz::convert(cctz::civil_second(y, mo, d, h, mi, s), z)};
}

std::string show(SystemTime t, const cctz::time_zone& z) { return cctz::format("%Y-%m-%d %H:%M:%S %z", t, z); }

// The next `n` firing times after `from`, shown in `z`.
std::vector<std::string> fires(const CronSchedule& s, SystemTime from, int n, const cctz::time_zone& z) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    auto next = s.next(from);
    if (!next) {
      out.push_back("never");
      break;
    }
    out.push_back(show(*next, z));
    from = *next;
  }
  return out;
}

std::vector<std::string> fires_utc(const std::string& text, SystemTime from, int n) {
  const auto utc = cctz::utc_time_zone();
  return fires(CronSchedule::parse(text, utc), from, n, utc);
}

SystemTime utc(int y, int mo, int d, int h, int mi, int s = 0) { return at(cctz::utc_time_zone(), y, mo, d, h, mi, s); }

std::string parse_error(const std::string& text) {
  try {
    CronSchedule::parse(text, cctz::utc_time_zone());
  } catch (const CronSyntaxError& e) {
    return e.what();
  }
  return "(no error)";
}

using Fires = std::vector<std::string>;

}  // namespace

TEST_CASE("five fields: minutes, hours, weekday range", "[cron]") {
  // 2026-01-02 is a Friday: the next slot is Monday morning.
  CHECK(fires_utc("*/15 9-17 * * MON-FRI", utc(2026, 1, 2, 17, 50), 3) ==
        Fires{"2026-01-05 09:00:00 +0000", "2026-01-05 09:15:00 +0000", "2026-01-05 09:30:00 +0000"});
}

TEST_CASE("month and weekday names in any case", "[cron]") {
  CHECK(fires_utc("0 0 1 jan,JUL *", utc(2026, 1, 1, 0, 0), 2) ==
        Fires{"2026-07-01 00:00:00 +0000", "2027-01-01 00:00:00 +0000"});
  CHECK(fires_utc("0 12 * * sun", utc(2026, 1, 1, 0, 0), 2) ==
        Fires{"2026-01-04 12:00:00 +0000", "2026-01-11 12:00:00 +0000"});
  CHECK(fires_utc("0 0 1 Feb-Apr *", utc(2026, 1, 15, 0, 0), 4) ==
        Fires{"2026-02-01 00:00:00 +0000", "2026-03-01 00:00:00 +0000", "2026-04-01 00:00:00 +0000",
              "2027-02-01 00:00:00 +0000"});
}

TEST_CASE("steps, ranges with steps, N/step and lists", "[cron]") {
  CHECK(fires_utc("5/20 * * * *", utc(2026, 1, 1, 10, 0), 4) ==
        Fires{"2026-01-01 10:05:00 +0000", "2026-01-01 10:25:00 +0000", "2026-01-01 10:45:00 +0000",
              "2026-01-01 11:05:00 +0000"});
  CHECK(fires_utc("10-30/10 * * * *", utc(2026, 1, 1, 10, 0), 4) ==
        Fires{"2026-01-01 10:10:00 +0000", "2026-01-01 10:20:00 +0000", "2026-01-01 10:30:00 +0000",
              "2026-01-01 11:10:00 +0000"});
  CHECK(fires_utc("0 8,12-13,18 * * *", utc(2026, 1, 1, 10, 0), 4) ==
        Fires{"2026-01-01 12:00:00 +0000", "2026-01-01 13:00:00 +0000", "2026-01-01 18:00:00 +0000",
              "2026-01-02 08:00:00 +0000"});
}

TEST_CASE("a sixth field in front is seconds", "[cron]") {
  CHECK(fires_utc("*/10 * * * * *", utc(2026, 1, 1, 10, 0), 3) ==
        Fires{"2026-01-01 10:00:10 +0000", "2026-01-01 10:00:20 +0000", "2026-01-01 10:00:30 +0000"});
  CHECK(fires_utc("30 * * * * *", utc(2026, 1, 1, 10, 0), 2) ==
        Fires{"2026-01-01 10:00:30 +0000", "2026-01-01 10:01:30 +0000"});
}

TEST_CASE("a * seconds field fires once a minute, as in Nuclio", "[cron]") {
  CHECK(fires_utc("* */5 * * * *", utc(2026, 1, 1, 10, 0, 1), 3) ==
        Fires{"2026-01-01 10:05:00 +0000", "2026-01-01 10:10:00 +0000", "2026-01-01 10:15:00 +0000"});
  // A seconds field that is not exactly `*` keeps its meaning.
  CHECK(fires_utc("*/30 */5 * * * *", utc(2026, 1, 1, 10, 0, 1), 2) ==
        Fires{"2026-01-01 10:00:30 +0000", "2026-01-01 10:05:00 +0000"});
}

TEST_CASE("descriptors", "[cron]") {
  const auto from = utc(2026, 1, 1, 10, 20, 30);  // a Thursday
  CHECK(fires_utc("@hourly", from, 1) == Fires{"2026-01-01 11:00:00 +0000"});
  CHECK(fires_utc("@daily", from, 1) == Fires{"2026-01-02 00:00:00 +0000"});
  CHECK(fires_utc("@midnight", from, 1) == Fires{"2026-01-02 00:00:00 +0000"});
  CHECK(fires_utc("@weekly", from, 1) == Fires{"2026-01-04 00:00:00 +0000"});
  CHECK(fires_utc("@monthly", from, 1) == Fires{"2026-02-01 00:00:00 +0000"});
  CHECK(fires_utc("@yearly", from, 1) == Fires{"2027-01-01 00:00:00 +0000"});
  CHECK(fires_utc("@annually", from, 1) == Fires{"2027-01-01 00:00:00 +0000"});
  CHECK(fires_utc("  @Daily  ", from, 1) == Fires{"2026-01-02 00:00:00 +0000"});
}

TEST_CASE("@every counts from the whole second before, rounded down to whole seconds", "[cron]") {
  auto s = CronSchedule::parse("@every 1m30s", cctz::utc_time_zone());
  REQUIRE(s.every());
  CHECK(*s.every() == 90s);
  CHECK(s.next(utc(2026, 1, 1, 10, 0) + 500ms) == utc(2026, 1, 1, 10, 1, 30));

  auto rounded = CronSchedule::parse("@every 2500ms", cctz::utc_time_zone());
  CHECK(*rounded.every() == 2s);
  CHECK(rounded.every_as_written() == 2500ms);
  CHECK(*CronSchedule::parse("@every 100ms", cctz::utc_time_zone()).every() == 1s);
  CHECK_FALSE(CronSchedule::parse("0 * * * *", cctz::utc_time_zone()).every());
}

// Adding the period overflowed the nanosecond clock (undefined behaviour)
// for periods that reach past 2262; test/fuzz/corpus/cron holds the input.
TEST_CASE("an @every period that ends past the clock's range has no next tick", "[cron]") {
  auto s = CronSchedule::parse("@every 2555555h", cctz::utc_time_zone());
  REQUIRE(s.every());
  CHECK_FALSE(s.next(utc(2026, 1, 1, 10, 0)));
  CHECK(CronSchedule::parse("@every 2000000h", cctz::utc_time_zone()).next(utc(2026, 1, 1, 10, 0)));
  // The clock ends on 2262-04-11 at 23:47:16 UTC: that day's midnight is
  // the last one it holds.
  const auto daily = CronSchedule::parse("0 0 * * *", cctz::utc_time_zone());
  CHECK(daily.next(SystemTime::max() - 24h));
  CHECK_FALSE(daily.next(SystemTime::max() - 1h));
}

TEST_CASE("day-of-month and day-of-week both restricted: either matches", "[cron]") {
  // Mondays in February 2026 are the 2nd, 9th, 16th, 23rd; the 13th is a Friday.
  CHECK(fires_utc("0 0 13 * 1", utc(2026, 2, 1, 0, 0), 5) ==
        Fires{"2026-02-02 00:00:00 +0000", "2026-02-09 00:00:00 +0000", "2026-02-13 00:00:00 +0000",
              "2026-02-16 00:00:00 +0000", "2026-02-23 00:00:00 +0000"});
  // */10 is a restriction (robfig counts only a plain * or ? as "any").
  CHECK(fires_utc("0 0 */10 * 1", utc(2026, 1, 31, 12, 0), 6) ==
        Fires{"2026-02-01 00:00:00 +0000", "2026-02-02 00:00:00 +0000", "2026-02-09 00:00:00 +0000",
              "2026-02-11 00:00:00 +0000", "2026-02-16 00:00:00 +0000", "2026-02-21 00:00:00 +0000"});
}

TEST_CASE("a * or ? day field leaves the other one alone", "[cron]") {
  const Fires mondays{"2026-02-02 00:00:00 +0000", "2026-02-09 00:00:00 +0000", "2026-02-16 00:00:00 +0000"};
  CHECK(fires_utc("0 0 * * 1", utc(2026, 2, 1, 0, 0), 3) == mondays);
  CHECK(fires_utc("0 0 ? * 1", utc(2026, 2, 1, 0, 0), 3) == mondays);
  CHECK(fires_utc("0 0 13 * ?", utc(2026, 2, 1, 0, 0), 2) ==
        Fires{"2026-02-13 00:00:00 +0000", "2026-03-13 00:00:00 +0000"});
}

TEST_CASE("day-of-week 7 is Sunday", "[cron]") {
  CHECK(fires_utc("0 0 * * 7", utc(2026, 1, 1, 0, 0), 2) == fires_utc("0 0 * * 0", utc(2026, 1, 1, 0, 0), 2));
  // Friday, Saturday, Sunday.
  CHECK(fires_utc("0 0 * * 5-7", utc(2026, 1, 1, 0, 0), 4) ==
        Fires{"2026-01-02 00:00:00 +0000", "2026-01-03 00:00:00 +0000", "2026-01-04 00:00:00 +0000",
              "2026-01-09 00:00:00 +0000"});
}

TEST_CASE("the 29th of February fires in leap years only", "[cron]") {
  CHECK(fires_utc("0 0 29 2 *", utc(2026, 3, 1, 0, 0), 2) ==
        Fires{"2028-02-29 00:00:00 +0000", "2032-02-29 00:00:00 +0000"});
  // 2100 is not a leap year: the longest wait there is.
  CHECK(fires_utc("0 0 29 2 *", utc(2096, 3, 1, 0, 0), 1) == Fires{"2104-02-29 00:00:00 +0000"});
}

TEST_CASE("CRON_TZ= and TZ= name the schedule's zone", "[cron]") {
  auto s = CronSchedule::parse("CRON_TZ=America/New_York 0 9 * * *", cctz::utc_time_zone());
  CHECK(s.zone_from_text());
  CHECK(s.zone().name() == "America/New_York");
  CHECK(show(*s.next(utc(2026, 1, 1, 0, 0)), cctz::utc_time_zone()) == "2026-01-01 14:00:00 +0000");
  auto t = CronSchedule::parse("TZ=Asia/Tokyo  @daily", cctz::utc_time_zone());
  CHECK(show(*t.next(utc(2026, 1, 1, 0, 0)), cctz::utc_time_zone()) == "2026-01-01 15:00:00 +0000");
  CHECK_FALSE(CronSchedule::parse("0 9 * * *", zone("Europe/Berlin")).zone_from_text());
}

TEST_CASE("New York spring forward: a time in the gap fires once when the gap ends", "[cron]") {
  const auto ny = zone("America/New_York");
  // 2026-03-08 02:00 EST jumps to 03:00 EDT.
  CHECK(fires(CronSchedule::parse("30 2 * * *", ny), at(ny, 2026, 3, 7, 12, 0), 2, ny) ==
        Fires{"2026-03-08 03:00:00 -0400", "2026-03-09 02:30:00 -0400"});
  CHECK(fires(CronSchedule::parse("*/15 2 * * *", ny), at(ny, 2026, 3, 8, 0, 0), 2, ny) ==
        Fires{"2026-03-08 03:00:00 -0400", "2026-03-09 02:00:00 -0400"});
  CHECK(fires(CronSchedule::parse("0 * * * *", ny), at(ny, 2026, 3, 8, 0, 30), 3, ny) ==
        Fires{"2026-03-08 01:00:00 -0500", "2026-03-08 03:00:00 -0400", "2026-03-08 04:00:00 -0400"});
}

TEST_CASE("New York fall back: a repeated time fires once, at its first occurrence", "[cron]") {
  const auto ny = zone("America/New_York");
  // 2026-11-01 02:00 EDT falls back to 01:00 EST.
  CHECK(fires(CronSchedule::parse("30 1 * * *", ny), at(ny, 2026, 10, 31, 12, 0), 2, ny) ==
        Fires{"2026-11-01 01:30:00 -0400", "2026-11-02 01:30:00 -0500"});
  CHECK(fires(CronSchedule::parse("0,30 * * * *", ny), at(ny, 2026, 11, 1, 0, 15), 4, ny) ==
        Fires{"2026-11-01 00:30:00 -0400", "2026-11-01 01:00:00 -0400", "2026-11-01 01:30:00 -0400",
              "2026-11-01 02:00:00 -0500"});
  // From inside the second pass the repeated time is already past.
  CHECK(fires(CronSchedule::parse("30 1 * * *", ny), utc(2026, 11, 1, 6, 10), 1, ny) ==
        Fires{"2026-11-02 01:30:00 -0500"});
}

TEST_CASE("Berlin: gap and overlap", "[cron]") {
  const auto berlin = zone("Europe/Berlin");
  const auto s = CronSchedule::parse("30 2 * * *", berlin);
  CHECK(fires(s, at(berlin, 2026, 3, 28, 12, 0), 2, berlin) ==
        Fires{"2026-03-29 03:00:00 +0200", "2026-03-30 02:30:00 +0200"});
  CHECK(fires(s, at(berlin, 2026, 10, 24, 12, 0), 2, berlin) ==
        Fires{"2026-10-25 02:30:00 +0200", "2026-10-26 02:30:00 +0100"});
}

TEST_CASE("next is strictly after, with sub-second instants", "[cron]") {
  const auto s = CronSchedule::parse("0 * * * *", cctz::utc_time_zone());
  CHECK(s.next(utc(2026, 1, 1, 10, 0)) == utc(2026, 1, 1, 11, 0));
  CHECK(s.next(utc(2026, 1, 1, 10, 0) - 1ns) == utc(2026, 1, 1, 10, 0));
  CHECK(s.next(utc(2026, 1, 1, 10, 0) + 1ns) == utc(2026, 1, 1, 11, 0));
}

TEST_CASE("malformed schedules name the field and the value", "[cron]") {
  CHECK(parse_error("") == "the schedule is empty");
  CHECK(parse_error("* * * *") ==
        "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with seconds first), got 4");
  CHECK(parse_error("0 0 * * * * *") ==
        "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with seconds first), got 7");
  CHECK(parse_error("61 * * * *") == "minute field '61': 61 is above the maximum 59");
  CHECK(parse_error("60 * * * * *") == "second field '60': 60 is above the maximum 59");
  CHECK(parse_error("* 24 * * *") == "hour field '24': 24 is above the maximum 23");
  CHECK(parse_error("0 0 0 * *") == "day-of-month field '0': 0 is below the minimum 1");
  CHECK(parse_error("0 0 1-32 * *") == "day-of-month field '1-32': 32 is above the maximum 31");
  CHECK(parse_error("0 0 * 13 *") == "month field '13': 13 is above the maximum 12");
  CHECK(parse_error("0 0 * * 8") == "day-of-week field '8': 8 is above the maximum 7");
  CHECK(parse_error("0 0 * FOO *") == "month field 'FOO': 'FOO' is neither a number nor a month name (JAN-DEC)");
  CHECK(parse_error("0 0 * * funday") ==
        "day-of-week field 'funday': 'funday' is neither a number nor a weekday name (SUN-SAT)");
  CHECK(parse_error("0 0 * * MONDAY") ==
        "day-of-week field 'MONDAY': 'MONDAY' is neither a number nor a weekday name (SUN-SAT)");
  CHECK(parse_error("x * * * *") == "minute field 'x': 'x' is not a number");
  CHECK(parse_error("0 0 L * *") == "day-of-month field 'L': 'L' is not a number");
  CHECK(parse_error("*/0 * * * *") == "minute field '*/0': the step must be a positive number, got '0'");
  CHECK(parse_error("*/x * * * *") == "minute field '*/x': the step must be a positive number, got 'x'");
  CHECK(parse_error("1/2/3 * * * *") == "minute field '1/2/3': too many '/' in '1/2/3'");
  CHECK(parse_error("1-2-3 * * * *") == "minute field '1-2-3': too many '-' in '1-2-3'");
  CHECK(parse_error("-5 * * * *") == "minute field '-5': '-5' is not a value or a range");
  CHECK(parse_error("1,,2 * * * *") == "minute field '1,,2': empty list element (two commas, or a comma at an end)");
  CHECK(parse_error("0 22-2 * * *") ==
        "hour field '22-2': the range 22-2 runs backwards (write 22-23,0-2 to wrap around)");
  CHECK(parse_error("0 0 * * 7/2") == "day-of-week field '7/2': '7/2' starts past the maximum 6");
}

TEST_CASE("malformed descriptors and zones", "[cron]") {
  CHECK(parse_error("@hourlyy") ==
        "unknown descriptor '@hourlyy' (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly "
        "or @every <duration>)");
  CHECK(parse_error("@daily 5") == "@daily takes no fields after it");
  CHECK(parse_error("@every") == "@every needs one duration, e.g. '@every 1h30m'");
  CHECK(parse_error("@every soon") == "@every: 'soon' is not a duration such as 30s, 5m or 1h30m");
  CHECK(parse_error("@every -5s") == "@every: '-5s' is not a duration such as 30s, 5m or 1h30m");
  CHECK(parse_error("CRON_TZ=Mars/Olympus 0 * * * *") ==
        "unknown time zone 'Mars/Olympus' in CRON_TZ= (expected an IANA name such as Europe/Berlin)");
  CHECK(parse_error("CRON_TZ=UTC") == "CRON_TZ=UTC is not followed by a schedule");
  // Paths are not zone names: cctz would open them (standard input, any
  // file) and validation would block or read what it should not.
  CHECK(parse_error("CRON_TZ=/dev/stdin 0 * * * *") ==
        "unknown time zone '/dev/stdin' in CRON_TZ= (expected an IANA name such as Europe/Berlin)");
  CHECK(parse_error("TZ=../../../../dev/stdin @daily") ==
        "unknown time zone '../../../../dev/stdin' in TZ= (expected an IANA name such as Europe/Berlin)");
  CHECK_FALSE(edgefn::load_zone("file:/dev/stdin"));
  CHECK_FALSE(edgefn::load_zone("Europe//Berlin"));
  CHECK(edgefn::load_zone("Etc/GMT+5"));
  CHECK(edgefn::load_zone("America/Argentina/Buenos_Aires"));
  CHECK(parse_error("CRON_TZ= 0 * * * *") == "CRON_TZ= names no time zone");
}

TEST_CASE("a schedule that can never fire is an error", "[cron]") {
  CHECK(parse_error("0 0 30 2 *") ==
        "the schedule never fires: no month in month field '2' has a day in day-of-month field '30'");
  CHECK(parse_error("0 0 31 4,6,9,11 *") ==
        "the schedule never fires: no month in month field '4,6,9,11' has a day in day-of-month field '31'");
  // With a weekday as well, any Monday in February fires.
  CHECK(fires_utc("0 0 30 2 MON", utc(2026, 1, 1, 0, 0), 1) == Fires{"2026-02-02 00:00:00 +0000"});
}

TEST_CASE("interval ticks at a fixed rate and skips the ones already past", "[cron]") {
  using edgefn::next_interval_tick;
  auto step = next_interval_tick(50ms, 100ms, 0);
  CHECK(step.index == 1);
  CHECK(step.missed == 0);
  step = next_interval_tick(100ms, 100ms, 0);  // due this instant: not missed
  CHECK(step.index == 1);
  CHECK(step.missed == 0);
  step = next_interval_tick(150ms, 100ms, 1);
  CHECK(step.index == 2);
  CHECK(step.missed == 0);
  step = next_interval_tick(350ms, 100ms, 1);  // ticks 2 and 3 went by during tick 1
  CHECK(step.index == 4);
  CHECK(step.missed == 2);
  step = next_interval_tick(400ms, 100ms, 1);
  CHECK(step.index == 4);
  CHECK(step.missed == 2);
  step = next_interval_tick(401ms, 100ms, 1);
  CHECK(step.index == 5);
  CHECK(step.missed == 3);
}

TEST_CASE("a schedule skips and counts the instants a slow tick ran past", "[cron]") {
  using edgefn::next_schedule_tick;
  const auto every_minute = CronSchedule::parse("* * * * *", cctz::utc_time_zone());
  auto step = next_schedule_tick(every_minute, utc(2026, 1, 1, 10, 0), utc(2026, 1, 1, 10, 0, 0) + 20ms);
  CHECK(step.at == utc(2026, 1, 1, 10, 1));
  CHECK(step.missed == 0);
  step = next_schedule_tick(every_minute, utc(2026, 1, 1, 10, 0), utc(2026, 1, 1, 10, 3, 30));
  CHECK(step.at == utc(2026, 1, 1, 10, 4));
  CHECK(step.missed == 3);
  step = next_schedule_tick(every_minute, utc(2026, 1, 1, 10, 0), utc(2026, 1, 1, 10, 1));
  CHECK(step.at == utc(2026, 1, 1, 10, 1));
  CHECK(step.missed == 0);

  const auto every_second = CronSchedule::parse("*/1 * * * * *", cctz::utc_time_zone());
  step = next_schedule_tick(every_second, utc(2026, 1, 1, 0, 0), utc(2026, 1, 2, 0, 0) + 500ms, 10);
  CHECK(step.missed == 10);
  CHECK(step.missed_capped);
  CHECK(step.at == utc(2026, 1, 2, 0, 0, 1));
}

namespace {

struct Loaded {
  YAML::Node root;
  std::vector<edgefn::ConfigNotice> notices;
  edgefn::TriggerConfig trigger;
};

// `attributes` is YAML indented by 6 spaces under spec.triggers.tick.attributes.
void load(Loaded& l, const std::string& attributes) {
  l.root = YAML::Load("spec:\n  triggers:\n    tick:\n      kind: cron\n" + attributes);
  edgefn::ConfigNode root(l.root, "", "f.yaml", &l.notices);
  auto tick = root.child("spec").child("triggers").child("tick");
  l.trigger.name = "tick";
  l.trigger.kind = "cron";
  l.trigger.mark = tick.key_mark();
  if (auto attrs = tick.child("attributes"); attrs.defined()) l.trigger.attributes = attrs;
}

std::string settings_error(const std::string& attributes) {
  Loaded l;
  load(l, attributes);
  try {
    edgefn::read_cron_settings(l.trigger);
  } catch (const edgefn::ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("cron settings: interval, schedule, zone and event", "[cron]") {
  Loaded l;
  load(l,
       "      attributes:\n        interval: 100ms\n        event:\n          body: hello\n"
       "          method: POST\n          path: /tick\n          headers:\n            Content-Type: text/csv\n"
       "            X-Count: 3\n");
  auto s = edgefn::read_cron_settings(l.trigger);
  REQUIRE(s.interval);
  CHECK(*s.interval == 100ms);
  CHECK_FALSE(s.schedule);
  CHECK(s.event.body == "hello");
  CHECK(s.event.method == "POST");
  CHECK(s.event.path == "/tick");
  CHECK(s.event.content_type == "text/csv");
  CHECK(s.event.headers == edgefn::Headers{{"Content-Type", "text/csv"}, {"X-Count", "3"}});

  Loaded z;
  load(z, "      attributes:\n        schedule: '0 9 * * *'\n        timezone: Europe/Berlin\n");
  auto t = edgefn::read_cron_settings(z.trigger);
  REQUIRE(t.schedule);
  CHECK(t.schedule->zone().name() == "Europe/Berlin");
  CHECK(t.schedule_text == "0 9 * * *");
  CHECK(t.event.method.empty());
  CHECK(z.notices.empty());
}

TEST_CASE("cron settings: errors point into the file", "[cron]") {
  CHECK(settings_error("") ==
        "f.yaml:3:5: cron trigger 'tick' needs attributes.interval (e.g. '10s') or attributes.schedule "
        "(e.g. '*/5 * * * *')");
  CHECK(settings_error("      attributes:\n        event: {body: x}\n") ==
        "f.yaml:6:9: spec.triggers.tick.attributes: cron trigger 'tick' needs attributes.interval (e.g. '10s') or "
        "attributes.schedule (e.g. '*/5 * * * *')");
  CHECK(settings_error("      attributes:\n        interval: 10s\n        schedule: '* * * * *'\n") ==
        "f.yaml:7:19: spec.triggers.tick.attributes.schedule: interval (line 6) and schedule are mutually "
        "exclusive; set only one");
  CHECK(settings_error("      attributes:\n        schedule: '*/5 61 * * *'\n") ==
        "f.yaml:6:19: spec.triggers.tick.attributes.schedule: invalid schedule '*/5 61 * * *': hour field '61': 61 "
        "is above the maximum 23");
  CHECK(settings_error("      attributes:\n        interval: 0s\n") ==
        "f.yaml:6:19: spec.triggers.tick.attributes.interval: expected a positive duration such as '10s' or "
        "'100ms', got '0s'");
  CHECK(settings_error("      attributes:\n        interval: soon\n") ==
        "f.yaml:6:19: spec.triggers.tick.attributes.interval: expected a duration such as '10s' or '1m30s', got "
        "'soon'");
  CHECK(settings_error("      attributes:\n        schedule: '@daily'\n        timezone: Mars/Olympus\n") ==
        "f.yaml:7:19: spec.triggers.tick.attributes.timezone: unknown time zone 'Mars/Olympus' (expected an IANA "
        "name such as Europe/Berlin or UTC, or Local; is tzdata installed?)");
}

TEST_CASE("cron settings: notices for rounded @every and an overridden timezone", "[cron]") {
  Loaded l;
  load(l, "      attributes:\n        schedule: 'CRON_TZ=UTC @every 1500ms'\n        timezone: Europe/Berlin\n");
  auto s = edgefn::read_cron_settings(l.trigger);
  REQUIRE(l.notices.size() == 2);
  CHECK_THAT(l.notices[0].message, Catch::Contains("attributes.timezone: the schedule's CRON_TZ="));
  CHECK_THAT(l.notices[1].message, Catch::Contains("ticks every 1s"));
}
