#pragma once
// PoolForwarder: the Dispatcher a trigger is given in place of a pool, so
// that a reload can put a new pool behind it without the trigger noticing
// (app/live_function.hpp). One per pool name, for the daemon's lifetime.
//
// Events go to the current pool, except that an event whose ordering key
// still has events in flight on an earlier pool goes there too, until that
// key has nothing left on it: a stream's per-key order holds across a
// reload. Once a retired pool has nothing in flight through the forwarder,
// its `idle` callback runs, and it can be drained and stopped.
//
// Threads: any; one mutex, never held while a pool or a callback runs.
// What an event in flight needs is shared with it, so that a coroutine
// frame destroyed with the io_context after the forwarder is still safe.
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "worker/worker_pool.hpp"

namespace edgefn {

class PoolForwarder final : public Dispatcher {
 public:
  PoolForwarder(asio::io_context& io, std::string name);

  // Sends new events (other than those of a key still busy on the previous
  // pool) to `next` (null: every event fails with kStopping). `idle` runs
  // once the previous pool has no event in flight through this forwarder:
  // at once (on this thread) if it has none now, else on the thread that
  // finished its last event. Any thread.
  void retarget(WorkerPool* next, UniqueFunction<void()> idle);
  WorkerPool* target() const;

  void dispatch(Event event, DispatchOptions options, Done done) noexcept override;
  awaitable<DispatchResult> dispatch(Event event, DispatchOptions options) override;
  std::optional<DispatchResult> try_run_inline(Event& event, const DispatchOptions& options) noexcept override;
  void when_ready(UniqueFunction<void()> fn) override;
  void run_drain_callbacks() noexcept override;

  const std::string& name() const noexcept override { return name_; }
  int size() const noexcept override;
  int ready_workers() const noexcept override;

 private:
  struct Route;
  struct State;

  asio::io_context& io_;
  const std::string name_;
  const std::shared_ptr<State> state_;
};

}  // namespace edgefn
