#include "runtime/python/worker_protocol.hpp"

#include <array>
#include <chrono>

namespace edgefn::python {
namespace {
constexpr std::uint8_t kLogFromOutput = 1;  // LOG flags: print() or stderr output, not a logger call

using shm::HeadReader;
using shm::HeadWriter;

constexpr std::size_t kEventStrings = 12;
constexpr std::size_t kEventFixedSize = 84;
constexpr std::uint32_t kNoAckFlag = 1;

}  // namespace

std::string encode_event_head(const Event& event) {
  static const TriggerInfo kNoTrigger;
  const TriggerInfo& trigger = event.trigger ? *event.trigger : kNoTrigger;
  const std::array<std::string_view, kEventStrings> strings{
      event.id,           trigger.kind, trigger.name, event.method, event.path,         event.url,
      event.content_type, event.topic,  event.key,    event.type,   event.type_version, event.version};
  std::size_t size = kEventFixedSize + HeadWriter::pairs_size(event.headers) + HeadWriter::pairs_size(event.fields);
  for (auto s : strings) size += s.size();
  std::string out;
  out.reserve(size);
  HeadWriter w(out);
  w.put(static_cast<std::int64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(event.timestamp.time_since_epoch()).count()));
  w.put(static_cast<std::int64_t>(event.offset));
  w.put(static_cast<std::int32_t>(event.shard_id));
  w.put(static_cast<std::int32_t>(event.num_shards));
  w.put(static_cast<std::uint8_t>(event.last_in_batch ? 1 : 0));
  w.zeros(3);
  w.len(event.headers.size());
  w.len(event.fields.size());
  for (auto s : strings) w.len(s.size());
  for (auto s : strings) w.bytes(s);
  w.pairs(event.headers);
  w.pairs(event.fields);
  return out;
}

Decoded<DecodedEvent> decode_event(std::string_view head, std::string body) {
  HeadReader r(head);
  DecodedEvent out;
  out.trigger = std::make_unique<TriggerInfo>();
  Event& e = out.event;
  std::int64_t timestamp_ns = 0;
  std::uint8_t last_in_batch = 0;
  std::uint32_t header_count = 0, field_count = 0;
  std::array<std::uint32_t, kEventStrings> lengths{};
  bool ok = r.get(timestamp_ns) && r.get(e.offset) && r.get(e.shard_id) && r.get(e.num_shards) &&
            r.get(last_in_batch) && r.skip(3) && r.get(header_count) && r.get(field_count);
  for (auto& n : lengths) ok = ok && r.get(n);
  std::array<std::string*, kEventStrings> strings{
      &e.id,   &out.trigger->kind, &out.trigger->name, &e.method, &e.path, &e.url, &e.content_type, &e.topic, &e.key,
      &e.type, &e.type_version,    &e.version};
  for (std::size_t i = 0; i < kEventStrings; ++i) ok = ok && r.str(lengths[i], *strings[i]);
  ok = ok && r.pairs(header_count, e.headers) && r.pairs(field_count, e.fields);
  if (auto done = r.finish("event"); !done) return tl::make_unexpected(done.error());
  if (last_in_batch > 1)
    return tl::make_unexpected(std::string("event head has last_in_batch ") + std::to_string(last_in_batch));
  e.last_in_batch = last_in_batch != 0;
  e.timestamp = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(timestamp_ns)));
  e.trigger = out.trigger.get();
  e.body = std::move(body);
  return out;
}

std::string encode_response_head(const Response& response) {
  std::string out;
  out.reserve(16 + response.content_type.size() + HeadWriter::pairs_size(response.headers));
  HeadWriter w(out);
  w.put(static_cast<std::int32_t>(response.status));
  w.put(response.no_ack ? kNoAckFlag : std::uint32_t{0});
  w.len(response.content_type.size());
  w.len(response.headers.size());
  w.bytes(response.content_type);
  w.pairs(response.headers);
  return out;
}

