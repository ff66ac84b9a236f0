#include "trigger/mqtt/mqtt_event.hpp"

#include <algorithm>

namespace edgefn::mqtt {

Event make_event(const Publish& publish, std::string payload, std::uint64_t delivery_id, const TriggerInfo& info,
                 const std::string& broker_url) {
  Event event;
  event.id = new_event_id();
  event.trigger = &info;
  event.topic = publish.topic;
  event.path = publish.topic;
  event.url = broker_url;
  event.content_type = publish.properties.content_type.value_or(std::string{});
  event.headers = publish.properties.user_properties;
  event.fields = {{"qos", std::to_string(publish.qos)},
                  {"retain", publish.retain ? "true" : "false"},
                  {"dup", publish.dup ? "true" : "false"}};
  event.body = std::move(payload);
  event.timestamp = std::chrono::system_clock::now();
  event.offset = static_cast<std::int64_t>(delivery_id);
  return event;
}

Publish make_error_publish(const Publish& original, const std::string& error_topic, const std::string& detail,
                           int attempts, const std::string& trigger) {
  Publish out;
  out.topic = error_topic;
  out.payload = original.payload;
  out.qos = std::max<std::uint8_t>(original.qos, 1);
  out.properties.content_type = original.properties.content_type;
  out.properties.payload_format_indicator = original.properties.payload_format_indicator;
  out.properties.user_properties = original.properties.user_properties;
  auto& headers = out.properties.user_properties;
  headers.emplace_back(kErrorHeader, detail);
  headers.emplace_back(kTopicHeader, original.topic);
  headers.emplace_back(kAttemptsHeader, std::to_string(attempts));
  headers.emplace_back(kTriggerHeader, trigger);
  return out;
}

std::optional<Publish> make_response_publish(Response response, const Publish& incoming,
                                             const MqttSettings& settings) {
  if (response.body.empty()) return std::nullopt;
  Publish out;
  const auto& own = incoming.properties.response_topic;
  if (own && !own->empty()) {
    out.topic = *own;
    out.properties.correlation_data = incoming.properties.correlation_data;
  } else if (!settings.response_topic.empty()) {
    out.topic = settings.response_topic;
  } else {
    return std::nullopt;
  }
  out.payload = std::move(response.body);
  out.qos = settings.response_qos.value_or(incoming.qos);
  if (!response.content_type.empty()) out.properties.content_type = std::move(response.content_type);
  // Nuclio's Response.ensure_no_ack() marks the answer with a header; it
  // told the trigger (Response::no_ack) and means nothing to a subscriber.
  std::erase_if(response.headers, [](const auto& h) { return iequals(h.first, kStreamNoAckHeader); });
  out.properties.user_properties = std::move(response.headers);
  return out;
}

tl::expected<Publish, std::string> make_output_publish(OutputMessage message, const MqttSettings& settings) {
  Publish out;
  out.topic = !message.topic.empty() ? std::move(message.topic) : settings.response_topic;
  if (out.topic.empty()) return tl::make_unexpected(std::string{"no topic (and the trigger has no responseTopic)"});
  if (auto why = check_topic_name(out.topic); !why.empty())
    return tl::make_unexpected("topic '" + out.topic + "': " + why);
  out.payload = std::move(message.body);
  out.qos = settings.response_qos.value_or(1);
  for (auto& [name, value] : message.headers) {
    if (iequals(name, "content-type"))
      out.properties.content_type = std::move(value);
    else
      out.properties.user_properties.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

}  // namespace edgefn::mqtt
