#include "app/live_function.hpp"

#include <algorithm>
#include <limits>
#include <set>

#include <yaml-cpp/yaml.h>

#include "app/observability.hpp"
#include "config/config_error.hpp"
#include "log/log.hpp"
#include "util/duration.hpp"

namespace edgefn {

struct LiveFunction::Pending {
  std::string cause;
  UniqueFunction<void(ReloadReport)> done;
  Clock::time_point started = Clock::now();
  std::shared_ptr<const FunctionConfig> config;
  std::shared_ptr<FunctionGeneration> generation;
};

// A trigger taken out by a reload: draining, then stopped and dropped.
struct LiveFunction::Retiring {
  TriggerEntry entry;
  bool drained = false;
  std::vector<UniqueFunction<void()>> waiters;  // SIGTERM's drain, waiting for this one
};

LiveFunction::LiveFunction(PoolContext pools, MetricsRegistry& metrics, Host& host, KindOverrides overrides,
                           bool single_threaded_io, Loader loader, std::chrono::milliseconds drain_timeout)
    : pool_context_(std::move(pools)),
      io_(pool_context_.io),
      metrics_(metrics),
      host_(host),
      overrides_(std::move(overrides)),
      single_threaded_io_(single_threaded_io),
      loader_(std::move(loader)),
      drain_timeout_(drain_timeout),
      log_(get_logger("reload")) {
  auto reloads = [&](const char* result) {
    return &metrics_.counter("edgefn_reloads_total",
                             "Reloads by result: ok (the new version serves), failed (it did not load, start or "
                             "become ready; the old one serves), refused (another was running, or draining)",
                             {{"result", result}});
  };
  reloads_ok_ = reloads("ok");
  reloads_failed_ = reloads("failed");
  reloads_refused_ = reloads("refused");
}

LiveFunction::~LiveFunction() {
  if (loader_thread_.joinable()) loader_thread_.join();
}

PoolForwarder& LiveFunction::forwarder(const std::string& pool_name) {
  std::lock_guard lock(forwarders_mutex_);
  auto& f = forwarders_[pool_name];
  if (!f) f = std::make_unique<PoolForwarder>(io_, pool_name);
  return *f;
}

// Everything a trigger kind reads when it is built: the trigger's own
// fields and attributes, and the function's name and namespace (stream
// client IDs). numWorkers only for kinds that size something by it.
std::string LiveFunction::fingerprint(const FunctionConfig& config, const TriggerConfig& t) const {
  YAML::Emitter attributes;
  if (t.attributes && t.attributes->defined()) attributes << t.attributes->raw();
  std::string out =
      t.kind + '\n' + t.name + '\n' + pool_name_of(t) + '\n' + t.url + '\n' + t.username + '\n' + t.password + '\n' +
      std::to_string(t.worker_availability_timeout.count()) + '\n' +
      std::to_string(t.worker_termination_timeout.count()) + '\n' + t.explicit_ack_mode + '\n' +
      (t.wait_explicit_ack_during_rebalance ? std::to_string(t.wait_explicit_ack_during_rebalance->count())
                                            : std::string{"-"}) +
      '\n' + config.name + '\n' + config.namespace_name + '\n' + attributes.c_str();
  if (t.kind != "http" && t.kind != "cron") out += '\n' + std::to_string(t.num_workers);
  return out;
}

std::unique_ptr<Trigger> LiveFunction::make_trigger(const FunctionConfig& config, const TriggerConfig& tc) {
  TriggerContext context{io_,
                         config,
                         tc,
                         forwarder(pool_name_of(tc)),
                         metrics_,
                         host_,
                         pool_context_.dev_mode,
                         single_threaded_io_,
                         overrides_.access_log};
  auto trigger = create_trigger(context, overrides_);
  register_trigger_metrics(metrics_, trigger->info(), [this](const std::string& name, const auto& read) {
    std::lock_guard lock(mutex_);
    for (const auto& t : triggers_)
      if (t.trigger->info().name == name) return read(*t.trigger);
    return std::numeric_limits<double>::quiet_NaN();
  });
  return trigger;
}

// The current generation's pool of each name: a retired one may be gone.
void LiveFunction::register_pool_metrics_of(const FunctionGeneration& generation) {
  for (const auto& [name, pool] : generation.pools()) {
    register_pool_metrics(metrics_, name, [this](const std::string& pool_name, const auto& read) {
      std::lock_guard lock(mutex_);
      const WorkerPool* current = current_ ? current_->pool(pool_name) : nullptr;
      return current ? read(*current) : std::numeric_limits<double>::quiet_NaN();
    });
  }
}

void LiveFunction::build(FunctionConfig loaded) {
  auto config = std::make_shared<const FunctionConfig>(std::move(loaded));
  auto generation = std::make_shared<FunctionGeneration>(next_generation_++, config, pool_context_);
  register_pool_metrics_of(*generation);
  std::vector<TriggerEntry> triggers;
  for (const auto& tc : config->triggers) {
    if (tc.disabled) {
      get_logger("processor")->info("trigger '{}' is disabled", tc.name);
      continue;
    }
    auto& f = forwarder(pool_name_of(tc));
    if (!f.target()) f.retarget(generation->pool(pool_name_of(tc)), {});
    triggers.push_back({make_trigger(*config, tc), &tc, &f, fingerprint(*config, tc), config});
  }
  if (triggers.empty()) throw StartError("no enabled triggers: nothing would ever call the handler");
  std::lock_guard lock(mutex_);
  current_ = generation;
  generations_.push_back(generation);
  triggers_ = std::move(triggers);
}

void LiveFunction::start() {
  current_->start();
  for (auto& t : triggers_) t.trigger->start();
}

void LiveFunction::when_started(UniqueFunction<void()> fn) {
  current_->when_ready(Clock::time_point::max(), [fn = std::move(fn)](bool ready) mutable {
    if (ready) fn();
  });
}

LiveFunction::View LiveFunction::view() const {
  std::unique_lock lock(mutex_);
  return View{std::move(lock), *current_->config(),  triggers_, current_->pools(), current_->number(),
              last_reload_,    reloading_ != nullptr};
}

std::size_t LiveFunction::in_flight() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& t : triggers_) n += t.trigger->in_flight();
  for (const auto& r : retiring_) n += r->entry.trigger->in_flight();
  return n;
}

