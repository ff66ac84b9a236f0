// The MQTT session against a real mosquitto (test/support/mosquitto_fixture.hpp):
// deliveries and settles, acknowledgements held until settled and released
// in order, the window, outgoing publishes, reconnecting after a broker
// restart, refused credentials, TLS. The peer is a second Session or
// mosquitto_pub. Every wait is bounded; Catch2 assertions only on the test's
// own thread (Catch2 v2 is not thread-safe), the io_context runs on two
// others so the session's strand is exercised.
#include "trigger/mqtt/mqtt_session.hpp"

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "../support/mosquitto_fixture.hpp"
#include "../support/scripted_broker.hpp"
#include "trigger/mqtt/mqtt_outbox.hpp"

namespace {

using namespace edgefn;
using namespace edgefn::mqtt;
using namespace std::chrono_literals;
using edgefn::test::Mosquitto;
using edgefn::test::run_command;
using edgefn::test::ScriptedBroker;

constexpr auto kWait = 15s;

class IoThreads {
 public:
  IoThreads() : guard_(asio::make_work_guard(io)) {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io.run(); });
  }
  ~IoThreads() {
    guard_.reset();
    io.stop();
    for (auto& t : threads_) t.join();
  }
  asio::io_context io;

 private:
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::vector<std::thread> threads_;
};

// What a session reported, for the test thread to wait on.
class Recorder {
 public:
  Session::Callbacks callbacks() {
    Session::Callbacks c;
    c.on_message = [this](Delivery d) {
      std::lock_guard lock(mutex_);
      deliveries_.push_back(std::move(d));
      changed_.notify_all();
    };
    c.on_state = [this](SessionState state, const std::string& why) {
      std::lock_guard lock(mutex_);
      states_.emplace_back(state, why);
      changed_.notify_all();
    };
    return c;
  }

  // Re-checked on every callback and every 10 ms, for conditions on the
  // session's counters, which no callback announces.
  template <class Predicate>
  bool wait(Predicate predicate, std::chrono::milliseconds timeout = kWait) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mutex_);
    while (!predicate(*this)) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      changed_.wait_for(lock, 10ms);
    }
    return true;
  }
  bool wait_deliveries(std::size_t n) {
    return wait([n](Recorder& r) { return r.deliveries_.size() >= n; });
  }
  // The `n`th time (1-based) the session reported `state`.
  bool wait_state(SessionState state, int n = 1) {
    return wait([state, n](Recorder& r) { return r.count(state) >= n; });
  }

  std::vector<Delivery> deliveries() {
    std::lock_guard lock(mutex_);
    return deliveries_;
  }
  std::vector<std::pair<SessionState, std::string>> states() {
    std::lock_guard lock(mutex_);
    return states_;
  }
  int count(SessionState state) const {
    int n = 0;
    for (const auto& s : states_) n += s.first == state;
    return n;
  }
  std::size_t delivered() const { return deliveries_.size(); }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Delivery> deliveries_;
  std::vector<std::pair<SessionState, std::string>> states_;
};

SessionSettings settings_for(std::uint16_t port, const std::string& client_id, Version version,
                             std::vector<Subscription> subscriptions = {}, bool clean_start = true) {
  SessionSettings s;
  s.endpoint.transport = Endpoint::Transport::kTcp;
  s.endpoint.host = "127.0.0.1";
  s.endpoint.port = port;
  s.endpoint.url = "tcp://127.0.0.1:" + std::to_string(port);
  s.connect.version = version;
  s.connect.client_id = client_id;
  s.connect.clean_start = clean_start;
  s.connect.keep_alive = 10;
  if (version == Version::k5 && !clean_start) s.connect.properties.session_expiry_interval = 3600;
  s.subscriptions = std::move(subscriptions);
  s.connect_timeout = 5s;
  s.reconnect_min_backoff = 50ms;
  s.reconnect_max_backoff = 400ms;
  return s;
}

Publish message(std::string topic, std::string payload, std::uint8_t qos) {
  Publish p;
  p.topic = std::move(topic);
  p.payload = std::move(payload);
  p.qos = qos;
  return p;
}

// Publishes through `session` and waits for its outcome (nullopt: none in time).
std::optional<PublishOutcome> publish_and_wait(Session& session, Publish p) {
  auto promise = std::make_shared<std::promise<PublishOutcome>>();
  auto future = promise->get_future();
  session.publish(std::move(p), [promise](PublishOutcome outcome) { promise->set_value(std::move(outcome)); });
  if (future.wait_for(kWait) != std::future_status::ready) return std::nullopt;
  return future.get();
}

