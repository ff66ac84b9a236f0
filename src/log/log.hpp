#pragma once
// Logging: spdlog loggers sharing one sink. Text on a terminal (colour when
// stdout is a TTY), JSON lines with --log-format json. Loggers are named with
// dots: "trigger.http.api", "worker.api.0", "processor".
#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

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

// "debug" -> level (case-insensitive; "warn" and "warning" both accepted).
// Returns false and leaves `out` alone for unknown names.
bool parse_log_level(std::string_view name, spdlog::level::level_enum& out);

// The formatter behind LogFormat::kJson: one object per line,
// {"time":"2026-11-27T22:44:00.123Z","level":"info","logger":"...","message":"..."}
// with the time in UTC and levels trace, debug, info, warn, error, critical.
std::unique_ptr<spdlog::formatter> make_json_log_formatter();

}  // namespace edgefn
