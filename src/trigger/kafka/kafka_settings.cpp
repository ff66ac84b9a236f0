#include "trigger/kafka/kafka_settings.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "config/config_error.hpp"
#include "util/strings.hpp"

namespace edgefn::kafka {
namespace {

using std::chrono::milliseconds;

// librdkafka 2.3.0 fixed a surviving member aborting when another dies
// during the first cooperative rebalance (librdkafka #4312).
constexpr int kFirstSafeCooperativeVersion = 0x020300ff;

// The static build links a stand-in for Cyrus SASL, through which alone
// librdkafka speaks GSSAPI (src/trigger/kafka/sasl_shim.c): refused here,
// where the error can name the line, rather than at every connection.
#ifdef EDGEFN_KAFKA_NO_GSSAPI
constexpr bool kHasGssapi = false;
#else
constexpr bool kHasGssapi = true;
#endif

// What edgefn sets itself and a raw property must not undo: offsets are
// stored after handling and committed by librdkafka from what was stored.
constexpr std::string_view kManaged[] = {"enable.auto.offset.store", "enable.auto.commit", "group.id",
                                         "bootstrap.servers", "enable.partition.eof"};

ConfigMap make_sasl_map() {
  ConfigMap map{"sasl", "", {}, {}};
  map.keys = {
      {.name = "enable", .type = KeyType::kBool, .default_value = "false", .help = "authenticate with SASL"},
      {.name = "mechanism",
       .type = KeyType::kChoice,
       .choices = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"},
       .default_value = "PLAIN",
       .help = "the SASL mechanism"},
      {.name = "user", .help = "the SASL user name"},
      {.name = "password", .type = KeyType::kSecret, .help = "the SASL password, or `{valueFrom: {envVar: NAME}}`"},
  };
  add_ignored(map, {"handshake", "oauth"}, "Sarama settings");
  return map;
}

ConfigMap make_tls_map() {
  ConfigMap map{"tls", "", {}, {}};
  map.keys = {
      {.name = "enable", .type = KeyType::kBool, .default_value = "false", .help = "connect to the brokers over TLS"},
      {.name = "caCert", .default_note = "the system's trust store", .help = "PEM file of the CA that signed the brokers' certificates"},
      {.name = "clientCert", .help = "PEM certificate for mutual TLS (with `clientKey`); Nuclio's `accessCertificate`"},
      {.name = "clientKey", .help = "PEM private key of `clientCert`; Nuclio's `accessKey`"},
      {.name = "insecureSkipVerify",
       .type = KeyType::kBool,
       .default_value = "false",
       .help = "accept any certificate and host name (testing only; logged as a warning)"},
  };
  add_ignored(map, {"minimumVersion"}, "Sarama settings");
  return map;
}

ConfigMap make_kafka_map() {
  static const ConfigMap sasl = make_sasl_map();
  static const ConfigMap tls = make_tls_map();
  const KafkaSettings defaults;
  const stream::FailurePolicy failure;
  ConfigMap map{"kafka-cluster", "spec.triggers.<name>.attributes", {}, {}};
  map.keys = {
      {.name = "brokers",
       .type = KeyType::kStringList,
       .default_note = "the trigger's `url`",
       .help = "bootstrap brokers, `host:port`"},
      {.name = "topics",
       .type = KeyType::kStringList,
       .default_note = "(required)",
       .help = "topics to consume; a `^` prefix makes a regular expression"},
      {.name = "consumerGroup", .default_note = "(required)", .help = "the consumer group that shares the partitions"},
      {.name = "initialOffset",
       .type = KeyType::kChoice,
       .choices = {"earliest", "latest"},
       .default_value = "earliest",
       .help = "where a group with no committed offset starts"},
      {.name = "sessionTimeout",
       .type = KeyType::kDuration,
       .default_value = "10s",
       .help = "a member that has not been heard from for this long leaves the group"},
      {.name = "heartbeatInterval", .type = KeyType::kDuration, .default_value = "3s", .help = "how often the group hears from us"},
      {.name = "balanceStrategy",
       .type = KeyType::kChoice,
       .choices = {"range", "roundrobin", "cooperative-sticky", "sticky"},
       .default_value = "range",
       .help = "how partitions are split among members; `cooperative-sticky` needs librdkafka 2.3.0"},
      {.name = "maxWaitHandlerDuringRebalance",
       .type = KeyType::kDuration,
       .default_value = default_text(defaults.max_wait_handler_during_rebalance),
       .help = "how long a revoked partition waits for its running handlers before it is released"},
      {.name = "waitExplicitAckDuringRebalanceTimeout",
       .type = KeyType::kDuration,
       .default_value = default_text(defaults.wait_explicit_ack_during_rebalance),
       .help = "then how long it waits for explicit acknowledgements"},
      {.name = "workerAllocationMode",
       .type = KeyType::kChoice,
       .choices = {"pool", "static"},
       .default_value = "pool",
       .help = "accepted for Nuclio; either way a partition's events run one at a time, partitions in parallel"},
      {.name = "sasl", .type = KeyType::kMapping, .help = "SASL authentication (see `kafka-cluster.sasl`)", .fields = &sasl},
      {.name = "tls", .type = KeyType::kMapping, .help = "TLS (see `kafka-cluster.tls`)", .fields = &tls},
      {.name = "caCert", .help = "as `tls.caCert` (Nuclio)"},
      {.name = "accessKey", .help = "as `tls.clientKey` (Nuclio)"},
      {.name = "accessCertificate", .help = "as `tls.clientCert` (Nuclio)"},
      {.name = "onError",
       .type = KeyType::kChoice,
       .choices = {"retry", "skip", "deadLetter"},
       .default_note = "`retry`, then `deadLetter` with a `deadLetterTopic`, else `skip`",
       .help = "what becomes of an event whose handler failed (status >= 500, crash, timeout)"},
      {.name = "maxRetries",
       .type = KeyType::kInteger,
       .max = 100,
       .default_value = default_text(failure.max_retries),
       .help = "with `onError: retry`, runs after the first before giving up"},
      {.name = "retryBackoff",
       .type = KeyType::kDuration,
       .default_value = default_text(failure.retry_backoff),
       .help = "wait before the first retry; doubled for each next one, at most 30s"},
      {.name = "deadLetterTopic", .help = "failed events are produced here, with `x-edgefn-*` error headers"},
      {.name = "responseTopic", .help = "non-empty handler responses are produced here, before the offset is committed"},
      {.name = "maxInFlight",
       .type = KeyType::kInteger,
       .min = 1,
       .max = 1'000'000,
       .default_value = default_text(defaults.max_in_flight),
       .help = "events taken and not yet committable; at this many the partitions are paused"},
      {.name = "commitInterval",
       .type = KeyType::kDuration,
       .default_value = "1s",
       .help = "how often handled offsets are committed (also on revoke and shutdown)"},
      {.name = "fetchMin", .type = KeyType::kInteger, .min = 1, .help = "`fetch.min.bytes`"},
      {.name = "fetchDefault", .type = KeyType::kInteger, .min = 1, .help = "`max.partition.fetch.bytes`"},
      {.name = "fetchMax", .type = KeyType::kInteger, .min = 1, .help = "`fetch.max.bytes`"},
      {.name = "maxWaitTime", .type = KeyType::kDuration, .help = "`fetch.wait.max.ms`"},
      {.name = "librdkafka",
       .type = KeyType::kMapping,
       .help = "raw librdkafka properties (`fetch.wait.max.ms: 50`), set last"},
  };
  add_ignored(map, {"version", "channelBufferSize", "maxProcessingTime", "rebalanceTimeout", "rebalanceRetryMax",
                    "rebalanceRetryBackoff", "logLevel", "ackWindowSize"},
              "Sarama settings");
  return map;
}

// "a, b,c" -> {"a", "b", "c"}, without empty entries and a `kafka://` prefix
// some Nuclio users write.
std::vector<std::string> broker_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (part.starts_with("kafka://")) part.remove_prefix(8);
    if (!part.empty()) out.emplace_back(part);
  }
  return out;
}

