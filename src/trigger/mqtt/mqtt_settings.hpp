#pragma once
// The MQTT trigger's settings, read from the trigger and its attributes:
//
//   url: tcp://broker:1883      # or attributes.broker; tcp|mqtt, ssl|mqtts, ws, wss
//   username / password         # trigger-level (Nuclio) or attributes; password may be
//                               #   {valueFrom: {envVar: NAME}} to keep it out of the file
//   attributes:
//     subscriptions: [{topic: sensors/+/temp, qos: 1}]   # wildcards, $share/group/filter
//     clientID, protocolVersion (3 | 4 | 5), keepAlive, cleanSession,
//     sessionExpiryInterval (MQTT 5), receiveWindow, ordered,
//     responseTopic, responseQos, errorTopic, maxRetries, retryBackoff,
//     tls: {caCert, clientCert, clientKey, insecureSkipVerify}, will: {...},
//     reconnectMinBackoff, reconnectMaxBackoff, connectTimeout, maxPacketSize
//
// Nuclio's attribute names are accepted as they are.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config_map.hpp"
#include "config/function_config.hpp"
#include "trigger/mqtt/mqtt_codec.hpp"

namespace edgefn::mqtt {

struct Endpoint {
  enum class Transport { kTcp, kTls, kWebSocket, kWebSocketTls };
  Transport transport = Transport::kTcp;
  std::string host;
  std::uint16_t port = 1883;  // 1883 tcp, 8883 tls, 80 ws, 443 wss when the URL has none
  std::string path = "/mqtt";  // WebSocket request target
  std::string url;  // as written, with any user:password@ removed (logs, event.url)

  bool tls() const noexcept { return transport == Transport::kTls || transport == Transport::kWebSocketTls; }
  bool websocket() const noexcept {
    return transport == Transport::kWebSocket || transport == Transport::kWebSocketTls;
  }
};

struct TlsSettings {
  std::string ca_cert;      // PEM file; empty: the system's trust store
  std::string client_cert;  // PEM file; with client_key, for mutual TLS
  std::string client_key;
  bool insecure_skip_verify = false;  // no certificate or host name check (logged as a warning)
};

// What the session (mqtt_session.hpp) needs to keep one connection up.
struct SessionSettings {
  Endpoint endpoint;
  TlsSettings tls;
  // CONNECT as sent: version, client ID, clean start, keepalive,
  // credentials, will; for MQTT 5 also session expiry and receive maximum.
  Connect connect;
  std::vector<Subscription> subscriptions;
  // Deliveries handed to the trigger and not yet settled: at this many the
  // session stops reading the socket (the broker buffers). For MQTT 5 it
  // is also the Receive Maximum sent in CONNECT.
  std::size_t window = 64;
  std::size_t max_packet_size = 16 * 1024 * 1024;  // incoming; larger ones end the connection
  std::chrono::milliseconds connect_timeout{10'000};  // TCP + TLS + WebSocket + CONNACK
  std::chrono::milliseconds reconnect_min_backoff{500};
  std::chrono::milliseconds reconnect_max_backoff{30'000};
};

struct MqttSettings {
  SessionSettings session;
  // Messages on one topic handled one at a time, in order (the topic is
  // the ordering key); otherwise in parallel.
  bool ordered = false;
  // Non-empty handler responses are published here (an MQTT 5 message's
  // own response topic wins); empty: responses are dropped.
  std::string response_topic;
  std::optional<std::uint8_t> response_qos;  // default: the incoming message's QoS
  // A message whose handler failed (status >= 500, crash, timeout) after
  // max_retries local retries is published here with error headers, then
  // acknowledged. Empty: acknowledged after the retries, and logged.
  std::string error_topic;
  int max_retries = 3;
  std::chrono::milliseconds retry_backoff{1000};  // doubled per retry, capped at 30 s
};

// The MQTT trigger's attributes (spec.triggers.<name>.attributes).
const ConfigMap& mqtt_config_map();

// Reads and checks the trigger (url, username, password) and its
// attributes. `function_name` and `instance` make the default client ID
// `<function>-<trigger>-<hostname>[-<instance>]`, stable across restarts.
// Throws ConfigError at the offending value. Start-up thread; reads the
// environment (valueFrom.envVar, hostname) and checks that TLS files exist.
MqttSettings read_mqtt_settings(const TriggerConfig& trigger, const std::string& function_name,
                                const std::string& instance = {});

// "tcp://host:1883", "mqtts://host", "ws://host:8080/mqtt" -> Endpoint, or
// why not (an empty host, an unknown scheme, a bad port).
tl::expected<Endpoint, std::string> parse_broker_url(std::string_view url);

}  // namespace edgefn::mqtt
