#include "app/processor_app.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "app/factories.hpp"
#include "app/file_watcher.hpp"
#include "app/kinds.hpp"
#include "app/live_function.hpp"
#include "app/observability.hpp"
#include "build/function_build.hpp"
#include "config/config_error.hpp"
#include "config/config_loader.hpp"
#include "control/management_server.hpp"
#include "control/management_token.hpp"
#include "host/host_services.hpp"
#include "log/log.hpp"
#include "metrics/process_metrics.hpp"
#include "process/environment.hpp"
#include "runtime/handler_environment.hpp"
#include "runtime/python/python_handler_check.hpp"
#include "runtime/python/python_settings.hpp"
#include "trigger/http/http_settings.hpp"
#include "util/build_info.hpp"
#include "util/duration.hpp"
#include "util/json.hpp"
#include "util/printable.hpp"
#include "util/service_notifier.hpp"
#include "worker/worker_pool.hpp"

namespace edgefn {
namespace {

void log_notices(const std::vector<ConfigNotice>& notices) {
  auto log = get_logger("config");
  for (const auto& n : notices) {
    if (n.level == ConfigNotice::Level::kWarning)
      log->warn("{}", n.message);
    else
      log->info("{}", n.message);
  }
}

// `for_build`: the build is what runs spec.build.commands, so it is not
// told they have not run.
LoadResult load_and_check(const std::filesystem::path& file, bool for_build = false,
                          const std::string& http_listen = {}) {
  auto catalog = kind_catalog();
  catalog.http_listen = http_listen;
  auto result = load_function_config(file, catalog);
  if (!for_build) {
    auto more = build_notices(result.config);
    result.notices.insert(result.notices.end(), more.begin(), more.end());
  }
  log_notices(result.notices);
  return result;
}

// The soft limit on descriptors is often 1024 (systemd's default, most
// shells'), the HTTP trigger's default maxConnections, which the workers'
// pipes and the listeners would keep out of reach: the hard limit is what
// the administrator allows.
void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const auto soft = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) == 0)
    get_logger("processor")->debug("raised the open-file limit from {} to {}", soft, limit.rlim_max);
}

// Lifecycle, all of it asynchronous on the io_context:
//   start: pools start their workers; the management server and the
//   triggers start at once (the HTTP listener answers 503 until a worker is
//   ready rather than refusing connections); "ready" is logged, and /ready
//   says yes, once every pool has a ready worker.
//   reload (SIGHUP, POST /reload, --watch): a new generation of pools
//   replaces the old one without a pause (app/live_function.hpp).
//   drain (SIGTERM or SIGINT): readiness turns false; runtimes learn of the
//   drain; every trigger drains (new events refused, accepted ones finish)
//   until the drain deadline.
//   stop: every pool stops all its workers at once, each bounded by
//   workerTerminationTimeout; then triggers and the management server
//   close, and the io_context runs out of work: run() returns 0.
// Under systemd (Type=notify) the service manager hears of each step:
// READY=1 with "ready" (not waiting for a stream trigger's broker: a
// gateway that boots before its broker must still start), RELOADING=1 and
// READY=1 around a reload, STOPPING=1 at the drain, STATUS= on the way,
// and WATCHDOG=1 from a timer on the io_context while it turns.
class Processor {
 public:
  Processor(const AppOptions& options, FunctionConfig config, ServiceNotifier notifier)
      : options_(options),
        initial_config_(std::move(config)),
        log_(get_logger("processor")),
        notifier_(std::move(notifier)) {}

