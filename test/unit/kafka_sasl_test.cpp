// SASL GSSAPI through librdkafka as the static build links it: Cyrus SASL
// is src/trigger/kafka/sasl_shim.c there, so a client configured for GSSAPI
// must start and then refuse its connection with the shim's message. (The
// daemon refuses GSSAPI at config load, kafka_settings_test.cpp; this is
// what a raw property that slipped past would meet.) Told that the broker
// predates SaslHandshake (broker.version.fallback 0.9.0: Kafka's legacy
// GSSAPI framing), librdkafka starts SASL as soon as the TCP connection is
// up, so a socket that listens and never answers is broker enough.
#ifdef EDGEFN_KAFKA_NO_GSSAPI

#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace {

using Catch::Matchers::Contains;

// A TCP socket on 127.0.0.1 and a free port that the kernel accepts
// connections on (its backlog) without the test ever answering.
struct SilentListener {
  SilentListener() : fd(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(fd, 8) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port = ntohs(address.sin_port);
  }
  ~SilentListener() { ::close(fd); }

  int fd;
  int port = 0;
};

void error_cb(rd_kafka_t*, int, const char* reason, void* opaque) {
  static_cast<std::vector<std::string>*>(opaque)->emplace_back(reason);
}

}  // namespace

TEST_CASE("static build: a GSSAPI client starts and its connection is refused, naming the alternatives") {
  SilentListener broker;
  std::vector<std::string> errors;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512] = {};
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"bootstrap.servers", "127.0.0.1:" + std::to_string(broker.port)},
           {"security.protocol", "sasl_plaintext"},
           {"sasl.mechanisms", "GSSAPI"},
           {"sasl.kerberos.min.time.before.relogin", "0"},  // no kinit
           {"api.version.request", "false"},
           {"broker.version.fallback", "0.9.0"},
           {"reconnect.backoff.ms", "100"}}) {
    INFO(name);
    REQUIRE(rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error) == RD_KAFKA_CONF_OK);
  }
  rd_kafka_conf_set_error_cb(conf, error_cb);
  rd_kafka_conf_set_opaque(conf, &errors);
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> client(rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error),
                                                            rd_kafka_destroy);
  REQUIRE(client);  // librdkafka's global init ran sasl_client_init

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto refused = [&] {
    for (const auto& e : errors)
      if (e.find("SASL GSSAPI (Kerberos) is not available") != std::string::npos) return true;
    return false;
  };
  while (!refused() && std::chrono::steady_clock::now() < deadline) rd_kafka_poll(client.get(), 100);
  std::string seen;
  for (const auto& e : errors) seen += e + "\n";
  INFO("errors reported:\n" << seen);
  REQUIRE(refused());
  for (const auto& e : errors)
    if (e.find("GSSAPI") != std::string::npos) CHECK_THAT(e, Contains("PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"));
}

#endif  // EDGEFN_KAFKA_NO_GSSAPI
