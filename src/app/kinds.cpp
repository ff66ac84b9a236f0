#include "app/kinds.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "config/config_error.hpp"
#include "runtime/handler_environment.hpp"
#include "runtime/native/native_config.hpp"
#include "runtime/native/native_loader.hpp"
#include "runtime/python/python_handler_check.hpp"
#include "runtime/python/python_settings.hpp"
#include "runtime/shell/shell_settings.hpp"
#include "trigger/cron/cron_settings.hpp"
#include "trigger/http/http_settings.hpp"
#include "trigger/kafka/kafka_settings.hpp"
#include "trigger/mqtt/mqtt_settings.hpp"

namespace edgefn {
namespace {

const std::vector<TriggerKind> kTriggerKinds = {
    {"http", http_config_map,
     [](const TriggerConfig& config) { read_http_settings(config); }},
    {"cron", cron_config_map,
     [](const TriggerConfig& config) { read_cron_settings(config); }},
    {"mqtt", mqtt::mqtt_config_map,
     [](const TriggerConfig& config) { mqtt::read_mqtt_settings(config, "function"); }},
    {"kafka-cluster", kafka::kafka_config_map,
     [](const TriggerConfig& config) { kafka::read_kafka_settings(config, "function"); }},
};

std::vector<ConfigNotice> check_native(const FunctionConfig& config, const std::filesystem::path& directory) {
  // Kept loaded: the start loads it again right away, and its constructors
  // must run once, not be followed by its destructors and run again. Only
  // the latest check's: a reload's new build replaces the one before.
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<void>> loaded;
  auto library = load_native_handler(config.handler, directory).library;
  std::lock_guard lock(mutex);
  if (library) loaded[config.handler + '\n' + directory.string()] = std::move(library);
  return {};
}

std::vector<ConfigNotice> check_shell(const FunctionConfig& config, const std::filesystem::path& directory) {
  try {
    resolve_shell_handler(config, directory, handler_path(base_environment(config, inherited_environment())));
  } catch (const StartError& e) {  // no bash here: the host's business, not the config's
    return {{ConfigNotice::Level::kWarning, std::string("not checked: ") + e.what()}};
  }
  return {};
}

// An idle worker's resident memory: 23 and 25 MiB for the two workers of
// examples/hello-python (python3.11); a handler's own imports come on top.
constexpr std::uint64_t kPythonWorkerMemory = std::uint64_t{25} << 20;

const std::vector<RuntimeKind> kRuntimeKinds = {
    {"native", native_config_map,
     check_native_attributes,
     check_native},
    {"python", python_config_map, [](const FunctionConfig& config) { read_python_attributes(config); },
     check_python_handler, true, kPythonWorkerMemory},
    {"shell", shell_config_map, [](const FunctionConfig& config) { read_shell_attributes(config); }, check_shell,
     true},
};

unsigned usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) {
    return static_cast<unsigned>(CPU_COUNT(&set));
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

// Physical memory, or the cgroup's limit (a container) when lower.
std::uint64_t usable_memory() {
  std::uint64_t memory = static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) *
                         static_cast<std::uint64_t>(::sysconf(_SC_PAGE_SIZE));
  std::ifstream limit("/sys/fs/cgroup/memory.max");
  std::uint64_t bytes = 0;
  if (limit >> bytes && bytes > 0) memory = std::min(memory, bytes);  // "max" reads as nothing
  return memory;
}

// A warning, not an error: `validate` may run on another machine than the
// function, and the numbers are estimates.
void warn_about_capacity(const RuntimeKind& kind, const FunctionConfig& config, std::vector<ConfigNotice>& notices) {
  if (!kind.process_backed) return;
  std::map<std::string, const TriggerConfig*> pools;  // a pool's size is its first trigger's numWorkers
  for (const auto& trigger : config.triggers) {
    const std::string& pool = trigger.worker_allocator_name.empty() ? trigger.name : trigger.worker_allocator_name;
    if (!trigger.disabled) pools.try_emplace(pool, &trigger);
  }
  std::uint64_t workers = 0;
  const TriggerConfig* largest = nullptr;
  for (const auto& [name, trigger] : pools) {
    workers += static_cast<std::uint64_t>(trigger->num_workers);
    if (!largest || trigger->num_workers > largest->num_workers) largest = trigger;
  }
  if (!largest) return;
  const std::string where =
      largest->num_workers_mark.to_string() + ": spec.triggers." + largest->name + ".numWorkers: ";
  const std::string total = std::to_string(workers) + " " + std::string(kind.name) + " worker" +
                            (workers == 1 ? "" : "s") + (pools.size() > 1 ? " in all" : "");
  const unsigned cores = usable_cores();
  if (workers > 4ull * cores) {
    notices.push_back({ConfigNotice::Level::kWarning,
                       where + total + ", each a process, on a machine with " + std::to_string(cores) +
                           " core(s): beyond 4 per core they mostly wait for a CPU (fine if the function runs on a "
                           "larger machine)"});
  }
  const std::uint64_t memory = usable_memory();
  if (kind.worker_memory > 0 && memory > 0 && workers * kind.worker_memory > memory) {
    notices.push_back({ConfigNotice::Level::kWarning,
                       where + total + " take about " + std::to_string(workers * (kind.worker_memory >> 20)) +
                           " MiB (" + std::to_string(kind.worker_memory >> 20) + " MiB each, idle), more than the " +
                           std::to_string(memory >> 20) + " MiB of this machine"});
  }
}

}  // namespace

