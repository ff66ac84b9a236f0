#include "trigger/mqtt/mqtt_trigger.hpp"

#include <deque>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "config/config_error.hpp"
#include "log/log.hpp"
#include "trigger/access_log.hpp"
#include "trigger/event_metrics.hpp"
#include "trigger/mqtt/mqtt_event.hpp"
#include "trigger/mqtt/mqtt_session.hpp"
#include "util/duration.hpp"
#include "worker/acknowledgement.hpp"

namespace edgefn {
namespace {

using SteadyClock = std::chrono::steady_clock;
using mqtt::Delivery;
using mqtt::Publish;
using mqtt::Session;
using mqtt::SessionState;

struct Metrics {
  EventMetrics events;
  Gauge* connected;
  Counter* connects;
  Counter* losses;
  Counter* reconnects;
  Counter* retries;
  Counter* to_error_topic;
  Counter* dropped;
};

Metrics register_metrics(MetricsRegistry& m, const std::string& trigger) {
  const Labels labels{{"trigger", trigger}};
  auto failed = [&](const char* outcome) {
    return &m.counter("edgefn_mqtt_failed_messages_total",
                      "MQTT messages whose handler failed after every retry, by what became of them",
                      {{"trigger", trigger}, {"outcome", outcome}});
  };
  return Metrics{
      EventMetrics(m, trigger),
      &m.gauge("edgefn_mqtt_connected", "1 while the MQTT session is connected to its broker", labels),
      &m.counter("edgefn_mqtt_connects_total", "MQTT connections the broker accepted", labels),
      &m.counter("edgefn_mqtt_connection_losses_total", "MQTT connections lost or closed by the broker", labels),
      &m.counter("edgefn_mqtt_reconnects_total", "MQTT connections the broker accepted after the first", labels),
      &m.counter("edgefn_mqtt_retries_total", "MQTT messages run again after their handler failed", labels),
      failed("error_topic"),
      failed("dropped"),
  };
}

// One delivery, from its arrival until it is settled (acknowledged) or
// left to the broker to redeliver.
struct Message {
  // Kept whole: a retry and the error topic need the payload, the
  // response the properties.
  Publish publish;
  int attempts = 0;
  bool handled = false;        // the handler's final answer is in (no retry to come)
  bool settled = false;        // settle() called (an explicit ack may come before the answer)
  bool topic_released = false;  // ordered: the next message of its topic may run
  std::unique_ptr<asio::steady_timer> retry;  // armed while waiting to run again
};

// Shared by the trigger, its output, its ack sink, and the completions it
// is waiting for; the session's callbacks hold it weakly (the session
// belongs to it). Messages and the queues live on `strand`; the rest is
// atomics, a mutex, or immutable after construction.
struct Core : std::enable_shared_from_this<Core> {
  Core(const TriggerContext& ctx, mqtt::MqttSettings mqtt_settings)
      : strand(asio::make_strand(ctx.io)),
        info{"mqtt", ctx.config.name},
        settings(std::move(mqtt_settings)),
        pool(ctx.pool),
        host(ctx.host),
        ack_mode(parse_explicit_ack_mode(ctx.config.explicit_ack_mode).value_or(ExplicitAckMode::kDisable)),
        metrics(register_metrics(ctx.metrics, ctx.config.name)),
        logger(get_logger("trigger.mqtt." + ctx.config.name)),
        access(info, ctx.access_log || ctx.config.access_log),
        drain_timer(strand) {}

  asio::strand<asio::io_context::executor_type> strand;
  TriggerInfo info;
  const mqtt::MqttSettings settings;
  Dispatcher& pool;
  Host& host;
  const ExplicitAckMode ack_mode;
  Metrics metrics;
  std::shared_ptr<spdlog::logger> logger;
  AccessLog access;
  asio::steady_timer drain_timer;
  std::shared_ptr<Session> session;  // set once, before start()

  std::atomic<bool> closed{false};
  std::atomic<std::size_t> in_flight{0};  // delivered and not yet settled or left
  std::atomic<std::size_t> retrying{0};
  std::atomic<std::size_t> held_count{0};
  std::atomic<bool> paused{false};

  // Strand only.
  std::map<std::uint64_t, Message> messages;
  std::deque<std::uint64_t> held;  // arrived while paused, in arrival order
  // ordered: per topic, the message running (front) and those behind it.
  std::unordered_map<std::string, std::deque<std::uint64_t>> topics;
  bool session_started = false;
  bool draining = false;
  std::function<void()> drained;  // drain()'s end, once nothing is in flight

  // Session strand only (on_state is called there, one at a time).
  SessionState last_state = SessionState::kConnecting;

