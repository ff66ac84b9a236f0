#include "app/pool_forwarder.hpp"

namespace edgefn {

void PoolForwarder::retarget(WorkerPool* next, UniqueFunction<void()> idle) {
  bool idle_now = false;
  {
    std::lock_guard lock(mutex_);
    auto previous = std::exchange(current_, std::make_shared<Route>());
    current_->pool = next;
    previous->retired = true;
    if (previous->in_flight == 0)
      idle_now = true;
    else
      previous->idle = std::move(idle);
  }
  if (idle_now && idle) idle();
}

WorkerPool* PoolForwarder::target() const {
  std::lock_guard lock(mutex_);
  return current_->pool;
}

std::shared_ptr<PoolForwarder::Route> PoolForwarder::acquire(const std::string& key) {
  std::lock_guard lock(mutex_);
  std::shared_ptr<Route> route = current_;
  if (!key.empty()) {
    auto& k = keys_[key];
    if (!k.route) k.route = current_;
    ++k.in_flight;
    route = k.route;
  }
  ++route->in_flight;
  return route;
}

void PoolForwarder::release(const std::shared_ptr<Route>& route, const std::string& key) noexcept {
  UniqueFunction<void()> idle;
  {
    std::lock_guard lock(mutex_);
    if (!key.empty()) {
      auto it = keys_.find(key);
      if (it != keys_.end() && --it->second.in_flight == 0) keys_.erase(it);
    }
    if (--route->in_flight == 0 && route->retired) idle = std::move(route->idle);
  }
  if (idle) idle();
}

void PoolForwarder::dispatch(Event event, DispatchOptions options, Done done) noexcept {
  std::string key = options.ordering_key;
  auto route = acquire(key);
  if (!route->pool) {
    release(route, key);
    asio::post(io_, [done = std::move(done)]() mutable {
      done(tl::unexpected(DispatchError{DispatchError::Code::kStopping, "no pool"}));
    });
    return;
  }
  route->pool->dispatch(std::move(event), std::move(options),
                        [this, route, key = std::move(key), done = std::move(done)](DispatchResult result) mutable {
                          release(route, key);
                          done(std::move(result));
                        });
}

awaitable<DispatchResult> PoolForwarder::dispatch(Event event, DispatchOptions options) {
  std::string key = options.ordering_key;
  auto route = acquire(key);
  // Released however the coroutine ends, even destroyed while suspended.
  struct Release {
    PoolForwarder* self;
    const std::shared_ptr<Route>& route;
    const std::string& key;
    ~Release() { self->release(route, key); }
  } release_on_exit{this, route, key};
  if (!route->pool) co_return tl::unexpected(DispatchError{DispatchError::Code::kStopping, "no pool"});
  co_return co_await route->pool->dispatch(std::move(event), std::move(options));
}

void PoolForwarder::when_ready(UniqueFunction<void()> fn) {
  if (auto* pool = target()) pool->when_ready(std::move(fn));
}

void PoolForwarder::run_drain_callbacks() noexcept {
  if (auto* pool = target()) pool->run_drain_callbacks();
}

int PoolForwarder::size() const noexcept {
  auto* pool = target();
  return pool ? pool->size() : 0;
}

int PoolForwarder::ready_workers() const noexcept {
  auto* pool = target();
  return pool ? pool->ready_workers() : 0;
}

}  // namespace edgefn
