#pragma once
// LiveFunction: the function as it runs, across reloads. It owns the
// triggers, one PoolForwarder per pool name (what triggers dispatch to) and
// the generations (app/function_generation.hpp): the current one, and
// earlier ones still finishing their events.
//
// A reload (SIGHUP, POST /reload, --watch), serialized (one at a time):
//   1. loads and checks function.yaml (on a thread of its own: the check
//      may run the interpreter), then builds and starts the new
//      generation's pools;
//   2. waits until every new pool has a ready worker (init_context done),
//      at most spec.readinessTimeout;
//   3. builds and starts the triggers whose settings changed or that are
//      new (a kept trigger goes on untouched: its listener, its broker
//      session, the config it was built from);
//   4. swaps: each forwarder sends new events to the new pool; retired
//      triggers drain and stop; each old pool, once nothing is in flight on
//      it through its forwarder, drains and stops.
// A failure at 1-3 stops what was built and leaves the old generation
// serving; the report says why. Nothing is half-applied.
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "app/function_generation.hpp"
#include "app/pool_forwarder.hpp"
#include "app/reload.hpp"

namespace edgefn {

class LiveFunction {
 public:
  // Loads and checks function.yaml; throws ConfigError or StartError.
  using Loader = std::function<FunctionConfig(const std::filesystem::path&)>;
  using Clock = std::chrono::steady_clock;

  struct TriggerEntry {
    std::unique_ptr<Trigger> trigger;
    const TriggerConfig* config;                       // in the current generation's config
    Dispatcher* pool;                                  // its PoolForwarder
    std::string fingerprint;                           // settings that, changed, replace it
    std::shared_ptr<const FunctionConfig> built_from;  // what `trigger` references
  };

  // A consistent look at the current state, for /status and /ready; holds
  // a lock, so keep it briefly.
  struct View {
    std::unique_lock<std::mutex> lock;
    const FunctionConfig& config;
    const std::vector<TriggerEntry>& triggers;
    const std::map<std::string, std::unique_ptr<WorkerPool>>& pools;
    int generation;
    const std::optional<ReloadReport>& last_reload;
    bool reloading;  // a reload is being prepared
  };

  LiveFunction(PoolContext pools, MetricsRegistry& metrics, Host& host, KindOverrides overrides,
               bool single_threaded_io, Loader loader, std::chrono::milliseconds drain_timeout);
  ~LiveFunction();
  LiveFunction(const LiveFunction&) = delete;
  LiveFunction& operator=(const LiveFunction&) = delete;

  // Builds generation 1 and its triggers; start() starts them. Throws
  // ConfigError, HandlerError or StartError.
  void build(FunctionConfig config);
  void start();
  // Calls `fn` on the io_context once every pool of generation 1 has a
  // ready worker.
  void when_started(UniqueFunction<void()> fn);

  // Reloads from the config file, as above; `done` runs on the io_context
  // with the report. While a reload runs, a POST is refused (409) and a
  // signal or file change is queued (one reload follows). Any thread.
  void reload(std::string cause, UniqueFunction<void(ReloadReport)> done);
  // Told when a reload begins (nullptr; on the thread that asked for it, or
  // the io_context for a queued one) and when it ends (its report, on the
  // io_context); not of a reload refused (409, or draining). For the
  // service manager's RELOADING=1 / READY=1. Set before start().
  void observe_reloads(std::function<void(const ReloadReport*)> observer) { reload_observer_ = std::move(observer); }

  // SIGTERM: no reload starts any more (one being prepared is abandoned);
  // every trigger, retired ones included, drains until `deadline`; then
  // `done` (on the io_context). Once.
  void drain(Clock::time_point deadline, UniqueFunction<void()> done);
  // Stops every generation's pools; `done` on the io_context. Once.
  void stop_pools(UniqueFunction<void()> done);
  // Drops what triggers still hold; after stop_pools.
  void stop_triggers() noexcept;

  View view() const;
  std::size_t in_flight() const;
  int left_running() const;

 private:
  struct Retiring;
  struct Pending;

  bool draining() const;
  void start_reload(std::string cause, UniqueFunction<void(ReloadReport)> done);
  void on_loaded(std::shared_ptr<Pending> pending, std::shared_ptr<const FunctionConfig> config);
  void on_ready(std::shared_ptr<Pending> pending, bool ready);
  void fail(std::shared_ptr<Pending> pending, int status, std::string message);
  void finish(std::shared_ptr<Pending> pending, ReloadReport report);
  void abandon(const std::shared_ptr<FunctionGeneration>& generation);
  void retire_generation(const std::shared_ptr<FunctionGeneration>& old);
  void retire_trigger(TriggerEntry entry);
  PoolForwarder& forwarder(const std::string& pool_name);
  std::string fingerprint(const FunctionConfig& config, const TriggerConfig& trigger) const;
  std::unique_ptr<Trigger> make_trigger(const FunctionConfig& config, const TriggerConfig& trigger);
  void register_pool_metrics_of(const FunctionGeneration& generation);

  const PoolContext pool_context_;
  asio::io_context& io_;
  MetricsRegistry& metrics_;
  Host& host_;
  const KindOverrides overrides_;
  const bool single_threaded_io_;
  const Loader loader_;
  const std::chrono::milliseconds drain_timeout_;
  std::function<void(const ReloadReport*)> reload_observer_;
  const std::shared_ptr<spdlog::logger> log_;
  Counter* reloads_ok_;
  Counter* reloads_failed_;
  Counter* reloads_refused_;

  // Forwarders are never removed: triggers and in-flight events hold them.
  std::mutex forwarders_mutex_;
  std::map<std::string, std::unique_ptr<PoolForwarder>> forwarders_;

  mutable std::mutex mutex_;  // guards the members below
  std::shared_ptr<FunctionGeneration> current_;
  std::vector<std::shared_ptr<FunctionGeneration>> generations_;  // every one not stopped, current included
  std::vector<TriggerEntry> triggers_;
  std::vector<std::shared_ptr<Retiring>> retiring_;
  std::optional<ReloadReport> last_reload_;
  std::shared_ptr<Pending> reloading_;
  bool reload_queued_ = false;
  bool draining_ = false;
  int next_generation_ = 1;
  std::thread loader_thread_;
};

}  // namespace edgefn