const std::vector<TriggerKind>& trigger_kinds() { return kTriggerKinds; }

const TriggerKind* find_trigger_kind(std::string_view name) {
  auto it = std::find_if(kTriggerKinds.begin(), kTriggerKinds.end(), [&](const auto& k) { return k.name == name; });
  return it == kTriggerKinds.end() ? nullptr : &*it;
}

const std::vector<RuntimeKind>& runtime_kinds() { return kRuntimeKinds; }

const RuntimeKind* find_runtime_kind(std::string_view name) {
  auto it = std::find_if(kRuntimeKinds.begin(), kRuntimeKinds.end(), [&](const auto& k) { return k.name == name; });
  return it == kRuntimeKinds.end() ? nullptr : &*it;
}

std::vector<const ConfigMap*> config_maps() {
  std::vector<const ConfigMap*> maps{&metadata_config_map(), &spec_config_map(), &trigger_config_map()};
  for (const auto& k : kTriggerKinds) maps.push_back(&k.config_map());
  for (const auto& k : kRuntimeKinds) {
    if (k.config_map) maps.push_back(&k.config_map());
  }
  return maps;
}

KindCatalog kind_catalog() {
  KindCatalog catalog;
  for (const auto& k : kTriggerKinds) catalog.trigger_kinds.emplace_back(k.name);
  for (const auto& k : kRuntimeKinds) catalog.runtimes.emplace_back(k.name);
  catalog.nuclio_only_trigger_kinds = {"v3ioStream", "rabbit-mq",
                                       "kinesis",  "nats",   "pubsub",        "eventhub",   "webAdmin",
                                       "poller",   "partitioned", "kickstart"};
  catalog.nuclio_only_runtimes = {"golang", "java", "nodejs", "dotnetcore", "ruby", "pypy"};
  catalog.validate_runtime = validate_runtime_attributes;
  catalog.check_on_host = [](const FunctionConfig& config, const ConfigNode& handler,
                             std::vector<ConfigNotice>& notices) {
    const auto* kind = find_runtime_kind(config.runtime_kind());
    if (!kind) return;
    try {
      for (const auto& note : kind->check_handler(config, config.handler_directory())) {
        handler.notice(note.level, note.message);
      }
    } catch (const HandlerError& e) {
      handler.fail(e.what());
    }
    warn_about_capacity(*kind, config, notices);
  };
  catalog.validate_trigger = [](const TriggerConfig& config) {
    if (const auto* kind = find_trigger_kind(config.kind)) kind->validate(config);
  };
  return catalog;
}

void validate_runtime_attributes(const FunctionConfig& config) {
  if (const auto* kind = find_runtime_kind(config.runtime_kind())) kind->validate(config);
}

}  // namespace edgefn
