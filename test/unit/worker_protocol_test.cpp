// The Python worker's message heads (and the transport's HELLO): round
// trips and malformed input.
#include <string>

#include <catch2/catch.hpp>

#include "runtime/python/worker_protocol.hpp"

namespace {

using namespace edgefn;
using namespace edgefn::python;
using edgefn::shm::decode_hello;
using edgefn::shm::encode_hello;

Event full_event(const TriggerInfo& trigger) {
  Event e;
  e.id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  e.trigger = &trigger;
  e.method = "POST";
  e.path = "/orders/42";
  e.url = "http://edge.local:8080/orders/42?x=1";
  e.content_type = "application/octet-stream";
  e.headers = {{"X-A", "1"}, {"x-a", "2"}, {"Empty", ""}, {"Bin", std::string("\xff\xfe", 2)}};
  e.fields = {{"x", "1"}, {"y", ""}};
  e.body = std::string("\0\1\2 body with NULs \0", 21);
  e.timestamp = std::chrono::system_clock::time_point(std::chrono::nanoseconds(1'700'000'000'123'456'789));
  e.topic = "sensors/temp";
  e.key = "key-7";
  e.shard_id = 3;
  e.num_shards = 8;
  e.offset = 1234567890123;
  e.last_in_batch = true;
  e.type = "reading";
  e.type_version = "v1beta";
  e.version = "version-2";
  return e;
}

}  // namespace

TEST_CASE("an event survives encode and decode with every field", "[python][protocol]") {
  TriggerInfo trigger{"kafka-cluster", "orders"};
  Event e = full_event(trigger);
  std::string head = encode_event_head(e);
  CHECK(head.find("body with NULs") == std::string::npos);  // the body travels apart
  auto decoded = decode_event(head, e.body);
  REQUIRE(decoded.has_value());
  const Event& d = decoded->event;
  CHECK(d.id == e.id);
  REQUIRE(d.trigger != nullptr);
  CHECK(d.trigger->kind == "kafka-cluster");
  CHECK(d.trigger->name == "orders");
  CHECK(d.method == e.method);
  CHECK(d.path == e.path);
  CHECK(d.url == e.url);
  CHECK(d.content_type == e.content_type);
  CHECK(d.headers == e.headers);
  CHECK(d.fields == e.fields);
  CHECK(d.body == e.body);
  CHECK(d.timestamp == e.timestamp);
  CHECK(d.topic == e.topic);
  CHECK(d.key == e.key);
  CHECK(d.shard_id == 3);
  CHECK(d.num_shards == 8);
  CHECK(d.offset == 1234567890123);
  CHECK(d.last_in_batch);
  CHECK(d.type == "reading");
  CHECK(d.type_version == "v1beta");
  CHECK(d.version == "version-2");
  // The pointer follows the decoded event when it moves.
  DecodedEvent moved = std::move(decoded.value());
  CHECK(moved.event.trigger == moved.trigger.get());
}

TEST_CASE("an empty event head is just the 84-byte fixed part", "[python][protocol]") {
  Event e;
  std::string head = encode_event_head(e);
  CHECK(head.size() == 84);
  auto decoded = decode_event(head, "");
  REQUIRE(decoded.has_value());
  CHECK(decoded->event.shard_id == -1);
  CHECK(decoded->event.offset == -1);
  CHECK(decoded->trigger->kind.empty());
}

TEST_CASE("truncated or padded heads are rejected with where it went wrong", "[python][protocol]") {
  TriggerInfo trigger{"http", "api"};
  std::string head = encode_event_head(full_event(trigger));
  for (std::size_t cut : {std::size_t{0}, std::size_t{50}, std::size_t{84}, head.size() - 1}) {
    auto decoded = decode_event(head.substr(0, cut), "");
    REQUIRE_FALSE(decoded.has_value());
    CHECK_THAT(decoded.error(), Catch::Contains("truncated"));
  }
  auto padded = decode_event(head + "x", "");
  REQUIRE_FALSE(padded.has_value());
  CHECK_THAT(padded.error(), Catch::Contains("1 bytes left over"));
}

