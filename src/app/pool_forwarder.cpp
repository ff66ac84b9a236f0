#include "app/pool_forwarder.hpp"

namespace edgefn {

struct PoolForwarder::Route {
  WorkerPool* pool = nullptr;
  std::size_t in_flight = 0;
  bool retired = false;
  UniqueFunction<void()> idle;
};

struct PoolForwarder::State {
  struct KeyRoute {
    std::shared_ptr<Route> route;
    std::size_t in_flight = 0;
  };

  std::mutex mutex;
  std::shared_ptr<Route> current = std::make_shared<Route>();
  std::unordered_map<std::string, KeyRoute> keys;

  // Whose pool takes an event of `key`, counted in flight.
  std::shared_ptr<Route> acquire(const std::string& key) {
    std::lock_guard lock(mutex);
    std::shared_ptr<Route> route = current;
    if (!key.empty()) {
      auto& k = keys[key];
      if (!k.route) k.route = current;
      ++k.in_flight;
      route = k.route;
    }
    ++route->in_flight;
    return route;
  }

  void release(const std::shared_ptr<Route>& route, const std::string& key) noexcept {
    UniqueFunction<void()> idle;
    {
      std::lock_guard lock(mutex);
      if (!key.empty()) {
        auto it = keys.find(key);
        if (it != keys.end() && --it->second.in_flight == 0) keys.erase(it);
      }
      if (--route->in_flight == 0 && route->retired) idle = std::move(route->idle);
    }
    if (idle) idle();
  }
};

PoolForwarder::PoolForwarder(asio::io_context& io, std::string name)
    : io_(io), name_(std::move(name)), state_(std::make_shared<State>()) {}

void PoolForwarder::retarget(WorkerPool* next, UniqueFunction<void()> idle) {
  bool idle_now = false;
  {
    std::lock_guard lock(state_->mutex);
    auto previous = std::exchange(state_->current, std::make_shared<Route>());
    state_->current->pool = next;
    previous->retired = true;
    if (previous->in_flight == 0)
      idle_now = true;
    else
      previous->idle = std::move(idle);
  }
  if (idle_now && idle) idle();
}

WorkerPool* PoolForwarder::target() const {
  std::lock_guard lock(state_->mutex);
  return state_->current->pool;
}

void PoolForwarder::dispatch(Event event, DispatchOptions options, Done done) noexcept {
  std::string key = options.ordering_key;
  auto route = state_->acquire(key);
  if (!route->pool) {
    state_->release(route, key);
    asio::post(io_, [done = std::move(done)]() mutable {
      done(tl::unexpected(DispatchError{DispatchError::Code::kStopping, "no pool"}));
    });
    return;
  }
  route->pool->dispatch(
      std::move(event), std::move(options),
      [state = state_, route, key = std::move(key), done = std::move(done)](DispatchResult result) mutable {
        state->release(route, key);
        done(std::move(result));
      });
}

awaitable<DispatchResult> PoolForwarder::dispatch(Event event, DispatchOptions options) {
  std::string key = options.ordering_key;
  auto state = state_;
  auto route = state->acquire(key);
  // Released however the coroutine ends, even destroyed while suspended.
  struct Release {
    const std::shared_ptr<State>& state;
    const std::shared_ptr<Route>& route;
    const std::string& key;
    ~Release() { state->release(route, key); }
  } release_on_exit{state, route, key};
  if (!route->pool) co_return tl::unexpected(DispatchError{DispatchError::Code::kStopping, "no pool"});
  co_return co_await route->pool->dispatch(std::move(event), std::move(options));
}

std::optional<DispatchResult> PoolForwarder::try_run_inline(Event& event, const DispatchOptions& options) noexcept {
  static const std::string kNoKey;
  if (!options.ordering_key.empty()) return std::nullopt;
  auto route = state_->acquire(kNoKey);
  std::optional<DispatchResult> result;
  if (route->pool) result = route->pool->try_run_inline(event, options);
  state_->release(route, kNoKey);
  return result;
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
