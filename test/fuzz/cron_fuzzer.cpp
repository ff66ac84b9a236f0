// A cron trigger's `schedule` attribute: CronSchedule::parse() on the text,
// then the tick arithmetic the trigger runs on what it accepted.
//
// What must hold: parse() returns or throws CronSyntaxError; an accepted
// field schedule fires within kSearchYears of any instant (a schedule that
// never fires is a syntax error, cron_schedule.hpp); next(t) is after t,
// and next() of that is later still; next_schedule_tick() never returns an
// instant before `now`.
//
// Time zones: CRON_TZ= and TZ= load a zone by name from the disk (cctz,
// which also caches every name it was asked for, found or not, for the
// life of the process). The harness lets through only the names listed
// below, so that the fuzzer neither reads arbitrary files nor grows that
// cache without bound; the dictionary (cron.dict) offers them.
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "trigger/cron/cron_schedule.hpp"

namespace {

using namespace edgefn;
using namespace std::chrono;

constexpr std::array<std::string_view, 9> kZones{
    "UTC",        "Local",      "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
    "Asia/Tokyo", "Etc/GMT+12", "Asia/Kathmandu", "Mars/Olympus",  // the last one does not exist
};

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// The zone name CronSchedule::parse() would load, if any (the same prefix
// rules).
bool names_an_unlisted_zone(std::string_view text) {
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  for (std::string_view prefix : {std::string_view{"CRON_TZ="}, std::string_view{"TZ="}}) {
    if (text.substr(0, prefix.size()) != prefix) continue;
    auto name = text.substr(prefix.size());
    std::size_t end = 0;
    while (end < name.size() && !is_blank(name[end])) ++end;
    name = name.substr(0, end);
    if (name.empty()) return false;
    for (auto zone : kZones)
      if (name == zone) return false;
    return true;
  }
  return false;
}

SystemTime utc(int year, int month, int day, int hour, int minute) {
  return SystemTime{sys_days{std::chrono::year{year} / month / day}} + hours{hour} + minutes{minute};
}

[[noreturn]] void fail(const char* what, std::string_view schedule, SystemTime at) {
  std::fprintf(stderr, "cron_fuzzer: '%.*s' from %lld s: %s\n", static_cast<int>(schedule.size()), schedule.data(),
               static_cast<long long>(duration_cast<seconds>(at.time_since_epoch()).count()), what);
  std::abort();
}

cctz::time_zone berlin;
std::array<SystemTime, 5> instants;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // A zone with daylight saving time, so that gaps and overlaps are
  // crossed; instants around its 2026 transitions, in a year without a
  // 29 February, at the epoch and past 2100.
  if (!cctz::load_time_zone("Europe/Berlin", &berlin)) {
    std::fprintf(stderr, "cron_fuzzer: Europe/Berlin not found: is tzdata installed?\n");
    std::abort();
  }
  instants = {utc(2026, 3, 29, 0, 30), utc(2026, 10, 25, 0, 59), utc(2027, 2, 27, 12, 0), utc(1970, 1, 1, 0, 0),
              utc(2101, 12, 31, 23, 59) + seconds{59} + milliseconds{500}};
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (names_an_unlisted_zone(text)) return -1;  // not kept in the corpus
  std::optional<CronSchedule> schedule;
  try {
    schedule = CronSchedule::parse(text, berlin);
  } catch (const CronSyntaxError&) {
    return 0;
  }
  for (const SystemTime at : instants) {
    const auto next = schedule->next(at);
    if (!next) {
      if (!schedule->every()) fail("an accepted schedule never fires", text, at);
      continue;
    }
    if (*next <= at) fail("next() is not after the instant", text, at);
    const auto after = schedule->next(*next);
    if (after && *after <= *next) fail("next(next()) is not after next()", text, at);
    const auto step = next_schedule_tick(*schedule, at, at + hours{30}, 50);
    if (step.at && *step.at < at + hours{30}) fail("next_schedule_tick() is before now", text, at);
  }
  return 0;
}
