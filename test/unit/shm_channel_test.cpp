// The daemon's Channel and AsyncChannel against a worker played by a thread
// with ring.h's endpoint calls (the Python worker is tested in
// test/integration/test_shm_channel.py).
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "runtime/python/worker_protocol.hpp"
#include "shm/async_channel.hpp"
#include "shm/channel.hpp"

namespace {

using namespace std::chrono_literals;
using namespace edgefn;
using namespace edgefn::shm;
using namespace edgefn::python;

constexpr std::int64_t kSecond = 1'000'000'000;

struct FakeWorker {
  explicit FakeWorker(const Channel& channel) : mapped(Segment::map(channel.segment_fd())) {
    REQUIRE(edgefn_endpoint_attach(&ep, mapped.data(), mapped.size(), EDGEFN_SHM_WORKER, channel.notify_fd(), 20'000) ==
            EDGEFN_RING_OK);
  }
  int send(MessageType type, std::uint64_t id, const std::string& head, const std::string& body = "") {
    return edgefn_endpoint_send(&ep, type, id, head.data(), head.size(), body.data(),
                                body.size(), 10 * kSecond);
  }
  int hello(std::uint32_t version = EDGEFN_SHM_PROTOCOL_VERSION) {
    return send(kHelloMessage, 0, encode_hello({version, 777}));
  }
  // The next message, or nullopt with `status` set.
  std::optional<Message> receive(int& status) {
    status = edgefn_endpoint_recv_begin(&ep, 10 * kSecond);
    if (status != EDGEFN_RING_OK) return std::nullopt;
    Message m;
    m.type = ep.in.type;
    m.request_id = ep.in.request_id;
    m.head.resize(ep.in.head_size);
    m.body.resize(ep.in.body_size);
    status = edgefn_endpoint_recv_finish(&ep, m.head.data(), m.body.data(), 10 * kSecond);
    if (status != EDGEFN_RING_OK) return std::nullopt;
    return m;
  }
  Segment mapped;
  edgefn_endpoint ep{};
};

// Plays a worker: handshake, then answers each event with a log and a
// response whose body is the event's body reversed. Runs on its own thread,
// so it reports instead of asserting (Catch2's macros are single-threaded).
std::string echo_worker(FakeWorker& worker, int events) {
  if (int rc = worker.hello(); rc != EDGEFN_RING_OK) return std::string("hello: ") + edgefn_ring_status_name(rc);
  int status = 0;
  auto reply = worker.receive(status);
  if (!reply || reply->type != kHelloMessage) return "no HELLO reply";
  for (int i = 0; i < events; ++i) {
    auto m = worker.receive(status);
    if (!m || m->type != kEventMessage) return "event " + std::to_string(i) + " missing";
    auto event = decode_event(m->head, std::move(m->body));
    if (!event) return event.error();
    Response r;
    r.status = 201;
    r.content_type = event->event.content_type;
    r.headers = {{"X-Path", event->event.path}};
    r.body.assign(event->event.body.rbegin(), event->event.body.rend());
    if (worker.send(kLogMessage, m->request_id,
                    encode_log_head({LogLevel::kInfo, "handled " + event->event.id, "{}"})) != EDGEFN_RING_OK ||
        worker.send(kResponseMessage, m->request_id, encode_response_head(r), r.body) != EDGEFN_RING_OK) {
      return "cannot answer event " + std::to_string(i);
    }
  }
  return "";
}

Event make_event(std::size_t body_size) {
  static const TriggerInfo trigger{"http", "api"};
  Event e;
  e.id = new_event_id();
  e.trigger = &trigger;
  e.method = "POST";
  e.path = "/upload";
  e.content_type = "application/octet-stream";
  e.body.resize(body_size);
  for (std::size_t i = 0; i < body_size; ++i) e.body[i] = static_cast<char>(i % 251);
  return e;
}

}  // namespace

TEST_CASE("the worker's HELLO is answered and the channel is then connected", "[shm][channel]") {
  Channel channel;
  FakeWorker worker(channel);
  std::string worker_error;
  std::thread t([&] { worker_error = echo_worker(worker, 0); });
  CHECK(channel.accept(5s) == ChannelStatus::kOk);
  t.join();
  CHECK(worker_error == "");
  CHECK(channel.connected());
  CHECK(channel.worker_pid() == 777);
}

TEST_CASE("a worker speaking another protocol version is refused and the channel closed", "[shm][channel]") {
  Channel channel;
  FakeWorker worker(channel);
  REQUIRE(worker.hello(EDGEFN_SHM_PROTOCOL_VERSION + 1) == EDGEFN_RING_OK);
  CHECK(channel.accept(5s) == ChannelStatus::kProtocolError);
  CHECK_THAT(channel.last_error(), Catch::Contains("version " + std::to_string(EDGEFN_SHM_PROTOCOL_VERSION + 1)));
  int status = 0;
  CHECK_FALSE(worker.receive(status));
  CHECK(status == EDGEFN_RING_CLOSED);
}

TEST_CASE("an event with a 3 MiB body goes out in chunks and its response comes back", "[shm][channel]") {
  ChannelSettings settings;
  settings.ring_capacity = 256 * 1024;
  Channel channel(settings);
  FakeWorker worker(channel);
  std::string worker_error;
  std::thread t([&] { worker_error = echo_worker(worker, 2); });
  REQUIRE(channel.accept(5s) == ChannelStatus::kOk);
  for (std::uint64_t id : {1u, 2u}) {
    Event e = make_event(3u << 20);
    REQUIRE(channel.send(kEventMessage, id, encode_event_head(e), e.body, 10s) == ChannelStatus::kOk);
    Message m;
    REQUIRE(channel.receive(m, 10s) == ChannelStatus::kOk);
    REQUIRE(m.type == kLogMessage);
    CHECK(m.request_id == id);
    auto log = decode_log(m.head);
    REQUIRE(log.has_value());
    CHECK(log->message == "handled " + e.id);
    REQUIRE(channel.receive(m, 10s) == ChannelStatus::kOk);
    REQUIRE(m.type == kResponseMessage);
    CHECK(m.request_id == id);
    auto response = decode_response(m.head, std::move(m.body));
    REQUIRE(response.has_value());
    CHECK(response->status == 201);
    CHECK(response->headers == Headers{{"X-Path", "/upload"}});
    CHECK(response->body == std::string(e.body.rbegin(), e.body.rend()));
  }
  t.join();
  CHECK(worker_error == "");
}

TEST_CASE("messages over the limit are refused by the sender and skipped by the receiver", "[shm][channel]") {
  ChannelSettings settings;
  settings.ring_capacity = 64 * 1024;
  settings.max_message_size = 100 * 1024;
  Channel channel(settings);
  FakeWorker worker(channel);
  std::string big(200 * 1024, 'x');
  CHECK(channel.start_send(kEventMessage, 1, "", big) == ChannelStatus::kTooLarge);
  CHECK(worker.send(kResponseMessage, 5, "", big) == EDGEFN_RING_TOO_BIG);

  // A worker that ignores the limit: write below the endpoint's check.
  std::thread t([&] {
    edgefn_ring_msg_out out;
    edgefn_ring_msg_out_init(&out, 3, 5, nullptr, 0, big.data(), big.size());
    while (edgefn_ring_msg_write(&worker.ep.tx, &out) == EDGEFN_RING_FULL) {
      edgefn_ring_wait_writable(&worker.ep.tx, edgefn_ring_msg_next_payload(&worker.ep.tx, &out), 0, kSecond);
    }
    worker.send(kResponseMessage, 6, "", "small");
  });
  Message m;
  CHECK(channel.receive(m, 10s) == ChannelStatus::kTooLarge);
  CHECK(m.request_id == 5);
  CHECK_THAT(channel.last_error(), Catch::Contains("204800 bytes"));
  CHECK(channel.receive(m, 10s) == ChannelStatus::kOk);
  CHECK(m.request_id == 6);
  CHECK(m.body == "small");
  t.join();
}

TEST_CASE("closing the channel from another thread wakes a blocked receive", "[shm][channel]") {
  Channel channel;
  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    channel.close();
  });
  auto start = std::chrono::steady_clock::now();
  Message m;
  CHECK(channel.receive(m, 10s) == ChannelStatus::kClosed);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  closer.join();
}

