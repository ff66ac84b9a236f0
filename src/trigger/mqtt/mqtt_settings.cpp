#include "trigger/mqtt/mqtt_settings.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <limits>

#include "config/config_error.hpp"
#include "util/strings.hpp"

namespace edgefn::mqtt {
namespace {

using std::chrono::milliseconds;

// Defaults that are not members of a settings struct.
constexpr std::int64_t kDefaultProtocolVersion = 4;
constexpr std::chrono::hours kDefaultSessionExpiry{24};
constexpr std::size_t kMinimumWindow = 16;

ConfigMap make_subscription_map() {
  ConfigMap map{"subscriptions", "", {}, {}};
  map.keys = {
      {.name = "topic",
       .default_note = "(required)",
       .help = "a topic filter: `+` and `#` wildcards, `$share/<group>/<filter>` for a shared subscription"},
      {.name = "qos", .type = KeyType::kInteger, .max = 2, .default_value = "0", .help = "0, 1 or 2"},
  };
  return map;
}

ConfigMap make_tls_map() {
  const TlsSettings defaults;
  ConfigMap map{"tls", "", {}, {}};
  map.keys = {
      {.name = "caCert", .default_note = "the system's trust store", .help = "PEM file of the CA that signed the broker's certificate"},
      {.name = "clientCert", .help = "PEM certificate for mutual TLS (with `clientKey`)"},
      {.name = "clientKey", .help = "PEM private key of `clientCert`"},
      {.name = "insecureSkipVerify",
       .type = KeyType::kBool,
       .default_value = default_text(defaults.insecure_skip_verify),
       .help = "accept any certificate and host name (testing only; logged as a warning)"},
  };
  return map;
}

ConfigMap make_will_map() {
  ConfigMap map{"will", "", {}, {}};
  map.keys = {
      {.name = "topic", .default_note = "(required)", .help = "where the broker publishes the will when the connection is lost"},
      {.name = "payload", .help = "the will message"},
      {.name = "qos", .type = KeyType::kInteger, .max = 2, .default_value = "0", .help = "0, 1 or 2"},
      {.name = "retain", .type = KeyType::kBool, .default_value = "false", .help = "publish the will retained"},
  };
  return map;
}

ConfigMap make_mqtt_map() {
  static const ConfigMap subscription = make_subscription_map();
  static const ConfigMap tls = make_tls_map();
  static const ConfigMap will = make_will_map();
  const MqttSettings defaults;
  const SessionSettings& session = defaults.session;
  ConfigMap map{"mqtt", "spec.triggers.<name>.attributes", {}, {}};
  map.keys = {
      {.name = "broker",
       .default_note = "the trigger's `url`",
       .help = "`tcp://` (or `mqtt://`), `ssl://` (or `mqtts://`), `ws://`, `wss://` URL of the broker"},
      {.name = "subscriptions",
       .type = KeyType::kList,
       .default_note = "(required)",
       .help = "`{topic, qos}` entries (see `mqtt.subscriptions`); a bare string is a topic at QoS 0",
       .fields = &subscription},
      {.name = "clientID",
       .default_note = "`<function>-<trigger>-<hostname>`",
       .help = "the client ID; stable across restarts so a restart resumes the broker's session"},
      {.name = "protocolVersion",
       .type = KeyType::kInteger,
       .min = 3,
       .max = 5,
       .default_value = std::to_string(kDefaultProtocolVersion),
       .help = "`3` = MQTT 3.1, `4` = 3.1.1, `5` = 5"},
      {.name = "keepAlive",
       .type = KeyType::kDuration,
       .default_value = default_text(std::chrono::seconds(session.connect.keep_alive)),
       .help = "the interval of keepalive pings, whole seconds up to 18h12m15s; 0 turns them off"},
      {.name = "cleanSession",
       .type = KeyType::kBool,
       .default_note = "false when a subscription has QoS 1 or 2",
       .help = "start without the broker's stored session (MQTT 5: clean start)"},
      {.name = "sessionExpiryInterval",
       .type = KeyType::kDuration,
       .default_value = default_text(std::chrono::duration_cast<std::chrono::nanoseconds>(kDefaultSessionExpiry)),
       .help = "MQTT 5: how long the broker keeps a persistent session after a disconnect"},
      {.name = "receiveWindow",
       .type = KeyType::kInteger,
       .min = 1,
       .max = 65535,
       .default_note = "2 × numWorkers, at least " + std::to_string(kMinimumWindow),
       .help = "messages in hand at once; past it the trigger stops reading (MQTT 5: the Receive Maximum)"},
      {.name = "ordered",
       .type = KeyType::kBool,
       .default_value = default_text(defaults.ordered),
       .help = "handle the messages of one topic one at a time, in order; otherwise in parallel"},
      {.name = "responseTopic",
       .help = "publish non-empty handler responses here (an MQTT 5 message's own response topic wins)"},
      {.name = "responseQos",
       .type = KeyType::kInteger,
       .max = 2,
       .default_note = "the incoming message's QoS",
       .help = "QoS of published responses"},
      {.name = "errorTopic",
       .help = "after `maxRetries` failed attempts, publish the message here with error properties, then ack it"},
      {.name = "maxRetries",
       .type = KeyType::kInteger,
       .max = 100,
       .default_value = default_text(defaults.max_retries),
       .help = "local retries of a message whose handler failed (status >= 500, crash, timeout)"},
      {.name = "retryBackoff",
       .type = KeyType::kDuration,
       .default_value = default_text(defaults.retry_backoff),
       .help = "wait before the first retry; doubled for each next one, at most 30s"},
      {.name = "tls",
       .type = KeyType::kMapping,
       .default_note = "with `ssl://`, `mqtts://`, `wss://`",
       .help = "certificates (see `mqtt.tls`)",
       .fields = &tls},
      {.name = "will",
       .type = KeyType::kMapping,
       .help = "a last will the broker publishes if the processor vanishes (see `mqtt.will`)",
       .fields = &will},
      {.name = "connectTimeout",
       .type = KeyType::kDuration,
       .default_value = default_text(session.connect_timeout),
       .help = "bound on connecting, the TLS and WebSocket handshakes and the broker's CONNACK"},
      {.name = "reconnectMinBackoff",
       .type = KeyType::kDuration,
       .default_value = default_text(session.reconnect_min_backoff),
       .help = "first wait before reconnecting; doubled after each failure"},
      {.name = "reconnectMaxBackoff",
       .type = KeyType::kDuration,
       .default_value = default_text(session.reconnect_max_backoff),
       .help = "longest wait before reconnecting"},
      {.name = "maxPacketSize",
       .type = KeyType::kInteger,
       .min = 64,
       .max = static_cast<std::int64_t>(kMaxPacketSize),
       .default_value = default_text(session.max_packet_size),
       .default_note = byte_size_note(session.max_packet_size),
       .help = "largest packet accepted from the broker; a larger one ends the connection"},
  };
  return map;
}

std::string host_name() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0') return "localhost";
  return buffer;
}

std::uint8_t read_qos(const ConfigNode& node) {
  return static_cast<std::uint8_t>(node.get_int("qos", 0, 0, 2));
}

Subscription read_subscription(const ConfigNode& node) {
  Subscription subscription;
  ConfigNode topic = node;
  if (node.is_map()) {
    node.check_keys(*mqtt_config_map().at("subscriptions").fields);
    topic = node.child("topic");
    if (!topic.defined()) node.fail("a subscription needs a topic");
    subscription.qos = read_qos(node);
  }
  subscription.filter = topic.as_string();
  if (std::string why = check_topic_filter(subscription.filter); !why.empty()) topic.fail(why);
  return subscription;
}

std::string read_file_path(const ConfigNode& node, const std::filesystem::path& directory) {
  if (!node.defined()) return {};
  std::filesystem::path path = node.as_string();
  if (path.is_relative()) path = directory / path;
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) node.fail("no such file: " + path.string());
  return path.string();
}

