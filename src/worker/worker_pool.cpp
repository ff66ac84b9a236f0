#include "worker/worker_pool.hpp"

#include <algorithm>

#include "log/log.hpp"

namespace edgefn {

struct WorkerPool::Worker {
  int id = 0;
  std::unique_ptr<Runtime> runtime;
  bool runs_inline = false;
  // Guarded by the pool's mutex.
  bool ready = false;
  bool busy = false;       // holds an event
  bool abandoned = false;  // timed out; the runtime has not given it back
  std::chrono::steady_clock::time_point ready_since;
  std::uint64_t readies = 0;
  std::string last_error;
  std::atomic<std::uint64_t> events{0};
  std::atomic<std::uint64_t> timeouts{0};
};

struct WorkerPool::Request {
  enum class Stage { kNew, kKey, kQueue, kRunning, kDone };

  Request(asio::io_context& io, asio::any_io_executor executor, Event e, DispatchOptions o, Done d)
      : event(std::move(e)),
        options(std::move(o)),
        done(std::move(d)),
        // Tracked: the io_context does not run out of work while an event
        // waits or runs, so a drain lets it finish.
        work(asio::prefer(std::move(executor), asio::execution::outstanding_work.tracked)),
        io_context(io) {}

  Event event;
  DispatchOptions options;
  Done done;
  asio::any_io_executor work;
  asio::io_context& io_context;
  std::atomic<bool> claimed{false};
  // Set only when the pool records allocation waits.
  std::chrono::steady_clock::time_point dispatched_at;
  bool wait_observed = false;
  // Guarded by the pool's mutex, timers included: Asio timers are not
  // thread-safe objects, and every call on them happens under that lock.
  Stage stage = Stage::kNew;
  bool owns_key = false;  // the head of its key: waiting for a worker or running
  std::optional<asio::steady_timer> wait_timer;  // the start deadline
  bool wait_armed = false;
  std::optional<asio::steady_timer> run_timer;  // spec.eventTimeout
  std::optional<std::uint64_t> cancel_watch;
  // Orders the timeout's abandon() against the handler finishing: once the
  // worker is released it may hold another event, which abandon() (a
  // process kill) must never hit.
  std::mutex run_mutex;
  bool finished = false;

  asio::steady_timer& timer(std::optional<asio::steady_timer>& slot) {
    if (!slot) slot.emplace(io_context);
    return *slot;
  }
};

namespace {

DispatchError dispatch_error(DispatchError::Code code, std::string detail) { return {code, std::move(detail)}; }

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
  if (auto result = try_inline(event, options)) co_return std::move(*result);
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
std::optional<DispatchResult> WorkerPool::try_inline(Event& event, const DispatchOptions& options) noexcept {
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
  if (Worker* w = pop_idle_locked()) {
    request->stage = Request::Stage::kRunning;
    actions.starts.emplace_back(w, request);
    return;
  }
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

WorkerPool::Worker* WorkerPool::pop_idle_locked() noexcept {
  if (idle_.empty()) return nullptr;
  Worker* w = idle_.back();
  idle_.pop_back();
  w->busy = true;
  return w;
}

// Under the lock: hands idle workers to the oldest waiting requests.
void WorkerPool::schedule_locked(Actions& actions) {
  while (!queue_.empty() && !idle_.empty()) {
    auto request = std::move(queue_.front());
    queue_.pop_front();
    request->stage = Request::Stage::kRunning;
    actions.starts.emplace_back(pop_idle_locked(), std::move(request));
  }
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
  for (auto& [worker, request] : actions.starts) start_event(worker, std::move(request));
  for (auto& [request, error] : actions.failures) complete(request, tl::make_unexpected(std::move(error)));
  for (auto& call : actions.ready_calls) asio::post(io_, std::move(call));
}

void WorkerPool::start_event(Worker* worker, std::shared_ptr<Request> request) noexcept {
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
    if (settings_.event_timeout && !worker->runs_inline) {
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
  {
    std::lock_guard lock(mutex_);
    worker->busy = false;
    worker->abandoned = false;
    if (worker->ready) idle_.push_back(worker);
    if (request->run_timer) request->run_timer->cancel();
    if (!result && result.error().code == RuntimeError::Code::kCrashed) worker->last_error = result.error().detail;
    if (unstarted && !request->claimed.load() && !stopping_) {
      // The worker's process ended before it took the event (it reported
      // itself not ready first): the event goes to the front of the queue,
      // where the next ready worker takes it.
      request->event = std::move(*result.error().unstarted);
      requeued = true;
      request->stage = Request::Stage::kQueue;
      queue_.push_front(request);
      arm_waiting(request);
      schedule_locked(actions);
      logger_->debug("worker {} could not take event {}: {}; queued again", worker->id, request->event.id,
                     result.error().detail);
    } else {
      request->stage = Request::Stage::kDone;
      release_key_locked(request, actions);
      schedule_locked(actions);
    }
  }
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
  return queue_.size() + key_waiting_;
}

PoolStatus WorkerPool::status() const {
  PoolStatus s{settings_.name, size(), 0, 0, 0, {}};
  struct Seen {
    bool ready, busy, abandoned;
    std::chrono::steady_clock::time_point ready_since;
    std::uint64_t readies;
    std::string last_error;
  };
  std::vector<Seen> seen;
  seen.reserve(workers_.size());
  {
    std::lock_guard lock(mutex_);
    s.ready = ready_count_;
    s.waiting = queue_.size() + key_waiting_;
    for (const auto& w : workers_)
      seen.push_back({w->ready, w->busy, w->abandoned, w->ready_since, w->readies, w->last_error});
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
