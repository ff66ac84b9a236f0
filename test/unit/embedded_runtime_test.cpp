// The Python runtime embedded in the binary: what was linked in, and the
// memfds workers get it from.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "config/config_error.hpp"
#include "runtime/python/embedded_runtime.hpp"

using namespace edgefn;

namespace {

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

std::string read_all(int fd) {
  std::string out;
  char buffer[65536];
  for (off_t at = 0;;) {
    const auto n = ::pread(fd, buffer, sizeof buffer, at);
    if (n <= 0) return out;
    out.append(buffer, static_cast<std::size_t>(n));
    at += n;
  }
}

}  // namespace

TEST_CASE("the binary holds the runtime's archive and the ring helper") {
  const auto archive = embedded_python_archive();
  REQUIRE(archive.size() > 1000);
  CHECK(archive.substr(0, 4) == std::string_view("PK\x03\x04", 4));
  CHECK(archive.find("__main__.py") != std::string_view::npos);
  CHECK(archive.find("nuclio_sdk/__init__.py") != std::string_view::npos);
  const auto helper = embedded_ring_helper();
  REQUIRE(helper.size() > 1000);
  CHECK(helper.substr(0, 4) == std::string_view("\x7f" "ELF", 4));
}

TEST_CASE("workers get the embedded copies as sealed memfds made once per process") {
  ::unsetenv("EDGEFN_PYTHON_RUNTIME_DIR");
  ::unsetenv("EDGEFN_RING_HELPER");
  const PythonRuntimeFiles files = python_runtime_files(7, 8);
  CHECK(files.worker_main == "/proc/self/fd/7");
  CHECK(files.import_path == "/proc/self/fd/7");
  CHECK(files.ring_helper == "/proc/self/fd/8");
  REQUIRE(files.fds.size() == 2);
  CHECK(files.fds[0].as == 7);
  CHECK(files.fds[1].as == 8);
  CHECK(read_all(files.fds[0].fd) == embedded_python_archive());
  CHECK(read_all(files.fds[1].fd) == embedded_ring_helper());
  for (const auto& passed : files.fds) {
    const int seals = ::fcntl(passed.fd, F_GET_SEALS);
    CHECK((seals & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) ==
          (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
    // Only a child that is given them gets them.
    CHECK((::fcntl(passed.fd, F_GETFD) & FD_CLOEXEC) != 0);
  }
  const PythonRuntimeFiles again = python_runtime_files(4, -1);
  REQUIRE(again.fds.size() == 1);
  CHECK(again.fds[0].fd == files.fds[0].fd);
  CHECK(again.fds[0].as == 4);
  CHECK(again.ring_helper.empty());
}

TEST_CASE("EDGEFN_PYTHON_RUNTIME_DIR and EDGEFN_RING_HELPER use files on disk") {
  SECTION("a directory without the runtime is refused with the variable's name") {
    ScopedEnv dir("EDGEFN_PYTHON_RUNTIME_DIR", "/nonexistent/runtime");
    CHECK_THROWS_WITH(python_runtime_files(7, 8),
                      Catch::Contains("EDGEFN_PYTHON_RUNTIME_DIR=/nonexistent/runtime does not hold"));
  }
  SECTION("a helper on disk is passed by path, the archive still embedded") {
    ScopedEnv helper("EDGEFN_RING_HELPER", "/proc/self/exe");
    const PythonRuntimeFiles files = python_runtime_files(7, 8);
    CHECK(files.ring_helper == "/proc/self/exe");
    REQUIRE(files.fds.size() == 1);
    CHECK(files.fds[0].as == 7);
  }
}