  // Explicit acks arrive on any thread and need an answer at once: the
  // deliveries a handler may still acknowledge, with their topics.
  std::mutex ack_mutex;
  std::unordered_map<std::uint64_t, std::string> ackable;

  // --- intake ---------------------------------------------------------

  void on_delivery(Delivery delivery) {
    if (closed.load()) return;  // not settled: the broker redelivers
    const auto id = delivery.id;
    auto [it, fresh] = messages.try_emplace(id);
    if (!fresh) return;
    it->second.publish = std::move(delivery.publish);
    in_flight.fetch_add(1, std::memory_order_relaxed);
    if (ack_mode != ExplicitAckMode::kDisable) {
      std::lock_guard lock(ack_mutex);
      ackable.emplace(id, it->second.publish.topic);
    }
    if (draining) return leave(id, "arrived after the drain began");
    if (paused.load()) {
      held.push_back(id);
      held_count.store(held.size(), std::memory_order_relaxed);
      return;
    }
    admit(id);
  }

  void admit(std::uint64_t id) {
    auto& message = messages.at(id);
    if (settings.ordered) {
      // The pool orders by key too, but a retry must also hold back the
      // messages behind it, so only a topic's front message is dispatched.
      auto& queue = topics[message.publish.topic];
      queue.push_back(id);
      if (queue.size() > 1) return;
    }
    run(id);
  }

  void run(std::uint64_t id) {
    auto& message = messages.at(id);
    ++message.attempts;
    const bool last_run = message.attempts > settings.max_retries;
    // The payload is needed again only by a retry or the error topic.
    std::string payload = last_run && settings.error_topic.empty() ? std::move(message.publish.payload)
                                                                   : message.publish.payload;
    Event event = mqtt::make_event(message.publish, std::move(payload), id, info, settings.session.endpoint.url);
    DispatchOptions options;
    if (settings.ordered) options.ordering_key = message.publish.topic;
    std::optional<AccessLog::Entry> access_entry;
    if (access.wanted()) access_entry = AccessLog::entry(event);
    pool.dispatch(std::move(event), std::move(options),
                  [self = shared_from_this(), id, started = SteadyClock::now(),
                   access_entry = std::move(access_entry)](DispatchResult result) mutable {
                    const auto took = SteadyClock::now() - started;
                    self->metrics.events.record(result, took);
                    if (access_entry) self->access.write(*access_entry, result, took);
                    asio::post(self->strand, [self, id, result = std::move(result)]() mutable {
                      self->on_result(id, std::move(result));
                    });
                  });
  }

  // --- answers ----------------------------------------------------------

  void on_result(std::uint64_t id, DispatchResult result) {
    auto it = messages.find(id);
    if (it == messages.end()) return;  // stopped meanwhile
    auto& message = it->second;
    if (mqtt::is_abandoned(result)) return leave(id, "not run: " + mqtt::describe_failure(result));
    if (mqtt::is_failure(result)) {
      if (!message.settled && message.attempts <= settings.max_retries) {
        // Not given up on: the next connection's redelivery is its retry.
        if (draining) return leave(id, "failed, not retried while draining");
        return retry_later(id, mqtt::describe_failure(result));
      }
      message.handled = true;
      release_topic(id, message);
      if (message.settled) return forget(id);  // explicitly acknowledged while it ran
      return give_up(id, mqtt::describe_failure(result));
    }
    message.handled = true;
    release_topic(id, message);
    const bool acknowledged = acknowledges(ack_mode, *result);
    auto response = mqtt::make_response_publish(std::move(*result), message.publish, settings);
    if (!response) return acknowledged ? settle(id) : wait_for_ack(id);
    session->publish(std::move(*response), [self = shared_from_this(), id, acknowledged](PublishOutcome outcome) {
      asio::post(self->strand, [self, id, acknowledged, outcome = std::move(outcome)] {
        self->on_response_published(id, acknowledged, outcome);
      });
    });
  }

  void on_response_published(std::uint64_t id, bool acknowledged, const PublishOutcome& outcome) {
    auto it = messages.find(id);
    if (it == messages.end()) return;
    if (!outcome) {
      logger->warn("message {} on '{}': its response was not published ({}); left unacknowledged for the broker "
                   "to redeliver",
                   id, it->second.publish.topic, outcome.error());
      return leave(id, "response not published");
    }
    acknowledged ? settle(id) : wait_for_ack(id);
  }

