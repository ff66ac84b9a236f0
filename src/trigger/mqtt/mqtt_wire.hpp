#pragma once
// Internal to the MQTT codec (mqtt_codec.cpp, mqtt_properties.cpp,
// mqtt_topic.cpp): the data representations packets are built from (MQTT 5
// 1.5, the same in 3.1.1 1.5 but for variable byte integers inside a
// packet): big-endian two- and four-byte integers, variable byte integers,
// strings and binary data behind a two-byte length.
//
// Reading: a Reader over one packet's variable header and payload; every
// read is checked against what is left, and the first failure is kept as
// the DecodeError the packet is refused with. Writing: the packet layouts
// are templates over a sink, run once with Counter (the remaining length)
// and once with Appender (the bytes), so size and bytes cannot disagree.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "trigger/mqtt/mqtt_codec.hpp"

namespace edgefn::mqtt::wire {

// The largest remaining length a four-byte variable byte integer holds.
inline constexpr std::uint32_t kMaxVarint = 268'435'455;

// Well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF) without U+0000: what MQTT requires of every UTF-8 string.
bool valid_utf8(std::string_view s) noexcept;

// Why `filter` is not a valid topic filter, or nullptr; `filter` is
// already known to be valid UTF-8.
const char* filter_error(std::string_view filter) noexcept;

inline bool has_wildcard(std::string_view s) noexcept { return s.find_first_of("+#") != std::string_view::npos; }

constexpr std::size_t varint_size(std::uint32_t v) noexcept {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x20'0000 ? 3 : 4;
}

class Reader {
 public:
  Reader(std::string_view bytes, const char* packet) noexcept
      : p_(bytes.data()), end_(bytes.data() + bytes.size()), packet_(packet) {}

  std::size_t left() const noexcept { return static_cast<std::size_t>(end_ - p_); }
  const char* packet() const noexcept { return packet_; }

  bool u8(std::uint8_t& v, const char* what);
  bool u16(std::uint16_t& v, const char* what);
  bool u32(std::uint32_t& v, const char* what);
  bool varint(std::uint32_t& v, const char* what);
  // A two-byte length and that many bytes; `utf8` checks them as an MQTT
  // UTF-8 string. The view points into the packet.
  bool string_view(std::string_view& out, const char* what, bool utf8);
  bool string(std::string& out, const char* what, bool utf8);
  std::string_view rest() noexcept;
  // The next `n` bytes (n <= left()) as a reader of their own.
  Reader split(std::size_t n) noexcept;

  // Keeps the first failure; always false, so `return r.fail(...)`.
  bool fail(std::uint8_t reason_code, std::string message);
  bool malformed(std::string message) { return fail(reason::kMalformedPacket, std::move(message)); }
  bool protocol_error(std::string message) { return fail(reason::kProtocolError, std::move(message)); }
  // Takes over the failure of a reader made by split().
  bool adopt(Reader& inner);
  DecodeError& error() noexcept { return error_; }

 private:
  bool short_of(const char* what, std::size_t need);

  const char* p_;
  const char* end_;
  const char* packet_;
  DecodeError error_;
};

// Where a property list is: what may repeat depends on it.
enum class PropertyContext { kPublish, kWill, kOther };

// A property length and the properties after it (MQTT 5 2.2.2).
bool read_properties(Reader& r, Properties& out, PropertyContext context);
// The size of the properties without their length, and their bytes.
std::size_t properties_size(const Properties& p) noexcept;
void write_properties(const Properties& p, std::string& out);

struct Counter {
  std::size_t n = 0;
  void u8(std::uint8_t) noexcept { n += 1; }
  void u16(std::uint16_t) noexcept { n += 2; }
  void u32(std::uint32_t) noexcept { n += 4; }
  void varint(std::uint32_t v) noexcept { n += varint_size(v); }
  void bytes(std::string_view s) noexcept { n += s.size(); }
  void string(std::string_view s) noexcept { n += 2 + s.size(); }
  void properties(const Properties& p) noexcept {
    const std::size_t size = properties_size(p);
    n += varint_size(static_cast<std::uint32_t>(size)) + size;
  }
};

struct Appender {
  std::string& out;
  void u8(std::uint8_t v) { out.push_back(static_cast<char>(v)); }
  void u16(std::uint16_t v) {
    const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
    out.append(b, 2);
  }
  void u32(std::uint32_t v) {
    const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
    out.append(b, 4);
  }
  void varint(std::uint32_t v) {
    do {
      std::uint8_t b = v & 0x7F;
      v >>= 7;
      if (v) b |= 0x80;
      u8(b);
    } while (v);
  }
  void bytes(std::string_view s) { out.append(s); }
  void string(std::string_view s);  // asserts the two-byte limit in debug builds
  void properties(const Properties& p) {
    varint(static_cast<std::uint32_t>(properties_size(p)));
    write_properties(p, out);
  }
};

}  // namespace edgefn::mqtt::wire
