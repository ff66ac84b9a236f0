#include "log/log.hpp"

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <iterator>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "util/json.hpp"

namespace edgefn {
namespace {

constexpr const char* kTextPattern = "%Y-%m-%d %H:%M:%S.%e %^%-8l%$ %n: %v";

// log_with() appends its fields to the payload after one of these control
// characters, which valid compact JSON never holds raw: a formatter finds
// them after the last marker. A payload with a marker but no valid object
// after it (a plain line that happens to hold one) is all message.
constexpr char kFieldsShown = '\x1e';
constexpr char kFieldsJsonOnly = '\x1f';

constexpr std::string_view kContextEventId = "event_id";
constexpr std::string_view kContextTrigger = "trigger";
constexpr std::string_view kContextWorker = "worker";

struct SplitPayload {
  std::string_view message;
  std::string_view fields;  // the members' JSON without braces; empty for none
  bool text_shows_fields = true;
};

SplitPayload split_payload(std::string_view payload) {
  const auto mark = payload.find_last_of(std::string_view{"\x1e\x1f", 2});
  if (mark == std::string_view::npos) return {payload, {}, true};
  std::string_view object = payload.substr(mark + 1);
  if (object.size() < 2 || object.front() != '{' || object.back() != '}' || !json_is_valid(object))
    return {payload, {}, true};
  return {payload.substr(0, mark), object.substr(1, object.size() - 2), payload[mark] == kFieldsShown};
}

bool reserved_key(std::string_view literal) {
  return json_string_equals(literal, "time") || json_string_equals(literal, "level") ||
         json_string_equals(literal, "logger") || json_string_equals(literal, "message");
}

class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    // Formatters are called under their sink's lock, so one scratch string
    // per formatter is enough and saves an allocation per line.
    line_.clear();
    line_ += "{\"time\":\"";
    append_time(msg.time);
    line_ += "\",\"level\":\"";
    line_ += log_level_name(msg.level);
    line_ += "\",\"logger\":";
    append_json_string(line_, std::string_view{msg.logger_name.data(), msg.logger_name.size()});
    line_ += ",\"message\":";
    const auto split = split_payload(std::string_view{msg.payload.data(), msg.payload.size()});
    append_json_string(line_, split.message);
    if (!split.fields.empty()) append_fields(split.fields);
    line_ += "}\n";
    dest.append(line_.data(), line_.data() + line_.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonLogFormatter>(); }

 private:
  // `fields` was validated as an object's inside when the payload was split.
  void append_fields(std::string_view fields) {
    members_.clear();
    scratch_.assign("{").append(fields).append("}");
    if (!json_object_members(scratch_, members_)) return;
    for (const auto& member : members_) {
      line_ += ',';
      if (reserved_key(member.key)) {
        line_ += "\"field.";
        line_.append(member.key.substr(1));
      } else {
        line_.append(member.key);
      }
      line_ += ':';
      line_.append(member.value);
    }
  }

  void append_time(spdlog::log_clock::time_point tp) {
    const auto since_epoch = tp.time_since_epoch();
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - secs).count();
    std::time_t t = static_cast<std::time_t>(secs.count());
    if (millis < 0) {  // clocks before 1970: keep the fraction positive
      millis += 1000;
      --t;
    }
    std::tm tm{};
    gmtime_r(&t, &tm);
    fmt::format_to(std::back_inserter(line_), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  }

  std::string line_;
  std::string scratch_;
  std::vector<JsonMember> members_;
};

// The pattern formatter, fed one line of the message at a time; a line's
// fields (when shown) follow its last line.
class TextLogFormatter final : public spdlog::formatter {
 public:
  TextLogFormatter() : pattern_(kTextPattern) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto split = split_payload(std::string_view{msg.payload.data(), msg.payload.size()});
    std::string_view rest = split.message;
    if (split.fields.empty() && rest.find('\n') == std::string_view::npos) {
      pattern_.format(msg, dest);
      return;
    }
    while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r')) rest.remove_suffix(1);
    for (;;) {
      const auto newline = rest.find('\n');
      std::string_view part = rest.substr(0, newline);
      if (!part.empty() && part.back() == '\r') part.remove_suffix(1);
      line_.assign(part);
      const bool last = newline == std::string_view::npos;
      if (last && split.text_shows_fields && !split.fields.empty()) append_text_fields(split.fields);
      spdlog::details::log_msg piece = msg;
      piece.payload = spdlog::string_view_t{line_.data(), line_.size()};
      pattern_.format(piece, dest);
      // The colour sink reads the level's range from the record it passed.
      msg.color_range_start = piece.color_range_start;
      msg.color_range_end = piece.color_range_end;
      if (last) break;
      rest.remove_prefix(newline + 1);
    }
  }

  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<TextLogFormatter>(); }

 private:
  // The fields as an object after the message, but the daemon's context:
  // the event id as " (event ID)", the trigger and worker not at all (the
  // logger's name says the worker).
  void append_text_fields(std::string_view fields) {
    members_.clear();
    scratch_.assign("{").append(fields).append("}");
    if (!json_object_members(scratch_, members_)) return;
    std::string_view event_id;
    bool first = true;
    for (const auto& member : members_) {
      if (json_string_equals(member.key, kContextEventId) && member.value.size() >= 2 && member.value.front() == '"') {
        event_id = member.value.substr(1, member.value.size() - 2);
        continue;
      }
      if (json_string_equals(member.key, kContextTrigger) || json_string_equals(member.key, kContextWorker)) continue;
      line_.append(first ? " {" : ",").append(member.key).append(":").append(member.value);
      first = false;
    }
    if (!first) line_ += '}';
    if (!event_id.empty()) line_.append(" (event ").append(event_id).append(")");
  }

  spdlog::pattern_formatter pattern_;
  std::string scratch_;
  std::vector<JsonMember> members_;
  std::string line_;
};

