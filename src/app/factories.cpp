#include "app/factories.hpp"

#include "config/config_error.hpp"
#include "runtime/handler_environment.hpp"
#include "runtime/native/native_config.hpp"
#include "runtime/native/native_runtime.hpp"
#include "runtime/python/python_runtime.hpp"
#include "runtime/shell/shell_runtime.hpp"
#include "trigger/cron/cron_trigger.hpp"
#include "trigger/http/http_trigger.hpp"
#include "trigger/kafka/kafka_settings.hpp"
#include "trigger/kafka/kafka_trigger.hpp"
#include "trigger/mqtt/mqtt_settings.hpp"
#include "trigger/mqtt/mqtt_trigger.hpp"

namespace edgefn {
namespace {

std::vector<std::unique_ptr<Runtime>> make_native(const RuntimeContext& context, const std::filesystem::path& directory) {
  const auto& config = context.config;
  auto handler = load_native_handler(config.handler, directory);
  const bool blocking = native_blocking(config) || handler.blocking_by_default;
  std::vector<std::unique_ptr<Runtime>> runtimes;
  for (int i = 0; i < context.count; ++i)
    runtimes.push_back(make_native_runtime(
        {handler, blocking, {i, context.pool_name, config.name}, context.trigger.name, &context.io, context.host}));
  return runtimes;
}

std::vector<std::unique_ptr<Runtime>> make_shell(const RuntimeContext& context, const std::filesystem::path& directory) {
  const auto& config = context.config;
  auto settings = std::make_shared<ShellSettings>();
  settings->attributes = read_shell_attributes(config);
  settings->environment = base_environment(config, inherited_environment());
  auto handler = resolve_shell_handler(config, directory, handler_path(settings->environment), context.worker_user);
  settings->command = std::move(handler.command);
  settings->source = std::move(handler.source);
  settings->working_directory = directory;
  settings->termination_timeout = context.trigger.worker_termination_timeout;
  if (context.metrics)
    settings->arguments_refused = &context.metrics->counter(
        "edgefn_shell_arguments_refused_total",
        "Shell events refused with 403 for X-Nuclio-Arguments (runtimeAttributes.allowArgumentsHeader is false)",
        {{"pool", context.pool_name}});
  settings->worker_user = context.worker_user;
  std::vector<std::unique_ptr<Runtime>> runtimes;
  for (int i = 0; i < context.count; ++i)
    runtimes.push_back(make_shell_runtime(context.io, settings, {i, context.pool_name, config.name}));
  return runtimes;
}

std::vector<std::unique_ptr<Runtime>> make_python(const RuntimeContext& context,
                                                  const std::filesystem::path& directory) {
  const auto& config = context.config;
  auto settings = make_python_settings(config, directory, context.function_urls);
  settings->dev_mode = context.dev_mode;
  settings->trigger_kind = context.trigger.kind;
  settings->trigger_name = context.trigger.name;
  settings->namespace_name = config.namespace_name;
  settings->termination_timeout = context.trigger.worker_termination_timeout;
  settings->worker_user = context.worker_user;
  if (context.metrics) {
    auto recycles = [&](const char* reason) {
      return &context.metrics->counter("edgefn_worker_recycles_total",
                                       "Worker processes replaced between events by maxWorkerMemory or "
                                       "maxEventsPerWorker",
                                       {{"pool", context.pool_name}, {"reason", reason}});
    };
    settings->recycled_for_memory = recycles("memory");
    settings->recycled_for_events = recycles("events");
    auto restarts = [&](const char* reason) {
      return &context.metrics->counter("edgefn_worker_restarts_total",
                                       "Worker processes started again, by pool and reason",
                                       {{"pool", context.pool_name}, {"reason", reason}});
    };
    settings->restarts = {restarts("crashed"), restarts("timeout"), restarts("recycled"), restarts("init_failed"),
                          &context.metrics->counter("edgefn_worker_init_failures_total",
                                                    "Worker starts that failed before the handler was ready "
                                                    "(import, init_context, readiness timeout), by runtime",
                                                    {{"runtime", "python"}})};
  }
  std::vector<std::unique_ptr<Runtime>> runtimes;
  for (int i = 0; i < context.count; ++i)
    runtimes.push_back(make_python_runtime(context.io, settings, {i, context.pool_name, config.name}, context.host));
  return runtimes;
}

}  // namespace

std::unique_ptr<Trigger> create_trigger(const TriggerContext& context, const KindOverrides& overrides) {
  const auto& config = context.config;
  if (config.kind == "http") return make_http_trigger(context, read_http_settings(config, overrides.http_listen));
  if (config.kind == "cron") return make_cron_trigger(context, read_cron_settings(config));
  if (config.kind == "mqtt")
    return make_mqtt_trigger(context, mqtt::read_mqtt_settings(config, context.function.name, overrides.instance));
  if (config.kind == "kafka-cluster")
    return make_kafka_trigger(context, kafka::read_kafka_settings(config, context.function.name, overrides.instance));
  throw StartError("trigger kind '" + config.kind + "' is not built in");
}

std::vector<std::unique_ptr<Runtime>> make_runtimes(const RuntimeContext& context) {
  const auto& config = context.config;
  const auto directory = config.handler_directory();
  const std::string kind = config.runtime_kind();
  if (kind == "native") return make_native(context, directory);
  if (kind == "python") return make_python(context, directory);
  if (kind == "shell") return make_shell(context, directory);
  throw StartError("runtime '" + config.runtime + "' is not supported by this build");
}

}  // namespace edgefn