// A session, started, and its recorder; closed at the end.
struct Client {
  Client(asio::io_context& io, SessionSettings settings, const std::string& name = "test") {
    session = Session::create(io, std::move(settings), recorder.callbacks(), name);
    session->start();
  }
  ~Client() { session->close(); }
  Recorder recorder;
  std::shared_ptr<Session> session;
};

std::string version_name(Version v) { return v == Version::k5 ? "MQTT 5" : "MQTT 3.1.1"; }

}  // namespace

TEST_CASE("MQTT session receives QoS 0, 1 and 2, acknowledging at settle") {
  Mosquitto broker;
  IoThreads threads;
  for (Version version : {Version::k311, Version::k5}) {
    INFO(version_name(version));
    const auto suffix = std::to_string(static_cast<int>(version));
    Client sub(threads.io, settings_for(broker.port(), "recv-" + suffix, version, {{"t/+/x", 2}}));
    Client pub(threads.io, settings_for(broker.port(), "send-" + suffix, version));
    REQUIRE(sub.recorder.wait_state(SessionState::kConnected));
    REQUIRE(pub.recorder.wait_state(SessionState::kConnected));

    const std::string with_nul("a\0b", 3);
    for (std::uint8_t qos = 0; qos <= 2; ++qos) {
      auto outcome = publish_and_wait(*pub.session, message("t/" + std::to_string(qos) + "/x", with_nul, qos));
      REQUIRE(outcome.has_value());
      CHECK(outcome->has_value());
    }
    REQUIRE(sub.recorder.wait_deliveries(3));
    auto got = sub.recorder.deliveries();
    for (std::uint8_t qos = 0; qos <= 2; ++qos) {
      CHECK(got[qos].publish.topic == "t/" + std::to_string(qos) + "/x");
      CHECK(got[qos].publish.payload == with_nul);
      CHECK(got[qos].publish.qos == qos);
      if (qos > 0) CHECK(got[qos].id > got[qos - 1].id);
    }
    CHECK(sub.session->stats().unsettled == 3);
    CHECK(sub.session->stats().acknowledged == 0);
    for (const auto& d : got) sub.session->settle(d.id);
    REQUIRE(sub.recorder.wait([&](Recorder&) { return sub.session->stats().acknowledged == 2; }));
    CHECK(sub.session->stats().unsettled == 0);
    CHECK(pub.session->stats().published == 3);
    CHECK(sub.session->state() == SessionState::kConnected);
  }
}

TEST_CASE("MQTT session leaves an unsettled delivery for the broker to redeliver") {
  Mosquitto broker;
  IoThreads threads;
  for (Version version : {Version::k311, Version::k5}) {
    INFO(version_name(version));
    const std::string id = "redeliver-" + std::to_string(static_cast<int>(version));
    auto settings = settings_for(broker.port(), id, version, {{"r/#", 1}}, false);
    {
      Client first(threads.io, settings);
      REQUIRE(first.recorder.wait_state(SessionState::kConnected));
      REQUIRE(run_command("mosquitto_pub -p " + std::to_string(broker.port()) + " -q 1 -t r/1 -m kept") == 0);
      REQUIRE(first.recorder.wait_deliveries(1));
      // Closed without settling: no PUBACK goes.
    }
    Client second(threads.io, settings);
    REQUIRE(second.recorder.wait_deliveries(1));
    auto again = second.recorder.deliveries();
    CHECK(again[0].publish.payload == "kept");
    second.session->settle(again[0].id);
    REQUIRE(second.recorder.wait([&](Recorder&) { return second.session->stats().acknowledged == 1; }));
    // close() would reset the connection, and the broker may drop the
    // PUBACK with it; disconnect() is the orderly end.
    std::promise<void> done;
    second.session->disconnect(std::chrono::steady_clock::now() + 10s, [&done] { done.set_value(); });
    REQUIRE(done.get_future().wait_for(kWait) == std::future_status::ready);

    // Settled and acknowledged: a third session gets only what comes next.
    Client third(threads.io, settings);
    REQUIRE(third.recorder.wait_state(SessionState::kConnected));
    REQUIRE(run_command("mosquitto_pub -p " + std::to_string(broker.port()) + " -q 1 -t r/2 -m marker") == 0);
    REQUIRE(third.recorder.wait_deliveries(1));
    CHECK(third.recorder.deliveries()[0].publish.payload == "marker");
    third.session->settle(third.recorder.deliveries()[0].id);
  }
}

