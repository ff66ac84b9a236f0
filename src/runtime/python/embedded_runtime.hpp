#pragma once
// The Python worker's files and the ring helper are linked into the
// processor (CMakeLists.txt: a zip archive of runtimes/python made at build
// time, and the built libedgefn_ring.so, through a generated .incbin), so
// that the binary alone runs Python functions. They reach python3 without
// being written anywhere: each is a sealed memfd, made once per process,
// that a worker inherits and opens as /proc/self/fd/N, `python3
// /proc/self/fd/N` running the archive's __main__.py (zipimport puts the
// archive first on sys.path) and ctypes loading the helper from its own
// /proc/self/fd/M. A killed daemon leaves nothing behind.
//
// EDGEFN_PYTHON_RUNTIME_DIR (a directory of the runtime's files, such as
// runtimes/python of the source tree) and EDGEFN_RING_HELPER (a built
// libedgefn_ring.so) are developers' overrides that use files on disk.
#include <string>
#include <string_view>
#include <vector>

#include "process/child_process.hpp"

namespace edgefn {

// The embedded bytes, for as long as the process runs.
std::string_view embedded_python_archive();
std::string_view embedded_ring_helper();

// How a Python process started by the daemon reaches the runtime: paths it
// opens, and the descriptors to pass for them (none for files on disk).
struct PythonRuntimeFiles {
  std::string import_path;   // the archive or the override directory: on sys.path
  std::string worker_main;   // what `python3 <worker_main>` runs as the worker
  std::string ring_helper;   // what the worker loads with ctypes (EDGEFN_RING_HELPER)
  std::vector<PassedFd> fds;  // the embedded copies' memfds, at the numbers the paths name
};

// The runtime for a child that gets the archive at descriptor `archive_as`
// and the ring helper at `helper_as` (-1: not needed). The memfds are made
// at the first call and kept until the process ends, O_CLOEXEC: a child
// gets them only through SpawnRequest::pass_fds. Throws StartError when
// they cannot be made, or /proc is not mounted (the worker could not open
// them). Reads the environment and the filesystem; any
// thread. With the overrides: throws StartError when their files are
// missing.
PythonRuntimeFiles python_runtime_files(int archive_as, int helper_as);

}  // namespace edgefn
