#include <catch2/catch.hpp>

#include "util/duration.hpp"

using namespace std::chrono_literals;
using edgefn::format_duration;
using edgefn::parse_duration;

TEST_CASE("parse_duration reads Go-style durations") {
  CHECK(parse_duration("100ms") == 100ms);
  CHECK(parse_duration("10s") == 10s);
  CHECK(parse_duration("1h30m") == 90min);
  CHECK(parse_duration("1m30s") == 90s);
  CHECK(parse_duration("1.5s") == 1500ms);
  CHECK(parse_duration("250us") == 250us);
  CHECK(parse_duration("0") == 0ns);
}

TEST_CASE("parse_duration rejects malformed and unit-less text") {
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("10"));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("10x"));
  CHECK_FALSE(parse_duration("-5s"));
  CHECK_FALSE(parse_duration("five seconds"));
}

TEST_CASE("format_duration prints the shortest form") {
  CHECK(format_duration(90s) == "1m30s");
  CHECK(format_duration(250ms) == "250ms");
  CHECK(format_duration(1500ms) == "1.5s");
  CHECK(format_duration(0s) == "0s");
}

TEST_CASE("parse_duration_or_seconds reads a bare number as seconds, as function.yaml does") {
  using edgefn::parse_duration_or_seconds;
  CHECK(parse_duration_or_seconds("5") == 5s);
  CHECK(parse_duration_or_seconds("0") == 0s);
  CHECK(parse_duration_or_seconds("1m30s") == 90s);
  CHECK_FALSE(parse_duration_or_seconds("-5"));
  CHECK_FALSE(parse_duration_or_seconds("5x"));
  CHECK_FALSE(parse_duration_or_seconds("99999999999999999999"));
  CHECK_FALSE(parse_duration_or_seconds(""));
}
