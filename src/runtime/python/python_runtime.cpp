#include "runtime/python/python_runtime.hpp"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include "config/config_error.hpp"
#include "log/log.hpp"
#include "runtime/invocation_logs.hpp"
#include "runtime/output_lines.hpp"
#include "runtime/python/spawner.hpp"
#include "shm/async_channel.hpp"
#include "shm/channel.hpp"

namespace edgefn {
namespace {

using namespace std::chrono_literals;
using Descriptor = asio::posix::stream_descriptor;
using Strand = asio::strand<asio::io_context::executor_type>;

constexpr int kNotifyFdInChild = 3;
constexpr std::chrono::milliseconds kFirstBackoff = 1s;
constexpr std::chrono::milliseconds kMaxBackoff = 30s;
// Longer stdout/stderr lines are logged in pieces of this size.
// Exit polling, only where the kernel has no pidfd (Linux < 5.3).
constexpr auto kExitPoll = 20ms;

DispatchError dispatch_error(DispatchError::Code code, std::string detail) { return {code, std::move(detail)}; }

spdlog::level::level_enum spdlog_level(shm::LogLevel level) {
  switch (level) {
    case shm::LogLevel::kDebug: return spdlog::level::debug;
    case shm::LogLevel::kInfo: return spdlog::level::info;
    case shm::LogLevel::kWarn: return spdlog::level::warn;
    default: return spdlog::level::err;
  }
}

struct Pending {
  std::uint64_t request_id = 0;
  Event event;
  std::unique_ptr<InvocationLogs> logs;
  InvokeCompletion done;
};

// One worker process and its channel. Strand-only, except what the
// Worker's mutex guards (channel->close(), child signals).
struct Incarnation {
  explicit Incarnation(const Strand& strand) : stdout_pipe(strand), stderr_pipe(strand), kick(strand), poll(strand) {}

  std::unique_ptr<shm::Channel> channel;
  std::unique_ptr<shm::AsyncChannel> async;
  std::unique_ptr<ChildProcess> child;
  Descriptor stdout_pipe;
  Descriptor stderr_pipe;
  Descriptor kick;  // a dup of the channel's eventfd, for the idle wait
  std::optional<Descriptor> pidfd;
  asio::steady_timer poll;
  pid_t pid = 0;
  bool ready = false;
  bool exited = false;     // the leader has exited (and was reaped)
  bool finished = false;   // the coroutine is done with the channel
  bool cleaned_up = false;
  std::atomic<bool> abandoned{false};
  std::optional<int> status;
  std::string init_error;
  std::optional<Pending> next;       // queued, not sent yet
  std::optional<Pending> in_flight;  // sent, not answered yet
  std::array<char, 4096> out_buffer{};
  std::array<char, 4096> err_buffer{};
  OutputLines out_lines;
  OutputLines err_lines;
};

class Worker : public std::enable_shared_from_this<Worker> {
 public:
  Worker(asio::io_context& io, std::shared_ptr<const PythonSettings> settings, WorkerIdentity identity)
      : strand_(asio::make_strand(io)),
        settings_(std::move(settings)),
        identity_(std::move(identity)),
        logger_(get_logger("worker." + identity_.pool_name + "." + std::to_string(identity_.id))),
        retry_(strand_) {}

  void start() {
    auto inc = std::make_shared<Incarnation>(strand_);
    auto request = prepare(*inc);  // throws ShmError
    auto result = spawn_blocking(std::move(request));
    if (!result.child) throw std::runtime_error(result.child.error());
    asio::post(strand_, [self = shared_from_this(), inc, r = std::make_shared<SpawnResult>(std::move(result))] {
      self->on_spawned(inc, std::move(*r));
    });
  }

  bool alive() const noexcept { return alive_.load(); }