TEST_CASE("a response survives encode and decode", "[python][protocol]") {
  Response r;
  r.status = 201;
  r.content_type = "application/json";
  r.headers = {{"Location", "/x/1"}, {"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}};
  std::string head = encode_response_head(r);
  auto decoded = decode_response(head, std::string("{\"ok\":true}\0", 12));
  REQUIRE(decoded.has_value());
  CHECK(decoded->status == 201);
  CHECK(decoded->content_type == "application/json");
  CHECK(decoded->headers == r.headers);
  CHECK(decoded->body.size() == 12);
}

TEST_CASE("a response carries any status, and no_ack, the pool judges the status", "[python][protocol]") {
  // A handler bug (status 0, 42, 1000) must reach the pool as a response it
  // turns into a 500, not as a broken channel that kills the worker.
  for (int status : {0, 42, 1000, -5}) {
    Response r;
    r.status = status;
    auto decoded = decode_response(encode_response_head(r), "");
    REQUIRE(decoded.has_value());
    CHECK(decoded->status == status);
    CHECK_FALSE(decoded->no_ack);
  }
  Response deferred;
  deferred.no_ack = true;
  auto decoded = decode_response(encode_response_head(deferred), "");
  REQUIRE(decoded.has_value());
  CHECK(decoded->no_ack);
  // Flags this version does not know are refused.
  std::string head = encode_response_head(deferred);
  head[4] = 6;
  CHECK_THAT(decode_response(head, "").error(), Catch::Contains("unknown flags"));
}

TEST_CASE("publish requests, their results and explicit acks survive encode and decode", "[python][protocol]") {
  PublishRequest request{"alerts", {"plant/3/alarm", "sensor-9", {{"X-Level", "high"}}, std::string("\0hot", 4)}};
  std::string head = encode_publish_head(request);
  auto decoded = decode_publish(head, request.message.body);
  REQUIRE(decoded.has_value());
  CHECK(decoded->output == "alerts");
  CHECK(decoded->message.topic == "plant/3/alarm");
  CHECK(decoded->message.key == "sensor-9");
  CHECK(decoded->message.headers == request.message.headers);
  CHECK(decoded->message.body == request.message.body);
  for (std::size_t cut : {std::size_t{0}, std::size_t{15}, head.size() - 1})
    CHECK_FALSE(decode_publish(head.substr(0, cut), "").has_value());

  auto result = decode_publish_result(encode_publish_result_head({1, "no output named 'x'"}));
  REQUIRE(result.has_value());
  CHECK(result->code == 1);
  CHECK(result->message == "no output named 'x'");

  auto ack = decode_explicit_ack(encode_explicit_ack_head({"orders", 7, 1234567890123}));
  REQUIRE(ack.has_value());
  CHECK(ack->topic == "orders");
  CHECK(ack->partition == 7);
  CHECK(ack->offset == 1234567890123);
  CHECK_FALSE(decode_explicit_ack("short").has_value());
}

TEST_CASE("a hostile pair count cannot make the decoder allocate", "[python][protocol]") {
  // 2^32-1 headers declared in a 16-byte head: refused before reserving.
  std::string head(16, '\0');
  head[12] = head[13] = head[14] = head[15] = '\xff';
  auto decoded = decode_response(head, "");
  REQUIRE_FALSE(decoded.has_value());
  CHECK_THAT(decoded.error(), Catch::Contains("truncated"));
}

TEST_CASE("log records and hellos survive encode and decode", "[python][protocol]") {
  LogRecord log{LogLevel::kWarn, "disk at 91%", R"({"mount":"/data","pct":91})"};
  auto decoded = decode_log(encode_log_head(log));
  REQUIRE(decoded.has_value());
  CHECK(decoded->level == LogLevel::kWarn);
  CHECK(decoded->message == log.message);
  CHECK(decoded->fields_json == log.fields_json);
  CHECK_FALSE(decoded->output);
  LogRecord printed{LogLevel::kInfo, "printed", "", true};
  auto printed_back = decode_log(encode_log_head(printed));
  REQUIRE(printed_back.has_value());
  CHECK(printed_back->output);

  std::string bad = encode_log_head(log);
  bad[0] = 9;
  CHECK_FALSE(decode_log(bad).has_value());

  auto hello = decode_hello(encode_hello({1, 4321}));
  REQUIRE(hello.has_value());
  CHECK(hello->protocol_version == 1);
  CHECK(hello->pid == 4321);
  CHECK_FALSE(decode_hello("abc").has_value());
}
