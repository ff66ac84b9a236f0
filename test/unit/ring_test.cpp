// The shm ring's C API: frames, wraparound, limits, doorbell, messages,
// endpoints, and the two-thread stress test. Depends on ring.h only, so that
// test/tsan/ can build it with ring.c alone under ThreadSanitizer, where
// EDGEFN_RING_STRESS_FRAMES shrinks the stress run.
#include "shm/ring.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "../support/ring_stress.hpp"

#ifndef EDGEFN_RING_STRESS_FRAMES
#define EDGEFN_RING_STRESS_FRAMES 1000000
#endif
#ifndef EDGEFN_RING_STRESS_LARGE
#define EDGEFN_RING_STRESS_LARGE 1000
#endif

namespace {

using namespace std::chrono_literals;
using edgefn::test::StressPlan;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// Page-aligned memory standing in for a mapped segment.
struct Memory {
  explicit Memory(std::size_t n) : size(n), bytes(std::aligned_alloc(4096, (n + 4095) / 4096 * 4096)) {
    std::memset(bytes.get(), 0, size);
  }
  void* get() const { return bytes.get(); }
  std::size_t size;
  std::unique_ptr<void, FreeDeleter> bytes;
};

struct Ring {
  explicit Ring(std::uint64_t capacity) : memory(edgefn_ring_footprint(capacity)) {
    REQUIRE(edgefn_ring_init(memory.get(), memory.size) == EDGEFN_RING_OK);
    REQUIRE(edgefn_ring_attach(&producer, memory.get(), memory.size) == EDGEFN_RING_OK);
    REQUIRE(edgefn_ring_attach(&consumer, memory.get(), memory.size) == EDGEFN_RING_OK);
  }
  Memory memory;
  edgefn_ring producer{};
  edgefn_ring consumer{};
};

int write_bytes(edgefn_ring* r, const std::string& payload, std::uint64_t id = 7, std::uint16_t type = 2,
                std::uint16_t flags = EDGEFN_FRAME_FIRST | EDGEFN_FRAME_LAST) {
  edgefn_ring_piece piece{payload.data(), payload.size()};
  return edgefn_ring_try_write(r, type, flags, id, &piece, 1);
}

std::string read_bytes(edgefn_ring* r) {
  edgefn_ring_frame f{};
  REQUIRE(edgefn_ring_peek(r, &f) == EDGEFN_RING_OK);
  std::string out(reinterpret_cast<const char*>(f.payload), f.size);
  edgefn_ring_release(r);
  return out;
}

// Where ring.h puts the indices in the ring header (magic and capacity on
// the first 128-byte line, then tail, then head): what a hostile peer
// scribbles on in the tests below.
constexpr std::size_t kTailField = 128;
constexpr std::size_t kHeadField = 256;

void scribble(void* ring_memory, std::size_t field, std::uint64_t value) {
  std::memcpy(static_cast<unsigned char*>(ring_memory) + field, &value, sizeof value);
}

std::uint64_t field_of(const void* ring_memory, std::size_t field) {
  std::uint64_t value = 0;
  std::memcpy(&value, static_cast<const unsigned char*>(ring_memory) + field, sizeof value);
  return value;
}

// A ring whose data area ends exactly at an inaccessible page, so that any
// read or write past the ring faults on the spot, in any build (a stand-in
// for ASan, which the unit tests do not always run under).
struct GuardedRing {
  explicit GuardedRing(std::uint64_t capacity)
      : page(static_cast<std::size_t>(sysconf(_SC_PAGESIZE))),
        footprint(edgefn_ring_footprint(capacity)),
        pages((footprint + page - 1) / page),
        size((pages + 1) * page),
        base(mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) {
    REQUIRE(base != MAP_FAILED);
    auto* bytes = static_cast<unsigned char*>(base);
    REQUIRE(mprotect(bytes + pages * page, page, PROT_NONE) == 0);
    memory = bytes + pages * page - footprint;
    REQUIRE(edgefn_ring_init(memory, footprint) == EDGEFN_RING_OK);
    REQUIRE(edgefn_ring_attach(&producer, memory, footprint) == EDGEFN_RING_OK);
    REQUIRE(edgefn_ring_attach(&consumer, memory, footprint) == EDGEFN_RING_OK);
    REQUIRE(edgefn_ring_capacity(&producer) == capacity);
  }
  ~GuardedRing() { munmap(base, size); }
  GuardedRing(const GuardedRing&) = delete;
  GuardedRing& operator=(const GuardedRing&) = delete;

