#include "worker/worker_pool.hpp"

#include <algorithm>

#include "log/log.hpp"
#include "worker/worker_pool_entries.hpp"

namespace edgefn {

namespace {

DispatchResult with_worker(DispatchResult result, int worker) noexcept {
  if (result)
    result->worker = worker;
  else
    result.error().worker = worker;
  return result;
}

DispatchError from_runtime(RuntimeError error) {
  switch (error.code) {
    case RuntimeError::Code::kStopping: return dispatch_error(DispatchError::Code::kStopping, std::move(error.detail));
    case RuntimeError::Code::kCrashed:
    case RuntimeError::Code::kUnavailable: break;
  }
  return dispatch_error(DispatchError::Code::kCrashed, std::move(error.detail));
}

constexpr bool valid_final_status(int status) noexcept { return status >= 200 && status <= 599; }

}  // namespace

WorkerPool::WorkerPool(asio::io_context& io, PoolSettings settings, std::vector<std::unique_ptr<Runtime>> runtimes)
    : io_(io), settings_(std::move(settings)), logger_(get_logger("pool." + settings_.name)) {
  workers_.reserve(runtimes.size());
  for (std::size_t i = 0; i < runtimes.size(); ++i) {
    auto w = std::make_unique<Worker>();
    w->id = static_cast<int>(i);
    w->runs_inline = runtimes[i]->runs_inline();
    w->queue_capacity = w->runs_inline ? 0 : runtimes[i]->queue_capacity();
    w->runtime = std::move(runtimes[i]);
    workers_.push_back(std::move(w));
  }
}

WorkerPool::~WorkerPool() {
  std::deque<std::shared_ptr<Request>> orphans;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    orphans.swap(queue_);
    for (auto& [key, state] : keys_)
      for (auto& r : state.waiting) orphans.push_back(std::move(r));
    keys_.clear();
    for (auto& r : orphans) {
      r->stage = Request::Stage::kDone;
      if (r->wait_timer) r->wait_timer->cancel();
    }
  }
  for (auto& r : orphans) complete(r, tl::make_unexpected(dispatch_error(DispatchError::Code::kStopping, "processor is stopping")));
}

void WorkerPool::start() {
  {
    std::lock_guard lock(mutex_);
    started_ = true;
  }
  for (auto& w : workers_) {
    Worker* worker = w.get();
    w->runtime->start([this, worker](bool ready) { on_readiness(worker, ready); });
  }
}

// ---- Submitting -----------------------------------------------------------

void WorkerPool::dispatch(Event event, DispatchOptions options, Done done) noexcept {
  try {
    submit(std::make_shared<Request>(io_, io_.get_executor(), std::move(event), std::move(options), std::move(done)));
  } catch (const std::exception& e) {
    // Only allocation fails here; the caller still gets its one answer.
    asio::post(io_, [done = std::move(done), what = std::string(e.what())]() mutable {
      done(tl::make_unexpected(dispatch_error(DispatchError::Code::kCrashed, what)));
    });
  }
}

awaitable<DispatchResult> WorkerPool::dispatch(Event event, DispatchOptions options) {
  if (auto result = try_run_inline(event, options)) co_return std::move(*result);
  auto initiate = [this, &event, &options](auto handler) {
    auto executor = asio::get_associated_executor(handler, io_.get_executor());
    Done done = [h = std::move(handler)](DispatchResult result) mutable { std::move(h)(std::move(result)); };
    submit(std::make_shared<Request>(io_, std::move(executor), std::move(event), std::move(options), std::move(done)));
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(DispatchResult)>(std::move(initiate),
                                                                                                 asio::use_awaitable);
}

// The common case of an HTTP request to a native handler, without a
// completion hop: an idle inline worker runs the handler on this thread.
std::optional<DispatchResult> WorkerPool::try_run_inline(Event& event, const DispatchOptions& options) noexcept {
  if (!options.ordering_key.empty() || options.cancel) return std::nullopt;
  Worker* w;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || idle_.empty() || !idle_.back()->runs_inline) return std::nullopt;
    w = idle_.back();
    idle_.pop_back();
    w->busy = true;
  }
  w->events.fetch_add(1, std::memory_order_relaxed);
  if (settings_.allocation_wait) settings_.allocation_wait->observe(0);
  // The clock is read only when there is a timeout to check against.
  const bool timed = settings_.event_timeout.has_value();
  const auto started = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  auto result = w->runtime->invoke_inline(event);
  const auto took = timed ? std::chrono::steady_clock::now() - started : std::chrono::steady_clock::duration{};
  Actions actions;
  {
    std::lock_guard lock(mutex_);
    w->busy = false;
    if (w->ready) idle_.push_back(w);
    schedule_locked(actions);
  }
  run(std::move(actions));
  if (timed && took > *settings_.event_timeout) {
    w->timeouts.fetch_add(1, std::memory_order_relaxed);
    // An inline handler cannot be interrupted; overrunning blocks its I/O
    // thread, which the ABI forbids. Say so loudly rather than quietly 408.
    logger_->error("inline native handler ran {} ms, past eventTimeout {} ms: inline handlers must not block "
                   "(set runtimeAttributes.blocking: true for handlers that do I/O)",
                   std::chrono::duration_cast<std::chrono::milliseconds>(took).count(),
                   std::chrono::duration_cast<std::chrono::milliseconds>(*settings_.event_timeout).count());
    auto error = dispatch_error(DispatchError::Code::kTimedOut, "event timeout exceeded");
    error.worker = w->id;
    return tl::make_unexpected(std::move(error));
  }
  return with_worker(checked(std::move(result), &event), w->id);
}

