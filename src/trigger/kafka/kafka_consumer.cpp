// The Kafka trigger's poll thread: every call on the consumer handle.
#include <poll.h>
#include <sys/eventfd.h>

#include <future>

#include <cerrno>
#include <cstring>

#include "config/config_error.hpp"
#include "trigger/kafka/kafka_core.hpp"

namespace edgefn::kafka {
namespace {

// Messages handed to the strand in one post.
constexpr std::size_t kBatch = 256;
// The poll thread sleeps on its eventfd; this bounds the sleep for the lag
// report and the broker probe.
constexpr std::chrono::milliseconds kPollTimeout{1000};
constexpr std::chrono::seconds kLagReportInterval{1};
constexpr std::chrono::seconds kBrokerProbeInterval{2};
// Beyond the revocation's own bounds: the strand answers a revocation
// well within them, unless it is wedged.
constexpr std::chrono::seconds kRevokeSlack{2};

Core& core_of(void* opaque) { return *static_cast<Core*>(static_cast<LogSink*>(opaque)); }

void rebalance_callback(rd_kafka_t*, rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* changed,
                        void* opaque) {
  core_of(opaque).on_rebalance(error, changed);
}

void error_callback(rd_kafka_t*, int error, const char* reason, void* opaque) {
  core_of(opaque).on_error(static_cast<rd_kafka_resp_err_t>(error), reason);
}

void commit_callback(rd_kafka_t*, rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* offsets,
                     void* opaque) {
  core_of(opaque).on_commit(error, offsets);
}

std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (!list) return out;
  out.reserve(static_cast<std::size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) out.push_back({list->elems[i].topic, list->elems[i].partition});
  return out;
}

std::string names(const std::vector<TopicPartition>& list) {
  std::string out;
  for (const auto& tp : list) out += (out.empty() ? "" : ", ") + tp.text();
  return out.empty() ? "none" : out;
}

// What a queue writes to the wake eventfd (eventfd takes 8 bytes).
constexpr std::uint64_t kWakeValue = 1;

}  // namespace

void Core::create_consumer() {
  rd_kafka_conf_t* conf = make_conf(settings.consumer, this);
  rd_kafka_conf_set_rebalance_cb(conf, rebalance_callback);
  rd_kafka_conf_set_error_cb(conf, error_callback);
  rd_kafka_conf_set_offset_commit_cb(conf, commit_callback);
  char error[512] = {};
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
  if (!handle) {
    rd_kafka_conf_destroy(conf);
    throw StartError("Kafka trigger '" + info.name + "': the consumer could not be created: " + error);
  }
  consumer.reset(handle);
  // Rebalances, errors and commit results are all served by the consumer
  // poll, on one thread; messages take another way (see redirect()).
  rd_kafka_poll_set_consumer(handle);
  wake_fd = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_fd) throw StartError("Kafka trigger '" + info.name + "': eventfd: " + std::strerror(errno));
  events.reset(rd_kafka_queue_get_consumer(handle));
  messages.reset(rd_kafka_queue_new(handle));
  for (rd_kafka_queue_t* queue : {events.get(), messages.get()})
    rd_kafka_queue_io_event_enable(queue, wake_fd.get(), &kWakeValue, sizeof kWakeValue);
}

void Core::wake() noexcept {
  if (!wake_fd) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd.get(), &one, sizeof one);
}

void Core::wait_for_work(std::chrono::milliseconds timeout) {
  pollfd fd{wake_fd.get(), POLLIN, 0};
  if (::poll(&fd, 1, static_cast<int>(timeout.count())) > 0) {
    std::uint64_t count = 0;
    [[maybe_unused]] auto got = ::read(wake_fd.get(), &count, sizeof count);
  }
}

// A partition's messages go to `messages` rather than to the consumer
// queue. Set before the assignment starts fetching: an application's
// forwarding is one librdkafka's fetch start leaves in place.
void Core::redirect(const std::vector<TopicPartition>& list) {
  for (const auto& tp : list) {
    Queue queue(rd_kafka_queue_get_partition(consumer.get(), tp.topic.c_str(), tp.partition));
    if (!queue) continue;
    rd_kafka_queue_forward(queue.get(), messages.get());
    partition_queues[tp] = std::move(queue);
  }
}

