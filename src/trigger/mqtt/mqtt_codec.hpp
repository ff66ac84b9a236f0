#pragma once
// The MQTT packet codec: bytes to packets and back, for MQTT 3.1, 3.1.1 and
// 5, client side (what a client sends is encoded, what a broker sends is
// decoded; both directions decode so the codec can be tested and fuzzed
// against itself). No I/O and no session state: mqtt_session.hpp owns
// those, so this part can be fuzzed on its own (test/fuzz/mqtt_fuzzer.cpp).
//
// Decoding never trusts a length: every read is checked against the
// packet's remaining length, and a packet past `max_size` is refused from
// its fixed header, before its body is buffered.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <tl/expected.hpp>

#include "event/event.hpp"

namespace edgefn::mqtt {

// The protocol level byte of CONNECT. 3.1 also changes the protocol name
// ("MQIsdp" instead of "MQTT").
enum class Version : std::uint8_t { k31 = 3, k311 = 4, k5 = 5 };

enum class PacketType : std::uint8_t {
  kConnect = 1, kConnack, kPublish, kPuback, kPubrec, kPubrel, kPubcomp,
  kSubscribe, kSuback, kUnsubscribe, kUnsuback, kPingreq, kPingresp, kDisconnect, kAuth,
};
const char* to_string(PacketType type) noexcept;

// MQTT 5 reason codes the client acts on or sends (3.1.1 CONNACK return
// codes are mapped onto them by decode(), see Connack).
namespace reason {
inline constexpr std::uint8_t kSuccess = 0x00;
inline constexpr std::uint8_t kUnspecifiedError = 0x80;
inline constexpr std::uint8_t kMalformedPacket = 0x81;
inline constexpr std::uint8_t kProtocolError = 0x82;
inline constexpr std::uint8_t kUnsupportedProtocolVersion = 0x84;
inline constexpr std::uint8_t kClientIdentifierNotValid = 0x85;
inline constexpr std::uint8_t kBadUserNameOrPassword = 0x86;
inline constexpr std::uint8_t kNotAuthorized = 0x87;
inline constexpr std::uint8_t kServerUnavailable = 0x88;
inline constexpr std::uint8_t kSessionTakenOver = 0x8E;
inline constexpr std::uint8_t kPacketTooLarge = 0x95;
inline constexpr std::uint8_t kReceiveMaximumExceeded = 0x93;
}  // namespace reason
// "Session taken over", "Bad User Name or Password", ... (the spec's
// names); "reason 0xNN" for codes it does not know.
std::string reason_text(std::uint8_t code);

// MQTT 5 properties. decode() keeps the ones below and skips (after
// checking their form) any other known property; an unknown identifier is
// a malformed packet. encode() writes the ones that are set, and only for
// MQTT 5. Binary data (correlation data, authentication data) is kept as
// bytes in std::string.
struct Properties {
  std::optional<std::uint8_t> payload_format_indicator;   // 0x01
  std::optional<std::uint32_t> message_expiry_interval;   // 0x02
  std::optional<std::string> content_type;                // 0x03
  std::optional<std::string> response_topic;              // 0x08
  std::optional<std::string> correlation_data;            // 0x09
  std::vector<std::uint32_t> subscription_identifiers;    // 0x0B (varint; repeatable in PUBLISH)
  std::optional<std::uint32_t> session_expiry_interval;   // 0x11
  std::optional<std::string> assigned_client_identifier;  // 0x12
  std::optional<std::uint16_t> server_keep_alive;         // 0x13
  std::optional<std::string> authentication_method;       // 0x15
  std::optional<std::string> authentication_data;         // 0x16
  std::optional<std::uint8_t> request_problem_information;   // 0x17
  std::optional<std::uint32_t> will_delay_interval;          // 0x18
  std::optional<std::uint8_t> request_response_information;  // 0x19
  std::optional<std::string> response_information;           // 0x1A
  std::optional<std::string> server_reference;               // 0x1C
  std::optional<std::string> reason_string;                  // 0x1F
  std::optional<std::uint16_t> receive_maximum;              // 0x21
  std::optional<std::uint16_t> topic_alias_maximum;          // 0x22
  std::optional<std::uint16_t> topic_alias;                  // 0x23
  std::optional<std::uint8_t> maximum_qos;                   // 0x24
  std::optional<std::uint8_t> retain_available;              // 0x25
  Headers user_properties;                                   // 0x26, in order, repeatable
  std::optional<std::uint32_t> maximum_packet_size;          // 0x27
  std::optional<std::uint8_t> wildcard_subscription_available;      // 0x28
  std::optional<std::uint8_t> subscription_identifier_available;    // 0x29
  std::optional<std::uint8_t> shared_subscription_available;        // 0x2A

