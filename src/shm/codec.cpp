#include "shm/codec.hpp"

#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <memory>

namespace edgefn::shm {

static_assert(std::endian::native == std::endian::little, "the shm protocol is little-endian, as is the host");

namespace {

constexpr std::size_t kEventStrings = 12;
constexpr std::size_t kEventFixedSize = 84;

class HeadWriter {
 public:
  explicit HeadWriter(std::string& out) : out_(out) {}
  template <class T>
  void put(T value) {
    char bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T));
    out_.append(bytes, sizeof(T));
  }
  void len(std::size_t n) { put(static_cast<std::uint32_t>(n)); }
  void zeros(std::size_t n) { out_.append(n, '\0'); }
  void bytes(std::string_view s) { out_.append(s); }

 private:
  std::string& out_;
};

class HeadReader {
 public:
  explicit HeadReader(std::string_view in) : in_(in) {}
  template <class T>
  bool get(T& value) {
    if (in_.size() - pos_ < sizeof(T)) return fail("fixed fields");
    std::memcpy(&value, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool skip(std::size_t n) {
    if (in_.size() - pos_ < n) return fail("padding");
    pos_ += n;
    return true;
  }
  bool str(std::uint32_t n, std::string& out) {
    if (in_.size() - pos_ < n) return fail("string bytes");
    out.assign(in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  // Name/value pairs: all lengths first, then all bytes.
  bool pairs(std::uint32_t count, Headers& out) {
    if ((in_.size() - pos_) / 8 < count) return fail("pair lengths");
    std::size_t lengths_at = pos_;
    pos_ += std::size_t{count} * 8;
    out.clear();
    out.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
      std::uint32_t lengths[2];
      std::memcpy(lengths, in_.data() + lengths_at + std::size_t{i} * 8, sizeof lengths);
      auto& [name, value] = out.emplace_back();
      if (!str(lengths[0], name) || !str(lengths[1], value)) return false;
    }
    return true;
  }
  Decoded<bool> finish(const char* what) const {
    if (!error_.empty()) return tl::make_unexpected(std::string(what) + " head truncated in its " + error_);
    if (pos_ != in_.size()) {
      return tl::make_unexpected(std::string(what) + " head has " + std::to_string(in_.size() - pos_) + " bytes left over");
    }
    return true;
  }

 private:
  bool fail(const char* where) {
    if (error_.empty()) error_ = where;
    return false;
  }
  std::string_view in_;
  std::size_t pos_ = 0;
  std::string error_;
};

void put_pairs(HeadWriter& w, const Headers& pairs) {
  for (const auto& [name, value] : pairs) {
    w.len(name.size());
    w.len(value.size());
  }
  for (const auto& [name, value] : pairs) {
    w.bytes(name);
    w.bytes(value);
  }
}

std::size_t pairs_size(const Headers& pairs) {
  std::size_t n = 0;
  for (const auto& [name, value] : pairs) n += 8 + name.size() + value.size();
  return n;
}

}  // namespace

std::string encode_hello(const Hello& hello) {
  std::string out;
  HeadWriter w(out);
  w.put(hello.protocol_version);
  w.put(hello.pid);
  return out;
}

Decoded<Hello> decode_hello(std::string_view head) {
  HeadReader r(head);
  Hello hello;
  r.get(hello.protocol_version) && r.get(hello.pid);
  if (auto done = r.finish("hello"); !done) return tl::make_unexpected(done.error());
  return hello;
}

std::string encode_event_head(const Event& event) {
  static const TriggerInfo kNoTrigger;
  const TriggerInfo& trigger = event.trigger ? *event.trigger : kNoTrigger;
  const std::array<std::string_view, kEventStrings> strings{
      event.id,           trigger.kind, trigger.name, event.method, event.path,         event.url,
      event.content_type, event.topic,  event.key,    event.type,   event.type_version, event.version};
  std::size_t size = kEventFixedSize + pairs_size(event.headers) + pairs_size(event.fields);
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
  put_pairs(w, event.headers);
  put_pairs(w, event.fields);
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
  out.reserve(12 + response.content_type.size() + pairs_size(response.headers));
  HeadWriter w(out);
  w.put(static_cast<std::int32_t>(response.status));
  w.len(response.content_type.size());
  w.len(response.headers.size());
  w.bytes(response.content_type);
  put_pairs(w, response.headers);
  return out;
}

Decoded<Response> decode_response(std::string_view head, std::string body) {
  HeadReader r(head);
  Response out;
  std::int32_t status = 0;
  std::uint32_t content_type_size = 0, header_count = 0;
  bool ok = r.get(status) && r.get(content_type_size) && r.get(header_count) &&
            r.str(content_type_size, out.content_type) && r.pairs(header_count, out.headers);
  (void)ok;
  if (auto done = r.finish("response"); !done) return tl::make_unexpected(done.error());
  if (status < 100 || status > 999) return tl::make_unexpected("response head has status " + std::to_string(status));
  out.status = status;
  out.body = std::move(body);
  return out;
}

std::string encode_log_head(const LogRecord& record) {
  std::string out;
  out.reserve(12 + record.message.size() + record.fields_json.size());
  HeadWriter w(out);
  w.put(static_cast<std::uint8_t>(record.level));
  w.zeros(3);
  w.len(record.message.size());
  w.len(record.fields_json.size());
  w.bytes(record.message);
  w.bytes(record.fields_json);
  return out;
}

Decoded<LogRecord> decode_log(std::string_view head) {
  HeadReader r(head);
  LogRecord out;
  std::uint8_t level = 0;
  std::uint32_t message_size = 0, fields_size = 0;
  bool ok = r.get(level) && r.skip(3) && r.get(message_size) && r.get(fields_size) &&
            r.str(message_size, out.message) && r.str(fields_size, out.fields_json);
  (void)ok;
  if (auto done = r.finish("log"); !done) return tl::make_unexpected(done.error());
  if (level > static_cast<std::uint8_t>(LogLevel::kError)) {
    return tl::make_unexpected("log head has level " + std::to_string(level));
  }
  out.level = static_cast<LogLevel>(level);
  return out;
}

}  // namespace edgefn::shm