void Core::start_polling() {
  PartitionList topics(rd_kafka_topic_partition_list_new(static_cast<int>(settings.topics.size())));
  for (const auto& topic : settings.topics)
    rd_kafka_topic_partition_list_add(topics.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (auto error = rd_kafka_subscribe(consumer.get(), topics.get())) {
    logger->error("cannot subscribe to {}: {}", settings.topics.front(), describe(error));
    set_reason("cannot subscribe: " + describe(error));
    return;
  }
  cooperative = std::string_view(rd_kafka_rebalance_protocol(consumer.get())) == "COOPERATIVE";
  state.store(GroupState::kJoining);
  set_reason("joining consumer group '" + settings.consumer_group + "'");
  poller_work.emplace(asio::make_work_guard(io));
  poller = std::thread([this] { poll_loop(); });
}

void Core::poll_loop() {
  std::vector<Record> batch;
  while (!closed.load() && !close_requested.load()) {
    store_offsets();
    // Rebalances, errors, commit results; a message only if one slipped
    // past redirect().
    while (rd_kafka_message_t* event = rd_kafka_consumer_poll(consumer.get(), 0)) take(event, batch);
    // Messages, while the strand has room: otherwise they wait in
    // librdkafka's bounded queue, and its fetchers stop when it is full.
    // The room is counted here, before the strand sees the batch.
    const std::size_t taken = in_flight.load();
    const std::size_t room = settings.max_in_flight > taken ? settings.max_in_flight - taken : 0;
    if (want_paused.load() || room == 0) {
      waiting_for_room.store(true);
    } else {
      const std::size_t limit = std::min(kBatch, room);
      while (batch.size() < limit) {
        rd_kafka_message_t* message = rd_kafka_consume_queue(messages.get(), 0);
        if (!message) break;
        take(message, batch);
      }
    }
    const bool full = !batch.empty() && batch.size() >= std::min(kBatch, room);
    if (!batch.empty()) {
      in_flight.fetch_add(batch.size());
      asio::post(strand, [self = shared_from_this(), records = std::move(batch)]() mutable {
        self->on_records(std::move(records));
      });
      batch = {};
    }
    const auto now = SteadyClock::now();
    if (now >= next_lag_report) report_lag();
    if (brokers_down.load() && now >= next_broker_probe) probe_brokers();
    if (!full) wait_for_work(kPollTimeout);
  }
  close_consumer(!closed.load());
}

void Core::take(rd_kafka_message_t* message, std::vector<Record>& batch) {
  std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> owned(message, rd_kafka_message_destroy);
  if (message->err) {
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
    const char* topic = message->rkt ? rd_kafka_topic_name(message->rkt) : "";
    if (message->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || message->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
        message->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
      std::lock_guard lock(reason_mutex);
      if (unknown_topics.emplace(topic, describe(message->err)).second)
        logger->error("topic '{}': {}; waiting for it (the trigger is not ready meanwhile)", topic,
                      describe(message->err));
      refresh_reason_locked();
      return;
    }
    logger->warn("consumer: {}: {}", describe(message->err), rd_kafka_message_errstr(message));
    return;
  }
  Record record;
  record.topic = rd_kafka_topic_name(message->rkt);
  record.partition = message->partition;
  record.offset = message->offset;
  if (message->key) record.key.emplace(static_cast<const char*>(message->key), message->key_len);
  if (message->payload) record.value.assign(static_cast<const char*>(message->payload), message->len);
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR && headers) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
      record.headers.emplace_back(name, value ? std::string(static_cast<const char*>(value), size) : std::string{});
  }
  rd_kafka_timestamp_type_t type;
  const std::int64_t timestamp = rd_kafka_message_timestamp(message, &type);
  if (type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE) record.timestamp_ms = timestamp;
  batch.push_back(std::move(record));
}

