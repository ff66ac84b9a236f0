// The Python runtime with a real python3 worker, driven directly (no
// trigger): readiness, the event's stream fields, the host services a
// handler reaches (publish, explicit_ack), a deferred acknowledgement, the
// drain callbacks of a rebalance (also through a WorkerPool), the drain and
// the stop.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "runtime/python/python_runtime.hpp"
#include "worker/worker_pool.hpp"

using namespace edgefn;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr const char* kHandlers = R"(
import os
import nuclio_sdk


def publish(context, event):
    try:
        context.platform.publish("alerts", event.body, topic="plant/3", key="k1", headers={"X-Level": 2})
    except nuclio_sdk.PublishError as e:
        return "refused: %s" % e
    try:
        context.platform.publish("nowhere", b"x")
    except nuclio_sdk.PublishError as e:
        return "published, then refused: %s" % e
    return "published twice"


def later(context, event):
    context.platform.explicit_ack(nuclio_sdk.QualifiedOffset("orders", 3, 42))
    response = context.Response(body="deferred")
    response.ensure_no_ack()
    return response


def callbacks(context, event):
    marker = event.body.decode()
    def note(what):
        with open(marker, "a") as f:
            f.write(what + ",")
    context.platform.set_drain_callback(lambda: note("drain"))
    context.platform.set_termination_callback(lambda: note("termination"))
    return "set"


def stream(context, event):
    def text(value):
        return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
    return "|".join(str(x) for x in (event.trigger.kind, text(event.topic), text(event.key), event.shard_id,
                                     event.offset, event.timestamp.isoformat()))
)";

// Registers its drain callbacks in init_context, as Nuclio handlers do: each
// appends "<worker id>:<pid>" to drains.txt in the function directory.
// `counted` answers how many times the callback ran in this process.
constexpr const char* kRebalanceHandlers = R"(
import asyncio
import os

drains = 0


def init_context(context):
    def on_drain():
        global drains
        drains += 1
        with open("drains.txt", "a") as f:
            f.write("%s:%d\n" % (context.worker_id, os.getpid()))
    context.platform.set_drain_callback(on_drain)


def counted(context, event):
    return "%s:%d:%d" % (context.worker_id, os.getpid(), drains)


async def counted_async(context, event):
    await asyncio.sleep(0)
    return counted(context, event)
)";

struct RecordingHost final : HostServices {
  void publish(std::string_view output, OutputMessage message, PublishDone done) noexcept override {
    if (output != "alerts") return done(tl::make_unexpected("no output named '" + std::string(output) + "'"));
    std::lock_guard lock(mutex);
    published.push_back(std::move(message));
    done({});
  }
  bool explicit_ack(const QualifiedOffset& offset) noexcept override {
    std::lock_guard lock(mutex);
    acked.push_back(offset);
    return true;
  }
  std::mutex mutex;
  std::vector<OutputMessage> published;
  std::vector<QualifiedOffset> acked;
};

struct TempDir {
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "edgefn-python-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()));
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

std::shared_ptr<const PythonSettings> settings_for(const fs::path& directory, const std::string& handler) {
  std::ofstream(directory / "handlers.py") << kHandlers;
  std::ofstream(directory / "rebalance.py") << kRebalanceHandlers;
  FunctionConfig config;
  config.name = "pytest";
  config.runtime = "python";
  config.handler = handler;
  config.directory = directory;
  return make_python_settings(config, directory, {});
}

// One worker of `handler` in `directory`, on `io`.
struct Worker {
  Worker(asio::io_context& io, const fs::path& directory, const std::string& handler, HostServices* host) {
    runtime = make_python_runtime(io, settings_for(directory, handler), {0, "pool", "pytest"}, host);
    runtime->start([this](bool r) { ready = r; });
  }
  std::unique_ptr<Runtime> runtime;
  std::atomic<bool> ready{false};
};

template <class Done>
bool run_until(asio::io_context& io, Done done, std::chrono::seconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_one_for(10ms);
  }
  return done();
}

