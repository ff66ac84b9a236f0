#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "process/credentials.hpp"
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

TEST_CASE("a user is looked up by name or uid, with its groups") {
  auto root = look_up_user("root");
  REQUIRE(root.has_value());
  CHECK(root->uid == 0);
  CHECK(root->gid == 0);
  CHECK(root->name == "root");
  CHECK(describe(*root) == "root (uid 0, gid 0)");
  auto by_uid = look_up_user("0");
  REQUIRE(by_uid.has_value());
  CHECK(by_uid->name == "root");
  CHECK(std::find(root->groups.begin(), root->groups.end(), gid_t{0}) != root->groups.end());

  auto missing = look_up_user("no-such-user-edgefn");
  REQUIRE_FALSE(missing.has_value());
  CHECK_THAT(missing.error(), Catch::Contains("no user 'no-such-user-edgefn'"));
  CHECK_FALSE(look_up_user("").has_value());
}

TEST_CASE("a child spawned with credentials runs as that user", "[root]") {
  if (::geteuid() != 0) {
    WARN("skipped: changing users needs root");
    return;
  }
  auto nobody = look_up_user("nobody");
  if (!nobody) {
    WARN("skipped: no user nobody");
    return;
  }
  SpawnRequest request;
  request.argv = {"/usr/bin/id", "-u"};
  request.working_directory = "/";
  request.credentials = *nobody;
  auto spawned = spawn_blocking(std::move(request));
  REQUIRE(spawned.child.has_value());
  const int status = spawned.child.value()->reap();
  CHECK(status == 0);
  std::string out(64, '\0');
  const auto n = ::read(spawned.pipes.stdout_read.get(), out.data(), out.size());
  REQUIRE(n > 0);
  out.resize(static_cast<std::size_t>(n));
  CHECK(out == std::to_string(nobody->uid) + "\n");

  // A working directory that user cannot enter is named in the error.
  char directory[] = "/tmp/edgefn-locked-XXXXXX";
  REQUIRE(::mkdtemp(directory) != nullptr);  // mode 0700, root's
  SpawnRequest locked;
  locked.argv = {"/usr/bin/id"};
  locked.working_directory = directory;
  locked.credentials = *nobody;
  auto refused = spawn_blocking(std::move(locked));
  ::rmdir(directory);
  REQUIRE_FALSE(refused.child.has_value());
  CHECK_THAT(refused.child.error(), Catch::Contains(std::string("cannot enter ") + directory + " as user nobody") &&
                                        Catch::Contains("Permission denied"));
}
