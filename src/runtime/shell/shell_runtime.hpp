#pragma once
// The shell runtime: one process per event. The command comes from
// spec.handler (see resolve_shell_command), its arguments from
// runtimeAttributes.arguments, or from the X-Nuclio-Arguments header when
// runtimeAttributes.allowArgumentsHeader is true, split without a shell.
// With spec.build.functionSourceCode the command runs that script, written
// to a private file (ShellSourceFile). The event body streams to its stdin
// while its output is read: stdout and stderr share one pipe, so the
// response body is both, interleaved as written (Nuclio's CombinedOutput),
// up to maxOutputSize; with runtimeAttributes.logStderr stderr is logged
// line by line instead. All of it on the daemon's io_context; the fork and
// exec happen on the spawner thread (process/spawner.hpp), so nothing
// blocks an I/O thread.
//
// Outcomes: exit 0 -> 200 with runtimeAttributes.responseHeaders and
// contentType; any other exit or a signal -> 500 with Nuclio's body
// (shell_failure_body: the exit, then the output) and Content-Type
// text/plain; charset=utf-8; too much output -> 500; an unparsable
// X-Nuclio-Arguments -> 400;
// X-Nuclio-Arguments without allowArgumentsHeader -> 403 (counted);
// a process that could not be started -> RuntimeError kCrashed.
// abandon() (event timeout) and stop() SIGTERM the process group, then
// SIGKILL it after the termination timeout; stop()'s done comes when the
// group is gone. Every process is reaped. A shell handler runs with the
// default signal dispositions: a signal sent to every process at once (a
// control-group kill) reaches it too, which is why the systemd unit uses
// KillMode=mixed.
#include <chrono>
#include <memory>

#include "metrics/metrics.hpp"
#include "process/credentials.hpp"
#include "runtime/runtime.hpp"
#include "runtime/shell/shell_settings.hpp"
#include "util/asio.hpp"

namespace edgefn {

// Shared, read-only, by all workers of a pool.
struct ShellSettings {
  ShellCommand command;
  std::shared_ptr<const ShellSourceFile> source;  // functionSourceCode's file, which `command` runs; may be null
  ShellAttributes attributes;
  Environment environment;                               // base_environment()
  std::filesystem::path working_directory;               // the function directory
  std::chrono::milliseconds termination_timeout{10000};  // workerTerminationTimeout
  // Requests refused for X-Nuclio-Arguments (edgefn_shell_arguments_refused_total);
  // may be null (tests).
  Counter* arguments_refused = nullptr;
  std::optional<Credentials> worker_user;  // --worker-user: handlers run as this user
};

// Builds one worker's runtime. `io` must outlive it. Start-up thread. The
// first worker of a pool (identity.id 0) logs a warning when
// allowArgumentsHeader is on.
std::unique_ptr<Runtime> make_shell_runtime(asio::io_context& io, std::shared_ptr<const ShellSettings> settings,
                                            WorkerIdentity identity);

}  // namespace edgefn