TlsSettings read_tls(const ConfigNode& node, const std::filesystem::path& directory) {
  TlsSettings tls;
  if (!node.defined()) return tls;
  tls.ca_cert = read_file_path(node.child("caCert"), directory);
  tls.client_cert = read_file_path(node.child("clientCert"), directory);
  tls.client_key = read_file_path(node.child("clientKey"), directory);
  if (tls.client_cert.empty() != tls.client_key.empty())
    node.fail("clientCert and clientKey go together (mutual TLS needs both)");
  tls.insecure_skip_verify = node.get_bool("insecureSkipVerify", tls.insecure_skip_verify);
  return tls;
}

Will read_will(const ConfigNode& node) {
  Will will;
  ConfigNode topic = node.child("topic");
  if (!topic.defined()) node.fail("a will needs a topic");
  will.topic = topic.as_string();
  if (std::string why = check_topic_name(will.topic); !why.empty()) topic.fail(why);
  will.payload = node.get_string("payload");
  will.qos = read_qos(node);
  will.retain = node.get_bool("retain", false);
  return will;
}

milliseconds millis(std::chrono::nanoseconds d) { return std::chrono::duration_cast<milliseconds>(d); }

}  // namespace

const ConfigMap& mqtt_config_map() {
  static const ConfigMap map = make_mqtt_map();
  return map;
}