  bool operator==(const Properties&) const = default;
};

struct Will {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  Properties properties;  // MQTT 5 will properties
  bool operator==(const Will&) const = default;
};

struct Connect {
  Version version = Version::k311;
  std::string client_id;
  bool clean_start = true;  // 3.1.1's clean session
  std::uint16_t keep_alive = 60;  // seconds; 0 turns keepalive off
  std::optional<std::string> username;
  std::optional<std::string> password;  // bytes
  std::optional<Will> will;
  Properties properties;
  bool operator==(const Connect&) const = default;
};

struct Connack {
  bool session_present = false;
  // MQTT 5 reason code. 3.1.1 return codes are mapped: 1 -> 0x84, 2 -> 0x85,
  // 3 -> 0x88, 4 -> 0x86, 5 -> 0x87 (others -> 0x80).
  std::uint8_t reason_code = reason::kSuccess;
  Properties properties;
  bool operator==(const Connack&) const = default;
};

struct Publish {
  std::string topic;  // empty only with an MQTT 5 topic alias
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;  // 0 for QoS 0, else 1..65535
  Properties properties;
  bool operator==(const Publish&) const = default;
};

// PUBACK, PUBREC, PUBREL and PUBCOMP: the same shape. The reason code and
// properties are MQTT 5 only; encode() leaves them out when the code is
// success and there are no properties, as the spec allows.
struct PublishResponse {
  PacketType type = PacketType::kPuback;
  std::uint16_t packet_id = 0;
  std::uint8_t reason_code = reason::kSuccess;
  Properties properties;
  bool operator==(const PublishResponse&) const = default;
};

struct Subscription {
  std::string filter;
  std::uint8_t qos = 0;
  // MQTT 5 subscription options
  bool no_local = false;
  bool retain_as_published = false;
  std::uint8_t retain_handling = 0;
  bool operator==(const Subscription&) const = default;
};

struct Subscribe {
  std::uint16_t packet_id = 0;
  std::vector<Subscription> subscriptions;  // at least one
  Properties properties;
  bool operator==(const Subscribe&) const = default;
};

// Also UNSUBACK (type says which); 3.1.1's UNSUBACK has no reason codes.
struct Suback {
  PacketType type = PacketType::kSuback;
  std::uint16_t packet_id = 0;
  std::vector<std::uint8_t> reason_codes;  // granted QoS (0-2) or >= 0x80 failure
  Properties properties;
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters;  // at least one
  Properties properties;
  bool operator==(const Unsubscribe&) const = default;
};

// PINGREQ and PINGRESP.
struct Ping {
  PacketType type = PacketType::kPingreq;
  bool operator==(const Ping&) const = default;
};

// DISCONNECT and AUTH (MQTT 5 reason code and properties; 3.1.1's
// DISCONNECT is empty).
struct Disconnect {
  PacketType type = PacketType::kDisconnect;
  std::uint8_t reason_code = reason::kSuccess;
  Properties properties;
  bool operator==(const Disconnect&) const = default;
};

using Packet = std::variant<Connect, Connack, Publish, PublishResponse, Subscribe, Suback, Unsubscribe, Ping, Disconnect>;
PacketType type_of(const Packet& packet) noexcept;

// Why bytes are not a packet. `reason_code` is what an MQTT 5 client puts
// in the DISCONNECT it sends before closing.
struct DecodeError {
  // Or kProtocolError, kPacketTooLarge (frame_size()), kUnsupportedProtocolVersion
  // (a CONNECT of another version), kUnspecifiedError (out of memory).
  std::uint8_t reason_code = reason::kMalformedPacket;
  std::string message;  // "PUBLISH: topic length 300 past the packet's end"
};

// The largest packet MQTT can express (a remaining length of 268,435,455
// plus a 5-byte fixed header).
inline constexpr std::size_t kMaxPacketSize = 268'435'460;

// The size of the whole packet that `bytes` begins with, once its fixed
// header is complete: 0 while more bytes are needed to know it. An error
// (kMalformedPacket) when the remaining length runs past four bytes, or
// (kPacketTooLarge) when the packet would be larger than `max_size`. A
// non-minimal remaining length (0x80 0x00 for 0) is accepted: MQTT 5
// 1.5.5 asks senders for the shortest form, 3.1.1 does not. The packet
// type is not looked at here; decode() checks it.
tl::expected<std::size_t, DecodeError> frame_size(std::string_view bytes, std::size_t max_size) noexcept;

// Decodes one whole packet, exactly as framed by frame_size(). `version`
// decides the layout (MQTT 5 packets carry properties and reason codes).
// Checks what the spec requires of the form: reserved flag bits, QoS 3,
// packet id 0 where one is needed, UTF-8 strings (well-formed, no U+0000),
// a topic name without wildcards, lengths inside the packet, nothing left
// over; for MQTT 5 also each property's data type, a single-valued
// property given twice (kProtocolError), and reason codes outside the
// packet's own table. Properties are accepted in any packet. MQTT 3.1's
// CONNACK has no session present flag (its first byte is ignored). Never
// throws; the strings point nowhere into `packet` afterwards.
tl::expected<Packet, DecodeError> decode(std::string_view packet, Version version);

// Appends `packet` to `out`, laid out for `version` (a Connect's own
// `version` must be the same). The caller keeps to the spec's limits
// (strings up to 65,535 bytes, a packet within kMaxPacketSize, a packet id
// exactly when QoS > 0); encode() asserts them in debug builds. What
// `version` has no room for is left out: properties and reason codes
// before MQTT 5, UNSUBACK's reason codes before MQTT 5, the session
// present flag in 3.1. A 3.1.1 CONNACK gets the return code its reason
// code was mapped from (0x80 for a code without one).
void encode(const Packet& packet, Version version, std::string& out);

// Topic rules (MQTT 3.1.1 4.7, MQTT 5 4.7-4.8), for configs and checks.
// A filter: '#' only last and alone in its level, '+' alone in its level;
// `$share/<group>/<filter>` with a non-empty group without wildcards.
// Empty when valid, else why not.
std::string check_topic_filter(std::string_view filter);
// A topic name: non-empty, no wildcards, no U+0000.
std::string check_topic_name(std::string_view topic);
// Whether `topic` matches `filter` (for `$share/<group>/<filter>`, its
// filter part; topics starting with '$' match no filter starting with a
// wildcard; "a/#" matches "a").
bool topic_matches(std::string_view filter, std::string_view topic) noexcept;

}  // namespace edgefn::mqtt
