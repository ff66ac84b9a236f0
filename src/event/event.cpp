#include "event/event.hpp"

#include <atomic>
#include <random>

namespace edgefn {

std::string_view find_header(const Headers& headers, std::string_view name) noexcept {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

namespace {

struct IdSource {
  std::uint64_t prefix;
  std::atomic<std::uint64_t> counter;
  IdSource() {
    std::random_device rd;
    prefix = (std::uint64_t{rd()} << 32) ^ rd();
    counter = (std::uint64_t{rd()} << 32) ^ rd();
  }
};

void put_hex(char* out, std::uint64_t v, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) {
    out[i] = kHex[v & 0xf];
    v >>= 4;
  }
}

}  // namespace

std::string new_event_id() {
  static IdSource source;
  std::uint64_t n = source.counter.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t p = source.prefix;
  // Layout 8-4-4-4-12 with the version nibble set to 4 so tools that parse
  // UUIDs accept it; uniqueness comes from the counter, not randomness.
  std::string id(36, '-');
  put_hex(&id[0], p >> 32, 8);
  put_hex(&id[9], (p >> 16) & 0xffff, 4);
  put_hex(&id[14], 0x4000 | (p & 0x0fff), 4);
  put_hex(&id[19], 0x8000 | (n >> 48 & 0x3fff), 4);
  put_hex(&id[24], n & 0xffffffffffffULL, 12);
  return id;
}

}  // namespace edgefn