int LiveFunction::left_running() const {
  std::lock_guard lock(mutex_);
  int n = 0;
  for (const auto& g : generations_) n += g->left_running();
  return n;
}

// ---- Reloading ----------------------------------------------------------------

bool LiveFunction::draining() const {
  std::lock_guard lock(mutex_);
  return draining_;
}

void LiveFunction::reload(std::string cause, UniqueFunction<void(ReloadReport)> done) {
  ReloadReport refused;
  refused.cause = cause;
  {
    std::lock_guard lock(mutex_);
    refused.generation = current_->number();
    if (draining_) {
      refused.status = 503;
      refused.message = "the processor is draining: no reload";
    } else if (reloading_) {
      refused.status = 409;
      if (cause == "POST /reload") {
        refused.message = "a reload is already in progress";
      } else {
        reload_queued_ = true;
        refused.message = "a reload is already in progress; another follows it";
      }
    }
  }
  if (refused.status != 200) {
    log_->info("reload ({}) not started: {}", refused.cause, refused.message);
    reloads_refused_->inc();
    asio::post(io_, [done = std::move(done), refused = std::move(refused)]() mutable { done(std::move(refused)); });
    return;
  }
  start_reload(std::move(cause), std::move(done));
}

void LiveFunction::start_reload(std::string cause, UniqueFunction<void(ReloadReport)> done) {
  auto pending = std::make_shared<Pending>();
  pending->cause = std::move(cause);
  pending->done = std::move(done);
  std::filesystem::path file;
  {
    std::lock_guard lock(mutex_);
    reloading_ = pending;
    file = current_->config()->file;
  }
  log_->info("reloading {} ({})", file.string(), pending->cause);
  if (reload_observer_) reload_observer_(nullptr);
  // The previous loader thread posted its result as its last act.
  if (loader_thread_.joinable()) loader_thread_.join();
  loader_thread_ = std::thread([this, pending, file, work = asio::make_work_guard(io_)] {
    std::shared_ptr<const FunctionConfig> config;
    std::string error;
    try {
      config = std::make_shared<const FunctionConfig>(loader_(file));
    } catch (const std::exception& e) {
      error = e.what();
    }
    asio::post(io_, [this, pending, config, error] {
      if (!config)
        fail(pending, 422, error);
      else
        on_loaded(pending, config);
    });
  });
}

