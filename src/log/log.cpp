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

class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    // Formatters are called under their sink's lock, so one scratch string
    // per formatter is enough and saves an allocation per line.
    line_.clear();
    line_ += "{\"time\":\"";
    append_time(msg.time);
    line_ += "\",\"level\":\"";
    line_ += level_name(msg.level);
    line_ += "\",\"logger\":";
    append_json_string(line_, std::string_view{msg.logger_name.data(), msg.logger_name.size()});
    line_ += ",\"message\":";
    append_json_string(line_, std::string_view{msg.payload.data(), msg.payload.size()});
    line_ += "}\n";
    dest.append(line_.data(), line_.data() + line_.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonLogFormatter>(); }

 private:
  static std::string_view level_name(spdlog::level::level_enum level) {
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
    out->set_formatter(std::make_unique<spdlog::pattern_formatter>(kTextPattern));
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