  // Takes `done` only once nothing here can throw before the post, so a
  // caller that catches an exception still holds it and can complete.
  void invoke(Event event, InvokeCompletion& done) {
    auto pending = std::make_shared<Pending>();
    pending->event = std::move(event);
    pending->logs = std::make_unique<InvocationLogs>(pending->event);
    pending->done = std::move(done);
    asio::post(strand_, [self = shared_from_this(), pending] { self->accept(std::move(*pending)); });
  }

  void abandon() noexcept {
    std::lock_guard lock(mutex_);
    if (!live_ || !live_->child) return;
    logger_->warn("event timeout exceeded: killing worker process {} and starting a new one", live_->pid);
    live_->abandoned.store(true);
    live_->child->signal_group(SIGKILL);
  }

  // Blocks for up to `timeout` while the worker runs its termination
  // callback; needs no I/O, so it is safe on an I/O thread.
  void stop(std::chrono::milliseconds timeout) noexcept {
    if (stopping_.exchange(true)) return;
    alive_.store(false);
    std::shared_ptr<Incarnation> inc;
    {
      std::lock_guard lock(mutex_);
      inc = live_;
    }
    if (inc && inc->child) {
      auto& child = *inc->child;
      child.signal_group(SIGTERM);
      const auto deadline = std::chrono::steady_clock::now() + timeout;
      while (!child.exited() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
      if (!child.exited())
        logger_->warn("worker process {} still running {} ms after SIGTERM (workerTerminationTimeout); sending SIGKILL",
                      inc->pid, timeout.count());
      child.signal_group(SIGKILL);
      child.reap();
      std::lock_guard lock(mutex_);
      if (inc->channel) inc->channel->close();
    }
    asio::post(strand_, [self = shared_from_this()] {
      if (self->waiting_) self->fail(*self->waiting_, DispatchError::Code::kStopping, "processor is stopping");
      self->waiting_.reset();
      self->retry_.cancel();
    });
  }

 private:
  // The channel and the spawn request of a new incarnation.
  SpawnRequest prepare(Incarnation& inc) {
    shm::ChannelSettings channel_settings;
    inc.channel = std::make_unique<shm::Channel>("py-" + identity_.pool_name + "-" + std::to_string(identity_.id),
                                                 channel_settings);
    const auto& s = *settings_;
    SpawnRequest request;
    request.argv = {s.interpreter, s.worker_script.string()};
    request.env = worker_environment(s, inc.channel->segment_name(), kNotifyFdInChild, identity_.id);
    request.working_directory = s.function_directory;
    request.pass_fd = inc.channel->notify_fd();
    request.pass_fd_as = kNotifyFdInChild;
    return request;
  }

  void spawn() {
    if (stopping_.load()) return;
    auto inc = std::make_shared<Incarnation>(strand_);
    SpawnRequest request;
    try {
      request = prepare(*inc);
    } catch (const std::exception& e) {
      logger_->error("cannot create the worker's shm channel: {}", e.what());
      return failed_attempt();
    }
    spawning_ = true;
    spawn_async(std::move(request), [self = shared_from_this(), inc](SpawnResult result) {
      auto r = std::make_shared<SpawnResult>(std::move(result));
      asio::post(self->strand_, [self, inc, r] { self->on_spawned(inc, std::move(*r)); });
    });
  }

  void on_spawned(const std::shared_ptr<Incarnation>& inc, SpawnResult result) {
    spawning_ = false;
    if (!result.child) {
      logger_->error("cannot start the Python worker: {}", result.child.error());
      return failed_attempt();
    }
    inc->child = std::move(result.child.value());
    inc->pid = inc->child->pid();
    if (stopping_.load()) return;  // the ChildProcess destructor kills and reaps it
    try {
      inc->stdout_pipe.assign(result.pipes.stdout_read.release());
      inc->stderr_pipe.assign(result.pipes.stderr_read.release());
      int kick = ::dup(inc->channel->notify_fd());
      if (kick < 0) throw std::system_error(errno, std::generic_category(), "dup of the channel's eventfd");
      inc->kick.assign(kick);
      if (result.pipes.pidfd) inc->pidfd.emplace(strand_, result.pipes.pidfd.release());
      inc->async = std::make_unique<shm::AsyncChannel>(strand_, *inc->channel);
    } catch (const std::exception& e) {
      logger_->error("cannot watch the Python worker: {}", e.what());
      inc->child.reset();
      return failed_attempt();
    }
    {
      std::lock_guard lock(mutex_);
      live_ = inc;
    }
    current_ = inc;
    if (waiting_) {
      inc->next = std::move(waiting_);
      waiting_.reset();
    }
    logger_->debug("started Python worker process {} ({})", inc->pid, settings_->interpreter);
    read_pipe(inc, false);
    read_pipe(inc, true);
    watch_exit(inc);
    asio::co_spawn(strand_, run(inc), asio::detached);
  }

  void accept(Pending pending) {
    pending.request_id = next_request_id_++;
    if (stopping_.load()) return fail(pending, DispatchError::Code::kStopping, "processor is stopping");
    if (current_ && !current_->exited && !current_->finished) {
      if (current_->next || current_->in_flight) return fail(pending, DispatchError::Code::kOverloaded, "worker busy");
      current_->next = std::move(pending);
      kick(*current_);
      return;
    }
    if (!spawning_ && attempts_ > 0)
      return fail(pending, DispatchError::Code::kOverloaded,
                  "the Python worker is not ready: importing the handler or init_context failed (see the log); "
                  "retrying");
    if (waiting_) return fail(pending, DispatchError::Code::kOverloaded, "worker busy");
    waiting_ = std::move(pending);
  }

  static void kick(Incarnation& inc) {
    if (!inc.channel) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(inc.channel->notify_fd(), &one, sizeof one);
  }

  void fail(Pending& pending, DispatchError::Code code, std::string detail) {
    auto done = std::move(pending.done);
    if (done) done(tl::make_unexpected(dispatch_error(code, std::move(detail))));
  }

  void complete(Incarnation& inc, InvokeResult result) {
    auto pending = std::move(*inc.in_flight);
    inc.in_flight.reset();
    pending.done(std::move(result));
  }

  awaitable<void> run(std::shared_ptr<Incarnation> inc) {
    auto self = shared_from_this();
    while (!inc->ready && inc->init_error.empty()) {
      shm::Message m;
      auto status = co_await inc->async->receive(m);
      if (status == shm::ChannelStatus::kTooLarge) continue;
      if (status != shm::ChannelStatus::kOk) break;
      handle(*inc, std::move(m));
    }
    while (inc->ready) {
      if (!inc->next) {
        if (!co_await idle(inc)) break;
        continue;
      }
      inc->in_flight = std::move(inc->next);
      inc->next.reset();
      auto& p = *inc->in_flight;
      auto status = co_await inc->async->send(shm::MessageType::kEvent, p.request_id, shm::encode_event_head(p.event),
                                              p.event.body);
      if (status == shm::ChannelStatus::kTooLarge) {
        complete(*inc, Response{413, "text/plain", {}, "event too large for the worker's channel\n"});
        continue;
      }
      if (status != shm::ChannelStatus::kOk) break;
      while (inc->in_flight) {
        shm::Message m;
        status = co_await inc->async->receive(m);
        if (status == shm::ChannelStatus::kTooLarge) {
          if (m.type == shm::MessageType::kResponse && inc->in_flight && m.request_id == inc->in_flight->request_id) {
            logger_->error("event {}: the handler's response is over the channel's limit of {} bytes",
                           inc->in_flight->event.id, inc->channel->settings().max_message_size);
            complete(*inc, Response{500, "text/plain", {}, "response too large\n"});
          }
          continue;
        }
        if (status != shm::ChannelStatus::kOk) break;
        handle(*inc, std::move(m));
      }
      if (inc->in_flight) break;
    }
    if (inc->channel && inc->channel->last_error().size() && !inc->exited)
      logger_->error("worker process {}: {}", inc->pid, inc->channel->last_error());
    inc->finished = true;
    close_channel(*inc);
    if (inc->exited) {
      cleanup(inc);
    } else {
      // Init failed (the worker exits by itself once it sees the close) or
      // the protocol broke; either way the process goes.
      if (inc->init_error.empty()) inc->child->signal_group(SIGKILL);
    }
  }

  // Between events: takes what the worker sends (logs from its threads)
  // until an event is queued (kick) or the channel closes. Reading the
  // eventfd, rather than waiting for readability, cannot miss a wakeup
  // that arrived before the wait was queued.
  awaitable<bool> idle(std::shared_ptr<Incarnation> inc) {
    for (;;) {
      if (inc->next) co_return true;
      shm::Message m;
      auto status = inc->channel->try_receive(m);
      if (status == shm::ChannelStatus::kOk) {
        handle(*inc, std::move(m));
        continue;
      }
      if (status == shm::ChannelStatus::kTooLarge) continue;
      if (status != shm::ChannelStatus::kWouldBlock) co_return false;
      if (!inc->channel->prepare_to_sleep(shm::WaitFor::kMessage)) continue;
      std::uint64_t count = 0;
      error_code ec;
      co_await inc->kick.async_read_some(asio::buffer(&count, sizeof count),
                                         asio::redirect_error(asio::use_awaitable, ec));
      inc->channel->after_wakeup();
      if (ec && ec != asio::error::would_block && ec != asio::error::try_again) co_return false;
    }
  }

  void handle(Incarnation& inc, shm::Message m) {
    switch (static_cast<std::uint16_t>(m.type)) {
      case static_cast<std::uint16_t>(shm::MessageType::kHello):
        return;
      case static_cast<std::uint16_t>(shm::MessageType::kLog): {
        auto record = shm::decode_log(m.head);
        if (!record) return logger_->warn("worker process {} sent a malformed log record: {}", inc.pid, record.error());
        return log_record(inc, m.request_id, *record);
      }
      case static_cast<std::uint16_t>(shm::MessageType::kResponse): {
        if (!inc.in_flight || inc.in_flight->request_id != m.request_id) {
          logger_->warn("worker process {} answered request {}, which it does not hold", inc.pid, m.request_id);
          return;
        }
        auto response = shm::decode_response(m.head, std::move(m.body));
        if (!response) {
          logger_->error("worker process {} sent a malformed response: {}", inc.pid, response.error());
          inc.child->signal_group(SIGKILL);
          return;
        }
        inc.in_flight->logs->attach(*response);
        return complete(inc, std::move(response.value()));
      }
      case kPythonReadyMessage:
        inc.ready = true;
        alive_.store(true);
        // stop() may have run between the two stores; it must win.
        if (stopping_.load()) alive_.store(false);
        if (attempts_ > 0)
          logger_->info("Python worker process {} ready after {} failed attempt(s)", inc.pid, attempts_);
        else
          logger_->debug("Python worker process {} ready", inc.pid);
        attempts_ = 0;
        backoff_ = kFirstBackoff;
        last_failure_.clear();
        return;
      case kPythonInitFailedMessage:
        inc.init_error = m.head.empty() ? std::string("init failed") : std::move(m.head);
        return;
      default:
        logger_->warn("worker process {} sent unknown message type {}", inc.pid, static_cast<int>(m.type));
    }
  }

  void log_record(Incarnation& inc, std::uint64_t request_id, const shm::LogRecord& record) {
    const auto level = spdlog_level(record.level);
    const char* sep = record.fields_json.empty() || record.fields_json == "{}" ? "" : " ";
    const std::string_view fields = *sep ? std::string_view(record.fields_json) : std::string_view{};
    if (request_id != 0 && inc.in_flight && inc.in_flight->request_id == request_id) {
      logger_->log(level, "{}{}{} (event {})", record.message, sep, fields, inc.in_flight->event.id);
      inc.in_flight->logs->add(level, record.message, record.fields_json);
    } else {
      logger_->log(level, "{}{}{}", record.message, sep, fields);
    }
  }

  void read_pipe(const std::shared_ptr<Incarnation>& inc, bool is_stderr) {
    auto& pipe = is_stderr ? inc->stderr_pipe : inc->stdout_pipe;
    auto& buffer = is_stderr ? inc->err_buffer : inc->out_buffer;
    pipe.async_read_some(asio::buffer(buffer), [self = shared_from_this(), inc, is_stderr](error_code ec, std::size_t n) {
      auto& lines = is_stderr ? inc->err_lines : inc->out_lines;
      const auto level = is_stderr ? spdlog::level::warn : spdlog::level::info;
      auto emit = [&](std::string_view line) { self->logger_->log(level, "{}", line); };
      lines.feed({(is_stderr ? inc->err_buffer : inc->out_buffer).data(), n}, emit);
      if (!ec) return self->read_pipe(inc, is_stderr);
      lines.finish(emit);
      error_code ignored;
      (is_stderr ? inc->stderr_pipe : inc->stdout_pipe).close(ignored);
    });
  }

  void watch_exit(const std::shared_ptr<Incarnation>& inc) {
    if (inc->pidfd) {
      inc->pidfd->async_wait(Descriptor::wait_read, [self = shared_from_this(), inc](error_code ec) {
        if (inc->exited || ec == asio::error::operation_aborted) return;
        if (ec) {
          inc->pidfd.reset();
          return self->watch_exit(inc);
        }
        if (!self->reap_if_exited(inc)) self->watch_exit(inc);
      });
      // Asio's edge-triggered waits do not look before they sleep: an exit
      // before the wait was queued would go unnoticed. Look once it is.
      reap_if_exited(inc);
      return;
    }
    inc->poll.expires_after(kExitPoll);
    inc->poll.async_wait([self = shared_from_this(), inc](error_code ec) {
      if (ec || inc->exited) return;
      if (!self->reap_if_exited(inc)) self->watch_exit(inc);
    });
  }

  bool reap_if_exited(const std::shared_ptr<Incarnation>& inc) {
    if (inc->exited) return true;
    auto status = inc->child->try_reap();
    if (!status) return false;
    inc->exited = true;
    inc->status = status;
    alive_.store(false);
    if (inc->pidfd) {
      error_code ignored;
      inc->pidfd->close(ignored);
    }
    // What the worker sent just before it died: its last logs, an
    // INIT_FAILED, a response. Same strand as the coroutine, and the
    // Channel keeps a partly received message across calls.
    if (inc->channel && !inc->finished) {
      shm::Message m;
      while (inc->channel->try_receive(m) == shm::ChannelStatus::kOk) {
        handle(*inc, std::move(m));
        m = {};
      }
    }
    close_channel(*inc);
    if (inc->finished) cleanup(inc);
    return true;
  }

  void close_channel(Incarnation& inc) {
    std::lock_guard lock(mutex_);
    if (inc.channel) {
      inc.channel->close();
      kick(inc);
    }
  }

  // Both the coroutine and the process are done: account for the exit,
  // remove the segment, respawn.
  void cleanup(const std::shared_ptr<Incarnation>& inc) {
    if (inc->cleaned_up) return;
    inc->cleaned_up = true;
    {
      std::lock_guard lock(mutex_);
      if (live_ == inc) live_.reset();
      inc->async.reset();
      inc->channel.reset();
    }
    if (current_ == inc) current_.reset();
    error_code ignored;
    inc->kick.close(ignored);
    const std::string how = describe_wait_status(inc->status.value_or(-1));
    const bool stopping = stopping_.load();
    if (inc->in_flight) {
      const std::string id = inc->in_flight->event.id;
      std::string detail = "the Python worker (process " + std::to_string(inc->pid) + ") ended with " + how +
                           " while handling event " + id;
      if (!stopping && !inc->abandoned.load()) logger_->error("{}; starting a new one", detail);
      complete(*inc, tl::make_unexpected(dispatch_error(
                         stopping ? DispatchError::Code::kStopping : DispatchError::Code::kCrashed, detail)));
    } else if (inc->ready && !stopping && !inc->abandoned.load()) {
      logger_->error("the Python worker (process {}) ended with {}; starting a new one", inc->pid, how);
    }
    if (inc->next) {
      if (stopping) {
        fail(*inc->next, DispatchError::Code::kStopping, "processor is stopping");
      } else if (inc->ready) {
        waiting_ = std::move(inc->next);
      } else {
        fail(*inc->next, DispatchError::Code::kOverloaded,
             "the Python worker is not ready: importing the handler or init_context failed (see the log)");
      }
      inc->next.reset();
    }
    if (stopping) return;
    if (inc->ready) return spawn();
    if (!inc->init_error.empty()) {
      const auto next = next_backoff();
      if (inc->init_error != last_failure_) {
        logger_->error("the Python worker failed to start (handler import or init_context); retrying in {} s:\n{}",
                       next.count() / 1000, inc->init_error);
        last_failure_ = inc->init_error;
      } else {
        logger_->warn("the Python worker still fails to start (attempt {}, same error as above); retrying in {} s",
                      attempts_ + 1, next.count() / 1000);
      }
    } else {
      logger_->error("the Python worker (process {}) ended with {} before it was ready; retrying in {} s", inc->pid,
                     how, next_backoff().count() / 1000);
    }
    failed_attempt();
  }

  std::chrono::milliseconds next_backoff() const {
    return attempts_ == 0 ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
  }

  void failed_attempt() {
    backoff_ = next_backoff();
    ++attempts_;
    if (waiting_) {
      fail(*waiting_, DispatchError::Code::kOverloaded, "the Python worker is not ready (see the log)");
      waiting_.reset();
    }
    retry_.expires_after(backoff_);
    retry_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->spawn();
    });
  }

