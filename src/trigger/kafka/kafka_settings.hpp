#pragma once
// The Kafka trigger's settings, read from the trigger and its attributes
// (Nuclio's names, as they are):
//
//   url: broker-1:9092,broker-2:9092   # or attributes.brokers (a list or a comma-separated string)
//   attributes:
//     topics: [orders, ^sensors-.*]    # a `^` prefix is a regular expression
//     consumerGroup, initialOffset (earliest | latest), sessionTimeout, heartbeatInterval,
//     balanceStrategy (range | roundrobin | cooperative-sticky), maxWaitHandlerDuringRebalance,
//     workerAllocationMode (pool | static), waitExplicitAckDuringRebalanceTimeout,
//     sasl: {enable, mechanism, user, password}, tls: {enable, caCert, clientCert, clientKey,
//     insecureSkipVerify} (caCert, accessKey, accessCertificate also at the top, as Nuclio),
//     onError (retry | skip | deadLetter), maxRetries, retryBackoff, deadLetterTopic,
//     responseTopic, maxInFlight, commitInterval,
//     librdkafka: {fetch.wait.max.ms: 50, ...}   # raw librdkafka properties
//
// Everything becomes librdkafka properties here, at load time, so that a
// property librdkafka refuses is a config error at its line and column
// (`processor validate` finds it too).
#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "config/config_map.hpp"
#include "config/function_config.hpp"
#include "trigger/stream/stream_failure.hpp"

namespace edgefn::kafka {

// librdkafka properties in the order they are set (later ones win).
using Properties = std::vector<std::pair<std::string, std::string>>;

struct KafkaSettings {
  std::string brokers;              // bootstrap.servers, for logs and event.url
  std::vector<std::string> topics;  // as librdkafka subscribes: "^..." is a regex
  std::string consumer_group;
  // Consumer properties, complete: connection, security, group, offsets
  // (edgefn stores offsets itself and librdkafka commits them), the
  // attributes' tuning and the raw `librdkafka` map.
  Properties consumer;
  // Producer properties (responses, dead letters, handlers' own messages):
  // connection and security, idempotence, and the raw map's entries.
  Properties producer;
  stream::FailurePolicy failure;
  // Non-empty handler responses are produced here (key kept), confirmed
  // before the input offset is committed; empty: responses are dropped.
  std::string response_topic;
  // Events taken from Kafka and not yet committable, over all partitions:
  // at this many every partition is paused until the count falls to half.
  std::size_t max_in_flight = 1000;
  // A revoked partition waits this long for its running handlers, and
  // then, with explicitAckMode, this long for explicit acknowledgements.
  std::chrono::milliseconds max_wait_handler_during_rebalance{5000};
  std::chrono::milliseconds wait_explicit_ack_during_rebalance{100};
  bool static_allocation = false;  // workerAllocationMode: static (see docs/configuration.md)
};

// The Kafka trigger's attributes (spec.triggers.<name>.attributes).
const ConfigMap& kafka_config_map();

// Reads and checks the trigger and its attributes. `function_name` and
// `instance` make the client.id `<function>-<trigger>[-<instance>]`.
// Throws ConfigError at the offending value, with librdkafka's own message
// for a property it refuses. Start-up thread; reads valueFrom.envVar and
// checks that certificate files exist.
KafkaSettings read_kafka_settings(const TriggerConfig& trigger, const std::string& function_name,
                                  const std::string& instance = {});

// The value of property `name` in `properties` (the last one set), or empty.
std::string property(const Properties& properties, std::string_view name);

}  // namespace edgefn::kafka