TEST_CASE("MQTT session acknowledges in arrival order when settles come out of order") {
  Mosquitto broker;
  IoThreads threads;
  auto settings = settings_for(broker.port(), "order", Version::k311, {{"o", 1}}, false);
  {
    Client client(threads.io, settings);
    REQUIRE(client.recorder.wait_state(SessionState::kConnected));
    for (int i = 1; i <= 3; ++i)
      REQUIRE(run_command("mosquitto_pub -p " + std::to_string(broker.port()) + " -q 1 -t o -m " +
                          std::to_string(i)) == 0);
    REQUIRE(client.recorder.wait_deliveries(3));
    auto got = client.recorder.deliveries();
    // The later two are done, the first is not: nothing may be acknowledged.
    client.session->settle(got[2].id);
    client.session->settle(got[1].id);
    client.session->settle(got[1].id);  // repeated: ignored
    REQUIRE(client.recorder.wait([&](Recorder&) { return client.session->stats().unsettled == 1; }));
    CHECK(client.session->stats().acknowledged == 0);
  }
  // So the broker still holds all three.
  {
    Client client(threads.io, settings);
    REQUIRE(client.recorder.wait_deliveries(3));
    auto got = client.recorder.deliveries();
    CHECK(got[0].publish.payload == "1");
    CHECK(got[2].publish.payload == "3");
    client.session->settle(got[1].id);
    client.session->settle(got[2].id);
    client.session->settle(got[0].id);  // releases all three, in order
    REQUIRE(client.recorder.wait([&](Recorder&) { return client.session->stats().acknowledged == 3; }));
    std::promise<void> done;
    client.session->disconnect(std::chrono::steady_clock::now() + 10s, [&done] { done.set_value(); });
    REQUIRE(done.get_future().wait_for(kWait) == std::future_status::ready);
  }
  Client client(threads.io, settings);
  REQUIRE(client.recorder.wait_state(SessionState::kConnected));
  REQUIRE(run_command("mosquitto_pub -p " + std::to_string(broker.port()) + " -q 1 -t o -m marker") == 0);
  REQUIRE(client.recorder.wait_deliveries(1));
  CHECK(client.recorder.deliveries()[0].publish.payload == "marker");
}

TEST_CASE("MQTT session stops delivering at its window until a delivery is settled") {
  Mosquitto broker;
  IoThreads threads;
  for (Version version : {Version::k311, Version::k5}) {
    INFO(version_name(version));
    const auto suffix = std::to_string(static_cast<int>(version));
    auto settings = settings_for(broker.port(), "window-" + suffix, version, {{"w", 1}});
    settings.window = 2;
    Client client(threads.io, settings);
    Client pub(threads.io, settings_for(broker.port(), "window-pub-" + suffix, version));
    REQUIRE(client.recorder.wait_state(SessionState::kConnected));
    REQUIRE(pub.recorder.wait_state(SessionState::kConnected));
    for (int i = 0; i < 5; ++i) {
      auto outcome = publish_and_wait(*pub.session, message("w", std::to_string(i), 1));
      REQUIRE((outcome && *outcome));
    }
    REQUIRE(client.recorder.wait_deliveries(2));
    if (version == Version::k311) {
      // 3.1.1 has no Receive Maximum: the broker sends all five, the
      // session reads them and holds three back.
      REQUIRE(client.recorder.wait([&](Recorder&) { return client.session->stats().received == 5; }));
    }
    CHECK(client.session->stats().reading_paused);
    CHECK(client.recorder.deliveries().size() == 2);
    client.session->settle(client.recorder.deliveries()[0].id);
    REQUIRE(client.recorder.wait_deliveries(3));
    CHECK(client.recorder.deliveries().size() == 3);
    for (const auto& d : client.recorder.deliveries()) client.session->settle(d.id);
    REQUIRE(client.recorder.wait_deliveries(5));
    auto got = client.recorder.deliveries();
    for (int i = 0; i < 5; ++i) CHECK(got[i].publish.payload == std::to_string(i));
  }
}

