#pragma once
// Host services: what the daemon offers a handler beyond answering its
// event. A handler publishes a message to a named output (a stream
// trigger's connection: an MQTT broker, a Kafka producer), or acknowledges
// a stream event it had deferred (Nuclio's explicitAckMode). Runtimes carry
// the calls from handlers (the native ABI's publish, the Python worker's
// PUBLISH and EXPLICIT_ACK messages) to HostServices; triggers register
// what they offer with Host. This part knows neither runtimes nor triggers.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "event/event.hpp"
#include "util/unique_function.hpp"

namespace edgefn {

// Empty on success, else what went wrong, for the handler.
using PublishOutcome = tl::expected<void, std::string>;
using PublishDone = UniqueFunction<void(PublishOutcome)>;

// What runtimes call. Every call may come from any thread and never blocks
// or throws.
class HostServices {
 public:
  virtual ~HostServices() = default;

  // Hands `message` to the output named `output`. `done` runs once, from
  // any thread (possibly inside this call), when the output has taken
  // responsibility for the message (by its own rules: an MQTT QoS 1
  // PUBACK, a Kafka delivery report) or has failed.
  virtual void publish(std::string_view output, OutputMessage message, PublishDone done) noexcept = 0;

  // A handler acknowledges a stream event it had deferred. False when no
  // stream owns `offset` (the trigger is gone, or the partition was
  // revoked): the event will be redelivered.
  virtual bool explicit_ack(const QualifiedOffset& offset) noexcept = 0;
};

// A destination a handler can publish to, implemented by a trigger kind.
class Output {
 public:
  virtual ~Output() = default;
  // As HostServices::publish. Any thread.
  virtual void publish(OutputMessage message, PublishDone done) noexcept = 0;
};

// Where explicit acknowledgements go: true when this stream owns `offset`
// and took the acknowledgement. Any thread.
using ExplicitAckSink = std::function<bool(const QualifiedOffset& offset)>;

// The daemon's registry of outputs and acknowledgement sinks. Triggers
// register at start and unregister when they stop.
class Host final : public HostServices {
 public:
  // Names are unique: a second output of the same name throws
  // std::invalid_argument. Any thread.
  void add_output(const std::string& name, std::shared_ptr<Output> output);
  void remove_output(const std::string& name) noexcept;
  void add_ack_sink(const std::string& name, ExplicitAckSink sink);
  void remove_ack_sink(const std::string& name) noexcept;
  std::vector<std::string> output_names() const;

  void publish(std::string_view output, OutputMessage message, PublishDone done) noexcept override;
  bool explicit_ack(const QualifiedOffset& offset) noexcept override;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Output>, std::less<>> outputs_;
  std::map<std::string, ExplicitAckSink, std::less<>> ack_sinks_;
};

}  // namespace edgefn
