#pragma once
// The Kafka trigger's inside, shared by its two threads of control:
//
// - the poll thread (kafka_consumer.cpp) owns the librdkafka consumer: it
//   polls, runs the rebalance callback, reads messages while the strand has
//   room for them, stores the offsets the strand says are done, and closes
//   the consumer.
//   Every call on the consumer handle is made there.
// - the strand (kafka_strand.cpp) owns the partitions' records: it
//   dispatches each partition's front record, applies the failure policy,
//   produces responses and dead letters, and decides what may be committed.
//
// They meet through posts to the strand, a few atomics, and two small
// locked hand-offs (offsets to store, the partitions an explicit ack may
// name). A revocation is the one place the poll thread waits for the
// strand: it lets the revoked partitions' handlers finish (bounded) before
// it commits and gives them up.
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "host/host_services.hpp"
#include "log/log.hpp"
#include "trigger/access_log.hpp"
#include "trigger/event_metrics.hpp"
#include "trigger/kafka/kafka_client.hpp"
#include "trigger/kafka/kafka_event.hpp"
#include "trigger/kafka/kafka_settings.hpp"
#include "trigger/trigger.hpp"
#include "util/unique_fd.hpp"
#include "worker/acknowledgement.hpp"

namespace edgefn::kafka {

using SteadyClock = std::chrono::steady_clock;

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
  std::string text() const { return topic + "[" + std::to_string(partition) + "]"; }
};

struct Metrics {
  EventMetrics events;
  Counter* assigned;
  Counter* revoked;
  Counter* lost;
  Counter* commits_ok;
  Counter* commits_failed;
  Counter* retries;
  Counter* dead_lettered;
  Counter* skipped;
  Gauge* assigned_partitions;
  Gauge* paused;
};

// A record from its arrival until its offset may be committed.
struct Pending {
  Record record;
  int attempts = 0;
  bool handled = false;      // the handler's answer is final (no retry to come)
  bool waiting_ack = false;  // handled; waits for the handler's explicit_ack()
  std::unique_ptr<asio::steady_timer> retry_timer;    // waiting to run again
  std::unique_ptr<asio::steady_timer> produce_timer;  // waiting to produce its response or dead letter again
};

// One assigned partition (strand only).
struct Partition {
  TopicPartition id;
  std::uint64_t generation = 0;  // a partition assigned again is another one
  AckWindow window;
  std::map<std::int64_t, Pending> records;  // taken and not yet released, by offset
  std::deque<std::int64_t> queue;           // not yet handled; the front runs when `running`
  bool running = false;
  int producing = 0;  // responses and dead letters not yet confirmed
  std::int64_t acked_through = -1;  // explicit acks are cumulative, as a Kafka commit is
  std::shared_ptr<CancelScope> scope = std::make_shared<CancelScope>();
  bool revoking = false;
  std::optional<std::int64_t> committable;  // the next offset to commit
  std::int64_t high_watermark = -1;
  Gauge* lag = nullptr;

  bool quiet(bool explicit_acks) const;
};

// What a revocation waits for (strand only).
struct RevokeWait {
  std::vector<TopicPartition> partitions;
  std::function<void()> done;
  std::unique_ptr<asio::steady_timer> deadline;
};

enum class GroupState { kWaitingForWorker, kJoining, kMember, kClosed };
const char* to_string(GroupState state) noexcept;

struct Core : std::enable_shared_from_this<Core>, LogSink {
  Core(const TriggerContext& ctx, KafkaSettings kafka_settings);

  asio::io_context& io;
  asio::strand<asio::io_context::executor_type> strand;
  TriggerInfo info;
  const KafkaSettings settings;
  Dispatcher& pool;
  Host& host;
  MetricsRegistry& registry;
  const ExplicitAckMode ack_mode;
  Metrics metrics;
  AccessLog access;
  asio::steady_timer drain_timer;

  // --- the poll thread's (kafka_consumer.cpp) ---------------------------
  Handle consumer;
  std::thread poller;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> poller_work;
  // Messages are not read from the consumer queue: every assigned
  // partition's queue is forwarded to `messages`, which the poll thread
  // reads only while the strand has room. The consumer queue then carries
  // only rebalances, errors and commit results, served at once. Both
  // queues write `wake_fd` when they stop being empty; the strand writes it
  // when room frees up.
  Queue events;
  Queue messages;
  std::map<TopicPartition, Queue> partition_queues;
  UniqueFd wake_fd;
  bool cooperative = false;
  std::string last_error;  // under reason_mutex
  SteadyClock::time_point next_lag_report{};
  SteadyClock::time_point next_broker_probe{};