TEST_CASE("MQTT session reconnects and resubscribes after a broker restart") {
  Mosquitto broker;
  IoThreads threads;
  // A clean session: the broker forgets the subscription, so only
  // resubscribing brings messages back.
  Client client(threads.io, settings_for(broker.port(), "restart", Version::k311, {{"again", 1}}, true));
  REQUIRE(client.recorder.wait_state(SessionState::kConnected));
  broker.restart();
  REQUIRE(client.recorder.wait_state(SessionState::kDisconnected));
  REQUIRE(client.recorder.wait_state(SessionState::kConnected, 2));
  CHECK(client.session->stats().connection_losses >= 1);
  REQUIRE(run_command("mosquitto_pub -p " + std::to_string(broker.port()) + " -q 1 -t again -m back") == 0);
  REQUIRE(client.recorder.wait_deliveries(1));
  CHECK(client.recorder.deliveries()[0].publish.payload == "back");
}

TEST_CASE("MQTT session resends an unacknowledged publish after a reconnect") {
  auto broker = std::make_unique<Mosquitto>();
  const auto port = broker->port();
  IoThreads threads;
  auto settings = settings_for(port, "resend", Version::k5, {}, false);
  Client pub(threads.io, settings);
  REQUIRE(pub.recorder.wait_state(SessionState::kConnected));
  broker->stop();
  REQUIRE(pub.recorder.wait_state(SessionState::kDisconnected));
  // Published while the broker is away: it waits, it does not fail.
  auto promise = std::make_shared<std::promise<PublishOutcome>>();
  auto future = promise->get_future();
  pub.session->publish(message("later", "while away", 1),
                       [promise](PublishOutcome outcome) { promise->set_value(std::move(outcome)); });
  REQUIRE(pub.recorder.wait([&](Recorder&) { return pub.session->stats().outgoing_pending == 1; }));
  CHECK(future.wait_for(0s) == std::future_status::timeout);
  broker->restart();
  Client sub(threads.io, settings_for(port, "resend-sub", Version::k5, {{"later", 1}}));
  REQUIRE(sub.recorder.wait_state(SessionState::kConnected));
  // The subscriber may be late for the message: the outcome is what counts.
  REQUIRE(future.wait_for(kWait) == std::future_status::ready);
  CHECK(future.get().has_value());
  CHECK(pub.session->stats().outgoing_pending == 0);
}

TEST_CASE("MQTT session reports refused credentials and keeps retrying") {
  Mosquitto::Options options;
  options.allow_anonymous = false;
  edgefn::test::TempDir dir;
  const auto passwords = (dir.path() / "passwords").string();
  REQUIRE(run_command("mosquitto_passwd -c -b " + passwords + " edge right") == 0);
  options.extra_config = "password_file " + passwords + "\n";
  Mosquitto broker(options);
  IoThreads threads;
  for (Version version : {Version::k311, Version::k5}) {
    INFO(version_name(version));
    auto settings = settings_for(broker.port(), "creds", version);
    settings.connect.username = "edge";
    settings.connect.password = "wrong";
    {
      Client client(threads.io, settings);
      REQUIRE(client.recorder.wait_state(SessionState::kDisconnected, 3));
      const auto states = client.recorder.states();
      std::string why;
      for (const auto& [state, text] : states)
        if (state == SessionState::kDisconnected) why = text;
      INFO(why);
      CHECK(why.find("connection refused: ") == 0);
      CHECK(why.find("retrying in") != std::string::npos);
      CHECK(client.session->stats().connects == 0);
    }
    settings.connect.password = "right";
    Client client(threads.io, settings);
    REQUIRE(client.recorder.wait_state(SessionState::kConnected));
  }
}

