#include "worker/worker_pool.hpp"

#include <algorithm>

#include "log/log.hpp"
#include "worker/completion.hpp"

namespace edgefn {

struct WorkerPool::Worker {
  int id;
  std::unique_ptr<Runtime> runtime;
  bool runs_inline;
  std::atomic<bool> busy{false};
  // Timed out and answered 504, but the runtime has not given the slot back.
  std::atomic<bool> abandoned{false};
  std::atomic<std::uint64_t> events{0};
  std::atomic<std::uint64_t> timeouts{0};
};

struct WorkerPool::Waiter {
  template <class Handler>
  Waiter(asio::io_context& io, Handler handler) : timer(io), completion(io, std::move(handler)) {}
  asio::steady_timer timer;
  Completion<AcquireResult> completion;
};

namespace {

// Timers are not thread-safe objects: cancel on the I/O context rather than
// from whichever thread won the race.
template <class Owner>
void cancel_timer_later(asio::io_context& io, std::shared_ptr<Owner> owner, asio::steady_timer& timer) {
  asio::post(io, [owner = std::move(owner), &timer] { timer.cancel(); });
}

struct PendingCall {
  template <class Handler>
  PendingCall(asio::io_context& io, Handler handler) : completion(io, std::move(handler)) {}
  std::optional<asio::steady_timer> timer;
  Completion<InvokeResult> completion;
  // Orders the timeout's abandon() against the handler finishing: once the
  // worker is released it may hold another event, which abandon() (a
  // process kill) must never hit.
  std::mutex mutex;
  bool finished = false;
};

InvokeResult dispatch_error(DispatchError::Code code, std::string detail) {
  return tl::make_unexpected(DispatchError{code, std::move(detail)});
}

}  // namespace

WorkerPool::WorkerPool(asio::io_context& io, PoolSettings settings, std::vector<std::unique_ptr<Runtime>> runtimes)
    : io_(io), settings_(std::move(settings)) {
  workers_.reserve(runtimes.size());
  for (std::size_t i = 0; i < runtimes.size(); ++i) {
    auto w = std::make_unique<Worker>();
    w->id = static_cast<int>(i);
    w->runs_inline = runtimes[i]->runs_inline();
    w->runtime = std::move(runtimes[i]);
    workers_.push_back(std::move(w));
  }
  // Reverse so that worker 0 is handed out first.
  for (auto it = workers_.rbegin(); it != workers_.rend(); ++it) free_.push_back(it->get());
}

WorkerPool::~WorkerPool() { stop(std::chrono::milliseconds{0}); }

void WorkerPool::start() {
  for (auto& w : workers_) w->runtime->start();
  started_.store(true, std::memory_order_release);
}

WorkerPool::Worker* WorkerPool::try_acquire() noexcept {
  std::lock_guard lock(mutex_);
  if (stopping_ || free_.empty()) return nullptr;
  Worker* w = free_.back();
  free_.pop_back();
  w->busy.store(true, std::memory_order_relaxed);
  return w;
}

void WorkerPool::release(Worker* worker) noexcept {
  std::shared_ptr<Waiter> next;
  {
    std::lock_guard lock(mutex_);
    while (!waiters_.empty()) {
      auto candidate = std::move(waiters_.front());
      waiters_.pop_front();
      if (candidate->completion.claim()) {
        next = std::move(candidate);
        break;
      }
    }
    if (!next) {
      worker->busy.store(false, std::memory_order_relaxed);
      free_.push_back(worker);
      return;
    }
  }
  cancel_timer_later(io_, next, next->timer);
  next->completion.complete(worker);
}

awaitable<WorkerPool::AcquireResult> WorkerPool::wait_for_worker(std::chrono::milliseconds timeout) {
  auto initiate = [this, timeout](auto handler) {
    auto waiter = std::make_shared<Waiter>(io_, std::move(handler));
    std::unique_lock lock(mutex_);
    if (stopping_) {
      lock.unlock();
      waiter->completion.claim();
      waiter->completion.complete(tl::make_unexpected(DispatchError{DispatchError::Code::kStopping, "processor is stopping"}));
      return;
    }
    if (!free_.empty()) {  // released between try_acquire() and here
      Worker* w = free_.back();
      free_.pop_back();
      w->busy.store(true, std::memory_order_relaxed);
      lock.unlock();
      waiter->completion.claim();
      waiter->completion.complete(w);
      return;
    }
    // Armed before it is queued, so a release() that finds the waiter
    // always finds a timer with a pending wait to cancel.
    waiter->timer.expires_after(timeout);
    waiter->timer.async_wait([this, weak = std::weak_ptr<Waiter>(waiter)](error_code ec) {
      auto self = weak.lock();
      if (ec || !self || !self->completion.claim()) return;
      {
        std::lock_guard guard(mutex_);
        std::erase(waiters_, self);
      }
      self->completion.complete(tl::make_unexpected(DispatchError{
          DispatchError::Code::kOverloaded,
          "no worker became available in time (workerAvailabilityTimeoutMilliseconds)"}));
    });
    waiters_.push_back(std::move(waiter));
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(AcquireResult)>(
      std::move(initiate), asio::use_awaitable);
}

awaitable<InvokeResult> WorkerPool::dispatch(Event event, std::chrono::milliseconds availability_timeout) {
  Worker* w = try_acquire();
  if (!w) {
    if (availability_timeout.count() <= 0) {
      std::lock_guard lock(mutex_);
      if (stopping_) co_return dispatch_error(DispatchError::Code::kStopping, "processor is stopping");
      co_return dispatch_error(DispatchError::Code::kOverloaded, "all workers are busy");
    }
    auto acquired = co_await wait_for_worker(availability_timeout);
    if (!acquired) co_return tl::make_unexpected(std::move(acquired.error()));
    w = acquired.value();
  }
  w->events.fetch_add(1, std::memory_order_relaxed);

  if (!w->runs_inline) co_return co_await run_async(w, std::move(event));

  // The clock is read only when there is a timeout to check against.
  const bool timed = settings_.event_timeout.has_value();
  const auto started = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  auto result = w->runtime->invoke_inline(event);
  const auto took = timed ? std::chrono::steady_clock::now() - started : std::chrono::steady_clock::duration{};
  release(w);
  if (timed && took > *settings_.event_timeout) {
    w->timeouts.fetch_add(1, std::memory_order_relaxed);
    // An inline handler cannot be interrupted; overrunning blocks its I/O
    // thread, which the ABI forbids. Say so loudly rather than quietly 504.
    get_logger("worker." + settings_.name)
        ->error("inline native handler ran {} ms, past eventTimeout {} ms: inline handlers must not block "
                "(set runtimeAttributes.blocking: true for handlers that do I/O)",
                std::chrono::duration_cast<std::chrono::milliseconds>(took).count(),
                std::chrono::duration_cast<std::chrono::milliseconds>(*settings_.event_timeout).count());
    co_return dispatch_error(DispatchError::Code::kTimedOut, "event timeout exceeded");
  }
  co_return result;
}

awaitable<InvokeResult> WorkerPool::run_async(Worker* worker, Event event) {
  auto initiate = [this, worker, &event](auto handler) {
    auto call = std::make_shared<PendingCall>(io_, std::move(handler));
    if (settings_.event_timeout) {
      call->timer.emplace(io_);
      call->timer->expires_after(*settings_.event_timeout);
      call->timer->async_wait([worker, weak = std::weak_ptr<PendingCall>(call)](error_code ec) {
        auto self = weak.lock();
        if (ec || !self || !self->completion.claim()) return;
        worker->timeouts.fetch_add(1, std::memory_order_relaxed);
        self->completion.complete(tl::make_unexpected(DispatchError{DispatchError::Code::kTimedOut, "event timeout exceeded"}));
        std::lock_guard lock(self->mutex);
        if (self->finished) return;
        worker->abandoned.store(true, std::memory_order_relaxed);
        worker->runtime->abandon();
      });
    }
    worker->runtime->invoke(std::move(event), [this, worker, call](InvokeResult result) mutable {
      {
        std::lock_guard lock(call->mutex);
        call->finished = true;
        worker->abandoned.store(false, std::memory_order_relaxed);
      }
      release(worker);
      if (!call->completion.claim()) return;
      if (call->timer) cancel_timer_later(io_, call, *call->timer);
      call->completion.complete(std::move(result));
    });
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(InvokeResult)>(
      std::move(initiate), asio::use_awaitable);
}

void WorkerPool::stop(std::chrono::milliseconds per_worker_timeout) noexcept {
  std::deque<std::shared_ptr<Waiter>> waiters;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    waiters.swap(waiters_);
  }
  for (auto& w : waiters) {
    if (!w->completion.claim()) continue;
    cancel_timer_later(io_, w, w->timer);
    w->completion.complete(tl::make_unexpected(DispatchError{DispatchError::Code::kStopping, "processor is stopping"}));
  }
  for (auto& w : workers_) w->runtime->stop(per_worker_timeout);
}

int WorkerPool::busy() const noexcept {
  return static_cast<int>(std::count_if(workers_.begin(), workers_.end(),
                                        [](const auto& w) { return w->busy.load(std::memory_order_relaxed); }));
}

int WorkerPool::live_workers() const noexcept {
  return static_cast<int>(std::count_if(workers_.begin(), workers_.end(), [](const auto& w) {
    return w->runtime->alive() && !w->abandoned.load(std::memory_order_relaxed);
  }));
}

PoolStatus WorkerPool::status() const {
  PoolStatus s{settings_.name, size(), busy(), 0, {}};
  {
    std::lock_guard lock(mutex_);
    s.waiting = waiters_.size();
  }
  for (const auto& w : workers_) {
    std::string state = !w->runtime->alive()                              ? "dead"
                        : w->abandoned.load(std::memory_order_relaxed)    ? "abandoned"
                        : w->busy.load(std::memory_order_relaxed)         ? "busy"
                                                                          : "idle";
    s.workers.push_back({w->id, std::move(state), w->events.load(std::memory_order_relaxed),
                         w->timeouts.load(std::memory_order_relaxed)});
  }
  return s;
}

}  // namespace edgefn
