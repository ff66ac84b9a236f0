#include "trigger/mqtt/mqtt_wire.hpp"

#include <fmt/format.h>

#include <cassert>
#include <cstring>
#include <utility>

#include "util/utf8.hpp"

namespace edgefn::mqtt::wire {

bool valid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (p < end) {
    // Topics and most strings are ASCII: eight bytes at a time while none
    // has its top bit set and none is zero.
    if (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
      constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
      if ((w & kHigh) == 0 && ((w - kOnes) & ~w & kHigh) == 0) {
        p += 8;
        continue;
      }
    }
    if (*p == 0) return false;
    if (*p < 0x80) {
      ++p;
      continue;
    }
    const auto at = static_cast<std::size_t>(p - reinterpret_cast<const unsigned char*>(s.data()));
    const std::size_t length = utf8_sequence_length(s, at);
    if (length == 0) return false;
    p += length;
  }
  return true;
}

// --- Reader ----------------------------------------------------------------

bool Reader::short_of(const char* what, std::size_t need) {
  return malformed(fmt::format("{} needs {} bytes, {} left in the packet", what, need, left()));
}

bool Reader::u8(std::uint8_t& v, const char* what) {
  if (left() < 1) return short_of(what, 1);
  v = static_cast<std::uint8_t>(*p_++);
  return true;
}

bool Reader::u16(std::uint16_t& v, const char* what) {
  if (left() < 2) return short_of(what, 2);
  const auto* b = reinterpret_cast<const unsigned char*>(p_);
  v = static_cast<std::uint16_t>(b[0] << 8 | b[1]);
  p_ += 2;
  return true;
}

bool Reader::u32(std::uint32_t& v, const char* what) {
  if (left() < 4) return short_of(what, 4);
  const auto* b = reinterpret_cast<const unsigned char*>(p_);
  v = std::uint32_t{b[0]} << 24 | std::uint32_t{b[1]} << 16 | std::uint32_t{b[2]} << 8 | b[3];
  p_ += 4;
  return true;
}

bool Reader::varint(std::uint32_t& v, const char* what) {
  v = 0;
  for (int i = 0; i < 4; ++i) {
    if (p_ == end_) return malformed(fmt::format("{} ends with the packet", what));
    const auto b = static_cast<std::uint8_t>(*p_++);
    v |= std::uint32_t{b & 0x7Fu} << (7 * i);
    if (!(b & 0x80)) return true;
  }
  return malformed(fmt::format("{} is longer than four bytes", what));
}

bool Reader::string_view(std::string_view& out, const char* what, bool utf8) {
  std::uint16_t n = 0;
  if (!u16(n, what)) return false;
  if (n > left()) return malformed(fmt::format("{} length {} past the packet's end ({} bytes left)", what, n, left()));
  out = std::string_view(p_, n);
  if (utf8 && !valid_utf8(out)) return malformed(fmt::format("{} is not well-formed UTF-8 without U+0000", what));
  p_ += n;
  return true;
}

bool Reader::string(std::string& out, const char* what, bool utf8) {
  std::string_view view;
  if (!string_view(view, what, utf8)) return false;
  out.assign(view);
  return true;
}

std::string_view Reader::rest() noexcept {
  std::string_view out(p_, left());
  p_ = end_;
  return out;
}

Reader Reader::split(std::size_t n) noexcept {
  assert(n <= left());
  Reader inner(std::string_view(p_, n), packet_);
  p_ += n;
  return inner;
}

bool Reader::fail(std::uint8_t reason_code, std::string message) {
  if (error_.message.empty()) error_ = DecodeError{reason_code, fmt::format("{}: {}", packet_, message)};
  return false;
}

bool Reader::adopt(Reader& inner) {
  if (error_.message.empty()) error_ = std::move(inner.error_);
  return false;
}

void Appender::string(std::string_view s) {
  assert(s.size() <= 0xFFFF);
  u16(static_cast<std::uint16_t>(s.size()));
  out.append(s);
}

// --- Properties (MQTT 5 2.2.2.2) -------------------------------------------

