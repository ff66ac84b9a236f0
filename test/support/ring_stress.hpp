#pragma once
// The ring stress workload, shared by the two-thread test (ring_test.cpp,
// also run under ThreadSanitizer) and the two-process test
// (shm_process_test.cpp). It depends on ring.h only.
//
// Message i has a body of a size drawn from the plan, cut from a random
// source buffer at a drawn offset and sent straight from it (gather, no
// staging copy), and a 24-byte head: sequence number, body size, checksum.
// The receiver checks order, size and checksum of every message.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "shm/ring.h"

namespace edgefn::test {

struct StressPlan {
  std::uint64_t count = 0;
  std::uint64_t min_size = 0;
  std::uint64_t max_size = 4096;
  std::uint64_t seed = 1;
};

// splitmix64: fast, and the same sequence on both sides from the seed.
inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Fletcher-style over 8-byte words: order-sensitive, and fast enough
// (several GB/s) that gigabytes of stress data check in well under a second.
inline std::uint64_t checksum(const unsigned char* p, std::size_t n) {
  std::uint64_t a = 0x6a09e667f3bcc908ull, b = n;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    a += w;
    b += a;
  }
  for (; i < n; ++i) {
    a += p[i];
    b += a;
  }
  return mix(a ^ mix(b));
}

struct StressHead {
  std::uint64_t sequence;
  std::uint64_t size;
  std::uint64_t checksum;
};

class StressSource {
 public:
  explicit StressSource(const StressPlan& plan) : plan_(plan), bytes_(plan.max_size + 4096) {
    for (std::size_t i = 0; i < bytes_.size(); ++i) bytes_[i] = static_cast<unsigned char>(mix(plan.seed + i));
  }
  std::uint64_t size_of(std::uint64_t i) const {
    return plan_.min_size + mix(plan_.seed ^ (i * 2 + 1)) % (plan_.max_size - plan_.min_size + 1);
  }
  const unsigned char* body_of(std::uint64_t i) const { return bytes_.data() + mix(plan_.seed ^ (i * 2)) % 4096; }

 private:
  StressPlan plan_;
  std::vector<unsigned char> bytes_;
};

// Sends the plan's messages through `ep` (blocking, chunked as needed).
// Returns "" or what failed.
inline std::string stress_send(edgefn_endpoint* ep, const StressPlan& plan, std::uint16_t type = 2) {
  StressSource source(plan);
  for (std::uint64_t i = 0; i < plan.count; ++i) {
    std::uint64_t size = source.size_of(i);
    const unsigned char* body = source.body_of(i);
    StressHead head{i, size, checksum(body, size)};
    int rc = edgefn_endpoint_send(ep, type, i + 1, &head, sizeof head, body, size, 30'000'000'000);
    if (rc != EDGEFN_RING_OK) {
      return "send " + std::to_string(i) + ": " + edgefn_ring_status_name(rc);
    }
  }
  return "";
}

// Receives and checks the plan's messages. Returns "" or the first problem.
inline std::string stress_receive(edgefn_endpoint* ep, const StressPlan& plan, std::uint16_t type = 2) {
  StressSource source(plan);
  std::vector<unsigned char> body(plan.max_size);
  for (std::uint64_t i = 0; i < plan.count; ++i) {
    int rc = edgefn_endpoint_recv_begin(ep, 30'000'000'000);
    if (rc != EDGEFN_RING_OK) return "begin " + std::to_string(i) + ": " + edgefn_ring_status_name(rc);
    const auto& in = ep->in;
    std::uint64_t want = source.size_of(i);
    if (in.type != type || in.request_id != i + 1 || in.head_size != sizeof(StressHead) || in.body_size != want) {
      return "message " + std::to_string(i) + " has type " + std::to_string(in.type) + ", id " +
             std::to_string(in.request_id) + ", head " + std::to_string(in.head_size) + ", body " +
             std::to_string(in.body_size) + " (want body " + std::to_string(want) + ")";
    }
    StressHead head{};
    rc = edgefn_endpoint_recv_finish(ep, &head, body.data(), 30'000'000'000);
    if (rc != EDGEFN_RING_OK) return "finish " + std::to_string(i) + ": " + edgefn_ring_status_name(rc);
    if (head.sequence != i || head.size != want || head.checksum != checksum(body.data(), want)) {
      return "message " + std::to_string(i) + " arrived corrupted (sequence " + std::to_string(head.sequence) + ")";
    }
  }
  return "";
}

}  // namespace edgefn::test