  int run() {
    log_start();
    metrics_.set_recording(options_.metrics_recording);
    if (!options_.metrics_recording) log_->info("metrics recording is off (--metrics off): /metrics shows no traffic");
    register_process_metrics(metrics_);
    if (options_.worker_user)
      log_->info("worker processes run as user {} (--worker-user)", describe(*options_.worker_user));
    function_.build(std::move(initial_config_));
    warn_if_http_listen_unused();
    asio::ip::tcp::endpoint management_endpoint = resolve_management_address();
    std::string token =
        load_management_token(options_.management_token_file, options_.management_token_from_environment);
    require_token_off_loopback(management_endpoint, token);
    ManagementHooks hooks{[this] { return ready(); }, [this] { return status_json(); }, &metrics_,
                          [this] { return not_ready_reason(); },
                          [this](UniqueFunction<void(int, std::string)> answer) {
                            function_.reload("POST /reload", [answer = std::move(answer)](ReloadReport report) mutable {
                              answer(report.status, report.json());
                            });
                          }};
    management_.emplace(io_, management_endpoint, std::move(hooks), ManagementAccess{std::move(token)});
    function_.observe_reloads([this](const ReloadReport* report) { notify_reload(report); });
    function_.start();
    management_->start();
    log_banner();
    start_service_notifications();
    watch_readiness();
    if (options_.watch) start_watching();

    signals_.async_wait([this](error_code ec, int signal) {
      if (!ec) on_signal(signal);
    });
    wait_for_reload_signal();
    wait_for_log_level_toggle();

    auto guard = asio::make_work_guard(io_);
    work_guard_.emplace(std::move(guard));
    std::vector<std::thread> extra;
    for (int i = 1; i < io_threads_; ++i) extra.emplace_back([this] { run_io(); });
    run_io();
    for (auto& t : extra) t.join();
    if (const int left = function_.left_running(); left > 0) {
      // Everything the daemon created is gone (shared memory is anonymous),
      // but a native handler still runs on a thread that cannot be stopped,
      // using the daemon's logger among other things: static destructors
      // must not run under it.
      log_->warn("stopped, leaving {} native handler(s) still running", left);
      spdlog::shutdown();
      std::fflush(nullptr);
      ::_exit(0);
    }
    log_->info("stopped");
    return 0;
  }

 private:
  asio::ip::tcp::endpoint resolve_management_address() {
    std::string host;
    std::uint16_t port = 0;
    parse_listen_address(options_.management_address, "--management-address", host, port);
    if (host.empty() || host == "localhost") host = "127.0.0.1";
    error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (ec) throw ConfigError("--management-address: '" + host + "' is not an IP address");
    return {address, port};
  }

