#pragma once
// Finding a native handler: a .so in the function directory, loaded and
// checked against the ABI, or a builtin. Apart from the runtime that calls
// it, so that `processor validate` and config loading need no more than this.
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <edgefn/handler.h>

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

}  // namespace edgefn
