// kafka-mock: librdkafka's mock cluster (real Kafka-protocol brokers inside
// this one process, on 127.0.0.1) for tests, benchmarks and users who have
// no Kafka install. docs/kafka-mock.md is the user's page.
//
//   kafka-mock [--brokers N] [--topic NAME[:PARTITIONS]]... [--message-timeout-ms MS]
//
// Protocol, line by line. The first stdout line is
//   bootstrap 127.0.0.1:P1,127.0.0.1:P2,...
// and then stdin is read one command per line; every command is answered by
// zero or more lines and one final line, `ok` or `error: <why>`, so a
// client reads until one of those. Blank lines and lines starting with `#`
// get no answer. `quit` or the end of stdin destroys the cluster and exits
// 0. stdout carries nothing else; librdkafka's logs go to stderr.
//
// rd_kafka_mock_* act only on a cluster of the calling process, which is why
// faults are commands to this program and not something a test can do from
// outside. The commands are in kCommands below (and `help` prints them).
#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kafka_mock_words.hpp"

namespace edgefn::kafka_mock {
namespace {

using Clock = std::chrono::steady_clock;
using Words = std::vector<std::string>;

// A request to a broker (metadata, watermarks, committed offsets) that takes
// longer than this is answered with an error: a broker set down makes
// requests wait, and a test must get an answer either way.
constexpr int kRequestTimeoutMs = 10000;
// Beyond message.timeout.ms, by which librdkafka reports every message.
constexpr auto kDeliverySlack = std::chrono::seconds(10);
constexpr int kDefaultBrokers = 3;
constexpr int kDefaultPartitions = 4;

struct KafkaDestroy {
  void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
};
struct ConsumerDestroy {
  void operator()(rd_kafka_t* rk) const noexcept {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
};
struct ConfDestroy {
  void operator()(rd_kafka_conf_t* conf) const noexcept { rd_kafka_conf_destroy(conf); }
};
struct MockDestroy {
  void operator()(rd_kafka_mock_cluster_t* cluster) const noexcept { rd_kafka_mock_cluster_destroy(cluster); }
};
struct TopicDestroy {
  void operator()(rd_kafka_topic_t* topic) const noexcept { rd_kafka_topic_destroy(topic); }
};
struct MetadataDestroy {
  void operator()(const rd_kafka_metadata_t* md) const noexcept { rd_kafka_metadata_destroy(md); }
};
struct PartitionListDestroy {
  void operator()(rd_kafka_topic_partition_list_t* list) const noexcept { rd_kafka_topic_partition_list_destroy(list); }
};
struct HeadersDestroy {
  void operator()(rd_kafka_headers_t* headers) const noexcept { rd_kafka_headers_destroy(headers); }
};

using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDestroy>;
using ConsumerPtr = std::unique_ptr<rd_kafka_t, ConsumerDestroy>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDestroy>;
using MockPtr = std::unique_ptr<rd_kafka_mock_cluster_t, MockDestroy>;

// What the delivery reports of one produce command said. Filled by
// on_delivery, which runs inside rd_kafka_poll on the command's thread.
struct Deliveries {
  std::int64_t delivered = 0;
  std::int64_t failed = 0;
  std::string first_error;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::int64_t reported() const noexcept { return delivered + failed; }
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void*) noexcept {
  auto* deliveries = static_cast<Deliveries*>(message->_private);
  if (!deliveries) return;
  if (message->err) {
    ++deliveries->failed;
    try {
      if (deliveries->first_error.empty()) deliveries->first_error = rd_kafka_err2name(message->err);
    } catch (...) {
      // The count is what matters; the name is a courtesy.
    }
    return;
  }
  ++deliveries->delivered;
  deliveries->partition = message->partition;
  deliveries->offset = message->offset;
}

ConfPtr make_conf(const std::vector<std::pair<std::string, std::string>>& properties) {
  ConfPtr conf(rd_kafka_conf_new());
  char why[512];
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), why, sizeof why) != RD_KAFKA_CONF_OK) {
      throw std::runtime_error(fmt::format("librdkafka property {}={}: {}", name, value, why));
    }
  }
  return conf;
}