  Strand strand_;
  std::shared_ptr<const PythonSettings> settings_;
  WorkerIdentity identity_;
  std::shared_ptr<spdlog::logger> logger_;
  std::atomic<bool> alive_{false};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::shared_ptr<Incarnation> live_;  // guarded by mutex_: what abandon() and stop() reach
  // Strand-only:
  std::shared_ptr<Incarnation> current_;
  std::optional<Pending> waiting_;  // arrived between two incarnations
  bool spawning_ = false;
  int attempts_ = 0;  // failed starts since the last READY
  std::chrono::milliseconds backoff_ = kFirstBackoff;
  std::string last_failure_;
  std::uint64_t next_request_id_ = 1;
  asio::steady_timer retry_;
};

class PythonRuntime final : public Runtime {
 public:
  PythonRuntime(asio::io_context& io, std::shared_ptr<const PythonSettings> settings, WorkerIdentity identity)
      : worker_(std::make_shared<Worker>(io, std::move(settings), std::move(identity))) {}
  ~PythonRuntime() override { worker_->stop(0ms); }

  void start() override {
    try {
      worker_->start();
    } catch (const std::exception& e) {
      throw StartError(std::string("cannot start the Python worker: ") + e.what());
    }
  }
  bool runs_inline() const noexcept override { return false; }
  void invoke(Event event, InvokeCompletion done) noexcept override {
    try {
      worker_->invoke(std::move(event), done);
    } catch (const std::exception& e) {
      if (done) done(tl::make_unexpected(dispatch_error(DispatchError::Code::kCrashed, e.what())));
    }
  }
  void abandon() noexcept override { worker_->abandon(); }
  void stop(std::chrono::milliseconds timeout) noexcept override { worker_->stop(timeout); }
  bool alive() const noexcept override { return worker_->alive(); }

 private:
  std::shared_ptr<Worker> worker_;
};

}  // namespace

std::unique_ptr<Runtime> make_python_runtime(asio::io_context& io, std::shared_ptr<const PythonSettings> settings,
                                             WorkerIdentity identity) {
  return std::make_unique<PythonRuntime>(io, std::move(settings), std::move(identity));
}

}  // namespace edgefn
