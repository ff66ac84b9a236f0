#include "trigger/kafka/kafka_settings.hpp"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <catch2/catch.hpp>

#include "config/config_error.hpp"
#include "config/config_loader.hpp"

using namespace edgefn;
using namespace edgefn::kafka;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// One function.yaml in a fresh directory (with the certificate files TLS
// settings name), removed afterwards.
struct Function {
  explicit Function(const std::string& attributes, const std::string& trigger_extra = "") {
    std::random_device rd;
    dir = fs::temp_directory_path() / ("edgefn-kafka-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(dir);
    for (const char* name : {"ca.pem", "client.pem", "client.key"}) std::ofstream(dir / name) << "pem\n";
    std::ofstream(dir / "function.yaml") << "metadata: {name: orders}\n"
                                            "spec:\n"
                                            "  runtime: native\n"
                                            "  handler: builtin:echo\n"
                                            "  triggers:\n"
                                            "    stream:\n"
                                            "      kind: kafka\n"
                                            "      url: 127.0.0.1:9092, kafka://127.0.0.1:9093\n"
                                         << trigger_extra << "      attributes:\n"
                                         << attributes;
  }
  ~Function() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  KafkaSettings read(const std::string& instance = {}) {
    KindCatalog catalog;
    catalog.trigger_kinds = {"http", "kafka-cluster"};
    catalog.runtimes = {"native"};
    auto loaded = load_function_config(dir / "function.yaml", catalog);
    for (const auto& trigger : loaded.config.triggers)
      if (trigger.name == "stream") return read_kafka_settings(trigger, loaded.config.name, instance);
    FAIL("no trigger named stream");
    return {};
  }

  fs::path dir;
};

const char* kMinimal = "        topics: [orders]\n        consumerGroup: g1\n";

}  // namespace

TEST_CASE("kafka settings become librdkafka properties, offsets stored only by edgefn") {
  Function f(kMinimal);
  const auto s = f.read("site-7");
  CHECK(s.brokers == "127.0.0.1:9092,127.0.0.1:9093");
  CHECK(s.topics == std::vector<std::string>{"orders"});
  const auto& c = s.consumer;
  CHECK(property(c, "bootstrap.servers") == s.brokers);
  CHECK(property(c, "group.id") == "g1");
  CHECK(property(c, "client.id") == "orders-stream-site-7");
  CHECK(property(c, "auto.offset.reset") == "earliest");
  CHECK(property(c, "session.timeout.ms") == "10000");  // Nuclio's default
  CHECK(property(c, "heartbeat.interval.ms") == "3000");
  CHECK(property(c, "enable.auto.offset.store") == "false");
  CHECK(property(c, "enable.auto.commit") == "true");
  CHECK(property(c, "security.protocol") == "plaintext");
  CHECK(property(s.producer, "enable.idempotence") == "true");
  CHECK(property(s.producer, "group.id").empty());
  CHECK_FALSE(s.failure.on_error.has_value());
}

TEST_CASE("kafka TLS and SASL settings, in edgefn's and Nuclio's names, become their properties") {
  ::setenv("EDGEFN_TEST_KAFKA_PASSWORD", "s3cret", 1);
  Function f(std::string(kMinimal) +
             "        caCert: ca.pem\n"
             "        accessCertificate: client.pem\n"
             "        accessKey: client.key\n"
             "        tls: {enable: true, insecureSkipVerify: true}\n"
             "        sasl: {enable: true, mechanism: scram-sha-512, user: edge,\n"
             "               password: {valueFrom: {envVar: EDGEFN_TEST_KAFKA_PASSWORD}}}\n");
  const auto s = f.read();
  for (const auto* props : {&s.consumer, &s.producer}) {
    CHECK(property(*props, "security.protocol") == "sasl_ssl");
    CHECK(property(*props, "ssl.ca.location") == (f.dir / "ca.pem").string());
    CHECK(property(*props, "ssl.certificate.location") == (f.dir / "client.pem").string());
    CHECK(property(*props, "ssl.key.location") == (f.dir / "client.key").string());
    CHECK(property(*props, "enable.ssl.certificate.verification") == "false");
    CHECK(property(*props, "ssl.endpoint.identification.algorithm") == "none");
    CHECK(property(*props, "sasl.mechanisms") == "SCRAM-SHA-512");
    CHECK(property(*props, "sasl.username") == "edge");
    CHECK(property(*props, "sasl.password") == "s3cret");
  }
  ::unsetenv("EDGEFN_TEST_KAFKA_PASSWORD");
}