rd_kafka_t* new_client(rd_kafka_type_t type, ConfPtr conf) {
  char why[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), why, sizeof why);
  if (!rk) throw std::runtime_error(fmt::format("cannot create a librdkafka client: {}", why));
  conf.release();  // rd_kafka_new owns it now
  return rk;
}

void check(rd_kafka_resp_err_t err, std::string_view what) {
  if (err) throw CommandError(fmt::format("{}: {} ({})", what, rd_kafka_err2name(err), rd_kafka_err2str(err)));
}

void say(std::string_view line) { fmt::print("{}\n", line); }

class MockCluster {
 public:
  MockCluster(int brokers, int message_timeout_ms) : brokers_(brokers), message_timeout_ms_(message_timeout_ms) {
    // The owner never connects anywhere: its "no bootstrap.servers" notice
    // (level 5) would only confuse.
    owner_.reset(new_client(RD_KAFKA_PRODUCER, make_conf({{"client.id", "kafka-mock-cluster"}, {"log_level", "4"}})));
    cluster_.reset(rd_kafka_mock_cluster_new(owner_.get(), brokers));
    if (!cluster_) throw std::runtime_error(fmt::format("cannot start a mock cluster of {} brokers", brokers));
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_.get());
  }

  const std::string& bootstraps() const noexcept { return bootstraps_; }
  int brokers() const noexcept { return brokers_; }

  void create_topic(const std::string& name, int partitions, int replication) {
    check(rd_kafka_mock_topic_create(cluster_.get(), name.c_str(), partitions, replication),
          fmt::format("topic '{}'", name));
  }

  // `topic NAME PARTITIONS [REPLICATION]`
  void topic(const Words& w) {
    const auto partitions = static_cast<int>(parse_int(w[2], 1, 100000, "PARTITIONS"));
    const auto replication =
        w.size() > 3 ? static_cast<int>(parse_int(w[3], 1, brokers_, "REPLICATION")) : std::min(3, brokers_);
    create_topic(w[1], partitions, replication);
  }

  // `broker-down ID` / `broker-up ID` (ID -1: every broker)
  void broker_down(const Words& w) {
    const auto id = broker_id(w[1], true);
    check(rd_kafka_mock_broker_set_down(cluster_.get(), id), fmt::format("broker {} down", id));
  }
  void broker_up(const Words& w) {
    const auto id = broker_id(w[1], true);
    check(rd_kafka_mock_broker_set_up(cluster_.get(), id), fmt::format("broker {} up", id));
  }

  // `leader TOPIC PARTITION BROKER_ID` (-1: no leader)
  void leader(const Words& w) {
    const auto partition = static_cast<std::int32_t>(parse_int(w[2], 0, INT32_MAX, "PARTITION"));
    const auto id = broker_id(w[3], true);
    check(rd_kafka_mock_partition_set_leader(cluster_.get(), w[1].c_str(), partition, id),
          fmt::format("leader of {} [{}]", w[1], partition));
  }

  // `follower TOPIC PARTITION BROKER_ID`: the replica a consumer that asks
  // for a follower (client.rack) fetches from.
  void follower(const Words& w) {
    const auto partition = static_cast<std::int32_t>(parse_int(w[2], 0, INT32_MAX, "PARTITION"));
    const auto id = broker_id(w[3], false);
    check(rd_kafka_mock_partition_set_follower(cluster_.get(), w[1].c_str(), partition, id),
          fmt::format("follower of {} [{}]", w[1], partition));
  }

  // `rtt BROKER_ID MS` (ID -1: every broker; MS 0 removes the delay)
  void rtt(const Words& w) {
    const auto id = broker_id(w[1], true);
    const auto ms = static_cast<int>(parse_int(w[2], 0, 3600000, "MS"));
    check(rd_kafka_mock_broker_set_rtt(cluster_.get(), id, ms), fmt::format("rtt of broker {}", id));
  }

  // `error API COUNT CODE`: the next COUNT requests of API (to any broker)
  // fail with CODE.
  void error(const Words& w) {
    const auto api = parse_api_key(w[1]);
    const auto count = static_cast<std::size_t>(parse_int(w[2], 1, 100000, "COUNT"));
    const auto code = static_cast<rd_kafka_resp_err_t>(parse_error_code(w[3]));
    const std::vector<rd_kafka_resp_err_t> errors(count, code);
    rd_kafka_mock_push_request_errors_array(cluster_.get(), api, count, errors.data());
    say(fmt::format("pushed {} {} {}", count, api_name(api), rd_kafka_err2name(code)));
  }

  // `clear-errors API`: forget the errors still pushed for API.
  void clear_errors(const Words& w) { rd_kafka_mock_clear_request_errors(cluster_.get(), parse_api_key(w[1])); }

  // `topic-error TOPIC CODE`: metadata answers CODE for TOPIC (0 clears).
  void topic_error(const Words& w) {
    rd_kafka_mock_topic_set_error(cluster_.get(), w[1].c_str(),
                                  static_cast<rd_kafka_resp_err_t>(parse_error_code(w[2])));
  }

  // `coordinator group|transaction KEY BROKER_ID`
  void coordinator(const Words& w) {
    if (w[1] != "group" && w[1] != "transaction") throw CommandError("the coordinator type is group or transaction");
    const auto id = broker_id(w[3], false);
    check(rd_kafka_mock_coordinator_set(cluster_.get(), w[1].c_str(), w[2].c_str(), id),
          fmt::format("{} coordinator of '{}'", w[1], w[2]));
  }

  // `produce TOPIC PARTITION KEY VALUE [NAME=VALUE ...]` -> `offset P O`
  void produce(const Words& w) {
    const auto partition = static_cast<std::int32_t>(parse_int(w[2], -1, INT32_MAX, "PARTITION"));
    const auto key = decode_bytes(w[3]);
    const auto value = decode_bytes(w[4]);
    std::unique_ptr<rd_kafka_headers_t, HeadersDestroy> headers(rd_kafka_headers_new(w.size() - 5));
    for (std::size_t i = 5; i < w.size(); ++i) {
      const auto eq = w[i].find('=');
      if (eq == std::string::npos || eq == 0) throw CommandError(fmt::format("header '{}' is not NAME=VALUE", w[i]));
      const auto name = decode_bytes(std::string_view(w[i]).substr(0, eq));
      const auto header_value = decode_bytes(std::string_view(w[i]).substr(eq + 1));
      if (!name || name->empty()) throw CommandError(fmt::format("header '{}' has no name", w[i]));
      check(rd_kafka_header_add(headers.get(), name->data(), static_cast<ssize_t>(name->size()),
                                header_value ? header_value->data() : nullptr,
                                header_value ? static_cast<ssize_t>(header_value->size()) : 0),
            "header");
    }
    // The macros below cast their arguments without parentheses.
    const void* key_data = key ? key->data() : nullptr;
    const std::size_t key_size = key ? key->size() : 0;
    void* value_data = value ? const_cast<char*>(value->data()) : nullptr;
    const std::size_t value_size = value ? value->size() : 0;
    const std::int32_t target = partition == -1 ? RD_KAFKA_PARTITION_UA : partition;
    Deliveries deliveries;
    rd_kafka_t* p = producer();
    const auto err = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(w[1].c_str()), RD_KAFKA_V_PARTITION(target),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key_data, key_size),
                                       RD_KAFKA_V_VALUE(value_data, value_size), RD_KAFKA_V_HEADERS(headers.get()),
                                       RD_KAFKA_V_OPAQUE(&deliveries), RD_KAFKA_V_END);
    if (err) producer_.reset();
    check(err, "produce");
    headers.release();  // the message owns them once produced
    await_deliveries(p, deliveries, 1);
    if (deliveries.failed) {
      producer_.reset();
      throw CommandError(fmt::format("not delivered: {}", deliveries.first_error));
    }
    say(fmt::format("offset {} {}", deliveries.partition, deliveries.offset));
  }

  // `produce-seq TOPIC COUNT KEYS [SIZE]` -> `delivered N`. Message i has
  // key k<i % KEYS> and value <key>:<seq> (seq counting per key from 0),
  // followed by `:` and filler up to SIZE bytes when SIZE is larger.
  void produce_seq(const Words& w) {
    const auto count = parse_int(w[2], 0, 1'000'000'000, "COUNT");
    const auto keys = parse_int(w[3], 1, 1'000'000'000, "KEYS");
    const auto size = w.size() > 4 ? static_cast<std::size_t>(parse_int(w[4], 0, 100 << 20, "SIZE")) : 0;
    Deliveries deliveries;
    rd_kafka_t* p = producer();
    std::string key, value;
    auto last_progress = Clock::now();
    std::int64_t produced = 0;
    for (; produced < count; ++produced) {
      key = fmt::format("k{}", produced % keys);
      value = fmt::format("{}:{}", key, produced / keys);
      if (size > value.size()) {
        value.push_back(':');
        value.resize(size, 'x');
      }
      for (;;) {
        const auto err =
            rd_kafka_producev(p, RD_KAFKA_V_TOPIC(w[1].c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(value.data(), value.size()),
                              RD_KAFKA_V_OPAQUE(&deliveries), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          deliveries.failed += count - produced;
          if (deliveries.first_error.empty()) deliveries.first_error = rd_kafka_err2name(err);
          produced = count;
          break;
        }
        // The local queue is full: serving delivery reports frees it.
        const auto before = deliveries.reported();
        rd_kafka_poll(p, 10);
        if (deliveries.reported() != before) last_progress = Clock::now();
        if (Clock::now() - last_progress > std::chrono::milliseconds(message_timeout_ms_) + kDeliverySlack) {
          abandon(p);
          throw CommandError(fmt::format("stalled after producing {} of {} messages", produced, count));
        }
      }
      if (produced % 1024 == 0) rd_kafka_poll(p, 0);
    }
    await_deliveries(p, deliveries, count);
    say(fmt::format("delivered {}", deliveries.delivered));
    if (deliveries.failed) {
      producer_.reset();
      throw CommandError(fmt::format("{} of {} messages not delivered (first error: {})", deliveries.failed, count,
                                     deliveries.first_error));
    }
  }

  // `committed GROUP TOPIC` -> `P OFFSET` per partition (-1: none). The
  // group's consumer here never subscribes, so it does not join the group.
  void committed(const Words& w) {
    rd_kafka_t* consumer = consumer_of(w[1]);
    const auto partitions = partition_count(consumer, w[2]);
    std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDestroy> list(
        rd_kafka_topic_partition_list_new(partitions));
    for (std::int32_t p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list.get(), w[2].c_str(), p);
    check(rd_kafka_committed(consumer, list.get(), kRequestTimeoutMs),
          fmt::format("committed offsets of group '{}'", w[1]));
    for (int i = 0; i < list->cnt; ++i) {
      const auto& tp = list->elems[i];
      check(tp.err, fmt::format("committed offset of {} [{}]", w[2], tp.partition));
      say(fmt::format("{} {}", tp.partition, tp.offset < 0 ? -1 : tp.offset));
    }
  }

  // `end TOPIC` -> `P OFFSET` per partition: the high watermarks.
  void end(const Words& w) { watermarks(w[1], false); }

  // `start TOPIC` -> `P OFFSET` per partition: the low watermarks. The mock
  // keeps at most 5 MiB (or 100,000 message sets) per partition and drops
  // the oldest beyond that, so a start above 0 means messages are gone.
  void start(const Words& w) { watermarks(w[1], true); }

  void bootstrap(const Words&) { say(fmt::format("bootstrap {}", bootstraps_)); }

 private:
  std::int32_t broker_id(std::string_view word, bool allow_all) const {
    return static_cast<std::int32_t>(parse_int(word, allow_all ? -1 : 1, brokers_, "BROKER_ID"));
  }

  // The producer of produce and produce-seq (idempotent: retries neither
  // duplicate nor reorder), made again after a fatal idempotence error. A
  // command whose messages failed drops it: a non-retriable error (one
  // pushed with `error Produce ...`, say) leaves the topic marked failed in
  // its metadata cache until the next refresh, minutes later, and the
  // next command must start clean.
  rd_kafka_t* producer() {
    if (producer_) {
      char why[512];
      if (rd_kafka_fatal_error(producer_.get(), why, sizeof why) == RD_KAFKA_RESP_ERR_NO_ERROR) return producer_.get();
      fmt::print(stderr, "kafka-mock: the producer had a fatal error ({}); starting a new one\n", why);
      producer_.reset();
    }
    auto conf = make_conf({{"bootstrap.servers", bootstraps_},
                           {"client.id", "kafka-mock-producer"},
                           {"enable.idempotence", "true"},
                           {"linger.ms", "5"},
                           {"message.timeout.ms", std::to_string(message_timeout_ms_)},
                           // A broker set down and up again is found within a second.
                           {"reconnect.backoff.ms", "50"},
                           {"reconnect.backoff.max.ms", "1000"}});
    rd_kafka_conf_set_dr_msg_cb(conf.get(), on_delivery);
    producer_.reset(new_client(RD_KAFKA_PRODUCER, std::move(conf)));
    return producer_.get();
  }

  rd_kafka_t* consumer_of(const std::string& group) {
    auto it = consumers_.find(group);
    if (it != consumers_.end()) return it->second.get();
    auto conf = make_conf({{"bootstrap.servers", bootstraps_},
                           {"client.id", "kafka-mock-committed"},
                           {"group.id", group},
                           {"enable.auto.commit", "false"},
                           {"reconnect.backoff.ms", "50"},
                           {"reconnect.backoff.max.ms", "1000"}});
    ConsumerPtr consumer(new_client(RD_KAFKA_CONSUMER, std::move(conf)));
    return consumers_.emplace(group, std::move(consumer)).first->second.get();
  }

  static std::int32_t partition_count(rd_kafka_t* rk, const std::string& topic) {
    std::unique_ptr<rd_kafka_topic_t, TopicDestroy> handle(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
    if (!handle) throw CommandError(fmt::format("topic '{}': {}", topic, rd_kafka_err2str(rd_kafka_last_error())));
    const rd_kafka_metadata_t* raw = nullptr;
    check(rd_kafka_metadata(rk, 0, handle.get(), &raw, kRequestTimeoutMs), fmt::format("metadata of '{}'", topic));
    std::unique_ptr<const rd_kafka_metadata_t, MetadataDestroy> metadata(raw);
    if (metadata->topic_cnt != 1) throw CommandError(fmt::format("metadata of '{}': no such topic", topic));
    check(metadata->topics[0].err, fmt::format("topic '{}'", topic));
    return metadata->topics[0].partition_cnt;
  }

  // Serves delivery reports until `expected` of them came (or the bound
  // librdkafka itself keeps: message.timeout.ms, plus slack).
  void await_deliveries(rd_kafka_t* p, Deliveries& deliveries, std::int64_t expected) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(message_timeout_ms_) + kDeliverySlack;
    while (deliveries.reported() < expected && Clock::now() < deadline) rd_kafka_poll(p, 100);
    if (deliveries.reported() < expected) {
      abandon(p);
      throw CommandError(fmt::format("no delivery report for {} messages", expected - deliveries.reported()));
    }
  }

  void watermarks(const std::string& topic, bool low) {
    rd_kafka_t* p = producer();
    const auto partitions = partition_count(p, topic);
    for (std::int32_t partition = 0; partition < partitions; ++partition) {
      std::int64_t lo = 0, hi = 0;
      check(rd_kafka_query_watermark_offsets(p, topic.c_str(), partition, &lo, &hi, kRequestTimeoutMs),
            fmt::format("watermarks of {} [{}]", topic, partition));
      say(fmt::format("{} {}", partition, low ? lo : hi));
    }
  }

  // Drops the producer and what it still holds, while the Deliveries its
  // reports point at still exists (purged messages report on the flush).
  void abandon(rd_kafka_t* p) noexcept {
    rd_kafka_purge(p, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(p, 5000);
    producer_.reset();
  }

  // Destroyed in reverse: clients first, then the cluster, then its owner.
  int brokers_;
  int message_timeout_ms_;
  KafkaPtr owner_;
  MockPtr cluster_;
  std::string bootstraps_;
  KafkaPtr producer_;
  std::map<std::string, ConsumerPtr> consumers_;
};

struct Command {
  std::string_view name;
  std::size_t min_args;
  std::size_t max_args;
  std::string_view usage;
  void (MockCluster::*run)(const Words&);
};

constexpr std::size_t kAny = 1000;

const std::vector<Command> kCommands = {
    {"topic", 2, 3, "topic NAME PARTITIONS [REPLICATION]", &MockCluster::topic},
    {"broker-down", 1, 1, "broker-down BROKER_ID      (-1: all)", &MockCluster::broker_down},
    {"broker-up", 1, 1, "broker-up BROKER_ID        (-1: all)", &MockCluster::broker_up},
    {"leader", 3, 3, "leader TOPIC PARTITION BROKER_ID   (-1: no leader)", &MockCluster::leader},
    {"follower", 3, 3, "follower TOPIC PARTITION BROKER_ID", &MockCluster::follower},
    {"rtt", 2, 2, "rtt BROKER_ID MS           (-1: all)", &MockCluster::rtt},
    {"error", 3, 3, "error API COUNT CODE       (API: Fetch, OffsetCommit, ... or a number)", &MockCluster::error},
    {"clear-errors", 1, 1, "clear-errors API", &MockCluster::clear_errors},
    {"topic-error", 2, 2, "topic-error TOPIC CODE", &MockCluster::topic_error},
    {"coordinator", 3, 3, "coordinator group|transaction KEY BROKER_ID", &MockCluster::coordinator},
    {"produce", 4, kAny, "produce TOPIC PARTITION KEY VALUE [NAME=VALUE ...]  -> offset P O", &MockCluster::produce},
    {"produce-seq", 3, 4, "produce-seq TOPIC COUNT KEYS [SIZE]  -> delivered N", &MockCluster::produce_seq},
    {"committed", 2, 2, "committed GROUP TOPIC      -> P OFFSET per partition", &MockCluster::committed},
    {"end", 1, 1, "end TOPIC                  -> P OFFSET per partition (high watermarks)", &MockCluster::end},
    {"start", 1, 1, "start TOPIC                -> P OFFSET per partition (low watermarks)", &MockCluster::start},
    {"bootstrap", 0, 0, "bootstrap                  -> bootstrap HOST:PORT,...", &MockCluster::bootstrap},
};

void help() {
  for (const auto& c : kCommands) say(c.usage);
  say("help");
  say("quit");
  say("KEY, VALUE and headers: %XX escapes a byte (%20 space, %25 %), - is none, \"\" is empty");
}

// Runs one command line; false for quit.
bool execute(MockCluster& cluster, const Words& words) {
  if (words[0] == "quit") return false;
  if (words[0] == "help") {
    help();
    return true;
  }
  const auto it = std::ranges::find(kCommands, words[0], &Command::name);
  if (it == kCommands.end()) throw CommandError(fmt::format("unknown command '{}' (try help)", words[0]));
  const auto args = words.size() - 1;
  if (args < it->min_args || args > it->max_args) throw CommandError(fmt::format("usage: {}", it->usage));
  (cluster.*(it->run))(words);
  return true;
}

std::string one_line(std::string text) {
  std::ranges::replace(text, '\n', ' ');
  std::ranges::replace(text, '\r', ' ');
  return text;
}

void serve(MockCluster& cluster) {
  for (std::string line; std::getline(std::cin, line);) {
    const auto words = split_words(line);
    if (words.empty() || words[0].starts_with('#')) continue;
    bool more = true;
    try {
      more = execute(cluster, words);
      say("ok");
    } catch (const std::exception& e) {
      say(fmt::format("error: {}", one_line(e.what())));
    }
    std::fflush(stdout);
    if (!more) return;
  }
}

constexpr std::string_view kUsage =
    "usage: kafka-mock [--brokers N] [--topic NAME[:PARTITIONS]]... [--message-timeout-ms MS]\n"
    "Starts librdkafka's mock Kafka cluster on 127.0.0.1, prints `bootstrap HOST:PORT,...`,\n"
    "then reads commands on stdin (`help` lists them). See docs/kafka-mock.md.\n";

[[noreturn]] void usage_error(std::string_view why) {
  fmt::print(stderr, "kafka-mock: {}\n{}", why, kUsage);
  std::exit(2);
}

int run(int argc, char** argv) {
  int brokers = kDefaultBrokers;
  int message_timeout_ms = 60000;
  std::vector<std::pair<std::string, int>> topics;
  const auto value_of = [&](int& i) -> std::string_view {
    if (i + 1 >= argc) usage_error(fmt::format("{} needs a value", argv[i]));
    return argv[++i];
  };
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      if (arg == "-h" || arg == "--help") {
        fmt::print("{}", kUsage);
        return 0;
      } else if (arg == "--brokers") {
        brokers = static_cast<int>(parse_int(value_of(i), 1, 64, "--brokers"));
      } else if (arg == "--message-timeout-ms") {
        message_timeout_ms = static_cast<int>(parse_int(value_of(i), 1000, 3600000, "--message-timeout-ms"));
      } else if (arg == "--topic") {
        const std::string_view spec = value_of(i);
        const auto colon = spec.rfind(':');
        const auto name = spec.substr(0, colon);
        if (name.empty()) usage_error(fmt::format("--topic '{}' has no name", spec));
        const int partitions = colon == std::string_view::npos
                                   ? kDefaultPartitions
                                   : static_cast<int>(parse_int(spec.substr(colon + 1), 1, 100000, "PARTITIONS"));
        topics.emplace_back(std::string(name), partitions);
      } else {
        usage_error(fmt::format("unknown argument '{}'", arg));
      }
    }
  } catch (const CommandError& e) {
    usage_error(e.what());
  }

  MockCluster cluster(brokers, message_timeout_ms);
  for (const auto& [name, partitions] : topics) {
    try {
      cluster.create_topic(name, partitions, std::min(3, brokers));
    } catch (const CommandError& e) {
      fmt::print(stderr, "kafka-mock: {}\n", e.what());
      return 1;
    }
  }
  say(fmt::format("bootstrap {}", cluster.bootstraps()));
  std::fflush(stdout);
  serve(cluster);
  return 0;
}

}  // namespace
}  // namespace edgefn::kafka_mock

int main(int argc, char** argv) {
  try {
    return edgefn::kafka_mock::run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "kafka-mock: {}\n", e.what());
    return 1;
  }
}
