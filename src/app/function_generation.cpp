#include "app/function_generation.hpp"

#include <algorithm>

#include "config/config_error.hpp"

namespace edgefn {

std::string pool_name_of(const TriggerConfig& trigger) {
  return trigger.worker_allocator_name.empty() ? trigger.name : trigger.worker_allocator_name;
}

FunctionGeneration::FunctionGeneration(int number, std::shared_ptr<const FunctionConfig> config,
                                       const PoolContext& context)
    : io_(context.io), number_(number), config_(std::move(config)) {
  // Triggers naming the same workerAllocatorName share one pool, sized by
  // the first of them.
  for (const auto& tc : config_->triggers) {
    if (tc.disabled) continue;
    const auto name = pool_name_of(tc);
    auto& pool = pools_[name];
    if (pool) continue;
    // The same series for every generation's pool of this name.
    Histogram* allocation_wait =
        context.metrics && context.metrics->recording()
            ? &context.metrics->histogram("edgefn_worker_allocation_wait_seconds",
                                          "Time an event waited for a worker of the pool, from dispatch to start",
                                          {{"pool", name}})
            : nullptr;
    pool = std::make_unique<WorkerPool>(
        io_, PoolSettings{name, config_->event_timeout, allocation_wait},
        make_runtimes({io_, *config_, tc, name, tc.num_workers, context.dev_mode, context.function_urls, context.host,
                       context.metrics, context.worker_user}));
  }
}

FunctionGeneration::~FunctionGeneration() = default;

WorkerPool* FunctionGeneration::pool(const std::string& name) const {
  auto it = pools_.find(name);
  return it == pools_.end() ? nullptr : it->second.get();
}

void FunctionGeneration::start() {
  started_ = true;
  for (auto& [name, pool] : pools_) pool->start();
}

struct FunctionGeneration::Waiting {
  std::mutex mutex;
  std::size_t left;
  UniqueFunction<void(bool)> done;
  asio::steady_timer timer;
  Waiting(asio::io_context& io, std::size_t n, UniqueFunction<void(bool)> d) : left(n), done(std::move(d)), timer(io) {}
  void settle(bool ready) {
    UniqueFunction<void(bool)> fn;
    {
      std::lock_guard lock(mutex);
      if (!done) return;
      fn = std::move(done);
      done = {};
      timer.cancel();
    }
    fn(ready);
  }
};

void FunctionGeneration::when_ready(std::chrono::steady_clock::time_point deadline, UniqueFunction<void(bool)> done) {
  auto waiting = std::make_shared<Waiting>(io_, pools_.size(), std::move(done));
  {
    std::lock_guard lock(mutex_);
    waiting_ = waiting;
  }
  if (pools_.empty()) {
    asio::post(io_, [waiting] { waiting->settle(true); });
    return;
  }
  if (deadline != std::chrono::steady_clock::time_point::max()) {
    std::lock_guard lock(waiting->mutex);
    waiting->timer.expires_at(deadline);
    waiting->timer.async_wait([waiting](error_code ec) {
      if (!ec) waiting->settle(false);
    });
  }
  for (auto& [name, pool] : pools_) {
    pool->when_ready([waiting] {
      bool all = false;
      {
        std::lock_guard lock(waiting->mutex);
        all = --waiting->left == 0;
      }
      if (all) waiting->settle(true);
    });
  }
}

void FunctionGeneration::cancel_wait() noexcept {
  std::shared_ptr<Waiting> waiting;
  {
    std::lock_guard lock(mutex_);
    waiting = waiting_.lock();
  }
  if (waiting) waiting->settle(false);
}

std::string FunctionGeneration::not_ready_detail() const {
  std::string out;
  for (const auto& [name, pool] : pools_) {
    if (pool->ready_workers() > 0) continue;
    if (!out.empty()) out += "; ";
    out += "pool '" + name + "' has no ready worker";
    for (const auto& worker : pool->status().workers) {
      if (worker.detail.empty()) continue;
      out += " (worker " + std::to_string(worker.id) + ": " + worker.detail + ")";
      break;
    }
  }
  return out;
}

void FunctionGeneration::drain() noexcept {
  for (auto& [name, pool] : pools_) pool->drain();
}

std::chrono::milliseconds FunctionGeneration::termination_timeout(const std::string& pool_name) const {
  auto per_worker = std::chrono::milliseconds{10'000};
  for (const auto& tc : config_->triggers)
    if (!tc.disabled && pool_name_of(tc) == pool_name) per_worker = std::min(per_worker, tc.worker_termination_timeout);
  return per_worker;
}

void FunctionGeneration::stop(UniqueFunction<void()> done) noexcept {
  bool first = false;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) {
      asio::post(io_, std::move(done));
      return;
    }
    stop_waiters_.push_back(std::move(done));
    first = !std::exchange(stopping_, true);
  }
  if (!first) return;
  auto self = shared_from_this();
  auto left = std::make_shared<std::atomic<std::size_t>>(pools_.size());
  auto all_stopped = [self] {
    std::vector<UniqueFunction<void()>> waiters;
    {
      std::lock_guard lock(self->mutex_);
      self->stopped_ = true;
      waiters.swap(self->stop_waiters_);
    }
    for (auto& w : waiters) w();
  };
  if (pools_.empty()) {
    asio::post(io_, all_stopped);
    return;
  }
  for (auto& [name, pool] : pools_) {
    pool->stop(termination_timeout(name), [left, all_stopped] {
      if (left->fetch_sub(1) == 1) all_stopped();
    });
  }
}

bool FunctionGeneration::stopped() const noexcept {
  std::lock_guard lock(mutex_);
  return stopped_;
}

int FunctionGeneration::left_running() const noexcept {
  int left = 0;
  for (const auto& [name, pool] : pools_) left += pool->left_running();
  return left;
}

}  // namespace edgefn
