#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <filesystem>
#include <future>
#include <thread>

#include "config/config_error.hpp"
#include "runtime/native/native_runtime.hpp"

using namespace edgefn;
using namespace std::chrono_literals;

namespace {

const std::filesystem::path kHandler = EDGEFN_TEST_HANDLER_PATH;

asio::io_context& shared_io() {
  static asio::io_context io;
  return io;
}

std::unique_ptr<Runtime> runtime_for(const std::string& symbol, int worker_id = 0, bool blocking = false,
                                     HostServices* host = nullptr, asio::io_context& io = shared_io()) {
  auto handler = load_native_handler(kHandler.filename().string() + ":" + symbol, kHandler.parent_path());
  auto rt = make_native_runtime({handler, blocking, {worker_id, "pool", "fn"}, "api", &io, host});
  bool ready = false;
  rt->start([&ready](bool r) { ready = r; });
  REQUIRE(ready);
  return rt;
}

void stop_now(Runtime& rt) {
  bool stopped = false;
  rt.stop(1s, [&] { stopped = true; });
  CHECK(stopped);
}

// An output that records what it was given.
struct RecordingHost final : HostServices {
  void publish(std::string_view output, OutputMessage message, PublishDone done) noexcept override {
    if (output != "alerts") return done(tl::make_unexpected(std::string("no output named ") + std::string(output)));
    outputs.emplace_back(output);
    messages.push_back(std::move(message));
    done({});
  }
  bool explicit_ack(const QualifiedOffset&) noexcept override { return false; }
  std::vector<std::string> outputs;
  std::vector<OutputMessage> messages;
};

Event sample_event() {
  Event e;
  e.id = new_event_id();
  e.method = "POST";
  e.path = "/things";
  e.headers = {{"Host", "x"}, {"X-Nuclio-Log-Level", "debug"}};
  e.body = std::string("abc\0def", 7);
  return e;
}

}  // namespace

TEST_CASE("native handler sees the event and keeps per-worker state") {
  auto rt = runtime_for("describe", 3);
  REQUIRE(rt->runs_inline());
  auto first = rt->invoke_inline(sample_event());
  auto second = rt->invoke_inline(sample_event());
  REQUIRE(second.has_value());
  CHECK(first.value().body == "worker=3 calls=1 method=POST path=/things headers=2 body=7");
  CHECK(second.value().body == "worker=3 calls=2 method=POST path=/things headers=2 body=7");
  CHECK(second.value().content_type == "text/plain; charset=utf-8");
  stop_now(*rt);
}

TEST_CASE("native handler error keeps a status of 400 or more and the message") {
  auto rt = runtime_for("fail");
  auto r = rt->invoke_inline(sample_event());
  REQUIRE(r.has_value());
  CHECK(r.value().status == 422);
  CHECK(r.value().body == "bad input");
  // X-Nuclio-Log-Level: debug returns the invocation's logs.
  auto logs = find_header(r.value().headers, "X-Nuclio-Logs");
  CHECK(logs.find("\"message\":\"refusing\"") != std::string_view::npos);
  CHECK(logs.find("\"level\":\"warn\"") != std::string_view::npos);
}

TEST_CASE("native handler error without a status becomes 500") {
  auto rt = runtime_for("fail_plain");
  auto r = rt->invoke_inline(sample_event());
  REQUIRE(r.has_value());
  CHECK(r.value().status == 500);
  CHECK(r.value().body == "handler returned 7");
}

TEST_CASE("native handler can write its body in place with alloc_body") {
  auto rt = runtime_for("upper");
  auto r = rt->invoke_inline(sample_event());
  REQUIRE(r.has_value());
  CHECK(r.value().status == 201);
  CHECK(r.value().body == std::string("ABC\0DEF", 7));
}

TEST_CASE("loading a native handler names what is missing") {
  auto dir = kHandler.parent_path();
  auto file = kHandler.filename().string();
  CHECK_THROWS_WITH(load_native_handler("libnothere.so:handle", dir), Catch::Contains("not found"));
  CHECK_THROWS_WITH(load_native_handler(file + ":no_such_symbol", dir),
                    Catch::Contains("no exported symbol 'no_such_symbol'"));
  CHECK_THROWS_WITH(load_native_handler("builtin:nope", dir), Catch::Contains("no such builtin"));
  CHECK_THROWS_WITH(load_native_handler("justaname", dir), Catch::Contains("libname.so:symbol"));
  CHECK_THROWS_AS(load_native_handler("libnothere.so:handle", dir), HandlerError);
}

TEST_CASE("loading a native handler refuses a library without the ABI or with another version") {
  auto dir = std::filesystem::path(EDGEFN_TEST_HANDLER_PATH).parent_path();
  CHECK_THROWS_WITH(load_native_handler("libtest_handler_noabi.so:handle", dir),
                    Catch::Contains("does not export edgefn_abi_version"));
  CHECK_THROWS_WITH(load_native_handler("libtest_handler_badabi.so:handle", dir),
                    Catch::Contains("built for native ABI version 99"));
}

