#include "log/log.hpp"

#include <chrono>
#include <string>

#include <catch2/catch.hpp>
#include <spdlog/sinks/base_sink.h>

#include <memory>
#include <mutex>
#include <vector>

using edgefn::parse_log_level;

namespace {

std::string format_with(std::unique_ptr<spdlog::formatter> formatter, spdlog::level::level_enum level,
                        std::string_view logger, std::string_view message, std::chrono::milliseconds since_epoch) {
  spdlog::details::log_msg msg(spdlog::log_clock::time_point{since_epoch}, spdlog::source_loc{},
                               spdlog::string_view_t{logger.data(), logger.size()}, level,
                               spdlog::string_view_t{message.data(), message.size()});
  spdlog::memory_buf_t buf;
  formatter->format(msg, buf);
  return std::string(buf.data(), buf.size());
}

std::string format_json(spdlog::level::level_enum level, std::string_view logger, std::string_view message,
                        std::chrono::milliseconds since_epoch) {
  return format_with(edgefn::make_json_log_formatter(), level, logger, message, since_epoch);
}

std::string format_text(std::string_view message) {
  return format_with(edgefn::make_text_log_formatter(), spdlog::level::info, "t", message,
                     std::chrono::milliseconds{0});
}

// What log_with() hands the sink: the payload a formatter sees.
class CapturingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> payloads;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override { payloads.emplace_back(msg.payload.data(), msg.payload.size()); }
  void flush_() override {}
};

std::string logged_with(std::string_view message, const edgefn::LogFields& fields, edgefn::TextFields text,
                        spdlog::level::level_enum level = spdlog::level::info) {
  auto sink = std::make_shared<CapturingSink>();
  spdlog::logger logger("t", sink);
  logger.set_level(spdlog::level::info);
  edgefn::log_with(logger, level, message, fields, text);
  return sink->payloads.empty() ? std::string{"<nothing>"} : sink->payloads.front();
}

}  // namespace

TEST_CASE("parse_log_level accepts the documented names in any case") {
  spdlog::level::level_enum level = spdlog::level::off;
  CHECK(parse_log_level("trace", level));
  CHECK(level == spdlog::level::trace);
  CHECK(parse_log_level("DEBUG", level));
  CHECK(level == spdlog::level::debug);
  CHECK(parse_log_level("info", level));
  CHECK(level == spdlog::level::info);
  CHECK(parse_log_level("warn", level));
  CHECK(level == spdlog::level::warn);
  CHECK(parse_log_level("Warning", level));
  CHECK(level == spdlog::level::warn);
  CHECK(parse_log_level("error", level));
  CHECK(level == spdlog::level::err);
  CHECK(parse_log_level("critical", level));
  CHECK(level == spdlog::level::critical);
  CHECK(parse_log_level("off", level));
  CHECK(level == spdlog::level::off);
}

TEST_CASE("parse_log_level rejects unknown names and leaves the level alone") {
  spdlog::level::level_enum level = spdlog::level::info;
  CHECK_FALSE(parse_log_level("", level));
  CHECK_FALSE(parse_log_level("verbose", level));
  CHECK_FALSE(parse_log_level("err", level));
  CHECK_FALSE(parse_log_level("info ", level));
  CHECK(level == spdlog::level::info);
}

TEST_CASE("JSON log lines carry UTC time with milliseconds, level, logger and message") {
  // 2026-11-27T22:44:00.123Z
  const auto line = format_json(spdlog::level::info, "trigger.http.api", "listening on 127.0.0.1:8080",
                                std::chrono::milliseconds{1795819440123});
  CHECK(line == R"({"time":"2026-11-27T22:44:00.123Z","level":"info","logger":"trigger.http.api",)"
                R"("message":"listening on 127.0.0.1:8080"})"
                "\n");
}

TEST_CASE("JSON log lines escape the message and name warnings warn") {
  const auto line =
      format_json(spdlog::level::warn, "worker.api.0", "bad \"input\"\n\xFF", std::chrono::milliseconds{5});
  CHECK(line == R"({"time":"1970-01-01T00:00:00.005Z","level":"warn","logger":"worker.api.0",)"
                R"("message":"bad \"input\"\n\u00ff"})"
                "\n");
}