InvokeResult invoke(asio::io_context& io, Runtime& runtime, Event e) {
  if (e.id.empty()) e.id = new_event_id();
  std::optional<InvokeResult> result;
  runtime.invoke(std::move(e), [&](InvokeResult r) { result = std::move(r); });
  REQUIRE(run_until(io, [&] { return result.has_value(); }));
  return std::move(*result);
}

InvokeResult invoke(asio::io_context& io, Runtime& runtime, std::string body) {
  Event e;
  e.body = std::move(body);
  return invoke(io, runtime, std::move(e));
}

// The lines of `path`, none when it does not exist.
std::vector<std::string> lines_of(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void stop(asio::io_context& io, Runtime& runtime) {
  bool stopped = false;
  runtime.stop(5s, [&] { stopped = true; });
  REQUIRE(run_until(io, [&] { return stopped; }));
}

}  // namespace

TEST_CASE("a Python handler publishes to a named output through the host services", "[python]") {
  asio::io_context io;
  TempDir dir;
  RecordingHost host;
  Worker worker(io, dir.path, "handlers:publish", &host);
  REQUIRE(run_until(io, [&] { return worker.ready.load(); }));
  CHECK(worker.runtime->describe() == "ready");
  auto r = invoke(io, *worker.runtime, "temperature 91");
  REQUIRE(r.has_value());
  CHECK(r->body == "published, then refused: no output named 'nowhere'");
  std::lock_guard lock(host.mutex);
  REQUIRE(host.published.size() == 1);
  CHECK(host.published[0].body == "temperature 91");
  CHECK(host.published[0].topic == "plant/3");
  CHECK(host.published[0].key == "k1");
  CHECK(host.published[0].headers == Headers{{"X-Level", "2"}});
  stop(io, *worker.runtime);
}

TEST_CASE("a Python handler defers its acknowledgement and acknowledges explicitly", "[python]") {
  asio::io_context io;
  TempDir dir;
  RecordingHost host;
  Worker worker(io, dir.path, "handlers:later", &host);
  REQUIRE(run_until(io, [&] { return worker.ready.load(); }));
  auto r = invoke(io, *worker.runtime, "");
  REQUIRE(r.has_value());
  CHECK(r->body == "deferred");
  CHECK(r->no_ack);
  std::lock_guard lock(host.mutex);
  REQUIRE(host.acked.size() == 1);
  CHECK(host.acked[0].topic == "orders");
  CHECK(host.acked[0].partition == 3);
  CHECK(host.acked[0].offset == 42);
  stop(io, *worker.runtime);
}