  void create_consumer();  // start-up thread
  void start_polling();    // after a worker is ready
  void poll_loop();
  void take(rd_kafka_message_t* message, std::vector<Record>& batch);
  void on_rebalance(rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* changed);
  void on_error(rd_kafka_resp_err_t error, const char* reason);
  void on_commit(rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* offsets);
  void redirect(const std::vector<TopicPartition>& list);
  void store_offsets();
  void report_lag();
  void probe_brokers();
  void wait_for_work(std::chrono::milliseconds timeout);
  void close_consumer(bool graceful);
  void wake() noexcept;  // any thread

  // --- shared ------------------------------------------------------------
  std::atomic<bool> closed{false};       // stop(): drop everything
  std::atomic<bool> close_requested{false};  // the drain is done: commit and leave the group
  std::atomic<bool> want_paused{false};  // read no messages: backpressure, pause() or the drain
  std::atomic<bool> app_paused{false};
  std::atomic<bool> backpressure{false};
  // Records read and not yet committable: counted by the poll thread when
  // it hands a batch over, so that it never reads past maxInFlight.
  std::atomic<std::size_t> in_flight{0};
  std::atomic<bool> waiting_for_room{false};  // the poll thread stopped reading at maxInFlight
  std::atomic<GroupState> state{GroupState::kWaitingForWorker};
  std::atomic<bool> brokers_down{false};
  std::atomic<int> assigned_count{0};
  std::function<void()> on_closed;  // the drain's end, run by the poll thread when it is done

  std::mutex store_mutex;
  std::map<TopicPartition, std::int64_t> to_store;  // strand -> poll thread

  // Partitions an explicit ack may name, answered at once from any thread.
  std::mutex assigned_mutex;
  std::set<TopicPartition> assigned;

  mutable std::mutex reason_mutex;
  std::string not_ready_reason;      // for /status
  struct PartitionStatus {
    TopicPartition id;
    std::int64_t committable, lag;
    std::size_t in_flight;
  };
  std::vector<PartitionStatus> status;  // refreshed by the strand
  std::map<std::string, std::string> unknown_topics;  // topic -> librdkafka's error
  void refresh_reason_locked();  // not_ready_reason from the state, under reason_mutex

  // The producer, created on first use.
  std::mutex producer_mutex;
  std::shared_ptr<Producer> producer;
  std::shared_ptr<Producer> get_producer();

  // --- the strand's (kafka_trigger.cpp) ------------------------------------
  std::map<TopicPartition, Partition> partitions;
  std::unordered_map<std::uint64_t, Partition*> by_generation;  // what completions name
  std::uint64_t next_generation = 1;
  std::vector<std::unique_ptr<RevokeWait>> revokes;
  bool draining = false;
  std::function<void()> drained;  // begin_drain's next step, once nothing is busy
  std::unique_ptr<asio::steady_timer> ack_wait_timer;  // the drain's wait for explicit acks
  bool ack_wait_over = false;

  void on_assigned(std::vector<TopicPartition> list);
  void on_revoking(std::vector<TopicPartition> list, bool lost, std::function<void()> done);
  void on_records(std::vector<Record> batch);
  void on_watermarks(std::vector<std::pair<TopicPartition, std::int64_t>> marks);
  void pump(Partition& p);
  void run(Partition& p, std::int64_t offset);
  void on_result(std::uint64_t generation, std::int64_t offset, DispatchResult result);
  void after_answer(Partition& p, std::int64_t offset, DispatchResult result);
  using AfterProduce = std::function<void(Core&, Partition&)>;
  void produce_then(Partition& p, std::int64_t offset, std::shared_ptr<const OutgoingRecord> record,
                    const char* what, AfterProduce then);
  void on_produced(std::uint64_t generation, std::int64_t offset, std::shared_ptr<const OutgoingRecord> record,
                   const char* what, AfterProduce then, const PublishOutcome& outcome);
  void wait_for_ack(Partition& p, std::int64_t offset);
  void on_explicit_ack(const TopicPartition& id, std::int64_t offset);
  void complete(Partition& p, std::int64_t offset);
  void leave_waiting(Partition& p);
  void check_quiet();
  void finish_revoke(RevokeWait* wait, bool timed_out);
  void update_status();
  void begin_drain(SteadyClock::time_point deadline, UniqueFunction<void()> done);
  void set_app_paused(bool on);
  void update_pause();
  void shut_down();
  Partition* find(std::uint64_t generation);

  bool take_explicit_ack(const QualifiedOffset& offset);  // any thread
  bool ready() const noexcept;
  void set_reason(std::string reason);
  std::string reason() const;
};

}  // namespace edgefn::kafka