tl::expected<Endpoint, std::string> parse_broker_url(std::string_view url) {
  Endpoint endpoint;
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos)
    return tl::unexpected("expected a URL such as tcp://broker:1883, got '" + std::string(url) + "'");
  const std::string_view scheme = url.substr(0, scheme_end);
  const auto is = [&](std::string_view name) { return iequals(scheme, name); };
  if (is("tcp") || is("mqtt")) {
    endpoint.transport = Endpoint::Transport::kTcp;
    endpoint.port = 1883;
  } else if (is("ssl") || is("tls") || is("mqtts")) {
    endpoint.transport = Endpoint::Transport::kTls;
    endpoint.port = 8883;
  } else if (is("ws")) {
    endpoint.transport = Endpoint::Transport::kWebSocket;
    endpoint.port = 80;
  } else if (is("wss")) {
    endpoint.transport = Endpoint::Transport::kWebSocketTls;
    endpoint.port = 443;
  } else {
    return tl::unexpected("unknown scheme '" + std::string(scheme) + "'; expected tcp, mqtt, ssl, mqtts, ws or wss");
  }
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.size() < rest.size()) endpoint.path = std::string(rest.substr(authority.size()));
  // user:password@ is taken off: the URL is logged and handed to handlers.
  std::string_view credentials;
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    credentials = authority.substr(0, at);
    authority.remove_prefix(at + 1);
  }
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return tl::unexpected("unclosed '[' in '" + std::string(url) + "'");
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return tl::unexpected("expected ':' after ']' in '" + std::string(url) + "'");
      port = authority.substr(close + 2);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return tl::unexpected("no host in '" + std::string(url) + "'");
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (error != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535)
      return tl::unexpected("expected a port from 1 to 65535 in '" + std::string(url) + "'");
    endpoint.port = static_cast<std::uint16_t>(value);
  }
  endpoint.host = std::string(host);
  endpoint.url = std::string(url);
  if (!credentials.empty()) {
    const auto userinfo = url.find(credentials);
    endpoint.url = std::string(url.substr(0, userinfo)) + std::string(url.substr(userinfo + credentials.size() + 1));
  }
  return endpoint;
}