TEST_CASE("the drain callback runs at drain, the termination callback at stop, and the worker is gone", "[python]") {
  asio::io_context io;
  TempDir dir;
  Worker worker(io, dir.path, "handlers:callbacks", nullptr);
  REQUIRE(run_until(io, [&] { return worker.ready.load(); }));
  const auto marker = dir.path / "marker";
  REQUIRE(invoke(io, *worker.runtime, marker.string())->body == "set");
  worker.runtime->drain();
  // Events are still served while draining.
  REQUIRE(invoke(io, *worker.runtime, marker.string())->body == "set");
  stop(io, *worker.runtime);
  CHECK_FALSE(worker.ready.load());
  std::ifstream in(marker);
  std::string seen((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(seen == "drain,termination,");
  CHECK(worker.runtime->describe() == "stopped");
}

TEST_CASE("a Python handler sees a stream event's topic, key, partition, offset and time with Nuclio's names",
          "[python]") {
  asio::io_context io;
  TempDir dir;
  Worker worker(io, dir.path, "handlers:stream", nullptr);
  REQUIRE(run_until(io, [&] { return worker.ready.load(); }));
  static const TriggerInfo kafka{"kafka-cluster", "orders-in"};
  Event e;
  e.trigger = &kafka;
  e.topic = "orders";
  e.key = "customer-42";
  e.shard_id = 5;
  e.num_shards = 8;
  e.offset = 1234567890123;
  e.timestamp = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'987));
  auto r = invoke(io, *worker.runtime, std::move(e));
  REQUIRE(r.has_value());
  CHECK(r->body == "kafka-cluster|orders|customer-42|5|1234567890123|2023-11-14T22:13:20");
  // Not a stream event: Nuclio's shard_id -1 and offset 0, no topic, no key.
  static const TriggerInfo http{"http", "web"};
  Event plain;
  plain.trigger = &http;
  r = invoke(io, *worker.runtime, std::move(plain));
  REQUIRE(r.has_value());
  CHECK(r->body == "http|||-1|0|1970-01-01T00:00:00");
  stop(io, *worker.runtime);
}

TEST_CASE("a rebalance runs the drain callback every time, and the same process serves on", "[python]") {
  // Both of the worker's loops: a plain handler's, and the asyncio loop of
  // an async handler's.
  const std::string handler = GENERATE("rebalance:counted", "rebalance:counted_async");
  CAPTURE(handler);
  asio::io_context io;
  TempDir dir;
  Worker worker(io, dir.path, handler, nullptr);
  REQUIRE(run_until(io, [&] { return worker.ready.load(); }));
  const auto before = invoke(io, *worker.runtime, "");
  REQUIRE(before.has_value());
  const auto who = before->body.substr(0, before->body.rfind(':'));  // "<worker id>:<pid>"
  CHECK(before->body == who + ":0");
  const auto drains = dir.path / "drains.txt";
  for (std::size_t round = 1; round <= 2; ++round) {
    worker.runtime->run_drain_callbacks();
    REQUIRE(run_until(io, [&] { return lines_of(drains).size() >= round; }));
  }
  CHECK(lines_of(drains) == std::vector<std::string>{who, who});
  // Nothing drained: the worker is ready, and its process is the same.
  CHECK(worker.ready.load());
  CHECK(worker.runtime->describe() == "ready");
  const auto after = invoke(io, *worker.runtime, "");
  REQUIRE(after.has_value());
  CHECK(after->body == who + ":2");
  // The processor's own drain still runs the callback once more.
  worker.runtime->drain();
  REQUIRE(run_until(io, [&] { return lines_of(drains).size() >= 3; }));
  CHECK(invoke(io, *worker.runtime, "")->body == who + ":3");
  stop(io, *worker.runtime);
}

TEST_CASE("a pool's run_drain_callbacks reaches every Python worker, which all serve on", "[python]") {
  asio::io_context io;
  TempDir dir;
  const auto settings = settings_for(dir.path, "rebalance:counted");
  std::vector<std::unique_ptr<Runtime>> runtimes;
  for (int id = 0; id < 2; ++id) runtimes.push_back(make_python_runtime(io, settings, {id, "pool", "pytest"}, nullptr));
  WorkerPool pool(io, PoolSettings{"pool", std::nullopt}, std::move(runtimes));
  pool.start();
  REQUIRE(run_until(io, [&] { return pool.ready_workers() == 2; }));

  pool.run_drain_callbacks();
  const auto drains = dir.path / "drains.txt";
  REQUIRE(run_until(io, [&] { return lines_of(drains).size() >= 2; }));
  auto seen = lines_of(drains);
  std::sort(seen.begin(), seen.end());
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].rfind("0:", 0) == 0);
  CHECK(seen[1].rfind("1:", 0) == 0);

  // Still every worker ready, and each answer comes from a process whose
  // callback ran once.
  CHECK(pool.ready_workers() == 2);
  std::vector<std::optional<DispatchResult>> results(4);
  for (auto& slot : results) {
    Event e;
    e.id = new_event_id();
    pool.dispatch(std::move(e), DispatchOptions::within(30s), [&slot](DispatchResult r) { slot = std::move(r); });
  }
  REQUIRE(run_until(io, [&] {
    return std::all_of(results.begin(), results.end(), [](const auto& r) { return r.has_value(); });
  }));
  for (const auto& r : results) {
    REQUIRE(r->has_value());
    CHECK((*r)->status == 200);
    CHECK(std::find(seen.begin(), seen.end(), (*r)->body.substr(0, (*r)->body.rfind(':'))) != seen.end());
    CHECK((*r)->body.substr((*r)->body.rfind(':')) == ":1");
  }

  bool stopped = false;
  pool.stop(5s, [&] { stopped = true; });
  REQUIRE(run_until(io, [&] { return stopped; }));
}
