#pragma once
// The Python runtime: each worker keeps one long-lived interpreter process
// (runtimes/python/edgefn_worker.py) running, connected over a shm channel
// of its own (shm/channel.hpp) that speaks worker_protocol.hpp. Everything
// a worker does happens on one strand of the daemon's io_context; no thread
// waits on a process.
//
// Names: the pool's worker owns a ProcessSupervisor, which keeps one
// WorkerProcess at a time alive (an interpreter and its channel) and
// starts a new one when it ends.
//
// A WorkerProcess's life: spawn (process/spawner.hpp; SIGTERM and SIGINT
// ignored, the segment and the doorbell inherited as fds) -> HELLO -> the
// handler is imported and init_context runs -> READY: the pool learns the
// worker is ready -> events, one at a time -> STOP (the termination
// callback runs) -> exit. Bounds and retries:
// - READY must come within readinessTimeoutSeconds (default 120 s), else
//   the process is killed. INIT_FAILED, a death before READY and that
//   timeout are failed starts: retried after 1 s, doubling to 30 s; the
//   traceback is logged once, then "same error" lines.
// - A process that dies after READY is replaced at once; if the new one
//   also dies within 10 s of its READY, replacements back off the same way.
//   The event it held fails with kCrashed.
// - abandon() (spec.eventTimeout) SIGKILLs the process group, which ends
//   in a replacement.
// - Recycling (runtimeAttributes.maxEventsPerWorker, maxWorkerMemory):
//   after each answer the process's event count, and its resident memory
//   (one pread of /proc/<pid>/statm), are checked; past a limit it takes no
//   more events, gets STOP (SIGKILL after workerTerminationTimeout) and is
//   replaced at once, without counting as a crash. Logged with the reason
//   and counted in edgefn_worker_recycles_total{pool,reason}.
// - With --worker-user, the process runs as that user (process/credentials.hpp);
//   its channel and source are inherited descriptors, which need no access
//   rights of their own.
// - drain(): the drain callback runs (DRAIN) and no replacement is started
//   any more. run_drain_callbacks() (a rebalance): DRAIN to a ready
//   process, and nothing else; the worker runs the callback every time.
//   stop(): STOP, then SIGKILL of the group after the timeout.
// PUBLISH and EXPLICIT_ACK from the handler go to the host services; the
// worker's LOG frames become lines of logger "worker.<pool>.<id>" (and
// X-Nuclio-Logs); its real stdout and stderr (C extensions, the
// interpreter's own fatal errors) are logged line by line. Every line is
// bounded (OutputLines::kMaxLine): the worker cuts print() output into
// marked pieces, and the daemon cuts what still passes the bound.
#include <memory>

#include "host/host_services.hpp"
#include "runtime/python/python_settings.hpp"
#include "runtime/runtime.hpp"
#include "util/asio.hpp"

namespace edgefn {

// One worker's runtime. `io` and `host` (null: no outputs) must outlive it.
// Start-up thread.
std::unique_ptr<Runtime> make_python_runtime(asio::io_context& io, std::shared_ptr<const PythonSettings> settings,
                                             WorkerIdentity identity, HostServices* host);

}  // namespace edgefn
