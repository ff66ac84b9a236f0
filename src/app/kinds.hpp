#pragma once
// The one explicit list of what this build can run: trigger kinds and
// runtimes. Adding a kind means adding a line here, nothing else in app/.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_loader.hpp"
#include "host/host_services.hpp"
#include "metrics/metrics.hpp"
#include "process/credentials.hpp"
#include "runtime/python/python_settings.hpp"
#include "runtime/runtime.hpp"
#include "trigger/trigger.hpp"
#include "util/asio.hpp"

namespace edgefn {

// Command-line settings that reach into a kind.
struct KindOverrides {
  std::string http_listen;  // --http-listen
  std::string instance;     // --instance
};

struct TriggerKind {
  std::string_view name;
  // Its attributes' keys, for validation, `processor config-keys` and docs.
  const ConfigMap& (*config_map)();
  // Throws ConfigError for bad attributes (used by `processor validate`).
  void (*validate)(const TriggerConfig& config);
  std::unique_ptr<Trigger> (*create)(const TriggerContext& context, const KindOverrides& overrides);
};

const std::vector<TriggerKind>& trigger_kinds();
const TriggerKind* find_trigger_kind(std::string_view name);

// Every config map: the loader's own sections (metadata, spec, the common
// trigger fields), then each trigger kind's and each runtime's, in the
// order of the lists above.
std::vector<const ConfigMap*> config_maps();

// What config loading needs to know about the kinds above, including the
// checks against this host: the runtime's check_handler, whose HandlerError
// becomes a ConfigError at spec.handler, and a warning when process-backed
// workers outnumber four per core or outgrow the memory.
KindCatalog kind_catalog();

// Checks spec.runtimeAttributes for the configured runtime. Throws ConfigError.
void validate_runtime_attributes(const FunctionConfig& config);

// What building one pool's runtimes needs. References outlive the runtimes.
struct RuntimeContext {
  asio::io_context& io;  // process-backed runtimes do their I/O on it
  const FunctionConfig& config;
  const TriggerConfig& trigger;  // the pool's first trigger: workerTerminationTimeout
  std::string pool_name;
  int count = 1;          // workers in the pool
  bool dev_mode = false;  // --dev: error details may go into 500 bodies
  FunctionUrls function_urls;  // --function-url, for Python's call_function
  HostServices* host = nullptr;  // what handlers publish through
  MetricsRegistry* metrics = nullptr;  // runtimes' own counters; null: none
  std::optional<Credentials> worker_user;  // --worker-user: workers' processes run as this user
};

struct RuntimeKind {
  std::string_view name;
  // Its spec.runtimeAttributes' keys; null when it reads none.
  const ConfigMap& (*config_map)();
  // Throws ConfigError for bad spec.runtimeAttributes.
  void (*validate)(const FunctionConfig& config);
  // `context.count` runtimes for one pool, resolved against `directory`.
  // Throws HandlerError when the handler cannot be found or loaded (which
  // check_handler has said at spec.handler already), StartError when
  // something else is missing (an interpreter).
  std::vector<std::unique_ptr<Runtime>> (*create)(const RuntimeContext& context,
                                                  const std::filesystem::path& directory);
  // The resolution `create` does, without starting anything. Throws
  // HandlerError when spec.handler names nothing that can run; returns
  // notices (without a place) on what it could not check here. `processor
  // validate` and the start both run it, through kind_catalog(), so the two
  // cannot disagree. Start-up thread; may run a short-lived process.
  std::vector<ConfigNotice> (*check_handler)(const FunctionConfig& config, const std::filesystem::path& directory);
  // Each worker is a process of its own: numWorkers far beyond the cores
  // (or memory) of the machine draws a warning.
  bool process_backed = false;
  // Memory one idle worker process takes, as measured; 0: not estimated.
  std::uint64_t worker_memory = 0;
};

const std::vector<RuntimeKind>& runtime_kinds();
const RuntimeKind* find_runtime_kind(std::string_view name);

// `context.count` runtimes for one pool. Throws StartError when the handler
// cannot be found or loaded.
std::vector<std::unique_ptr<Runtime>> make_runtimes(const RuntimeContext& context);

}  // namespace edgefn