Decoded<Response> decode_response(std::string_view head, std::string body) {
  HeadReader r(head);
  Response out;
  std::int32_t status = 0;
  std::uint32_t flags = 0, content_type_size = 0, header_count = 0;
  r.get(status) && r.get(flags) && r.get(content_type_size) && r.get(header_count) &&
      r.str(content_type_size, out.content_type) && r.pairs(header_count, out.headers);
  if (auto done = r.finish("response"); !done) return tl::make_unexpected(done.error());
  if (flags & ~kNoAckFlag) return tl::make_unexpected("response head has unknown flags " + std::to_string(flags));
  out.status = status;
  out.no_ack = (flags & kNoAckFlag) != 0;
  out.body = std::move(body);
  return out;
}

std::string encode_log_head(const LogRecord& record) {
  std::string out;
  out.reserve(12 + record.message.size() + record.fields_json.size());
  HeadWriter w(out);
  w.put(static_cast<std::uint8_t>(record.level));
  w.put(static_cast<std::uint8_t>(record.output ? kLogFromOutput : 0));
  w.zeros(2);
  w.len(record.message.size());
  w.len(record.fields_json.size());
  w.bytes(record.message);
  w.bytes(record.fields_json);
  return out;
}

Decoded<LogRecord> decode_log(std::string_view head) {
  HeadReader r(head);
  LogRecord out;
  std::uint8_t level = 0, flags = 0;
  std::uint32_t message_size = 0, fields_size = 0;
  r.get(level) && r.get(flags) && r.skip(2) && r.get(message_size) && r.get(fields_size) && r.str(message_size, out.message) &&
      r.str(fields_size, out.fields_json);
  if (auto done = r.finish("log"); !done) return tl::make_unexpected(done.error());
  if (level > static_cast<std::uint8_t>(LogLevel::kError))
    return tl::make_unexpected("log head has level " + std::to_string(level));
  out.level = static_cast<LogLevel>(level);
  out.output = (flags & kLogFromOutput) != 0;
  return out;
}

std::string encode_publish_head(const PublishRequest& request) {
  const auto& m = request.message;
  std::string out;
  out.reserve(16 + request.output.size() + m.topic.size() + m.key.size() + HeadWriter::pairs_size(m.headers));
  HeadWriter w(out);
  w.len(request.output.size());
  w.len(m.topic.size());
  w.len(m.key.size());
  w.len(m.headers.size());
  w.bytes(request.output);
  w.bytes(m.topic);
  w.bytes(m.key);
  w.pairs(m.headers);
  return out;
}

Decoded<PublishRequest> decode_publish(std::string_view head, std::string body) {
  HeadReader r(head);
  PublishRequest out;
  std::uint32_t output_size = 0, topic_size = 0, key_size = 0, header_count = 0;
  r.get(output_size) && r.get(topic_size) && r.get(key_size) && r.get(header_count) &&
      r.str(output_size, out.output) && r.str(topic_size, out.message.topic) && r.str(key_size, out.message.key) &&
      r.pairs(header_count, out.message.headers);
  if (auto done = r.finish("publish"); !done) return tl::make_unexpected(done.error());
  out.message.body = std::move(body);
  return out;
}

std::string encode_publish_result_head(const PublishResult& result) {
  std::string out;
  HeadWriter w(out);
  w.put(result.code);
  w.len(result.message.size());
  w.bytes(result.message);
  return out;
}

Decoded<PublishResult> decode_publish_result(std::string_view head) {
  HeadReader r(head);
  PublishResult out;
  std::uint32_t size = 0;
  r.get(out.code) && r.get(size) && r.str(size, out.message);
  if (auto done = r.finish("publish result"); !done) return tl::make_unexpected(done.error());
  return out;
}

std::string encode_explicit_ack_head(const QualifiedOffset& offset) {
  std::string out;
  HeadWriter w(out);
  w.put(offset.partition);
  w.put(offset.offset);
  w.len(offset.topic.size());
  w.bytes(offset.topic);
  return out;
}

Decoded<QualifiedOffset> decode_explicit_ack(std::string_view head) {
  HeadReader r(head);
  QualifiedOffset out;
  std::uint32_t size = 0;
  r.get(out.partition) && r.get(out.offset) && r.get(size) && r.str(size, out.topic);
  if (auto done = r.finish("explicit ack"); !done) return tl::make_unexpected(done.error());
  return out;
}

}  // namespace edgefn::python
