#include "runtime/python/python_settings.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <system_error>

#include "config/config_error.hpp"
#include "runtime/handler_environment.hpp"
#include "runtime/python/python_handler_check.hpp"
#include "util/json.hpp"
#include "util/memfd.hpp"


namespace edgefn {
namespace {

namespace fs = std::filesystem;

// The directory of the running executable: bin/ in the build tree and when
// installed, so the runtime files are found without configuration.
fs::path executable_directory() {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path{} : self.parent_path();
}

ConfigMap make_python_map() {
  const PythonAttributes defaults;
  ConfigMap map{"python", "spec.runtimeAttributes", {}, {}};
  map.keys = {
      {.name = "maxWorkerMemory",
       .type = KeyType::kInteger,
       .default_value = default_text(defaults.max_worker_memory),
       .default_note = "no limit",
       .help = "bytes: a worker whose resident memory is above this after an event is replaced by a fresh one "
               "before the next (its termination callback runs); for handlers that leak"},
      {.name = "maxEventsPerWorker",
       .type = KeyType::kInteger,
       .default_value = default_text(defaults.max_events_per_worker),
       .default_note = "never",
       .help = "a worker is replaced by a fresh one after this many events"},
  };
  add_ignored(map, {"arguments"}, "interpreter arguments: edgefn starts its worker itself");
  return map;
}

}  // namespace

const ConfigMap& python_config_map() {
  static const ConfigMap map = make_python_map();
  return map;
}

PythonAttributes read_python_attributes(const FunctionConfig& config) {
  PythonAttributes result;
  if (!config.runtime_attributes || !config.runtime_attributes->defined()) return result;
  const auto& attrs = *config.runtime_attributes;
  if (!attrs.is_map()) attrs.fail("expected a mapping");
  const ConfigMap& map = python_config_map();
  attrs.check_keys(map);
  result.max_worker_memory = static_cast<std::uint64_t>(
      attrs.get_int(map.at("maxWorkerMemory"), static_cast<std::int64_t>(result.max_worker_memory)));
  result.max_events_per_worker = static_cast<std::uint64_t>(
      attrs.get_int(map.at("maxEventsPerWorker"), static_cast<std::int64_t>(result.max_events_per_worker)));
  return result;
}

std::string resolve_python_interpreter(const FunctionConfig& config, const Environment& environment,
                                       std::string_view path) {
  if (auto exe = std::string(find_env(environment, "NUCLIO_PYTHON_EXE_PATH")); !exe.empty()) {
    fs::path p = exe;
    if (p.is_relative()) p = find_on_path(exe, path);
    if (p.empty() || ::access(p.c_str(), X_OK) != 0)
      throw StartError("NUCLIO_PYTHON_EXE_PATH='" + exe + "' is not an executable file");
    return p.string();
  }
  const auto version = config.runtime_version();
  if (!version.empty()) {
    if (auto p = find_on_path("python" + version, path); !p.empty()) return p.string();
  }
  if (auto p = find_on_path("python3", path); !p.empty()) return p.string();
  throw StartError("spec.runtime '" + config.runtime + "': no python" + (version.empty() ? "3" : version + " or python3") +
                   " on PATH (" + std::string(path) + "); install Python 3 or set NUCLIO_PYTHON_EXE_PATH");
}

fs::path python_runtime_directory() {
  if (const char* dir = std::getenv("EDGEFN_PYTHON_RUNTIME_DIR"); dir && *dir) return dir;
  return (executable_directory() / ".." / "share" / "edgefn" / "runtimes" / "python").lexically_normal();
}

fs::path ring_helper_path() {
  if (const char* helper = std::getenv("EDGEFN_RING_HELPER"); helper && *helper) return helper;
  return (executable_directory() / ".." / "lib" / "libedgefn_ring.so").lexically_normal();
}

std::shared_ptr<PythonSettings> make_python_settings(const FunctionConfig& config, const fs::path& directory,
                                                     const FunctionUrls& function_urls) {
  auto settings = std::make_shared<PythonSettings>();
  const PythonHandlerName name = parse_python_handler(config.handler);

  settings->environment = base_environment(config, daemon_environment());
  settings->interpreter =
      resolve_python_interpreter(config, settings->environment, handler_path(settings->environment));

  const auto runtime_dir = python_runtime_directory();
  settings->worker_script = runtime_dir / "edgefn_worker.py";
  std::error_code ec;
  if (!fs::is_regular_file(settings->worker_script, ec) || !fs::is_regular_file(runtime_dir / "nuclio_sdk" / "__init__.py", ec))
    throw StartError("the Python runtime files are missing from " + runtime_dir.string() +
                     " (reinstall edgefn, or set EDGEFN_PYTHON_RUNTIME_DIR)");
  settings->ring_helper = ring_helper_path();
  if (!fs::is_regular_file(settings->ring_helper, ec))
    throw StartError("the shm ring helper " + settings->ring_helper.string() +
                     " is missing (reinstall edgefn, or set EDGEFN_RING_HELPER)");

  settings->function_directory = directory;
  if (!config.function_source_code.empty()) {
    settings->source_fd = sealed_memfd("edgefn-source", config.function_source_code);
  } else {
    require_python_module(directory, name);
  }
  settings->handler = config.handler;
  settings->function_urls = function_urls;
  settings->readiness_timeout = config.readiness_timeout;
  settings->attributes = read_python_attributes(config);
  return settings;
}

std::vector<std::string> worker_environment(const PythonSettings& s, int worker_id) {
  JsonWriter urls;
  urls.begin_object();
  for (const auto& [name, url] : s.function_urls) urls.key(name).value(url);
  urls.end_object();
  return execve_environment(s.environment, {
      {"EDGEFN_SHM_FD", std::to_string(kWorkerSegmentFd)},
      {"EDGEFN_SHM_NOTIFY_FD", std::to_string(kWorkerNotifyFd)},
      {"EDGEFN_SHM_BELL_FD", std::to_string(kWorkerBellFd)},
      {"EDGEFN_RING_HELPER", s.ring_helper.string()},
      {"EDGEFN_HANDLER", s.handler},
      {"EDGEFN_FUNCTION_DIR", s.function_directory.string()},
      {"EDGEFN_SOURCE_FD", s.source_fd ? std::to_string(kWorkerSourceFd) : std::string{}},
      {"EDGEFN_WORKER_ID", std::to_string(worker_id)},
      {"EDGEFN_TRIGGER_KIND", s.trigger_kind},
      {"EDGEFN_TRIGGER_NAME", s.trigger_name},
      {"EDGEFN_FUNCTION_NAMESPACE", s.namespace_name},
      {"EDGEFN_DEV", s.dev_mode ? "1" : "0"},
      {"EDGEFN_FUNCTION_URLS", urls.take()},
  });
}

}  // namespace edgefn