namespace {

const char* property_name(std::uint8_t id) noexcept {
  switch (id) {
    case 0x01: return "payload format indicator";
    case 0x02: return "message expiry interval";
    case 0x03: return "content type";
    case 0x08: return "response topic";
    case 0x09: return "correlation data";
    case 0x0B: return "subscription identifier";
    case 0x11: return "session expiry interval";
    case 0x12: return "assigned client identifier";
    case 0x13: return "server keep alive";
    case 0x15: return "authentication method";
    case 0x16: return "authentication data";
    case 0x17: return "request problem information";
    case 0x18: return "will delay interval";
    case 0x19: return "request response information";
    case 0x1A: return "response information";
    case 0x1C: return "server reference";
    case 0x1F: return "reason string";
    case 0x21: return "receive maximum";
    case 0x22: return "topic alias maximum";
    case 0x23: return "topic alias";
    case 0x24: return "maximum QoS";
    case 0x25: return "retain available";
    case 0x26: return "user property";
    case 0x27: return "maximum packet size";
    case 0x28: return "wildcard subscription available";
    case 0x29: return "subscription identifier available";
    case 0x2A: return "shared subscription available";
    default: return nullptr;
  }
}

// One property's value, by its data type. Each refuses a second
// occurrence: only user properties (and subscription identifiers in a
// PUBLISH) may repeat, "It is a Protocol Error to include ... more than
// once" for every other.
class PropertyReader {
 public:
  PropertyReader(Reader& r, std::uint8_t id) : r_(r), id_(id), name_(property_name(id)) {}

  template <class T>
  bool once(const std::optional<T>& field) {
    if (field) return r_.protocol_error(fmt::format("{} (0x{:02X}) more than once", name_, id_));
    return true;
  }
  // A byte whose only values are 0 and 1.
  bool flag(std::optional<std::uint8_t>& field) {
    std::uint8_t v = 0;
    if (!once(field) || !r_.u8(v, name_)) return false;
    if (v > 1) return r_.protocol_error(fmt::format("{} is {}, not 0 or 1", name_, v));
    field = v;
    return true;
  }
  bool u16(std::optional<std::uint16_t>& field, bool nonzero) {
    std::uint16_t v = 0;
    if (!once(field) || !r_.u16(v, name_)) return false;
    if (nonzero && v == 0) return r_.protocol_error(fmt::format("{} is 0", name_));
    field = v;
    return true;
  }
  bool u32(std::optional<std::uint32_t>& field, bool nonzero) {
    std::uint32_t v = 0;
    if (!once(field) || !r_.u32(v, name_)) return false;
    if (nonzero && v == 0) return r_.protocol_error(fmt::format("{} is 0", name_));
    field = v;
    return true;
  }
  bool string(std::optional<std::string>& field, bool utf8) {
    if (!once(field)) return false;
    return r_.string(field.emplace(), name_, utf8);
  }

