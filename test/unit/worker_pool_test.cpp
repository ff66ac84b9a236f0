// The dispatch contract (worker/dispatch.hpp) as WorkerPool keeps it: with
// builtin native handlers where real handlers show it, and with scripted
// workers (test/support/scripted_runtime.hpp) where the test must decide
// when a worker answers, becomes ready or stops.
#include <catch2/catch.hpp>

#include <thread>

#include "../support/scripted_runtime.hpp"
#include "runtime/native/native_runtime.hpp"
#include "worker/worker_pool.hpp"

using namespace edgefn;
using namespace std::chrono_literals;
using edgefn::test::ScriptedRuntime;

namespace {

std::vector<std::unique_ptr<Runtime>> builtin_runtimes(asio::io_context& io, const char* name, int count) {
  std::vector<std::unique_ptr<Runtime>> out;
  const auto* handler = find_builtin(name);
  REQUIRE(handler);
  for (int i = 0; i < count; ++i)
    out.push_back(
        make_native_runtime({*handler, handler->blocking_by_default, {i, "test", "fn"}, "test", &io, nullptr}));
  return out;
}

Event event_with_body(std::string body) {
  Event e;
  e.id = new_event_id();
  e.body = std::move(body);
  return e;
}

struct Outcome {
  std::optional<DispatchResult> result;
  std::chrono::steady_clock::time_point at;
};

void spawn_dispatch(asio::io_context& io, WorkerPool& pool, std::string body, std::chrono::milliseconds wait,
                    Outcome& out) {
  asio::co_spawn(
      io,
      [&pool, &out, body = std::move(body), wait]() -> awaitable<void> {
        auto r = co_await pool.dispatch(event_with_body(body), DispatchOptions::within(wait));
        out.at = std::chrono::steady_clock::now();
        out.result.emplace(std::move(r));
      },
      asio::detached);
}

void stop_and_run(asio::io_context& io, WorkerPool& pool) {
  bool stopped = false;
  pool.stop(5s, [&] { stopped = true; });
  io.restart();
  io.run();
  CHECK(stopped);
}

// Runs handlers until `done()` or `limit` passes.
template <class Done>
bool run_until(asio::io_context& io, Done done, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_one_for(10ms);
  }
  return done();
}

// A pool of scripted workers, and what its dispatches answered.
struct Scripted {
  explicit Scripted(int workers, bool ready = true, std::optional<std::chrono::nanoseconds> timeout = {},
                    std::size_t queue_capacity = 0) {
    std::vector<std::unique_ptr<Runtime>> runtimes;
    for (int i = 0; i < workers; ++i) {
      auto rt = std::make_unique<ScriptedRuntime>(ready, queue_capacity);
      rts.push_back(rt.get());
      runtimes.push_back(std::move(rt));
    }
    pool.emplace(io, PoolSettings{"p", timeout}, std::move(runtimes));
    pool->start();
  }
  ~Scripted() {
    pool->stop(0ms, [] {});
    for (auto* rt : rts) rt->finish_stop();
    io.restart();
    io.poll();
  }

  // Dispatches; the answer lands in results[index].
  std::size_t dispatch(std::string body, DispatchOptions options = {}) {
    const auto index = results.size();
    results.emplace_back();
    pool->dispatch(event_with_body(std::move(body)), std::move(options),
                   [this, index](DispatchResult r) { results[index] = std::move(r); });
    return index;
  }
  bool answered(std::size_t index) const { return results[index].has_value(); }
  const DispatchResult& result(std::size_t index) const { return *results[index]; }
  void settle() {
    io.restart();
    io.poll();
  }

  asio::io_context io;
  std::vector<ScriptedRuntime*> rts;
  std::optional<WorkerPool> pool;
  std::deque<std::optional<DispatchResult>> results;
};

Response ok(std::string body) {
  Response r;
  r.body = std::move(body);
  return r;
}

}  // namespace