void WorkerPool::submit(std::shared_ptr<Request> request) noexcept {
  if (settings_.allocation_wait) request->dispatched_at = std::chrono::steady_clock::now();
  Actions actions;
  {
    std::lock_guard lock(mutex_);
    request->sequence = next_sequence_++;
    if (stopping_) {
      request->stage = Request::Stage::kDone;
      actions.failures.emplace_back(request, dispatch_error(DispatchError::Code::kStopping, "processor is stopping"));
    } else if (request->options.cancel && request->options.cancel->cancelled()) {
      request->stage = Request::Stage::kDone;
      actions.failures.emplace_back(request, dispatch_error(DispatchError::Code::kCancelled, "cancelled before it started"));
    } else {
      enqueue_locked(request, actions);
    }
  }
  run(std::move(actions));
}

void WorkerPool::enqueue_locked(const std::shared_ptr<Request>& request, Actions& actions) {
  const auto& key = request->options.ordering_key;
  if (!key.empty() && !request->owns_key) {
    auto& state = keys_[key];
    if (state.active) {
      request->stage = Request::Stage::kKey;
      state.waiting.push_back(request);
      ++key_waiting_;
      arm_waiting(request);
      return;
    }
    state.active = true;
    request->owns_key = true;
  }
  if (assign_locked(request, actions)) return;
  if (request->options.start_deadline <= DispatchOptions::Clock::now()) {
    request->stage = Request::Stage::kDone;
    release_key_locked(request, actions);
    actions.failures.emplace_back(request, dispatch_error(DispatchError::Code::kOverloaded, "all workers are busy"));
    return;
  }
  request->stage = Request::Stage::kQueue;
  queue_.push_back(request);
  arm_waiting(request);
}

// Under the lock. Arms the start deadline and the cancellation once per
// request; both stay armed while it moves from its key's queue to the
// worker queue.
void WorkerPool::arm_waiting(const std::shared_ptr<Request>& request) {
  const auto deadline = request->options.start_deadline;
  if (deadline != DispatchOptions::Clock::time_point::max() && !request->wait_armed) {
    request->wait_armed = true;
    auto& timer = request->timer(request->wait_timer);
    timer.expires_at(deadline);
    timer.async_wait([this, weak = std::weak_ptr<Request>(request)](error_code ec) {
      if (ec) return;
      if (auto r = weak.lock())
        expire(r, DispatchError::Code::kOverloaded,
               "no worker became available in time (workerAvailabilityTimeoutMilliseconds)");
    });
  }
  if (request->options.cancel && !request->cancel_watch) {
    auto id = request->options.cancel->watch([this, weak = std::weak_ptr<Request>(request)] {
      if (auto r = weak.lock()) expire(r, DispatchError::Code::kCancelled, "cancelled before it started");
    });
    if (id) {
      request->cancel_watch = id;
    } else {
      // Cancelled already: fail it from the io_context, not under this lock.
      asio::post(io_, [this, request] { expire(request, DispatchError::Code::kCancelled, "cancelled before it started"); });
    }
  }
}

// Under the lock: gives `request` to an idle worker or, when every worker
// is busy, queues it behind the running event of one whose runtime can
// hold it (Runtime::queue_capacity). Only events that head their ordering
// key reach here, so none is queued behind an event of its own key.
bool WorkerPool::assign_locked(const std::shared_ptr<Request>& request, Actions& actions) {
  Worker* w = nullptr;
  bool queued = false;
  if (!idle_.empty()) {
    w = idle_.back();
    idle_.pop_back();
    w->busy = true;
    w->running = request;
  } else {
    auto can_queue = [this](const auto& worker) {
      return worker->queue_capacity > 0 && worker->ready && worker->busy && !worker->abandoned &&
             !worker->handing_over && worker->queued.size() < worker->queue_capacity && !stopping_;
    };
    auto it = std::find_if(workers_.begin(), workers_.end(), can_queue);
    if (it == workers_.end()) return false;
    w = it->get();
    w->queued.push_back(request);
    queued = true;
  }
  if (w->queue_capacity > 0) w->handing_over = true;
  request->stage = Request::Stage::kRunning;
  actions.starts.push_back({w, request, queued});
  return true;
}

