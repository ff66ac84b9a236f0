// Packet layouts: MQTT 3.1.1 chapter 3 and MQTT 5 chapter 3, section by
// section; MQTT 3.1 differs from 3.1.1 only in CONNECT's protocol name and
// CONNACK's first byte (reserved, no session present flag).
#include "trigger/mqtt/mqtt_codec.hpp"

#include <fmt/format.h>

#include <cassert>
#include <initializer_list>
#include <iterator>
#include <utility>

#include "trigger/mqtt/mqtt_wire.hpp"

namespace edgefn::mqtt {

using wire::Reader;

const char* to_string(PacketType type) noexcept {
  switch (type) {
    case PacketType::kConnect: return "CONNECT";
    case PacketType::kConnack: return "CONNACK";
    case PacketType::kPublish: return "PUBLISH";
    case PacketType::kPuback: return "PUBACK";
    case PacketType::kPubrec: return "PUBREC";
    case PacketType::kPubrel: return "PUBREL";
    case PacketType::kPubcomp: return "PUBCOMP";
    case PacketType::kSubscribe: return "SUBSCRIBE";
    case PacketType::kSuback: return "SUBACK";
    case PacketType::kUnsubscribe: return "UNSUBSCRIBE";
    case PacketType::kUnsuback: return "UNSUBACK";
    case PacketType::kPingreq: return "PINGREQ";
    case PacketType::kPingresp: return "PINGRESP";
    case PacketType::kDisconnect: return "DISCONNECT";
    case PacketType::kAuth: return "AUTH";
  }
  return "reserved packet type";
}

namespace {

const char* reason_name(std::uint8_t code) noexcept {
  switch (code) {
    case 0x00: return "Success";
    case 0x01: return "Granted QoS 1";
    case 0x02: return "Granted QoS 2";
    case 0x04: return "Disconnect with Will Message";
    case 0x10: return "No matching subscribers";
    case 0x11: return "No subscription existed";
    case 0x18: return "Continue authentication";
    case 0x19: return "Re-authenticate";
    case 0x80: return "Unspecified error";
    case 0x81: return "Malformed Packet";
    case 0x82: return "Protocol Error";
    case 0x83: return "Implementation specific error";
    case 0x84: return "Unsupported Protocol Version";
    case 0x85: return "Client Identifier not valid";
    case 0x86: return "Bad User Name or Password";
    case 0x87: return "Not authorized";
    case 0x88: return "Server unavailable";
    case 0x89: return "Server busy";
    case 0x8A: return "Banned";
    case 0x8B: return "Server shutting down";
    case 0x8C: return "Bad authentication method";
    case 0x8D: return "Keep Alive timeout";
    case 0x8E: return "Session taken over";
    case 0x8F: return "Topic Filter invalid";
    case 0x90: return "Topic Name invalid";
    case 0x91: return "Packet Identifier in use";
    case 0x92: return "Packet Identifier not found";
    case 0x93: return "Receive Maximum exceeded";
    case 0x94: return "Topic Alias invalid";
    case 0x95: return "Packet too large";
    case 0x96: return "Message rate too high";
    case 0x97: return "Quota exceeded";
    case 0x98: return "Administrative action";
    case 0x99: return "Payload format invalid";
    case 0x9A: return "Retain not supported";
    case 0x9B: return "QoS not supported";
    case 0x9C: return "Use another server";
    case 0x9D: return "Server moved";
    case 0x9E: return "Shared Subscriptions not supported";
    case 0x9F: return "Connection rate exceeded";
    case 0xA0: return "Maximum connect time";
    case 0xA1: return "Subscription Identifiers not supported";
    case 0xA2: return "Wildcard Subscriptions not supported";
    default: return nullptr;
  }
}

// The reason codes each MQTT 5 packet may carry (the tables of 3.2.2.2,
// 3.4.2.1, ... 3.15.2.1): "MUST use one of the ... Reason Codes".
bool reason_allowed(PacketType type, std::uint8_t code) noexcept {
  auto in = [code](std::initializer_list<std::uint8_t> codes) {
    for (std::uint8_t c : codes) {
      if (c == code) return true;
    }
    return false;
  };
  switch (type) {
    case PacketType::kConnack:
      return in({0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F});
    case PacketType::kPuback:
    case PacketType::kPubrec: return in({0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
    case PacketType::kPubrel:
    case PacketType::kPubcomp: return in({0x00, 0x92});
    case PacketType::kSuback: return in({0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2});
    case PacketType::kUnsuback: return in({0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91});
    case PacketType::kDisconnect:
      return in({0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
                 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2});
    case PacketType::kAuth: return in({0x00, 0x18, 0x19});
    default: return false;
  }
}

// 3.1.1 CONNACK return codes (3.2.2.3) and the MQTT 5 codes they became.
constexpr std::uint8_t kConnackV5[] = {
    reason::kSuccess,           reason::kUnsupportedProtocolVersion, reason::kClientIdentifierNotValid,
    reason::kServerUnavailable, reason::kBadUserNameOrPassword,      reason::kNotAuthorized};

std::uint8_t connack_v311_code(std::uint8_t v5) noexcept {
  for (std::uint8_t i = 0; i < std::size(kConnackV5); ++i) {
    if (kConnackV5[i] == v5) return i;
  }
  return reason::kUnspecifiedError;  // a reserved return code, read back as 0x80
}

std::string_view protocol_name(Version v) noexcept { return v == Version::k31 ? "MQIsdp" : "MQTT"; }

bool packet_id(Reader& r, std::uint16_t& id) {
  if (!r.u16(id, "packet identifier")) return false;
  if (id == 0) return r.malformed("packet identifier 0");
  return true;
}

bool reason_code(Reader& r, PacketType type, std::uint8_t& code) {
  if (!r.u8(code, "reason code")) return false;
  if (!reason_allowed(type, code)) return r.malformed(fmt::format("reason code 0x{:02X} is not one of its own", code));
  return true;
}

// --- Decoding, one function per packet type ---------------------------------

bool decode_connect(Reader& r, Version v, Connect& c) {
  std::string_view name;
  std::uint8_t level = 0, flags = 0;
  if (!r.string_view(name, "protocol name", true) || !r.u8(level, "protocol level")) return false;
  if (name != protocol_name(v) || level != static_cast<std::uint8_t>(v)) {
    return r.fail(reason::kUnsupportedProtocolVersion,
                  fmt::format("protocol '{}' level {} where '{}' level {} was expected", name, level, protocol_name(v),
                              static_cast<int>(v)));
  }
  c.version = v;
  if (!r.u8(flags, "connect flags") || !r.u16(c.keep_alive, "keep alive")) return false;
  if (flags & 0x01) return r.malformed("reserved connect flag set");
  c.clean_start = flags & 0x02;
  const bool will = flags & 0x04;
  const std::uint8_t will_qos = (flags >> 3) & 0x03;
  const bool will_retain = flags & 0x20;
  const bool password = flags & 0x40;
  const bool username = flags & 0x80;
  if (will_qos == 3) return r.malformed("will QoS 3");
  if (!will && (will_qos != 0 || will_retain)) return r.malformed("will QoS or retain without a will");
  if (v != Version::k5 && password && !username) return r.malformed("a password without a user name");
  if (v == Version::k5 && !wire::read_properties(r, c.properties, wire::PropertyContext::kOther)) return false;
  if (!r.string(c.client_id, "client identifier", true)) return false;
  if (will) {
    Will& w = c.will.emplace();
    w.qos = will_qos;
    w.retain = will_retain;
    if (v == Version::k5 && !wire::read_properties(r, w.properties, wire::PropertyContext::kWill)) return false;
    if (!r.string(w.topic, "will topic", true) || !r.string(w.payload, "will payload", false)) return false;
    if (w.topic.empty() || wire::has_wildcard(w.topic)) return r.malformed("will topic is empty or has a wildcard");
  }
  if (username && !r.string(c.username.emplace(), "user name", true)) return false;
  if (password && !r.string(c.password.emplace(), "password", false)) return false;
  return true;
}

bool decode_connack(Reader& r, Version v, Connack& c) {
  std::uint8_t ack = 0, code = 0;
  if (!r.u8(ack, "acknowledge flags") || !r.u8(code, "return code")) return false;
  if (v != Version::k31) {
    if (ack & 0xFE) return r.malformed("reserved acknowledge flags set");
    c.session_present = ack & 0x01;
  }
  if (v == Version::k5) {
    if (!reason_allowed(PacketType::kConnack, code)) {
      return r.malformed(fmt::format("reason code 0x{:02X} is not one of its own", code));
    }
    c.reason_code = code;
  } else {
    c.reason_code = code < std::size(kConnackV5) ? kConnackV5[code] : reason::kUnspecifiedError;
  }
  if (c.session_present && code != 0) return r.protocol_error("session present with a refusal");
  return v != Version::k5 || wire::read_properties(r, c.properties, wire::PropertyContext::kOther);
}

bool decode_publish(Reader& r, std::uint8_t flags, Version v, Publish& p) {
  p.qos = (flags >> 1) & 0x03;
  p.dup = flags & 0x08;
  p.retain = flags & 0x01;
  if (p.qos == 3) return r.malformed("QoS 3");
  if (p.qos == 0 && p.dup) return r.malformed("DUP set on a QoS 0 message");
  if (!r.string(p.topic, "topic", true)) return false;
  if (wire::has_wildcard(p.topic)) return r.malformed("topic name has a wildcard");
  if (p.qos > 0 && !packet_id(r, p.packet_id)) return false;
  if (v == Version::k5 && !wire::read_properties(r, p.properties, wire::PropertyContext::kPublish)) return false;
  if (p.topic.empty() && !(v == Version::k5 && p.properties.topic_alias)) {
    return r.protocol_error("empty topic without a topic alias");
  }
  p.payload.assign(r.rest());
  return true;
}

bool decode_publish_response(Reader& r, Version v, PublishResponse& p) {
  if (!packet_id(r, p.packet_id)) return false;
  // MQTT 5 3.4.2.1: no reason code means success, no property length none.
  if (v == Version::k5 && r.left() > 0) {
    if (!reason_code(r, p.type, p.reason_code)) return false;
    if (r.left() > 0) return wire::read_properties(r, p.properties, wire::PropertyContext::kOther);
  }
  return true;
}

bool decode_subscribe(Reader& r, Version v, Subscribe& s) {
  if (!packet_id(r, s.packet_id)) return false;
  if (v == Version::k5 && !wire::read_properties(r, s.properties, wire::PropertyContext::kOther)) return false;
  while (r.left() > 0) {
    Subscription& sub = s.subscriptions.emplace_back();
    std::uint8_t options = 0;
    if (!r.string(sub.filter, "topic filter", true) || !r.u8(options, "subscription options")) return false;
    if (const char* why = wire::filter_error(sub.filter)) return r.malformed(fmt::format("topic filter: {}", why));
    if (options & (v == Version::k5 ? 0xC0 : 0xFC)) return r.malformed("reserved subscription option bits set");
    sub.qos = options & 0x03;
    if (sub.qos == 3) return r.malformed("QoS 3");
    if (v == Version::k5) {
      sub.no_local = options & 0x04;
      sub.retain_as_published = options & 0x08;
      sub.retain_handling = (options >> 4) & 0x03;
      if (sub.retain_handling == 3) return r.protocol_error("retain handling 3");
      if (sub.no_local && sub.filter.starts_with("$share/")) {
        return r.protocol_error("no local on a shared subscription");
      }
    }
  }
  if (s.subscriptions.empty()) return r.protocol_error("no topic filter");
  return true;
}

bool decode_suback(Reader& r, Version v, Suback& s) {
  if (!packet_id(r, s.packet_id)) return false;
  if (v == Version::k5 && !wire::read_properties(r, s.properties, wire::PropertyContext::kOther)) return false;
  // 3.1.1's UNSUBACK is the packet identifier alone.
  if (v != Version::k5 && s.type == PacketType::kUnsuback) return true;
  if (r.left() == 0) return r.protocol_error("no reason code");
  const auto codes = r.rest();
  s.reason_codes.assign(codes.begin(), codes.end());
  for (std::uint8_t code : s.reason_codes) {
    const bool ok = v == Version::k5 ? reason_allowed(s.type, code) : code <= 2 || code == 0x80;
    if (!ok) return r.malformed(fmt::format("reason code 0x{:02X} is not one of its own", code));
  }
  return true;
}

bool decode_unsubscribe(Reader& r, Version v, Unsubscribe& u) {
  if (!packet_id(r, u.packet_id)) return false;
  if (v == Version::k5 && !wire::read_properties(r, u.properties, wire::PropertyContext::kOther)) return false;
  while (r.left() > 0) {
    std::string& filter = u.filters.emplace_back();
    if (!r.string(filter, "topic filter", true)) return false;
    if (const char* why = wire::filter_error(filter)) return r.malformed(fmt::format("topic filter: {}", why));
  }
  if (u.filters.empty()) return r.protocol_error("no topic filter");
  return true;
}

bool decode_disconnect(Reader& r, Version v, Disconnect& d) {
  if (v != Version::k5 || r.left() == 0) return true;
  if (!reason_code(r, d.type, d.reason_code)) return false;
  // DISCONNECT may stop after its reason code (3.14.2.2.1); AUTH may not.
  if (d.type == PacketType::kDisconnect && r.left() == 0) return true;
  return wire::read_properties(r, d.properties, wire::PropertyContext::kOther);
}

// The packet is decoded where decode() returns it: no moves of its
// Properties (some 700 bytes) on the way out.
template <class T, class Body>
tl::expected<Packet, DecodeError> run(Reader& r, Body body, Version v, std::optional<PacketType> type = std::nullopt) {
  tl::expected<Packet, DecodeError> result{tl::in_place, std::in_place_type<T>};
  T& packet = std::get<T>(*result);
  if constexpr (requires { packet.type; }) {
    if (type) packet.type = *type;
  }
  if (!body(r, v, packet)) return tl::unexpected(std::move(r.error()));
  if (r.left() > 0) {
    r.malformed(fmt::format("{} bytes left over", r.left()));
    return tl::unexpected(std::move(r.error()));
  }
  return result;
}

// --- Encoding: one layout per packet, over a sink (wire.hpp) -----------------

std::uint8_t first_byte(PacketType type, std::uint8_t flags = 0) noexcept {
  return static_cast<std::uint8_t>(static_cast<std::uint8_t>(type) << 4 | flags);
}

template <class Out>
std::uint8_t layout(const Connect& c, Version v, Out& o) {
  assert(c.version == v);
  o.string(protocol_name(v));
  o.u8(static_cast<std::uint8_t>(v));
  std::uint8_t flags = c.clean_start ? 0x02 : 0;
  if (c.will) flags |= 0x04 | c.will->qos << 3 | (c.will->retain ? 0x20 : 0);
  if (c.password) flags |= 0x40;
  if (c.username) flags |= 0x80;
  o.u8(flags);
  o.u16(c.keep_alive);
  if (v == Version::k5) o.properties(c.properties);
  o.string(c.client_id);
  if (c.will) {
    if (v == Version::k5) o.properties(c.will->properties);
    o.string(c.will->topic);
    o.string(c.will->payload);
  }
  if (c.username) o.string(*c.username);
  if (c.password) o.string(*c.password);
  return first_byte(PacketType::kConnect);
}

template <class Out>
std::uint8_t layout(const Connack& c, Version v, Out& o) {
  o.u8(v != Version::k31 && c.session_present ? 1 : 0);
  o.u8(v == Version::k5 ? c.reason_code : connack_v311_code(c.reason_code));
  if (v == Version::k5) o.properties(c.properties);
  return first_byte(PacketType::kConnack);
}

template <class Out>
std::uint8_t layout(const Publish& p, Version v, Out& o) {
  assert(p.qos <= 2 && (p.qos == 0) == (p.packet_id == 0));
  o.string(p.topic);
  if (p.qos > 0) o.u16(p.packet_id);
  if (v == Version::k5) o.properties(p.properties);
  o.bytes(p.payload);
  return first_byte(PacketType::kPublish,
                    static_cast<std::uint8_t>((p.dup ? 0x08 : 0) | p.qos << 1 | (p.retain ? 1 : 0)));
}

template <class Out>
std::uint8_t layout(const PublishResponse& p, Version v, Out& o) {
  o.u16(p.packet_id);
  if (v == Version::k5) {
    const bool properties = wire::properties_size(p.properties) > 0;
    if (p.reason_code != reason::kSuccess || properties) o.u8(p.reason_code);
    if (properties) o.properties(p.properties);
  }
  return first_byte(p.type, p.type == PacketType::kPubrel ? 0x02 : 0);
}

template <class Out>
std::uint8_t layout(const Subscribe& s, Version v, Out& o) {
  o.u16(s.packet_id);
  if (v == Version::k5) o.properties(s.properties);
  for (const Subscription& sub : s.subscriptions) {
    o.string(sub.filter);
    std::uint8_t options = sub.qos;
    if (v == Version::k5) {
      options |= (sub.no_local ? 0x04 : 0) | (sub.retain_as_published ? 0x08 : 0) | sub.retain_handling << 4;
    }
    o.u8(options);
  }
  return first_byte(PacketType::kSubscribe, 0x02);
}

template <class Out>
std::uint8_t layout(const Suback& s, Version v, Out& o) {
  o.u16(s.packet_id);
  if (v == Version::k5) o.properties(s.properties);
  if (v == Version::k5 || s.type == PacketType::kSuback) {
    for (std::uint8_t code : s.reason_codes) o.u8(code);
  }
  return first_byte(s.type);
}

template <class Out>
std::uint8_t layout(const Unsubscribe& u, Version v, Out& o) {
  o.u16(u.packet_id);
  if (v == Version::k5) o.properties(u.properties);
  for (const std::string& filter : u.filters) o.string(filter);
  return first_byte(PacketType::kUnsubscribe, 0x02);
}

template <class Out>
std::uint8_t layout(const Ping& p, Version, Out&) {
  return first_byte(p.type);
}

template <class Out>
std::uint8_t layout(const Disconnect& d, Version v, Out& o) {
  if (v == Version::k5) {
    // Remaining length 0 is success without properties (3.14.2.1, 3.15.2.1).
    const bool properties = wire::properties_size(d.properties) > 0;
    if (d.reason_code != reason::kSuccess || properties) {
      o.u8(d.reason_code);
      if (properties || d.type == PacketType::kAuth) o.properties(d.properties);
    }
  }
  return first_byte(d.type);
}

}  // namespace

std::string reason_text(std::uint8_t code) {
  if (const char* name = reason_name(code)) return name;
  return fmt::format("reason 0x{:02X}", code);
}

PacketType type_of(const Packet& packet) noexcept {
  struct Visitor {
    PacketType operator()(const Connect&) const noexcept { return PacketType::kConnect; }
    PacketType operator()(const Connack&) const noexcept { return PacketType::kConnack; }
    PacketType operator()(const Publish&) const noexcept { return PacketType::kPublish; }
    PacketType operator()(const PublishResponse& p) const noexcept { return p.type; }
    PacketType operator()(const Subscribe&) const noexcept { return PacketType::kSubscribe; }
    PacketType operator()(const Suback& p) const noexcept { return p.type; }
    PacketType operator()(const Unsubscribe&) const noexcept { return PacketType::kUnsubscribe; }
    PacketType operator()(const Ping& p) const noexcept { return p.type; }
    PacketType operator()(const Disconnect& p) const noexcept { return p.type; }
  };
  return std::visit(Visitor{}, packet);
}

tl::expected<std::size_t, DecodeError> frame_size(std::string_view bytes, std::size_t max_size) noexcept {
  std::size_t length = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    if (bytes.size() < i + 2) return 0;
    const auto b = static_cast<std::uint8_t>(bytes[i + 1]);
    length |= std::size_t{b & 0x7Fu} << (7 * i);
    if (b & 0x80) continue;
    const std::size_t size = i + 2 + length;
    if (size > max_size) {
      try {
        return tl::unexpected(DecodeError{
            reason::kPacketTooLarge, fmt::format("a packet of {} bytes, more than the {} allowed", size, max_size)});
      } catch (...) {
        return tl::unexpected(DecodeError{reason::kPacketTooLarge, {}});
      }
    }
    return size;
  }
  try {
    return tl::unexpected(DecodeError{reason::kMalformedPacket, "remaining length longer than four bytes"});
  } catch (...) {
    return tl::unexpected(DecodeError{reason::kMalformedPacket, {}});
  }
}

tl::expected<Packet, DecodeError> decode(std::string_view packet, Version version) try {
  auto framed = frame_size(packet, kMaxPacketSize);
  if (!framed) return tl::unexpected(std::move(framed.error()));
  if (*framed != packet.size()) {
    return tl::unexpected(
        DecodeError{reason::kMalformedPacket,
                    fmt::format("a fixed header for {} bytes on a packet of {}", *framed, packet.size())});
  }
  std::size_t header = 2;
  while (static_cast<std::uint8_t>(packet[header - 1]) & 0x80) ++header;
  const auto type = static_cast<PacketType>(static_cast<std::uint8_t>(packet[0]) >> 4);
  const std::uint8_t flags = packet[0] & 0x0F;
  const bool v5 = version == Version::k5;
  if (type < PacketType::kConnect || type > PacketType::kAuth || (type == PacketType::kAuth && !v5)) {
    return tl::unexpected(
        DecodeError{reason::kMalformedPacket, fmt::format("reserved packet type {}", static_cast<int>(type))});
  }
  Reader r(packet.substr(header), to_string(type));
  // MQTT 2.2.2 (3.1.1) and 2.1.3 (5): every flag but PUBLISH's is fixed.
  const std::uint8_t want_flags =
      type == PacketType::kPubrel || type == PacketType::kSubscribe || type == PacketType::kUnsubscribe ? 0x02 : 0;
  if (type != PacketType::kPublish && flags != want_flags) {
    r.malformed(fmt::format("fixed header flags 0x{:X}, not 0x{:X}", flags, want_flags));
    return tl::unexpected(std::move(r.error()));
  }
  switch (type) {
    case PacketType::kConnect: return run<Connect>(r, decode_connect, version);
    case PacketType::kConnack: return run<Connack>(r, decode_connack, version);
    case PacketType::kPublish:
      return run<Publish>(
          r, [flags](Reader& in, Version v, Publish& p) { return decode_publish(in, flags, v, p); }, version);
    case PacketType::kPuback:
    case PacketType::kPubrec:
    case PacketType::kPubrel:
    case PacketType::kPubcomp: return run<PublishResponse>(r, decode_publish_response, version, type);
    case PacketType::kSubscribe: return run<Subscribe>(r, decode_subscribe, version);
    case PacketType::kSuback:
    case PacketType::kUnsuback: return run<Suback>(r, decode_suback, version, type);
    case PacketType::kUnsubscribe: return run<Unsubscribe>(r, decode_unsubscribe, version);
    case PacketType::kPingreq:
    case PacketType::kPingresp:
      return run<Ping>(
          r, [](Reader&, Version, Ping&) { return true; }, version, type);
    case PacketType::kDisconnect:
    case PacketType::kAuth: return run<Disconnect>(r, decode_disconnect, version, type);
  }
  return tl::unexpected(DecodeError{reason::kMalformedPacket, "reserved packet type"});
} catch (const std::bad_alloc&) {
  return tl::unexpected(DecodeError{reason::kUnspecifiedError, "out of memory"});
}

void encode(const Packet& packet, Version version, std::string& out) {
  std::visit(
      [&](const auto& p) {
        wire::Counter size;
        const std::uint8_t first = layout(p, version, size);
        assert(size.n <= wire::kMaxVarint);
        out.reserve(out.size() + 1 + wire::varint_size(static_cast<std::uint32_t>(size.n)) + size.n);
        wire::Appender bytes{out};
        bytes.u8(first);
        bytes.varint(static_cast<std::uint32_t>(size.n));
        layout(p, version, bytes);
      },
      packet);
}

}  // namespace edgefn::mqtt
