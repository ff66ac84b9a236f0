#include "runtime/invocation_logs.hpp"

#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "event/event.hpp"
#include "util/json.hpp"

using edgefn::Event;
using edgefn::InvocationLogs;
using edgefn::json_array_elements;
using edgefn::json_is_valid;
using edgefn::json_object_members;
using edgefn::json_string_equals;
using edgefn::JsonMember;
using edgefn::Response;
namespace level = spdlog::level;
using namespace std::string_view_literals;

namespace {

using Record = std::vector<JsonMember>;

Event event_asking_for(std::string_view log_level) {
  Event e;
  e.headers = {{"X-Nuclio-Log-Level", std::string(log_level)}};
  return e;
}

std::optional<std::string> header_of(const InvocationLogs& logs) {
  Response r;
  logs.attach(r);
  for (const auto& [name, value] : r.headers) {
    if (name == "X-Nuclio-Logs") return value;
  }
  return std::nullopt;
}

// The records of a header that must be a JSON array of objects. The views
// point into `header`, which the caller keeps.
std::vector<Record> records_of(const std::string& header) {
  INFO(header);
  REQUIRE(json_is_valid(header));
  std::vector<std::string_view> elements;
  REQUIRE(json_array_elements(header, elements));
  std::vector<Record> records;
  for (const auto element : elements) {
    Record record;
    REQUIRE(json_object_members(element, record));
    records.push_back(std::move(record));
  }
  return records;
}

// The value of the last member called `key`, as clients that keep the last
// of duplicate keys read it.
std::optional<std::string_view> member(const Record& record, std::string_view key) {
  std::optional<std::string_view> found;
  for (const auto& m : record) {
    if (json_string_equals(m.key, key)) found = m.value;
  }
  return found;
}

bool has_string(const Record& record, std::string_view key, std::string_view text) {
  const auto value = member(record, key);
  return value && value->front() == '"' && json_string_equals(*value, text);
}

// Nothing an HTTP header value may not hold: no control bytes, no DEL.
bool header_safe(std::string_view value) {
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("invocation logs add no header when the request did not ask for one") {
  Event plain;
  InvocationLogs logs(plain);
  logs.add(level::err, "boom", R"({"a":1})");
  CHECK_FALSE(header_of(logs));

  InvocationLogs unknown(event_asking_for("loud"));
  unknown.add(level::err, "boom");
  CHECK_FALSE(header_of(unknown));
}

TEST_CASE("invocation logs answer an empty array when nothing was logged") {
  InvocationLogs logs(event_asking_for("debug"));
  CHECK(header_of(logs) == "[]");
}

TEST_CASE("invocation logs keep only records at or above the requested level") {
  InvocationLogs logs(event_asking_for("WARN"));
  logs.add(level::debug, "d");
  logs.add(level::info, "i");
  logs.add(level::warn, "w");
  logs.add(level::err, "e");
  logs.add(level::critical, "c");
  const auto header = header_of(logs);
  REQUIRE(header);
  const auto records = records_of(*header);
  REQUIRE(records.size() == 3);
  CHECK(has_string(records[0], "message", "w"));
  CHECK(has_string(records[0], "level", "warn"));
  CHECK(has_string(records[1], "message", "e"));
  CHECK(has_string(records[1], "level", "error"));
  CHECK(has_string(records[2], "message", "c"));
  CHECK(has_string(records[2], "level", "error"));
}

TEST_CASE("invocation logs keep a record whose fields are not a JSON object, as a string") {
  const std::vector<std::string> hostile = {
      R"({"a":1)",                 // cut short
      R"({"a":1}])",               // trailing garbage
      R"("]}]")",                  // a string, not an object
      R"(1}],[{"level":"error")",  // would close the record and the array
      "]",
      "[1,2]",
      R"({"a":"\x"})",          // bad escape
      "{\"a\":\"raw\nline\"}",  // control byte in a string
      std::string("{\"a\":\"nul\0\"}"sv),
      R"({"a":NaN})",
      R"({"a":"\ud800"})",
      std::string(200, '{'),
      R"({"a":)" + std::string(100, '[') + std::string(100, ']') + "}",  // too deep
      "{\"a\":1}\r\nX-Injected: yes",
  };
  for (const auto& fields : hostile) {
    INFO(fields);
    InvocationLogs logs(event_asking_for("debug"));
    logs.add(level::info, "before");
    logs.add(level::warn, "hostile", fields);
    logs.add(level::info, "after");
    const auto header = header_of(logs);
    REQUIRE(header);
    CHECK(header_safe(*header));
    const auto records = records_of(*header);
    REQUIRE(records.size() == 3);
    CHECK(has_string(records[0], "message", "before"));
    CHECK(has_string(records[1], "message", "hostile"));
    CHECK(has_string(records[1], "level", "warn"));
    CHECK(has_string(records[1], "with", fields));  // nothing lost
    CHECK(has_string(records[2], "message", "after"));
  }
}