// Under the lock: hands idle workers, then room in queueing ones, to the
// oldest waiting requests.
void WorkerPool::schedule_locked(Actions& actions) {
  while (!queue_.empty() && assign_locked(queue_.front(), actions)) queue_.pop_front();
}

// Under the lock: an event that a worker gave back unstarted goes before
// every event submitted after it, so a worker that dies holding several
// hands them on in their order.
void WorkerPool::requeue_locked(const std::shared_ptr<Request>& request) {
  auto later = std::find_if(queue_.begin(), queue_.end(),
                            [&](const auto& r) { return r->sequence > request->sequence; });
  request->stage = Request::Stage::kQueue;
  queue_.insert(later, request);
  arm_waiting(request);
}

void WorkerPool::remove_waiting_locked(const std::shared_ptr<Request>& request) noexcept {
  if (request->stage == Request::Stage::kQueue) {
    std::erase(queue_, request);
  } else if (request->stage == Request::Stage::kKey) {
    auto it = keys_.find(request->options.ordering_key);
    if (it != keys_.end() && std::erase(it->second.waiting, request) > 0) --key_waiting_;
  }
}

// Under the lock: `request` gives up its key; the next event of the key
// becomes its head and queues for a worker.
void WorkerPool::release_key_locked(const std::shared_ptr<Request>& request, Actions& actions) {
  if (!request->owns_key) return;
  request->owns_key = false;
  auto it = keys_.find(request->options.ordering_key);
  if (it == keys_.end()) return;
  auto& state = it->second;
  if (state.waiting.empty()) {
    keys_.erase(it);
    return;
  }
  auto next = std::move(state.waiting.front());
  state.waiting.pop_front();
  --key_waiting_;
  next->owns_key = true;
  enqueue_locked(next, actions);
}

void WorkerPool::expire(const std::shared_ptr<Request>& request, DispatchError::Code code, const char* detail) noexcept {
  Actions actions;
  {
    std::lock_guard lock(mutex_);
    if (request->stage != Request::Stage::kKey && request->stage != Request::Stage::kQueue) return;
    remove_waiting_locked(request);
    request->stage = Request::Stage::kDone;
    if (request->wait_timer) request->wait_timer->cancel();
    release_key_locked(request, actions);
    actions.failures.emplace_back(request, dispatch_error(code, detail));
  }
  run(std::move(actions));
}

// ---- Running ----------------------------------------------------------------

void WorkerPool::run(Actions actions) noexcept {
  for (auto& start : actions.starts) start_event(start.worker, std::move(start.request), start.queued);
  for (auto& [request, error] : actions.failures) complete(request, tl::make_unexpected(std::move(error)));
  for (auto& call : actions.ready_calls) asio::post(io_, std::move(call));
}

void WorkerPool::start_event(Worker* worker, std::shared_ptr<Request> request, bool queued) noexcept {
  {
    std::lock_guard run_lock(request->run_mutex);
    request->finished = false;  // again, for an event that was queued again
  }
  {
    std::lock_guard lock(mutex_);
    if (request->wait_armed) {
      request->wait_timer->cancel();
      request->wait_armed = false;
    }
    if (request->cancel_watch) {
      request->options.cancel->unwatch(*request->cancel_watch);
      request->cancel_watch.reset();
    }
    // A queued event's clock starts when the one before it is answered.
    if (!queued) arm_run_timer_locked(worker, request);
  }
  worker->events.fetch_add(1, std::memory_order_relaxed);
  // Once per event: one queued again after its worker's process ended
  // has been counted when it first started.
  if (settings_.allocation_wait && !request->wait_observed) {
    request->wait_observed = true;
    settings_.allocation_wait->observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - request->dispatched_at).count());
  }
  if (worker->runs_inline) {
    auto result = worker->runtime->invoke_inline(request->event);
    return finished(worker, request, std::move(result));
  }
  worker->runtime->invoke(std::move(request->event), [this, worker, request](InvokeResult result) {
    finished(worker, request, std::move(result));
  });
  if (worker->queue_capacity == 0) return;
  // The runtime has this event now: the next may be queued behind it.
  Actions actions;
  {
    std::lock_guard lock(mutex_);
    worker->handing_over = false;
    schedule_locked(actions);
  }
  run(std::move(actions));
}

