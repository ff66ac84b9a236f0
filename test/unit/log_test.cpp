#include "log/log.hpp"

#include <chrono>
#include <string>

#include <catch2/catch.hpp>

using edgefn::parse_log_level;

namespace {

std::string format_json(spdlog::level::level_enum level, std::string_view logger, std::string_view message,
                        std::chrono::milliseconds since_epoch) {
  auto formatter = edgefn::make_json_log_formatter();
  spdlog::details::log_msg msg(spdlog::log_clock::time_point{since_epoch}, spdlog::source_loc{},
                               spdlog::string_view_t{logger.data(), logger.size()}, level,
                               spdlog::string_view_t{message.data(), message.size()});
  spdlog::memory_buf_t buf;
  formatter->format(msg, buf);
  return std::string(buf.data(), buf.size());
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