TEST_CASE("invocation logs keep fields with invalid UTF-8 as a string, stray bytes as U+0080..U+00FF") {
  InvocationLogs logs(event_asking_for("debug"));
  logs.add(level::info, "bytes", "{\"a\":\"\xFF\xFE\"}");
  const auto header = header_of(logs);
  REQUIRE(header);
  const auto records = records_of(*header);
  REQUIRE(records.size() == 1);
  CHECK(has_string(records[0], "with", "{\"a\":\"\xC3\xBF\xC3\xBE\"}"));
}

TEST_CASE("invocation logs take a valid object without the whitespace that would break the header") {
  InvocationLogs logs(event_asking_for("debug"));
  logs.add(level::info, "spaced", "{\r\n\t\"a\" : [ 1 ,\n 2 ] ,\n \"s\" : \"x\\ny\" }\r\n");
  const auto header = header_of(logs);
  REQUIRE(header);
  CHECK(header_safe(*header));
  CHECK(header->find(R"("message":"spaced","a":[1,2],"s":"x\ny"})") != std::string::npos);
  CHECK(records_of(*header).size() == 1);
}

TEST_CASE("invocation logs escape control bytes, DEL and invalid UTF-8 in messages") {
  InvocationLogs logs(event_asking_for("debug"));
  const std::string message("a\"]}\r\nb\x01\x7f\xFF\0z"sv);
  logs.add(level::info, message);
  logs.add(level::info, "ok", "{\"del\":\"\x7f\"}");
  const auto header = header_of(logs);
  REQUIRE(header);
  CHECK(header_safe(*header));
  const auto records = records_of(*header);
  REQUIRE(records.size() == 2);
  // The stray byte comes back as U+00FF, which keeps it recoverable.
  CHECK(has_string(records[0], "message", "a\"]}\r\nb\x01\x7f\xC3\xBF\0z"sv));
}

TEST_CASE("invocation log records have Nuclio's keys: level, time in epoch milliseconds, message") {
  const auto before = std::chrono::system_clock::now();
  InvocationLogs logs(event_asking_for("debug"));
  logs.add(level::info, "hello");
  const auto after = std::chrono::system_clock::now();
  const auto header = header_of(logs);
  REQUIRE(header);
  const auto records = records_of(*header);
  REQUIRE(records.size() == 1);
  const Record& r = records[0];
  REQUIRE(r.size() == 3);
  CHECK(json_string_equals(r[0].key, "level"));
  CHECK(has_string(r, "level", "info"));
  CHECK(json_string_equals(r[1].key, "time"));
  CHECK(json_string_equals(r[2].key, "message"));
  CHECK(has_string(r, "message", "hello"));
  CHECK_FALSE(member(r, "datetime"));
  CHECK_FALSE(member(r, "with"));
  // A JSON number, not a string: milliseconds with a fraction.
  const std::string time(*member(r, "time"));
  REQUIRE(time.find_first_not_of("0123456789.") == std::string::npos);
  const double ms = std::stod(time);
  const auto ms_of = [](auto t) { return std::chrono::duration<double, std::milli>(t.time_since_epoch()).count(); };
  CHECK(ms >= std::floor(ms_of(before)));
  CHECK(ms <= ms_of(after) + 1);
}

