#pragma once
// A Runtime whose handler the test plays: invocations wait until the test
// answers them, readiness changes when the test says so, and stop()
// completes when the test releases it. For unit tests of the pool's
// contract (ordering, readiness, cancellation, lifecycle); the real
// runtimes have tests of their own.
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "runtime/runtime.hpp"

namespace edgefn::test {

class ScriptedRuntime final : public Runtime {
 public:
  struct Call {
    Event event;
    InvokeCompletion done;
  };

  explicit ScriptedRuntime(bool ready_at_start = true, std::size_t queue_capacity = 0)
      : ready_at_start_(ready_at_start), queue_capacity_(queue_capacity) {}

  void start(ReadinessCallback on_readiness) override {
    std::lock_guard lock(mutex_);
    on_readiness_ = std::move(on_readiness);
    if (ready_at_start_) on_readiness_(true);
  }
  bool runs_inline() const noexcept override { return false; }
  std::size_t queue_capacity() const noexcept override { return queue_capacity_; }
  void invoke(Event event, InvokeCompletion done) noexcept override {
    std::lock_guard lock(mutex_);
    calls_.push_back({std::move(event), std::move(done)});
    ++invoked_;
  }
  void abandon() noexcept override {
    std::lock_guard lock(mutex_);
    ++abandoned_;
  }
  void drain() noexcept override {
    std::lock_guard lock(mutex_);
    drained_ = true;
  }
  void run_drain_callbacks() noexcept override {
    std::lock_guard lock(mutex_);
    ++drain_callbacks_;
  }
  void stop(std::chrono::milliseconds, UniqueFunction<void()> done) noexcept override {
    std::lock_guard lock(mutex_);
    stop_done_ = std::move(done);
    stop_called_ = true;
  }
  std::string describe() const override { return "scripted"; }

  // ---- What the test does -------------------------------------------------

  void set_ready(bool ready) {
    ReadinessCallback callback;
    {
      std::lock_guard lock(mutex_);
      callback = on_readiness_;
    }
    callback(ready);
  }

  // Answers the oldest call with `response`; false when none is pending.
  bool answer(Response response) {
    auto call = take();
    if (!call) return false;
    call->done(std::move(response));
    return true;
  }
  bool fail(RuntimeError error) {
    auto call = take();
    if (!call) return false;
    call->done(tl::make_unexpected(std::move(error)));
    return true;
  }
  // The worker's process ended before it took the event: it says it is not
  // ready, then gives the event back.
  bool give_back() {
    auto call = take();
    if (!call) return false;
    set_ready(false);
    RuntimeError error{RuntimeError::Code::kUnavailable, "process ended", std::nullopt};
    error.unstarted.emplace(std::move(call->event));
    call->done(tl::make_unexpected(std::move(error)));
    return true;
  }
  bool finish_stop() {
    UniqueFunction<void()> done;
    {
      std::lock_guard lock(mutex_);
      done = std::move(stop_done_);
    }
    if (!done) return false;
    done();
    return true;
  }

  std::size_t pending() const {
    std::lock_guard lock(mutex_);
    return calls_.size();
  }
  std::optional<std::string> pending_body(std::size_t i = 0) const {
    std::lock_guard lock(mutex_);
    if (i >= calls_.size()) return std::nullopt;
    return calls_[i].event.body;
  }
  int invoked() const {
    std::lock_guard lock(mutex_);
    return invoked_;
  }
  int abandoned() const {
    std::lock_guard lock(mutex_);
    return abandoned_;
  }
  bool drained() const {
    std::lock_guard lock(mutex_);
    return drained_;
  }
  int drain_callbacks() const {
    std::lock_guard lock(mutex_);
    return drain_callbacks_;
  }
  bool stop_called() const {
    std::lock_guard lock(mutex_);
    return stop_called_;
  }

 private:
  std::optional<Call> take() {
    std::lock_guard lock(mutex_);
    if (calls_.empty()) return std::nullopt;
    auto call = std::move(calls_.front());
    calls_.pop_front();
    return call;
  }

  mutable std::mutex mutex_;
  bool ready_at_start_;
  std::size_t queue_capacity_;
  ReadinessCallback on_readiness_;
  std::deque<Call> calls_;
  int invoked_ = 0;
  int abandoned_ = 0;
  bool drained_ = false;
  int drain_callbacks_ = 0;
  bool stop_called_ = false;
  UniqueFunction<void()> stop_done_;
};

}  // namespace edgefn::test
