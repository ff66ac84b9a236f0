#include "trigger/kafka/kafka_event.hpp"

#include <catch2/catch.hpp>

using namespace edgefn;
using namespace edgefn::kafka;

namespace {

Record order() {
  Record r;
  r.topic = "orders";
  r.partition = 3;
  r.offset = 1041;
  r.key = "customer-9";
  r.value = std::string("{\"n\":1}\0x", 9);
  r.headers = {{"content-type", "application/json"}, {"trace", "a"}, {"trace", "b"}};
  r.timestamp_ms = 1'700'000'000'123;
  return r;
}

std::string header(const Headers& headers, const std::string& name) {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return "(absent)";
}

}  // namespace

TEST_CASE("a Kafka record becomes an event with Nuclio's stream fields and its key") {
  const TriggerInfo info{"kafka-cluster", "stream"};
  const auto r = order();
  const Event e = make_event(r, r.value, info, "b1:9092");
  CHECK(e.trigger == &info);
  CHECK(e.topic == "orders");
  CHECK(e.path == "orders");
  CHECK(e.shard_id == 3);
  CHECK(e.offset == 1041);
  CHECK(e.key == "customer-9");
  CHECK(e.body == r.value);
  CHECK(e.url == "b1:9092");
  CHECK(e.content_type == "application/json");
  CHECK(e.headers == r.headers);
  CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(e.timestamp.time_since_epoch()).count() ==
        1'700'000'000'123);
  CHECK_FALSE(e.id.empty());
}

TEST_CASE("a dead letter keeps the record and says why, where from and how often it failed") {
  const auto r = order();
  const auto letter = make_dead_letter(r, "dead", "status 500: boom", 4, "stream");
  CHECK(letter.topic == "dead");
  CHECK(letter.key == r.key);
  CHECK(letter.value == r.value);
  CHECK(letter.headers.size() == r.headers.size() + 6);
  CHECK(header(letter.headers, "trace") == "a");
  CHECK(header(letter.headers, "x-edgefn-error") == "status 500: boom");
  CHECK(header(letter.headers, "x-edgefn-topic") == "orders");
  CHECK(header(letter.headers, "x-edgefn-partition") == "3");
  CHECK(header(letter.headers, "x-edgefn-offset") == "1041");
  CHECK(header(letter.headers, "x-edgefn-attempts") == "4");
  CHECK(header(letter.headers, "x-edgefn-trigger") == "stream");
}

TEST_CASE("a response keeps its request's key and drops Nuclio's no-ack marker") {
  Response response;
  response.body = "done";
  response.content_type = "text/csv";
  response.headers = {{"X-Nuclio-Stream-No-Ack", "true"}, {"x-result", "ok"}};
  const auto out = make_response(response, order(), "replies");
  REQUIRE(out);
  CHECK(out->topic == "replies");
  CHECK(out->key == std::optional<std::string>("customer-9"));
  CHECK(out->value == "done");
  CHECK(header(out->headers, "x-result") == "ok");
  CHECK(header(out->headers, "content-type") == "text/csv");
  CHECK(header(out->headers, "X-Nuclio-Stream-No-Ack") == "(absent)");
  CHECK_FALSE(make_response(Response{}, order(), "replies"));  // empty body
  CHECK_FALSE(make_response(response, order(), ""));           // no topic
}

TEST_CASE("a handler's own message goes to its topic, else the response topic") {
  OutputMessage message{"", "k", {{"h", "v"}}, "body"};
  auto out = make_output(message, "replies");
  REQUIRE(out);
  CHECK(out->topic == "replies");
  CHECK(out->key == std::optional<std::string>("k"));
  message.topic = "elsewhere";
  message.key.clear();
  out = make_output(message, "replies");
  REQUIRE(out);
  CHECK(out->topic == "elsewhere");
  CHECK_FALSE(out->key);
  message.topic.clear();
  CHECK_FALSE(make_output(message, ""));
}
