// PoolForwarder (app/pool_forwarder.hpp): what a reload's swap keeps, with
// two real WorkerPools of scripted workers (test/support/scripted_runtime.hpp).
#include "app/pool_forwarder.hpp"

#include <deque>

#include <catch2/catch.hpp>

#include "../support/scripted_runtime.hpp"

using namespace edgefn;
using namespace std::chrono_literals;
using edgefn::test::ScriptedRuntime;

namespace {

struct Pool {
  Pool(asio::io_context& io, const char* name) {
    std::vector<std::unique_ptr<Runtime>> runtimes;
    auto rt = std::make_unique<ScriptedRuntime>(true);
    worker = rt.get();
    runtimes.push_back(std::move(rt));
    pool.emplace(io, PoolSettings{name, {}}, std::move(runtimes));
    pool->start();
  }
  ~Pool() {
    pool->stop(0ms, [] {});
    worker->finish_stop();
  }
  bool answer(std::string body) {
    Response r;
    r.body = std::move(body);
    return worker->answer(std::move(r));
  }
  ScriptedRuntime* worker;
  std::optional<WorkerPool> pool;
};

DispatchOptions keyed(std::string key) {
  DispatchOptions o;
  o.ordering_key = std::move(key);
  return o;
}

Event event(std::string body) {
  Event e;
  e.id = new_event_id();
  e.body = std::move(body);
  return e;
}

}  // namespace

TEST_CASE("forwarder keeps a busy key on the old pool across a swap, then lets the old pool go") {
  asio::io_context io;
  std::deque<std::string> answers;
  auto settle = [&] {
    io.restart();
    io.poll();
  };
  {
    Pool old_pool(io, "old"), new_pool(io, "new");
    PoolForwarder forwarder(io, "p");
    forwarder.retarget(&*old_pool.pool, {});
    auto send = [&](std::string body, DispatchOptions options) {
      forwarder.dispatch(event(body), std::move(options),
                         [&answers](DispatchResult r) { answers.push_back(r ? r->body : std::string("error")); });
    };

    send("a", keyed("k"));  // runs on the old worker
    send("b", keyed("k"));  // waits there for its key
    settle();
    REQUIRE(old_pool.worker->pending() == 1);

    bool old_idle = false;
    forwarder.retarget(&*new_pool.pool, [&] { old_idle = true; });
    CHECK(forwarder.target() == &*new_pool.pool);

    send("c", keyed("k"));      // its key is busy on the old pool: goes there
    send("d", keyed("other"));  // a free key: the new pool
    send("e", {});              // no key: the new pool
    settle();
    CHECK(new_pool.worker->pending() == 1);
    CHECK(new_pool.worker->pending_body() == "d");
    CHECK(old_pool.worker->pending() == 1);

    // The old pool serves "k" in order and only then is idle.
    for (const char* body : {"a", "b", "c"}) {
      CHECK_FALSE(old_idle);
      REQUIRE(old_pool.worker->pending_body() == body);
      REQUIRE(old_pool.answer(body));
      settle();
    }
    CHECK(old_idle);
    CHECK(answers == std::deque<std::string>{"a", "b", "c"});

    // "k" has nothing left on the old pool: it now goes to the new one.
    send("f", keyed("k"));
    settle();
    CHECK(old_pool.worker->pending() == 0);
    for (const char* body : {"d", "e", "f"}) {
      REQUIRE(new_pool.worker->pending_body() == body);
      REQUIRE(new_pool.answer(body));
      settle();
    }
    CHECK(answers.size() == 6);
  }
  settle();
}

TEST_CASE("forwarder without a pool fails events as stopping, never inside dispatch") {
  asio::io_context io;
  PoolForwarder forwarder(io, "p");
  std::optional<DispatchResult> result;
  forwarder.dispatch(event("x"), {}, [&](DispatchResult r) { result = std::move(r); });
  CHECK_FALSE(result);
  io.run();
  REQUIRE(result);
  REQUIRE_FALSE(result->has_value());
  CHECK(result->error().code == DispatchError::Code::kStopping);
}
