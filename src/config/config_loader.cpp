#include "config/config_loader.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <set>

#include "config/inline_config.hpp"
#include "config/yaml_document.hpp"
#include "util/strings.hpp"

namespace edgefn {

std::string FunctionConfig::runtime_kind() const { return runtime.substr(0, runtime.find(':')); }

std::string FunctionConfig::runtime_version() const {
  auto colon = runtime.find(':');
  return colon == std::string::npos ? std::string{} : runtime.substr(colon + 1);
}

std::filesystem::path FunctionConfig::handler_directory() const {
  if (build_path.empty()) return directory;
  std::error_code error;
  return std::filesystem::is_directory(build_path, error) ? build_path : build_path.parent_path();
}

namespace {

namespace fs = std::filesystem;
using Level = ConfigNotice::Level;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out.empty() ? "(none)" : out;
}

bool contains(const std::vector<std::string>& items, std::string_view item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

bool contains_ignoring_case(const std::vector<std::string>& items, std::string_view item) {
  return std::any_of(items.begin(), items.end(), [&](const std::string& candidate) { return iequals(candidate, item); });
}

// Never throws: a path that cannot be resolved further stays lexical.
fs::path absolute_path(const fs::path& path) {
  std::error_code error;
  fs::path resolved = fs::weakly_canonical(path, error);
  return error ? path.lexically_normal() : resolved;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Standard alphabet; line breaks and missing padding are tolerated since
// people paste `base64` output, which wraps at 76 columns.
std::string decode_base64(std::string_view text, const ConfigNode& where) {
  std::string out;
  std::uint32_t bits = 0;
  int bit_count = 0;
  std::size_t sextets = 0;
  bool padding = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    int value = base64_value(c);
    if (value < 0 || padding) {
      where.fail("invalid base64: unexpected '" + std::string(1, c) + "' at offset " + std::to_string(i));
    }
    bits = (bits << 6) | static_cast<std::uint32_t>(value);
    bit_count += 6;
    ++sextets;
    if (bit_count >= 8) {
      bit_count -= 8;
      out += static_cast<char>((bits >> bit_count) & 0xFF);
    }
  }
  if (sextets % 4 == 1) where.fail("invalid base64: the text is truncated");
  return out;
}

class Loader {
 public:
  Loader(const fs::path& file, const KindCatalog& catalog, std::vector<ConfigNotice>* notices)
      : file_(file), catalog_(catalog), notices_(notices) {}

  FunctionConfig load() {
    std::string display = file_.string();
    // A handler's source file is its own function.yaml (inline_config.hpp).
    const bool from_source = source_language(file_).has_value();
    YAML::Node document = from_source ? read_inline_configuration(file_, display, notices_)
                                      : parse_config_document(read_config_file(file_, display), display);
    ConfigNode root(document, "", display, notices_);
    if (!root.is_map()) {
      std::string got = !root.defined() ? "an empty document" : root.is_sequence() ? "a list" : "a scalar";
      throw ConfigError(root.defined() ? root.mark() : SourceMark{display, 1, 1},
                        "expected a mapping at the top level (apiVersion, kind, metadata, spec), got " + got);
    }

    FunctionConfig config;
    config.file = absolute_path(fs::absolute(file_));
    config.directory = config.file.parent_path();

    root.check_keys({"apiVersion", "kind", "metadata", "spec"}, {"status"});
    if (ConfigNode kind = root.child("kind"); kind.defined() && kind.as_raw_string() != "NuclioFunction") {
      kind.notice(Level::kWarning, "expected 'NuclioFunction', got '" + kind.as_raw_string() + "'; read anyway");
    }
    read_metadata(root.child("metadata"), config);
    ConfigNode spec = root.child("spec");
    if (!spec.defined() && !from_source) spec.fail("missing; expected a mapping with at least 'runtime' and 'handler'");
    if (spec.defined() && !spec.is_map()) spec.fail("expected a mapping, got " + describe(spec));
    inferred_from_ = from_source ? config.file : build_path_file(spec.child("build"), config.directory);
    read_spec(spec, config);
    if (from_source && config.build_path.empty() && config.function_source_code.empty()) {
      config.build_path = config.file;
    }
    if (catalog_.validate_runtime) catalog_.validate_runtime(config);
    if (catalog_.check_on_host) catalog_.check_on_host(config, spec.child("handler"), *notices_);
    return config;
  }

 private:
  static std::string describe(const ConfigNode& node) {
    if (!node.defined()) return "nothing";
    if (node.is_map()) return "a mapping";
    if (node.is_sequence()) return "a list";
    return "'" + node.raw().Scalar() + "'";
  }

  static void require_map(const ConfigNode& node, const std::string& what) {
    if (node.defined() && !node.is_map()) node.fail("expected " + what + ", got " + describe(node));
  }

  static std::map<std::string, std::string> read_string_map(const ConfigNode& node) {
    std::map<std::string, std::string> out;
    require_map(node, "a mapping of names to values");
    for (const auto& [key, value] : node.entries()) out[key] = value.defined() ? value.as_raw_string() : "";
    return out;
  }

  void read_metadata(const ConfigNode& metadata, FunctionConfig& config) {
    require_map(metadata, "a mapping (name, namespace, labels, annotations)");
    metadata.check_keys(metadata_config_map());
    config.name = metadata.get_string("name", config.directory.filename().string());
    config.namespace_name = metadata.get_string("namespace", config.namespace_name);
    // Labels and annotations are Nuclio's bookkeeping, passed on verbatim.
    config.labels = read_string_map(metadata.child("labels"));
    config.annotations = read_string_map(metadata.child("annotations"));
  }

  void read_spec(const ConfigNode& spec, FunctionConfig& config) {
    const ConfigMap& map = spec_config_map();
    spec.check_keys(map);
    if (ConfigNode bindings = spec.child("dataBindings"); bindings.defined()) {
      bindings.notice(Level::kWarning, "data bindings are not supported by edgefn; ignored");
    }
    if (ConfigNode sinks = spec.child("loggerSinks"); sinks.defined()) {
      sinks.notice(Level::kInfo, "edgefn writes logs to its own sink; ignored");
    }

    config.disabled = spec.get_bool("disable", config.disabled);
    config.description = spec.get_string("description");
    if (ConfigNode version = spec.child("version"); version.defined()) config.version = version.as_string();
    read_runtime(spec.child("runtime"), config);

    ConfigNode handler = spec.child("handler");
    if (handler.defined()) {
      config.handler = handler.as_string();
    } else if (!infer_handler(handler, config)) {
      std::string from = inferred_from_.empty() ? "" : ", and none follows from " + inferred_from_.filename().string();
      handler.fail("missing" + from + "; expected the handler, e.g. 'main:handler'");
    }
    config.handler_mark = handler.mark();
    if (config.handler.empty()) handler.fail("expected the handler, e.g. 'main:handler', got ''");

    read_env(spec.child("env"), config);

    if (ConfigNode timeout = spec.child("eventTimeout"); timeout.defined()) {
      // Nuclio writes `eventTimeout: ""` when exporting a function without one.
      if (!(timeout.raw().IsScalar() && timeout.raw().Scalar().empty())) {
        auto value = timeout.as_duration();
        if (value.count() == 0) {
          timeout.fail("expected a positive duration such as '30s', got '" + timeout.raw().Scalar() + "'");
        }
        config.event_timeout = value;
      }
    }

    // Nuclio's default and meaning: how long a worker may take to start,
    // its init_context included.
    config.readiness_timeout = std::chrono::seconds(
        spec.get_int(map.at("readinessTimeoutSeconds"),
                     std::chrono::duration_cast<std::chrono::seconds>(config.readiness_timeout).count()));

    read_build(spec.child("build"), config);

    ConfigNode attributes = spec.child("runtimeAttributes");
    require_map(attributes, "a mapping of runtime attributes");
    if (attributes.defined()) config.runtime_attributes = attributes;

    read_triggers(spec, config);
  }

  void check_kind(const ConfigNode& where, const std::string& kind, const std::vector<std::string>& supported,
                  const std::vector<std::string>& nuclio_only, const std::string& what, const std::string& plural) {
    if (contains(supported, kind)) return;
    std::string list = "supported " + plural + ": " + join(supported);
    if (contains_ignoring_case(nuclio_only, kind)) {
      where.fail(what + " '" + kind + "' exists in Nuclio but is not supported by edgefn yet; " + list);
    }
    std::string message = "unknown " + what + " '" + kind + "'";
    if (auto suggestion = nearest_key(kind, supported)) message += " (did you mean '" + *suggestion + "'?)";
    where.fail(message + "; " + list);
  }

  void read_runtime(const ConfigNode& runtime, FunctionConfig& config) {
    if (!runtime.defined() && infer_runtime(runtime, config)) return;
    if (!runtime.defined()) runtime.fail("missing; expected one of the supported runtimes: " + join(catalog_.runtimes));
    config.runtime = runtime.as_string();
    config.runtime_mark = runtime.mark();
    const std::string& text = config.runtime;
    auto colon = text.find(':');
    if (text.empty() || colon == 0 || (colon != std::string::npos && text.find(':', colon + 1) != std::string::npos)) {
      runtime.fail("expected '<runtime>' or '<runtime>:<version>' (e.g. 'python:3.11'), got '" + text + "'");
    }
    check_kind(runtime, config.runtime_kind(), catalog_.runtimes, catalog_.nuclio_only_runtimes, "runtime",
               "runtimes");
  }

  void read_env(const ConfigNode& env, FunctionConfig& config) {
    if (env.defined() && !env.is_sequence()) {
      env.fail("expected a list of {name, value} entries, got " + describe(env));
    }
    std::set<std::string> seen;
    for (const ConfigNode& entry : env.elements()) {
      if (!entry.is_map()) entry.fail("expected a {name, value} entry, got " + describe(entry));
      entry.check_keys({"name", "value", "valueFrom"});
      ConfigNode name_node = entry.child("name");
      if (!name_node.defined()) name_node.fail("missing; every env entry needs a name");
      std::string name = name_node.as_raw_string();
      if (name.empty() || name.find('=') != std::string::npos) {
        name_node.fail("expected an environment variable name, got '" + name + "'");
      }
      std::string value = entry.get_string("value");
      if (ConfigNode from = entry.child("valueFrom"); from.defined()) {
        if (entry.child("value").defined()) from.fail("'" + name + "' has both value and valueFrom; keep one");
        std::optional<std::string> resolved = read_value_from(from, name);
        if (!resolved) continue;
        value = std::move(*resolved);
      }
      if (!seen.insert(name).second) {
        name_node.notice(Level::kWarning, "'" + name + "' is set more than once; the last value wins");
      }
      config.env.emplace_back(name, std::move(value));
    }
  }

  // `valueFrom: {envVar: NAME}` takes the value from the processor's own
  // environment: the explicit form of what `${NAME}` would have meant, so a
  // secret need not be written into function.yaml. Kubernetes' kinds are
  // resolved by Nuclio's platform and skipped here; any other is refused
  // rather than leaving the variable unset without a word.
  static std::optional<std::string> read_value_from(const ConfigNode& from, const std::string& name) {
    constexpr const char* kForms = "expected {envVar: NAME} (from the processor's environment)";
    if (!from.is_map()) from.fail(std::string(kForms) + ", got " + describe(from));
    auto entries = from.entries();
    if (entries.size() != 1) from.fail(std::string(kForms) + " with exactly one key");
    const auto& [kind, source] = entries.front();
    if (iequals(kind, "envVar")) {
      std::string variable = source.as_string();
      if (!is_env_name(variable)) source.fail("expected an environment variable name, got '" + variable + "'");
      const char* text = std::getenv(variable.c_str());
      if (!text) {
        source.fail("the processor's environment has no variable '" + variable + "' (for env '" + name + "')");
      }
      return std::string(text);
    }
    for (std::string_view kubernetes : {"secretKeyRef", "configMapKeyRef", "fieldRef", "resourceFieldRef"}) {
      if (!iequals(kind, kubernetes)) continue;
      source.notice(Level::kWarning, "resolved by Nuclio's platform on Kubernetes; '" + name +
                                         "' is not set by edgefn (valueFrom: {envVar: NAME} takes it from the "
                                         "processor's environment)");
      return std::nullopt;
    }
    source.fail("unknown valueFrom kind '" + kind + "'; " + kForms +
                ", or Kubernetes' secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef (skipped)");
  }

  void read_build(const ConfigNode& build, FunctionConfig& config) {
    require_map(build, "a mapping");
    // Checked along with spec (see spec_config_map()).
    if (ConfigNode path = build.child("path"); path.defined()) {
      std::string text = path.as_string();
      if (text.find("://") != std::string::npos) {
        path.notice(Level::kWarning, "remote code ('" + text + "') is not fetched by edgefn; handler files are "
                                     "looked up in " + config.directory.string());
      } else if (!text.empty()) {
        fs::path value(text);
        config.build_path = absolute_path(value.is_absolute() ? value : config.directory / value);
      }
    }
    if (ConfigNode code = build.child("functionSourceCode"); code.defined()) {
      config.function_source_code = decode_base64(code.as_raw_string(), code);
    }
    if (ConfigNode commands = build.child("commands"); commands.defined()) {
      if (!commands.is_sequence()) commands.fail("expected a list of commands, got " + describe(commands));
      // Run by `processor build`; a start without it says so (src/build/).
      for (const ConfigNode& command : commands.elements()) config.build_commands.push_back(command.as_string());
    }
  }

  TriggerConfig read_trigger(const std::string& key, const ConfigNode& node) {
    TriggerConfig trigger;
    trigger.mark = node.key_mark();
    if (!node.is_map()) node.fail("expected a mapping with at least 'kind', got " + describe(node));
    const ConfigMap& map = trigger_config_map();
    node.check_keys(map);
    trigger.name = node.get_string("name", key);
    if (trigger.name.empty()) node.child("name").fail("expected a non-empty name");
    trigger.disabled = node.get_bool("disabled", trigger.disabled);

    ConfigNode kind = node.child("kind");
    if (!kind.defined()) kind.fail("missing; supported kinds: " + join(catalog_.trigger_kinds));
    trigger.kind = kind.as_string();
    if (trigger.kind == "kafka") trigger.kind = "kafka-cluster";
    if (trigger.disabled && !contains(catalog_.trigger_kinds, trigger.kind)) {
      // Disabling a trigger edgefn lacks is how a Nuclio function is made to
      // run here, so that must not be an error.
      kind.notice(Level::kWarning, "trigger kind '" + trigger.kind + "' is not supported by edgefn; the trigger "
                                   "is disabled, so it is skipped");
    } else {
      check_kind(kind, trigger.kind, catalog_.trigger_kinds, catalog_.nuclio_only_trigger_kinds, "trigger kind",
                 "kinds");
    }

    ConfigNode num_workers = node.child("numWorkers");
    ConfigNode max_workers = node.child("maxWorkers");
    const ConfigKey& workers = map.at("numWorkers");
    trigger.num_workers_mark = num_workers.defined()   ? num_workers.mark()
                               : max_workers.defined() ? max_workers.mark()
                                                       : trigger.mark;
    if (num_workers.defined()) {
      trigger.num_workers = static_cast<int>(num_workers.as_int(workers.min, workers.max));
      if (max_workers.defined() && max_workers.as_int(workers.min, workers.max) != trigger.num_workers) {
        max_workers.notice(Level::kWarning, "differs from numWorkers; numWorkers (" +
                                                std::to_string(trigger.num_workers) + ") is used");
      }
    } else if (max_workers.defined()) {
      trigger.num_workers = static_cast<int>(max_workers.as_int(workers.min, workers.max));
    }

    trigger.url = node.get_string("url");
    trigger.username = node.get_string("username");
    if (ConfigNode password = node.child("password"); password.defined()) trigger.password = password.as_secret();
    trigger.worker_availability_timeout = std::chrono::milliseconds{
        node.get_int(map.at("workerAvailabilityTimeoutMilliseconds"), trigger.worker_availability_timeout.count())};
    trigger.worker_allocator_name = node.get_string("workerAllocatorName");
    trigger.worker_termination_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        node.get_duration("workerTerminationTimeout", trigger.worker_termination_timeout));
    trigger.access_log = node.get_bool("accessLog", trigger.access_log);
    // check_keys() has rejected any other value.
    if (ConfigNode mode = node.child("explicitAckMode"); mode.defined()) {
      trigger.explicit_ack_mode = canonical_choice(map.at("explicitAckMode"), mode.as_string());
    }

    if (ConfigNode wait = node.child("waitExplicitAckDuringRebalanceTimeout"); wait.defined())
      trigger.wait_explicit_ack_during_rebalance = std::chrono::duration_cast<std::chrono::milliseconds>(wait.as_duration());

    // Refused rather than ignored: a batch function written for lists of
    // events would get one event at a time without a word.
    require_map(node.child("batch"), "a mapping (mode, batchSize, timeout)");
    if (ConfigNode mode = node.child("batch").child("mode");
        mode.defined() && canonical_choice(map.at("batch").fields->at("mode"), mode.as_string()) == "enable") {
      mode.fail("batching is not supported; edgefn hands the handler one event at a time (set 'mode: disable' or "
                "remove 'batch')");
    }

    ConfigNode attributes = node.child("attributes");
    require_map(attributes, "a mapping of trigger attributes");
    if (attributes.defined()) trigger.attributes = attributes;
    return trigger;
  }

  void read_triggers(const ConfigNode& spec, FunctionConfig& config) {
    ConfigNode triggers = spec.child("triggers");
    require_map(triggers, "a mapping of trigger names to triggers");
    config.disable_default_http_trigger =
        spec.get_bool("disableDefaultHTTPTrigger", config.disable_default_http_trigger);

    struct Seen {
      std::string key;
      SourceMark mark;
      int num_workers;
    };
    std::map<std::string, Seen> names;
    std::map<std::string, Seen> allocators;
    std::optional<Seen> http;
    auto line_of = [](const Seen& seen) { return " (line " + std::to_string(seen.mark.line) + ")"; };

    for (const auto& [key, node] : triggers.entries()) {
      TriggerConfig trigger = read_trigger(key, node);
      Seen self{key, trigger.mark, trigger.num_workers};
      std::string where = node.path() + ": ";
      if (auto [it, inserted] = names.emplace(trigger.name, self); !inserted) {
        throw ConfigError(trigger.mark, where + "trigger name '" + trigger.name + "' is already used by '" +
                                            it->second.key + "'" + line_of(it->second));
      }
      if (!trigger.disabled) {
        if (trigger.kind == "http") {
          if (http) {
            throw ConfigError(trigger.mark, where + "a function has at most one enabled http trigger, and '" +
                                                http->key + "'" + line_of(*http) +
                                                " is one already; remove one or set 'disabled: true'");
          }
          http = self;
        }
        if (!trigger.worker_allocator_name.empty()) {
          auto [it, inserted] = allocators.emplace(trigger.worker_allocator_name, self);
          if (!inserted && it->second.num_workers != trigger.num_workers) {
            throw ConfigError(trigger.mark, where + "triggers sharing workerAllocatorName '" +
                                                trigger.worker_allocator_name +
                                                "' share one worker pool, so their numWorkers must match: '" +
                                                it->second.key + "'" + line_of(it->second) + " has " +
                                                std::to_string(it->second.num_workers) + ", '" + key + "' has " +
                                                std::to_string(trigger.num_workers));
          }
        }
        if (catalog_.validate_trigger) catalog_.validate_trigger(trigger);
      }
      config.triggers.push_back(std::move(trigger));
    }

    // As Nuclio: any http trigger, even a disabled one, stands in for the default.
    bool has_http = std::any_of(config.triggers.begin(), config.triggers.end(),
                                [](const TriggerConfig& trigger) { return trigger.kind == "http"; });
    if (!has_http && !config.disable_default_http_trigger) add_default_http_trigger(spec, config);
  }

  void add_default_http_trigger(const ConfigNode& spec, FunctionConfig& config) {
    ConfigNode triggers = spec.child("triggers");
    const bool alone = config.triggers.empty();
    if (!contains(catalog_.trigger_kinds, "http")) {
      if (!alone) return;  // the declared triggers run without it
      triggers.fail("no triggers declared, and this build has no http trigger to add by default; declare one of: " +
                    join(catalog_.trigger_kinds));
    }
    TriggerConfig trigger;
    trigger.name = "default-http";
    trigger.kind = "http";
    trigger.num_workers = 1;
    // Beside a cron job on an edge device, a port nobody asked for must not
    // be open to the network; a function with no triggers at all is an HTTP
    // function and listens on every address, as in Nuclio.
    trigger.url = alone ? kDefaultHttpListen : kDefaultHttpListenBesideOthers;
    trigger.mark = triggers.key_mark();
    trigger.num_workers_mark = trigger.mark;
    const bool overridden = !catalog_.http_listen.empty();
    triggers.notice(Level::kInfo,
                    std::string(alone ? "no triggers declared" : "no http trigger declared") +
                        ": added http trigger 'default-http' on " +
                        (overridden ? catalog_.http_listen + " (--http-listen)" : trigger.url) + " with 1 worker" +
                        (alone || overridden ? ""
                                             : " (this host only; --http-listen or an http trigger chooses another address)") +
                        "; set spec.disableDefaultHTTPTrigger: true to run without it");
    if (catalog_.validate_trigger) catalog_.validate_trigger(trigger);
    config.triggers.push_back(std::move(trigger));
  }

  // spec.build.path when it names a local file; empty otherwise.
  static fs::path build_path_file(const ConfigNode& build, const fs::path& directory) {
    if (!build.is_map()) return {};
    ConfigNode path = build.child("path");
    if (!path.defined() || !path.raw().IsScalar()) return {};
    const std::string& text = path.raw().Scalar();
    if (text.empty() || text.find("://") != std::string::npos || text.find("${") != std::string::npos) return {};
    fs::path value(text);
    value = absolute_path(value.is_absolute() ? value : directory / value);
    std::error_code error;
    return fs::is_regular_file(value, error) ? value : fs::path{};
  }

  // Nuclio's builder takes a missing runtime from the source file's
  // extension (never from functionSourceCode, which needs it stated).
  bool infer_runtime(const ConfigNode& runtime, FunctionConfig& config) {
    auto language = inferred_from_.empty() ? std::nullopt : source_language(inferred_from_);
    if (!language) return false;
    config.runtime = std::string(language->runtime);
    config.runtime_mark = runtime.mark();
    const std::string origin = "from the extension of " + inferred_from_.filename().string();
    if (!contains(catalog_.runtimes, config.runtime)) {
      runtime.fail("missing, and '" + config.runtime + "' (" + origin + ") " +
                   (contains(catalog_.nuclio_only_runtimes, config.runtime)
                        ? "exists in Nuclio but is not supported by edgefn yet"
                        : "is not in this build") +
                   "; supported runtimes: " + join(catalog_.runtimes));
    }
    runtime.notice(Level::kInfo, "not given; '" + config.runtime + "' " + origin + ", as Nuclio's builder does");
    return true;
  }

  bool infer_handler(const ConfigNode& handler, FunctionConfig& config) {
    auto inferred = inferred_from_.empty() ? std::nullopt : default_handler(config.runtime_kind(), inferred_from_);
    if (!inferred) return false;
    config.handler = *inferred;
    handler.notice(Level::kInfo, "not given; '" + config.handler + "' from " + inferred_from_.filename().string() +
                                     ", as Nuclio's builder does");
    return true;
  }

  const fs::path& file_;
  const KindCatalog& catalog_;
  std::vector<ConfigNotice>* notices_;
  // The function's source file that a missing runtime or handler is worked
  // out from: --config itself, or spec.build.path; empty when there is none.
  fs::path inferred_from_;
};

}  // namespace

LoadResult load_function_config(const std::filesystem::path& file, const KindCatalog& catalog) {
  std::vector<ConfigNotice> notices;
  FunctionConfig config = Loader(file, catalog, &notices).load();
  // The nodes kept in the config point at `notices`, which is about to move.
  if (config.runtime_attributes) config.runtime_attributes = config.runtime_attributes->with_notices(nullptr);
  for (TriggerConfig& trigger : config.triggers) {
    if (trigger.attributes) trigger.attributes = trigger.attributes->with_notices(nullptr);
  }
  return LoadResult{std::move(config), std::move(notices)};
}

}  // namespace edgefn