 private:
  Reader& r_;
  std::uint8_t id_;
  const char* name_;
};

bool read_property(Reader& r, Properties& p, PropertyContext context) {
  std::uint32_t id32;
  if (!r.varint(id32, "property identifier")) return false;
  // Every identifier MQTT 5 defines fits one byte; a longer form of one is
  // still that identifier.
  const auto id = static_cast<std::uint8_t>(id32);
  if (id32 > 0xFF || !property_name(id)) return r.malformed(fmt::format("unknown property identifier 0x{:02X}", id32));
  PropertyReader pr(r, id);
  switch (id) {
    case 0x01: return pr.flag(p.payload_format_indicator);
    case 0x02: return pr.u32(p.message_expiry_interval, false);
    case 0x03: return pr.string(p.content_type, true);
    case 0x08:
      if (!pr.string(p.response_topic, true)) return false;
      if (p.response_topic->empty() || has_wildcard(*p.response_topic)) {
        return r.protocol_error("response topic is empty or has a wildcard");
      }
      return true;
    case 0x09: return pr.string(p.correlation_data, false);
    case 0x0B: {
      if (context != PropertyContext::kPublish && !p.subscription_identifiers.empty()) {
        return r.protocol_error("subscription identifier (0x0B) more than once");
      }
      std::uint32_t v = 0;
      if (!r.varint(v, "subscription identifier")) return false;
      if (v == 0) return r.protocol_error("subscription identifier is 0");
      p.subscription_identifiers.push_back(v);
      return true;
    }
    case 0x11: return pr.u32(p.session_expiry_interval, false);
    case 0x12: return pr.string(p.assigned_client_identifier, true);
    case 0x13: return pr.u16(p.server_keep_alive, false);
    case 0x15: return pr.string(p.authentication_method, true);
    case 0x16: return pr.string(p.authentication_data, false);
    case 0x17: return pr.flag(p.request_problem_information);
    case 0x18: return pr.u32(p.will_delay_interval, false);
    case 0x19: return pr.flag(p.request_response_information);
    case 0x1A: return pr.string(p.response_information, true);
    case 0x1C: return pr.string(p.server_reference, true);
    case 0x1F: return pr.string(p.reason_string, true);
    case 0x21: return pr.u16(p.receive_maximum, true);
    case 0x22: return pr.u16(p.topic_alias_maximum, false);
    case 0x23: return pr.u16(p.topic_alias, true);
    case 0x24: return pr.flag(p.maximum_qos);
    case 0x25: return pr.flag(p.retain_available);
    case 0x26: {
      std::string_view name, value;
      if (!r.string_view(name, "user property name", true) || !r.string_view(value, "user property value", true)) {
        return false;
      }
      p.user_properties.emplace_back(name, value);
      return true;
    }
    case 0x27: return pr.u32(p.maximum_packet_size, true);
    case 0x28: return pr.flag(p.wildcard_subscription_available);
    case 0x29: return pr.flag(p.subscription_identifier_available);
    case 0x2A: return pr.flag(p.shared_subscription_available);
    default: return r.malformed(fmt::format("unknown property identifier 0x{:02X}", id));
  }
}

template <class Out>
void put_properties(const Properties& p, Out& o) {
  auto byte = [&](std::uint8_t id, const std::optional<std::uint8_t>& v) {
    if (v) {
      o.u8(id);
      o.u8(*v);
    }
  };
  auto two = [&](std::uint8_t id, const std::optional<std::uint16_t>& v) {
    if (v) {
      o.u8(id);
      o.u16(*v);
    }
  };
  auto four = [&](std::uint8_t id, const std::optional<std::uint32_t>& v) {
    if (v) {
      o.u8(id);
      o.u32(*v);
    }
  };
  auto string = [&](std::uint8_t id, const std::optional<std::string>& v) {
    if (v) {
      o.u8(id);
      o.string(*v);
    }
  };
  byte(0x01, p.payload_format_indicator);
  four(0x02, p.message_expiry_interval);
  string(0x03, p.content_type);
  string(0x08, p.response_topic);
  string(0x09, p.correlation_data);
  for (std::uint32_t id : p.subscription_identifiers) o.u8(0x0B), o.varint(id);
  four(0x11, p.session_expiry_interval);
  string(0x12, p.assigned_client_identifier);
  two(0x13, p.server_keep_alive);
  string(0x15, p.authentication_method);
  string(0x16, p.authentication_data);
  byte(0x17, p.request_problem_information);
  four(0x18, p.will_delay_interval);
  byte(0x19, p.request_response_information);
  string(0x1A, p.response_information);
  string(0x1C, p.server_reference);
  string(0x1F, p.reason_string);
  two(0x21, p.receive_maximum);
  two(0x22, p.topic_alias_maximum);
  two(0x23, p.topic_alias);
  byte(0x24, p.maximum_qos);
  byte(0x25, p.retain_available);
  for (const auto& [name, value] : p.user_properties) o.u8(0x26), o.string(name), o.string(value);
  four(0x27, p.maximum_packet_size);
  byte(0x28, p.wildcard_subscription_available);
  byte(0x29, p.subscription_identifier_available);
  byte(0x2A, p.shared_subscription_available);
}

}  // namespace

bool read_properties(Reader& r, Properties& out, PropertyContext context) {
  std::uint32_t length;
  if (!r.varint(length, "property length")) return false;
  if (length > r.left()) {
    return r.malformed(fmt::format("property length {} past the packet's end ({} bytes left)", length, r.left()));
  }
  Reader inner = r.split(length);
  while (inner.left() > 0) {
    if (!read_property(inner, out, context)) return r.adopt(inner);
  }
  return true;
}

std::size_t properties_size(const Properties& p) noexcept {
  Counter c;
  put_properties(p, c);
  return c.n;
}

void write_properties(const Properties& p, std::string& out) {
  Appender a{out};
  put_properties(p, a);
}

}  // namespace edgefn::mqtt::wire
