#pragma once
// The MQTT trigger's pure parts, kept apart from the session and the pool so
// they can be unit-tested without a broker: a PUBLISH as an Event, a
// handler's answer as the messages it leads to (a response, an error-topic
// copy), a handler's own OutputMessage as a PUBLISH, and the retry policy.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <tl/expected.hpp>

#include "event/event.hpp"
#include "trigger/mqtt/mqtt_codec.hpp"
#include "trigger/mqtt/mqtt_settings.hpp"
#include "trigger/stream/stream_failure.hpp"
#include "worker/dispatch.hpp"

namespace edgefn::mqtt {

// The failure rules and error headers both stream triggers share.
using stream::describe_failure;
using stream::is_abandoned;
using stream::is_failure;
using stream::kAttemptsHeader;
using stream::kErrorHeader;
using stream::kMaxRetryBackoff;
using stream::kTopicHeader;
using stream::kTriggerHeader;
using stream::retry_delay;

// `publish` as the event a handler sees: body = `payload` (the message's,
// copied or moved by the caller, who may need it again for a retry), topic
// = path = the topic, url = the broker, content type and headers from the
// MQTT 5 content type and user properties, fields qos, retain and dup
// ("0"-"2", "true"/"false"), offset = the delivery id. `info` must outlive
// the event.
Event make_event(const Publish& publish, std::string payload, std::uint64_t delivery_id, const TriggerInfo& info,
                 const std::string& broker_url);

// The copy of `original` published to `error_topic` when its handler failed
// for good: the payload unchanged, its content type and user properties
// kept, the error headers appended as user properties (which MQTT 3.1.1
// cannot carry: there the payload goes alone). QoS at least 1, so the
// failure is not lost on the way.
Publish make_error_publish(const Publish& original, const std::string& error_topic, const std::string& detail,
                           int attempts, const std::string& trigger);

// The response to `incoming` (its properties; the payload is not needed),
// or nothing when the body is empty or no response topic applies. An MQTT 5
// response topic on the incoming message wins over settings.response_topic
// and its correlation data is copied back. QoS: settings.response_qos, else
// the incoming message's. The content type and headers go as MQTT 5
// properties (but for Nuclio's X-Nuclio-Stream-No-Ack marker).
std::optional<Publish> make_response_publish(Response response, const Publish& incoming,
                                             const MqttSettings& settings);

// A handler's own message (host services' publish): its topic, else
// settings.response_topic, else an error; QoS settings.response_qos, else
// 1; headers as MQTT 5 user properties, a "content-type" header as the
// content type property. MQTT has no message key: `key` is ignored.
tl::expected<Publish, std::string> make_output_publish(OutputMessage message, const MqttSettings& settings);

}  // namespace edgefn::mqtt
