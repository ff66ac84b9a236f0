#pragma once
// Loads function.yaml into FunctionConfig. Every error is a ConfigError whose
// message starts with file:line:col and names the key path and what was
// expected. Kind-specific checks (trigger attributes, runtime names) are
// done by the validators passed in, so config/ knows no kind's internals.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "config/function_config.hpp"

namespace edgefn {

struct KindCatalog {
  // Kinds this build implements, for the "supported kinds are ..." errors.
  std::vector<std::string> trigger_kinds;
  std::vector<std::string> runtimes;
  // Kinds Nuclio has and edgefn does not (yet): an error that says so.
  std::vector<std::string> nuclio_only_trigger_kinds;
  std::vector<std::string> nuclio_only_runtimes;
  // Called for each enabled trigger after the common fields are read; throws
  // ConfigError for bad attributes. This is where a kind should check_keys()
  // its attributes: notices raised through the config's nodes after
  // load_function_config() returns are dropped (see ConfigNode::with_notices).
  std::function<void(const TriggerConfig&)> validate_trigger;
  // Called once after everything else was read, for checks of the runtime's
  // settings (spec.runtimeAttributes); throws ConfigError. Like
  // validate_trigger, the place to check_keys() them.
  std::function<void(const FunctionConfig&)> validate_runtime;
  // Called last, with spec.handler's node: the checks against this host,
  // which `processor validate` and the start share. Throws ConfigError
  // (spec.handler names nothing that can run); adds warnings to `notices`
  // (numWorkers beyond what the machine holds). May read files and run a
  // short-lived process.
  std::function<void(const FunctionConfig&, const ConfigNode& handler, std::vector<ConfigNotice>& notices)>
      check_on_host;
  // --http-listen, when given: the address a notice names for the default
  // HTTP trigger, since it is the one used.
  std::string http_listen;
};

// The sections the loader reads itself, for validation and for `processor
// config-keys`; their defaults come from FunctionConfig's and TriggerConfig's
// members. A kind's attributes are the kind's own map (see app/kinds.hpp).
const ConfigMap& metadata_config_map();
const ConfigMap& spec_config_map();     // spec.build nested
const ConfigMap& trigger_config_map();  // the fields every trigger kind has

struct LoadResult {
  FunctionConfig config;
  std::vector<ConfigNotice> notices;
};

// Where the http trigger added by default listens: on every address when
// the function declares no triggers at all, on this host only when it is
// added beside other triggers (--http-listen overrides either).
inline constexpr const char* kDefaultHttpListen = ":8080";
inline constexpr const char* kDefaultHttpListenBesideOthers = "127.0.0.1:8080";

// Reads and validates `file`. A `file` whose extension names a handler
// source (`.py`, `.sh`, `.c`, ...; see inline_config.hpp) is read as Nuclio
// reads `nuctl deploy --path file`: the configuration is its inline
// `@nuclio.configure` block (none: defaults), and it is spec.build.path
// unless the block sets that or functionSourceCode. A missing spec.runtime
// is worked out from the extension of that source (or of a spec.build.path
// naming a file), a missing spec.handler from its name, as Nuclio's builder
// does; each with an info notice. When spec.triggers declares no http
// trigger (enabled or not) and spec.disableDefaultHTTPTrigger is not true,
// adds the http trigger "default-http" with one worker (see
// kDefaultHttpListen). Error messages name `file` as given;
// FunctionConfig::file is absolute. Blocking (reads the file, and whatever
// catalog.check_on_host reads or runs), any thread; reads the environment
// for env entries' valueFrom.envVar.
// Throws ConfigError (bad file, bad YAML, a file past the bounds of
// yaml_document.hpp, bad values, missing file, and what check_on_host
// refuses).
LoadResult load_function_config(const std::filesystem::path& file, const KindCatalog& catalog);

}  // namespace edgefn