TEST_CASE("invocation logs put with-fields at the top level with their JSON types") {
  InvocationLogs logs(event_asking_for("debug"));
  logs.add(level::err, "Error message",
           R"({"source":"rabbit","weight":7,"ratio":0.5,"flag":true,"off":false,"none":null,)"
           R"("nested":{"a":[1,2]},"list":[1,"two",{"3":4}],"name":"kept"})");
  const auto header = header_of(logs);
  REQUIRE(header);
  const auto records = records_of(*header);
  REQUIRE(records.size() == 1);
  const Record& r = records[0];
  CHECK(has_string(r, "level", "error"));
  CHECK(has_string(r, "message", "Error message"));
  CHECK(has_string(r, "source", "rabbit"));
  CHECK(member(r, "weight") == "7");
  CHECK(member(r, "ratio") == "0.5");
  CHECK(member(r, "flag") == "true");
  CHECK(member(r, "off") == "false");
  CHECK(member(r, "none") == "null");
  CHECK(member(r, "nested") == R"({"a":[1,2]})");
  CHECK(member(r, "list") == R"([1,"two",{"3":4}])");
  CHECK(has_string(r, "name", "kept"));
  CHECK_FALSE(member(r, "with"));
  CHECK(r.size() == 3 + 9);
}

TEST_CASE("invocation logs keep the fixed keys and move colliding with-fields under \"with\"") {
  InvocationLogs logs(event_asking_for("debug"));
  // "\u006cevel" is "level" spelled with an escape: it must not slip through.
  logs.add(level::warn, "real message",
           R"({"level":"fake","message":"fake","time":0,"with":{"x":1},"\u006cevel":"sneaky","ok":1})");
  const auto header = header_of(logs);
  REQUIRE(header);
  const auto records = records_of(*header);
  REQUIRE(records.size() == 1);
  const Record& r = records[0];
  const auto count = [&](std::string_view key) {
    int n = 0;
    for (const auto& m : r) n += json_string_equals(m.key, key) ? 1 : 0;
    return n;
  };
  for (const auto key : {"level", "message", "time", "with", "ok"}) {
    INFO(key);
    CHECK(count(key) == 1);  // no duplicate keys for a parser to pick from
  }
  CHECK(has_string(r, "level", "warn"));
  CHECK(has_string(r, "message", "real message"));
  CHECK(member(r, "ok") == "1");
  CHECK(member(r, "time") != "0");
  CHECK(member(r, "with") == R"({"level":"fake","message":"fake","time":0,"with":{"x":1},"\u006cevel":"sneaky"})");
}

TEST_CASE("invocation logs treat an empty object like no fields") {
  InvocationLogs logs(event_asking_for("debug"));
  logs.add(level::info, "a", "{}");
  logs.add(level::info, "b", " { } ");
  const auto header = header_of(logs);
  REQUIRE(header);
  const auto records = records_of(*header);
  REQUIRE(records.size() == 2);
  CHECK(records[0].size() == 3);
  CHECK(records[1].size() == 3);
}

namespace {

constexpr auto kMax = InvocationLogs::kMaxHeaderBytes;

std::string numbered(std::size_t i) { return "record " + std::to_string(i); }

// The marker's count, checked against its message.
std::optional<std::size_t> left_out_in(const Record& marker) {
  const auto count = member(marker, "left_out");
  if (!count) return std::nullopt;
  const std::size_t n = std::stoul(std::string(*count));
  const bool one = n == 1;
  const std::string text = std::to_string(n) + (one ? " more log record was" : " more log records were") +
                           " left out: X-Nuclio-Logs is limited to 4 KiB";
  if (!has_string(marker, "message", text)) return std::nullopt;
  return n;
}

}  // namespace

