#include "runtime/handler_environment.hpp"

#include <cctype>
#include <ctime>
#include <map>

namespace edgefn {

Environment base_environment(const FunctionConfig& config, const Environment& inherited) {
  std::map<std::string, std::string> env(inherited.begin(), inherited.end());
  for (const auto& [name, value] : config.env) env[name] = value;
  env["NUCLIO_FUNCTION_NAME"] = config.name;
  env["NUCLIO_FUNCTION_DESCRIPTION"] = config.description;
  // Nuclio's version is a number, -1 when the function was never published.
  env["NUCLIO_FUNCTION_VERSION"] = config.version.empty() ? "-1" : config.version;
  env["NUCLIO_FUNCTION_HANDLER"] = config.handler;
  return {env.begin(), env.end()};
}

namespace {

// "qos" -> "NUCLIO_EVENT_FIELD_QOS"; characters a variable name cannot
// hold become '_'.
std::string field_variable(std::string_view name) {
  std::string out = "NUCLIO_EVENT_FIELD_";
  for (char c : name) {
    out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
                                                       : '_';
  }
  return out;
}

}  // namespace

std::vector<std::string> event_environment(const Environment& base, const Event& event) {
  const std::string kind = event.trigger ? event.trigger->kind : std::string{};
  EnvironmentOverrides variables = {
      {"NUCLIO_EVENT_ID", event.id},
      // Nuclio's classes: http answers its caller ("sync"); streams and
      // timers do not ("async").
      {"NUCLIO_TRIGGER_CLASS", kind.empty()     ? ""
                               : kind == "http" ? "sync"
                                                : "async"},
      {"NUCLIO_TRIGGER_KIND", kind},
      {"NUCLIO_EVENT_CONTENT_TYPE", event.content_type},
      {"NUCLIO_EVENT_TIMESTAMP", rfc3339(event.timestamp)},
      {"NUCLIO_EVENT_PATH", event.path},
      {"NUCLIO_EVENT_URL", event.url},
      {"NUCLIO_EVENT_METHOD", event.method},
      // -1 for events that do not come from a partition, as the event's
      // shard_id that Nuclio hands its Python wrapper.
      {"NUCLIO_EVENT_SHARD_ID", std::to_string(event.shard_id)},
      {"NUCLIO_EVENT_NUM_SHARDS", std::to_string(event.num_shards)},
      {"NUCLIO_EVENT_TYPE", event.type},
      {"NUCLIO_EVENT_TYPE_VERSION", event.type_version},
      {"NUCLIO_EVENT_VERSION", event.version},
      // A stream event's place (an MQTT topic and delivery number, a
      // Kafka topic, partition and offset) and its key. A key may hold any
      // byte, but a variable ends at its first NUL, so it is cut there.
      {"NUCLIO_EVENT_TOPIC", event.topic},
      {"NUCLIO_EVENT_OFFSET", std::to_string(event.offset)},
      {"NUCLIO_EVENT_KEY", event.key.substr(0, event.key.find('\0'))},
  };
  // A stream event's fields (MQTT: qos, retain, dup). An HTTP request's
  // are its query arguments, which a client names: they stay out of the
  // environment, as in Nuclio.
  std::vector<std::string> field_names;  // the overrides' names point into it
  if (kind != "http") {
    field_names.reserve(event.fields.size());
    for (const auto& [name, value] : event.fields) {
      variables.emplace_back(field_names.emplace_back(field_variable(name)), value);
    }
  }
  return execve_environment(base, variables);
}

std::string rfc3339(std::chrono::system_clock::time_point time) {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(time));
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buffer[32];
  const auto n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buffer, n);
}

}  // namespace edgefn
