#include "trigger/access_log.hpp"

#include <fmt/format.h>

#include "log/log.hpp"

namespace edgefn {

AccessLog::AccessLog(const TriggerInfo& trigger, bool on)
    : trigger_(trigger), on_(on), logger_(get_logger("access." + trigger.name)) {}

bool AccessLog::wanted() const noexcept { return logger_->should_log(on_ ? spdlog::level::info : spdlog::level::debug); }

AccessLog::Entry AccessLog::entry(const Event& event) { return Entry{event.id, event.method, event.path, event.topic}; }

void AccessLog::write(const Entry& entry, const DispatchResult& result, std::chrono::steady_clock::duration took,
                      int status) const noexcept {
  try {
    const auto level = on_ ? spdlog::level::info : spdlog::level::debug;
    if (!logger_->should_log(level)) return;
    const std::string_view outcome =
        result ? (result->status >= 500 ? "handler_error" : "ok") : to_string(result.error().code);
    const int worker = result ? result->worker : result.error().worker;
    const double millis = std::chrono::duration<double, std::milli>(took).count();

    std::string text = fmt::format("{} '{}'", trigger_.kind, trigger_.name);
    LogFields fields;
    fields.add("trigger", trigger_.name).add("kind", trigger_.kind);
    if (!entry.method.empty()) {
      fmt::format_to(std::back_inserter(text), " {} {}", entry.method, entry.path);
      fields.add("method", entry.method).add("path", entry.path);
    }
    if (!entry.topic.empty()) {
      fmt::format_to(std::back_inserter(text), " {}", entry.topic);
      fields.add("topic", entry.topic);
    }
    if (status > 0) {
      fmt::format_to(std::back_inserter(text), " {}", status);
      fields.add("status", status);
    }
    if (status == 0 || outcome != "ok") fmt::format_to(std::back_inserter(text), " {}", outcome);
    fields.add("result", outcome);
    fmt::format_to(std::back_inserter(text), " {:.2f} ms", millis);
    fields.add("duration_ms", millis);
    if (worker >= 0) {
      fmt::format_to(std::back_inserter(text), " worker {}", worker);
      fields.add("worker", worker);
    }
    fmt::format_to(std::back_inserter(text), " event {}", entry.id);
    fields.add("event_id", entry.id);
    log_with(*logger_, level, text, fields, TextFields::kJsonOnly);
  } catch (...) {
    // Only allocation can fail; an access line is not worth an event.
  }
}

}  // namespace edgefn