TEST_CASE("MQTT session connects over TLS with a certificate made by openssl") {
  edgefn::test::TempDir certs;
  const auto key = (certs.path() / "key.pem").string();
  const auto cert = (certs.path() / "cert.pem").string();
  REQUIRE(run_command("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext "
                      "subjectAltName=DNS:localhost -keyout " + key + " -out " + cert +
                      " >/dev/null 2>&1") == 0);
  Mosquitto::Options options;
  options.extra_config = "cafile " + cert + "\ncertfile " + cert + "\nkeyfile " + key + "\n";
  Mosquitto broker(options);
  IoThreads threads;
  auto tls_settings = [&](const std::string& id, std::vector<Subscription> subs = {}) {
    auto s = settings_for(broker.port(), id, Version::k5, std::move(subs));
    s.endpoint.transport = Endpoint::Transport::kTls;
    s.endpoint.host = "localhost";
    s.endpoint.url = "mqtts://localhost:" + std::to_string(broker.port());
    s.tls.ca_cert = cert;
    return s;
  };
  {
    Client sub(threads.io, tls_settings("tls-sub", {{"secure", 1}}));
    Client pub(threads.io, tls_settings("tls-pub"));
    REQUIRE(sub.recorder.wait_state(SessionState::kConnected));
    REQUIRE(pub.recorder.wait_state(SessionState::kConnected));
    auto outcome = publish_and_wait(*pub.session, message("secure", "over tls", 1));
    REQUIRE((outcome && *outcome));
    REQUIRE(sub.recorder.wait_deliveries(1));
    CHECK(sub.recorder.deliveries()[0].publish.payload == "over tls");
  }
  {
    // Not trusted by the system's store: refused, and retried.
    auto settings = tls_settings("tls-untrusted");
    settings.tls.ca_cert.clear();
    Client client(threads.io, settings);
    REQUIRE(client.recorder.wait_state(SessionState::kDisconnected));
    INFO(client.recorder.states().back().second);
    CHECK(client.recorder.states().back().second.find("TLS handshake") != std::string::npos);
  }
  {
    // The certificate names localhost, not 127.0.0.1.
    auto settings = tls_settings("tls-wrong-name");
    settings.endpoint.host = "127.0.0.1";
    Client client(threads.io, settings);
    REQUIRE(client.recorder.wait_state(SessionState::kDisconnected));
    INFO(client.recorder.states().back().second);
    CHECK(client.recorder.states().back().second.find("TLS handshake") != std::string::npos);
    CHECK(client.session->stats().connects == 0);
  }
  {
    auto settings = tls_settings("tls-insecure");
    settings.tls.ca_cert.clear();
    settings.tls.insecure_skip_verify = true;
    Client client(threads.io, settings);
    REQUIRE(client.recorder.wait_state(SessionState::kConnected));
  }
}

TEST_CASE("MQTT session disconnect flushes acknowledgements, then closes") {
  Mosquitto broker;
  IoThreads threads;
  auto settings = settings_for(broker.port(), "drain", Version::k5, {{"d", 1}}, false);
  {
    Client client(threads.io, settings);
    REQUIRE(client.recorder.wait_state(SessionState::kConnected));
    REQUIRE(run_command("mosquitto_pub -p " + std::to_string(broker.port()) + " -q 1 -t d -m once") == 0);
    REQUIRE(client.recorder.wait_deliveries(1));
    client.session->stop_intake();
    client.session->settle(client.recorder.deliveries()[0].id);
    std::promise<void> done;
    client.session->disconnect(std::chrono::steady_clock::now() + 10s, [&done] { done.set_value(); });
    REQUIRE(done.get_future().wait_for(kWait) == std::future_status::ready);
    CHECK(client.session->state() == SessionState::kClosed);
    CHECK(client.session->stats().acknowledged == 1);
  }
  Client client(threads.io, settings);
  REQUIRE(client.recorder.wait_state(SessionState::kConnected));
  REQUIRE(run_command("mosquitto_pub -p " + std::to_string(broker.port()) + " -q 1 -t d -m marker") == 0);
  REQUIRE(client.recorder.wait_deliveries(1));
  CHECK(client.recorder.deliveries()[0].publish.payload == "marker");
}

TEST_CASE("MQTT session keeps the connection alive while deliveries wait at the window") {
  Mosquitto broker;
  IoThreads threads;
  for (Version version : {Version::k311, Version::k5}) {
    INFO(version_name(version));
    const std::string id = "alive-" + std::to_string(static_cast<int>(version));
    auto settings = settings_for(broker.port(), id, version, {{"slow", 1}});
    settings.connect.keep_alive = 1;
    settings.window = 1;
    Client client(threads.io, settings);
    REQUIRE(client.recorder.wait_state(SessionState::kConnected));
    for (int i = 0; i < 2; ++i)
      REQUIRE(run_command("mosquitto_pub -V " + std::string{version == Version::k5 ? "5" : "311"} + " -p " +
                          std::to_string(broker.port()) + " -q 1 -t slow -m " + std::to_string(i)) == 0);
    REQUIRE(client.recorder.wait_deliveries(1));
    // A handler slower than the keepalive: the broker keeps hearing from us
    // (each PINGREQ is in its log) and nothing is lost.
    auto pings = [&] {
      const auto log = broker.log();
      std::size_t n = 0;
      for (auto at = log.find("Received PINGREQ from " + id); at != std::string::npos;
           at = log.find("Received PINGREQ from " + id, at + 1))
        ++n;
      return n;
    };
    REQUIRE(client.recorder.wait([&](Recorder&) { return pings() >= 4; }, 20s));
    CHECK(client.session->stats().connection_losses == 0);
    CHECK(client.session->state() == SessionState::kConnected);
    CHECK(client.recorder.deliveries().size() == 1);
    client.session->settle(client.recorder.deliveries()[0].id);
    REQUIRE(client.recorder.wait_deliveries(2));
    CHECK(client.recorder.deliveries()[1].publish.payload == "1");
  }
}