  std::size_t page, footprint, pages, size;
  void* base;
  void* memory = nullptr;
  edgefn_ring producer{};
  edgefn_ring consumer{};
};

// Two endpoints over one formatted segment in plain memory.
struct Pair {
  explicit Pair(std::uint64_t capacity, std::uint64_t max_message = 64u << 20, int notify_fd = -1)
      : memory(edgefn_shm_segment_size(capacity)) {
    std::uint32_t flags = notify_fd >= 0 ? EDGEFN_SHM_DAEMON_EVENTFD : 0;
    REQUIRE(edgefn_shm_format(memory.get(), memory.size, capacity, max_message, flags, 1) == EDGEFN_RING_OK);
    REQUIRE(edgefn_endpoint_attach(&daemon, memory.get(), memory.size, EDGEFN_SHM_DAEMON, notify_fd, 50'000) ==
            EDGEFN_RING_OK);
    REQUIRE(edgefn_endpoint_attach(&worker, memory.get(), memory.size, EDGEFN_SHM_WORKER, notify_fd, 50'000) ==
            EDGEFN_RING_OK);
  }
  Memory memory;
  edgefn_endpoint daemon{};
  edgefn_endpoint worker{};
};

std::string run_two_threads(std::uint64_t capacity, const StressPlan& plan) {
  Pair pair(capacity);
  std::string receive_error;
  std::thread consumer([&] { receive_error = edgefn::test::stress_receive(&pair.worker, plan); });
  std::string send_error = edgefn::test::stress_send(&pair.daemon, plan);
  if (!send_error.empty()) edgefn_endpoint_close(&pair.daemon);
  consumer.join();
  return send_error.empty() ? receive_error : send_error;
}

}  // namespace

TEST_CASE("ring stress: two threads pass 0-4 KiB messages intact across wraparound", "[ring][stress]") {
  StressPlan plan{EDGEFN_RING_STRESS_FRAMES, 0, 4096, 42};
  CHECK(run_two_threads(64 * 1024, plan) == "");
}

TEST_CASE("ring stress: two threads pass 1-8 MiB messages in chunks", "[ring][stress][large]") {
  StressPlan plan{EDGEFN_RING_STRESS_LARGE, 1u << 20, 8u << 20, 7};
  CHECK(run_two_threads(1u << 20, plan) == "");
}

TEST_CASE("the spin budget backs off when spins fail and comes back through probes", "[ring][spin]") {
  edgefn_spin spin{};
  const std::uint64_t cap = 64'000;
  CHECK(edgefn_spin_budget(&spin, 0) == 0);  // spinning disabled
  std::uint64_t budget = edgefn_spin_budget(&spin, cap);
  CHECK(budget == cap);
  for (int i = 0; i < 5; ++i) {  // 64 -> 32 -> 16 -> 8 -> 4 us, then below cap / 16: none
    edgefn_spin_done(&spin, cap, budget, 0);
    budget = edgefn_spin_budget(&spin, cap);
  }
  CHECK(budget == 0);
  int probes = 0;
  for (int i = 0; i < 32; ++i) {
    std::uint64_t b = edgefn_spin_budget(&spin, cap);
    if (b > 0) {
      ++probes;
      CHECK(b == cap);  // a probe spins the whole cap
      edgefn_spin_done(&spin, cap, b, 0);
    }
  }
  CHECK(probes == 2);
  std::uint64_t probe = 0;
  while ((probe = edgefn_spin_budget(&spin, cap)) == 0) {
  }
  edgefn_spin_done(&spin, cap, probe, 1);  // the peer answered: back to full spins
  CHECK(edgefn_spin_budget(&spin, cap) == cap);
  edgefn_spin_done(&spin, cap, cap, 0);
  CHECK(edgefn_spin_budget(&spin, cap) == cap / 2);
  edgefn_spin_done(&spin, cap, cap / 2, 1);
  CHECK(edgefn_spin_budget(&spin, cap) == cap);
}

TEST_CASE("no spin while more tasks are runnable than there are CPUs", "[ring][spin]") {
  // More busy threads than CPUs make the machine contended whatever else
  // runs; the figure is refreshed every 10 ms, so this waits for it.
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  std::atomic<bool> stop{false};
  std::vector<std::thread> hogs;
  for (unsigned i = 0; i <= cpus; ++i)
    hogs.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool contended = false;
  while (!contended && std::chrono::steady_clock::now() < deadline) {
    contended = edgefn_cpus_contended() == 1;
    if (!contended) std::this_thread::sleep_for(std::chrono::milliseconds(11));
  }
  edgefn_spin spin{};
  const std::uint64_t next = edgefn_spin_next(&spin, 64'000);
  stop = true;
  for (auto& t : hogs) t.join();
  CHECK(contended);
  CHECK(next == 0);  // the budget would have been the whole cap
}

TEST_CASE("ring init rejects bad memory and attach checks the header", "[ring]") {
  Memory memory(8192);
  edgefn_ring r{};
  CHECK(edgefn_ring_init(nullptr, 8192) == EDGEFN_RING_INVALID);
  CHECK(edgefn_ring_init(static_cast<char*>(memory.get()) + 8, 8000) == EDGEFN_RING_INVALID);
  CHECK(edgefn_ring_init(memory.get(), 1024 + 4095) == EDGEFN_RING_INVALID);
  CHECK(edgefn_ring_attach(&r, memory.get(), memory.size) == EDGEFN_RING_PROTOCOL);
  REQUIRE(edgefn_ring_init(memory.get(), memory.size) == EDGEFN_RING_OK);
  REQUIRE(edgefn_ring_attach(&r, memory.get(), memory.size) == EDGEFN_RING_OK);
  CHECK(edgefn_ring_capacity(&r) == 4096);  // the largest power of two that fits
  CHECK(edgefn_ring_max_payload(&r) == 1024 - 16);
  CHECK(edgefn_ring_attach(&r, memory.get(), 2048) == EDGEFN_RING_PROTOCOL);
}

TEST_CASE("ring frames come out in order with their type, flags, id and gathered payload", "[ring]") {
  Ring ring(4096);
  edgefn_ring_frame f{};
  CHECK(edgefn_ring_peek(&ring.consumer, &f) == EDGEFN_RING_EMPTY);
  std::string a = "head:", b = std::string("body\0with NUL", 13);
  edgefn_ring_piece pieces[] = {{a.data(), a.size()}, {nullptr, 0}, {b.data(), b.size()}};
  REQUIRE(edgefn_ring_try_write(&ring.producer, 9, EDGEFN_FRAME_FIRST, 1234, pieces, 3) == EDGEFN_RING_OK);
  REQUIRE(write_bytes(&ring.producer, "") == EDGEFN_RING_OK);
  REQUIRE(edgefn_ring_peek(&ring.consumer, &f) == EDGEFN_RING_OK);
  CHECK(f.type == 9);
  CHECK(f.flags == EDGEFN_FRAME_FIRST);
  CHECK(f.request_id == 1234);
  CHECK(std::string(reinterpret_cast<const char*>(f.payload), f.size) == a + b);
  edgefn_ring_frame again{};
  REQUIRE(edgefn_ring_peek(&ring.consumer, &again) == EDGEFN_RING_OK);  // peek is idempotent
  CHECK(again.payload == f.payload);
  edgefn_ring_release(&ring.consumer);
  CHECK(read_bytes(&ring.consumer) == "");
  CHECK(edgefn_ring_peek(&ring.consumer, &f) == EDGEFN_RING_EMPTY);
}

TEST_CASE("ring refuses oversized frames and reports FULL until space is released", "[ring]") {
  Ring ring(4096);
  std::string max(edgefn_ring_max_payload(&ring.producer), 'x');
  CHECK(write_bytes(&ring.producer, max + "y") == EDGEFN_RING_TOO_BIG);
  CHECK(edgefn_ring_free_space(&ring.producer) == 4096);
  for (int i = 0; i < 4; ++i) REQUIRE(write_bytes(&ring.producer, max) == EDGEFN_RING_OK);
  CHECK(edgefn_ring_free_space(&ring.producer) == 0);
  CHECK(write_bytes(&ring.producer, "") == EDGEFN_RING_FULL);
  CHECK_FALSE(edgefn_ring_writable(&ring.producer, 0));
  CHECK(read_bytes(&ring.consumer) == max);
  CHECK(edgefn_ring_writable(&ring.producer, 100));
  CHECK(write_bytes(&ring.producer, "after") == EDGEFN_RING_OK);
}

TEST_CASE("ring wraps a frame that does not fit before the end to offset 0 behind a PAD", "[ring]") {
  Ring ring(4096);
  std::string filler(1008 - 16, 'f');  // frames of exactly 1008 bytes
  for (int i = 0; i < 3; ++i) REQUIRE(write_bytes(&ring.producer, filler) == EDGEFN_RING_OK);
  for (int i = 0; i < 3; ++i) read_bytes(&ring.consumer);
  // tail = 3024: 1072 bytes to the end, so a 1024-byte frame still fits...
  std::string fits(1024 - 16, 'b');
  REQUIRE(write_bytes(&ring.producer, fits) == EDGEFN_RING_OK);
  // ...and leaves 48 bytes: the next frame goes to offset 0 behind a PAD.
  std::string wrapped(200, 'w');
  wrapped[0] = '\0';
  REQUIRE(write_bytes(&ring.producer, wrapped, 99) == EDGEFN_RING_OK);
  CHECK(read_bytes(&ring.consumer) == fits);
  edgefn_ring_frame f{};
  REQUIRE(edgefn_ring_peek(&ring.consumer, &f) == EDGEFN_RING_OK);
  CHECK(f.request_id == 99);
  CHECK(f.payload == ring.consumer.data + 16);  // contiguous, at the start
  CHECK(std::string(reinterpret_cast<const char*>(f.payload), f.size) == wrapped);
  edgefn_ring_release(&ring.consumer);
  CHECK(edgefn_ring_free_space(&ring.producer) == 4096);
}

TEST_CASE("ring detects a corrupt frame header", "[ring]") {
  Ring ring(4096);
  REQUIRE(write_bytes(&ring.producer, "abc") == EDGEFN_RING_OK);
  std::uint32_t huge = 1u << 30;
  std::memcpy(ring.consumer.data, &huge, sizeof huge);
  edgefn_ring_frame f{};
  CHECK(edgefn_ring_peek(&ring.consumer, &f) == EDGEFN_RING_PROTOCOL);
}

TEST_CASE("a header rewritten by the peer after peek cannot change the frame in use", "[ring]") {
  Ring ring(4096);
  REQUIRE(write_bytes(&ring.producer, "abc") == EDGEFN_RING_OK);
  edgefn_ring_frame f{};
  REQUIRE(edgefn_ring_peek(&ring.consumer, &f) == EDGEFN_RING_OK);
  std::uint32_t huge = 1u << 30;
  std::memcpy(ring.consumer.data, &huge, sizeof huge);
  REQUIRE(edgefn_ring_peek(&ring.consumer, &f) == EDGEFN_RING_OK);
  CHECK(f.size == 3);
}

TEST_CASE("a producer writes at its own tail, never at one the peer scribbled into shared memory", "[ring][hostile]") {
  // The ring occupies exactly its footprint; canary bytes follow it (where
  // the next ring's header would be in a segment).
  const std::uint64_t capacity = 4096;
  const std::size_t footprint = edgefn_ring_footprint(capacity), canary = 256;
  Memory memory(footprint + canary);
  auto* bytes = static_cast<unsigned char*>(memory.get());
  std::memset(bytes + footprint, 0xA5, canary);
  auto canary_intact = [&] {
    for (std::size_t i = 0; i < canary; ++i) {
      if (bytes[footprint + i] != 0xA5) return false;
    }
    return true;
  };
  edgefn_ring producer{}, consumer{};
  REQUIRE(edgefn_ring_init(bytes, footprint) == EDGEFN_RING_OK);
  REQUIRE(edgefn_ring_attach(&producer, bytes, footprint) == EDGEFN_RING_OK);
  REQUIRE(edgefn_ring_attach(&consumer, bytes, footprint) == EDGEFN_RING_OK);
  REQUIRE(edgefn_ring_capacity(&producer) == capacity);
  REQUIRE(write_bytes(&producer, "first", 1) == EDGEFN_RING_OK);
  REQUIRE(field_of(bytes, kTailField) == 32);  // the test knows where tail is
  CHECK(read_bytes(&consumer) == "first");
  // Scribble before every write, across several wraparounds: capacity - 8
  // would put a frame header 8 bytes past the data area.
  for (std::uint64_t i = 2; i < 200; ++i) {
    scribble(bytes, kTailField, capacity - 8);
    std::string payload(i % 150, static_cast<char>('a' + i % 26));
    REQUIRE(write_bytes(&producer, payload, i) == EDGEFN_RING_OK);
    REQUIRE(canary_intact());
    edgefn_ring_frame f{};
    int rc = edgefn_ring_peek(&consumer, &f);
    if (rc == EDGEFN_RING_PROTOCOL) break;  // acceptable: the violation was seen
    REQUIRE(rc == EDGEFN_RING_OK);
    CHECK(f.request_id == i);
    CHECK(std::string(reinterpret_cast<const char*>(f.payload), f.size) == payload);
    edgefn_ring_release(&consumer);
  }
  CHECK(canary_intact());
}

TEST_CASE("a consumer reads at its own head, never at one the peer scribbled into shared memory", "[ring][hostile]") {
  // Out of bounds, the old code read a frame header across the end of the
  // data area; here that is a fault.
  const std::uint64_t capacity = 4096;
  GuardedRing ring(capacity);
  const std::uint64_t bad_heads[] = {capacity - 8, capacity - 1, 8, capacity + 8, ~std::uint64_t{0} - 7};
  std::uint64_t id = 0;
  for (int round = 0; round < 40; ++round) {  // several wraparounds, so frames end at the guard page
    for (std::uint64_t bad : bad_heads) {
      std::string payload(static_cast<std::size_t>(id * 37 % 300), static_cast<char>('A' + id % 26));
      REQUIRE(write_bytes(&ring.producer, payload, ++id) == EDGEFN_RING_OK);
      scribble(ring.memory, kHeadField, bad);
      edgefn_ring_frame f{};
      int rc = edgefn_ring_peek(&ring.consumer, &f);
      REQUIRE((rc == EDGEFN_RING_OK || rc == EDGEFN_RING_PROTOCOL));
      if (rc == EDGEFN_RING_PROTOCOL) return;  // acceptable: the violation was seen
      CHECK(f.request_id == id);
      CHECK(std::string(reinterpret_cast<const char*>(f.payload), f.size) == payload);
      edgefn_ring_release(&ring.consumer);  // publishes the real head again
    }
  }
}

TEST_CASE("a consumer head that goes backwards, past the tail or off 16 bytes is a protocol error", "[ring][hostile]") {
  Ring ring(4096);
  void* shared = ring.memory.get();
  std::string max(edgefn_ring_max_payload(&ring.producer), 'x');  // 1024-byte frames
  for (int i = 0; i < 4; ++i) REQUIRE(write_bytes(&ring.producer, max) == EDGEFN_RING_OK);
  CHECK(read_bytes(&ring.consumer) == max);
  CHECK(read_bytes(&ring.consumer) == max);
  REQUIRE(edgefn_ring_free_space(&ring.producer) == 2048);  // head 2048 accepted; tail 4096
  std::uint64_t bad = 0;
  SECTION("backwards") { bad = 1024; }
  SECTION("more than capacity behind the tail") { bad = std::uint64_t{0} - 16; }
  SECTION("past the tail") { bad = 4096 + 16; }  // would make room over unread frames
  SECTION("not a multiple of 16") { bad = 2048 + 8; }
  scribble(shared, kHeadField, bad);
  CHECK(edgefn_ring_writable(&ring.producer, 0) == 1);  // loads head: the check happens here
  CHECK(write_bytes(&ring.producer, "more") == EDGEFN_RING_PROTOCOL);
  // Broken for good, even once the head looks right again; waiters do not sleep.
  scribble(shared, kHeadField, 2048);
  CHECK(write_bytes(&ring.producer, "more") == EDGEFN_RING_PROTOCOL);
  CHECK(edgefn_ring_free_space(&ring.producer) == 0);
  CHECK(edgefn_ring_wait_writable(&ring.producer, 0, 0, 1'000'000'000) == EDGEFN_RING_OK);
}

TEST_CASE("a producer that finds the ring full checks the head it reloads", "[ring][hostile]") {
  Ring ring(4096);
  std::string max(edgefn_ring_max_payload(&ring.producer), 'x');
  for (int i = 0; i < 4; ++i) REQUIRE(write_bytes(&ring.producer, max, 10 + i) == EDGEFN_RING_OK);
  CHECK(read_bytes(&ring.consumer) == max);
  // The consumer's head is 1024. A head past the tail claims room that is
  // not there: writes would go on, over the three unread frames.
  scribble(ring.memory.get(), kHeadField, 4096 + 1024);
  CHECK(write_bytes(&ring.producer, "overwrite") == EDGEFN_RING_PROTOCOL);
  for (int i = 1; i < 4; ++i) {
    edgefn_ring_frame f{};
    REQUIRE(edgefn_ring_peek(&ring.consumer, &f) == EDGEFN_RING_OK);
    CHECK(f.request_id == static_cast<std::uint64_t>(10 + i));
    edgefn_ring_release(&ring.consumer);
  }
}

TEST_CASE("a producer tail that goes backwards, over capacity ahead or off 16 bytes is a protocol error",
          "[ring][hostile]") {
  Ring ring(4096);
  void* shared = ring.memory.get();
  REQUIRE(write_bytes(&ring.producer, "abc") == EDGEFN_RING_OK);  // 32 bytes
  REQUIRE(write_bytes(&ring.producer, "") == EDGEFN_RING_OK);     // 16 bytes
  CHECK(read_bytes(&ring.consumer) == "abc");                     // head 32, tail 48 accepted
  std::uint64_t bad = 0;
  SECTION("backwards, still ahead of the head") { bad = 32; }
  SECTION("backwards, behind the head") { bad = 0; }
  SECTION("more than capacity ahead of the head") { bad = 32 + 4096 + 16; }
  SECTION("not a multiple of 16") { bad = 48 + 8; }
  scribble(shared, kTailField, bad);
  CHECK(edgefn_ring_readable(&ring.consumer) == 1);  // loads tail: the check happens here
  edgefn_ring_frame f{};
  CHECK(edgefn_ring_peek(&ring.consumer, &f) == EDGEFN_RING_PROTOCOL);
  // Broken for good, even once the tail looks right again; waiters do not sleep.
  scribble(shared, kTailField, 48);
  CHECK(edgefn_ring_peek(&ring.consumer, &f) == EDGEFN_RING_PROTOCOL);
  CHECK(edgefn_ring_wait_readable(&ring.consumer, 0, 1'000'000'000) == EDGEFN_RING_OK);
}

TEST_CASE("attach refuses a ring whose indices cannot be", "[ring][hostile]") {
  Memory memory(edgefn_ring_footprint(4096));
  REQUIRE(edgefn_ring_init(memory.get(), memory.size) == EDGEFN_RING_OK);
  edgefn_ring r{};
  scribble(memory.get(), kTailField, 8);
  CHECK(edgefn_ring_attach(&r, memory.get(), memory.size) == EDGEFN_RING_PROTOCOL);
  scribble(memory.get(), kTailField, 4096 + 16);
  CHECK(edgefn_ring_attach(&r, memory.get(), memory.size) == EDGEFN_RING_PROTOCOL);
  scribble(memory.get(), kTailField, 4096);
  CHECK(edgefn_ring_attach(&r, memory.get(), memory.size) == EDGEFN_RING_OK);
  CHECK(edgefn_ring_free_space(&r) == 0);
}

TEST_CASE("closing a ring delivers what was published, then CLOSED on both sides", "[ring]") {
  Ring ring(4096);
  REQUIRE(write_bytes(&ring.producer, "last words") == EDGEFN_RING_OK);
  edgefn_ring_close(&ring.producer);
  CHECK(edgefn_ring_closed(&ring.consumer));
  CHECK(write_bytes(&ring.producer, "more") == EDGEFN_RING_CLOSED);
  CHECK(edgefn_ring_wait_readable(&ring.consumer, 0, 0) == EDGEFN_RING_OK);
  CHECK(read_bytes(&ring.consumer) == "last words");
  edgefn_ring_frame f{};
  CHECK(edgefn_ring_peek(&ring.consumer, &f) == EDGEFN_RING_CLOSED);
}

TEST_CASE("a consumer waiting on an empty ring times out", "[ring][doorbell]") {
  Ring ring(4096);
  auto start = std::chrono::steady_clock::now();
  CHECK(edgefn_ring_wait_readable(&ring.consumer, 10'000, 30'000'000) == EDGEFN_RING_TIMEOUT);
  CHECK(std::chrono::steady_clock::now() - start >= 30ms);
}

TEST_CASE("a producer wakes a consumer sleeping on the futex", "[ring][doorbell]") {
  Ring ring(4096);
  std::atomic<int> result{-100};
  std::thread consumer([&] { result = edgefn_ring_wait_readable(&ring.consumer, 0, 10'000'000'000); });
  std::this_thread::sleep_for(50ms);  // let it fall asleep; correctness does not depend on it
  auto start = std::chrono::steady_clock::now();
  REQUIRE(write_bytes(&ring.producer, "ding") == EDGEFN_RING_OK);
  consumer.join();
  CHECK(result == EDGEFN_RING_OK);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(read_bytes(&ring.consumer) == "ding");
}

TEST_CASE("closing wakes sleepers on both doorbells", "[ring][doorbell]") {
  Ring ring(4096);
  std::string max(edgefn_ring_max_payload(&ring.producer), 'x');
  for (int i = 0; i < 4; ++i) REQUIRE(write_bytes(&ring.producer, max) == EDGEFN_RING_OK);
  Ring empty(4096);
  std::atomic<int> writer{-100}, reader{-100};
  std::thread t1([&] { writer = edgefn_ring_wait_writable(&ring.producer, 100, 0, 10'000'000'000); });
  std::thread t2([&] { reader = edgefn_ring_wait_readable(&empty.consumer, 0, 10'000'000'000); });
  std::this_thread::sleep_for(50ms);
  edgefn_ring_close(&ring.consumer);
  edgefn_ring_close(&empty.producer);
  t1.join();
  t2.join();
  CHECK(writer == EDGEFN_RING_OK);
  CHECK(reader == EDGEFN_RING_OK);
  CHECK(write_bytes(&ring.producer, "x") == EDGEFN_RING_CLOSED);
}

TEST_CASE("an eventfd sleeper is woken through the fd, and arming reports ready data", "[ring][doorbell]") {
  Ring ring(4096);
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  REQUIRE(fd >= 0);
  edgefn_ring_set_fds(&ring.consumer, fd, -1);
  edgefn_ring_set_fds(&ring.producer, -1, fd);
  pollfd pfd{fd, POLLIN, 0};
  CHECK(edgefn_ring_arm_readable(&ring.consumer) == 0);
  CHECK(poll(&pfd, 1, 0) == 0);
  REQUIRE(write_bytes(&ring.producer, "one") == EDGEFN_RING_OK);
  CHECK(poll(&pfd, 1, 0) == 1);  // armed, so the producer rang
  std::uint64_t count = 0;
  CHECK(read(fd, &count, sizeof count) == 8);
  CHECK(edgefn_ring_arm_readable(&ring.consumer) == 1);  // data waiting: do not sleep
  CHECK(read_bytes(&ring.consumer) == "one");
  REQUIRE(write_bytes(&ring.producer, "two") == EDGEFN_RING_OK);
  CHECK(poll(&pfd, 1, 0) == 0);  // not armed: no syscall, no ring

  std::atomic<int> result{-100};
  read_bytes(&ring.consumer);
  std::thread consumer([&] { result = edgefn_ring_wait_readable(&ring.consumer, 0, 10'000'000'000); });
  std::this_thread::sleep_for(50ms);
  REQUIRE(write_bytes(&ring.producer, "three") == EDGEFN_RING_OK);
  consumer.join();
  CHECK(result == EDGEFN_RING_OK);
  close(fd);
}

TEST_CASE("a consumer armed on its bell is woken through it; a futex sleeper beside it is not disturbed",
          "[ring][doorbell][bell]") {
  Ring ring(4096);
  int bell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  REQUIRE(bell >= 0);
  edgefn_ring_set_bell(&ring.producer, bell);
  edgefn_ring_set_bell(&ring.consumer, bell);
  pollfd pfd{bell, POLLIN, 0};
  CHECK(edgefn_ring_spin_arm_bell(&ring.consumer, 0) == 0);  // empty: armed
  CHECK(poll(&pfd, 1, 0) == 0);
  REQUIRE(write_bytes(&ring.producer, "one") == EDGEFN_RING_OK);
  CHECK(poll(&pfd, 1, 0) == 1);  // the producer rang the bell, not the futex
  std::uint64_t count = 0;
  CHECK(read(bell, &count, sizeof count) == 8);
  edgefn_ring_disarm_bell(&ring.consumer);
  CHECK(edgefn_ring_spin_arm_bell(&ring.consumer, 0) == 1);  // data waiting: do not sleep
  CHECK(read_bytes(&ring.consumer) == "one");

  // The same ring, now a thread sleeping on the futex: disarming the bell
  // must not clear its word, and the producer wakes it with futex_wake.
  std::atomic<int> result{-100};
  std::thread consumer([&] { result = edgefn_ring_wait_readable(&ring.consumer, 0, 10'000'000'000); });
  std::this_thread::sleep_for(50ms);  // let it fall asleep; correctness does not depend on it
  edgefn_ring_disarm_bell(&ring.consumer);
  REQUIRE(write_bytes(&ring.producer, "two") == EDGEFN_RING_OK);
  consumer.join();
  CHECK(result == EDGEFN_RING_OK);
  CHECK(poll(&pfd, 1, 0) == 0);
  CHECK(read_bytes(&ring.consumer) == "two");

  CHECK(edgefn_ring_spin_arm_bell(&ring.consumer, 0) == 0);
  edgefn_ring_close(&ring.producer);  // a close rings it too
  CHECK(poll(&pfd, 1, 0) == 1);
  close(bell);
}

TEST_CASE("an endpoint takes a bell only when the segment offers one", "[ring][endpoint][bell]") {
  for (std::uint32_t flags : {0u, static_cast<std::uint32_t>(EDGEFN_SHM_WORKER_BELL)}) {
    std::uint64_t size = edgefn_shm_segment_size(4096);
    Memory memory(size);
    REQUIRE(edgefn_shm_format(memory.get(), size, 4096, 1024, flags, 1) == EDGEFN_RING_OK);
    edgefn_endpoint ep{};
    REQUIRE(edgefn_endpoint_attach(&ep, memory.get(), size, EDGEFN_SHM_WORKER, -1, 0) == EDGEFN_RING_OK);
    CHECK(edgefn_endpoint_set_bell(&ep, 9) == (flags ? EDGEFN_RING_OK : EDGEFN_RING_INVALID));
    CHECK(edgefn_endpoint_set_bell(&ep, -1) == EDGEFN_RING_INVALID);
  }
}

TEST_CASE("messages larger than a frame are chunked and reassembled", "[ring][message]") {
  Ring ring(4096);
  std::string head = "the head", body(10000, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7);
  edgefn_ring_msg_out out;
  edgefn_ring_msg_out_init(&out, 3, 55, head.data(), head.size(), body.data(), body.size());
  edgefn_ring_msg_in in{};
  std::string got_head, got_body;
  int rounds = 0;
  for (;;) {
    int w = edgefn_ring_msg_write(&ring.producer, &out);
    REQUIRE((w == EDGEFN_RING_OK || w == EDGEFN_RING_FULL));
    if (!in.active) {
      REQUIRE(edgefn_ring_msg_begin(&ring.consumer, &in, 1u << 20) == EDGEFN_RING_OK);
      CHECK(in.type == 3);
      CHECK(in.request_id == 55);
      got_head.resize(in.head_size);
      got_body.resize(in.body_size);
      in.head = reinterpret_cast<unsigned char*>(got_head.data());
      in.body = reinterpret_cast<unsigned char*>(got_body.data());
    }
    int r = edgefn_ring_msg_continue(&ring.consumer, &in);
    ++rounds;
    if (r == EDGEFN_RING_OK) break;
    REQUIRE(r == EDGEFN_RING_EMPTY);
  }
  CHECK(rounds > 1);  // the ring had to drain in between
  CHECK(got_head == head);
  CHECK(got_body == body);
}

TEST_CASE("an empty message is one frame and arrives", "[ring][message]") {
  Ring ring(4096);
  edgefn_ring_msg_out out;
  edgefn_ring_msg_out_init(&out, 4, 1, nullptr, 0, nullptr, 0);
  REQUIRE(edgefn_ring_msg_write(&ring.producer, &out) == EDGEFN_RING_OK);
  edgefn_ring_msg_in in{};
  REQUIRE(edgefn_ring_msg_begin(&ring.consumer, &in, 0) == EDGEFN_RING_OK);
  CHECK(in.head_size + in.body_size == 0);
  CHECK(edgefn_ring_msg_continue(&ring.consumer, &in) == EDGEFN_RING_OK);
  edgefn_ring_frame f{};
  CHECK(edgefn_ring_peek(&ring.consumer, &f) == EDGEFN_RING_EMPTY);
}

TEST_CASE("a message over the reader's limit is reported and skipped, not truncated", "[ring][message]") {
  Ring ring(1u << 16);
  std::string big(50000, 'B');
  edgefn_ring_msg_out out;
  edgefn_ring_msg_out_init(&out, 3, 8, nullptr, 0, big.data(), big.size());
  REQUIRE(edgefn_ring_msg_write(&ring.producer, &out) == EDGEFN_RING_OK);
  edgefn_ring_msg_out_init(&out, 3, 9, "ok", 2, nullptr, 0);
  REQUIRE(edgefn_ring_msg_write(&ring.producer, &out) == EDGEFN_RING_OK);
  edgefn_ring_msg_in in{};
  REQUIRE(edgefn_ring_msg_begin(&ring.consumer, &in, 1000) == EDGEFN_RING_TOO_BIG);
  CHECK(in.body_size == big.size());
  CHECK(edgefn_ring_msg_continue(&ring.consumer, &in) == EDGEFN_RING_OK);  // NULL buffers: discarded
  REQUIRE(edgefn_ring_msg_begin(&ring.consumer, &in, 1000) == EDGEFN_RING_OK);
  CHECK(in.request_id == 9);
}

TEST_CASE("a continuation frame without its FIRST is a protocol error", "[ring][message]") {
  Ring ring(4096);
  REQUIRE(write_bytes(&ring.producer, "orphan", 1, 3, EDGEFN_FRAME_LAST) == EDGEFN_RING_OK);
  edgefn_ring_msg_in in{};
  CHECK(edgefn_ring_msg_begin(&ring.consumer, &in, 1000) == EDGEFN_RING_PROTOCOL);
}

TEST_CASE("endpoints check the control block and enforce the message limit", "[ring][endpoint]") {
  Pair pair(4096, 1000);
  edgefn_endpoint ep{};
  CHECK(edgefn_endpoint_attach(&ep, pair.memory.get(), pair.memory.size, EDGEFN_SHM_WORKER, 5, 0) ==
        EDGEFN_RING_INVALID);  // the segment says the daemon sleeps on the futex
  CHECK(edgefn_endpoint_attach(&ep, pair.memory.get(), 4096, EDGEFN_SHM_WORKER, -1, 0) == EDGEFN_RING_PROTOCOL);
  std::string body(1001, 'x');
  CHECK(edgefn_endpoint_send(&pair.daemon, 2, 1, nullptr, 0, body.data(), body.size(), 0) == EDGEFN_RING_TOO_BIG);
  CHECK(edgefn_endpoint_recv_begin(&pair.worker, 0) == EDGEFN_RING_TIMEOUT);  // nothing was sent
  auto* control = static_cast<edgefn_shm_control*>(pair.memory.get());
  control->version = EDGEFN_SHM_PROTOCOL_VERSION + 1;
  CHECK(edgefn_endpoint_attach(&ep, pair.memory.get(), pair.memory.size, EDGEFN_SHM_WORKER, -1, 0) ==
        EDGEFN_RING_PROTOCOL);
}

TEST_CASE("an endpoint round trip goes both ways", "[ring][endpoint]") {
  Pair pair(4096);
  REQUIRE(edgefn_endpoint_send(&pair.daemon, 2, 17, "hd", 2, "body", 4, -1) == EDGEFN_RING_OK);
  REQUIRE(edgefn_endpoint_recv_begin(&pair.worker, -1) == EDGEFN_RING_OK);
  char head[2], body[4];
  REQUIRE(edgefn_endpoint_recv_finish(&pair.worker, head, body, -1) == EDGEFN_RING_OK);
  CHECK(std::string(head, 2) == "hd");
  CHECK(std::string(body, 4) == "body");
  REQUIRE(edgefn_endpoint_send(&pair.worker, 3, 17, nullptr, 0, "ok", 2, -1) == EDGEFN_RING_OK);
  REQUIRE(edgefn_endpoint_recv_begin(&pair.daemon, -1) == EDGEFN_RING_OK);
  CHECK(pair.daemon.in.type == 3);
  CHECK(pair.daemon.in.request_id == 17);
}
