// Segments (anonymous sealed memfds: nothing in /dev/shm, no resizing by
// the worker) and the two-process ring stress test over a real segment.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "../support/ring_stress.hpp"
#include "shm/segment.hpp"

namespace {

namespace fs = std::filesystem;
using edgefn::shm::Segment;

std::set<std::string> dev_shm() {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/dev/shm", ec)) names.insert(entry.path().filename().string());
  return names;
}

}  // namespace

TEST_CASE("a segment is an anonymous memfd: zeroed, private, and never in /dev/shm", "[shm][segment]") {
  const auto before = dev_shm();
  Segment segment = Segment::create(65536);
  CHECK(dev_shm() == before);
  REQUIRE(segment.size() == 65536);
  const auto* bytes = static_cast<const unsigned char*>(segment.data());
  CHECK(std::all_of(bytes, bytes + segment.size(), [](unsigned char b) { return b == 0; }));
  CHECK((fcntl(segment.fd(), F_GETFD) & FD_CLOEXEC) != 0);
  // Another mapping of the same descriptor sees the same bytes.
  Segment mapped = Segment::map(segment.fd());
  static_cast<char*>(segment.data())[100] = 'x';
  CHECK(static_cast<const char*>(mapped.data())[100] == 'x');
}

TEST_CASE("a worker cannot resize the segment under the daemon", "[shm][segment]") {
  // An unsealed memfd could be truncated by the worker, and the daemon would
  // die of SIGBUS on its next access to the mapping.
  Segment segment = Segment::create(8192);
  const int seals = fcntl(segment.fd(), F_GET_SEALS);
  CHECK((seals & F_SEAL_SHRINK) != 0);
  CHECK((seals & F_SEAL_GROW) != 0);
  CHECK((seals & F_SEAL_SEAL) != 0);
  CHECK(ftruncate(segment.fd(), 0) == -1);
  CHECK(errno == EPERM);
  CHECK(ftruncate(segment.fd(), 1 << 20) == -1);
  CHECK(fcntl(segment.fd(), F_ADD_SEALS, F_SEAL_WRITE) == -1);  // nor take the daemon's writes away
  static_cast<char*>(segment.data())[8191] = 1;  // still mapped, still writable
  struct stat st {};
  REQUIRE(fstat(segment.fd(), &st) == 0);
  CHECK(st.st_size == 8192);
}

TEST_CASE("ring stress: two processes over a real segment, both directions", "[shm][stress][process]") {
  using edgefn::test::StressPlan;
  StressPlan small{1000000, 0, 4096, 11};
  StressPlan large{1000, 1u << 20, 8u << 20, 12};
  std::uint64_t capacity = 1u << 20;
  Segment segment = Segment::create(edgefn_shm_segment_size(capacity));
  int notify = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  REQUIRE(notify >= 0);
  REQUIRE(edgefn_shm_format(segment.data(), segment.size(), capacity, 16u << 20, EDGEFN_SHM_DAEMON_EVENTFD, getpid()) ==
          EDGEFN_RING_OK);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The worker: maps the inherited descriptor as a worker process would,
    // checks everything the daemon sends, then sends the same plans back.
    int code = 1;
    try {
      Segment mapped = Segment::map(segment.fd());
      edgefn_endpoint ep;
      if (edgefn_endpoint_attach(&ep, mapped.data(), mapped.size(), EDGEFN_SHM_WORKER, notify, 50'000) == 0) {
        std::string error = edgefn::test::stress_receive(&ep, small);
        if (error.empty()) error = edgefn::test::stress_receive(&ep, large);
        if (error.empty()) error = edgefn::test::stress_send(&ep, small, 3);
        if (error.empty()) error = edgefn::test::stress_send(&ep, large, 3);
        if (!error.empty()) fprintf(stderr, "worker: %s\n", error.c_str());
        code = error.empty() ? 0 : 2;
      }
    } catch (...) {
      code = 3;
    }
    _exit(code);
  }
  edgefn_endpoint ep;
  REQUIRE(edgefn_endpoint_attach(&ep, segment.data(), segment.size(), EDGEFN_SHM_DAEMON, notify, 50'000) ==
          EDGEFN_RING_OK);
  std::string error = edgefn::test::stress_send(&ep, small);
  if (error.empty()) error = edgefn::test::stress_send(&ep, large);
  if (error.empty()) error = edgefn::test::stress_receive(&ep, small, 3);
  if (error.empty()) error = edgefn::test::stress_receive(&ep, large, 3);
  if (!error.empty()) edgefn_endpoint_close(&ep);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  close(notify);
  CHECK(error == "");
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
