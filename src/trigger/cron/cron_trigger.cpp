#include "trigger/cron/cron_trigger.hpp"

#include <algorithm>
#include <limits>
#include <optional>

#include "log/log.hpp"
#include "trigger/access_log.hpp"
#include "trigger/event_metrics.hpp"
#include "util/duration.hpp"

namespace edgefn {
namespace {

using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

constexpr std::int64_t kNoTime = std::numeric_limits<std::int64_t>::min();
// Missed ticks are summarised at most this often, so a handler slower than
// its interval does not log a line per tick.
constexpr auto kMissedLogEvery = std::chrono::seconds{10};
// Asio computes a system_timer's wait once per reactor wake-up and caps it
// at five minutes; re-arming every minute bounds, independently of that
// detail, how long a forward jump of the wall clock goes unnoticed.
constexpr auto kMaxWallClockWait = std::chrono::seconds{60};
// Truncated handler error bodies in the log.
constexpr std::size_t kLoggedBodyLimit = 200;

std::int64_t to_nanos(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::string iso_utc(std::int64_t nanos) {
  return cctz::format("%Y-%m-%dT%H:%M:%E3SZ", SystemTime{std::chrono::nanoseconds{nanos}}, cctz::utc_time_zone());
}

struct Metrics {
  Counter* ticks;
  Counter* missed;
  Histogram* lateness;
  EventMetrics events;
};

Metrics register_metrics(MetricsRegistry& m, const std::string& trigger) {
  return Metrics{
      &m.counter("edgefn_cron_ticks_total", "Cron ticks dispatched", {{"trigger", trigger}}),
      &m.counter("edgefn_cron_missed_ticks_total", "Cron ticks skipped because the previous tick ran past them",
                 {{"trigger", trigger}}),
      &m.histogram("edgefn_cron_lateness_seconds", "Cron tick dispatch start minus its scheduled time",
                   {{"trigger", trigger}}),
      EventMetrics(m, trigger),
  };
}

// Shared by the trigger object and its tick loop, which holds it by
// shared_ptr: the loop may outlive the trigger object by a cancelled wait.
// The loop and the timers live on `strand`; the rest is atomics or
// immutable after construction.
struct Core {
  Core(const TriggerContext& ctx, CronSettings cron_settings)
      : strand(asio::make_strand(ctx.io)),
        info{"cron", ctx.config.name},
        settings(std::move(cron_settings)),
        pool(ctx.pool),
        availability_timeout(ctx.config.worker_availability_timeout),
        metrics(register_metrics(ctx.metrics, ctx.config.name)),
        logger(get_logger("trigger.cron." + ctx.config.name)),
        access(info, ctx.access_log || ctx.config.access_log),
        steady_timer(strand),
        system_timer(strand),
        drain_timer(strand) {}

  asio::strand<asio::io_context::executor_type> strand;
  TriggerInfo info;
  const CronSettings settings;
  Dispatcher& pool;
  std::chrono::milliseconds availability_timeout;
  Metrics metrics;
  std::shared_ptr<spdlog::logger> logger;
  AccessLog access;
  // An interval is elapsed time, so it runs on the steady clock and is
  // immune to wall-clock changes. A schedule names wall-clock instants, so
  // it waits on the system clock, whose timer follows the clock when NTP or
  // an operator moves it.
  asio::steady_timer steady_timer;
  asio::system_timer system_timer;
  asio::steady_timer drain_timer;

  std::atomic<bool> stopping{false};
  std::atomic<bool> paused{false};
  std::atomic<std::size_t> in_flight{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::int64_t> max_lateness_ns{0};
  std::atomic<std::int64_t> last_tick_ns{kNoTime};
  std::atomic<std::int64_t> next_tick_ns{kNoTime};

  // Strand only.
  std::uint64_t unlogged_missed = 0;
  std::optional<SteadyClock::time_point> last_missed_log;
  UniqueFunction<void()> drained;  // drain()'s done, until the tick in flight is answered

  void note_missed(std::uint64_t count, bool capped) {
    if (count == 0) return;
    metrics.missed->inc(count);
    unlogged_missed += count;
    const auto now = SteadyClock::now();
    if (last_missed_log && now - *last_missed_log < kMissedLogEvery) return;
    logger->warn(
        "missed {}{} tick(s){}: a tick still waiting for a worker or in the handler ran past them "
        "(missed ticks are not replayed; {} missed in all)",
        capped ? "at least " : "", unlogged_missed,
        last_missed_log ? " in the last " + format_duration(now - *last_missed_log) : std::string{},
        metrics.missed->value());
    unlogged_missed = 0;
    last_missed_log = now;
  }

  Event make_event() const {
    Event e;
    e.id = new_event_id();
    e.trigger = &info;
    e.method = settings.event.method;
    e.path = settings.event.path;
    e.content_type = settings.event.content_type;
    e.headers = settings.event.headers;
    e.body = settings.event.body;
    e.timestamp = SystemClock::now();
    return e;
  }

  // Strand only: the drain is over once no tick is in flight.
  void maybe_drained() {
    if (stopping.load() && in_flight.load() == 0 && drained) {
      auto done = std::move(drained);
      done();
    }
  }

  awaitable<void> fire(std::chrono::nanoseconds lateness) {
    if (paused.load()) {
      logger->debug("paused: skipping a tick");
      metrics.missed->inc();
      co_return;
    }
    const auto late_ns = std::max<std::int64_t>(0, lateness.count());
    metrics.lateness->observe(static_cast<double>(late_ns) / 1e9);
    auto seen = max_lateness_ns.load(std::memory_order_relaxed);
    while (late_ns > seen && !max_lateness_ns.compare_exchange_weak(seen, late_ns, std::memory_order_relaxed)) {
    }

    Event event = make_event();
    const auto id = event.id;
    // Not known until this tick is answered (ticks are serialised).
    next_tick_ns.store(kNoTime, std::memory_order_relaxed);
    last_tick_ns.store(to_nanos(event.timestamp), std::memory_order_relaxed);
    metrics.ticks->inc();
    in_flight.fetch_add(1, std::memory_order_relaxed);
    logger->debug("tick {} ({} ms late)", id, late_ns / 1'000'000);
    std::optional<AccessLog::Entry> access_entry;
    if (access.wanted()) access_entry = AccessLog::entry(event);
    const auto started = SteadyClock::now();
    auto result = co_await pool.dispatch(std::move(event), DispatchOptions::within(availability_timeout));
    const auto took = SteadyClock::now() - started;
    metrics.events.record(result, took);
    if (access_entry) access.write(*access_entry, result, took);
    in_flight.fetch_sub(1, std::memory_order_relaxed);
    maybe_drained();

    if (result) {
      if (result->status < 500) co_return;
      failed.fetch_add(1, std::memory_order_relaxed);
      // Nobody receives a cron tick's answer: the log is where an error shows.
      logger->warn("tick {}: handler answered {}: {}", id, result->status,
                   result->body.substr(0, std::min(result->body.size(), kLoggedBodyLimit)));
      co_return;
    }
    const auto& error = result.error();
    failed.fetch_add(1, std::memory_order_relaxed);
    switch (error.code) {
      case DispatchError::Code::kOverloaded:
        logger->warn("tick {} dropped: no worker became free within {} ms (workerAvailabilityTimeoutMilliseconds)", id,
                     availability_timeout.count());
        break;
      case DispatchError::Code::kTimedOut:
        logger->warn("tick {}: {} (spec.eventTimeout)", id, error.detail);
        break;
      case DispatchError::Code::kCrashed:
        logger->error("tick {}: the worker failed: {}", id, error.detail);
        break;
      case DispatchError::Code::kStopping:
      case DispatchError::Code::kCancelled:
        logger->info("tick {} dropped: the processor is stopping", id);
        break;
    }
  }
};

awaitable<void> run_interval(std::shared_ptr<Core> core, std::chrono::nanoseconds period) {
  const auto start = SteadyClock::now();
  std::uint64_t last = 0;
  while (!core->stopping.load()) {
    const auto step = next_interval_tick(SteadyClock::now() - start, period, last);
    core->note_missed(step.missed, false);
    const auto due = start + period * static_cast<std::int64_t>(step.index);
    core->next_tick_ns.store(to_nanos(SystemClock::now() + (due - SteadyClock::now())), std::memory_order_relaxed);
    core->steady_timer.expires_at(due);
    error_code ec;
    co_await core->steady_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (core->stopping.load()) break;
    if (ec) continue;
    last = step.index;
    co_await core->fire(SteadyClock::now() - due);
  }
}

awaitable<void> run_schedule(std::shared_ptr<Core> core) {
  const CronSchedule& schedule = *core->settings.schedule;
  SystemTime last = SystemClock::now();
  while (!core->stopping.load()) {
    const auto step = next_schedule_tick(schedule, last, SystemClock::now());
    core->note_missed(step.missed, step.missed_capped);
    if (!step.at) {
      core->next_tick_ns.store(kNoTime, std::memory_order_relaxed);
      core->logger->warn("schedule '{}' has no firing time in the next {} years; no further ticks",
                         core->settings.schedule_text, CronSchedule::kSearchYears);
      break;
    }
    const SystemTime due = *step.at;
    core->next_tick_ns.store(to_nanos(due), std::memory_order_relaxed);
    while (!core->stopping.load() && SystemClock::now() < due) {
      core->system_timer.expires_at(std::min(due, SystemClock::now() + kMaxWallClockWait));
      error_code ec;
      co_await core->system_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (core->stopping.load()) break;
    last = due;
    co_await core->fire(SystemClock::now() - due);
  }
}

awaitable<void> run(std::shared_ptr<Core> core) {
  try {
    if (core->settings.interval)
      co_await run_interval(core, *core->settings.interval);
    else if (auto every = core->settings.schedule->every())
      co_await run_interval(core, *every);  // @every is a period, not wall-clock instants
    else
      co_await run_schedule(core);
  } catch (const std::exception& e) {
    core->logger->error("tick loop failed, no further ticks: {}", e.what());
  }
  core->next_tick_ns.store(kNoTime, std::memory_order_relaxed);
}

class CronTrigger final : public Trigger {
 public:
  CronTrigger(const TriggerContext& ctx, CronSettings settings)
      : core_(std::make_shared<Core>(ctx, std::move(settings))) {}

  ~CronTrigger() override { stop(); }

  const TriggerInfo& info() const noexcept override { return core_->info; }

  void start() override {
    const auto& s = core_->settings;
    if (s.interval) {
      core_->logger->info("ticking every {}", format_duration(*s.interval));
    } else if (auto every = s.schedule->every()) {
      core_->logger->info("schedule '{}': ticking every {}", s.schedule_text, format_duration(*every));
    } else {
      auto next = s.schedule->next(SystemClock::now());
      core_->logger->info("schedule '{}' in time zone {}; first tick at {}", s.schedule_text, s.schedule->zone().name(),
                          next ? iso_utc(to_nanos(*next)) : std::string{"never"});
    }
    asio::co_spawn(core_->strand, run(core_), asio::detached);
  }

  void pause() noexcept override { core_->paused.store(true); }
  void resume() noexcept override { core_->paused.store(false); }

  // No tick is fired from now on; the one in flight, if any, is answered
  // (or the deadline passes) before `done`.
  void drain(Clock::time_point deadline, UniqueFunction<void()> done) noexcept override {
    auto fire = run_once(std::move(done));
    asio::post(core_->strand, [core = core_, deadline, fire] {
      core->stopping.store(true);
      core->steady_timer.cancel();
      core->system_timer.cancel();
      core->drained = fire;
      core->drain_timer.expires_at(deadline);
      core->drain_timer.async_wait([fire](error_code ec) {
        if (!ec) fire();
      });
      core->maybe_drained();
    });
  }

  std::size_t in_flight() const noexcept override { return core_->in_flight.load(std::memory_order_relaxed); }

  void stop() noexcept override {
    asio::post(core_->strand, [core = core_] {
      core->stopping.store(true);
      core->steady_timer.cancel();
      core->system_timer.cancel();
      core->drain_timer.cancel();
    });
  }

  std::string address() const override {
    const auto& s = core_->settings;
    if (s.interval) return "every " + format_duration(*s.interval);
    return "schedule '" + s.schedule_text + "' (" + s.schedule->zone().name() + ")";
  }

  void write_status(JsonWriter& out) const override {
    const auto& s = core_->settings;
    if (s.interval) {
      out.key("interval").value(format_duration(*s.interval));
    } else {
      out.key("schedule").value(s.schedule_text);
      out.key("timezone").value(s.schedule->zone().name());
    }
    out.key("ticks").value(core_->metrics.ticks->value());
    out.key("missed").value(core_->metrics.missed->value());
    out.key("failed").value(core_->failed.load(std::memory_order_relaxed));
    out.key("paused").value(core_->paused.load());
    out.key("inFlight").value(static_cast<std::uint64_t>(in_flight()));
    auto instant = [&out](const char* key, std::int64_t nanos) {
      out.key(key);
      if (nanos == kNoTime)
        out.null();
      else
        out.value(iso_utc(nanos));
    };
    instant("lastTick", core_->last_tick_ns.load(std::memory_order_relaxed));
    instant("nextTick", core_->next_tick_ns.load(std::memory_order_relaxed));
    // p50 and p99 are the upper bounds of the histogram buckets they fall
    // in; the maximum is exact.
    const auto& lateness = *core_->metrics.lateness;
    out.key("lateness").begin_object();
    out.key("p50Seconds").value(lateness.quantile_upper_bound(0.5));
    out.key("p99Seconds").value(lateness.quantile_upper_bound(0.99));
    out.key("maxSeconds").value(static_cast<double>(core_->max_lateness_ns.load(std::memory_order_relaxed)) / 1e9);
    out.end_object();
  }

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace

std::unique_ptr<Trigger> make_cron_trigger(const TriggerContext& context, CronSettings settings) {
  return std::make_unique<CronTrigger>(context, std::move(settings));
}

}  // namespace edgefn
