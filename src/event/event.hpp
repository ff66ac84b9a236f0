#pragma once
// Event, Response and TriggerInfo: plain values that every part passes
// around. They depend on nothing else in the project.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/strings.hpp"

namespace edgefn {

// Ordered name/value pairs: HTTP allows repeated names, and order matters to
// some handlers (Nuclio keeps the client's order).
using Headers = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive lookup of the first pair named `name`; empty if absent.
std::string_view find_header(const Headers& headers, std::string_view name) noexcept;

// Owned by the trigger, which outlives every event it produces.
struct TriggerInfo {
  std::string kind;
  std::string name;
};

struct Event {
  std::string id;  // fresh for every event (see new_event_id)
  const TriggerInfo* trigger = nullptr;
  std::string method;
  std::string path;
  std::string url;
  std::string content_type;
  Headers headers;
  Headers fields;  // query arguments for HTTP
  std::string body;
  std::chrono::system_clock::time_point timestamp;
  // Stream fields (Kafka, MQTT); defaults mean "not a stream event".
  std::string topic;
  std::string key;
  std::int32_t shard_id = -1;
  std::int32_t num_shards = 0;
  std::int64_t offset = -1;
  bool last_in_batch = false;
  std::string type;
  std::string type_version;
  std::string version;

  std::string_view header(std::string_view name) const noexcept { return find_header(headers, name); }
};

// The response header by which a Nuclio handler defers a stream event's
// acknowledgement (Response.ensure_no_ack()); stream triggers drop it from
// what they publish.
inline constexpr std::string_view kStreamNoAckHeader = "x-nuclio-stream-no-ack";

struct Response {
  int status = 200;
  std::string content_type = "text/plain";
  Headers headers;
  std::string body;
  // The handler will acknowledge this stream event itself, later
  // (Nuclio's Response.ensure_no_ack(), with explicitAckMode enabled).
  bool no_ack = false;
  // The pool's worker that answered, for the access log; -1 until the pool
  // sets it.
  int worker = -1;
};

// A message a handler publishes to a named output (through the host
// services: an MQTT connection, a Kafka producer).
struct OutputMessage {
  std::string topic;  // empty: the output's own default
  std::string key;
  Headers headers;
  std::string body;
};

// A stream event's place in its stream, as Nuclio's QualifiedOffset names
// it: what a handler passes to explicit_ack().
struct QualifiedOffset {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
};

// A 36-character UUID-shaped id, unique across processes and restarts:
// a random per-process prefix and a counter. Thread-safe, no locks.
std::string new_event_id();

}  // namespace edgefn