TEST_CASE("a worker that closes is seen as gone", "[shm][channel]") {
  Channel channel;
  FakeWorker worker(channel);
  edgefn_endpoint_close(&worker.ep);
  Message m;
  CHECK(channel.receive(m, 5s) == ChannelStatus::kClosed);
  CHECK(channel.start_send(kEventMessage, 1, "", "") == ChannelStatus::kClosed);
}

TEST_CASE("an interrupt wakes a sleeping async receive with kWouldBlock, a message still comes after", "[shm][channel][async]") {
  Channel channel;
  FakeWorker worker(channel);
  asio::io_context io;
  AsyncChannel async(io.get_executor(), channel);
  std::vector<ChannelStatus> results;
  std::thread sender;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        Message m;
        results.push_back(co_await async.receive(m, false));
        // Only now does the worker speak: the first wake was the interrupt.
        sender = std::thread([&] { worker.hello(); });
        results.push_back(co_await async.receive(m, false));
      },
      asio::detached);
  asio::steady_timer timer(io, 20ms);
  timer.async_wait([&](error_code) { async.interrupt(); });
  io.run_for(10s);
  if (sender.joinable()) sender.join();
  REQUIRE(results.size() == 2);
  CHECK(results[0] == ChannelStatus::kWouldBlock);
  CHECK(results[1] == ChannelStatus::kOk);
}

