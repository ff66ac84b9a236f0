#include "trigger/cron/cron_schedule.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

#include "util/duration.hpp"

namespace edgefn {
namespace {

struct Name {
  std::string_view name;
  int value;
};

constexpr std::array<Name, 12> kMonthNames{{{"jan", 1},
                                            {"feb", 2},
                                            {"mar", 3},
                                            {"apr", 4},
                                            {"may", 5},
                                            {"jun", 6},
                                            {"jul", 7},
                                            {"aug", 8},
                                            {"sep", 9},
                                            {"oct", 10},
                                            {"nov", 11},
                                            {"dec", 12}}};
constexpr std::array<Name, 7> kDayNames{
    {{"sun", 0}, {"mon", 1}, {"tue", 2}, {"wed", 3}, {"thu", 4}, {"fri", 5}, {"sat", 6}}};

struct FieldSpec {
  std::string_view name;
  int min;
  int max;           // what `*` and `N/step` run up to
  int max_accepted;  // 7 for day-of-week, where 7 is also Sunday
  const Name* names;
  std::size_t name_count;
  std::string_view names_hint;
};

constexpr FieldSpec kSecondField{"second", 0, 59, 59, nullptr, 0, {}};
constexpr FieldSpec kMinuteField{"minute", 0, 59, 59, nullptr, 0, {}};
constexpr FieldSpec kHourField{"hour", 0, 23, 23, nullptr, 0, {}};
constexpr FieldSpec kDomField{"day-of-month", 1, 31, 31, nullptr, 0, {}};
constexpr FieldSpec kMonthField{"month", 1, 12, 12, kMonthNames.data(), kMonthNames.size(), "a month name (JAN-DEC)"};
constexpr FieldSpec kDowField{"day-of-week", 0, 6, 7, kDayNames.data(), kDayNames.size(), "a weekday name (SUN-SAT)"};

struct Field {
  std::uint64_t bits = 0;
  bool star = false;
};

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_blanks(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_blank(s[i])) ++i;
    std::size_t j = i;
    while (j < s.size() && !is_blank(s[j])) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    auto pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

// Built by appending: GCC 12 warns (-Wrestrict, a false positive) on
// "'" + std::string{...}.
std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '\'';
  out.append(s);
  out += '\'';
  return out;
}

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<int> parse_number(std::string_view s) {
  // Six digits is far past every field's range and far from overflow.
  if (s.empty() || s.size() > 6) return std::nullopt;
  int value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

class FieldParser {
 public:
  FieldParser(const FieldSpec& spec, std::string_view text) : spec_(spec), text_(text) {}

  Field parse() const {
    Field field;
    for (auto element : split(text_, ',')) {
      if (element.empty()) fail("empty list element (two commas, or a comma at an end)");
      parse_element(element, field);
    }
    return field;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw CronSyntaxError(std::string{spec_.name} + " field '" + std::string{text_} + "': " + problem);
  }

  int value_of(std::string_view s) const {
    if (auto n = parse_number(s)) return *n;
    const auto name = lower(s);
    for (std::size_t i = 0; i < spec_.name_count; ++i)
      if (spec_.names[i].name == name) return spec_.names[i].value;
    if (spec_.names) fail(quoted(s) + " is neither a number nor " + std::string{spec_.names_hint});
    fail(quoted(s) + " is not a number");
  }

  void parse_element(std::string_view element, Field& field) const {
    const auto range_and_step = split(element, '/');
    if (range_and_step.size() > 2) fail("too many '/' in '" + std::string{element} + "'");
    const auto range = range_and_step[0];
    int step = 1;
    if (range_and_step.size() == 2) {
      auto n = parse_number(range_and_step[1]);
      if (!n || *n == 0) fail("the step must be a positive number, got '" + std::string{range_and_step[1]} + "'");
      step = *n;
    }

    int low;
    int high;
    bool star = false;
    if (range == "*" || range == "?") {
      low = spec_.min;
      high = spec_.max;
      star = step == 1;  // robfig: `*/2` restricts the day fields, `*` does not
    } else {
      const auto bounds = split(range, '-');
      if (bounds.size() > 2) fail("too many '-' in '" + std::string{element} + "'");
      if (bounds[0].empty() || (bounds.size() == 2 && bounds[1].empty()))
        fail(quoted(element) + " is not a value or a range");
      low = value_of(bounds[0]);
      if (bounds.size() == 2)
        high = value_of(bounds[1]);
      else
        high = range_and_step.size() == 2 ? spec_.max : low;
      if (low < spec_.min) fail(std::to_string(low) + " is below the minimum " + std::to_string(spec_.min));
      if (low > spec_.max_accepted)
        fail(std::to_string(low) + " is above the maximum " + std::to_string(spec_.max_accepted));
      if (high > spec_.max_accepted)
        fail(std::to_string(high) + " is above the maximum " + std::to_string(spec_.max_accepted));
      if (low > high && bounds.size() == 1)
        fail(quoted(element) + " starts past the maximum " + std::to_string(spec_.max));
      if (low > high) {
        fail("the range " + std::string{range} + " runs backwards (write " + std::to_string(low) + "-" +
             std::to_string(spec_.max_accepted) + "," + std::to_string(spec_.min) + "-" + std::to_string(high) +
             " to wrap around)");
      }
    }
    // Only day-of-week accepts a value past its max: 7, another name for 0.
    for (int v = low; v <= high; v += step) field.bits |= std::uint64_t{1} << (v > spec_.max ? v - spec_.max - 1 : v);
    field.star = field.star || star;
  }

  const FieldSpec& spec_;
  std::string_view text_;
};

constexpr int days_in_month_at_most(int month) {
  constexpr std::array<int, 13> kDays{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return kDays[static_cast<std::size_t>(month)];
}

std::string_view descriptor_fields(const std::string& descriptor) {
  if (descriptor == "@yearly" || descriptor == "@annually") return "0 0 0 1 1 *";
  if (descriptor == "@monthly") return "0 0 0 1 * *";
  if (descriptor == "@weekly") return "0 0 0 * * 0";
  if (descriptor == "@daily" || descriptor == "@midnight") return "0 0 0 * * *";
  if (descriptor == "@hourly") return "0 0 * * * *";
  return {};
}

// cctz counts weekdays from Monday; cron from Sunday.
int cron_weekday(cctz::weekday wd) {
  switch (wd) {
    case cctz::weekday::sunday: return 0;
    case cctz::weekday::monday: return 1;
    case cctz::weekday::tuesday: return 2;
    case cctz::weekday::wednesday: return 3;
    case cctz::weekday::thursday: return 4;
    case cctz::weekday::friday: return 5;
    case cctz::weekday::saturday: return 6;
  }
  return 0;
}

}  // namespace

namespace {

// cctz reads "<zoneinfo>/<name>", or the name itself when it starts with
// '/' or "file:": "/dev/stdin" would block `processor validate` on its
// standard input, and "../../x" read any file as a zone. IANA names are
// relative paths of letters, digits, '_', '-', '+' and '.'.
bool is_zone_name(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (std::string_view part : split(name, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
    for (char c : part) {
      const bool allowed = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '+' || c == '.';
      if (!allowed) return false;
    }
  }
  return true;
}

}  // namespace

std::optional<cctz::time_zone> load_zone(const std::string& name) {
  if (name == "Local") return cctz::local_time_zone();
  cctz::time_zone zone;
  if (!is_zone_name(name) || !cctz::load_time_zone(name, &zone)) return std::nullopt;
  return zone;
}

CronSchedule CronSchedule::parse(std::string_view text, const cctz::time_zone& zone) {
  CronSchedule s;
  s.zone_ = zone;
  std::string_view rest = trim(text);
  if (rest.empty()) throw CronSyntaxError("the schedule is empty");

  for (std::string_view prefix : {std::string_view{"CRON_TZ="}, std::string_view{"TZ="}}) {
    if (rest.substr(0, prefix.size()) != prefix) continue;
    auto end = std::find_if(rest.begin(), rest.end(), is_blank);
    std::string name{rest.substr(prefix.size(), static_cast<std::size_t>(end - rest.begin()) - prefix.size())};
    if (name.empty()) throw CronSyntaxError(std::string{prefix} + " names no time zone");
    auto loaded = load_zone(name);
    if (!loaded) {
      throw CronSyntaxError("unknown time zone '" + name + "' in " + std::string{prefix} +
                            " (expected an IANA name such as Europe/Berlin)");
    }
    s.zone_ = *loaded;
    s.zone_from_text_ = true;
    rest = trim(rest.substr(static_cast<std::size_t>(end - rest.begin())));
    if (rest.empty()) throw CronSyntaxError(std::string{prefix} + name + " is not followed by a schedule");
    break;
  }

  std::string expanded;
  if (rest.front() == '@') {
    const auto words = split_blanks(rest);
    const auto descriptor = lower(words[0]);
    if (descriptor == "@every") {
      if (words.size() != 2) throw CronSyntaxError("@every needs one duration, e.g. '@every 1h30m'");
      auto d = parse_duration(words[1]);
      if (!d) {
        throw CronSyntaxError("@every: '" + std::string{words[1]} + "' is not a duration such as 30s, 5m or 1h30m");
      }
      s.every_written_ = *d;
      s.every_ = std::max(std::chrono::seconds{1}, std::chrono::floor<std::chrono::seconds>(*d));
      return s;
    }
    expanded = std::string{descriptor_fields(descriptor)};
    if (expanded.empty()) {
      throw CronSyntaxError("unknown descriptor '" + std::string{words[0]} +
                            "' (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or "
                            "@every <duration>)");
    }
    if (words.size() != 1) throw CronSyntaxError(descriptor + " takes no fields after it");
    rest = expanded;
  }

  auto fields = split_blanks(rest);
  if (fields.size() != 5 && fields.size() != 6) {
    throw CronSyntaxError(
        "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with seconds "
        "first), got " +
        std::to_string(fields.size()));
  }
  if (fields.size() == 5) {
    fields.insert(fields.begin(), "0");
  } else if (fields[0] == "*") {
    fields[0] = "0";  // Nuclio's reading: `* */5 * * * *` is every five minutes, not every second of them
  }
  s.seconds_ = FieldParser(kSecondField, fields[0]).parse().bits;
  s.minutes_ = FieldParser(kMinuteField, fields[1]).parse().bits;
  s.hours_ = FieldParser(kHourField, fields[2]).parse().bits;
  const auto dom = FieldParser(kDomField, fields[3]).parse();
  s.months_ = FieldParser(kMonthField, fields[4]).parse().bits;
  const auto dow = FieldParser(kDowField, fields[5]).parse();
  s.days_of_month_ = dom.bits;
  s.dom_star_ = dom.star;
  s.days_of_week_ = dow.bits;
  s.dow_star_ = dow.star;

  // With either day field unrestricted the two are ANDed, and the
  // day-of-month alone must fit in some chosen month.
  if (s.dom_star_ || s.dow_star_) {
    bool possible = false;
    for (int month = 1; month <= 12 && !possible; ++month) {
      if (!(s.months_ >> month & 1)) continue;
      for (int day = 1; day <= days_in_month_at_most(month) && !possible; ++day)
        possible = (s.days_of_month_ >> day & 1) != 0;
    }
    if (!possible) {
      throw CronSyntaxError("the schedule never fires: no month in month field '" + std::string{fields[4]} +
                            "' has a day in day-of-month field '" + std::string{fields[3]} + "'");
    }
  }
  return s;
}

bool CronSchedule::day_matches(const cctz::civil_day& day) const noexcept {
  const bool dom = (days_of_month_ >> day.day() & 1) != 0;
  const bool dow = (days_of_week_ >> cron_weekday(cctz::get_weekday(day)) & 1) != 0;
  if (dom_star_ || dow_star_) return dom && dow;
  return dom || dow;
}

std::optional<cctz::civil_second> CronSchedule::next_civil_match(cctz::civil_second c, cctz::year_t limit) const {
  while (c.year() <= limit) {
    if (!(months_ >> c.month() & 1)) {
      c = cctz::civil_second(cctz::civil_month(c) + 1);
    } else if (!day_matches(cctz::civil_day(c))) {
      c = cctz::civil_second(cctz::civil_day(c) + 1);
    } else if (!(hours_ >> c.hour() & 1)) {
      c = cctz::civil_second(cctz::civil_hour(c) + 1);
    } else if (!(minutes_ >> c.minute() & 1)) {
      c = cctz::civil_second(cctz::civil_minute(c) + 1);
    } else if (!(seconds_ >> c.second() & 1)) {
      c += 1;
    } else {
      return c;
    }
  }
  return std::nullopt;
}

std::optional<SystemTime> CronSchedule::next(SystemTime after) const {
  const auto whole = std::chrono::floor<cctz::seconds>(after);
  // SystemTime counts nanoseconds in 64 bits, up to the year 2262, and
  // @every takes up to 292 years: an instant past that is no next tick
  // (converting it would overflow).
  static constexpr auto kLast = std::chrono::floor<cctz::seconds>(SystemTime::duration::max());
  if (every_) {
    if (whole.time_since_epoch() > kLast - *every_) return std::nullopt;
    return SystemTime{whole + *every_};
  }

  cctz::civil_second civil = zone_.lookup(whole).cs + 1;
  const auto limit = civil.year() + kSearchYears;
  while (auto match = next_civil_match(civil, limit)) {
    const auto lookup = zone_.lookup(*match);
    // A skipped civil time fires when the gap ends; a repeated one at its
    // first occurrence only, so the second pass through an overlap finds
    // its candidates already in the past and moves on.
    const auto at = lookup.kind == cctz::time_zone::civil_lookup::SKIPPED ? lookup.trans : lookup.pre;
    if (at.time_since_epoch() > kLast) return std::nullopt;
    if (at > after) return SystemTime{at};
    civil = *match + 1;
  }
  return std::nullopt;
}

IntervalStep next_interval_tick(std::chrono::nanoseconds elapsed_since_start, std::chrono::nanoseconds period,
                                std::uint64_t last_index) noexcept {
  const std::uint64_t next = last_index + 1;
  if (period.count() <= 0) return {next, 0};
  if (elapsed_since_start.count() <= 0 ||
      static_cast<std::uint64_t>(elapsed_since_start.count()) <= next * static_cast<std::uint64_t>(period.count()))
    return {next, 0};
  // The first tick not before now: ceil(elapsed / period).
  std::uint64_t first_ahead = static_cast<std::uint64_t>(elapsed_since_start.count() / period.count());
  if (elapsed_since_start.count() % period.count() != 0) ++first_ahead;
  return {first_ahead, first_ahead - next};
}

ScheduleStep next_schedule_tick(const CronSchedule& schedule, SystemTime last_fired, SystemTime now,
                                std::uint64_t max_counted) {
  ScheduleStep step;
  step.at = schedule.next(last_fired);
  while (step.at && *step.at < now) {
    if (step.missed >= max_counted) {
      step.missed_capped = true;
      step.at = schedule.next(now - std::chrono::nanoseconds{1});
      break;
    }
    ++step.missed;
    step.at = schedule.next(*step.at);
  }
  return step;
}

}  // namespace edgefn