TEST_CASE("raw librdkafka properties are set last, checked by librdkafka at their line") {
  Function good(std::string(kMinimal) + "        librdkafka: {fetch.wait.max.ms: 50, socket.keepalive.enable: true}\n");
  const auto s = good.read();
  CHECK(property(s.consumer, "fetch.wait.max.ms") == "50");
  CHECK(property(s.producer, "fetch.wait.max.ms").empty());  // a consumer property
  CHECK(property(s.producer, "socket.keepalive.enable") == "true");

  Function unknown(std::string(kMinimal) + "        librdkafka:\n          no.such.property: 1\n");
  CHECK_THROWS_WITH(unknown.read(), Contains("function.yaml:13:") && Contains("no.such.property") &&
                                        Contains("No such configuration property"));
  Function invalid(std::string(kMinimal) + "        librdkafka:\n          fetch.wait.max.ms: soon\n");
  CHECK_THROWS_WITH(invalid.read(), Contains("function.yaml:13:") && Contains("fetch.wait.max.ms"));
  Function managed(std::string(kMinimal) + "        librdkafka:\n          enable.auto.offset.store: true\n");
  CHECK_THROWS_WITH(managed.read(), Contains("set by edgefn"));
}

TEST_CASE("balance strategies librdkafka 2.0.2 cannot run safely are refused with the alternatives") {
  Function sticky(std::string(kMinimal) + "        balanceStrategy: sticky\n");
  CHECK_THROWS_WITH(sticky.read(), Contains("function.yaml:12:") && Contains("range, roundrobin"));
  Function cooperative(std::string(kMinimal) + "        balanceStrategy: cooperative-sticky\n");
  if (rd_kafka_version() < 0x020300ff)
    CHECK_THROWS_WITH(cooperative.read(), Contains("librdkafka 2.3.0") && Contains("#4312"));
  else
    CHECK(property(cooperative.read().consumer, "partition.assignment.strategy") == "cooperative-sticky");
  Function roundrobin(std::string(kMinimal) + "        balanceStrategy: RoundRobin\n");
  CHECK(property(roundrobin.read().consumer, "partition.assignment.strategy") == "roundrobin");
}

TEST_CASE("the kafka failure policy and topics are checked") {
  Function policy(std::string(kMinimal) +
                  "        onError: deadletter\n        deadLetterTopic: dead\n        maxRetries: 5\n"
                  "        retryBackoff: 250ms\n        responseTopic: replies\n        maxInFlight: 64\n");
  const auto s = policy.read();
  CHECK(s.failure.on_error == stream::FailurePolicy::OnError::kDeadLetter);
  CHECK(s.failure.dead_letter_topic == "dead");
  CHECK(s.failure.max_retries == 5);
  CHECK(s.failure.retry_backoff == std::chrono::milliseconds(250));
  CHECK(s.response_topic == "replies");
  CHECK(s.max_in_flight == 64);

  Function no_topic(std::string(kMinimal) + "        onError: deadLetter\n");
  CHECK_THROWS_WITH(no_topic.read(), Contains("needs a deadLetterTopic"));
  Function loop(std::string(kMinimal) + "        responseTopic: orders\n");
  CHECK_THROWS_WITH(loop.read(), Contains("every message would come back"));
  Function no_group("        topics: [orders]\n");
  CHECK_THROWS_WITH(no_group.read(), Contains("consumerGroup"));
  Function missing_cert(std::string(kMinimal) + "        tls: {enable: true, caCert: nowhere.pem}\n");
  CHECK_THROWS_WITH(missing_cert.read(), Contains("no such file"));
}

TEST_CASE("SASL GSSAPI is refused at its line by the static build, which has no Cyrus SASL, and kept otherwise") {
  Function attribute(std::string(kMinimal) + "        sasl: {enable: true, mechanism: gssapi}\n");
  Function raw(std::string(kMinimal) + "        librdkafka:\n          sasl.mechanisms: GSSAPI\n");
#ifdef EDGEFN_KAFKA_NO_GSSAPI
  CHECK_THROWS_WITH(attribute.read(), Contains("function.yaml:12:") && Contains("GSSAPI (Kerberos) is not in this build") &&
                                          Contains("SCRAM-SHA-512 or OAUTHBEARER"));
  CHECK_THROWS_WITH(raw.read(), Contains("function.yaml:13:") && Contains("GSSAPI (Kerberos) is not in this build"));
#else
  CHECK(property(attribute.read().consumer, "sasl.mechanisms") == "GSSAPI");
  CHECK(property(raw.read().consumer, "sasl.mechanisms") == "GSSAPI");
#endif
}
