// WorkerPool's workers coming and going (readiness), the drain, the stop,
// and what /status and the metrics read. Dispatching is in worker_pool.cpp.
#include <algorithm>

#include "worker/worker_pool_entries.hpp"

namespace edgefn {

// ---- Readiness and lifecycle ------------------------------------------------

void WorkerPool::on_readiness(Worker* worker, bool ready) noexcept {
  Actions actions;
  {
    std::lock_guard lock(mutex_);
    if (worker->ready == ready) return;
    worker->ready = ready;
    if (ready) {
      worker->ready_since = std::chrono::steady_clock::now();
      ++worker->readies;
      if (++ready_count_ == 1) {
        for (auto& fn : ready_waiters_) actions.ready_calls.push_back(std::move(fn));
        ready_waiters_.clear();
      }
      if (!worker->busy && !stopping_) {
        idle_.push_back(worker);
        schedule_locked(actions);
      }
    } else {
      --ready_count_;
      std::erase(idle_, worker);
    }
  }
  run(std::move(actions));
}

void WorkerPool::when_ready(UniqueFunction<void()> fn) {
  {
    std::lock_guard lock(mutex_);
    if (ready_count_ == 0) {
      ready_waiters_.push_back(std::move(fn));
      return;
    }
  }
  asio::post(io_, std::move(fn));
}

void WorkerPool::drain() noexcept {
  for (auto& w : workers_) w->runtime->drain();
}

void WorkerPool::run_drain_callbacks() noexcept {
  for (auto& w : workers_) w->runtime->run_drain_callbacks();
}

void WorkerPool::stop(std::chrono::milliseconds per_worker_timeout, UniqueFunction<void()> done) noexcept {
  Actions actions;
  bool started;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    started = started_;
    idle_.clear();
    auto fail = [&](const std::shared_ptr<Request>& r) {
      r->stage = Request::Stage::kDone;
      if (r->wait_timer) r->wait_timer->cancel();
      actions.failures.emplace_back(r, dispatch_error(DispatchError::Code::kStopping, "processor is stopping"));
    };
    for (auto& r : queue_) fail(r);
    queue_.clear();
    for (auto& [key, state] : keys_) {
      for (auto& r : state.waiting) fail(r);
      state.waiting.clear();
    }
    key_waiting_ = 0;
    ready_waiters_.clear();
  }
  run(std::move(actions));

  struct Countdown {
    std::mutex mutex;
    std::size_t left;
    UniqueFunction<void()> done;
  };
  auto countdown = std::make_shared<Countdown>();
  countdown->left = started ? workers_.size() : 0;
  countdown->done = std::move(done);
  if (countdown->left == 0) {
    asio::post(io_, [countdown] { countdown->done(); });
    return;
  }
  auto work = asio::prefer(io_.get_executor(), asio::execution::outstanding_work.tracked);
  for (auto& w : workers_) {
    w->runtime->stop(per_worker_timeout, [countdown, work] {
      std::lock_guard lock(countdown->mutex);
      if (--countdown->left == 0) asio::post(work, [countdown] { countdown->done(); });
    });
  }
}

// ---- Status -------------------------------------------------------------------

int WorkerPool::ready_workers() const noexcept {
  std::lock_guard lock(mutex_);
  return ready_count_;
}

int WorkerPool::busy() const noexcept {
  std::lock_guard lock(mutex_);
  return static_cast<int>(std::count_if(workers_.begin(), workers_.end(), [](const auto& w) { return w->busy; }));
}

int WorkerPool::left_running() const noexcept {
  return static_cast<int>(
      std::count_if(workers_.begin(), workers_.end(), [](const auto& w) { return w->runtime->left_running(); }));
}

std::size_t WorkerPool::waiting() const noexcept {
  std::lock_guard lock(mutex_);
  return waiting_locked();
}

std::size_t WorkerPool::waiting_locked() const noexcept {
  std::size_t n = queue_.size() + key_waiting_;
  for (const auto& w : workers_) n += w->queued.size();
  return n;
}

PoolStatus WorkerPool::status() const {
  PoolStatus s{settings_.name, size(), 0, 0, 0, {}};
  struct Seen {
    bool ready, busy, abandoned;
    std::size_t queued;
    std::chrono::steady_clock::time_point ready_since;
    std::uint64_t readies;
    std::string last_error;
  };
  std::vector<Seen> seen;
  seen.reserve(workers_.size());
  {
    std::lock_guard lock(mutex_);
    s.ready = ready_count_;
    s.waiting = waiting_locked();
    for (const auto& w : workers_)
      seen.push_back({w->ready, w->busy, w->abandoned, w->queued.size(), w->ready_since, w->readies, w->last_error});
  }
  const auto now = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    const auto& w = workers_[i];
    const Seen& v = seen[i];
    if (v.busy) ++s.busy;
    std::string state = v.abandoned ? "abandoned" : v.busy ? "busy" : v.ready ? "idle" : "starting";
    WorkerStatus ws{w->id,
                    std::move(state),
                    w->runtime->describe(),
                    w->events.load(std::memory_order_relaxed),
                    w->timeouts.load(std::memory_order_relaxed),
                    v.queued,
                    w->runtime->process_id(),
                    std::nullopt,
                    v.readies > 1 ? v.readies - 1 : 0,
                    v.last_error};
    if (v.ready) ws.uptime = now - v.ready_since;
    s.workers.push_back(std::move(ws));
  }
  return s;
}

}  // namespace edgefn
