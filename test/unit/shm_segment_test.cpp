// Segments (names, mode 0600, removal, stale cleanup) and the two-process
// ring stress test over a real segment.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <string>

#include <catch2/catch.hpp>

#include "../support/ring_stress.hpp"
#include "shm/segment.hpp"

namespace {

namespace fs = std::filesystem;
using edgefn::shm::Segment;

bool exists_in_dev_shm(const std::string& name) { return fs::exists(fs::path("/dev/shm") / name); }

// A pid that existed and is now gone: a child that has been reaped.
pid_t dead_pid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  return pid;
}

void create_raw_segment(const std::string& name) {
  int fd = shm_open(("/" + name).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  REQUIRE(fd >= 0);
  close(fd);
}

}  // namespace

TEST_CASE("segments are named edgefn-<pid>-<label>-<random> and created with mode 0600", "[shm][segment]") {
  // With umask 0 a default mode (Boost's 0644) would show: the 0600 must be
  // passed explicitly.
  mode_t old_mask = umask(0);
  Segment segment = Segment::create("http/api 0", 65536);
  umask(old_mask);
  std::regex pattern("edgefn-" + std::to_string(getpid()) + "-http_api_0-[0-9a-f]{16}");
  CHECK(std::regex_match(segment.name(), pattern));
  struct stat st {};
  REQUIRE(stat(("/dev/shm/" + segment.name()).c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(st.st_size == 65536);
  CHECK(segment.size() == 65536);
  CHECK(static_cast<unsigned char*>(segment.data())[65535] == 0);
}

TEST_CASE("a segment is removed when its creator goes, not when an opener does", "[shm][segment]") {
  std::string name;
  {
    Segment created = Segment::create("w", 4096);
    name = created.name();
    static_cast<char*>(created.data())[10] = 'x';
    {
      Segment opened = Segment::open(name);
      CHECK(static_cast<char*>(opened.data())[10] == 'x');
    }
    CHECK(exists_in_dev_shm(name));
    Segment moved = std::move(created);
    CHECK(exists_in_dev_shm(name));
  }
  CHECK_FALSE(exists_in_dev_shm(name));
  CHECK_THROWS_AS(Segment::open(name), edgefn::shm::ShmError);
}

TEST_CASE("segment names parse back to their daemon pid", "[shm][segment]") {
  using edgefn::shm::segment_owner;
  CHECK(segment_owner(edgefn::shm::segment_name(4242, "x", 1)) == 4242);
  CHECK(edgefn::shm::segment_name(7, "a-b", 255) == "edgefn-7-a_b-00000000000000ff");
  CHECK_FALSE(segment_owner("edgefn--x-1"));
  CHECK_FALSE(segment_owner("edgefn-12x-w-1"));
  CHECK_FALSE(segment_owner("other-12-w-1"));
  CHECK_FALSE(segment_owner("edgefn-0-w-1"));
  CHECK_FALSE(segment_owner("edgefn-123"));
}

TEST_CASE("stale segment removal takes only segments whose daemon died", "[shm][segment]") {
  std::string suffix = "-stale_test-" + std::to_string(getpid());
  std::string dead = "edgefn-" + std::to_string(dead_pid()) + suffix;
  std::string mine = "edgefn-" + std::to_string(getpid()) + suffix;
  std::string parent = "edgefn-" + std::to_string(getppid()) + suffix;
  std::string unrelated = "edgefnx-1" + suffix;
  for (const auto& name : {dead, mine, parent, unrelated}) create_raw_segment(name);

  auto removed = edgefn::shm::remove_stale_segments();

  CHECK(std::find(removed.begin(), removed.end(), dead) != removed.end());
  CHECK_FALSE(exists_in_dev_shm(dead));
  CHECK(exists_in_dev_shm(mine));
  CHECK(exists_in_dev_shm(parent));
  CHECK(exists_in_dev_shm(unrelated));
  for (const auto& name : {mine, parent, unrelated}) shm_unlink(("/" + name).c_str());
}

TEST_CASE("ring stress: two processes over a real segment, both directions", "[shm][stress][process]") {
  using edgefn::test::StressPlan;
  StressPlan small{1000000, 0, 4096, 11};
  StressPlan large{1000, 1u << 20, 8u << 20, 12};
  std::uint64_t capacity = 1u << 20;
  Segment segment = Segment::create("stress", edgefn_shm_segment_size(capacity));
  int notify = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  REQUIRE(notify >= 0);
  REQUIRE(edgefn_shm_format(segment.data(), segment.size(), capacity, 16u << 20, EDGEFN_SHM_DAEMON_EVENTFD, getpid()) ==
          EDGEFN_RING_OK);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The worker: maps the segment by name as a worker process would, checks
    // everything the daemon sends, then sends the same plans back.
    int code = 1;
    try {
      Segment mapped = Segment::open(segment.name());
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