  void run_io() {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception& e) {
        // Handlers catch their own errors; this is the last line of defence
        // that keeps one bad completion from taking the daemon down.
        log_->error("unexpected error on an I/O thread: {}", e.what());
      }
    }
  }

  void log_start() {
    const FunctionConfig& config = initial_config_;
    LogFields fields;
    fields.add("version", kBuildVersion).add("commit", kBuildCommit).add("function", config.name);
    fields.add("runtime", config.runtime).add("handler", config.handler).add("pid", static_cast<int>(::getpid()));
    log_with(*log_, spdlog::level::info,
             fmt::format("edgefn {} (commit {}) starting function '{}' (runtime {}, handler {}, pid {})", kBuildVersion,
                         kBuildCommit, printable(config.name), config.runtime, printable(config.handler), ::getpid()),
             fields, TextFields::kJsonOnly);
  }

  // What runs, once everything listens: the addresses are the bound ones.
  void log_banner() {
    auto view = function_.view();
    for (const auto& t : view.triggers) {
      const auto& info = t.trigger->info();
      const std::string address = t.trigger->address();
      LogFields fields;
      fields.add("trigger", info.name).add("kind", info.kind).add("address", address).add("pool", t.pool->name());
      log_with(*log_, spdlog::level::info,
               fmt::format("trigger '{}' ({}) on {}, pool '{}'", info.name, info.kind, address, t.pool->name()), fields,
               TextFields::kJsonOnly);
    }
    for (const auto& [name, pool] : view.pools) {
      LogFields fields;
      fields.add("pool", name).add("runtime", view.config.runtime).add("workers", pool->size());
      log_with(*log_, spdlog::level::info,
               fmt::format("pool '{}': runtime {}, {} worker(s)", name, view.config.runtime, pool->size()), fields,
               TextFields::kJsonOnly);
    }
  }

  void warn_if_http_listen_unused() {
    if (options_.http_listen.empty()) return;
    bool has_http = false;
    {
      auto view = function_.view();
      has_http = std::any_of(view.triggers.begin(), view.triggers.end(),
                             [](const auto& t) { return t.trigger->info().kind == "http"; });
    }
    if (!has_http)
      log_->warn("--http-listen {} does not apply: the function has no enabled http trigger "
                 "(spec.disableDefaultHTTPTrigger: true and none declared)",
                 options_.http_listen);
  }

  // SIGUSR1 switches debug on, and the next one back to the level before.
  void wait_for_log_level_toggle() {
    usr1_.async_wait([this](error_code ec, int) {
      if (ec) return;
      const auto now = log_level();
      if (now > spdlog::level::debug) {
        level_before_debug_ = now;
        set_log_level(spdlog::level::debug);
        log_->info("SIGUSR1: log level debug (was {}); SIGUSR1 again goes back", log_level_name(now));
      } else {
        const auto back = level_before_debug_ > spdlog::level::debug ? level_before_debug_ : spdlog::level::info;
        log_->info("SIGUSR1: log level {} (was {})", log_level_name(back), log_level_name(now));
        set_log_level(back);
      }
      wait_for_log_level_toggle();
    });
  }

  // "ready" is logged once every pool has a ready worker, and not before;
  // until then, why not, each time the reason changes (a worker's import
  // error and its next attempt).
  void watch_readiness() {
    function_.when_started([this] {
      if (draining_.load()) return;
      started_.store(true);
      readiness_timer_.cancel();
      std::string name;
      std::size_t triggers = 0, pools = 0;
      {
        auto view = function_.view();
        name = view.config.name;
        triggers = view.triggers.size();
        pools = view.pools.size();
      }
      log_->info("function '{}' ready: {} trigger(s), {} pool(s)", name, triggers, pools);
      notify_ready(fmt::format("serving function '{}': {} trigger(s), {} pool(s)", printable(name), triggers, pools));
    });
    report_not_ready(kFirstNotReadyReport);
  }

  // Past this, a start that is not ready yet says why; then every second
  // when the reason has changed.
  static constexpr std::chrono::seconds kFirstNotReadyReport{2};

  void report_not_ready(std::chrono::steady_clock::duration after) {
    readiness_timer_.expires_after(after);
    readiness_timer_.async_wait([this](error_code ec) {
      if (ec || started_.load() || draining_.load()) return;
      std::string why, function;
      {
        auto view = function_.view();
        // A reload has replaced the first generation: it was ready to swap.
        if (view.generation > 1) return;
        why = pools_not_ready(view.pools);
        function = view.config.name;
      }
      if (why != last_not_ready_) {
        log_->warn("function '{}' not ready yet: {}", printable(function), why);
        notifier_.send("STATUS=not ready yet: " + status_text(why));
        last_not_ready_ = std::move(why);
      }
      report_not_ready(std::chrono::seconds{1});
    });
  }

  // The pools without a ready worker, each with its first worker's own
  // account ("init failed: ... (next attempt in 4 s)").
  static std::string pools_not_ready(const std::map<std::string, std::unique_ptr<WorkerPool>>& pools) {
    std::string out;
    for (const auto& [name, pool] : pools) {
      if (pool->ready_workers() > 0) continue;
      const auto status = pool->status();
      out += (out.empty() ? "" : "; ") + ("pool '" + name + "' has no ready worker");
      if (!status.workers.empty() && !status.workers.front().detail.empty())
        out += " (worker 0: " + status.workers.front().detail + ")";
    }
    return out.empty() ? std::string{"waiting for a ready worker in every pool"} : out;
  }

  // SIGHUP reloads (it would otherwise end the daemon, exit 129).
  void wait_for_reload_signal() {
    reload_signal_.async_wait([this](error_code ec, int) {
      if (ec || draining_.load()) return;
      log_->info("received SIGHUP: reloading");
      function_.reload("SIGHUP", [](ReloadReport) {});
      wait_for_reload_signal();
    });
  }

  void start_watching() {
    // The config's directory, and spec.build.path's when the handler is
    // there.
    std::vector<std::filesystem::path> directories;
    {
      auto view = function_.view();
      directories.push_back(view.config.directory);
      auto handlers = view.config.handler_directory();
      if (handlers != view.config.directory) directories.push_back(std::move(handlers));
    }
    watcher_.emplace(io_, directories, [this] {
      if (draining_.load()) return;
      function_.reload("--watch", [](ReloadReport) {});
    });
    for (const auto& d : directories) log_->info("--watch: reloading when a file under {} changes", d.string());
  }

  bool ready() const { return not_ready_reason().empty(); }

  // Empty when ready, else why not, for /ready's 503 (a stream trigger
  // away from its broker says so here; /status has its state).
  std::string not_ready_reason() const {
    if (draining_.load()) return "draining";
    auto view = function_.view();
    // A reload that went through had every pool ready, whatever the first
    // generation did.
    if (!started_.load() && view.generation == 1) return "starting: " + pools_not_ready(view.pools);
    for (const auto& [name, pool] : view.pools)
      if (pool->ready_workers() == 0) return "pool '" + name + "' has no ready worker";
    for (const auto& t : view.triggers)
      if (!t.trigger->ready()) return t.trigger->info().kind + " trigger '" + t.trigger->info().name + "' is not ready";
    return {};
  }

  std::string status_json() const {
    const bool is_ready = ready();
    auto view = function_.view();
    const FunctionConfig& config = view.config;
    JsonWriter w;
    w.begin_object();
    w.key("function").value(config.name);
    w.key("runtime").value(config.runtime);
    w.key("handler").value(config.handler);
    w.key("version").value(EDGEFN_VERSION);
    w.key("ready").value(is_ready);
    w.key("draining").value(draining_.load());
    w.key("uptime_seconds")
        .value(std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count());
    auto mgmt = management_->local_endpoint();
    w.key("management").value(mgmt.address().to_string() + ":" + std::to_string(mgmt.port()));
    w.key("generation").value(view.generation);
    w.key("reloading").value(view.reloading);
    w.key("reload");
    if (view.last_reload) {
      w.begin_object();
      view.last_reload->write(w);
      w.end_object();
    } else {
      w.null();
    }
    w.key("triggers").begin_array();
    for (const auto& t : view.triggers) {
      w.begin_object();
      w.key("name").value(t.trigger->info().name);
      w.key("kind").value(t.trigger->info().kind);
      w.key("pool").value(t.pool->name());
      w.key("numWorkers").value(t.config->num_workers);
      w.key("ready").value(t.trigger->ready());
      t.trigger->write_status(w);
      w.end_object();
    }
    w.end_array();
    w.key("pools").begin_array();
    for (const auto& [name, pool] : view.pools) {
      auto s = pool->status();
      w.begin_object();
      w.key("name").value(s.name);
      w.key("size").value(s.size);
      w.key("ready").value(s.ready);
      w.key("busy").value(s.busy);
      w.key("waiting").value(static_cast<std::uint64_t>(s.waiting));
      w.key("workers").begin_array();
      for (const auto& worker : s.workers) write_worker_status(w, worker);
      w.end_array();
      w.end_object();
    }
    w.end_array();
    w.end_object();
    return w.take();
  }

  void on_signal(int signal) {
    const char* name = signal == SIGINT ? "SIGINT" : "SIGTERM";
    if (draining_.exchange(true)) return;
    log_->info("received {}, draining (up to {})", name, format_duration(options_.drain_timeout));
    notifier_.send("STOPPING=1\nSTATUS=draining (up to " + format_duration(options_.drain_timeout) + ")");
    const auto deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
    if (watcher_) watcher_->stop();
    // A second signal stops at once.
    signals_.async_wait([this](error_code ec, int) {
      if (ec) return;
      log_->warn("second signal: stopping without waiting for in-flight events");
      stop_pools();
    });
    function_.drain(deadline, [this] { stop_pools(); });
  }

  // Every worker of every pool at once, each bounded by the smallest
  // workerTerminationTimeout among its pool's triggers.
  void stop_pools() {
    if (pools_stopping_.exchange(true)) return;
    if (auto left = function_.in_flight(); left > 0)
      log_->warn("drain timeout ({}) expired with {} event(s) still in flight", format_duration(options_.drain_timeout),
                 left);
    function_.stop_pools([this] { finish(); });
  }

  // Closes what still listens; the io_context then runs out of work.
  void finish() {
    function_.stop_triggers();
    management_->stop();
    signals_.cancel();
    reload_signal_.cancel();
    usr1_.cancel();
    readiness_timer_.cancel();
    watchdog_timer_.cancel();
    work_guard_.reset();
  }

  // ---- The service manager (util/service_notifier.hpp) ----------------------

  void start_service_notifications() {
    if (!notifier_.problem().empty()) log_->warn("not notifying the service manager: {}", notifier_.problem());
    if (!notifier_.enabled()) return;
    notifier_.send("STATUS=starting: waiting for a ready worker in every pool");
    if (auto interval = notifier_.watchdog_interval()) {
      log_->info("systemd watchdog: WATCHDOG=1 every {} ms",
                 std::chrono::duration_cast<std::chrono::milliseconds>(*interval).count());
      feed_watchdog(*interval);
    }
  }

  // On a strand-free timer of the io_context: when every I/O thread is
  // stuck, no keep-alive goes out and systemd (WatchdogSec) restarts the
  // service. Goes on during the drain, which is bounded by TimeoutStopSec.
  void feed_watchdog(std::chrono::microseconds interval) {
    notifier_.send("WATCHDOG=1");
    watchdog_timer_.expires_after(interval);
    watchdog_timer_.async_wait([this, interval](error_code ec) {
      if (!ec) feed_watchdog(interval);
    });
  }

  void notify_ready(const std::string& status) {
    if (draining_.load()) return;
    ready_notified_.store(true);
    notifier_.send("READY=1\nSTATUS=" + status_text(status));
  }

  // Only a service that said READY=1 reloads in systemd's eyes; and a
  // first generation never ready that a reload replaced is ready now.
  void notify_reload(const ReloadReport* report) {
    if (draining_.load()) return;
    if (!report) {
      if (ready_notified_.load())
        notifier_.send("RELOADING=1\n" + monotonic_usec_assignment() + "\nSTATUS=reloading");
      return;
    }
    if (report->ok())
      notify_ready("serving generation " + std::to_string(report->generation) + " (reload: " + report->cause + ")");
    else if (ready_notified_.load())
      notify_ready("serving generation " + std::to_string(report->generation) +
                   "; the last reload failed: " + report->message);
  }

  // STATUS= ends at the datagram's next line: one line, bounded.
  static std::string status_text(std::string_view text) {
    std::string out = printable(text.substr(0, text.find('\n')));
    if (out.size() > 400) out.resize(400);
    return out;
  }

  const AppOptions& options_;
  FunctionConfig initial_config_;
  std::shared_ptr<spdlog::logger> log_;
  // Before io_: handlers still queued when io_ is destroyed update metrics
  // as they are destroyed.
  MetricsRegistry metrics_;
  const int io_threads_ = options_.io_threads > 0
                              ? options_.io_threads
                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // The hint tells Asio whether its scheduler needs to coordinate threads.
  asio::io_context io_{io_threads_};
  // Before the pools and triggers, which hold it.
  Host host_;
  LiveFunction function_{PoolContext{io_, options_.dev_mode, options_.function_urls, &host_, &metrics_,
                                     options_.worker_user},
                         metrics_,
                         host_,
                         KindOverrides{options_.http_listen, options_.instance, options_.access_log},
                         io_threads_ == 1,
                         [this](const std::filesystem::path& file) {
                           return load_and_check(file, false, options_.http_listen).config;
                         },
                         options_.drain_timeout};
  std::optional<ManagementServer> management_;
  std::optional<FileWatcher> watcher_;
  asio::signal_set signals_{io_, SIGINT, SIGTERM};
  asio::signal_set reload_signal_{io_, SIGHUP};
  asio::signal_set usr1_{io_, SIGUSR1};
  spdlog::level::level_enum level_before_debug_ = spdlog::level::info;
  asio::steady_timer readiness_timer_{io_};
  const ServiceNotifier notifier_;
  asio::steady_timer watchdog_timer_{io_};
  std::atomic<bool> ready_notified_{false};
  std::string last_not_ready_;  // the readiness timer's
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_guard_;
  std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
  std::atomic<bool> started_{false};
  std::atomic<bool> draining_{false};
  std::atomic<bool> pools_stopping_{false};
};

}  // namespace

