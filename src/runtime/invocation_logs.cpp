#include "runtime/invocation_logs.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>

#include "log/log.hpp"

namespace edgefn {
namespace {

// Nuclio's names (zap's lowercase levels), which the JSON log lines use too.
std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    default: return "error";
  }
}

// The keys every record has, plus "with", which holds what cannot go at the
// top level. A with-field of one of these names must not shadow them.
bool is_fixed_key(std::string_view literal) {
  for (const std::string_view key : {"level", "time", "message", "with"}) {
    if (json_string_equals(literal, key)) return true;
  }
  return false;
}

void append_member(std::string& out, const JsonMember& m) {
  append_json_compact(out, m.key);
  out += ':';
  append_json_compact(out, m.value);
}

// The with-fields, each after a comma.
void append_fields(std::string& out, std::string_view fields_json, std::vector<JsonMember>& members) {
  if (!json_object_members(fields_json, members)) {
    // Not trusted and not an object: kept as a string, so the record still
    // says what the handler logged.
    out += R"(,"with":)";
    append_json_string(out, fields_json);
    return;
  }
  // Only a valid object goes in as JSON, member by member and compacted:
  // whitespace between tokens may hold line breaks that end a header.
  bool shadowed = false;
  for (const auto& m : members) {
    if (is_fixed_key(m.key)) {
      shadowed = true;
    } else {
      out += ',';
      append_member(out, m);
    }
  }
  if (!shadowed) return;
  out += R"(,"with":{)";
  bool first = true;
  for (const auto& m : members) {
    if (!is_fixed_key(m.key)) continue;
    if (!first) out += ',';
    first = false;
    append_member(out, m);
  }
  out += '}';
}

// `,"time":<ms>`: milliseconds since the epoch as a number, as zap's
// EpochMillisTimeEncoder writes Nuclio's "time". A clock before 1970 reads
// as 0 rather than as a negative fraction, which is not a JSON number.
void append_time(std::string& out, std::chrono::system_clock::time_point time) {
  const auto us =
      std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count());
  fmt::format_to(std::back_inserter(out), R"(,"time":{}.{:03})", us / 1000, us % 1000);
}

void append_record(std::string& out, spdlog::level::level_enum level, std::chrono::system_clock::time_point time,
                   std::string_view message, std::string_view fields_json, std::vector<JsonMember>& members) {
  out += R"({"level":")";
  out += level_name(level);
  out += '"';
  append_time(out, time);
  out += R"(,"message":)";
  append_json_string(out, message);
  if (!fields_json.empty()) append_fields(out, fields_json, members);
  out += '}';
}

void append_marker(std::string& out, spdlog::level::level_enum level, std::chrono::system_clock::time_point time,
                   std::size_t left_out) {
  out += R"({"level":")";
  out += level_name(level);
  out += '"';
  append_time(out, time);
  fmt::format_to(std::back_inserter(out),
                 R"(,"message":"{} more log record{} left out: X-Nuclio-Logs is limited to 4 KiB","left_out":{}}})",
                 left_out, left_out == 1 ? " was" : "s were", left_out);
}

// Room kept for the marker and its comma while records are added, so that
// it always fits: the longest it can be, whatever the count and the clock.
std::size_t marker_reserve() {
  static const std::size_t reserve = [] {
    std::string longest;
    append_marker(longest, spdlog::level::err, std::chrono::system_clock::time_point::max(),
                  std::numeric_limits<std::size_t>::max());
    return longest.size() + 1;
  }();
  return reserve;
}

}  // namespace

InvocationLogs::InvocationLogs(const Event& event) {
  auto requested = event.header("X-Nuclio-Log-Level");
  if (requested.empty()) return;
  spdlog::level::level_enum level;
  if (parse_log_level(requested, level)) level_ = level;
}

void InvocationLogs::add(spdlog::level::level_enum level, std::string_view message, std::string_view fields_json) {
  if (!level_ || level < *level_) return;
  if (left_out_ == 0) {
    // Room for the record, the '[' or ',' before it, the closing ']' and a
    // marker in case a later record does not fit.
    const std::size_t used = json_.size() + 2 + marker_reserve();
    const std::size_t room = used < kMaxHeaderBytes ? kMaxHeaderBytes - used : 0;
    // Escaping only lengthens the message: a message alone too long for the
    // room is not worth formatting.
    if (message.size() < room) {
      record_.clear();
      append_record(record_, level, std::chrono::system_clock::now(), message, fields_json, members_);
      if (record_.size() <= room) {
        json_ += json_.empty() ? '[' : ',';
        json_ += record_;
        return;
      }
    }
  }
  ++left_out_;
}

void InvocationLogs::attach(Response& response) const {
  if (!level_) return;
  std::string header = json_.empty() ? std::string{"["} : json_;
  if (left_out_ > 0) {
    if (!json_.empty()) header += ',';
    append_marker(header, std::max(spdlog::level::warn, *level_), std::chrono::system_clock::now(), left_out_);
  }
  header += ']';
  response.headers.emplace_back("X-Nuclio-Logs", std::move(header));
}

}  // namespace edgefn
