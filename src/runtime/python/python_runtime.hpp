#pragma once
// The Python runtime: one long-lived interpreter process per worker
// (runtimes/python/edgefn_worker.py) connected over its own shm channel
// (shm/channel.hpp). Everything a worker does happens on one strand of the
// daemon's io_context; no thread waits on a worker.
//
// Lifecycle of a worker process ("incarnation"):
//   spawn (spawner.hpp) -> HELLO -> the worker imports the handler and runs
//   init_context -> READY (alive() turns true) -> events, one at a time ->
//   exit. The worker sends INIT_FAILED with the traceback instead of READY
//   when the import or init_context raises; it is then respawned with
//   backoff (1 s doubling to 30 s) and the traceback is logged once. A
//   worker that dies after READY is respawned at once; the event it held
//   fails with DispatchError kCrashed. abandon() (event timeout) SIGKILLs
//   its process group, which ends in the same respawn. stop() SIGTERMs the
//   worker (it runs the termination callback and exits), then SIGKILLs the
//   group after the timeout.
//
// Runtime-layer message types on the channel (codec.hpp leaves 16 and up to
// runtimes), worker -> daemon, request id 0, empty body:
//   READY (16): init_context returned; head empty.
//   INIT_FAILED (17): head = the error and traceback, UTF-8 text.
// LOG frames become lines of logger "worker.<pool>.<id>" (and X-Nuclio-Logs);
// the worker's real stdout and stderr (C extensions, the interpreter's own
// fatal errors) are logged line by line.
#include <memory>

#include "runtime/python/python_settings.hpp"
#include "runtime/runtime.hpp"
#include "util/asio.hpp"

namespace edgefn {

inline constexpr std::uint16_t kPythonReadyMessage = 16;
inline constexpr std::uint16_t kPythonInitFailedMessage = 17;

// One worker's runtime. `io` must outlive it. Start-up thread.
std::unique_ptr<Runtime> make_python_runtime(asio::io_context& io, std::shared_ptr<const PythonSettings> settings,
                                             WorkerIdentity identity);

}  // namespace edgefn