TEST_CASE("a native handler reads the raw query string, still encoded, since ABI 1.2") {
  auto rt = runtime_for("raw_query");
  Event e = sample_event();
  e.url = "http://x/things?a=1&b=two%20words&c";
  CHECK(rt->invoke_inline(e)->body == "[a=1&b=two%20words&c]");
  e.url = "/things?q=%3F#part";
  CHECK(rt->invoke_inline(e)->body == "[q=%3F]");
  e.url = "/things";
  CHECK(rt->invoke_inline(e)->body == "[]");
  e.url = "";
  CHECK(rt->invoke_inline(e)->body == "[]");
  stop_now(*rt);
}
TEST_CASE("a native handler sees a stream event's topic, key, partition, offset and time") {
  auto rt = runtime_for("stream_fields");
  Event e = sample_event();
  e.topic = "orders";
  e.key = std::string("k\0\xff", 3);
  e.shard_id = 5;
  e.offset = 1234567890123;
  e.timestamp = std::chrono::system_clock::time_point(std::chrono::nanoseconds(1'700'000'000'123'456'789));
  CHECK(rt->invoke_inline(e)->body == "topic=orders key=6b00ff shard=5 offset=1234567890123 ts=1700000000123456789");
  // Not a stream event: the ABI's -1s and empty strings.
  e = sample_event();
  e.timestamp = {};
  CHECK(rt->invoke_inline(e)->body == "topic= key= shard=-1 offset=-1 ts=0");
  stop_now(*rt);
}


TEST_CASE("a native handler publishes to a named output through the host services") {
  RecordingHost host;
  auto rt = runtime_for("publish", 0, false, &host);
  Event e = sample_event();
  e.headers.emplace_back("X-Output", "alerts");
  e.body = "temperature high";
  auto r = rt->invoke_inline(e);
  REQUIRE(r.has_value());
  CHECK(r->body == "published");
  REQUIRE(host.messages.size() == 1);
  CHECK(host.messages[0].topic == "t/1");
  CHECK(host.messages[0].body == "temperature high");
  CHECK(host.messages[0].headers == Headers{{"X-Source", "native"}});
  e.headers.back().second = "nowhere";
  auto refused = rt->invoke_inline(e);
  CHECK(refused->body == "refused");
  // Without host services there is nothing to publish to.
  auto lonely = runtime_for("publish");
  CHECK(lonely->invoke_inline(e)->body == "refused");
  stop_now(*rt);
  stop_now(*lonely);
}

TEST_CASE("a blocking handler that never returns: stop gives up after its timeout, and the thread keeps what it uses") {
  asio::io_context io;
  auto rt = runtime_for("block", 0, true, nullptr, io);
  auto* library = dlopen(kHandler.c_str(), RTLD_NOW | RTLD_NOLOAD);
  REQUIRE(library);  // loaded by the runtime, found again here
  auto release = reinterpret_cast<void (*)()>(dlsym(library, "edgefn_test_release"));
  auto returned = reinterpret_cast<int (*)()>(dlsym(library, "edgefn_test_returned"));
  REQUIRE(release);
  REQUIRE(returned);
  const int returned_before = returned();

  std::optional<InvokeResult> result;
  rt->invoke(sample_event(), [&](InvokeResult r) { result = std::move(r); });
  bool stopped = false;
  rt->stop(50ms, [&] { stopped = true; });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!stopped && std::chrono::steady_clock::now() < deadline) io.run_one_for(10ms);
  REQUIRE(stopped);
  // The event is answered at the stop, not when the handler returns.
  REQUIRE(result);
  REQUIRE_FALSE(result->has_value());
  CHECK(result->error().code == RuntimeError::Code::kStopping);
  CHECK(rt->describe() == "handler still running after the stop");

  // The runtime goes; the handler returns afterwards and touches its worker
  // state, the host callbacks and its thread's own state (an ASan build
  // sees any of it freed).
  rt.reset();
  release();
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (returned() == returned_before && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(1ms);
  CHECK(returned() == returned_before + 1);
  dlclose(library);
}

TEST_CASE("a blocking handler's worker stops at once when idle and runs its shutdown hook") {
  asio::io_context io;
  auto rt = runtime_for("describe", 0, true, nullptr, io);
  std::promise<InvokeResult> promise;
  auto future = promise.get_future();
  // Answered from the worker's own thread.
  rt->invoke(sample_event(), [&](InvokeResult r) { promise.set_value(std::move(r)); });
  REQUIRE(future.wait_for(10s) == std::future_status::ready);
  CHECK(future.get().value().body.find("calls=1") != std::string::npos);
  std::atomic<bool> stopped{false};
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  rt->stop(1h, [&] { stopped = true; });
  while (!stopped && std::chrono::steady_clock::now() < deadline) io.run_one_for(10ms);
  CHECK(stopped);
  CHECK(rt->describe() == "stopped");
  // Nothing of the stop is left on the io_context (its timeout timer kept
  // a processor from exiting for workerTerminationTimeout).
  while (!io.stopped() && std::chrono::steady_clock::now() < deadline) io.run_one_for(10ms);
  CHECK(io.stopped());
}
