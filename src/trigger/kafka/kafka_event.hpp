#pragma once
// The Kafka trigger's pure parts, kept apart from librdkafka and the pool
// so they can be unit-tested without a broker: a consumed message as an
// Event, and what a handler's answer leads to (a response, a dead letter,
// a handler's own message) as records to produce.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <tl/expected.hpp>

#include "event/event.hpp"

namespace edgefn::kafka {

// A message taken from a partition, owned (librdkafka's is released at
// once). Kept until its offset may be committed: a retry and a dead letter
// need it whole.
struct Record {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::optional<std::string> key;  // Kafka tells a null key from an empty one
  std::string value;
  Headers headers;
  std::int64_t timestamp_ms = -1;  // -1: the broker gave none
};

// A message to produce.
struct OutgoingRecord {
  std::string topic;
  std::optional<std::string> key;
  Headers headers;
  std::string value;
};

// `record` as the event a handler sees, with Nuclio's fields: body = the
// value (passed apart: the caller copies or moves it, as a retry needs it
// again), topic = path = the topic, shard_id = the partition, offset, key,
// headers, timestamp (the message's, else now), url = the brokers, and
// the content type from a "content-type" header. `info` must outlive the
// event.
Event make_event(const Record& record, std::string body, const TriggerInfo& info, const std::string& brokers);

// The copy of `record` produced to `topic` when its handler failed for
// good: key, value and headers unchanged, the x-edgefn-* error headers
// (stream/stream_failure.hpp) appended.
OutgoingRecord make_dead_letter(const Record& record, const std::string& topic, const std::string& detail,
                                int attempts, const std::string& trigger);

// The handler's response to `incoming` produced to `topic`, or nothing for
// an empty body or no topic: the incoming key (so a response lands in the
// partition of its request's key), the response's headers but Nuclio's
// no-ack marker, and a content-type header.
std::optional<OutgoingRecord> make_response(Response response, const Record& incoming, const std::string& topic);

// A handler's own message (host services' publish): its topic, else
// `default_topic`, else an error; its key and headers as they are.
tl::expected<OutgoingRecord, std::string> make_output(OutputMessage message, const std::string& default_topic);

}  // namespace edgefn::kafka
