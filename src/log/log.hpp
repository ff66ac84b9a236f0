#pragma once
// Logging: spdlog loggers sharing one sink. Text on a terminal (colour when
// stdout is a TTY), JSON lines with --log-format json. Loggers are named with
// dots: "trigger.http.api", "worker.api.0", "processor".
//
// Structured fields (log_with): a line may carry a JSON object of fields
// (a Python handler's info_with kwargs, an event id, the access log's
// status). With --log-format json they become members of the line's object,
// beside time, level, logger and message; as text they follow the message.
// A message with line breaks is written as one text line per line, each
// with the prefix, and as one JSON line with the breaks escaped, so that
// neither format has a record that spans lines.
#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace edgefn {

enum class LogFormat { kText, kJson };

// At start-up, before the first log line. Until it is called, loggers write
// text at info. Calling it again (tests, a reload) switches the format for
// every logger and the level of every logger created so far. Thread-safe.
void setup_logging(spdlog::level::level_enum level, LogFormat format);

// The named logger, created on first use with the shared sink and level.
// Thread-safe; cache the result rather than calling this per event. Loggers
// live for the process; they are not in spdlog's registry.
std::shared_ptr<spdlog::logger> get_logger(const std::string& name);

// The level of every logger, now and later, without touching the format
// (the management API's /log-level, SIGUSR1). Thread-safe.
void set_log_level(spdlog::level::level_enum level);
spdlog::level::level_enum log_level();
// "trace", "debug", "info", "warn", "error", "critical", "off".
std::string_view log_level_name(spdlog::level::level_enum level);

// A line's structured fields: a JSON object built member by member. Keys
// are written as given (escaped); values keep their JSON type.
class LogFields {
 public:
  LogFields& add(std::string_view key, std::string_view text);
  LogFields& add(std::string_view key, const char* text) { return add(key, std::string_view{text}); }
  LogFields& add(std::string_view key, const std::string& text) { return add(key, std::string_view{text}); }
  LogFields& add(std::string_view key, std::int64_t number);
  LogFields& add(std::string_view key, int number) { return add(key, static_cast<std::int64_t>(number)); }
  LogFields& add(std::string_view key, double number);
  LogFields& add(std::string_view key, bool flag);
  // The members of `object_json` (from outside, e.g. a Python worker's
  // info_with kwargs) when it is one valid JSON object; otherwise the text
  // whole, as a string under "fields". Empty adds nothing.
  LogFields& add_members(std::string_view object_json);
  bool empty() const noexcept { return json_.empty(); }
  // "{...}", or "" when empty.
  std::string json() const;

 private:
  void key(std::string_view key);
  std::string json_;  // the members, comma-separated, without braces
};

// Whether fields also show in a text line. kAlways: "message {fields}",
// except the context fields event_id (" (event ID)" at the end), trigger
// and worker (left out: the logger's name says where the line comes from);
// kJsonOnly: the message already says everything a reader of text needs
// (the banner, the access log), and the fields are for JSON's parsers.
enum class TextFields { kAlways, kJsonOnly };

// Logs `message` at `level` with `fields`, which become members of a JSON
// line. Members named time, level, logger or message do not replace the
// fixed keys: they are written as "field.time" and so on. Does nothing when
// the logger's level is above `level`. Any thread.
void log_with(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view message,
              const LogFields& fields, TextFields text = TextFields::kAlways);

// "debug" -> level (case-insensitive; "warn" and "warning" both accepted).
// Returns false and leaves `out` alone for unknown names.
bool parse_log_level(std::string_view name, spdlog::level::level_enum& out);

// The formatter behind LogFormat::kJson: one object per line,
// {"time":"2026-11-27T22:44:00.123Z","level":"info","logger":"...","message":"..."}
// with the time in UTC and levels trace, debug, info, warn, error, critical,
// and the fields of log_with() as further members.
std::unique_ptr<spdlog::formatter> make_json_log_formatter();
// The formatter behind LogFormat::kText: "2026-11-27 22:44:00.123 info
// trigger.http.api: message", one line per line of the message.
std::unique_ptr<spdlog::formatter> make_text_log_formatter();

}  // namespace edgefn
