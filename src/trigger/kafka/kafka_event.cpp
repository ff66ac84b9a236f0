#include "trigger/kafka/kafka_event.hpp"

#include "trigger/stream/stream_failure.hpp"
#include "util/strings.hpp"

namespace edgefn::kafka {

Event make_event(const Record& record, std::string body, const TriggerInfo& info, const std::string& brokers) {
  Event event;
  event.id = new_event_id();
  event.trigger = &info;
  event.topic = record.topic;
  event.path = record.topic;
  event.url = brokers;
  event.key = record.key.value_or(std::string{});
  event.shard_id = record.partition;
  event.offset = record.offset;
  event.headers = record.headers;
  event.content_type = std::string(find_header(record.headers, "content-type"));
  event.body = std::move(body);
  event.timestamp = record.timestamp_ms >= 0
                        ? std::chrono::system_clock::time_point(std::chrono::milliseconds(record.timestamp_ms))
                        : std::chrono::system_clock::now();
  return event;
}

OutgoingRecord make_dead_letter(const Record& record, const std::string& topic, const std::string& detail,
                                int attempts, const std::string& trigger) {
  OutgoingRecord out{topic, record.key, record.headers, record.value};
  out.headers.emplace_back(stream::kErrorHeader, detail);
  out.headers.emplace_back(stream::kTopicHeader, record.topic);
  out.headers.emplace_back(stream::kPartitionHeader, std::to_string(record.partition));
  out.headers.emplace_back(stream::kOffsetHeader, std::to_string(record.offset));
  out.headers.emplace_back(stream::kAttemptsHeader, std::to_string(attempts));
  out.headers.emplace_back(stream::kTriggerHeader, trigger);
  return out;
}

std::optional<OutgoingRecord> make_response(Response response, const Record& incoming, const std::string& topic) {
  if (topic.empty() || response.body.empty()) return std::nullopt;
  OutgoingRecord out;
  out.topic = topic;
  out.key = incoming.key;
  out.value = std::move(response.body);
  for (auto& [name, value] : response.headers) {
    if (iequals(name, kStreamNoAckHeader) || iequals(name, "content-type")) continue;
    out.headers.emplace_back(std::move(name), std::move(value));
  }
  if (!response.content_type.empty()) out.headers.emplace_back("content-type", std::move(response.content_type));
  return out;
}

tl::expected<OutgoingRecord, std::string> make_output(OutputMessage message, const std::string& default_topic) {
  OutgoingRecord out;
  out.topic = message.topic.empty() ? default_topic : std::move(message.topic);
  if (out.topic.empty()) return tl::make_unexpected(std::string{"no topic: pass one, or set the trigger's responseTopic"});
  if (!message.key.empty()) out.key = std::move(message.key);
  out.headers = std::move(message.headers);
  out.value = std::move(message.body);
  return out;
}

}  // namespace edgefn::kafka