TEST_CASE("AsyncChannel handshakes, sends and receives on an io_context without blocking it", "[shm][channel][async]") {
  ChannelSettings settings;
  settings.ring_capacity = 64 * 1024;
  Channel channel(settings);
  FakeWorker worker(channel);
  std::string worker_error;
  std::thread t([&] { worker_error = echo_worker(worker, 3); });
  asio::io_context io;
  AsyncChannel async(io.get_executor(), channel, 5us);
  int responses = 0;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        // Each co_await sits in its own statement: GCC 12 miscompiles
        // co_await inside the temporaries of Catch's assertion macros.
        Message m;
        auto status = co_await async.receive(m);
        REQUIRE(status == ChannelStatus::kOk);
        REQUIRE(m.type == kHelloMessage);
        for (std::uint64_t id = 1; id <= 3; ++id) {
          Event e = make_event(id == 2 ? 300 * 1024 : 10);  // the second one is chunked
          status = co_await async.send(kEventMessage, id, encode_event_head(e), e.body);
          REQUIRE(status == ChannelStatus::kOk);
          do {
            status = co_await async.receive(m);
            REQUIRE(status == ChannelStatus::kOk);
          } while (m.type == kLogMessage);
          REQUIRE(m.type == kResponseMessage);
          CHECK(m.request_id == id);
          CHECK(m.body == std::string(e.body.rbegin(), e.body.rend()));
          ++responses;
        }
      },
      asio::detached);
  io.run_for(20s);
  t.join();
  CHECK(worker_error == "");
  CHECK(responses == 3);
}

TEST_CASE("closing a Channel completes a pending async receive with kClosed", "[shm][channel][async]") {
  Channel channel;
  asio::io_context io;
  AsyncChannel async(io.get_executor(), channel);
  std::optional<ChannelStatus> result;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        Message m;
        result = co_await async.receive(m);
      },
      asio::detached);
  asio::steady_timer timer(io, 50ms);
  timer.async_wait([&](error_code) { channel.close(); });
  io.run_for(10s);
  REQUIRE(result);
  CHECK(*result == ChannelStatus::kClosed);
}
