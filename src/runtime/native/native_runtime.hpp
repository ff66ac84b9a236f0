#pragma once
// The native runtime: a C-ABI handler (include/edgefn/handler.h) called
// in-process, from a .so found in the function directory or compiled in as a
// builtin ("builtin:echo"). Both take the same path: the same event view,
// the same host callbacks, the same response mapping.
#include <filesystem>
#include <memory>
#include <string>

#include <edgefn/handler.h>

#include "host/host_services.hpp"
#include "runtime/runtime.hpp"
#include "util/asio.hpp"

namespace edgefn {

// A resolved handler: a loaded library (kept open while any worker uses it)
// or a builtin, plus its optional per-worker hooks.
struct NativeHandler {
  std::string name;  // "libhello.so:handle" or "builtin:echo", for logs
  std::shared_ptr<void> library;  // dlopen handle; null for builtins
  edgefn_handle_fn handle = nullptr;
  edgefn_worker_init_fn init = nullptr;
  edgefn_worker_shutdown_fn shutdown = nullptr;
  bool blocking_by_default = false;  // builtin:sleep
};

// Resolves `spec.handler` ("lib.so:symbol" or "builtin:name") against the
// function directory, loading the library (RTLD_NOW | RTLD_LOCAL: its
// constructors run). Throws HandlerError (a ConfigError) for a malformed
// value, a missing or unloadable file, a missing symbol, a missing or
// different ABI version, or an unknown builtin.
NativeHandler load_native_handler(const std::string& handler, const std::filesystem::path& directory);

// The builtins compiled into the binary; nullptr if `name` is unknown.
const NativeHandler* find_builtin(std::string_view name);
// "echo, hello, sleep": for error messages.
std::string builtin_names();

struct NativeSettings {
  NativeHandler handler;
  bool blocking = false;  // runtimeAttributes.blocking: run on a thread of its own
  WorkerIdentity identity;
  std::string trigger_name;
  asio::io_context* io = nullptr;  // completions and the stop timer; required
  HostServices* host = nullptr;    // publish(); null: no outputs
};

// Builds one worker's runtime. Start-up thread.
//
// A blocking handler runs on a thread of the worker's own, which owns
// everything it touches (the job, the handler's state, the library): when
// stop() gives up on a handler that never returns, the thread is left
// behind and may finish at any later time without touching anything
// freed. Its event is then answered kStopping, and its shutdown hook runs
// on that thread once the handler returns.
std::unique_ptr<Runtime> make_native_runtime(NativeSettings settings);

}  // namespace edgefn
