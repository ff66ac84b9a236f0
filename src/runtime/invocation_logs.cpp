#include "runtime/invocation_logs.hpp"

#include <fmt/chrono.h>

#include "log/log.hpp"
#include "util/json.hpp"

namespace edgefn {
namespace {

// Nuclio's names, which the JSON log lines use too.
std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    default: return "error";
  }
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
  json_ += json_.empty() ? "[" : ",";
  JsonWriter w;
  w.begin_object();
  w.key("datetime").value(fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", std::chrono::floor<std::chrono::milliseconds>(
                                                                 std::chrono::system_clock::now())));
  w.key("level").value(level_name(level));
  w.key("message").value(message);
  // The worker is not trusted: its text goes in as JSON only when it is a
  // valid object, and then without the whitespace between tokens, which may
  // hold line breaks that would end the header. Anything else is kept as a
  // string so that the record still says what the handler logged.
  w.key("with");
  if (fields_json.empty()) {
    w.raw("{}");
  } else if (json_object_members(fields_json, members_)) {
    std::string compact;
    append_json_compact(compact, fields_json);
    w.raw(compact);
  } else {
    w.value(fields_json);
  }
  w.end_object();
  json_ += w.str();
}

void InvocationLogs::attach(Response& response) const {
  if (!level_) return;
  response.headers.emplace_back("X-Nuclio-Logs", json_.empty() ? std::string{"[]"} : json_ + "]");
}

}  // namespace edgefn