void LiveFunction::on_loaded(std::shared_ptr<Pending> pending, std::shared_ptr<const FunctionConfig> config) {
  if (draining()) return fail(pending, 503, "the processor is draining: reload abandoned");
  if (config->disabled) return fail(pending, 422, "the new config sets spec.disable: true; stop the processor instead");
  pending->config = config;
  int number;
  {
    std::lock_guard lock(mutex_);
    number = next_generation_++;
  }
  try {
    pending->generation = std::make_shared<FunctionGeneration>(number, config, pool_context_);
    {
      std::lock_guard lock(mutex_);
      generations_.push_back(pending->generation);
    }
    pending->generation->start();
  } catch (const std::exception& e) {
    return fail(pending, 422, e.what());
  }
  const auto deadline = Clock::now() + config->readiness_timeout;
  pending->generation->when_ready(deadline, [this, pending](bool ready) { on_ready(pending, ready); });
}

void LiveFunction::on_ready(std::shared_ptr<Pending> pending, bool ready) {
  const auto& config = pending->config;
  if (draining()) return fail(pending, 503, "the processor is draining: reload abandoned");
  if (!ready)
    return fail(pending, 422,
                "the new workers were not ready within " + format_duration(config->readiness_timeout) +
                    " (readinessTimeoutSeconds): " + pending->generation->not_ready_detail());

  // Which triggers stay, which are new or replaced.
  ReloadReport report;
  report.cause = pending->cause;
  std::vector<TriggerEntry> next;
  std::vector<TriggerEntry*> kept;
  std::vector<PoolForwarder*> targeted;  // forwarders of pools the old generation lacks
  std::set<std::string> kept_names;
  std::vector<Trigger*> started;
  auto undo = [&](const std::string& message) {
    for (auto* t : started) t->stop();
    for (auto* f : targeted) f->retarget(nullptr, {});
    // Triggers built here are dropped on the io_context: a stopped one may
    // still have a completion queued.
    auto doomed = std::make_shared<std::vector<TriggerEntry>>();
    for (auto& e : next)
      if (!kept_names.count(e.config->name)) doomed->push_back(std::move(e));
    asio::post(io_, [doomed] {});
    fail(pending, 422, message);
  };
  try {
    std::lock_guard lock(mutex_);
    for (const auto& tc : config->triggers) {
      if (tc.disabled) continue;
      auto fp = fingerprint(*config, tc);
      auto old = std::find_if(triggers_.begin(), triggers_.end(), [&](const TriggerEntry& e) {
        return e.trigger->info().name == tc.name && e.fingerprint == fp;
      });
      if (old != triggers_.end()) {
        kept_names.insert(tc.name);
        report.triggers.emplace_back(tc.name, "kept");
        next.push_back({nullptr, &tc, old->pool, fp, nullptr});
        continue;
      }
      const bool existed = std::any_of(triggers_.begin(), triggers_.end(),
                                       [&](const TriggerEntry& e) { return e.trigger->info().name == tc.name; });
      report.triggers.emplace_back(tc.name, existed ? "replaced" : "added");
      auto& f = forwarder(pool_name_of(tc));
      if (!current_->pool(pool_name_of(tc)) && f.target() != pending->generation->pool(pool_name_of(tc))) {
        f.retarget(pending->generation->pool(pool_name_of(tc)), {});
        targeted.push_back(&f);
      }
      next.push_back({make_trigger(*config, tc), &tc, &f, fp, config});
    }
    if (next.empty()) throw StartError("the new config has no enabled trigger");
  } catch (const std::exception& e) {
    return undo(e.what());
  }
  for (auto& e : next) {
    if (!e.trigger) continue;
    try {
      e.trigger->start();
      started.push_back(e.trigger.get());
    } catch (const std::exception& ex) {
      return undo(std::string("trigger '") + e.config->name + "': " + ex.what() +
                  " (a trigger whose settings changed starts beside the old one before it is retired: an address "
                  "the old one holds cannot be taken over live; restart the processor to apply this change)");
    }
  }

  // The swap.
  std::shared_ptr<FunctionGeneration> old;
  std::vector<TriggerEntry> retired;
  {
    std::lock_guard lock(mutex_);
    for (auto& e : next) {
      if (e.trigger) continue;
      auto it = std::find_if(triggers_.begin(), triggers_.end(), [&](const TriggerEntry& o) {
        return o.trigger && o.trigger->info().name == e.config->name;
      });
      e.trigger = std::move(it->trigger);
      e.built_from = std::move(it->built_from);
    }
    for (auto& o : triggers_) {
      if (!o.trigger) continue;
      if (std::none_of(report.triggers.begin(), report.triggers.end(),
                       [&](const auto& r) { return r.first == o.trigger->info().name; }))
        report.triggers.emplace_back(o.trigger->info().name, "removed");
      retired.push_back(std::move(o));
    }
    triggers_ = std::move(next);
    old = std::exchange(current_, pending->generation);
    report.generation = current_->number();
    for (const auto& [name, pool] : current_->pools()) report.pools.emplace_back(name, pool->size());
  }
  register_pool_metrics_of(*pending->generation);
  for (auto& r : retired) retire_trigger(std::move(r));
  retire_generation(old);
  report.message = "generation " + std::to_string(report.generation) + " serving";
  finish(pending, std::move(report));
}