  void retry_later(std::uint64_t id, const std::string& why) {
    auto& message = messages.at(id);
    const auto delay = mqtt::retry_delay(settings.retry_backoff, message.attempts);
    logger->info("message {} on '{}' failed (attempt {} of {}): {}; retrying in {}", id, message.publish.topic,
                 message.attempts, settings.max_retries + 1, why, format_duration(delay));
    metrics.retries->inc();
    retrying.fetch_add(1, std::memory_order_relaxed);
    message.retry = std::make_unique<asio::steady_timer>(strand, delay);
    message.retry->async_wait([self = shared_from_this(), id](error_code ec) {
      if (ec) return;  // drain() or stop() took it over
      self->retrying.fetch_sub(1, std::memory_order_relaxed);
      auto it = self->messages.find(id);
      if (it == self->messages.end()) return;
      it->second.retry.reset();
      self->run(id);
    });
  }

  void give_up(std::uint64_t id, const std::string& why) {
    auto& message = messages.at(id);
    const auto& topic = message.publish.topic;
    if (settings.error_topic.empty()) {
      logger->warn("gave up on message {} on '{}' after {} attempt(s): {}; acknowledged and dropped (no errorTopic)",
                   id, topic, message.attempts, why);
      metrics.dropped->inc();
      return settle(id);
    }
    const bool bare = settings.session.connect.version != mqtt::Version::k5;
    logger->warn("gave up on message {} on '{}' after {} attempt(s): {}; publishing it to errorTopic '{}'{}", id,
                 topic, message.attempts, why, settings.error_topic,
                 bare ? " without error headers (MQTT 3.1.1 messages carry no properties)" : "");
    auto copy = mqtt::make_error_publish(message.publish, settings.error_topic, why, message.attempts, info.name);
    session->publish(std::move(copy), [self = shared_from_this(), id](PublishOutcome outcome) {
      asio::post(self->strand, [self, id, outcome = std::move(outcome)] {
        auto it = self->messages.find(id);
        if (it == self->messages.end()) return;
        if (!outcome) {
          self->logger->warn("message {} on '{}' could not be published to errorTopic '{}' ({}); left "
                             "unacknowledged for the broker to redeliver",
                             id, it->second.publish.topic, self->settings.error_topic, outcome.error());
          return self->leave(id, "error copy not published");
        }
        self->metrics.to_error_topic->inc();
        self->settle(id);
      });
    });
  }

  // --- explicit acknowledgement -----------------------------------------

  void wait_for_ack(std::uint64_t id) {
    auto& message = messages.at(id);
    if (message.settled) return forget(id);
    logger->debug("message {} on '{}' waits for the handler's explicit acknowledgement", id, message.publish.topic);
  }

  // Any thread.
  bool take_explicit_ack(const QualifiedOffset& offset) {
    // MQTT has no partitions: 0, or the event's shard_id (-1), which
    // Nuclio's QualifiedOffset.from_event(event) passes.
    if ((offset.partition != 0 && offset.partition != -1) || offset.offset < 0) return false;
    const auto id = static_cast<std::uint64_t>(offset.offset);
    {
      std::lock_guard lock(ack_mutex);
      auto it = ackable.find(id);
      if (it == ackable.end() || it->second != offset.topic) return false;
      ackable.erase(it);
    }
    asio::post(strand, [self = shared_from_this(), id] {
      auto it = self->messages.find(id);
      if (it == self->messages.end()) return;
      if (it->second.handled) return self->settle(id);
      // Still running: acknowledged now, forgotten when it answers.
      it->second.settled = true;
      self->session->settle(id);
    });
    return true;
  }

  // --- endings ------------------------------------------------------------

  void settle(std::uint64_t id) {
    auto it = messages.find(id);
    if (it == messages.end()) return;
    if (!it->second.settled) session->settle(id);
    forget(id);
  }

  // Not acknowledged: the broker redelivers it on the next connection.
  void leave(std::uint64_t id, const std::string& why) {
    logger->debug("message {} left unacknowledged: {}", id, why);
    forget(id);
  }

  void forget(std::uint64_t id) {
    auto it = messages.find(id);
    if (it == messages.end()) return;
    release_topic(id, it->second);
    if (it->second.retry) retrying.fetch_sub(1, std::memory_order_relaxed);
    messages.erase(it);
    if (ack_mode != ExplicitAckMode::kDisable) {
      std::lock_guard lock(ack_mutex);
      ackable.erase(id);
    }
    in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (draining && messages.empty() && drained) std::exchange(drained, nullptr)();
  }

  void release_topic(std::uint64_t id, Message& message) {
    if (!settings.ordered || message.topic_released) return;
    message.topic_released = true;
    auto it = topics.find(message.publish.topic);
    if (it == topics.end()) return;
    auto& queue = it->second;
    const bool was_running = !queue.empty() && queue.front() == id;
    std::erase(queue, id);
    if (queue.empty()) return void(topics.erase(it));
    if (was_running && !closed.load()) run(queue.front());
  }

