#include "runtime/python/python_settings.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <system_error>

#include "build/function_build.hpp"
#include "config/config_error.hpp"
#include "runtime/handler_environment.hpp"
#include "runtime/python/python_handler_check.hpp"
#include "util/json.hpp"
#include "util/memfd.hpp"


namespace edgefn {
namespace {

namespace fs = std::filesystem;

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

// As `source bin/activate` does: the environment's bin/ first on PATH, so
// that a handler finds the tools its packages installed, as in Nuclio's
// image, and VIRTUAL_ENV for those that ask.
void activate_environment(Environment& environment, const fs::path& venv) {
  const std::string path = (venv / "bin").string() + ":" + handler_path(environment);
  auto set = [&](const std::string& name, const std::string& value) {
    auto it = std::find_if(environment.begin(), environment.end(), [&](const auto& e) { return e.first == name; });
    if (it != environment.end()) {
      it->second = value;
    } else {
      environment.emplace_back(name, value);
    }
  };
  set("PATH", path);
  set("VIRTUAL_ENV", venv.string());
  std::sort(environment.begin(), environment.end());
}

std::string missing_module_hint(const FunctionConfig& config, const PythonInterpreter& chosen) {
  const std::string build = "`processor build --config " + config.file.string() + "`";
  if (chosen.built) {
    return "it is not installed in " + function_environment(config).venv.string() +
           ": add its install (e.g. pip install) to spec.build.commands and run " + build + " again";
  }
  if (!config.build_commands.empty()) {
    return "spec.build.commands have not been run; " + build + " installs what they list";
  }
  return "it is not installed for " + chosen.path + ": list its install (e.g. pip install) in spec.build.commands "
         "and run " + build + ", which installs it in an environment of the function's own";
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

PythonInterpreter choose_python_interpreter(const FunctionConfig& config, const Environment& environment,
                                            std::string_view path, bool use_built) {
  if (use_built) {
    if (auto built = built_python(config); !built.empty())
      return {built.string(), "the environment `processor build` made", {}, true};
  }
  if (auto exe = std::string(find_env(environment, "NUCLIO_PYTHON_EXE_PATH")); !exe.empty()) {
    fs::path p = exe;
    if (p.is_relative()) p = find_on_path(exe, path);
    if (p.empty() || ::access(p.c_str(), X_OK) != 0)
      throw StartError("NUCLIO_PYTHON_EXE_PATH='" + exe + "' is not an executable file");
    return {p.string(), "NUCLIO_PYTHON_EXE_PATH", {}};
  }
  const auto version = config.runtime_version();
  if (!version.empty()) {
    if (auto p = find_on_path("python" + version, path); !p.empty()) return {p.string(), "spec.runtime", {}};
  }
  if (auto p = find_on_path("python3", path); !p.empty()) {
    PythonInterpreter chosen{p.string(), "python3 on PATH", {}};
    if (!version.empty()) {
      // /usr/bin/python3 -> python3.11: the version without running it.
      std::error_code ec;
      const std::string target = fs::canonical(p, ec).filename().string();
      const std::string runs = !ec && target.rfind("python3.", 0) == 0 ? " (" + target.substr(6) + ")" : "";
      chosen.fallback = "spec.runtime '" + config.runtime + "': python" + version + " not found on PATH; running " +
                        p.string() + runs + " instead (install python" + version +
                        ", or set NUCLIO_PYTHON_EXE_PATH)";
    }
    return chosen;
  }
  throw StartError("spec.runtime '" + config.runtime + "': no python" + (version.empty() ? "3" : version + " or python3") +
                   " on PATH (" + std::string(path) + "); install Python 3 or set NUCLIO_PYTHON_EXE_PATH");
}

std::string resolve_python_interpreter(const FunctionConfig& config, const Environment& environment,
                                       std::string_view path) {
  return choose_python_interpreter(config, environment, path).path;
}

std::shared_ptr<PythonSettings> make_python_settings(const FunctionConfig& config, const fs::path& directory,
                                                     const FunctionUrls& function_urls) {
  auto settings = std::make_shared<PythonSettings>();
  const PythonHandlerName name = parse_python_handler(config.handler);

  settings->environment = base_environment(config, daemon_environment());
  const PythonInterpreter chosen =
      choose_python_interpreter(config, settings->environment, handler_path(settings->environment));
  settings->interpreter = chosen.path;
  if (auto version = probe_python_interpreter(chosen.path, handler_path(settings->environment)); !version) {
    // Otherwise every worker would fail to start, again and again, each
    // retry saying the same.
    throw StartError("the Python interpreter " + chosen.path + " (" + chosen.origin + ") cannot start: " +
                     version.error() +
                     (chosen.built ? "; run `processor build --config " + config.file.string() + "` to make it again"
                                   : "; check spec.runtime and NUCLIO_PYTHON_EXE_PATH"));
  }
  if (chosen.built) activate_environment(settings->environment, function_environment(config).venv);
  settings->missing_module_hint = missing_module_hint(config, chosen);

  settings->runtime = python_runtime_files(kWorkerArchiveFd, kWorkerRingHelperFd);

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

std::string missing_module_advice(const std::string& init_error, const PythonSettings& settings) {
  static constexpr std::string_view kMissing = "ModuleNotFoundError: No module named '";
  const auto at = init_error.rfind(kMissing);
  if (at == std::string::npos || settings.missing_module_hint.empty()) return {};
  const auto from = at + kMissing.size();
  const std::string module = init_error.substr(from, init_error.find('\'', from) - from);
  const std::string handler_module = settings.handler.substr(0, settings.handler.find(':'));
  if (module.empty() || module == handler_module.substr(0, handler_module.find('.'))) return {};
  return "module '" + module + "' is missing: " + settings.missing_module_hint;
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
      {"EDGEFN_RING_HELPER", s.runtime.ring_helper},
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
