#pragma once
// How message heads are encoded on the shm channel, and the one message the
// transport itself speaks. ring.h describes the transport: a message is
// (type, request id, head, body); a runtime defines its own message types
// and heads with the rules and helpers below (the Python worker's are in
// runtime/python/worker_protocol.hpp).
//
// All integers little-endian; "str" is UTF-8 bytes whose length is given
// elsewhere in the head (never NUL-terminated); bodies are raw bytes, never
// re-encoded. Fixed parts come first so that a reader unpacks them with one
// struct call, then the variable bytes in the order listed. Name/value
// pairs are u32 lengths [name, value] * count, then the bytes in the same
// order.
//
// HELLO (1), both ways; body empty.
//   u32 protocol_version, u32 pid
//
// Every head is read as hostile: HeadReader never reads past its input,
// and a head with bytes left over is an error.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

namespace edgefn::shm {

using MessageType = std::uint16_t;
inline constexpr MessageType kHelloMessage = 1;

struct Hello {
  std::uint32_t protocol_version = 0;
  std::uint32_t pid = 0;
};

// Decoding fails (the error says where) on a head that is too short, has
// bytes left over, or an out-of-range value: a peer speaking another
// protocol, or a bug; the channel is then closed.
template <class T>
using Decoded = tl::expected<T, std::string>;

std::string encode_hello(const Hello& hello);
Decoded<Hello> decode_hello(std::string_view head);

using Pairs = std::vector<std::pair<std::string, std::string>>;

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
  void pairs(const Pairs& pairs);

  // Bytes pairs() will append.
  static std::size_t pairs_size(const Pairs& pairs);

 private:
  std::string& out_;
};

// Each getter returns false once the input is exhausted; finish() says
// where and whether bytes were left over.
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
  bool skip(std::size_t n);
  bool str(std::uint32_t n, std::string& out);
  bool pairs(std::uint32_t count, Pairs& out);
  Decoded<bool> finish(const char* what) const;

 private:
  bool fail(const char* where);
  std::string_view in_;
  std::size_t pos_ = 0;
  std::string error_;
};

}  // namespace edgefn::shm
