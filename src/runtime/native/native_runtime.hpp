#pragma once
// The native runtime: a C-ABI handler (include/edgefn/handler.h) called
// in-process, from a .so found in the function directory or compiled in as a
// builtin ("builtin:echo"). Both take the same path: the same event view,
// the same host callbacks, the same response mapping.
#include <filesystem>
#include <memory>
#include <string>

#include "host/host_services.hpp"
#include "runtime/native/native_loader.hpp"
#include "runtime/runtime.hpp"
#include "util/asio.hpp"

namespace edgefn {

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
