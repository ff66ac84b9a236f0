#pragma once
// The MQTT trigger: one client session (mqtt_session.hpp) whose PUBLISH
// packets become events, handled in parallel on the trigger's pool (or one
// at a time per topic with attributes.ordered), and acknowledged to the
// broker only once handled: a crash or a kill means redelivery, not loss.
//
// - Intake: consumption begins once the pool has a ready worker. The
//   session's window bounds the messages delivered and not yet settled; at
//   the window it stops reading the socket, so the broker buffers and the
//   trigger never refuses a message for load (its dispatches wait for a
//   worker as long as it takes). pause() holds new messages back (they
//   count against the window, so reading stops soon after).
// - Failure (a response of 500 or more, a crash, a timeout): retried here
//   up to maxRetries times, retryBackoff doubling (at most 30 s), the
//   message still unacknowledged meanwhile; then published to errorTopic
//   if set (with x-edgefn-error, -topic, -attempts and -trigger user
//   properties on MQTT 5; the payload alone on 3.1.1) and acknowledged once
//   the broker took that copy, or acknowledged and dropped without one.
//   Logged and counted either way. A message the pool did not run (the
//   processor stopping) is not acknowledged: the broker redelivers it.
// - Responses: a non-empty body goes to the message's MQTT 5 response topic
//   (with its correlation data) or to responseTopic; the message is
//   acknowledged after the broker took the response, so a crash between
//   the two means a duplicate response, not a lost one.
// - explicitAckMode: with "enable" and Response.no_ack, or "explicitOnly",
//   the message is acknowledged when the handler calls explicit_ack with
//   {topic, partition 0 or -1 (event.shard_id), offset = event.offset}
//   (QualifiedOffset.from_event(event) in Python). Until then it holds the
//   acknowledgements of the messages after it (MQTT acknowledges in
//   arrival order) and a place in the window.
// - Handlers publish through an output named after the trigger.
// - ready() follows the broker connection; drain() stops reading, lets the
//   messages in flight finish and be acknowledged, then disconnects.
//
// Metrics, all labelled {trigger}: edgefn_mqtt_connected,
// edgefn_mqtt_connects_total, edgefn_mqtt_connection_losses_total,
// edgefn_mqtt_retries_total, edgefn_mqtt_failed_messages_total{outcome=
// "error_topic"|"dropped"}, and the common edgefn_events_total{result} and
// edgefn_event_duration_seconds (one per handler run, retries included).
#include <memory>

#include "trigger/mqtt/mqtt_settings.hpp"
#include "trigger/trigger.hpp"

namespace edgefn {

// Builds the trigger and its session; connects once start() was called and
// the pool has a ready worker. Start-up thread; throws StartError.
std::unique_ptr<Trigger> make_mqtt_trigger(const TriggerContext& context, mqtt::MqttSettings settings);

}  // namespace edgefn