// Every logger writes through one distribution sink whose single child is
// swapped by setup_logging, so loggers created before setup (by static
// initialisation or a test) follow the configured format too.
struct LogState {
  std::mutex mutex;
  std::shared_ptr<spdlog::sinks::dist_sink_mt> sink = std::make_shared<spdlog::sinks::dist_sink_mt>();
  spdlog::level::level_enum level = spdlog::level::info;
  bool configured = false;
  std::unordered_map<std::string, std::shared_ptr<spdlog::logger>> loggers;
};

LogState& log_state() {
  static LogState* state = new LogState;  // leaked: loggers must outlive other statics' destructors
  return *state;
}

std::shared_ptr<spdlog::sinks::sink> make_stdout_sink(LogFormat format) {
  std::shared_ptr<spdlog::sinks::sink> out;
  if (format == LogFormat::kText && ::isatty(STDOUT_FILENO) == 1) {
    out = std::make_shared<spdlog::sinks::stdout_color_sink_mt>();
  } else {
    out = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  }
  if (format == LogFormat::kJson) {
    out->set_formatter(make_json_log_formatter());
  } else {
    out->set_formatter(make_text_log_formatter());
  }
  return out;
}

void configure_locked(LogState& state, spdlog::level::level_enum level, LogFormat format) {
  state.sink->set_sinks({make_stdout_sink(format)});
  state.level = level;
  state.configured = true;
}

}  // namespace

std::unique_ptr<spdlog::formatter> make_json_log_formatter() { return std::make_unique<JsonLogFormatter>(); }
std::unique_ptr<spdlog::formatter> make_text_log_formatter() { return std::make_unique<TextLogFormatter>(); }

void set_log_level(spdlog::level::level_enum level) {
  auto& state = log_state();
  std::lock_guard lock(state.mutex);
  state.level = level;
  for (auto& [name, logger] : state.loggers) logger->set_level(level);
}

spdlog::level::level_enum log_level() {
  auto& state = log_state();
  std::lock_guard lock(state.mutex);
  return state.level;
}

std::string_view log_level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "off";
  }
}

void LogFields::key(std::string_view name) {
  if (!json_.empty()) json_ += ',';
  append_json_string(json_, name);
  json_ += ':';
}

LogFields& LogFields::add(std::string_view name, std::string_view text) {
  key(name);
  append_json_string(json_, text);
  return *this;
}

LogFields& LogFields::add(std::string_view name, std::int64_t number) {
  key(name);
  fmt::format_to(std::back_inserter(json_), "{}", number);
  return *this;
}

LogFields& LogFields::add(std::string_view name, double number) {
  key(name);
  JsonWriter w;
  w.value(number);
  json_ += w.str();
  return *this;
}

LogFields& LogFields::add(std::string_view name, bool flag) {
  key(name);
  json_ += flag ? "true" : "false";
  return *this;
}

LogFields& LogFields::add_members(std::string_view object_json) {
  if (object_json.empty()) return *this;
  std::vector<JsonMember> members;
  if (!json_object_members(object_json, members)) return add("fields", object_json);
  for (const auto& member : members) {
    if (!json_.empty()) json_ += ',';
    append_json_compact(json_, member.key);
    json_ += ':';
    append_json_compact(json_, member.value);
  }
  return *this;
}

std::string LogFields::json() const { return json_.empty() ? std::string{} : "{" + json_ + "}"; }

void log_with(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view message,
              const LogFields& fields, TextFields text) {
  if (!logger.should_log(level)) return;
  if (fields.empty()) {
    logger.log(level, "{}", message);
    return;
  }
  std::string payload;
  const std::string object = fields.json();
  payload.reserve(message.size() + 1 + object.size());
  payload.append(message);
  payload += text == TextFields::kAlways ? kFieldsShown : kFieldsJsonOnly;
  payload.append(object);
  logger.log(level, "{}", payload);
}

void setup_logging(spdlog::level::level_enum level, LogFormat format) {
  auto& state = log_state();
  std::lock_guard lock(state.mutex);
  configure_locked(state, level, format);
  for (auto& [name, logger] : state.loggers) logger->set_level(level);
}

std::shared_ptr<spdlog::logger> get_logger(const std::string& name) {
  auto& state = log_state();
  std::lock_guard lock(state.mutex);
  if (auto it = state.loggers.find(name); it != state.loggers.end()) return it->second;
  if (!state.configured) configure_locked(state, spdlog::level::info, LogFormat::kText);
  auto logger = std::make_shared<spdlog::logger>(name, state.sink);
  logger->set_level(state.level);
  // spdlog 1.10's stdout sinks already fflush each record; asking for it
  // explicitly keeps that true if the sink changes. Tests and supervisors
  // (journald, docker logs) read stdout line by line through a pipe, where
  // stdio would otherwise buffer 4 KiB; a line costs one write(2), cheap at
  // the rates a daemon logs.
  logger->flush_on(spdlog::level::trace);
  state.loggers.emplace(name, logger);
  return logger;
}

bool parse_log_level(std::string_view name, spdlog::level::level_enum& out) {
  static constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 8> kNames = {{
      {"trace", spdlog::level::trace},
      {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},
      {"warn", spdlog::level::warn},
      {"warning", spdlog::level::warn},
      {"error", spdlog::level::err},
      {"critical", spdlog::level::critical},
      {"off", spdlog::level::off},
  }};
  for (const auto& [text, level] : kNames) {
    if (text.size() == name.size() && std::equal(text.begin(), text.end(), name.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        })) {
      out = level;
      return true;
    }
  }
  return false;
}

}  // namespace edgefn
