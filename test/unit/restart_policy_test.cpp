// When the Python runtime starts a worker's process again.
#include <catch2/catch.hpp>

#include "runtime/python/restart_policy.hpp"

using namespace std::chrono_literals;
using edgefn::python::RestartPolicy;

TEST_CASE("failed starts back off from 1 s, doubling up to 30 s, until a READY") {
  RestartPolicy p;
  CHECK(p.next_failed_start() == 1s);
  std::vector<std::chrono::milliseconds> waits;
  for (int i = 0; i < 8; ++i) waits.push_back(p.failed_start());
  CHECK(waits == std::vector<std::chrono::milliseconds>{1s, 2s, 4s, 8s, 16s, 30s, 30s, 30s});
  CHECK(p.failed_starts() == 8);
  p.ready();
  CHECK(p.failed_starts() == 0);
  CHECK(p.failed_start() == 1s);
}

TEST_CASE("a process that dies after READY is replaced at once, quick deaths in a row back off") {
  RestartPolicy p;
  CHECK(p.ended_after_ready(50ms, false) == 0ms);
  CHECK(p.ended_after_ready(50ms, false) == 1s);
  CHECK(p.ended_after_ready(50ms, false) == 2s);
  CHECK(p.ended_after_ready(9s, false) == 4s);
  CHECK(p.quick_deaths() == 4);
  // A process that lived past the stable time resets the count.
  CHECK(p.ended_after_ready(RestartPolicy::kStableAfter + 1s, false) == 0ms);
  CHECK(p.quick_deaths() == 0);
  CHECK(p.ended_after_ready(1ms, false) == 0ms);
  // The daemon's own kills (event timeouts) are no crashes of the handler.
  for (int i = 0; i < 10; ++i) CHECK(p.ended_after_ready(1ms, true) == 0ms);
  for (int i = 0; i < 20; ++i) p.ended_after_ready(1ms, false);
  CHECK(p.ended_after_ready(1ms, false) == 30s);
}
