#include <catch2/catch.hpp>

#include "trigger/mqtt/mqtt_event.hpp"

using namespace edgefn;
using namespace edgefn::mqtt;
using namespace std::chrono_literals;

namespace {

Publish sensor_reading() {
  Publish p;
  p.topic = "sensors/7/temp";
  p.payload = std::string("21.5\0x", 6);
  p.qos = 1;
  p.dup = true;
  p.packet_id = 12;
  p.properties.content_type = "text/plain";
  p.properties.user_properties = {{"site", "north"}, {"site", "backup"}};
  return p;
}

std::string field(const Event& e, const std::string& name) {
  for (const auto& [k, v] : e.fields)
    if (k == name) return v;
  return "(absent)";
}

DispatchResult failed(DispatchError::Code code, std::string detail) {
  return tl::make_unexpected(DispatchError{code, std::move(detail)});
}

Response answer(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace

TEST_CASE("a PUBLISH becomes an event with its topic, payload, flags and user properties") {
  const TriggerInfo info{"mqtt", "sensors"};
  const auto p = sensor_reading();
  const auto e = make_event(p, p.payload, 41, info, "tcp://broker:1883");
  CHECK(e.body == std::string("21.5\0x", 6));  // NUL bytes survive
  CHECK(e.topic == "sensors/7/temp");
  CHECK(e.path == "sensors/7/temp");
  CHECK(e.url == "tcp://broker:1883");
  CHECK(e.content_type == "text/plain");
  CHECK(e.headers == Headers{{"site", "north"}, {"site", "backup"}});
  CHECK(field(e, "qos") == "1");
  CHECK(field(e, "retain") == "false");
  CHECK(field(e, "dup") == "true");
  CHECK(e.offset == 41);
  CHECK(e.shard_id == -1);
  CHECK(e.trigger == &info);
  CHECK(e.id.size() == 36);
  CHECK(e.method.empty());
}

TEST_CASE("an MQTT 3.1.1 message has no content type or headers") {
  const TriggerInfo info{"mqtt", "t"};
  Publish p;
  p.topic = "a";
  p.retain = true;
  const auto e = make_event(p, "x", 1, info, "mqtt://h");
  CHECK(e.content_type.empty());
  CHECK(e.headers.empty());
  CHECK(field(e, "qos") == "0");
  CHECK(field(e, "retain") == "true");
}

TEST_CASE("5xx, crashes, timeouts and no worker are failures; stopping and cancelled are not") {
  CHECK_FALSE(is_failure(answer(200, "")));
  CHECK_FALSE(is_failure(answer(404, "")));  // the handler said no: acknowledged
  CHECK(is_failure(answer(500, "")));
  CHECK(is_failure(answer(503, "")));
  CHECK(is_failure(failed(DispatchError::Code::kCrashed, "exit 9")));
  CHECK(is_failure(failed(DispatchError::Code::kTimedOut, "")));
  CHECK(is_failure(failed(DispatchError::Code::kOverloaded, "")));
  CHECK_FALSE(is_failure(failed(DispatchError::Code::kStopping, "")));
  CHECK_FALSE(is_failure(failed(DispatchError::Code::kCancelled, "")));
  CHECK(is_abandoned(failed(DispatchError::Code::kStopping, "")));
  CHECK(is_abandoned(failed(DispatchError::Code::kCancelled, "")));
  CHECK_FALSE(is_abandoned(failed(DispatchError::Code::kCrashed, "")));
  CHECK_FALSE(is_abandoned(answer(500, "")));
}

TEST_CASE("a failure is described in one short line") {
  CHECK(describe_failure(answer(502, "upstream down")) == "status 502: upstream down");
  CHECK(describe_failure(failed(DispatchError::Code::kCrashed, "the worker exited with 9")) ==
        "crashed: the worker exited with 9");
  CHECK(describe_failure(failed(DispatchError::Code::kTimedOut, "")) == "timed out");
  const auto long_body = describe_failure(answer(500, std::string(5000, 'x')));
  CHECK(long_body.size() < 300);
  CHECK(long_body.ends_with("..."));
}

TEST_CASE("the error-topic copy keeps the payload and adds the error headers") {
  const auto original = sensor_reading();
  const auto copy = make_error_publish(original, "errors/sensors", "status 500: boom", 4, "readings");
  CHECK(copy.topic == "errors/sensors");
  CHECK(copy.payload == original.payload);
  CHECK(copy.qos == 1);
  CHECK_FALSE(copy.retain);
  CHECK(copy.properties.content_type == "text/plain");
  const auto& h = copy.properties.user_properties;
  REQUIRE(h.size() == 6);
  CHECK(h[0] == std::pair<std::string, std::string>{"site", "north"});
  CHECK(find_header(h, kErrorHeader) == "status 500: boom");
  CHECK(find_header(h, kTopicHeader) == "sensors/7/temp");
  CHECK(find_header(h, kAttemptsHeader) == "4");
  CHECK(find_header(h, kTriggerHeader) == "readings");
}

TEST_CASE("an error copy of a QoS 0 or QoS 2 message goes with at least QoS 1") {
  auto original = sensor_reading();
  original.qos = 0;
  CHECK(make_error_publish(original, "e", "x", 1, "t").qos == 1);
  original.qos = 2;
  CHECK(make_error_publish(original, "e", "x", 1, "t").qos == 2);
}

TEST_CASE("a response goes to responseTopic with the incoming QoS unless responseQos is set") {
  MqttSettings settings;
  settings.response_topic = "alerts";
  auto incoming = sensor_reading();
  incoming.qos = 2;
  Response r = answer(200, "too hot");
  r.content_type = "application/json";
  r.headers = {{"k", "v"}};
  auto out = make_response_publish(r, incoming, settings);
  REQUIRE(out);
  CHECK(out->topic == "alerts");
  CHECK(out->payload == "too hot");
  CHECK(out->qos == 2);
  CHECK(out->properties.content_type == "application/json");
  CHECK(out->properties.user_properties == Headers{{"k", "v"}});
  CHECK_FALSE(out->properties.correlation_data);

  r.headers.emplace_back("X-Nuclio-Stream-No-Ack", "true");  // Response.ensure_no_ack(): not for subscribers
  CHECK(make_response_publish(r, incoming, settings)->properties.user_properties == Headers{{"k", "v"}});

  settings.response_qos = 0;
  CHECK(make_response_publish(r, incoming, settings)->qos == 0);
}

TEST_CASE("an MQTT 5 response topic wins, with its correlation data copied back") {
  MqttSettings settings;
  settings.response_topic = "alerts";
  auto incoming = sensor_reading();
  incoming.properties.response_topic = "replies/42";
  incoming.properties.correlation_data = std::string("\x01\x00\x02", 3);
  auto out = make_response_publish(answer(200, "ok"), incoming, settings);
  REQUIRE(out);
  CHECK(out->topic == "replies/42");
  CHECK(out->properties.correlation_data == std::string("\x01\x00\x02", 3));

  settings.response_topic.clear();  // the message's own topic is enough
  CHECK(make_response_publish(answer(200, "ok"), incoming, settings));
}

TEST_CASE("no response without a body or a response topic") {
  MqttSettings settings;
  const auto incoming = sensor_reading();
  CHECK_FALSE(make_response_publish(answer(200, "body"), incoming, settings));
  settings.response_topic = "alerts";
  CHECK_FALSE(make_response_publish(answer(200, ""), incoming, settings));
}

TEST_CASE("a handler's message needs a topic, falls back to responseTopic, and defaults to QoS 1") {
  MqttSettings settings;
  OutputMessage m;
  m.body = "hello";
  m.headers = {{"Content-Type", "application/json"}, {"x-a", "1"}};
  auto none = make_output_publish(m, settings);
  REQUIRE_FALSE(none);
  CHECK(none.error().find("no topic") != std::string::npos);

  settings.response_topic = "out";
  auto fallback = make_output_publish(m, settings);
  REQUIRE(fallback);
  CHECK(fallback->topic == "out");
  CHECK(fallback->qos == 1);
  CHECK(fallback->payload == "hello");
  CHECK(fallback->properties.content_type == "application/json");
  CHECK(fallback->properties.user_properties == Headers{{"x-a", "1"}});

  m.topic = "devices/3/cmd";
  settings.response_qos = 2;
  auto own = make_output_publish(m, settings);
  REQUIRE(own);
  CHECK(own->topic == "devices/3/cmd");
  CHECK(own->qos == 2);
}

TEST_CASE("a handler cannot publish to a wildcard") {
  MqttSettings settings;
  OutputMessage m;
  m.topic = "devices/+/cmd";
  auto out = make_output_publish(m, settings);
  REQUIRE_FALSE(out);
  CHECK(out.error().find("devices/+/cmd") != std::string::npos);
}

TEST_CASE("retry backoff doubles from retryBackoff and stops at 30 s") {
  CHECK(retry_delay(1000ms, 1) == 1000ms);
  CHECK(retry_delay(1000ms, 2) == 2000ms);
  CHECK(retry_delay(1000ms, 3) == 4000ms);
  CHECK(retry_delay(1000ms, 6) == 30000ms);
  CHECK(retry_delay(1000ms, 1000) == 30000ms);
  CHECK(retry_delay(0ms, 5) == 0ms);
  CHECK(retry_delay(60000ms, 1) == 30000ms);
}
