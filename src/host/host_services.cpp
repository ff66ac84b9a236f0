#include "host/host_services.hpp"

#include <stdexcept>

namespace edgefn {

void Host::add_output(const std::string& name, std::shared_ptr<Output> output) {
  std::lock_guard lock(mutex_);
  if (!outputs_.emplace(name, std::move(output)).second)
    throw std::invalid_argument("an output named '" + name + "' already exists");
}

void Host::remove_output(const std::string& name) noexcept {
  std::lock_guard lock(mutex_);
  outputs_.erase(name);
}

void Host::add_ack_sink(const std::string& name, ExplicitAckSink sink) {
  std::lock_guard lock(mutex_);
  ack_sinks_[name] = std::move(sink);
}

void Host::remove_ack_sink(const std::string& name) noexcept {
  std::lock_guard lock(mutex_);
  ack_sinks_.erase(name);
}

std::vector<std::string> Host::output_names() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  for (const auto& [name, output] : outputs_) names.push_back(name);
  return names;
}

void Host::publish(std::string_view output, OutputMessage message, PublishDone done) noexcept {
  std::shared_ptr<Output> target;
  std::string known;
  try {
    std::lock_guard lock(mutex_);
    if (auto it = outputs_.find(output); it != outputs_.end()) {
      target = it->second;
    } else {
      for (const auto& [name, o] : outputs_) known += (known.empty() ? "" : ", ") + name;
    }
  } catch (const std::exception& e) {
    return done(tl::make_unexpected(std::string("cannot publish: ") + e.what()));
  }
  // Outside the lock: an output may complete inline.
  if (target) return target->publish(std::move(message), std::move(done));
  done(tl::make_unexpected("no output named '" + std::string(output) + "' (outputs: " +
                           (known.empty() ? std::string("none") : known) + ")"));
}

bool Host::explicit_ack(const QualifiedOffset& offset) noexcept {
  std::vector<ExplicitAckSink> sinks;
  try {
    std::lock_guard lock(mutex_);
    for (const auto& [name, sink] : ack_sinks_) sinks.push_back(sink);
  } catch (const std::exception&) {
    return false;
  }
  for (const auto& sink : sinks)
    if (sink(offset)) return true;
  return false;
}

}  // namespace edgefn
