// The MQTT packet codec (src/trigger/mqtt/mqtt_codec.hpp) on the bytes of
// one connection, as the session reads them from a broker: packets framed
// one after another with frame_size() and each decoded with decode(), once
// as MQTT 3.1, once as 3.1.1 and once as 5. A packet that does not decode
// is skipped (the session would disconnect); a length that does not frame
// ends the stream.
//
// What must hold, beyond no memory error or undefined behaviour:
// - frame_size() of any prefix shorter than the fixed header asks for more
//   (0); of any longer prefix it gives the whole packet's size; with a
//   max_size one byte short it refuses the packet as too large.
// - Round trip: every packet that decodes, encoded again for the same
//   version, frames to exactly its own length and decodes to an equal
//   packet, which encodes to the same bytes again (one layout per packet).
// - The topic rules agree with decode(): a decoded PUBLISH topic passes
//   check_topic_name() (unless empty, an MQTT 5 alias) and matches itself
//   (unless it reads as a shared subscription's filter, $share/...) and,
//   unless it starts with '$', "#"; a decoded SUBSCRIBE or UNSUBSCRIBE
//   filter passes check_topic_filter().
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "trigger/mqtt/mqtt_codec.hpp"

namespace {

using namespace edgefn::mqtt;

[[noreturn]] void fail(const char* what, Version v, std::string_view bytes) {
  std::fprintf(stderr, "mqtt_fuzzer: %s (version %d, packet of %zu bytes:", what, static_cast<int>(v), bytes.size());
  for (std::size_t i = 0; i < bytes.size() && i < 64; ++i)
    std::fprintf(stderr, " %02x", static_cast<unsigned char>(bytes[i]));
  std::fprintf(stderr, "%s)\n", bytes.size() > 64 ? " ..." : "");
  std::abort();
}

void check_frame_prefixes(std::string_view stream, std::size_t size, Version v) {
  // The header is at most five bytes: once a prefix frames, every longer
  // one frames the same.
  bool framed = false;
  for (std::size_t n = 0; n <= stream.size() && n <= 6; ++n) {
    auto prefix = frame_size(stream.substr(0, n), kMaxPacketSize);
    if (!prefix) fail("a prefix of a framed packet does not frame", v, stream.substr(0, size));
    if (*prefix == 0 && (framed || n >= 5))
      fail("a prefix past the fixed header asks for more", v, stream.substr(0, size));
    if (*prefix != 0 && *prefix != size) fail("a prefix frames to another size", v, stream.substr(0, size));
    framed = *prefix != 0;
  }
  auto tight = frame_size(stream, size - 1);
  if (tight || tight.error().reason_code != reason::kPacketTooLarge) {
    fail("max_size one byte short does not refuse the packet", v, stream.substr(0, size));
  }
}

void check_topics(const Packet& packet, Version v, std::string_view bytes) {
  if (const auto* publish = std::get_if<Publish>(&packet); publish && !publish->topic.empty()) {
    if (!check_topic_name(publish->topic).empty()) fail("a decoded topic fails check_topic_name", v, bytes);
    // As a filter, "$share/g/x" is x shared by group g.
    if (!publish->topic.starts_with("$share/") && !topic_matches(publish->topic, publish->topic)) {
      fail("a topic does not match itself", v, bytes);
    }
    if (topic_matches("#", publish->topic) == (publish->topic[0] == '$')) fail("'#' and a $ topic", v, bytes);
  }
  if (const auto* subscribe = std::get_if<Subscribe>(&packet)) {
    for (const Subscription& sub : subscribe->subscriptions) {
      if (!check_topic_filter(sub.filter).empty()) fail("a decoded filter fails check_topic_filter", v, bytes);
      (void)topic_matches(sub.filter, "a/b/c");
    }
  }
  if (const auto* unsubscribe = std::get_if<Unsubscribe>(&packet)) {
    for (const std::string& filter : unsubscribe->filters) {
      if (!check_topic_filter(filter).empty()) fail("a decoded filter fails check_topic_filter", v, bytes);
    }
  }
}

void round_trip(const Packet& packet, Version v, std::string_view bytes) {
  std::string again;
  encode(packet, v, again);
  auto size = frame_size(again, kMaxPacketSize);
  if (!size || *size != again.size()) fail("a re-encoded packet does not frame to its own size", v, bytes);
  auto decoded = decode(again, v);
  if (!decoded) fail(("a re-encoded packet does not decode: " + decoded.error().message).c_str(), v, bytes);
  if (!(*decoded == packet)) fail("a re-encoded packet decodes to another packet", v, bytes);
  std::string third;
  encode(*decoded, v, third);
  if (third != again) fail("a packet has two layouts", v, bytes);
}

void run(std::string_view stream, Version v) {
  while (!stream.empty()) {
    auto size = frame_size(stream, kMaxPacketSize);
    if (!size || *size == 0 || *size > stream.size()) return;
    check_frame_prefixes(stream, *size, v);
    const std::string_view bytes = stream.substr(0, *size);
    stream.remove_prefix(*size);
    auto packet = decode(bytes, v);
    if (!packet) {
      if (packet.error().message.empty()) fail("an error without a message", v, bytes);
      continue;
    }
    check_topics(*packet, v, bytes);
    round_trip(*packet, v, bytes);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view stream(reinterpret_cast<const char*>(data), size);
  for (Version v : {Version::k31, Version::k311, Version::k5}) run(stream, v);
  return 0;
}
