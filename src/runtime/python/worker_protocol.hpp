#pragma once
// What the daemon and a Python worker say to each other over their shm
// channel, on top of the transport (shm/ring.h) and its head encoding and
// HELLO (shm/codec.hpp). runtimes/python/edgefn_messages.py and
// edgefn_worker.py speak the same; the description below is the one both
// follow.
//
// EVENT (2), daemon -> worker, request id chosen by the daemon, body = the
// event body.
//   i64 timestamp_ns (Unix epoch, UTC)    i64 offset     i32 shard_id
//   i32 num_shards    u8 last_in_batch    3 bytes zero
//   u32 header_count  u32 field_count
//   u32 length of each of 12 strings, then their bytes, in this order:
//     id, trigger_kind, trigger_name, method, path, url, content_type,
//     topic, key, type, type_version, version
//   headers, then fields, as name/value pairs
//   (84 bytes of fixed part.)
// RESPONSE (3), worker -> daemon, the event's request id, body = the
// response body.
//   i32 status    u32 flags (bit 0: no_ack, Response.ensure_no_ack())
//   u32 content_type length    u32 header_count
//   content_type bytes, then headers as pairs
//   Any status is carried; the daemon's pool decides what is valid.
// LOG (4), worker -> daemon, the request id of the event being handled, or
// 0 outside one (init_context, background threads); body empty.
//   u8 level (0 debug, 1 info, 2 warn, 3 error)
//   u8 flags (bit 0: the function's own output, print() or stderr, not a
//   logger call: logged, but not returned in X-Nuclio-Logs)    2 bytes zero
//   u32 message length    u32 fields length
//   message bytes, fields bytes (a JSON object, or empty for none)
// READY (16), worker -> daemon, request id 0, head and body empty:
//   init_context returned; the worker takes events.
// INIT_FAILED (17), worker -> daemon, request id 0: head = the error and
//   its traceback, UTF-8 text. The daemon then closes the channel and kills
//   the worker (a non-daemon thread of the handler's may keep it alive).
// STOP (18), daemon -> worker, request id 0, empty: run the termination
//   callback and exit 0. Workers ignore SIGTERM and SIGINT: the daemon
//   decides when they stop, so a signal sent to every process at once
//   reaches only the daemon, which drains first.
// DRAIN (19), daemon -> worker, request id 0, empty: the processor is
//   draining, or a stream trigger's partitions are being revoked in a
//   rebalance; run the drain callback, every time one comes (events may
//   still come).
// PUBLISH (20), worker -> daemon, request id chosen by the worker (unique
//   among its publishes in flight), body = the payload:
//   u32 output length    u32 topic length    u32 key length
//   u32 header_count     output, topic, key bytes, then headers as pairs
// PUBLISH_RESULT (21), daemon -> worker, the PUBLISH's request id:
//   i32 code (0: the output took the message; else an error)
//   u32 message length, message bytes (the error, for the handler)
// EXPLICIT_ACK (22), worker -> daemon, request id 0, body empty:
//   i32 partition    i64 offset    u32 topic length    topic bytes
//
// Every head from the worker is hostile: decoding checks lengths against
// the head's own size and never allocates more than it.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "event/event.hpp"
#include "shm/codec.hpp"

namespace edgefn::python {

enum : shm::MessageType {
  kEventMessage = 2,
  kResponseMessage = 3,
  kLogMessage = 4,
  kReadyMessage = 16,
  kInitFailedMessage = 17,
  kStopMessage = 18,
  kDrainMessage = 19,
  kPublishMessage = 20,
  kPublishResultMessage = 21,
  kExplicitAckMessage = 22,
};

enum class LogLevel : std::uint8_t { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

struct LogRecord {
  LogLevel level = LogLevel::kInfo;
  std::string message;
  std::string fields_json;  // a JSON object, or empty; unchecked
  bool output = false;      // print()/stderr output rather than a logger call
};

// A decoded event owns the TriggerInfo its Event points to; the pointer
// follows moves because the TriggerInfo is held by pointer too.
struct DecodedEvent {
  Event event;
  std::unique_ptr<TriggerInfo> trigger;
};

struct PublishRequest {
  std::string output;
  OutputMessage message;
};

struct PublishResult {
  std::int32_t code = 0;
  std::string message;
};

template <class T>
using Decoded = shm::Decoded<T>;

// The body is not part of the head: send event.body as the message body.
std::string encode_event_head(const Event& event);
Decoded<DecodedEvent> decode_event(std::string_view head, std::string body);

std::string encode_response_head(const Response& response);
Decoded<Response> decode_response(std::string_view head, std::string body);

std::string encode_log_head(const LogRecord& record);
Decoded<LogRecord> decode_log(std::string_view head);

// message.body is sent as the message body.
std::string encode_publish_head(const PublishRequest& request);
Decoded<PublishRequest> decode_publish(std::string_view head, std::string body);

std::string encode_publish_result_head(const PublishResult& result);
Decoded<PublishResult> decode_publish_result(std::string_view head);

std::string encode_explicit_ack_head(const QualifiedOffset& offset);
Decoded<QualifiedOffset> decode_explicit_ack(std::string_view head);

}  // namespace edgefn::python