int run_processor(const AppOptions& options) {
  // First: the handler check below may already run the function's code.
  ServiceNotifier notifier = ServiceNotifier::from_environment();
  auto loaded = load_and_check(options.config_file, false, options.http_listen);
  if (loaded.config.disabled) {
    // Exit 0: a function switched off on purpose is not a failure to restart.
    get_logger("processor")->info("function '{}' is disabled (spec.disable: true); not starting it",
                                  printable(loaded.config.name));
    return 0;
  }
  // A process of the same user could otherwise open the daemon's memfds
  // (the workers' shared memory) through /proc/<pid>/fd.
  ::prctl(PR_SET_DUMPABLE, 0);
  raise_open_file_limit();
  Processor processor(options, std::move(loaded.config), std::move(notifier));
  return processor.run();
}

void validate_config(const std::filesystem::path& file) {
  auto loaded = load_and_check(file);
  if (loaded.config.disabled) {
    get_logger("config")->info("{}: valid, but disabled (spec.disable: true): the processor exits 0 without "
                               "starting it",
                               printable(loaded.config.file.string()));
    return;
  }
  get_logger("config")->info("{}: valid ({} trigger(s), runtime {})", printable(loaded.config.file.string()),
                             loaded.config.triggers.size(), loaded.config.runtime);
}

int build_function(const std::filesystem::path& file) {
  auto loaded = load_and_check(file, true);
  const FunctionConfig& config = loaded.config;
  BasePython base;
  if (config.runtime_kind() == "python") {
    const Environment environment = base_environment(config, daemon_environment());
    const std::string path = handler_path(environment);
    // A fallback from spec.runtime's version has been said by the handler check.
    const PythonInterpreter chosen = choose_python_interpreter(config, environment, path, false);
    auto version = probe_python_interpreter(chosen.path, path);
    if (!version) throw StartError("the Python interpreter " + chosen.path + " cannot start: " + version.error());
    base = {chosen.path, *version};
  } else if (config.build_commands.empty()) {
    get_logger("build")->info("{}: nothing to build (no spec.build.commands)", printable(config.file.string()));
    return 0;
  }
  return run_build(config, base);
}

}  // namespace edgefn
