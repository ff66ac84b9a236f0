#pragma once
// Message encodings of the shm channel, protocol version 1. ring.h describes
// the transport: a message is (type, request id, head, body); this file
// describes the heads. runtimes/python/edgefn_channel.py speaks the same.
//
// All integers little-endian; "str" is UTF-8 bytes whose length is given
// elsewhere in the head (never NUL-terminated); bodies are raw bytes, never
// re-encoded. Fixed parts come first so that a reader unpacks them with one
// struct call, then the variable bytes in the order listed.
//
// HELLO (1), both ways; body empty.
//   u32 protocol_version, u32 pid
//
// EVENT (2), daemon -> worker; body = event body.
//   i64 timestamp_ns (Unix epoch, UTC)    i64 offset     i32 shard_id
//   i32 num_shards    u8 last_in_batch    3 bytes zero
//   u32 header_count  u32 field_count
//   u32 length of each of 12 strings, then their bytes, in this order:
//     id, trigger_kind, trigger_name, method, path, url, content_type,
//     topic, key, type, type_version, version
//   headers: u32 length[2 * header_count] (name, value, name, value, ...),
//            then the bytes in the same order
//   fields:  likewise, with field_count
//   (84 bytes of fixed part.)
//
// RESPONSE (3), worker -> daemon, request id of the event; body = response
// body.
//   i32 status    u32 content_type length    u32 header_count
//   content_type bytes, then headers as in EVENT
//
// LOG (4), worker -> daemon, request id of the event being handled, or 0
// outside one (init_context); body empty.
//   u8 level (0 debug, 1 info, 2 warn, 3 error)    3 bytes zero
//   u32 message length    u32 fields length
//   message bytes, fields bytes (a JSON object, or empty for none)
//
// Types 16 and up are left to the runtime layer (readiness, errors, data
// bindings); the transport carries any type.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "event/event.hpp"
#include <tl/expected.hpp>

namespace edgefn::shm {

enum class MessageType : std::uint16_t {
  kHello = 1,
  kEvent = 2,
  kResponse = 3,
  kLog = 4,
  kFirstRuntimeType = 16,
};

enum class LogLevel : std::uint8_t { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

struct Hello {
  std::uint32_t protocol_version = 0;
  std::uint32_t pid = 0;
};

struct LogRecord {
  LogLevel level = LogLevel::kInfo;
  std::string message;
  std::string fields_json;  // a JSON object, or empty
};

// A decoded event owns the TriggerInfo its Event points to; the pointer
// follows moves because the TriggerInfo is held by pointer too.
struct DecodedEvent {
  Event event;
  std::unique_ptr<TriggerInfo> trigger;
};

// Decoding fails (the error says where) on a head that is too short, has
// bytes left over, or an out-of-range value: a peer speaking another
// protocol, or a bug; the channel is then closed.
template <class T>
using Decoded = tl::expected<T, std::string>;

std::string encode_hello(const Hello& hello);
Decoded<Hello> decode_hello(std::string_view head);

// The body is not part of the head: send event.body as the message body.
std::string encode_event_head(const Event& event);
Decoded<DecodedEvent> decode_event(std::string_view head, std::string body);

std::string encode_response_head(const Response& response);
Decoded<Response> decode_response(std::string_view head, std::string body);

std::string encode_log_head(const LogRecord& record);
Decoded<LogRecord> decode_log(std::string_view head);

}  // namespace edgefn::shm
