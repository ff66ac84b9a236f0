#include <catch2/catch.hpp>

#include <thread>

#include "runtime/native/native_runtime.hpp"
#include "worker/worker_pool.hpp"

using namespace edgefn;
using namespace std::chrono_literals;

namespace {

std::vector<std::unique_ptr<Runtime>> builtin_runtimes(const char* name, int count) {
  std::vector<std::unique_ptr<Runtime>> out;
  const auto* handler = find_builtin(name);
  REQUIRE(handler);
  for (int i = 0; i < count; ++i)
    out.push_back(make_native_runtime({*handler, handler->blocking_by_default, {i, "test", "fn"}, "test"}));
  return out;
}

Event event_with_body(std::string body) {
  Event e;
  e.id = new_event_id();
  e.body = std::move(body);
  return e;
}

struct Outcome {
  std::optional<InvokeResult> result;
  std::chrono::steady_clock::time_point at;
};

void spawn_dispatch(asio::io_context& io, WorkerPool& pool, std::string body, std::chrono::milliseconds wait,
                    Outcome& out) {
  asio::co_spawn(
      io,
      [&pool, &out, body = std::move(body), wait]() -> awaitable<void> {
        auto r = co_await pool.dispatch(event_with_body(body), wait);
        out.at = std::chrono::steady_clock::now();
        out.result.emplace(std::move(r));
      },
      asio::detached);
}

}  // namespace

TEST_CASE("pool runs an inline handler at once") {
  asio::io_context io;
  WorkerPool pool(io, {"p", {}}, builtin_runtimes("hello", 1));
  pool.start();
  Outcome out;
  spawn_dispatch(io, pool, "", 0ms, out);
  io.run();
  REQUIRE(out.result);
  REQUIRE(out.result->has_value());
  CHECK(out.result->value().status == 200);
  CHECK(out.result->value().body == "hello, edge\n");
  CHECK(pool.status().workers[0].events == 1);
  pool.stop(1s);
}

TEST_CASE("pool makes an event wait for the busy worker, then runs it") {
  asio::io_context io;
  WorkerPool pool(io, {"p", {}}, builtin_runtimes("sleep", 1));
  pool.start();
  Outcome first, second;
  spawn_dispatch(io, pool, "100", 0ms, first);
  spawn_dispatch(io, pool, "0", 10'000ms, second);
  io.run();
  REQUIRE(first.result);
  REQUIRE(second.result);
  REQUIRE(first.result->has_value());
  REQUIRE(second.result->has_value());
  CHECK(first.result->value().body == "100 ms\n");
  CHECK(second.result->value().body == "0 ms\n");
  CHECK(first.at <= second.at);
  pool.stop(1s);
}

TEST_CASE("pool answers overloaded when no worker frees up in time") {
  asio::io_context io;
  WorkerPool pool(io, {"p", {}}, builtin_runtimes("sleep", 1));
  pool.start();
  Outcome busy, waited, immediate;
  spawn_dispatch(io, pool, "400", 0ms, busy);
  spawn_dispatch(io, pool, "0", 50ms, waited);
  spawn_dispatch(io, pool, "0", 0ms, immediate);
  io.run();
  REQUIRE(busy.result->has_value());
  REQUIRE_FALSE(waited.result->has_value());
  CHECK(waited.result->error().code == DispatchError::Code::kOverloaded);
  REQUIRE_FALSE(immediate.result->has_value());
  CHECK(immediate.result->error().code == DispatchError::Code::kOverloaded);
  // The timed-out waiter answered before the busy handler finished.
  CHECK(waited.at < busy.at);
  pool.stop(1s);
}

TEST_CASE("pool shares its workers between dispatchers and hands each freed worker to the next waiter") {
  asio::io_context io;
  WorkerPool pool(io, {"shared", {}}, builtin_runtimes("sleep", 2));
  pool.start();
  std::vector<Outcome> outs(6);
  for (auto& out : outs) spawn_dispatch(io, pool, "20", 10'000ms, out);
  io.run();
  for (auto& out : outs) {
    REQUIRE(out.result);
    CHECK(out.result->has_value());
  }
  auto status = pool.status();
  CHECK(status.workers[0].events + status.workers[1].events == 6);
  CHECK(status.workers[0].events > 0);
  CHECK(status.workers[1].events > 0);
  pool.stop(1s);
}

TEST_CASE("event timeout answers timed_out and keeps the slot until the handler returns") {
  asio::io_context io;
  WorkerPool pool(io, {"p", std::chrono::nanoseconds(50ms)}, builtin_runtimes("sleep", 1));
  pool.start();
  Outcome slow;
  spawn_dispatch(io, pool, "300", 0ms, slow);
  bool abandoned_seen = false;
  Outcome after;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        while (!slow.result) {
          asio::steady_timer t(io, 5ms);
          co_await t.async_wait(asio::use_awaitable);
        }
        abandoned_seen = pool.status().workers[0].state == "abandoned";
        auto r = co_await pool.dispatch(event_with_body("0"), 0ms);
        after.result.emplace(std::move(r));
      },
      asio::detached);
  io.run();
  REQUIRE_FALSE(slow.result->has_value());
  CHECK(slow.result->error().code == DispatchError::Code::kTimedOut);
  CHECK(abandoned_seen);
  // While the timed-out handler still runs, the only worker is not free.
  REQUIRE_FALSE(after.result->has_value());
  CHECK(after.result->error().code == DispatchError::Code::kOverloaded);
  CHECK(pool.status().workers[0].timeouts == 1);
  pool.stop(2s);
}

TEST_CASE("stopping a pool fails its waiters with stopping") {
  asio::io_context io;
  WorkerPool pool(io, {"p", {}}, builtin_runtimes("sleep", 1));
  pool.start();
  Outcome busy, waiting;
  spawn_dispatch(io, pool, "200", 0ms, busy);
  spawn_dispatch(io, pool, "0", 10'000ms, waiting);
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        while (pool.status().waiting == 0) {
          asio::steady_timer t(io, 2ms);
          co_await t.async_wait(asio::use_awaitable);
        }
        pool.stop(5s);
      },
      asio::detached);
  io.run();
  REQUIRE_FALSE(waiting.result->has_value());
  CHECK(waiting.result->error().code == DispatchError::Code::kStopping);
  CHECK(busy.result->has_value());
}
