#include "trigger/kafka/kafka_trigger.hpp"

#include "config/config_error.hpp"
#include "trigger/kafka/kafka_core.hpp"

namespace edgefn {
namespace {

using kafka::Core;
using kafka::GroupState;

// Handlers' own messages (host services' publish) go out on the producer.
class KafkaOutput final : public Output {
 public:
  explicit KafkaOutput(std::shared_ptr<Core> core) : core_(std::move(core)) {}

  void publish(OutputMessage message, PublishDone done) noexcept override {
    auto record = kafka::make_output(std::move(message), core_->settings.response_topic);
    if (!record) return done(tl::make_unexpected(record.error()));
    if (core_->closed.load()) return done(tl::make_unexpected(std::string{"the Kafka trigger has stopped"}));
    auto producer = core_->get_producer();
    if (!producer) return done(tl::make_unexpected(std::string{"the Kafka producer could not be created"}));
    producer->produce(*record, std::move(done));
  }

 private:
  std::shared_ptr<Core> core_;
};

class KafkaTrigger final : public Trigger {
 public:
  KafkaTrigger(const TriggerContext& ctx, kafka::KafkaSettings settings)
      : core_(std::make_shared<Core>(ctx, std::move(settings))) {}

  ~KafkaTrigger() override {
    stop();
    if (core_->poller.joinable()) core_->poller.join();
  }

  const TriggerInfo& info() const noexcept override { return core_->info; }

  void start() override {
    const auto& name = core_->info.name;
    core_->create_consumer();
    try {
      core_->host.add_output(name, std::make_shared<KafkaOutput>(core_));
    } catch (const std::invalid_argument& e) {
      throw StartError("Kafka trigger '" + name + "': " + e.what() + " (trigger names must differ)");
    }
    if (core_->ack_mode != ExplicitAckMode::kDisable)
      core_->host.add_ack_sink(name, [core = core_](const QualifiedOffset& offset) {
        return core->take_explicit_ack(offset);
      });
    registered_ = true;
    core_->set_reason("waiting for a ready worker");
    core_->logger->info("waiting for a ready worker before joining group '{}' on {}", core_->settings.consumer_group,
                        core_->settings.brokers);
    std::weak_ptr<Core> weak = core_;
    core_->pool.when_ready([weak] {
      auto core = weak.lock();
      if (!core) return;
      asio::post(core->strand, [core] {
        if (core->closed.load() || core->draining || core->state.load() != GroupState::kWaitingForWorker) return;
        core->logger->info("a worker is ready: joining group '{}' for {}", core->settings.consumer_group,
                           core->settings.topics.front() + (core->settings.topics.size() > 1 ? ", ..." : ""));
        core->start_polling();
      });
    });
  }

  void pause() noexcept override {
    asio::post(core_->strand, [core = core_] { core->set_app_paused(true); });
  }

  void resume() noexcept override {
    asio::post(core_->strand, [core = core_] { core->set_app_paused(false); });
  }

  void drain(Clock::time_point deadline, UniqueFunction<void()> done) noexcept override {
    asio::post(core_->strand, [core = core_, deadline, done = std::move(done)]() mutable {
      core->begin_drain(deadline, std::move(done));
    });
  }

  void stop() noexcept override {
    if (stopped_.exchange(true)) return;
    core_->closed.store(true);
    if (registered_) {
      core_->host.remove_output(core_->info.name);
      core_->host.remove_ack_sink(core_->info.name);
    }
    std::shared_ptr<kafka::Producer> producer;
    {
      std::lock_guard lock(core_->producer_mutex);
      producer = std::move(core_->producer);
    }
    if (producer) producer->close(std::chrono::milliseconds{0});
    core_->wake();
    asio::post(core_->strand, [core = core_] { core->shut_down(); });
  }

  std::size_t in_flight() const noexcept override { return core_->in_flight.load(std::memory_order_relaxed); }

  bool ready() const noexcept override { return core_->ready(); }

  std::string address() const override {
    const auto& s = core_->settings;
    std::string topics;
    for (const auto& topic : s.topics) topics += (topics.empty() ? "" : ",") + topic;
    return s.brokers + " topics " + topics + " group " + s.consumer_group;
  }

  void write_status(JsonWriter& out) const override {
    const auto& s = core_->settings;
    const auto& m = core_->metrics;
    out.key("brokers").value(s.brokers);
    out.key("consumerGroup").value(s.consumer_group);
    out.key("topics").begin_array();
    for (const auto& topic : s.topics) out.value(topic);
    out.end_array();
    out.key("state").value(kafka::to_string(core_->state.load()));
    out.key("reason").value(core_->reason());
    out.key("paused").value(core_->want_paused.load());
    out.key("inFlight").value(static_cast<std::uint64_t>(in_flight()));
    out.key("assignedPartitions").value(static_cast<std::int64_t>(core_->assigned_count.load()));
    out.key("partitions").begin_array();
    {
      std::lock_guard lock(core_->reason_mutex);
      for (const auto& p : core_->status) {
        out.begin_object();
        out.key("topic").value(p.id.topic);
        out.key("partition").value(static_cast<std::int64_t>(p.id.partition));
        out.key("committable").value(p.committable);
        out.key("lag").value(p.lag);
        out.key("inFlight").value(static_cast<std::uint64_t>(p.in_flight));
        out.end_object();
      }
    }
    out.end_array();
    out.key("rebalances").begin_object();
    out.key("assigned").value(m.assigned->value());
    out.key("revoked").value(m.revoked->value());
    out.key("lost").value(m.lost->value());
    out.end_object();
    out.key("commits").value(m.commits_ok->value());
    out.key("commitsFailed").value(m.commits_failed->value());
    out.key("retries").value(m.retries->value());
    out.key("deadLettered").value(m.dead_lettered->value());
    out.key("skipped").value(m.skipped->value());
  }

 private:
  std::shared_ptr<Core> core_;
  bool registered_ = false;
  std::atomic<bool> stopped_{false};
};

}  // namespace

std::unique_ptr<Trigger> make_kafka_trigger(const TriggerContext& context, kafka::KafkaSettings settings) {
  return std::make_unique<KafkaTrigger>(context, std::move(settings));
}

}  // namespace edgefn
