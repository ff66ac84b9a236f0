#pragma once
// A generation: one loaded function.yaml and the worker pools built from
// it. The daemon starts with generation 1; each successful reload
// (app/live_function.hpp) starts a new one, swaps it in and retires the
// previous one once its events have finished. The config is shared: a
// trigger kept across a reload still reads the one it was built from.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "app/factories.hpp"
#include "worker/worker_pool.hpp"

namespace edgefn {

// What building pools needs from the daemon. References outlive every
// generation.
struct PoolContext {
  asio::io_context& io;
  bool dev_mode = false;
  FunctionUrls function_urls;
  HostServices* host = nullptr;
  MetricsRegistry* metrics = nullptr;
  std::optional<Credentials> worker_user;
};

// The pool an enabled trigger dispatches to: its workerAllocatorName, else
// its own name.
std::string pool_name_of(const TriggerConfig& trigger);

class FunctionGeneration : public std::enable_shared_from_this<FunctionGeneration> {
 public:
  // Builds (does not start) one pool per pool name of the enabled
  // triggers. Throws HandlerError or StartError.
  FunctionGeneration(int number, std::shared_ptr<const FunctionConfig> config, const PoolContext& context);
  ~FunctionGeneration();
  FunctionGeneration(const FunctionGeneration&) = delete;
  FunctionGeneration& operator=(const FunctionGeneration&) = delete;

  int number() const noexcept { return number_; }
  const std::shared_ptr<const FunctionConfig>& config() const noexcept { return config_; }
  const std::map<std::string, std::unique_ptr<WorkerPool>>& pools() const noexcept { return pools_; }
  WorkerPool* pool(const std::string& name) const;

  // Starts every pool's workers. Throws StartError.
  void start();
  // `done(true)` on the io_context once every pool has a ready worker, or
  // `done(false)` at `deadline` if some pool still has none. Once.
  void when_ready(std::chrono::steady_clock::time_point deadline, UniqueFunction<void(bool)> done);
  // Settles a when_ready() still waiting with `done(false)` now, on this
  // thread (the daemon drains). Any thread.
  void cancel_wait() noexcept;
  // Each pool not ready, with its workers' own account, for a reload's
  // error message.
  std::string not_ready_detail() const;

  // Runtimes stop replacing processes and run their drain callbacks.
  void drain() noexcept;
  // Stops every pool once (later calls only add a `done`); each `done`
  // runs on the io_context when all have stopped. Any thread.
  void stop(UniqueFunction<void()> done) noexcept;
  bool stopped() const noexcept;
  int left_running() const noexcept;

 private:
  // The smallest workerTerminationTimeout among the pool's triggers.
  std::chrono::milliseconds termination_timeout(const std::string& pool_name) const;

  asio::io_context& io_;
  const int number_;
  const std::shared_ptr<const FunctionConfig> config_;
  std::map<std::string, std::unique_ptr<WorkerPool>> pools_;
  bool started_ = false;
  struct Waiting;
  std::weak_ptr<Waiting> waiting_;

  mutable std::mutex mutex_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::vector<UniqueFunction<void()>> stop_waiters_;
};

}  // namespace edgefn