  // --- lifecycle (strand) ---------------------------------------------------

  void begin_consuming() {
    if (closed.load() || draining || session_started) return;
    session_started = true;
    logger->info("a worker is ready: connecting to {} as '{}'", settings.session.endpoint.url,
                 settings.session.connect.client_id);
    session->start();
  }

  void set_paused(bool on) {
    paused.store(on);
    if (on) return;
    auto waiting = std::move(held);
    held.clear();
    held_count.store(0, std::memory_order_relaxed);
    for (auto id : waiting)
      if (messages.count(id)) admit(id);
  }

  void begin_drain(SteadyClock::time_point deadline, UniqueFunction<void()> done) {
    draining = true;
    auto finish = run_once([self = shared_from_this(), deadline, done = std::move(done)]() mutable {
      self->drain_timer.cancel();
      if (!self->session_started) {
        self->session->close();
        return done();
      }
      self->session->disconnect(deadline, std::move(done));
    });
    drained = finish;
    if (session_started) session->stop_intake();
    // Messages not running now are left to the broker rather than started.
    std::vector<std::uint64_t> idle(held.begin(), held.end());
    held.clear();
    held_count.store(0, std::memory_order_relaxed);
    for (auto& [id, message] : messages)
      if (message.retry) idle.push_back(id);
    for (auto id : idle) leave(id, "not run again: draining");
    logger->info("draining: {} message(s) in flight", messages.size());
    // `drained` holds this Core: it is dropped once called, or it would
    // keep the Core and its session alive for ever.
    if (messages.empty()) {
      drained = nullptr;
      return finish();
    }
    drain_timer.expires_at(deadline);
    drain_timer.async_wait([self = shared_from_this(), finish](error_code ec) {
      if (ec) return;
      self->logger->warn("drain deadline: {} message(s) still in flight are left unacknowledged",
                         self->messages.size());
      finish();
    });
  }

  void shut_down() {
    drained = nullptr;
    drain_timer.cancel();
    for (auto& [id, message] : messages)
      if (message.retry) message.retry->cancel();
    retrying.store(0, std::memory_order_relaxed);
    messages.clear();
    topics.clear();
    held.clear();
    held_count.store(0, std::memory_order_relaxed);
    in_flight.store(0, std::memory_order_relaxed);
    std::lock_guard lock(ack_mutex);
    ackable.clear();
  }

  // --- the session's state (session strand) ---------------------------------

  void on_state(SessionState state, const std::string& why) {
    const auto previous = last_state;
    last_state = state;
    const auto& url = settings.session.endpoint.url;
    metrics.connected->set(state == SessionState::kConnected ? 1 : 0);
    if (previous == SessionState::kConnected && state != SessionState::kClosed && state != SessionState::kConnected)
      metrics.losses->inc();
    switch (state) {
      case SessionState::kConnected:
        if (metrics.connects->value() > 0) metrics.reconnects->inc();
        metrics.connects->inc();
        // The session's sentence says where and whether the session was
        // resumed; the client ID is what two processors must not share.
        if (why.empty())
          logger->info("connected to {} as '{}'", url, settings.session.connect.client_id);
        else
          logger->info("{}; client ID '{}'", why, settings.session.connect.client_id);
        break;
      case SessionState::kDisconnected:
        logger->warn("disconnected from {}: {}", url, why);
        break;
      case SessionState::kConnecting:
        logger->debug("connecting to {}{}{}", url, why.empty() ? "" : ": ", why);
        break;
      case SessionState::kClosed:
        logger->info("closed the connection to {}{}{}", url, why.empty() ? "" : ": ", why);
        break;
    }
  }
};

// Handlers' own messages (host services' publish) go out on the session.
class MqttOutput final : public Output {
 public:
  explicit MqttOutput(std::shared_ptr<Core> core) : core_(std::move(core)) {}

  void publish(OutputMessage message, PublishDone done) noexcept override {
    auto publish = mqtt::make_output_publish(std::move(message), core_->settings);
    if (!publish) return done(tl::make_unexpected(publish.error()));
    if (core_->closed.load()) return done(tl::make_unexpected(std::string{"the MQTT trigger has stopped"}));
    core_->session->publish(std::move(*publish), std::move(done));
  }

