#include "trigger/kafka/kafka_client.hpp"

#include <cstring>

#include "config/config_error.hpp"

namespace edgefn::kafka {
namespace {

// syslog levels, as librdkafka logs them.
spdlog::level::level_enum level_of(int syslog_level) {
  if (syslog_level <= 3) return spdlog::level::err;
  if (syslog_level == 4) return spdlog::level::warn;
  if (syslog_level <= 6) return spdlog::level::info;
  return spdlog::level::debug;
}

void log_line(const rd_kafka_t* handle, int level, const char* facility, const char* text) {
  auto* sink = static_cast<LogSink*>(rd_kafka_opaque(handle));
  if (!sink || !sink->logger) return;
  sink->logger->log(level_of(level), "librdkafka {}: {}", facility, text);
}

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void*) {
  auto* done = static_cast<PublishDone*>(message->_private);
  if (!done) return;
  if (message->err)
    (*done)(tl::make_unexpected(describe(message->err)));
  else
    (*done)(PublishOutcome{});
  delete done;
}

}  // namespace

std::string describe(rd_kafka_resp_err_t error) {
  return std::string(rd_kafka_err2str(error)) + " (" + rd_kafka_err2name(error) + ")";
}

rd_kafka_conf_t* make_conf(const Properties& properties, LogSink* sink) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [name, value] : properties) {
    char error[512] = {};
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw StartError("librdkafka refuses " + name + ": " + error);
    }
  }
  rd_kafka_conf_set_opaque(conf, sink);
  rd_kafka_conf_set_log_cb(conf, log_line);
  return conf;
}

Producer::Producer(const Properties& properties, std::shared_ptr<spdlog::logger> logger) : sink_{std::move(logger)} {
  rd_kafka_conf_t* conf = make_conf(properties, &sink_);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  char error[512] = {};
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (!handle) {
    rd_kafka_conf_destroy(conf);
    throw StartError(std::string("the Kafka producer could not be created: ") + error);
  }
  handle_.reset(handle);
  poller_ = std::thread([this] {
    while (!stopping_.load(std::memory_order_acquire)) rd_kafka_poll(handle_.get(), 100);
  });
}

Producer::~Producer() { close(std::chrono::milliseconds{0}); }

void Producer::produce(const OutgoingRecord& record, PublishDone done) noexcept {
  if (closed_.load()) return done(tl::make_unexpected(std::string{"the Kafka producer is closed"}));
  rd_kafka_headers_t* headers = nullptr;
  if (!record.headers.empty()) {
    headers = rd_kafka_headers_new(record.headers.size());
    for (const auto& [name, value] : record.headers)
      rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
  }
  auto* opaque = new PublishDone(std::move(done));
  // librdkafka copies the key and value (RD_KAFKA_MSG_F_COPY): the casts
  // only fit its signature.
  void* key = record.key ? const_cast<char*>(record.key->data()) : nullptr;
  const std::size_t key_size = record.key ? record.key->size() : 0;
  const rd_kafka_resp_err_t error = rd_kafka_producev(
      handle_.get(), RD_KAFKA_V_TOPIC(record.topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_VALUE(const_cast<char*>(record.value.data()), record.value.size()), RD_KAFKA_V_KEY(key, key_size),
      RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
  if (error) {
    // Not taken: the headers are still ours.
    if (headers) rd_kafka_headers_destroy(headers);
    std::unique_ptr<PublishDone> owned(opaque);
    (*owned)(tl::make_unexpected(describe(error)));
  }
}

bool Producer::fatal() const noexcept {
  char text[256];
  return rd_kafka_fatal_error(handle_.get(), text, sizeof text) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

std::string Producer::fatal_reason() const {
  char text[512] = {};
  const auto error = rd_kafka_fatal_error(handle_.get(), text, sizeof text);
  return describe(error) + ": " + text;
}

void Producer::close(std::chrono::milliseconds timeout) noexcept {
  if (closed_.exchange(true)) return;
  rd_kafka_flush(handle_.get(), static_cast<int>(timeout.count()));
  // What is left fails now, reported through the delivery callback.
  rd_kafka_purge(handle_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  stopping_.store(true, std::memory_order_release);
  if (poller_.joinable()) poller_.join();
  rd_kafka_poll(handle_.get(), 0);
}

}  // namespace edgefn::kafka