// A consumer's property, which a producer would only warn about. librdkafka
// keeps one configuration for both, so setting it cannot tell them apart.
bool consumer_only(std::string_view name) {
  for (std::string_view prefix : {"fetch.", "group.", "session.", "heartbeat.", "auto.", "queued.", "max.poll",
                                  "isolation.", "partition.assignment.strategy"})
    if (name.starts_with(prefix)) return true;
  return false;
}

std::string millis_text(std::chrono::nanoseconds value) {
  return std::to_string(std::chrono::duration_cast<milliseconds>(value).count());
}

// Collects properties and has librdkafka check each one as it is set, so
// that a refusal names the node that asked for it.
class PropertyChecker {
 public:
  PropertyChecker() : conf_(rd_kafka_conf_new(), rd_kafka_conf_destroy) {}

  void set(Properties& into, const std::string& name, const std::string& value, const ConfigNode& node) {
    if (!kHasGssapi && (name == "sasl.mechanisms" || name == "sasl.mechanism") && value == "GSSAPI")
      node.fail("SASL GSSAPI (Kerberos) is not in this build: the static build links no Cyrus SASL; use PLAIN, "
                "SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER, or a build configured with -DEDGEFN_STATIC=OFF");
    char error[512] = {};
    if (rd_kafka_conf_set(conf_.get(), name.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK)
      node.fail("librdkafka refuses " + name + "=" + value + ": " + error);
    into.emplace_back(name, value);
  }

 private:
  std::unique_ptr<rd_kafka_conf_t, void (*)(rd_kafka_conf_t*)> conf_;
};

std::string existing_file(const ConfigNode& node, const std::filesystem::path& base) {
  std::filesystem::path path = node.as_string();
  if (path.is_relative()) path = base / path;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) node.fail("no such file: " + path.string());
  return path.string();
}

