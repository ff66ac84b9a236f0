#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "process/resident_memory.hpp"
#include "process/spawner.hpp"

using namespace edgefn;

TEST_CASE("statm text gives the resident pages in bytes") {
  CHECK(statm_resident_bytes("7654 321 100 10 0 500 0\n", 4096) == 321u * 4096);
  CHECK(statm_resident_bytes("1 0 0 0 0 0 0", 4096) == 0u);
  CHECK_FALSE(statm_resident_bytes("", 4096).has_value());
  CHECK_FALSE(statm_resident_bytes("7654", 4096).has_value());
  CHECK_FALSE(statm_resident_bytes("7654 x 1", 4096).has_value());
}

TEST_CASE("resident memory reads a live process and nothing once it has ended") {
  ResidentMemory self(::getpid());
  REQUIRE(self.valid());
  const auto now = self.bytes();
  REQUIRE(now.has_value());
  CHECK(*now > 0);

  // A process that touches 32 MiB, then waits for its stdin to close.
  SpawnRequest toucher;
  toucher.argv = {"/usr/bin/python3", "-c",
                  "import sys; b = b'x' * (32 << 20); print('ok', flush=True); sys.stdin.read()"};
  toucher.working_directory = "/";
  auto spawned = spawn_blocking(std::move(toucher));
  REQUIRE(spawned.child.has_value());
  auto child = spawned.child.value();
  ResidentMemory memory(child->pid());
  REQUIRE(memory.valid());
  char ok[3] = {};
  int flags = ::fcntl(spawned.pipes.stdout_read.get(), F_GETFL);
  ::fcntl(spawned.pipes.stdout_read.get(), F_SETFL, flags & ~O_NONBLOCK);
  REQUIRE(::read(spawned.pipes.stdout_read.get(), ok, 2) == 2);
  const auto big = memory.bytes();
  REQUIRE(big.has_value());
  CHECK(*big > (32u << 20));

  spawned.pipes.stdin_write = UniqueFd();
  child->reap();
  CHECK_FALSE(memory.bytes().has_value());
}