// Each old pool's forwarder points at its successor (or at nothing); the
// old generation drains and stops once nothing is in flight on any of
// its pools through them.
void LiveFunction::retire_generation(const std::shared_ptr<FunctionGeneration>& old) {
  const auto& pools = old->pools();
  auto left = std::make_shared<std::atomic<std::size_t>>(pools.size() + 1);
  auto on_idle = [this, old, left] {
    if (left->fetch_sub(1) != 1) return;
    log_->info("generation {}: its events have finished; stopping its workers", old->number());
    old->drain();
    old->stop([this, old] {
      std::lock_guard lock(mutex_);
      std::erase(generations_, old);
    });
  };
  std::shared_ptr<FunctionGeneration> next;
  {
    std::lock_guard lock(mutex_);
    next = current_;
  }
  for (const auto& [name, pool] : pools) forwarder(name).retarget(next->pool(name), on_idle);
  on_idle();
}

void LiveFunction::retire_trigger(TriggerEntry entry) {
  auto retiring = std::make_shared<Retiring>();
  retiring->entry = std::move(entry);
  {
    std::lock_guard lock(mutex_);
    retiring_.push_back(retiring);
  }
  log_->info("trigger '{}' retired: draining", retiring->entry.trigger->info().name);
  retiring->entry.trigger->drain(Clock::now() + drain_timeout_, [this, retiring] {
    std::vector<UniqueFunction<void()>> waiters;
    {
      std::lock_guard lock(mutex_);
      retiring->drained = true;
      waiters.swap(retiring->waiters);
      std::erase(retiring_, retiring);
    }
    retiring->entry.trigger->stop();
    for (auto& w : waiters) w();
    // Dropped later: the trigger may still have completions queued.
    asio::post(io_, [retiring] {});
  });
}

