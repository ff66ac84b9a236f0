#pragma once
// The one explicit list of what this build can run, as config loading sees
// it: each trigger kind's and runtime's name, keys and checks. How each is
// built is app/factories.hpp; adding a kind means a line in each.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_loader.hpp"

namespace edgefn {

struct TriggerKind {
  std::string_view name;
  // Its attributes' keys, for validation, `processor config-keys` and docs.
  const ConfigMap& (*config_map)();
  // Throws ConfigError for bad attributes (used by `processor validate`).
  void (*validate)(const TriggerConfig& config);
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

struct RuntimeKind {
  std::string_view name;
  // Its spec.runtimeAttributes' keys; null when it reads none.
  const ConfigMap& (*config_map)();
  // Throws ConfigError for bad spec.runtimeAttributes.
  void (*validate)(const FunctionConfig& config);
  // The resolution its factory does, without starting anything. Throws
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

}  // namespace edgefn