void Core::on_rebalance(rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* changed) {
  rd_kafka_t* handle = consumer.get();
  auto list = to_vector(changed);
  if (error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    metrics.assigned->inc();
    asio::post(strand, [self = shared_from_this(), list]() mutable { self->on_assigned(std::move(list)); });
    {
      std::lock_guard lock(assigned_mutex);
      assigned.insert(list.begin(), list.end());
    }
    redirect(list);
    rd_kafka_error_t* failure = nullptr;
    if (cooperative)
      failure = rd_kafka_incremental_assign(handle, changed);
    else if (auto e = rd_kafka_assign(handle, changed))
      logger->error("assigning {}: {}", names(list), describe(e));
    if (failure) {
      logger->error("assigning {}: {}", names(list), rd_kafka_error_string(failure));
      rd_kafka_error_destroy(failure);
    }
    state.store(GroupState::kMember);
    {
      std::lock_guard lock(reason_mutex);
      for (const auto& tp : list) unknown_topics.erase(tp.topic);
      assigned_count.store(static_cast<int>(cooperative ? assigned_count.load() + list.size() : list.size()));
      refresh_reason_locked();
    }
    metrics.assigned_partitions->set(assigned_count.load());
    logger->info("group '{}' assigned {}", settings.consumer_group, names(list));
    return;
  }
  if (error == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    const bool lost = rd_kafka_assignment_lost(handle);
    (lost ? metrics.lost : metrics.revoked)->inc();
    if (!list.empty()) {
      logger->info("group '{}' {} {}: finishing their events", settings.consumer_group,
                   lost ? "lost" : "revoked", names(list));
      // On shutdown the processor's drain has run them already.
      if (!close_requested.load()) pool.run_drain_callbacks();
      auto finished = std::make_shared<std::promise<void>>();
      auto future = finished->get_future();
      asio::post(strand, [self = shared_from_this(), list, lost, finished]() mutable {
        self->on_revoking(std::move(list), lost, [finished] { finished->set_value(); });
      });
      const auto bound = settings.max_wait_handler_during_rebalance +
                         (ack_mode != ExplicitAckMode::kDisable ? settings.wait_explicit_ack_during_rebalance
                                                                : std::chrono::milliseconds{0}) +
                         kRevokeSlack;
      if (future.wait_for(bound) != std::future_status::ready)
        logger->warn("revoking {}: the trigger did not finish in {} ms; giving them up", names(list), bound.count());
      store_offsets();
      // Lost changed may already be someone else's: nothing to commit.
      if (!lost) {
        const auto committed = rd_kafka_commit(handle, nullptr, 0);
        if (committed && committed != RD_KAFKA_RESP_ERR__NO_OFFSET)
          logger->warn("committing before giving up {}: {}", names(list), describe(committed));
      }
    }
    {
      std::lock_guard lock(assigned_mutex);
      for (const auto& tp : list) assigned.erase(tp);
    }
    if (cooperative) {
      if (rd_kafka_error_t* failure = rd_kafka_incremental_unassign(handle, changed)) {
        logger->error("unassigning {}: {}", names(list), rd_kafka_error_string(failure));
        rd_kafka_error_destroy(failure);
      }
      assigned_count.fetch_sub(static_cast<int>(list.size()));
    } else {
      rd_kafka_assign(handle, nullptr);
      assigned_count.store(0);
    }
    for (const auto& tp : list) partition_queues.erase(tp);
    metrics.assigned_partitions->set(assigned_count.load());
    return;
  }
  logger->error("rebalance failed: {}", describe(error));
  rd_kafka_assign(handle, nullptr);
}

void Core::on_error(rd_kafka_resp_err_t error, const char* reason) {
  if (error == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    if (!brokers_down.exchange(true)) logger->warn("no broker of {} is reachable: {}", settings.brokers, reason);
    set_reason(std::string("no broker is reachable: ") + reason);
    next_broker_probe = SteadyClock::now() + kBrokerProbeInterval;
    return;
  }
  if (error == RD_KAFKA_RESP_ERR__FATAL) {
    char text[512] = {};
    const auto cause = rd_kafka_fatal_error(consumer.get(), text, sizeof text);
    logger->error("fatal consumer error: {}: {}", describe(cause), text);
    set_reason(std::string("fatal error: ") + text);
    return;
  }
  // Connection errors repeat with every retry: librdkafka already logs
  // each one, so only a changed reason is worth a line here.
  std::lock_guard lock(reason_mutex);
  const std::string line = describe(error) + ": " + reason;
  if (line != last_error) logger->warn("{}", line);
  last_error = line;
}

