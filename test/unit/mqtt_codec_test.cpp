#include "trigger/mqtt/mqtt_codec.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace edgefn::mqtt;
using namespace std::string_literals;

namespace {

std::string encoded(const Packet& packet, Version v) {
  std::string out;
  encode(packet, v, out);
  return out;
}

// Decodes `bytes` (framed first), failing the test with the error's text.
Packet decoded(const std::string& bytes, Version v) {
  auto size = frame_size(bytes, kMaxPacketSize);
  INFO(bytes.size() << " bytes");
  REQUIRE(size);
  REQUIRE(*size == bytes.size());
  auto packet = decode(bytes, v);
  INFO((packet ? "" : packet.error().message));
  REQUIRE(packet);
  return *packet;
}

// The error `bytes` are refused with.
DecodeError refused(const std::string& bytes, Version v) {
  auto packet = decode(bytes, v);
  INFO("packet type " << (packet ? to_string(type_of(*packet)) : ""));
  REQUIRE_FALSE(packet);
  return packet.error();
}

// Properties with just what `set` sets.
template <class F>
Properties with(F set) {
  Properties p;
  set(p);
  return p;
}

Properties rich_properties() {
  Properties p;
  p.payload_format_indicator = 1;
  p.message_expiry_interval = 3600;
  p.content_type = "application/json";
  p.response_topic = "replies/7";
  p.correlation_data = "\x00\xff\x01"s;
  p.subscription_identifiers = {268'435'455};
  p.session_expiry_interval = 86'400;
  p.assigned_client_identifier = "auto-1";
  p.server_keep_alive = 30;
  p.authentication_method = "SCRAM-SHA-1";
  p.authentication_data = "\x00\x80"s;
  p.request_problem_information = 0;
  p.will_delay_interval = 5;
  p.request_response_information = 1;
  p.response_information = "replies/";
  p.server_reference = "other:1883";
  p.reason_string = "fine";
  p.receive_maximum = 20;
  p.topic_alias_maximum = 10;
  p.topic_alias = 3;
  p.maximum_qos = 1;
  p.retain_available = 0;
  p.user_properties = {{"k", "v"}, {"k", "w"}, {"ä", ""}};
  p.maximum_packet_size = 1 << 20;
  p.wildcard_subscription_available = 1;
  p.subscription_identifier_available = 1;
  p.shared_subscription_available = 0;
  return p;
}

// One or more packets of every type, laid out for `v` (no properties or
// reason codes where `v` has no room for them).
std::vector<Packet> samples(Version v) {
  const bool v5 = v == Version::k5;
  const Properties props = v5 ? rich_properties() : Properties{};
  std::vector<Packet> out;

  Connect connect;
  connect.version = v;
  connect.client_id = "gateway-1";
  connect.keep_alive = 0;
  out.push_back(connect);
  connect.clean_start = false;
  connect.keep_alive = 65'535;
  connect.username = "user";
  connect.password = "\x00pw\xff"s;
  connect.will = Will{"status/gateway-1", "offline\0"s, 2, true, props};
  connect.properties = props;
  out.push_back(connect);

  out.push_back(Connack{v != Version::k31, reason::kSuccess, props});
  out.push_back(Connack{false, reason::kNotAuthorized, {}});

  out.push_back(Publish{"a/b", "", 0, false, false, 0, {}});
  Publish publish{"sensors/ä/1", std::string(300, '\0') + "x", 1, true, true, 7, props};
  // Only a PUBLISH may carry more than one.
  if (v5) publish.properties.subscription_identifiers.push_back(1);
  out.push_back(publish);
  out.push_back(Publish{"q2", "payload", 2, false, false, 65'535, {}});
  if (v5) out.push_back(Publish{"", "by alias", 1, false, false, 2, with([](Properties& p) { p.topic_alias = 4; })});

  for (PacketType t : {PacketType::kPuback, PacketType::kPubrec, PacketType::kPubrel, PacketType::kPubcomp}) {
    out.push_back(PublishResponse{t, 1, reason::kSuccess, {}});
    if (v5) {
      const std::uint8_t code = t == PacketType::kPubrel || t == PacketType::kPubcomp ? 0x92 : 0x10;
      out.push_back(PublishResponse{t, 2, code, {}});
      out.push_back(PublishResponse{t, 3, reason::kSuccess, with([](Properties& p) { p.reason_string = "ok"; })});
    }
  }

  Subscribe subscribe{9, {{"a/+/c", 1, false, false, 0}, {"$share/g/#", 2, false, false, 0}}, {}};
  if (v5) {
    subscribe.subscriptions.push_back({"x/#", 0, true, true, 2});
    subscribe.properties.subscription_identifiers = {42};
  }
  out.push_back(subscribe);

  out.push_back(Suback{PacketType::kSuback, 9, {0, 1, 2, 0x80}, props});
  out.push_back(Suback{PacketType::kUnsuback, 10,
                       v5 ? std::vector<std::uint8_t>{0x00, 0x11} : std::vector<std::uint8_t>{}, props});
  out.push_back(Unsubscribe{10, {"a/+/c", "$share/g/#"}, props});
  out.push_back(Ping{PacketType::kPingreq});
  out.push_back(Ping{PacketType::kPingresp});
  out.push_back(Disconnect{});
  if (v5) {
    out.push_back(Disconnect{PacketType::kDisconnect, reason::kSessionTakenOver, {}});
    out.push_back(
        Disconnect{PacketType::kDisconnect, 0x04, with([](Properties& p) { p.session_expiry_interval = 0; })});
    out.push_back(Disconnect{PacketType::kAuth, reason::kSuccess, {}});
    out.push_back(Disconnect{PacketType::kAuth, 0x18, {}});
    out.push_back(Disconnect{PacketType::kAuth, 0x19, with([](Properties& p) { p.authentication_method = "x"; })});
  }
  return out;
}

}  // namespace

TEST_CASE("every packet type comes back from its bytes as it was, in 3.1, 3.1.1 and 5", "[mqtt]") {
  for (Version v : {Version::k31, Version::k311, Version::k5}) {
    for (const Packet& packet : samples(v)) {
      const std::string bytes = encoded(packet, v);
      INFO("version " << static_cast<int>(v) << ", " << to_string(type_of(packet)));
      CHECK(decoded(bytes, v) == packet);
      // Each byte string is the one layout of its packet.
      CHECK(encoded(decoded(bytes, v), v) == bytes);
    }
  }
}

TEST_CASE("packets are laid out byte for byte as the spec draws them", "[mqtt]") {
  SECTION("a 3.1.1 CONNECT with clean session, user name and password") {
    Connect c;
    c.client_id = "edgefn";
    c.username = "u";
    c.password = "p";
    const std::string bytes =
        "\x10\x18\x00\x04MQTT\x04\xC2\x00\x3C\x00\x06"
        "edgefn\x00\x01u\x00\x01p"s;
    CHECK(encoded(c, Version::k311) == bytes);
    CHECK(decoded(bytes, Version::k311) == Packet{c});
  }
  SECTION("a 3.1 CONNECT names its protocol MQIsdp, level 3") {
    Connect c;
    c.version = Version::k31;
    c.client_id = "c";
    c.keep_alive = 10;
    const std::string bytes =
        "\x10\x0F\x00\x06MQIsdp\x03\x02\x00\x0A\x00\x01"
        "c"s;
    CHECK(encoded(c, Version::k31) == bytes);
    CHECK(decoded(bytes, Version::k31) == Packet{c});
    CHECK(refused(bytes, Version::k311).reason_code == reason::kUnsupportedProtocolVersion);
  }
  SECTION("a PUBLISH with QoS 1, in 3.1.1 and with an empty property list in 5") {
    const Publish p{"a/b", "hi", 1, false, false, 10, {}};
    CHECK(encoded(p, Version::k311) ==
          "\x32\x09\x00\x03"
          "a/b\x00\x0Ahi"s);
    CHECK(encoded(p, Version::k5) ==
          "\x32\x0A\x00\x03"
          "a/b\x00\x0A\x00hi"s);
  }
  SECTION("a remaining length of 321 takes two bytes (the spec's example)") {
    const Publish p{"t", std::string(318, 'x'), 0, true, false, 0, {}};
    const std::string bytes = encoded(p, Version::k311);
    CHECK(bytes.substr(0, 3) == "\x31\xC1\x02"s);
    CHECK(bytes.size() == 324);
  }
  SECTION("a 3.1.1 SUBACK granting QoS 1 and refusing the second filter") {
    CHECK(decoded("\x90\x04\x00\x01\x01\x80"s, Version::k311) == Packet{Suback{PacketType::kSuback, 1, {1, 0x80}, {}}});
  }
  SECTION("an MQTT 5 CONNACK with properties, in any order on the wire") {
    Connack c;
    c.properties.assigned_client_identifier = "c1";
    c.properties.receive_maximum = 20;
    c.properties.topic_alias_maximum = 10;
    c.properties.maximum_qos = 1;
    const std::string bytes =
        "\x20\x10\x00\x00\x0D\x12\x00\x02"
        "c1\x21\x00\x14\x22\x00\x0A\x24\x01"s;
    CHECK(encoded(c, Version::k5) == bytes);
    CHECK(decoded("\x20\x10\x00\x00\x0D\x24\x01\x22\x00\x0A\x21\x00\x14\x12\x00\x02"
                  "c1"s,
                  Version::k5) == Packet{c});
  }
  SECTION("MQTT 5 acknowledgements and DISCONNECT take the short forms") {
    CHECK(encoded(PublishResponse{PacketType::kPuback, 1, 0, {}}, Version::k5) == "\x40\x02\x00\x01"s);
    CHECK(encoded(PublishResponse{PacketType::kPuback, 1, 0x10, {}}, Version::k5) == "\x40\x03\x00\x01\x10"s);
    CHECK(encoded(PublishResponse{PacketType::kPubrel, 1, 0, {}}, Version::k5) == "\x62\x02\x00\x01"s);
    CHECK(encoded(Disconnect{}, Version::k5) == "\xE0\x00"s);
    CHECK(encoded(Disconnect{PacketType::kDisconnect, reason::kSessionTakenOver, {}}, Version::k5) == "\xE0\x01\x8E"s);
    CHECK(encoded(Disconnect{PacketType::kAuth, 0x18, {}}, Version::k5) == "\xF0\x02\x18\x00"s);
    // The long forms of success read back as success.
    CHECK(decoded("\x40\x03\x00\x01\x00"s, Version::k5) == Packet{PublishResponse{PacketType::kPuback, 1, 0, {}}});
    CHECK(decoded("\x40\x04\x00\x01\x00\x00"s, Version::k5) == Packet{PublishResponse{PacketType::kPuback, 1, 0, {}}});
    CHECK(decoded("\xE0\x02\x00\x00"s, Version::k5) == Packet{Disconnect{}});
  }
  SECTION("PINGREQ, and 3.1.1's empty DISCONNECT and bare UNSUBACK") {
    CHECK(encoded(Ping{}, Version::k311) == "\xC0\x00"s);
    CHECK(encoded(Disconnect{PacketType::kDisconnect, reason::kSessionTakenOver, {}}, Version::k311) == "\xE0\x00"s);
    CHECK(decoded("\xB0\x02\x00\x05"s, Version::k311) == Packet{Suback{PacketType::kUnsuback, 5, {}, {}}});
  }
}

TEST_CASE("3.1.1 CONNACK return codes read as MQTT 5 reason codes", "[mqtt]") {
  auto code = [](std::uint8_t rc) {
    return std::get<Connack>(decoded("\x20\x02\x00"s + static_cast<char>(rc), Version::k311)).reason_code;
  };
  CHECK(code(0) == reason::kSuccess);
  CHECK(code(1) == reason::kUnsupportedProtocolVersion);
  CHECK(code(2) == reason::kClientIdentifierNotValid);
  CHECK(code(3) == reason::kServerUnavailable);
  CHECK(code(4) == reason::kBadUserNameOrPassword);
  CHECK(code(5) == reason::kNotAuthorized);
  CHECK(code(6) == reason::kUnspecifiedError);
  CHECK(std::get<Connack>(decoded("\x20\x02\x01\x00"s, Version::k311)).session_present);
  // 3.1 had no session present flag: the byte is reserved and ignored.
  CHECK_FALSE(std::get<Connack>(decoded("\x20\x02\x01\x00"s, Version::k31)).session_present);
  CHECK(encoded(Connack{false, reason::kBadUserNameOrPassword, {}}, Version::k311) == "\x20\x02\x00\x04"s);
}

TEST_CASE("frame_size waits for a whole fixed header and refuses bad or oversized lengths", "[mqtt]") {
  auto size = [](const std::string& bytes, std::size_t max = kMaxPacketSize) { return frame_size(bytes, max); };
  CHECK(*size("") == 0);
  CHECK(*size("\x30") == 0);
  CHECK(*size("\x30\x80") == 0);
  CHECK(*size("\x30\xFF\xFF\xFF") == 0);
  CHECK(*size("\xC0\x00"s) == 2);
  CHECK(*size("\x30\x0A"
              "abc") == 12);  // the body need not be there yet
  CHECK(*size("\x30\xC1\x02") == 324);
  CHECK(*size("\x30\xFF\xFF\xFF\x7F") == kMaxPacketSize);
  CHECK(*size("\x30\x80\x00"s) == 3);  // a longer form than needed is accepted
  auto bad = size("\x30\xFF\xFF\xFF\x80");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().reason_code == reason::kMalformedPacket);
  CHECK(*size("\x30\x0A", 12) == 12);
  auto large = size("\x30\x0A", 11);
  REQUIRE_FALSE(large);
  CHECK(large.error().reason_code == reason::kPacketTooLarge);
  CHECK(large.error().message == "a packet of 12 bytes, more than the 11 allowed");
  // Refused from the header alone, before a 256 MiB body would be buffered.
  CHECK_FALSE(size("\x30\xFF\xFF\xFF\x7F", 1 << 20));
}

TEST_CASE("malformed packets are refused with the reason an MQTT 5 client would send", "[mqtt]") {
  const auto v4 = Version::k311;
  const auto v5 = Version::k5;
  auto malformed = [](const std::string& bytes, Version v) {
    return refused(bytes, v).reason_code == reason::kMalformedPacket;
  };
  auto protocol_error = [](const std::string& bytes, Version v) {
    return refused(bytes, v).reason_code == reason::kProtocolError;
  };
  // Strings.
  CHECK(refused("\x30\x03\x00\x05"
                "a"s,
                v4)
            .message == "PUBLISH: topic length 5 past the packet's end (1 bytes left)");
  CHECK(malformed("\x30\x04\x00\x02\xC0\xAF"s, v4));      // overlong '/'
  CHECK(malformed("\x30\x05\x00\x03\xED\xA0\x80"s, v4));  // a surrogate
  CHECK(malformed("\x30\x05\x00\x03\xF4\x90\x80"s, v4));  // truncated and past U+10FFFF
  CHECK(
      malformed("\x30\x05\x00\x03"
                "a\x00"
                "b"s,
                v4));  // U+0000
  CHECK(
      malformed("\x30\x0C\x00\x0A"
                "abcdefgh\x00i"s,
                v4));  // U+0000 past the ASCII fast path's first word
  CHECK(
      malformed("\x30\x05\x00\x03"
                "a/+"s,
                v4));  // a wildcard in a topic name
  // Binary data is not UTF-8.
  CHECK(std::get<Publish>(decoded("\x30\x05\x00\x01"
                                  "a\xC0\x00"s,
                                  v4))
            .payload == "\xC0\x00"s);
  // Fixed header flags.
  CHECK(
      malformed("\x36\x05\x00\x01"
                "a\x00\x01"s,
                v4));  // QoS 3
  CHECK(
      malformed("\x38\x03\x00\x01"
                "a"s,
                v4));  // DUP on QoS 0
  CHECK(
      malformed("\x80\x06\x00\x01\x00\x01"
                "a\x00"s,
                v4));                         // SUBSCRIBE without 0b0010
  CHECK(malformed("\x60\x02\x00\x01"s, v4));  // PUBREL without 0b0010
  CHECK(malformed("\x41\x02\x00\x01"s, v4));
  CHECK(malformed("\xC1\x00"s, v4));
  CHECK(malformed("\x00\x00"s, v4));  // reserved type 0
  CHECK(malformed("\xF0\x00"s, v4));  // AUTH before MQTT 5
  // Packet identifiers.
  CHECK(malformed("\x40\x02\x00\x00"s, v4));
  CHECK(
      malformed("\x32\x05\x00\x01"
                "a\x00\x00"s,
                v4));
  CHECK(
      malformed("\x82\x06\x00\x00\x00\x01"
                "a\x00"s,
                v4));
  // Lengths.
  CHECK(malformed("\xD0\x01\x00"s, v4));          // trailing bytes
  CHECK(malformed("\x40\x03\x00\x01\x00"s, v4));  // a reason code before 5
  CHECK(
      malformed("\x30\x05"
                "ab"s,
                v4));                                     // the fixed header promises more
  CHECK(malformed("\x20\x04\x00\x00\x02\x00"s, v5));      // property length past the end
  CHECK(malformed("\x20\x05\x00\x00\x02\x21\x00"s, v5));  // a two-byte property cut short
  // Properties.
  CHECK(refused("\x40\x06\x00\x01\x00\x02\x05\x00"s, v5).message == "PUBACK: unknown property identifier 0x05");
  CHECK(refused("\x20\x09\x00\x00\x06\x21\x00\x0A\x21\x00\x0B"s, v5).message ==
        "CONNACK: receive maximum (0x21) more than once");
  CHECK(protocol_error("\x20\x09\x00\x00\x06\x21\x00\x0A\x21\x00\x0B"s, v5));
  CHECK(protocol_error("\x20\x05\x00\x00\x02\x24\x02"s, v5));      // maximum QoS 2
  CHECK(protocol_error("\x20\x06\x00\x00\x03\x21\x00\x00"s, v5));  // receive maximum 0
  CHECK(
      protocol_error("\x30\x06\x00\x01"
                     "a\x02\x0B\x00"s,
                     v5));  // subscription identifier 0
  // Repeated subscription identifiers and user properties are fine in a PUBLISH.
  CHECK(std::get<Publish>(decoded("\x30\x08\x00\x01"
                                  "a\x04\x0B\x01\x0B\x02"s,
                                  v5))
            .properties.subscription_identifiers == std::vector<std::uint32_t>{1, 2});
  CHECK(
      protocol_error("\x82\x0B\x00\x01\x04\x0B\x01\x0B\x02\x00\x01"
                     "a\x00"s,
                     v5));  // twice in SUBSCRIBE
  CHECK(
      protocol_error("\x30\x07\x00\x01"
                     "a\x03\x23\x00\x00"s,
                     v5));                             // topic alias 0
  CHECK(protocol_error("\x30\x03\x00\x00\x00"s, v5));  // an empty topic without an alias
  CHECK(protocol_error("\x30\x02\x00\x00"s, v4));      // 3.1.1 has no empty topic
  // Reason codes outside the packet's table.
  CHECK(malformed("\x40\x03\x00\x01\x92"s, v5));
  CHECK(malformed("\xE0\x01\x84"s, v5));
  // SUBSCRIBE.
  CHECK(protocol_error("\x82\x02\x00\x01"s, v4));  // no filter
  CHECK(
      malformed("\x82\x06\x00\x01\x00\x01"
                "a\x04"s,
                v4));  // a 5-only option bit in 3.1.1
  CHECK(
      malformed("\x82\x06\x00\x01\x00\x01"
                "#\x03"s,
                v4));  // QoS 3
  CHECK(
      malformed("\x82\x07\x00\x01\x00\x02"
                "a#\x00"s,
                v4));
  CHECK(
      protocol_error("\x82\x07\x00\x01\x00\x00\x01"
                     "a\x30"s,
                     v5));                                                   // retain handling 3
  CHECK(protocol_error("\x82\x10\x00\x01\x00\x00\x0A$share/g/a\x04"s, v5));  // no local on a shared one
  // CONNECT and CONNACK.
  CHECK(refused("\x10\x0C\x00\x04MQTT\x05\x02\x00\x0A\x00\x00"s, v4).reason_code ==
        reason::kUnsupportedProtocolVersion);
  CHECK(malformed("\x10\x0C\x00\x04MQTT\x04\x03\x00\x0A\x00\x00"s, v4));  // reserved flag
  CHECK(malformed("\x10\x0C\x00\x04MQTT\x04\x42\x00\x0A\x00\x00"s, v4));  // password without user name
  CHECK(malformed("\x10\x0C\x00\x04MQTT\x04\x0A\x00\x0A\x00\x00"s, v4));  // will QoS without a will
  CHECK(malformed("\x20\x02\x02\x00"s, v4));                              // reserved acknowledge flag
  CHECK(protocol_error("\x20\x02\x01\x05"s, v4));                         // session present with a refusal
}

TEST_CASE("topic filters follow MQTT's wildcard and shared subscription rules", "[mqtt]") {
  for (const char* ok : {"#", "+", "a/+/b", "a/#", "+/+", "/", "a//b", "$SYS/#", "$share/g/a/+", "$share/g/#", "$share",
                         "$sharex/+", "sport/tennis/player1/#"}) {
    INFO(ok);
    CHECK(check_topic_filter(ok).empty());
  }
  for (std::string bad : {""s, "a#"s, "a/#/b"s, "a/b#"s, "a+"s, "+a/b"s, "##"s, "$share/g"s, "$share//a"s,
                          "$share/g+/a"s, "$share/g/"s, "\xFF"s, "a\0b"s, std::string(65'536, 'a')}) {
    INFO(bad.substr(0, 20));
    CHECK_FALSE(check_topic_filter(bad).empty());
  }
  CHECK(check_topic_filter("a/#/b") == "topic filter 'a/#/b': '#' must be the whole last level");
  CHECK(check_topic_name("a/b").empty());
  CHECK(check_topic_name("$SYS/broker").empty());
  CHECK(check_topic_name(" ").empty());
  CHECK_FALSE(check_topic_name("").empty());
  CHECK_FALSE(check_topic_name("a/+").empty());
  CHECK_FALSE(check_topic_name("a/#").empty());
  CHECK_FALSE(check_topic_name("a\0"s).empty());
  CHECK_FALSE(check_topic_name("\xC3"s).empty());
}

TEST_CASE("topic_matches follows the spec's examples, $-topics and shared subscriptions", "[mqtt]") {
  CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1"));
  CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
  CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
  CHECK(topic_matches("sport/#", "sport"));
  CHECK(topic_matches("#", "sport/tennis"));
  CHECK(topic_matches("sport/tennis/+", "sport/tennis/player1"));
  CHECK_FALSE(topic_matches("sport/tennis/+", "sport/tennis/player1/ranking"));
  CHECK_FALSE(topic_matches("sport/+", "sport"));
  CHECK(topic_matches("sport/+", "sport/"));
  CHECK(topic_matches("+/+", "/finance"));
  CHECK(topic_matches("/+", "/finance"));
  CHECK_FALSE(topic_matches("+", "/finance"));
  CHECK(topic_matches("+/tennis/#", "sport/tennis/x"));
  CHECK_FALSE(topic_matches("a/b", "a/b/"));
  CHECK_FALSE(topic_matches("ACCOUNTS", "Accounts"));
  CHECK(topic_matches("a//b", "a//b"));
  CHECK(topic_matches("a/+/b", "a//b"));
  // '$' topics: no match for a filter starting with a wildcard.
  CHECK_FALSE(topic_matches("#", "$SYS/broker/clients"));
  CHECK_FALSE(topic_matches("+/monitor/Clients", "$SYS/monitor/Clients"));
  CHECK(topic_matches("$SYS/#", "$SYS/monitor/Clients"));
  CHECK(topic_matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
  // Shared subscriptions match by their filter part.
  CHECK(topic_matches("$share/g/sport/#", "sport/tennis"));
  CHECK(topic_matches("$share/g/+", "sport"));
  CHECK_FALSE(topic_matches("$share/g/+", "$SYS"));
  CHECK_FALSE(topic_matches("$share/g", "g"));
  CHECK(topic_matches("$share", "$share"));
}

TEST_CASE("reason codes and packet types have the spec's names", "[mqtt]") {
  CHECK(reason_text(reason::kSessionTakenOver) == "Session taken over");
  CHECK(reason_text(reason::kBadUserNameOrPassword) == "Bad User Name or Password");
  CHECK(reason_text(0x00) == "Success");
  CHECK(reason_text(0x7F) == "reason 0x7F");
  CHECK(std::string(to_string(PacketType::kPubrel)) == "PUBREL");
  CHECK(type_of(Disconnect{PacketType::kAuth, 0, {}}) == PacketType::kAuth);
  CHECK(type_of(Publish{}) == PacketType::kPublish);
}