TEST_CASE("invocation logs stay within 4 KiB, keep the first records and count the rest") {
  InvocationLogs logs(event_asking_for("info"));
  const std::string padding(100, 'x');
  const std::size_t total = 1000;
  for (std::size_t i = 0; i < total; ++i) {
    logs.add(level::debug, "below the level, not counted");
    logs.add(level::info, numbered(i), R"({"i":)" + std::to_string(i) + R"(,"padding":")" + padding + R"("})");
  }
  const auto header = header_of(logs);
  REQUIRE(header);
  CHECK(header->size() <= kMax);
  CHECK(header_safe(*header));
  const auto records = records_of(*header);
  REQUIRE(records.size() > 10);
  const std::size_t kept = records.size() - 1;
  for (std::size_t i = 0; i < kept; ++i) {
    INFO(i);
    CHECK(has_string(records[i], "message", numbered(i)));
    CHECK(member(records[i], "i") == std::to_string(i));
  }
  const Record& marker = records.back();
  CHECK(has_string(marker, "level", "warn"));
  CHECK(left_out_in(marker) == total - kept);
  // Nearly full: one more record would not have fitted.
  CHECK(header->size() + 200 > kMax);
}

TEST_CASE("invocation logs add no marker when every record fits") {
  InvocationLogs logs(event_asking_for("debug"));
  logs.add(level::info, "one");
  logs.add(level::info, std::string(3000, 'x'));
  const auto header = header_of(logs);
  REQUIRE(header);
  const auto records = records_of(*header);
  REQUIRE(records.size() == 2);
  CHECK_FALSE(member(records[1], "left_out"));
}

TEST_CASE("invocation logs leave out a record larger than the budget whole, and every record after it") {
  for (const std::size_t huge : {std::size_t{kMax - 10}, std::size_t{kMax}, std::size_t{1} << 20}) {
    INFO(huge);
    InvocationLogs logs(event_asking_for("debug"));
    logs.add(level::info, "first");
    logs.add(level::info, std::string(huge, '"'));  // each quote doubles when escaped
    logs.add(level::info, "small, but after the first that did not fit");
    logs.add(level::err, "also left out");
    const auto header = header_of(logs);
    REQUIRE(header);
    CHECK(header->size() <= kMax);
    const auto records = records_of(*header);
    REQUIRE(records.size() == 2);
    CHECK(has_string(records[0], "message", "first"));
    CHECK(left_out_in(records[1]) == 3u);
  }
}

TEST_CASE("invocation logs leave out a record whose fields alone are too large, never cutting it") {
  std::string big = R"({"list":[)";
  for (int i = 0; i < 5000; ++i) big += i ? ",1" : "1";
  big += "]}";
  std::string big_invalid(100'000, '{');
  for (const auto& fields : {big, big_invalid}) {
    InvocationLogs logs(event_asking_for("debug"));
    logs.add(level::info, "huge fields", fields);
    const auto header = header_of(logs);
    REQUIRE(header);
    CHECK(header->size() <= kMax);
    const auto records = records_of(*header);
    REQUIRE(records.size() == 1);
    CHECK(left_out_in(records[0]) == 1u);  // "1 more log record was left out"
  }
}

TEST_CASE("invocation logs' marker is at the requested level when that is above warn") {
  InvocationLogs logs(event_asking_for("error"));
  logs.add(level::warn, std::string(1 << 20, 'x'));  // below the level: neither kept nor counted
  logs.add(level::err, std::string(1 << 20, 'x'));
  logs.add(level::critical, "c");
  const auto header = header_of(logs);
  REQUIRE(header);
  const auto records = records_of(*header);
  REQUIRE(records.size() == 1);
  CHECK(has_string(records[0], "level", "error"));
  CHECK(left_out_in(records[0]) == 2u);
}

TEST_CASE("invocation logs fill the budget with records of every size and stay valid") {
  // Every record length from tiny to over the budget, so that the last kept
  // record lands on each possible distance from the limit.
  for (std::size_t step = 1; step < 600; step += 7) {
    INFO(step);
    InvocationLogs logs(event_asking_for("debug"));
    std::size_t added = 0;
    for (std::size_t n = 0; n < 5000; n += step) {
      logs.add(level::info, std::string(n, 'm'), R"({"k":"\u00e9"})");
      ++added;
    }
    const auto header = header_of(logs);
    REQUIRE(header);
    REQUIRE(header->size() <= kMax);
    const auto records = records_of(*header);
    REQUIRE_FALSE(records.empty());
    const auto left_out = left_out_in(records.back()).value_or(0);
    CHECK(records.size() - (left_out ? 1 : 0) + left_out == added);
  }
}
