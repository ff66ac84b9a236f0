#include "runtime/python/embedded_runtime.hpp"

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "config/config_error.hpp"
#include "util/memfd.hpp"
#include "util/unique_fd.hpp"

// Defined by the generated embedded_python_runtime.c (CMakeLists.txt).
extern "C" {
extern const unsigned char edgefn_python_archive_begin[];
extern const unsigned char edgefn_python_archive_end[];
extern const unsigned char edgefn_ring_helper_begin[];
extern const unsigned char edgefn_ring_helper_end[];
}

namespace edgefn {
namespace {

namespace fs = std::filesystem;

std::string_view bytes_between(const unsigned char* begin, const unsigned char* end) {
  // Two symbols of one section, not one array: compared as addresses.
  const auto size = reinterpret_cast<std::uintptr_t>(end) - reinterpret_cast<std::uintptr_t>(begin);
  return {reinterpret_cast<const char*>(begin), static_cast<std::size_t>(size)};
}

const char* override_variable(const char* name) {
  const char* value = std::getenv(name);
  return value && *value ? value : nullptr;
}

struct EmbeddedFds {
  UniqueFd archive;
  UniqueFd ring_helper;
};

// Made once: every worker of every pool, and every generation after a
// reload, shares the same two read-only files.
const EmbeddedFds& embedded_fds() {
  static const EmbeddedFds fds = [] {
    try {
      return EmbeddedFds{sealed_memfd("edgefn-python-runtime", embedded_python_archive()),
                         sealed_memfd("edgefn-ring-helper", embedded_ring_helper())};
    } catch (const std::system_error& e) {
      throw StartError(std::string("cannot hold the embedded Python runtime in memory: ") + e.what());
    }
  }();
  return fds;
}

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

void require_proc() {
  if (::access("/proc/self/fd", X_OK) != 0)
    throw StartError("/proc is not mounted: Python workers open the runtime embedded in the processor through "
                     "/proc/self/fd (mount /proc, or set EDGEFN_PYTHON_RUNTIME_DIR)");
}

}  // namespace

std::string_view embedded_python_archive() {
  return bytes_between(edgefn_python_archive_begin, edgefn_python_archive_end);
}

std::string_view embedded_ring_helper() { return bytes_between(edgefn_ring_helper_begin, edgefn_ring_helper_end); }

PythonRuntimeFiles python_runtime_files(int archive_as, int helper_as) {
  PythonRuntimeFiles files;
  std::error_code ec;
  if (const char* dir = override_variable("EDGEFN_PYTHON_RUNTIME_DIR")) {
    const fs::path directory = dir;
    if (!fs::is_regular_file(directory / "edgefn_worker.py", ec) ||
        !fs::is_regular_file(directory / "nuclio_sdk" / "__init__.py", ec))
      throw StartError("EDGEFN_PYTHON_RUNTIME_DIR=" + directory.string() +
                       " does not hold the Python runtime's files (edgefn_worker.py, nuclio_sdk/); unset it to use "
                       "the ones built into the processor");
    files.import_path = directory.string();
    files.worker_main = (directory / "edgefn_worker.py").string();
  } else {
    require_proc();
    files.import_path = files.worker_main = fd_path(archive_as);
    files.fds.push_back({embedded_fds().archive.get(), archive_as});
  }
  if (helper_as < 0) return files;
  if (const char* helper = override_variable("EDGEFN_RING_HELPER")) {
    if (!fs::is_regular_file(helper, ec))
      throw StartError(std::string("EDGEFN_RING_HELPER=") + helper +
                       " is not a file; unset it to use the ring helper built into the processor");
    files.ring_helper = helper;
  } else {
    require_proc();
    files.ring_helper = fd_path(helper_as);
    files.fds.push_back({embedded_fds().ring_helper.get(), helper_as});
  }
  return files;
}

}  // namespace edgefn