TEST_CASE("pool runs an inline handler at once") {
  asio::io_context io;
  WorkerPool pool(io, {"p", {}}, builtin_runtimes(io, "hello", 1));
  pool.start();
  Outcome out;
  spawn_dispatch(io, pool, "", 0ms, out);
  io.run();
  REQUIRE(out.result);
  REQUIRE(out.result->has_value());
  CHECK(out.result->value().status == 200);
  CHECK(out.result->value().body == "hello, edge\n");
  CHECK(pool.status().workers[0].events == 1);
  stop_and_run(io, pool);
}

TEST_CASE("pool makes an event wait for the busy worker, then runs it") {
  asio::io_context io;
  WorkerPool pool(io, {"p", {}}, builtin_runtimes(io, "sleep", 1));
  pool.start();
  Outcome first, second;
  spawn_dispatch(io, pool, "100", 0ms, first);
  spawn_dispatch(io, pool, "0", 10'000ms, second);
  REQUIRE(run_until(io, [&] { return first.result && second.result; }));
  REQUIRE(first.result->has_value());
  REQUIRE(second.result->has_value());
  CHECK(first.result->value().body == "100 ms\n");
  CHECK(second.result->value().body == "0 ms\n");
  CHECK(first.at <= second.at);
  stop_and_run(io, pool);
}

TEST_CASE("pool answers overloaded when no worker frees up in time, at once for a zero wait") {
  asio::io_context io;
  WorkerPool pool(io, {"p", {}}, builtin_runtimes(io, "sleep", 1));
  pool.start();
  Outcome busy, waited, immediate;
  spawn_dispatch(io, pool, "400", 0ms, busy);
  spawn_dispatch(io, pool, "0", 50ms, waited);
  spawn_dispatch(io, pool, "0", 0ms, immediate);
  REQUIRE(run_until(io, [&] { return busy.result && waited.result && immediate.result; }));
  REQUIRE(busy.result->has_value());
  REQUIRE_FALSE(waited.result->has_value());
  CHECK(waited.result->error().code == DispatchError::Code::kOverloaded);
  REQUIRE_FALSE(immediate.result->has_value());
  CHECK(immediate.result->error().code == DispatchError::Code::kOverloaded);
  // The timed-out waiter answered before the busy handler finished.
  CHECK(waited.at < busy.at);
  stop_and_run(io, pool);
}

TEST_CASE("pool shares its workers between dispatchers and hands each freed worker to the next waiter") {
  asio::io_context io;
  WorkerPool pool(io, {"shared", {}}, builtin_runtimes(io, "sleep", 2));
  pool.start();
  std::vector<Outcome> outs(6);
  for (auto& out : outs) spawn_dispatch(io, pool, "20", 10'000ms, out);
  REQUIRE(run_until(io, [&] { return std::all_of(outs.begin(), outs.end(), [](auto& o) { return o.result; }); }));
  for (auto& out : outs) CHECK(out.result->has_value());
  auto status = pool.status();
  CHECK(status.workers[0].events + status.workers[1].events == 6);
  CHECK(status.workers[0].events > 0);
  CHECK(status.workers[1].events > 0);
  stop_and_run(io, pool);
}

TEST_CASE("event timeout answers timed_out (408) and keeps the native worker until its handler returns") {
  asio::io_context io;
  WorkerPool pool(io, {"p", std::chrono::nanoseconds(50ms)}, builtin_runtimes(io, "sleep", 1));
  pool.start();
  Outcome slow;
  spawn_dispatch(io, pool, "300", 0ms, slow);
  REQUIRE(run_until(io, [&] { return slow.result.has_value(); }));
  REQUIRE_FALSE(slow.result->has_value());
  CHECK(slow.result->error().code == DispatchError::Code::kTimedOut);
  CHECK(http_status(slow.result->error().code) == 408);
  CHECK(pool.status().workers[0].state == "abandoned");
  // While the timed-out handler still runs, the only worker is not free.
  Outcome after;
  spawn_dispatch(io, pool, "0", 0ms, after);
  REQUIRE(run_until(io, [&] { return after.result.has_value(); }));
  REQUIRE_FALSE(after.result->has_value());
  CHECK(after.result->error().code == DispatchError::Code::kOverloaded);
  CHECK(pool.status().workers[0].timeouts == 1);
  stop_and_run(io, pool);
}

TEST_CASE("a timed-out event abandons its worker, and the worker's late answer is dropped") {
  Scripted s(1, true, std::chrono::nanoseconds(20ms));
  auto first = s.dispatch("slow");
  REQUIRE(run_until(s.io, [&] { return s.answered(first); }));
  CHECK(s.result(first).error().code == DispatchError::Code::kTimedOut);
  CHECK(s.rts[0]->abandoned() == 1);
  REQUIRE(s.rts[0]->answer(ok("too late")));
  s.settle();
  CHECK_FALSE(s.result(first).has_value());
  // The worker is free again for the next event.
  auto next = s.dispatch("next", DispatchOptions::within(1s));
  s.settle();
  REQUIRE(s.rts[0]->answer(ok("fine")));
  REQUIRE(run_until(s.io, [&] { return s.answered(next); }));
  CHECK(s.result(next)->body == "fine");
}

TEST_CASE("stopping a pool fails its waiters with stopping and stops every worker at once") {
  Scripted s(4);
  std::vector<std::size_t> running;
  for (int i = 0; i < 4; ++i) running.push_back(s.dispatch("run"));
  auto waiting = s.dispatch("wait", DispatchOptions::within(10s));
  s.settle();
  bool stopped = false;
  s.pool->stop(1s, [&] { stopped = true; });
  s.settle();
  REQUIRE(s.answered(waiting));
  CHECK(s.result(waiting).error().code == DispatchError::Code::kStopping);
  // Every worker was told to stop before any of them finished stopping.
  for (auto* rt : s.rts) CHECK(rt->stop_called());
  for (int i = 0; i < 3; ++i) {
    REQUIRE(s.rts[i]->finish_stop());
    s.settle();
    CHECK_FALSE(stopped);
  }
  REQUIRE(s.rts[3]->finish_stop());
  s.settle();
  CHECK(stopped);
  // Later dispatches are refused.
  auto late = s.dispatch("late", DispatchOptions::within(1s));
  s.settle();
  CHECK(s.result(late).error().code == DispatchError::Code::kStopping);
}

TEST_CASE("events go only to ready workers, one waits for a worker to become ready") {
  Scripted s(1, /*ready=*/false);
  CHECK(s.pool->ready_workers() == 0);
  bool became_ready = false;
  s.pool->when_ready([&] { became_ready = true; });
  auto refused = s.dispatch("now", DispatchOptions::within(0ms));
  auto waits = s.dispatch("later", DispatchOptions::within(10s));
  s.settle();
  CHECK(s.result(refused).error().code == DispatchError::Code::kOverloaded);
  CHECK_FALSE(s.answered(waits));
  CHECK(s.rts[0]->invoked() == 0);
  CHECK(s.pool->status().workers[0].state == "starting");
  s.rts[0]->set_ready(true);
  s.settle();
  CHECK(became_ready);
  REQUIRE(s.rts[0]->pending_body() == "later");
  REQUIRE(s.rts[0]->answer(ok("done")));
  s.settle();
  CHECK(s.result(waits)->body == "done");
}

TEST_CASE("an event a worker could not take goes back to the front of the queue") {
  Scripted s(2);
  auto first = s.dispatch("first", DispatchOptions::within(10s));
  s.settle();
  // Worker 0 (handed out first) lost its process before taking the event.
  REQUIRE(s.rts[0]->pending() + s.rts[1]->pending() == 1);
  auto* taker = s.rts[0]->pending() ? s.rts[0] : s.rts[1];
  auto* other = taker == s.rts[0] ? s.rts[1] : s.rts[0];
  REQUIRE(taker->give_back());
  s.settle();
  CHECK_FALSE(s.answered(first));
  REQUIRE(other->pending_body() == "first");
  REQUIRE(other->answer(ok("served")));
  s.settle();
  CHECK(s.result(first)->body == "served");
}

TEST_CASE("events with the same ordering key run one at a time, in order, other keys run beside them") {
  Scripted s(3);
  DispatchOptions a;
  a.ordering_key = "partition-0";
  DispatchOptions b;
  b.ordering_key = "partition-1";
  auto a1 = s.dispatch("a1", a);
  auto a2 = s.dispatch("a2", a);
  auto a3 = s.dispatch("a3", a);
  auto b1 = s.dispatch("b1", b);
  s.settle();
  // Two workers busy (a1 and b1), one idle although a2 waits: its key runs.
  int busy = 0;
  for (auto* rt : s.rts) busy += static_cast<int>(rt->pending());
  CHECK(busy == 2);
  CHECK(s.pool->status().waiting == 2);
  auto answer_body = [&](const std::string& body) {
    for (auto* rt : s.rts)
      if (rt->pending_body() == body) return rt->answer(ok(body));
    return false;
  };
  REQUIRE(answer_body("b1"));
  REQUIRE(answer_body("a1"));
  s.settle();
  // a2 runs now, a3 still waits behind it.
  REQUIRE_FALSE(answer_body("a3"));
  REQUIRE(answer_body("a2"));
  s.settle();
  REQUIRE(answer_body("a3"));
  s.settle();
  for (auto i : {a1, a2, a3, b1}) REQUIRE(s.answered(i));
  CHECK(s.result(a3)->body == "a3");
  CHECK(s.pool->status().waiting == 0);
}

TEST_CASE("a key whose event times out waiting lets the next event of that key run") {
  Scripted s(1);
  DispatchOptions key;
  key.ordering_key = "k";
  auto running = s.dispatch("run", key);
  auto impatient = key;
  impatient.start_deadline = DispatchOptions::Clock::now() + 20ms;
  auto gives_up = s.dispatch("gives up", impatient);
  auto patient = s.dispatch("patient", key);
  REQUIRE(run_until(s.io, [&] { return s.answered(gives_up); }));
  CHECK(s.result(gives_up).error().code == DispatchError::Code::kOverloaded);
  REQUIRE(s.rts[0]->answer(ok("run")));
  s.settle();
  REQUIRE(s.rts[0]->pending_body() == "patient");
  REQUIRE(s.rts[0]->answer(ok("patient")));
  s.settle();
  CHECK(s.result(running)->body == "run");
  CHECK(s.result(patient)->body == "patient");
}

TEST_CASE("cancelling a scope fails its events that have not started, running ones finish") {
  Scripted s(1);
  auto scope = std::make_shared<CancelScope>();
  DispatchOptions keyed;
  keyed.ordering_key = "partition-3";
  keyed.cancel = scope;
  auto running = s.dispatch("running", keyed);
  auto behind_key = s.dispatch("behind key", keyed);
  DispatchOptions queued;
  queued.cancel = scope;
  auto behind_worker = s.dispatch("behind worker", queued);
  auto unrelated = s.dispatch("unrelated", DispatchOptions::within(10s));
  s.settle();
  scope->cancel();
  s.settle();
  CHECK(s.result(behind_key).error().code == DispatchError::Code::kCancelled);
  CHECK(s.result(behind_worker).error().code == DispatchError::Code::kCancelled);
  CHECK_FALSE(s.answered(running));
  CHECK_FALSE(s.answered(unrelated));
  REQUIRE(s.rts[0]->answer(ok("finished")));
  s.settle();
  CHECK(s.result(running)->body == "finished");
  REQUIRE(s.rts[0]->pending_body() == "unrelated");
  REQUIRE(s.rts[0]->answer(ok("u")));
  s.settle();
  // A dispatch with a cancelled scope fails at once.
  auto late = s.dispatch("late", queued);
  s.settle();
  CHECK(s.result(late).error().code == DispatchError::Code::kCancelled);
}

TEST_CASE("a stream event waits as long as it takes when it has no start deadline") {
  Scripted s(1);
  auto busy = s.dispatch("busy");
  auto waits = s.dispatch("waits");
  REQUIRE_FALSE(run_until(s.io, [&] { return s.answered(waits); }, 100ms));
  REQUIRE(s.rts[0]->answer(ok("busy")));
  s.settle();
  REQUIRE(s.rts[0]->answer(ok("waits")));
  s.settle();
  CHECK(s.result(busy)->body == "busy");
  CHECK(s.result(waits)->body == "waits");
}

TEST_CASE("a response leaves the pool only with a final HTTP status, anything else is a 500") {
  Scripted s(1);
  for (int status : {0, 42, 100, 101, 199, 600, 1000, -1}) {
    auto i = s.dispatch("x");
    s.settle();
    Response r;
    r.status = status;
    REQUIRE(s.rts[0]->answer(r));
    s.settle();
    INFO("status " << status);
    REQUIRE(s.result(i).has_value());
    CHECK(s.result(i)->status == 500);
  }
  for (int status : {200, 204, 302, 404, 599}) {
    auto i = s.dispatch("x");
    s.settle();
    Response r;
    r.status = status;
    REQUIRE(s.rts[0]->answer(r));
    s.settle();
    CHECK(s.result(i)->status == status);
  }
}

TEST_CASE("a crashed worker's event fails with crashed, a stopping one with stopping") {
  Scripted s(1);
  auto crashed = s.dispatch("x");
  s.settle();
  REQUIRE(s.rts[0]->fail({RuntimeError::Code::kCrashed, "boom", std::nullopt}));
  s.settle();
  CHECK(s.result(crashed).error().code == DispatchError::Code::kCrashed);
  CHECK(http_status(DispatchError::Code::kCrashed) == 500);
  auto stopping = s.dispatch("y");
  s.settle();
  REQUIRE(s.rts[0]->fail({RuntimeError::Code::kStopping, "bye", std::nullopt}));
  s.settle();
  CHECK(s.result(stopping).error().code == DispatchError::Code::kStopping);
}

TEST_CASE("draining a pool tells every worker and keeps serving queued events") {
  Scripted s(2);
  auto a = s.dispatch("a");
  s.settle();
  s.pool->drain();
  for (auto* rt : s.rts) CHECK(rt->drained());
  auto b = s.dispatch("b", DispatchOptions::within(10s));
  s.settle();
  for (auto* rt : s.rts) rt->answer(ok("served"));
  s.settle();
  CHECK(s.result(a)->body == "served");
  CHECK(s.result(b)->body == "served");
}

TEST_CASE("a rebalance runs every worker's drain callbacks and drains nothing") {
  Scripted s(2);
  auto a = s.dispatch("a");
  s.settle();
  s.pool->run_drain_callbacks();
  s.pool->run_drain_callbacks();
  for (auto* rt : s.rts) {
    CHECK(rt->drain_callbacks() == 2);
    CHECK_FALSE(rt->drained());
  }
  // The pool goes on: the running event and new ones are served.
  auto b = s.dispatch("b", DispatchOptions::within(10s));
  s.settle();
  for (auto* rt : s.rts) rt->answer(ok("served"));
  s.settle();
  CHECK(s.result(a)->body == "served");
  CHECK(s.result(b)->body == "served");
  CHECK(s.pool->ready_workers() == 2);
}

TEST_CASE("pool observes each event's allocation wait once, a requeued one included") {
  asio::io_context io;
  Histogram wait;
  std::vector<std::unique_ptr<Runtime>> runtimes;
  std::vector<ScriptedRuntime*> rts;
  for (int i = 0; i < 2; ++i) {
    auto rt = std::make_unique<ScriptedRuntime>(true);
    rts.push_back(rt.get());
    runtimes.push_back(std::move(rt));
  }
  WorkerPool pool(io, PoolSettings{"p", std::nullopt, &wait}, std::move(runtimes));
  pool.start();
  std::optional<DispatchResult> result;
  pool.dispatch(event_with_body("x"), DispatchOptions::within(10s), [&](DispatchResult r) { result = std::move(r); });
  io.restart();
  io.poll();
  CHECK(wait.count() == 1);
  auto* taker = rts[0]->pending() ? rts[0] : rts[1];
  auto* other = taker == rts[0] ? rts[1] : rts[0];
  REQUIRE(taker->give_back());
  io.restart();
  io.poll();
  REQUIRE(other->answer(ok("served")));
  io.restart();
  io.poll();
  REQUIRE(result);
  CHECK(wait.count() == 1);
  pool.stop(0ms, [] {});
  for (auto* rt : rts) rt->finish_stop();
  io.restart();
  io.poll();
}

TEST_CASE("pool status tells a worker's restarts, uptime and last crash") {
  Scripted s(1);
  auto fresh = s.pool->status().workers[0];
  CHECK(fresh.restarts == 0);
  CHECK(fresh.uptime.has_value());
  CHECK(fresh.last_error.empty());
  CHECK_FALSE(fresh.pid.has_value());
  auto crashed = s.dispatch("x");
  s.settle();
  REQUIRE(s.rts[0]->fail({RuntimeError::Code::kCrashed, "process ended with signal 9", std::nullopt}));
  s.rts[0]->set_ready(false);
  s.settle();
  CHECK(s.result(crashed).error().code == DispatchError::Code::kCrashed);
  CHECK_FALSE(s.pool->status().workers[0].uptime.has_value());
  s.rts[0]->set_ready(true);
  s.settle();
  auto after = s.pool->status().workers[0];
  CHECK(after.restarts == 1);
  CHECK(after.uptime.has_value());
  CHECK(after.last_error == "process ended with signal 9");
}

// ---- Queueing in a worker (Runtime::queue_capacity) --------------------------

TEST_CASE("a queueing worker is given the next event behind its running one only when every worker is busy") {
  Scripted s(2, true, {}, 1);
  auto a = s.dispatch("a", DispatchOptions::within(10s));
  auto b = s.dispatch("b", DispatchOptions::within(10s));
  s.settle();
  // An idle worker always comes first: one event each.
  CHECK(s.rts[0]->pending() == 1);
  CHECK(s.rts[1]->pending() == 1);
  auto c = s.dispatch("c", DispatchOptions::within(10s));
  auto d = s.dispatch("d", DispatchOptions::within(10s));
  auto e = s.dispatch("e", DispatchOptions::within(10s));
  s.settle();
  // Both busy: one event queued in each, the third waits in the pool.
  CHECK(s.rts[0]->pending() == 2);
  CHECK(s.rts[1]->pending() == 2);
  auto status = s.pool->status();
  CHECK(status.waiting == 3);
  CHECK(status.workers[0].queued == 1);
  CHECK(status.workers[1].queued == 1);
  auto* first = s.rts[0]->pending_body() == "a" ? s.rts[0] : s.rts[1];
  REQUIRE(first->answer(ok("A")));
  s.settle();
  // Its queued event runs now, and the waiting one is queued behind it.
  CHECK(first->pending() == 2);
  CHECK(first->pending_body(1) == "e");
  CHECK(s.pool->status().waiting == 2);
  while (s.rts[0]->answer(ok("x")) || s.rts[1]->answer(ok("y"))) s.settle();
  s.settle();
  for (auto i : {a, b, c, d, e}) REQUIRE(s.answered(i));
  CHECK(s.result(a)->body == "A");
  CHECK(s.pool->status().waiting == 0);
}

TEST_CASE("a queueing worker never queues an event behind one of its own ordering key") {
  Scripted s(1, true, {}, 1);
  DispatchOptions keyed;
  keyed.ordering_key = "partition-0";
  auto k1 = s.dispatch("k1", keyed);
  auto k2 = s.dispatch("k2", keyed);
  auto other = s.dispatch("other", DispatchOptions::within(10s));
  s.settle();
  // k2 waits for its key; the keyless event is queued in the worker.
  CHECK(s.rts[0]->pending() == 2);
  CHECK(s.rts[0]->pending_body(1) == "other");
  REQUIRE(s.rts[0]->answer(ok("k1")));
  s.settle();
  // k1 is done: k2 may now be queued behind "other".
  CHECK(s.rts[0]->pending_body(1) == "k2");
  REQUIRE(s.rts[0]->answer(ok("other")));
  REQUIRE(s.rts[0]->answer(ok("k2")));
  s.settle();
  for (auto i : {k1, k2, other}) REQUIRE(s.answered(i));
  CHECK(s.result(k2)->body == "k2");
}

TEST_CASE("a worker that dies gives its queued events back, and they run in their order before later ones") {
  Scripted s(1, true, {}, 1);
  auto a = s.dispatch("a", DispatchOptions::within(10s));
  auto b = s.dispatch("b", DispatchOptions::within(10s));
  auto c = s.dispatch("c", DispatchOptions::within(10s));
  s.settle();
  REQUIRE(s.rts[0]->pending() == 2);  // a runs, b is queued, c waits in the pool
  // As the Python runtime reports a death: not ready, a crashed, b back.
  s.rts[0]->set_ready(false);
  REQUIRE(s.rts[0]->fail({RuntimeError::Code::kCrashed, "killed", std::nullopt}));
  REQUIRE(s.rts[0]->give_back());
  s.settle();
  CHECK(s.answered(a));
  CHECK_FALSE(s.answered(b));
  CHECK(s.pool->status().waiting == 2);
  s.rts[0]->set_ready(true);
  s.settle();
  // The new process takes b first, then c behind it.
  CHECK(s.rts[0]->pending_body(0) == "b");
  CHECK(s.rts[0]->pending_body(1) == "c");
  REQUIRE(s.rts[0]->answer(ok("b")));
  REQUIRE(s.rts[0]->answer(ok("c")));
  s.settle();
  CHECK(s.result(b)->body == "b");
  CHECK(s.result(c)->body == "c");
}

TEST_CASE("a queued event's eventTimeout starts when it runs, and a timeout hands it back unharmed") {
  Scripted s(1, true, std::chrono::nanoseconds(50ms), 1);
  auto a = s.dispatch("a", DispatchOptions::within(10s));
  auto b = s.dispatch("b", DispatchOptions::within(10s));
  s.settle();
  REQUIRE(s.rts[0]->pending() == 2);
  REQUIRE(run_until(s.io, [&] { return s.answered(a); }));
  CHECK(s.result(a).error().code == DispatchError::Code::kTimedOut);
  CHECK(s.rts[0]->abandoned() == 1);
  // b had not started: its clock had not either, so it is not timed out
  // with a (the next 150 ms, three timeouts, bound the wait).
  CHECK_FALSE(run_until(s.io, [&] { return s.answered(b); }, 150ms));
  // The abandoned process dies: a's answer is dropped, b comes back and
  // runs on the next process.
  s.rts[0]->set_ready(false);
  REQUIRE(s.rts[0]->fail({RuntimeError::Code::kCrashed, "killed", std::nullopt}));
  REQUIRE(s.rts[0]->give_back());
  s.settle();
  CHECK_FALSE(s.answered(b));
  s.rts[0]->set_ready(true);
  s.settle();
  REQUIRE(s.rts[0]->answer(ok("b")));
  REQUIRE(run_until(s.io, [&] { return s.answered(b); }));
  CHECK(s.result(b)->body == "b");
}

TEST_CASE("stopping a pool fails the events queued in its workers with stopping") {
  Scripted s(1, true, {}, 1);
  auto a = s.dispatch("a", DispatchOptions::within(10s));
  auto b = s.dispatch("b", DispatchOptions::within(10s));
  s.settle();
  REQUIRE(s.rts[0]->pending() == 2);
  s.pool->stop(0ms, [] {});
  REQUIRE(s.rts[0]->answer(ok("a")));
  REQUIRE(s.rts[0]->give_back());
  s.settle();
  CHECK(s.result(a)->body == "a");
  REQUIRE(s.answered(b));
  CHECK(s.result(b).error().code == DispatchError::Code::kStopping);
}