 private:
  std::shared_ptr<Core> core_;
};

class MqttTrigger final : public Trigger {
 public:
  MqttTrigger(const TriggerContext& ctx, mqtt::MqttSettings settings)
      : core_(std::make_shared<Core>(ctx, std::move(settings))), io_(ctx.io) {
    std::weak_ptr<Core> weak = core_;
    Session::Callbacks callbacks;
    callbacks.on_message = [weak](Delivery delivery) {
      if (auto core = weak.lock())
        asio::post(core->strand, [core, delivery = std::move(delivery)]() mutable {
          core->on_delivery(std::move(delivery));
        });
    };
    callbacks.on_state = [weak](SessionState state, const std::string& why) {
      if (auto core = weak.lock()) core->on_state(state, why);
    };
    try {
      core_->session = Session::create(io_, core_->settings.session, std::move(callbacks), core_->info.name);
    } catch (const StartError&) {
      throw;
    } catch (const std::exception& e) {
      throw StartError("MQTT trigger '" + core_->info.name + "': " + e.what());
    }
  }

  ~MqttTrigger() override { stop(); }

  const TriggerInfo& info() const noexcept override { return core_->info; }

  void start() override {
    const auto& name = core_->info.name;
    try {
      core_->host.add_output(name, std::make_shared<MqttOutput>(core_));
    } catch (const std::invalid_argument& e) {
      throw StartError("MQTT trigger '" + name + "': " + e.what() + " (trigger names must differ)");
    }
    if (core_->ack_mode != ExplicitAckMode::kDisable)
      core_->host.add_ack_sink(name, [core = core_](const QualifiedOffset& offset) {
        return core->take_explicit_ack(offset);
      });
    registered_ = true;
    core_->logger->info("waiting for a ready worker before connecting to {}", core_->settings.session.endpoint.url);
    std::weak_ptr<Core> weak = core_;
    core_->pool.when_ready([weak] {
      if (auto core = weak.lock()) asio::post(core->strand, [core] { core->begin_consuming(); });
    });
  }

  void pause() noexcept override {
    asio::post(core_->strand, [core = core_] { core->set_paused(true); });
  }

  void resume() noexcept override {
    asio::post(core_->strand, [core = core_] { core->set_paused(false); });
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
    core_->session->close();
    asio::post(core_->strand, [core = core_] { core->shut_down(); });
  }

  std::size_t in_flight() const noexcept override { return core_->in_flight.load(std::memory_order_relaxed); }

  bool ready() const noexcept override { return core_->session->state() == SessionState::kConnected; }

  std::string address() const override {
    const auto& s = core_->settings;
    std::string topics;
    for (const auto& subscription : s.session.subscriptions) topics += (topics.empty() ? "" : ",") + subscription.filter;
    return s.session.endpoint.url + " topics " + topics;
  }

  void write_status(JsonWriter& out) const override {
    const auto& s = core_->settings;
    const auto state = core_->session->state();
    const auto stats = core_->session->stats();
    out.key("broker").value(s.session.endpoint.url);
    out.key("clientId").value(s.session.connect.client_id);
    out.key("protocolVersion").value(static_cast<int>(s.session.connect.version));
    out.key("state").value(mqtt::to_string(state));
    out.key("connected").value(state == SessionState::kConnected);
    out.key("paused").value(core_->paused.load());
    out.key("inFlight").value(static_cast<std::uint64_t>(in_flight()));
    out.key("held").value(static_cast<std::uint64_t>(core_->held_count.load(std::memory_order_relaxed)));
    out.key("retrying").value(static_cast<std::uint64_t>(core_->retrying.load(std::memory_order_relaxed)));
    out.key("retries").value(core_->metrics.retries->value());
    out.key("failedToErrorTopic").value(core_->metrics.to_error_topic->value());
    out.key("failedDropped").value(core_->metrics.dropped->value());
    out.key("session").begin_object();
    out.key("connects").value(stats.connects);
    out.key("connectionLosses").value(stats.connection_losses);
    out.key("received").value(stats.received);
    out.key("acknowledged").value(stats.acknowledged);
    out.key("published").value(stats.published);
    out.key("unsettled").value(static_cast<std::uint64_t>(stats.unsettled));
    out.key("outgoingPending").value(static_cast<std::uint64_t>(stats.outgoing_pending));
    out.key("readingPaused").value(stats.reading_paused);
    out.key("window").value(static_cast<std::uint64_t>(s.session.window));
    out.end_object();
  }

 private:
  std::shared_ptr<Core> core_;
  asio::io_context& io_;
  bool registered_ = false;
  std::atomic<bool> stopped_{false};
};

}  // namespace

std::unique_ptr<Trigger> make_mqtt_trigger(const TriggerContext& context, mqtt::MqttSettings settings) {
  return std::make_unique<MqttTrigger>(context, std::move(settings));
}

}  // namespace edgefn
