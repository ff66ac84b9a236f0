#pragma once
// How each kind of app/kinds.hpp is built: a trigger from its config, a
// pool's runtimes from the function's. Kept apart from the kinds' settings
// and checks, which config loading and `processor validate` use without
// linking any trigger or runtime.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/function_config.hpp"
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
  bool access_log = false;  // --access-log: every trigger's events in the log
};

// The trigger `context.config` describes. Throws StartError for a kind this
// build does not have, ConfigError for bad attributes.
std::unique_ptr<Trigger> create_trigger(const TriggerContext& context, const KindOverrides& overrides);

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

// `context.count` runtimes for one pool, resolved against the handler's
// directory. Throws HandlerError when the handler cannot be found or loaded
// (which the runtime kind's check_handler has said at spec.handler
// already), StartError when something else is missing (an interpreter).
std::vector<std::unique_ptr<Runtime>> make_runtimes(const RuntimeContext& context);

}  // namespace edgefn
