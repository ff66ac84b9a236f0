// The config maps of the sections config_loader.cpp reads itself.
#include <limits>

#include "config/config_loader.hpp"

namespace edgefn {
namespace {

// Workers per pool: each is at least an object and a slot, for Python an
// interpreter (about 25 MiB) and for shell a process per event in flight.
// Far more than an edge machine runs, and small enough that a mistyped
// number fails validation instead of exhausting memory at start.
constexpr std::int64_t kMaxWorkers = 1024;
// Keeps milliseconds that timer arithmetic adds to now() from overflowing.
constexpr std::int64_t kMaxMilliseconds = std::numeric_limits<int>::max();

ConfigMap make_build_map() {
  ConfigMap map{"build", "", {}, {}};
  map.keys = {
      {.name = "path",
       .default_note = "the config's directory",
       .help = "where handler files are found, relative to the config; a file stands for its directory"},
      {.name = "functionSourceCode", .help = "base64: the handler's source, instead of a file (Python, shell)"},
      {.name = "commands", .type = KeyType::kList, .help = "shell commands `processor build` runs in the function directory, inside the function's "
               "Python environment (e.g. pip install simplejson); a start before it warns"},
  };
  add_ignored(map,
              {"addedPaths",
               "args",
               "baseImage",
               "baseImageRegistry",
               "buildTimeoutSeconds",
               "builderServiceAccount",
               "codeEntryAttributes",
               "codeEntryType",
               "dependencies",
               "directives",
               "flags",
               "functionConfigPath",
               "image",
               "mode",
               "noBaseImagePull",
               "noBaseImagesPull",
               "noCache",
               "noCleanup",
               "offline",
               "onbuildImage",
               "registry",
               "runtimeAttributes",
               "scriptPaths",
               "tempDir",
               "timestamp"},
              "image builds");
  return map;
}

ConfigMap make_spec_map() {
  static const ConfigMap build = make_build_map();
  const FunctionConfig defaults;
  ConfigMap map{"spec", "spec", {}, {}};
  map.keys = {
      {.name = "runtime",
       .default_note = "from the source's extension, else required",
       .help = "`<runtime>` or `<runtime>:<version>`: what runs the handler"},
      {.name = "handler",
       .default_note = "from the source's name, else required",
       .help = "the handler; its form depends on the runtime"},
      {.name = "description", .help = "informational"},
      {.name = "version", .help = "informational"},
      {.name = "env",
       .type = KeyType::kList,
       .help = "`{name, value}` entries for the handler's environment, or `{name, valueFrom: {envVar: NAME}}` "
               "to take the value from the processor's environment; Kubernetes' `valueFrom` kinds are skipped"},
      {.name = "eventTimeout",
       .type = KeyType::kDuration,
       .default_note = "none",
       .help = "an event running longer is answered 408 (the http trigger's `eventTimeoutStatusCode` may choose "
               "504); an empty string means none"},
      {.name = "readinessTimeoutSeconds",
       .type = KeyType::kInteger,
       .min = 1,
       .max = 86'400,
       .default_value =
           default_text(std::chrono::duration_cast<std::chrono::seconds>(defaults.readiness_timeout).count()),
       .help = "how long a worker may take to start, its init_context included, before it is restarted"},
      {.name = "build",
       .type = KeyType::kMapping,
       .help = "where handler files are found; image-build keys are ignored",
       .fields = &build},
      {.name = "runtimeAttributes", .type = KeyType::kMapping, .help = "the runtime's settings (see its section)"},
      {.name = "triggers", .type = KeyType::kMapping, .help = "a mapping of trigger names to triggers"},
      {.name = "disableDefaultHTTPTrigger",
       .type = KeyType::kBool,
       .default_value = default_text(defaults.disable_default_http_trigger),
       .help = "`true`: no http trigger is added when `triggers` declares none of kind `http`"},
      {.name = "disable",
       .type = KeyType::kBool,
       .default_value = default_text(defaults.disabled),
       .help = "`true`: the processor logs that the function is disabled and exits 0 without starting it"},
      {.name = "dataBindings", .type = KeyType::kMapping, .help = "not supported: a warning, then ignored"},
      {.name = "loggerSinks", .type = KeyType::kList, .help = "ignored: edgefn logs to stdout (`--log-format`)"},
  };
  add_ignored(map, {"image", "imageHash", "imagePullPolicy", "imagePullSecrets", "runRegistry"}, "container images");
  add_ignored(map,
              {"minReplicas", "maxReplicas", "replicas", "targetCPU", "scaleToZero", "customScalingMetricSpecs",
               "autoScaleMetrics"},
              "scaling");
  add_ignored(
      map,
      {"affinity", "devices", "envFrom", "hostIPC", "initContainers", "nodeName", "nodeSelector", "preemptionMode",
       "preemptionPolicy",
       "priorityClassName", "resources", "securityContext", "serviceAccount", "sidecars", "tolerations", "volumes"},
      "Kubernetes pods");
  add_ignored(map, {"serviceType", "httpPort"}, "Kubernetes services");
  add_ignored(map,
              {"apiVersion", "alias", "avatar", "dealerURI", "deploymentStrategy", "disableSensitiveFieldsMasking", "platform", "publish", "waitReadinessTimeoutBeforeFailure"},
              "the Nuclio platform");
  return map;
}

ConfigMap make_metadata_map() {
  const FunctionConfig defaults;
  ConfigMap map{"metadata", "metadata", {}, {}};
  map.keys = {
      {.name = "name", .default_note = "the directory's name", .help = "the function's name, in logs and `/status`"},
      {.name = "namespace", .default_value = defaults.namespace_name, .help = "informational"},
      {.name = "labels", .type = KeyType::kMapping, .help = "kept verbatim"},
      {.name = "annotations", .type = KeyType::kMapping, .help = "kept verbatim"},
  };
  add_ignored(map, {"resourceVersion", "uid", "generation", "creationTimestamp"}, "Kubernetes object metadata");
  return map;
}

// Nuclio's batching; only its absence is supported (see read_trigger()).
ConfigMap make_batch_map() {
  ConfigMap map{"batch", "", {}, {}};
  map.keys = {
      {.name = "mode",
       .type = KeyType::kChoice,
       .choices = {"enable", "disable"},
       .default_note = "`disable`",
       .help = "`enable` is refused: edgefn hands the handler one event at a time"},
      {.name = "batchSize", .type = KeyType::kInteger, .min = 1, .help = "accepted with batching off; unused"},
      {.name = "timeout", .type = KeyType::kDuration, .help = "accepted with batching off; unused"},
  };
  return map;
}

ConfigMap make_trigger_map() {
  static const ConfigMap batch = make_batch_map();
  const TriggerConfig defaults;
  ConfigMap map{"trigger", "spec.triggers.<name>", {}, {}};
  map.keys = {
      {.name = "kind", .default_note = "(required)", .help = "the trigger's kind: one of the sections below"},
      {.name = "name", .default_note = "the map key", .help = "the trigger's name; must be unique"},
      {.name = "disabled",
       .type = KeyType::kBool,
       .default_value = default_text(defaults.disabled),
       .help = "a disabled trigger is skipped, whatever its kind"},
      {.name = "numWorkers",
       .type = KeyType::kInteger,
       .min = 1,
       .max = kMaxWorkers,
       .default_value = default_text(defaults.num_workers),
       .help = "workers in the trigger's pool: at most this many events run at once"},
      {.name = "maxWorkers",
       .type = KeyType::kInteger,
       .min = 1,
       .max = kMaxWorkers,
       .help = "Nuclio's older name for `numWorkers`, which wins when both are set"},
      {.name = "url", .help = "the kind's address; for `http` the listen address"},
      {.name = "username", .help = "credentials for the kind's `url` (broker triggers)"},
      {.name = "password",
       .type = KeyType::kSecret,
       .help = "credentials for the kind's `url` (broker triggers)"},
      {.name = "workerAvailabilityTimeoutMilliseconds",
       .type = KeyType::kInteger,
       .min = 0,
       .max = kMaxMilliseconds,
       .default_value = default_text(defaults.worker_availability_timeout.count()),
       .help = "how long an event waits for a free worker before failing (HTTP 503); 0 fails at once"},
      {.name = "workerAllocatorName",
       .help = "triggers naming the same allocator share one pool; their `numWorkers` must match"},
      {.name = "workerTerminationTimeout",
       .type = KeyType::kDuration,
       .default_value = default_text(defaults.worker_termination_timeout),
       .help = "how long each worker may take to stop at shutdown"},
      {.name = "explicitAckMode",
       .type = KeyType::kChoice,
       .choices = {"enable", "disable", "explicitOnly"},
       .default_value = defaults.explicit_ack_mode,
       .help = "stream triggers: whether the handler's answer acknowledges its message (`explicitOnly`: only `explicit_ack()`)"},
      {.name = "waitExplicitAckDuringRebalanceTimeout",
       .type = KeyType::kDuration,
       .default_note = "100ms",
       .help = "kafka: how long revoked partitions wait for explicit acknowledgements (also an attribute)"},
      {.name = "accessLog",
       .type = KeyType::kBool,
       .default_value = default_text(defaults.access_log),
       .help = "edgefn: log a line per event (method and path or topic, status, duration, worker, event id); "
               "`--access-log` turns it on for every trigger, debug level always"},
      {.name = "batch",
       .type = KeyType::kMapping,
       .default_note = "off",
       .help = "Nuclio's batching: `mode: disable` is accepted, `enable` refused",
       .fields = &batch},
      {.name = "attributes", .type = KeyType::kMapping, .help = "the kind's settings (see its section)"},
  };
  add_ignored(map, {"class", "mode", "paths", "secret"}, "");
  add_ignored(map, {"annotations"}, "Kubernetes annotations");
  add_ignored(map, {"partitions", "total_tasks", "max_task_allocation"}, "Nuclio's partition assignment");
  return map;
}

}  // namespace

const ConfigMap& metadata_config_map() {
  static const ConfigMap map = make_metadata_map();
  return map;
}

const ConfigMap& spec_config_map() {
  static const ConfigMap map = make_spec_map();
  return map;
}

const ConfigMap& trigger_config_map() {
  static const ConfigMap map = make_trigger_map();
  return map;
}

}  // namespace edgefn