TEST_CASE("get_logger returns one logger per name with the configured level") {
  edgefn::setup_logging(spdlog::level::err, edgefn::LogFormat::kText);
  auto a = edgefn::get_logger("test.log.a");
  CHECK(a == edgefn::get_logger("test.log.a"));
  CHECK(a != edgefn::get_logger("test.log.b"));
  CHECK(a->name() == "test.log.a");
  CHECK(a->level() == spdlog::level::err);

  edgefn::setup_logging(spdlog::level::debug, edgefn::LogFormat::kJson);
  CHECK(a->level() == spdlog::level::debug);
  CHECK(edgefn::get_logger("test.log.c")->level() == spdlog::level::debug);
  edgefn::setup_logging(spdlog::level::info, edgefn::LogFormat::kText);
}

TEST_CASE("structured fields become members of a JSON line, after the fixed keys") {
  edgefn::LogFields fields;
  fields.add("event_id", "e-1").add("worker", 3).add("ok", true).add_members(R"({"user": "ann", "n": [1, 2]})");
  const auto payload = logged_with("got it", fields, edgefn::TextFields::kAlways);
  const auto line = format_json(spdlog::level::info, "worker.api.0", payload, std::chrono::milliseconds{0});
  CHECK(line == R"({"time":"1970-01-01T00:00:00.000Z","level":"info","logger":"worker.api.0","message":"got it",)"
                R"("event_id":"e-1","worker":3,"ok":true,"user":"ann","n":[1,2]})"
                "\n");
}

TEST_CASE("fields named like the fixed keys do not replace them") {
  edgefn::LogFields fields;
  fields.add_members(R"({"message": "mine", "level": 1})");
  const auto line = format_json(spdlog::level::info, "l", logged_with("m", fields, edgefn::TextFields::kAlways),
                                std::chrono::milliseconds{0});
  CHECK(line == R"({"time":"1970-01-01T00:00:00.000Z","level":"info","logger":"l","message":"m",)"
                R"("field.message":"mine","field.level":1})"
                "\n");
}

TEST_CASE("fields that are not a JSON object are kept whole as a string") {
  edgefn::LogFields fields;
  fields.add_members("{not json");
  CHECK(fields.json() == R"({"fields":"{not json"})");
}

TEST_CASE("text lines show fields after the message unless they are for JSON only") {
  edgefn::LogFields fields;
  fields.add("n", 3);
  CHECK(format_text(logged_with("hello", fields, edgefn::TextFields::kAlways)).ends_with("t: hello {\"n\":3}\n"));
  fields.add("event_id", "e-1").add("worker", 2);
  CHECK(format_text(logged_with("hello", fields, edgefn::TextFields::kAlways)).ends_with("t: hello {\"n\":3} (event e-1)\n"));
  CHECK(format_text(logged_with("hello", fields, edgefn::TextFields::kJsonOnly)).ends_with("t: hello\n"));
}

TEST_CASE("log_with formats nothing below the logger's level") {
  edgefn::LogFields fields;
  fields.add("n", 3);
  CHECK(logged_with("quiet", fields, edgefn::TextFields::kAlways, spdlog::level::debug) == "<nothing>");
}

TEST_CASE("a message with line breaks is one text line per line, each with the prefix") {
  const auto text = format_text("Traceback:\n  File \"x\"\r\nValueError\n");
  std::vector<std::string> lines;
  for (std::size_t start = 0; start < text.size();) {
    const auto end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].ends_with(" info     t: Traceback:"));
  CHECK(lines[1].ends_with(" info     t:   File \"x\""));
  CHECK(lines[2].ends_with(" info     t: ValueError"));
}

TEST_CASE("set_log_level changes every logger's level and that of loggers made later") {
  edgefn::setup_logging(spdlog::level::info, edgefn::LogFormat::kText);
  auto a = edgefn::get_logger("test.log.level.a");
  edgefn::set_log_level(spdlog::level::debug);
  CHECK(a->level() == spdlog::level::debug);
  CHECK(edgefn::get_logger("test.log.level.b")->level() == spdlog::level::debug);
  CHECK(edgefn::log_level() == spdlog::level::debug);
  CHECK(edgefn::log_level_name(edgefn::log_level()) == "debug");
  edgefn::set_log_level(spdlog::level::info);
  CHECK(a->level() == spdlog::level::info);
}
