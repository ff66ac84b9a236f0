#pragma once
// What the Python runtime is built from, resolved once at start-up: the
// interpreter, where the worker's files are, the handler module, and the
// environment every worker starts with. Kept apart from the process
// handling so that it reads like the rules it implements.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_map.hpp"
#include "config/function_config.hpp"
#include "metrics/metrics.hpp"
#include "process/credentials.hpp"
#include "process/environment.hpp"
#include "runtime/python/embedded_runtime.hpp"
#include "util/unique_fd.hpp"

namespace edgefn {

// --function-url NAME=URL, for context.platform.call_function.
using FunctionUrls = std::map<std::string, std::string>;

// spec.runtimeAttributes of a Python function: when a worker process is
// replaced by a fresh one between events (0: never), for handlers that
// leak memory.
struct PythonAttributes {
  std::uint64_t max_worker_memory = 0;      // `maxWorkerMemory`, bytes resident after an event
  std::uint64_t max_events_per_worker = 0;  // `maxEventsPerWorker`
};

// The Python runtime's spec.runtimeAttributes; defaults from PythonAttributes.
const ConfigMap& python_config_map();

// Reads and checks spec.runtimeAttributes. Throws ConfigError at the
// offending key.
PythonAttributes read_python_attributes(const FunctionConfig& config);

// Shared, read-only, by all workers of a pool.
struct PythonSettings {
  std::string interpreter;                  // absolute path
  // The worker's files and the ring helper: the copies embedded in the
  // processor, passed as memfds, or the developers' overrides on disk
  // (embedded_runtime.hpp).
  PythonRuntimeFiles runtime;
  std::filesystem::path function_directory;  // the worker's cwd; on its sys.path
  // spec.build.functionSourceCode, as a sealed memfd every worker inherits
  // and imports the module from: nothing is written to disk.
  UniqueFd source_fd;
  std::string handler;                      // module:entrypoint
  Environment environment;                  // without the per-worker EDGEFN_* variables
  FunctionUrls function_urls;
  std::string trigger_kind;    // context.trigger of the pool's (first) trigger
  std::string trigger_name;
  std::string namespace_name;  // context.platform.namespace
  bool dev_mode = false;
  // readinessTimeoutSeconds: a worker process that has not sent READY by
  // then (import and init_context included) is killed and started again.
  std::chrono::milliseconds readiness_timeout{120'000};
  // The trigger's workerTerminationTimeout: how long a recycled worker's
  // STOP may take before it is killed.
  std::chrono::milliseconds termination_timeout{10'000};
  PythonAttributes attributes;
  // Said after an import error naming a missing module: how to install it.
  std::string missing_module_hint;
  std::optional<Credentials> worker_user;  // --worker-user: workers run as this user
  // edgefn_worker_recycles_total{pool, reason}; null: not counted (tests).
  Counter* recycled_for_memory = nullptr;
  Counter* recycled_for_events = nullptr;
  // edgefn_worker_restarts_total{pool, reason} and
  // edgefn_worker_init_failures_total{runtime}; null: not counted (tests).
  struct RestartCounters {
    Counter* crashed = nullptr;      // a ready process ended on its own
    Counter* timeout = nullptr;      // killed for spec.eventTimeout
    Counter* recycled = nullptr;     // maxWorkerMemory or maxEventsPerWorker
    Counter* init_failed = nullptr;  // a start failed and is retried
    Counter* init_failures = nullptr;
  } restarts;
};

// The interpreter a Python function runs, and why that one.
struct PythonInterpreter {
  std::string path;    // absolute
  std::string origin;  // for messages: "NUCLIO_PYTHON_EXE_PATH", "python3 on PATH", ...
  // Set when spec.runtime names a version that is not installed: what runs
  // instead ("python3.9 not found on PATH; running /usr/bin/python3 (3.11)
  // instead"), for a warning.
  std::string fallback;
  bool built = false;  // the environment `processor build` made
};

// The interpreter for spec.runtime ("python", "python:3.11"): the
// function's environment made by `processor build` when there is one
// (with `use_built`); else NUCLIO_PYTHON_EXE_PATH from spec.env or the
// daemon's environment when set (as in Nuclio); else python<version> on
// `path` when a version is given and found; else python3. Throws
// StartError when none exists. Reads the filesystem.
PythonInterpreter choose_python_interpreter(const FunctionConfig& config, const Environment& environment,
                                            std::string_view path, bool use_built = true);

// choose_python_interpreter(...).path.
std::string resolve_python_interpreter(const FunctionConfig& config, const Environment& environment,
                                       std::string_view path);

// Resolves everything. Throws HandlerError (a ConfigError): handler not
// module:function, or the module's file missing (check_python_handler() in
// python_handler_check.hpp says so first, at spec.handler); StartError: no
// interpreter, runtime files missing.
// Blocking (filesystem); start-up thread.
std::shared_ptr<PythonSettings> make_python_settings(const FunctionConfig& config,
                                                     const std::filesystem::path& directory,
                                                     const FunctionUrls& function_urls);

// For an init error (a worker's traceback) ending in "ModuleNotFoundError:
// No module named 'x'" for a module other than the handler's own: "module
// 'x' is missing: " and how `processor build` installs it. Else empty. Pure.
std::string missing_module_advice(const std::string& init_error, const PythonSettings& settings);

// The descriptors a worker inherits, at these numbers.
inline constexpr int kWorkerNotifyFd = 3;
inline constexpr int kWorkerSegmentFd = 4;
inline constexpr int kWorkerSourceFd = 5;
inline constexpr int kWorkerBellFd = 6;
inline constexpr int kWorkerArchiveFd = 7;     // the embedded runtime (embedded_runtime.hpp)
inline constexpr int kWorkerRingHelperFd = 8;

// The worker's environment as "NAME=value" strings: settings.environment,
// then the EDGEFN_* variables edgefn_worker.py reads (which win over any of
// the same name). Pure; any thread.
std::vector<std::string> worker_environment(const PythonSettings& settings, int worker_id);

}  // namespace edgefn
