#pragma once
// librdkafka handles, owned: configuration from Properties with its log
// lines routed to spdlog, and the producer the trigger publishes responses,
// dead letters and handlers' own messages with. The consumer's poll loop is
// the trigger's own (kafka_trigger.cpp).
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <spdlog/logger.h>

#include "host/host_services.hpp"
#include "trigger/kafka/kafka_event.hpp"
#include "trigger/kafka/kafka_settings.hpp"

namespace edgefn::kafka {

// A consumer is closed (its group left, its offsets committed) explicitly
// and only when that can work; destroying one never blocks on its group.
struct HandleDeleter {
  void operator()(rd_kafka_t* handle) const noexcept {
    rd_kafka_destroy_flags(handle, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }
};
using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;

struct QueueDeleter {
  void operator()(rd_kafka_queue_t* queue) const noexcept { rd_kafka_queue_destroy(queue); }
};
using Queue = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const noexcept { rd_kafka_topic_partition_list_destroy(list); }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

// A configuration with `properties` set and librdkafka's log lines going to
// `logger` (which the handle's opaque must keep alive: see LogSink).
// Throws StartError with librdkafka's message and the property's name.
struct LogSink {
  std::shared_ptr<spdlog::logger> logger;
};
rd_kafka_conf_t* make_conf(const Properties& properties, LogSink* sink);

// librdkafka's error as text: "Local: Broker transport failure (_TRANSPORT)".
std::string describe(rd_kafka_resp_err_t error);

// An idempotent producer with a thread of its own serving delivery
// reports. produce() may be called from any thread.
class Producer {
 public:
  // Throws StartError when librdkafka refuses the configuration.
  Producer(const Properties& properties, std::shared_ptr<spdlog::logger> logger);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // `done` runs once, on the producer's thread or (for a refusal such as
  // a full queue) inside this call: when the broker has the record (its
  // delivery report) or it failed for good.
  void produce(const OutgoingRecord& record, PublishDone done) noexcept;

  // Waits up to `timeout` for the records in flight, then fails the rest
  // and stops the thread. Idempotent.
  void close(std::chrono::milliseconds timeout) noexcept;

  // librdkafka raised a fatal error: this producer produces no more.
  bool fatal() const noexcept;
  std::string fatal_reason() const;

 private:
  LogSink sink_;
  Handle handle_;
  std::atomic<bool> stopping_{false};
  std::thread poller_;
  std::atomic<bool> closed_{false};
};

}  // namespace edgefn::kafka