// Under the lock: spec.eventTimeout for the event `worker` runs now.
void WorkerPool::arm_run_timer_locked(Worker* worker, const std::shared_ptr<Request>& request) {
  if (!settings_.event_timeout || worker->runs_inline) return;
  auto& timer = request->timer(request->run_timer);
  timer.expires_after(*settings_.event_timeout);
  timer.async_wait([this, worker, weak = std::weak_ptr<Request>(request)](error_code ec) {
    auto r = weak.lock();
    if (ec || !r || r->claimed.exchange(true)) return;
    worker->timeouts.fetch_add(1, std::memory_order_relaxed);
    {
      // Before the client hears of the timeout: whoever it tells next
      // (a /status request) sees the worker abandoned.
      std::lock_guard run_lock(r->run_mutex);
      if (!r->finished) {
        {
          std::lock_guard pool_lock(mutex_);
          worker->abandoned = true;
          worker->last_error = "an event ran past spec.eventTimeout";
        }
        // Events queued behind this one come back unstarted and run
        // elsewhere.
        worker->runtime->abandon();
      }
    }
    asio::post(r->work, [r, id = worker->id] {
      auto done = std::move(r->done);
      auto error = dispatch_error(DispatchError::Code::kTimedOut, "event timeout exceeded");
      error.worker = id;
      done(tl::make_unexpected(std::move(error)));
    });
  });
}

void WorkerPool::finished(Worker* worker, const std::shared_ptr<Request>& request, InvokeResult result) noexcept {
  {
    std::lock_guard run_lock(request->run_mutex);
    request->finished = true;
  }
  Actions actions;
  const bool unstarted = !result && result.error().code == RuntimeError::Code::kUnavailable &&
                         result.error().unstarted.has_value();
  bool requeued = false;
  bool stopping = false;
  {
    std::lock_guard lock(mutex_);
    stopping = stopping_;
    if (worker->running == request) {
      worker->running.reset();
      worker->abandoned = false;
      if (!worker->queued.empty()) {
        // The runtime starts the next queued event as it answers this one.
        worker->running = std::move(worker->queued.front());
        worker->queued.pop_front();
        arm_run_timer_locked(worker, worker->running);
      } else {
        worker->busy = false;
        if (worker->ready) idle_.push_back(worker);
      }
    } else {
      std::erase(worker->queued, request);
    }
    if (request->run_timer) request->run_timer->cancel();
    if (!result && result.error().code == RuntimeError::Code::kCrashed) worker->last_error = result.error().detail;
    if (unstarted && !request->claimed.load() && !stopping) {
      // The worker's process ended before it took the event (it reported
      // itself not ready first): the event goes back to the queue in its
      // place, where the next ready worker takes it.
      request->event = std::move(*result.error().unstarted);
      requeued = true;
      requeue_locked(request);
      logger_->debug("worker {} could not take event {}: {}; queued again", worker->id, request->event.id,
                     result.error().detail);
    } else {
      request->stage = Request::Stage::kDone;
      release_key_locked(request, actions);
    }
    schedule_locked(actions);
  }
  // Not run, and not to be: stopping says why (anything else unstarted is
  // answered as a crash by checked()).
  if (unstarted && !requeued && stopping) result.error().code = RuntimeError::Code::kStopping;
  if (!requeued) complete(request, with_worker(checked(std::move(result), nullptr), worker->id));
  run(std::move(actions));
}

void WorkerPool::complete(const std::shared_ptr<Request>& request, DispatchResult result) noexcept {
  if (request->claimed.exchange(true)) return;
  try {
    asio::post(request->work, [request, result = std::move(result)]() mutable {
      auto done = std::move(request->done);
      done(std::move(result));
    });
  } catch (const std::exception& e) {
    logger_->error("cannot deliver an event's result: {}", e.what());
  }
}

DispatchResult WorkerPool::checked(InvokeResult result, const Event* event) noexcept {
  if (!result) return tl::make_unexpected(from_runtime(std::move(result.error())));
  const int status = result->status;
  if (valid_final_status(status)) return std::move(*result);
  // A 1xx would leave a keep-alive client waiting for the final answer, and
  // 0 or 42 cannot be written as a status line: a handler bug, answered as
  // one.
  logger_->error("the handler answered status {}{}{}, which is not a final HTTP status (200-599); answering 500",
                 status, event ? " for event " : "", event ? event->id : std::string{});
  Response r;
  r.status = 500;
  r.body = "handler answered an invalid status " + std::to_string(status) + "\n";
  return r;
}

}  // namespace edgefn