void Core::on_commit(rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* offsets) {
  if (error == RD_KAFKA_RESP_ERR__NO_OFFSET) return;  // nothing new to commit
  if (!error) {
    metrics.commits_ok->inc();
    return;
  }
  metrics.commits_failed->inc();
  logger->warn("committing offsets of {} failed: {}; the next commit carries them (a partition that moves "
               "meanwhile starts from its last commit on its new member)",
               names(to_vector(offsets)), describe(error));
}

void Core::store_offsets() {
  std::map<TopicPartition, std::int64_t> offsets;
  {
    std::lock_guard lock(store_mutex);
    if (to_store.empty()) return;
    offsets.swap(to_store);
  }
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& [tp, offset] : offsets)
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
  // A partition given up meanwhile refuses its offset: the next owner
  // starts from the last commit, which is at-least-once.
  rd_kafka_offsets_store(consumer.get(), list.get());
}

void Core::report_lag() {
  next_lag_report = SteadyClock::now() + kLagReportInterval;
  rd_kafka_topic_partition_list_t* current = nullptr;
  if (rd_kafka_assignment(consumer.get(), &current) != RD_KAFKA_RESP_ERR_NO_ERROR || !current) return;
  PartitionList owned(current);
  std::vector<std::pair<TopicPartition, std::int64_t>> marks;
  for (int i = 0; i < current->cnt; ++i) {
    std::int64_t low = -1, high = -1;
    const auto& e = current->elems[i];
    if (rd_kafka_get_watermark_offsets(consumer.get(), e.topic, e.partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        high >= 0)
      marks.emplace_back(TopicPartition{e.topic, e.partition}, high);
  }
  if (marks.empty()) return;
  asio::post(strand, [self = shared_from_this(), marks = std::move(marks)]() mutable {
    self->on_watermarks(std::move(marks));
  });
}

void Core::probe_brokers() {
  next_broker_probe = SteadyClock::now() + kBrokerProbeInterval;
  const rd_kafka_metadata_t* metadata = nullptr;
  if (rd_kafka_metadata(consumer.get(), 0, nullptr, &metadata, 1000) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  rd_kafka_metadata_destroy(metadata);
  brokers_down.store(false);
  logger->info("brokers reachable again");
  std::lock_guard lock(reason_mutex);
  refresh_reason_locked();
}

void Core::refresh_reason_locked() {
  if (brokers_down.load()) return;  // on_error() said which
  if (!unknown_topics.empty()) {
    const auto& [topic, error] = *unknown_topics.begin();
    not_ready_reason = "topic '" + topic + "': " + error;
  } else if (state.load() != GroupState::kMember) {
    not_ready_reason = "joining consumer group '" + settings.consumer_group + "'";
  } else {
    not_ready_reason.clear();
  }
}

void Core::close_consumer(bool graceful) {
  rd_kafka_t* handle = consumer.get();
  // librdkafka wants every queue handle gone before the consumer closes.
  partition_queues.clear();
  messages.reset();
  events.reset();
  // Leaving the group lets another member take the partitions at once,
  // rather than after sessionTimeout; it needs the group's coordinator.
  if (graceful && !brokers_down.load() && state.load() == GroupState::kMember) {
    store_offsets();
    const auto committed = rd_kafka_commit(handle, nullptr, 0);
    if (committed && committed != RD_KAFKA_RESP_ERR__NO_OFFSET)
      logger->warn("final commit: {}", describe(committed));
    if (auto error = rd_kafka_consumer_close(handle)) logger->warn("leaving the group: {}", describe(error));
  }
  consumer.reset();
  state.store(GroupState::kClosed);
  if (on_closed) asio::post(io, std::exchange(on_closed, nullptr));
  // Last: the io_context may run out of work and end once this is gone.
  asio::post(io, [work = std::move(poller_work)]() mutable { work.reset(); });
}

}  // namespace edgefn::kafka