void LiveFunction::abandon(const std::shared_ptr<FunctionGeneration>& generation) {
  if (!generation) return;
  generation->cancel_wait();
  generation->stop([this, generation] {
    std::lock_guard lock(mutex_);
    std::erase(generations_, generation);
  });
}

void LiveFunction::fail(std::shared_ptr<Pending> pending, int status, std::string message) {
  abandon(pending->generation);
  ReloadReport report;
  report.cause = pending->cause;
  report.status = status;
  report.message = std::move(message);
  {
    std::lock_guard lock(mutex_);
    report.generation = current_->number();
  }
  finish(std::move(pending), std::move(report));
}

void LiveFunction::finish(std::shared_ptr<Pending> pending, ReloadReport report) {
  report.seconds = std::chrono::duration<double>(Clock::now() - pending->started).count();
  if (report.ok()) {
    std::string changes;
    for (const auto& [name, change] : report.triggers) changes += (changes.empty() ? "" : ", ") + name + " " + change;
    log_->info("reload ({}) done in {:.2f}s: {}; triggers: {}", report.cause, report.seconds, report.message, changes);
  } else {
    log_->error("reload ({}) failed, generation {} goes on serving: {}", report.cause, report.generation,
                report.message);
  }
  (report.ok()                                    ? reloads_ok_
   : report.status == 409 || report.status == 503 ? reloads_refused_
                                                  : reloads_failed_)
      ->inc();
  bool again = false;
  {
    std::lock_guard lock(mutex_);
    last_reload_ = report;
    reloading_.reset();
    again = std::exchange(reload_queued_, false) && !draining_;
  }
  if (reload_observer_) reload_observer_(&report);
  pending->done(std::move(report));
  if (again) start_reload("queued", [](ReloadReport) {});
}

// ---- Draining and stopping ------------------------------------------------------

void LiveFunction::drain(Clock::time_point deadline, UniqueFunction<void()> done) {
  struct Countdown {
    std::atomic<std::size_t> left{1};
    UniqueFunction<void()> done;
    void one() {
      if (left.fetch_sub(1) == 1) done();
    }
  };
  auto countdown = std::make_shared<Countdown>();
  countdown->done = std::move(done);
  std::shared_ptr<FunctionGeneration> preparing;
  std::vector<Trigger*> triggers;
  {
    std::lock_guard lock(mutex_);
    draining_ = true;
    reload_queued_ = false;
    if (reloading_) preparing = reloading_->generation;
    for (auto& t : triggers_) triggers.push_back(t.trigger.get());
    for (auto& r : retiring_) {
      if (r->drained) continue;
      ++countdown->left;
      r->waiters.push_back([countdown] { countdown->one(); });
    }
    for (auto& g : generations_)
      if (g != preparing) g->drain();
  }
  // A generation still waiting for its workers is not waited for.
  if (preparing) preparing->cancel_wait();
  countdown->left += triggers.size();
  for (auto* t : triggers) t->drain(deadline, [countdown] { countdown->one(); });
  countdown->one();
}

void LiveFunction::stop_pools(UniqueFunction<void()> done) {
  auto generations = [this] {
    std::lock_guard lock(mutex_);
    return generations_;
  }();
  struct Countdown {
    std::atomic<std::size_t> left;
    UniqueFunction<void()> done;
  };
  auto countdown = std::make_shared<Countdown>();
  countdown->left = generations.size() + 1;
  countdown->done = std::move(done);
  auto one = [countdown] {
    if (countdown->left.fetch_sub(1) == 1) countdown->done();
  };
  for (auto& g : generations) {
    g->cancel_wait();
    g->stop(one);
  }
  one();
}

void LiveFunction::stop_triggers() noexcept {
  std::lock_guard lock(mutex_);
  for (auto& t : triggers_) t.trigger->stop();
  for (auto& r : retiring_) r->entry.trigger->stop();
}

}  // namespace edgefn