// The first defined of several spellings (tls.caCert, Nuclio's caCert).
ConfigNode first_defined(std::initializer_list<ConfigNode> nodes) {
  for (const auto& node : nodes)
    if (node.defined()) return node;
  return *nodes.begin();
}

}  // namespace

const ConfigMap& kafka_config_map() {
  static const ConfigMap map = make_kafka_map();
  return map;
}

std::string property(const Properties& properties, std::string_view name) {
  for (auto it = properties.rbegin(); it != properties.rend(); ++it)
    if (it->first == name) return it->second;
  return {};
}

KafkaSettings read_kafka_settings(const TriggerConfig& trigger, const std::string& function_name,
                                  const std::string& instance) {
  KafkaSettings s;
  const std::string where = trigger.mark.to_string() + ": spec.triggers." + trigger.name;
  if (!trigger.attributes || !trigger.attributes->defined())
    throw ConfigError(where + ": a kafka trigger needs attributes.topics and attributes.consumerGroup");
  const ConfigNode& attrs = *trigger.attributes;
  if (!attrs.is_map()) attrs.fail("expected a mapping");
  const ConfigMap& map = kafka_config_map();
  attrs.check_keys(map);

  // Where: the trigger's url (Nuclio), else attributes.brokers.
  std::vector<std::string> brokers;
  if (!trigger.url.empty()) {
    brokers = broker_list(trigger.url);
  } else if (ConfigNode node = attrs.child("brokers"); node.defined()) {
    brokers = node.as_string_list();
  }
  if (brokers.empty()) throw ConfigError(where + ": a kafka trigger needs brokers: set url (host:9092) or attributes.brokers");
  for (const auto& broker : brokers) s.brokers += (s.brokers.empty() ? "" : ",") + broker;

  ConfigNode topics = attrs.child("topics");
  if (!topics.defined()) attrs.fail("a kafka trigger needs topics: [name, ...]");
  s.topics = topics.as_string_list();
  if (s.topics.empty()) topics.fail("a kafka trigger needs at least one topic");
  for (const auto& topic : s.topics)
    if (topic.empty() || topic == "^") topics.fail("an empty topic name");

  ConfigNode group = attrs.child("consumerGroup");
  if (!group.defined() || group.as_string().empty()) attrs.fail("a kafka trigger needs a consumerGroup");
  s.consumer_group = group.as_string();

  PropertyChecker checker;
  Properties common;  // connection and security: consumer and producer alike
  std::string client_id = function_name + "-" + trigger.name;
  if (!instance.empty()) client_id += "-" + instance;
  checker.set(common, "bootstrap.servers", s.brokers, trigger.url.empty() ? attrs.child("brokers") : attrs);
  checker.set(common, "client.id", client_id, attrs);

  // Security.
  const auto base = trigger.mark.file.empty() ? std::filesystem::current_path()
                                              : std::filesystem::path(trigger.mark.file).parent_path();
  ConfigNode tls = attrs.child("tls");
  ConfigNode sasl = attrs.child("sasl");
  ConfigNode ca = first_defined({tls.child("caCert"), attrs.child("caCert")});
  ConfigNode cert = first_defined({tls.child("clientCert"), attrs.child("accessCertificate")});
  ConfigNode key = first_defined({tls.child("clientKey"), attrs.child("accessKey")});
  const bool tls_on = tls.get_bool("enable", false) || ca.defined() || cert.defined();
  const bool sasl_on = sasl.get_bool("enable", false);
  checker.set(common, "security.protocol",
              sasl_on ? (tls_on ? "sasl_ssl" : "sasl_plaintext") : (tls_on ? "ssl" : "plaintext"), attrs);
  if (tls_on) {
    if (ca.defined()) checker.set(common, "ssl.ca.location", existing_file(ca, base), ca);
    if (cert.defined() != key.defined())
      (cert.defined() ? cert : key).fail("mutual TLS needs both a client certificate and its key");
    if (cert.defined()) {
      checker.set(common, "ssl.certificate.location", existing_file(cert, base), cert);
      checker.set(common, "ssl.key.location", existing_file(key, base), key);
    }
    if (tls.get_bool("insecureSkipVerify", false)) {
      checker.set(common, "enable.ssl.certificate.verification", "false", tls.child("insecureSkipVerify"));
      checker.set(common, "ssl.endpoint.identification.algorithm", "none", tls.child("insecureSkipVerify"));
    }
  }
  if (sasl_on) {
    ConfigNode mechanism = sasl.child("mechanism");
    const std::string name =
        mechanism.defined() ? canonical_choice(map.at("sasl").fields->at("mechanism"), mechanism.as_string()) : "PLAIN";
    checker.set(common, "sasl.mechanisms", name, mechanism.defined() ? mechanism : sasl);
    std::string user = sasl.get_string("user", trigger.username);
    ConfigNode password = sasl.child("password");
    std::string secret = password.defined() ? password.as_secret() : trigger.password;
    if (name == "PLAIN" || name.starts_with("SCRAM")) {
      if (user.empty()) sasl.fail("SASL " + name + " needs a user");
      checker.set(common, "sasl.username", user, sasl);
      checker.set(common, "sasl.password", secret, password.defined() ? password : sasl);
    }
  }

  // The consumer.
  Properties& c = s.consumer;
  c = common;
  checker.set(c, "group.id", s.consumer_group, group);
  ConfigNode offset = attrs.child("initialOffset");
  checker.set(c, "auto.offset.reset",
              offset.defined() ? canonical_choice(map.at("initialOffset"), offset.as_string()) : "earliest",
              offset.defined() ? offset : attrs);
  checker.set(c, "session.timeout.ms", millis_text(attrs.get_duration("sessionTimeout", std::chrono::seconds(10))),
              attrs.child("sessionTimeout").defined() ? attrs.child("sessionTimeout") : attrs);
  checker.set(c, "heartbeat.interval.ms",
              millis_text(attrs.get_duration("heartbeatInterval", std::chrono::seconds(3))),
              attrs.child("heartbeatInterval").defined() ? attrs.child("heartbeatInterval") : attrs);
  checker.set(c, "enable.auto.commit", "true", attrs);
  checker.set(c, "enable.auto.offset.store", "false", attrs);
  checker.set(c, "auto.commit.interval.ms",
              millis_text(attrs.get_duration("commitInterval", std::chrono::seconds(1))),
              attrs.child("commitInterval").defined() ? attrs.child("commitInterval") : attrs);
  checker.set(c, "enable.partition.eof", "false", attrs);
  // What librdkafka holds for the trigger to take: every partition's queue
  // is forwarded to one (kafka_core.hpp), so its thresholds bound the
  // whole prefetch. Its fetchers stop past them and, before librdkafka
  // 2.3.0 (fetch.queue.backoff.ms), resume only up to a second later, so
  // the message count keeps librdkafka's default of 100,000 (lower is
  // measured in docs/BENCHMARKS.md: 20,000 reads 3.8 times slower). The
  // bytes and a fetch response are capped below librdkafka's 64 MiB and
  // 50 MiB, which are a server's.
  checker.set(c, "queued.max.messages.kbytes", "16384", attrs);
  checker.set(c, "fetch.max.bytes", "8388608", attrs);

  ConfigNode strategy = attrs.child("balanceStrategy");
  if (strategy.defined()) {
    const std::string name = canonical_choice(map.at("balanceStrategy"), strategy.as_string());
    if (name == "sticky")
      strategy.fail("librdkafka has no eager sticky strategy; use range, roundrobin or cooperative-sticky");
    checker.set(c, "partition.assignment.strategy", name, strategy);
  }
  for (const auto& [name, property] : {std::pair{"fetchMin", "fetch.min.bytes"},
                                       std::pair{"fetchDefault", "max.partition.fetch.bytes"},
                                       std::pair{"fetchMax", "fetch.max.bytes"}}) {
    if (ConfigNode node = attrs.child(name); node.defined())
      checker.set(c, property, std::to_string(attrs.get_int(map.at(name), 0)), node);
  }
  if (ConfigNode node = attrs.child("maxWaitTime"); node.defined())
    checker.set(c, "fetch.wait.max.ms", millis_text(node.as_duration()), node);

  // The producer.
  Properties& p = s.producer;
  p = common;
  checker.set(p, "enable.idempotence", "true", attrs);
  checker.set(p, "linger.ms", "5", attrs);

  // The raw map, last: it may tune anything but what edgefn manages.
  if (ConfigNode raw = attrs.child("librdkafka"); raw.defined()) {
    if (!raw.is_map()) raw.fail("expected a mapping of librdkafka properties");
    for (const auto& [name, value] : raw.entries()) {
      if (std::find(std::begin(kManaged), std::end(kManaged), name) != std::end(kManaged))
        value.fail(name + " is set by edgefn (offsets are committed only after handling); use the attributes");
      const std::string text = value.as_string();
      checker.set(c, name, text, value);
      // Consumer-only properties would only draw warnings from a producer.
      if (!consumer_only(name)) p.emplace_back(name, text);
    }
  }
  const std::string chosen = property(c, "partition.assignment.strategy");
  if (chosen.find("cooperative-sticky") != std::string::npos && rd_kafka_version() < kFirstSafeCooperativeVersion) {
    const ConfigNode& at = strategy.defined() ? strategy : attrs.child("librdkafka");
    at.fail("cooperative-sticky needs librdkafka 2.3.0 or later; this is " + std::string(rd_kafka_version_str()) +
            ", where a member dying during the first rebalance aborts the others (librdkafka #4312); use range "
            "or roundrobin");
  }

  // What becomes of failures and responses.
  auto& f = s.failure;
  if (ConfigNode node = attrs.child("onError"); node.defined())
    f.on_error = stream::parse_on_error(canonical_choice(map.at("onError"), node.as_string()));
  f.max_retries = static_cast<int>(attrs.get_int(map.at("maxRetries"), f.max_retries));
  f.retry_backoff = std::chrono::duration_cast<milliseconds>(attrs.get_duration("retryBackoff", f.retry_backoff));
  f.dead_letter_topic = attrs.get_string("deadLetterTopic");
  if (f.on_error == stream::FailurePolicy::OnError::kDeadLetter && f.dead_letter_topic.empty())
    attrs.child("onError").fail("onError: deadLetter needs a deadLetterTopic");
  s.response_topic = attrs.get_string("responseTopic");
  for (const auto& [name, topic] : {std::pair{"deadLetterTopic", &f.dead_letter_topic},
                                    std::pair{"responseTopic", &s.response_topic}}) {
    if (std::find(s.topics.begin(), s.topics.end(), *topic) != s.topics.end())
      attrs.child(name).fail("'" + *topic + "' is a topic this trigger consumes: every message would come back");
  }
  s.max_in_flight = static_cast<std::size_t>(attrs.get_int(map.at("maxInFlight"), static_cast<std::int64_t>(s.max_in_flight)));
  s.max_wait_handler_during_rebalance = std::chrono::duration_cast<milliseconds>(
      attrs.get_duration("maxWaitHandlerDuringRebalance", s.max_wait_handler_during_rebalance));
  // Nuclio has it on the trigger; the attribute wins.
  s.wait_explicit_ack_during_rebalance = std::chrono::duration_cast<milliseconds>(attrs.get_duration(
      "waitExplicitAckDuringRebalanceTimeout",
      trigger.wait_explicit_ack_during_rebalance.value_or(s.wait_explicit_ack_during_rebalance)));
  if (ConfigNode mode = attrs.child("workerAllocationMode"); mode.defined())
    s.static_allocation = canonical_choice(map.at("workerAllocationMode"), mode.as_string()) == "static";
  return s;
}

}  // namespace edgefn::kafka