MqttSettings read_mqtt_settings(const TriggerConfig& trigger, const std::string& function_name,
                                const std::string& instance) {
  MqttSettings s;
  SessionSettings& session = s.session;
  Connect& connect = session.connect;
  const std::string where = trigger.mark.to_string() + ": spec.triggers." + trigger.name;
  if (!trigger.attributes || !trigger.attributes->defined())
    throw ConfigError(where + ": an mqtt trigger needs attributes.subscriptions");
  const ConfigNode& attrs = *trigger.attributes;
  if (!attrs.is_map()) attrs.fail("expected a mapping");
  const ConfigMap& map = mqtt_config_map();
  attrs.check_keys(map);

  // Where: the trigger's url (Nuclio), else attributes.broker.
  std::string url = trigger.url;
  ConfigNode broker = attrs.child("broker");
  if (url.empty() && broker.defined()) url = broker.as_string();
  if (url.empty()) throw ConfigError(where + ": an mqtt trigger needs a broker: set url (tcp://host:1883)");
  auto endpoint = parse_broker_url(url);
  if (!endpoint) {
    if (trigger.url.empty()) broker.fail(endpoint.error());
    throw ConfigError(where + ".url: " + endpoint.error());
  }
  session.endpoint = std::move(*endpoint);

  ConfigNode subscriptions = attrs.child("subscriptions");
  if (!subscriptions.defined()) attrs.fail("an mqtt trigger needs subscriptions: [{topic, qos}]");
  if (!subscriptions.is_sequence()) subscriptions.fail("expected a list of {topic, qos} entries");
  for (const ConfigNode& entry : subscriptions.elements()) session.subscriptions.push_back(read_subscription(entry));
  if (session.subscriptions.empty()) subscriptions.fail("an mqtt trigger needs at least one subscription");
  const bool durable = std::any_of(session.subscriptions.begin(), session.subscriptions.end(),
                                   [](const Subscription& sub) { return sub.qos > 0; });

  const auto version = attrs.get_int(map.at("protocolVersion"), kDefaultProtocolVersion);
  connect.version = static_cast<Version>(version);

  // A client ID that is the same after a restart (so the broker's session
  // resumes) and differs between processors on one broker.
  connect.client_id = attrs.get_string("clientID");
  if (connect.client_id.empty()) {
    connect.client_id = function_name + "-" + trigger.name + "-" + host_name();
    if (!instance.empty()) connect.client_id += "-" + instance;
  }
  if (connect.version == Version::k31 && connect.client_id.size() > 23)
    attrs.notice(ConfigNotice::Level::kWarning, "MQTT 3.1 brokers may refuse client IDs longer than 23 bytes ('" +
                                                    connect.client_id + "'); set clientID");

  if (ConfigNode keep_alive = attrs.child("keepAlive"); keep_alive.defined()) {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(keep_alive.as_duration()).count();
    if (seconds < 0 || seconds > std::numeric_limits<std::uint16_t>::max())
      keep_alive.fail("expected whole seconds from 0 to 65535");
    connect.keep_alive = static_cast<std::uint16_t>(seconds);
  }
  connect.clean_start = attrs.get_bool("cleanSession", !durable);
  if (connect.clean_start && durable)
    attrs.child("cleanSession")
        .notice(ConfigNotice::Level::kWarning,
                "a clean session loses the QoS 1 and 2 messages published while the processor is away");
  if (connect.version == Version::k5) {
    const auto expiry = std::chrono::duration_cast<std::chrono::seconds>(
        attrs.get_duration("sessionExpiryInterval", kDefaultSessionExpiry));
    connect.properties.session_expiry_interval =
        static_cast<std::uint32_t>(std::clamp<std::int64_t>(expiry.count(), 0, std::numeric_limits<std::uint32_t>::max()));
  } else if (ConfigNode expiry = attrs.child("sessionExpiryInterval"); expiry.defined()) {
    expiry.notice(ConfigNotice::Level::kWarning, "only MQTT 5 has a session expiry; ignored with protocolVersion " +
                                                     std::to_string(version));
  }

  connect.username = trigger.username.empty() ? std::nullopt : std::optional(trigger.username);
  connect.password = trigger.password.empty() ? std::nullopt : std::optional(trigger.password);
  if (connect.password && !connect.username && connect.version != Version::k5)
    throw ConfigError(where + ".password: MQTT 3.1.1 sends a password only with a username; set username");
  if (ConfigNode will = attrs.child("will"); will.defined()) connect.will = read_will(will);

  session.tls = read_tls(attrs.child("tls"), trigger.mark.file.empty()
                                                 ? std::filesystem::current_path()
                                                 : std::filesystem::path(trigger.mark.file).parent_path());
  if (attrs.child("tls").defined() && !session.endpoint.tls())
    attrs.child("tls").fail("the broker URL '" + session.endpoint.url +
                            "' is not TLS; use ssl://, mqtts:// or wss:// to connect with these certificates");

  const auto window_default = std::max<std::size_t>(kMinimumWindow, 2 * static_cast<std::size_t>(trigger.num_workers));
  session.window = static_cast<std::size_t>(
      attrs.get_int(map.at("receiveWindow"), static_cast<std::int64_t>(std::min<std::size_t>(window_default, 65535))));
  session.max_packet_size = static_cast<std::size_t>(
      attrs.get_int(map.at("maxPacketSize"), static_cast<std::int64_t>(session.max_packet_size)));
  session.connect_timeout = millis(attrs.get_duration("connectTimeout", session.connect_timeout));
  session.reconnect_min_backoff = millis(attrs.get_duration("reconnectMinBackoff", session.reconnect_min_backoff));
  session.reconnect_max_backoff = millis(attrs.get_duration("reconnectMaxBackoff", session.reconnect_max_backoff));
  if (session.reconnect_min_backoff.count() <= 0) attrs.child("reconnectMinBackoff").fail("expected a positive duration");
  if (session.reconnect_max_backoff < session.reconnect_min_backoff)
    attrs.child("reconnectMaxBackoff").fail("shorter than reconnectMinBackoff");

  s.ordered = attrs.get_bool("ordered", s.ordered);
  for (const auto& entry : {std::pair{"responseTopic", &s.response_topic}, std::pair{"errorTopic", &s.error_topic}}) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one.
    const char* key = entry.first;
    std::string* target = entry.second;
    ConfigNode node = attrs.child(key);
    if (!node.defined()) continue;
    *target = node.as_string();
    if (std::string why = check_topic_name(*target); !why.empty()) node.fail(why);
    const bool loops = std::any_of(session.subscriptions.begin(), session.subscriptions.end(),
                                   [&](const Subscription& sub) { return topic_matches(sub.filter, *target); });
    if (loops) node.fail("'" + *target + "' matches a subscription of this trigger: every message would come back");
  }
  if (attrs.child("responseQos").defined())
    s.response_qos = static_cast<std::uint8_t>(attrs.get_int(map.at("responseQos"), 0));
  s.max_retries = static_cast<int>(attrs.get_int(map.at("maxRetries"), s.max_retries));
  s.retry_backoff = millis(attrs.get_duration("retryBackoff", s.retry_backoff));
  return s;
}

}  // namespace edgefn::mqtt