PublishResponse response_of(const std::optional<Packet>& p) {
  if (!p) return PublishResponse{PacketType::kAuth, 0, 0, {}};
  if (auto* r = std::get_if<PublishResponse>(&*p)) return *r;
  return PublishResponse{PacketType::kAuth, 0, 0, {}};
}

TEST_CASE("MQTT session says when another client took its client ID, and handles QoS 2 resends") {
  ScriptedBroker broker;
  IoThreads threads;
  auto settings = settings_for(broker.port(), "twin", Version::k5, {{"q", 2}});
  Client client(threads.io, settings);
  REQUIRE(broker.accept());
  REQUIRE(broker.handshake());
  REQUIRE(client.recorder.wait_state(SessionState::kConnected));

  Publish p = message("q", "exactly", 2);
  p.packet_id = 7;
  broker.send(p);
  p.dup = true;
  broker.send(p);  // a resend before our PUBREC: not delivered again
  REQUIRE(client.recorder.wait_deliveries(1));
  client.session->settle(client.recorder.deliveries()[0].id);
  auto pubrec = response_of(broker.read_skipping_pings());
  CHECK(pubrec.type == PacketType::kPubrec);
  CHECK(pubrec.packet_id == 7);
  broker.send(p);  // a resend after it: answered with PUBREC, not delivered
  CHECK(response_of(broker.read_skipping_pings()).type == PacketType::kPubrec);
  broker.send(response_packet(PacketType::kPubrel, 7));
  auto pubcomp = response_of(broker.read_skipping_pings());
  CHECK(pubcomp.type == PacketType::kPubcomp);
  CHECK(pubcomp.packet_id == 7);
  CHECK(client.recorder.deliveries().size() == 1);

  Disconnect taken;
  taken.reason_code = reason::kSessionTakenOver;
  broker.send(taken);
  REQUIRE(client.recorder.wait_state(SessionState::kDisconnected));
  const auto why = client.recorder.states().back().second;
  INFO(why);
  CHECK(why.find("another client connected with client ID 'twin' (Session taken over)") != std::string::npos);

  // It comes back by itself; a topic alias (we allow none) ends the
  // connection with DISCONNECT "Protocol Error".
  REQUIRE(broker.accept());
  REQUIRE(broker.handshake());
  Publish aliased = message("q", "x", 0);
  aliased.properties.topic_alias = 1;
  broker.send(aliased);
  auto disconnect = broker.read_skipping_pings();
  REQUIRE(disconnect.has_value());
  REQUIRE(type_of(*disconnect) == PacketType::kDisconnect);
  CHECK(std::get<Disconnect>(*disconnect).reason_code == reason::kProtocolError);
  REQUIRE(client.recorder.wait_state(SessionState::kDisconnected, 2));
  CHECK(client.recorder.deliveries().size() == 1);
}

TEST_CASE("MQTT session speaks MQTT over WebSocket") {
  const auto ws_port = edgefn::test::free_loopback_port();
  Mosquitto::Options options;
  options.extra_config = "listener " + std::to_string(ws_port) + " 127.0.0.1\nprotocol websockets\n";
  Mosquitto broker(options);
  IoThreads threads;
  auto settings = settings_for(ws_port, "over-ws", Version::k311, {{"ws/#", 1}});
  settings.endpoint.transport = Endpoint::Transport::kWebSocket;
  settings.endpoint.url = "ws://127.0.0.1:" + std::to_string(ws_port) + "/mqtt";
  Client client(threads.io, settings);
  REQUIRE(client.recorder.wait_state(SessionState::kConnected));
  // Several WebSocket frames and reads. Not larger: mosquitto 2.0.11 takes
  // its WebSocket input about 40 KB/s (2.5 s for 100 KB, here).
  const std::string big(20 * 1024, 'x');
  auto outcome = publish_and_wait(*client.session, message("ws/big", big, 1));
  REQUIRE((outcome && *outcome));
  REQUIRE(client.recorder.wait_deliveries(1));
  CHECK(client.recorder.deliveries()[0].publish.payload == big);
}
