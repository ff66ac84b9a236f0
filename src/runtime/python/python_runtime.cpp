#include "runtime/python/python_runtime.hpp"

#include <signal.h>

#include <array>
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>

#include "log/log.hpp"
#include "process/exit_watcher.hpp"
#include "process/output_lines.hpp"
#include "process/spawner.hpp"
#include "runtime/invocation_logs.hpp"
#include "runtime/python/worker_protocol.hpp"
#include "shm/async_channel.hpp"
#include "shm/channel.hpp"

namespace edgefn {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Descriptor = asio::posix::stream_descriptor;
using Strand = asio::strand<asio::io_context::executor_type>;
using python::DecodedEvent;

constexpr std::chrono::milliseconds kFirstBackoff = 1s;
constexpr std::chrono::milliseconds kMaxBackoff = 30s;
// A process that dies sooner than this after READY counts as a quick death:
// the second one in a row starts the backoff.
constexpr auto kStableAfter = 10s;

RuntimeError runtime_error(RuntimeError::Code code, std::string detail) { return {code, std::move(detail), {}}; }

spdlog::level::level_enum spdlog_level(python::LogLevel level) {
  switch (level) {
    case python::LogLevel::kDebug: return spdlog::level::debug;
    case python::LogLevel::kInfo: return spdlog::level::info;
    case python::LogLevel::kWarn: return spdlog::level::warn;
    default: return spdlog::level::err;
  }
}

std::string first_line(const std::string& text) {
  auto end = text.find('\n');
  // The last line of a traceback names the exception; the first says
  // "Traceback (most recent call last):".
  if (text.rfind("Traceback", 0) == 0) {
    auto last = text.find_last_not_of("\n");
    auto start = text.rfind('\n', last);
    return text.substr(start == std::string::npos ? 0 : start + 1, last - (start == std::string::npos ? 0 : start));
  }
  return text.substr(0, end);
}

struct Pending {
  std::uint64_t request_id = 0;
  Event event;
  std::unique_ptr<InvocationLogs> logs;
  InvokeCompletion done;
};

struct Outgoing {
  shm::MessageType type;
  std::uint64_t request_id;
  std::string head;
};

// One interpreter process and its channel. Strand-only, except what the
// supervisor's mutex guards (the child, for abandon()).
struct WorkerProcess {
  explicit WorkerProcess(const Strand& strand)
      : stdout_pipe(strand), stderr_pipe(strand), readiness_timer(strand) {}

  std::unique_ptr<shm::Channel> channel;
  std::unique_ptr<shm::AsyncChannel> async;
  std::shared_ptr<ChildProcess> child;
  std::optional<ExitWatcher> exit_watcher;
  Descriptor stdout_pipe;
  Descriptor stderr_pipe;
  asio::steady_timer readiness_timer;
  pid_t pid = 0;
  bool ready = false;
  bool reported_down = false;  // the pool was told this process no longer takes events
  Clock::time_point ready_at;
  bool exited = false;    // reaped
  bool finished = false;  // the coroutine is done with the channel
  bool cleaned_up = false;
  bool stop_sent = false;
  bool abandoned = false;  // killed for an event timeout
  bool not_ready_in_time = false;
  std::optional<int> status;
  std::string init_error;
  std::optional<Pending> next;       // queued, not sent yet
  std::optional<Pending> in_flight;  // sent, not answered yet
  std::deque<Outgoing> outbox;       // control messages for the worker
  std::array<char, 4096> out_buffer{};
  std::array<char, 4096> err_buffer{};
  OutputLines out_lines;
  OutputLines err_lines;
};

class ProcessSupervisor : public std::enable_shared_from_this<ProcessSupervisor> {
 public:
  ProcessSupervisor(asio::io_context& io, std::shared_ptr<const PythonSettings> settings, WorkerIdentity identity,
                    HostServices* host)
      : strand_(asio::make_strand(io)),
        settings_(std::move(settings)),
        identity_(std::move(identity)),
        host_(host),
        logger_(get_logger("worker." + identity_.pool_name + "." + std::to_string(identity_.id))),
        retry_(strand_),
        stop_timer_(strand_) {}

  void start(ReadinessCallback on_readiness) {
    on_readiness_ = std::move(on_readiness);
    asio::post(strand_, [self = shared_from_this()] { self->spawn(); });
  }

  // Takes `done` only once nothing here can throw, so a caller that catches
  // an exception still holds it and can answer.
  void invoke(Event event, InvokeCompletion& done) {
    auto pending = std::make_shared<Pending>();
    pending->event = std::move(event);
    pending->logs = std::make_unique<InvocationLogs>(pending->event);
    pending->done = std::move(done);
    asio::post(strand_, [self = shared_from_this(), pending] { self->accept(std::move(*pending)); });
  }

  void abandon() noexcept {
    std::lock_guard lock(mutex_);
    if (!live_child_) return;
    logger_->warn("event timeout exceeded: killing worker process {} and starting a new one", live_child_->pid());
    abandoned_.store(true);
    live_child_->signal_group(SIGKILL);
  }

  void drain() noexcept {
    asio::post(strand_, [self = shared_from_this()] {
      if (self->draining_ || self->stopping_) return;
      self->draining_ = true;
      if (auto& p = self->current_; p && p->ready && !p->exited) self->send_control(*p, python::kDrainMessage);
    });
  }

  void stop(std::chrono::milliseconds timeout, UniqueFunction<void()> done) noexcept {
    asio::post(strand_, [self = shared_from_this(), timeout, done = std::move(done)]() mutable {
      self->begin_stop(timeout, std::move(done));
    });
  }

  std::string describe() const {
    std::lock_guard lock(mutex_);
    return state_;
  }

 private:
  // ---- Starting a process --------------------------------------------------

  void spawn() {
    if (stopping_ || draining_) return finish_stop_if_idle();
    auto proc = std::make_shared<WorkerProcess>(strand_);
    SpawnRequest request;
    try {
      proc->channel = std::make_unique<shm::Channel>();
      const auto& s = *settings_;
      request.argv = {s.interpreter, s.worker_script.string()};
      request.env = worker_environment(s, identity_.id);
      request.working_directory = s.function_directory;
      request.pass_fds = {{proc->channel->notify_fd(), kWorkerNotifyFd},
                          {proc->channel->segment_fd(), kWorkerSegmentFd}};
      if (s.source_fd) request.pass_fds.push_back({s.source_fd.get(), kWorkerSourceFd});
      request.ignore_termination_signals = true;
    } catch (const std::exception& e) {
      logger_->error("cannot create the worker's shm channel: {}", e.what());
      return failed_start("cannot create the shm channel: " + std::string(e.what()));
    }
    spawning_ = true;
    set_state("starting");
    // The channel, and with it the descriptors to pass, lives in `proc`
    // until the spawn is done.
    spawn_async(std::move(request), strand_, [self = shared_from_this(), proc](SpawnResult result) {
      self->on_spawned(proc, std::move(result));
    });
  }

  void on_spawned(const std::shared_ptr<WorkerProcess>& proc, SpawnResult result) {
    spawning_ = false;
    if (!result.child) {
      logger_->error("cannot start the Python worker: {}", result.child.error());
      if (stopping_) return finish_stop_if_idle();
      return failed_start(result.child.error());
    }
    proc->child = std::move(result.child.value());
    proc->pid = proc->child->pid();
    if (stopping_) {
      proc->child->signal_group(SIGKILL);
      proc->child->reap();
      return finish_stop_if_idle();
    }
    try {
      proc->stdout_pipe.assign(result.pipes.stdout_read.release());
      proc->stderr_pipe.assign(result.pipes.stderr_read.release());
      proc->async = std::make_unique<shm::AsyncChannel>(strand_, *proc->channel);
      proc->exit_watcher.emplace(strand_, proc->child, std::move(result.pipes.pidfd),
                                 [self = shared_from_this(), proc](int status) { self->on_exit(proc, status); });
    } catch (const std::exception& e) {
      logger_->error("cannot watch the Python worker: {}", e.what());
      proc->child->signal_group(SIGKILL);
      proc->child->reap();
      return failed_start(std::string("cannot watch the worker process: ") + e.what());
    }
    {
      std::lock_guard lock(mutex_);
      live_child_ = proc->child;
    }
    current_ = proc;
    set_state("starting (process " + std::to_string(proc->pid) + ")");
    logger_->debug("started Python worker process {} ({})", proc->pid, settings_->interpreter);
    proc->readiness_timer.expires_after(settings_->readiness_timeout);
    proc->readiness_timer.async_wait([self = shared_from_this(), proc](error_code ec) {
      if (ec || proc->ready || proc->exited) return;
      self->logger_->error(
          "the Python worker (process {}) did not become ready within readinessTimeoutSeconds ({} s): importing the "
          "handler or init_context hangs; killing it",
          proc->pid, std::chrono::duration_cast<std::chrono::seconds>(self->settings_->readiness_timeout).count());
      proc->not_ready_in_time = true;
      proc->child->signal_group(SIGKILL);
    });
    read_pipe(proc, false);
    read_pipe(proc, true);
    asio::co_spawn(strand_, run(proc), asio::detached);
  }

  // ---- Talking to the process --------------------------------------------

  void accept(Pending pending) {
    pending.request_id = next_request_id_++;
    if (stopping_) return fail(pending, RuntimeError::Code::kStopping, "processor is stopping");
    auto& proc = current_;
    if (!proc || !proc->ready || proc->exited || proc->finished || proc->next || proc->in_flight) {
      // The pool hands events only to ready workers; this one stopped being
      // ready (and said so) before the event arrived.
      auto done = std::move(pending.done);
      RuntimeError error = runtime_error(RuntimeError::Code::kUnavailable, "the worker process is not ready");
      error.unstarted.emplace(std::move(pending.event));
      return done(tl::make_unexpected(std::move(error)));
    }
    proc->next = std::move(pending);
    proc->async->interrupt();
  }

  static void fail(Pending& pending, RuntimeError::Code code, std::string detail) {
    auto done = std::move(pending.done);
    if (done) done(tl::make_unexpected(runtime_error(code, std::move(detail))));
  }

  static void complete(WorkerProcess& proc, InvokeResult result) {
    auto pending = std::move(*proc.in_flight);
    proc.in_flight.reset();
    pending.done(std::move(result));
  }

  void send_control(WorkerProcess& proc, shm::MessageType type, std::uint64_t request_id = 0, std::string head = {}) {
    proc.outbox.push_back({type, request_id, std::move(head)});
    if (proc.async) proc.async->interrupt();
  }

  awaitable<void> run(std::shared_ptr<WorkerProcess> proc) {
    auto self = shared_from_this();
    auto& async = *proc->async;
    shm::ChannelStatus status = shm::ChannelStatus::kOk;
    for (;;) {
      status = shm::ChannelStatus::kOk;
      while (!proc->outbox.empty()) {
        auto out = std::move(proc->outbox.front());
        proc->outbox.pop_front();
        status = co_await async.send(out.type, out.request_id, std::move(out.head), {});
        if (status != shm::ChannelStatus::kOk) break;
      }
      if (status != shm::ChannelStatus::kOk) break;
      if (proc->next && !proc->in_flight) {
        proc->in_flight = std::move(proc->next);
        proc->next.reset();
        auto& p = *proc->in_flight;
        status = co_await async.send(python::kEventMessage, p.request_id, python::encode_event_head(p.event),
                                     p.event.body);
        if (status == shm::ChannelStatus::kTooLarge) {
          complete(*proc, Response{413, "text/plain", {}, "event too large for the worker's channel\n"});
          continue;
        }
        if (status != shm::ChannelStatus::kOk) break;
      }
      shm::Message m;
      // Spin only while an answer is due: an idle worker costs nothing.
      status = co_await async.receive(m, proc->in_flight.has_value());
      if (status == shm::ChannelStatus::kWouldBlock) continue;
      if (status == shm::ChannelStatus::kTooLarge) {
        if (m.type == python::kResponseMessage && proc->in_flight && m.request_id == proc->in_flight->request_id) {
          logger_->error("event {}: the handler's response is over the channel's limit of {} bytes",
                         proc->in_flight->event.id, proc->channel->settings().max_message_size);
          complete(*proc, Response{500, "text/plain", {}, "response too large\n"});
        }
        continue;
      }
      if (status != shm::ChannelStatus::kOk) break;
      if (!handle(*proc, std::move(m))) {
        if (proc->init_error.empty()) status = shm::ChannelStatus::kProtocolError;
        break;
      }
    }
    if (status == shm::ChannelStatus::kProtocolError && !proc->exited)
      logger_->error("worker process {}: {}", proc->pid, proc->channel->last_error());
    logger_->debug("worker process {}: channel done ({})", proc->pid, shm::to_string(status));
    proc->finished = true;
    report_down(*proc);
    close_channel(*proc);
    // INIT_FAILED, a broken protocol, or the daemon gave up: the process
    // goes (a non-daemon thread of the handler's could keep it alive).
    if (!proc->exited) proc->child->signal_group(SIGKILL);
    if (proc->exited) cleanup(proc);
  }

  // False: the channel is done with (INIT_FAILED, a malformed message).
  bool handle(WorkerProcess& proc, shm::Message m) {
    switch (m.type) {
      case shm::kHelloMessage: return true;
      case python::kLogMessage: {
        auto record = python::decode_log(m.head);
        if (!record) {
          logger_->warn("worker process {} sent a malformed log record: {}", proc.pid, record.error());
          return true;
        }
        log_record(proc, m.request_id, *record);
        return true;
      }
      case python::kResponseMessage: {
        if (!proc.in_flight || proc.in_flight->request_id != m.request_id) {
          logger_->warn("worker process {} answered request {}, which it does not hold", proc.pid, m.request_id);
          return true;
        }
        auto response = python::decode_response(m.head, std::move(m.body));
        if (!response) {
          proc.channel->fail("malformed response: " + response.error());
          return false;
        }
        proc.in_flight->logs->attach(*response);
        complete(proc, std::move(response.value()));
        return true;
      }
      case python::kReadyMessage: on_ready(proc); return true;
      case python::kInitFailedMessage:
        proc.init_error = m.head.empty() ? std::string("init failed") : std::move(m.head);
        return false;
      case python::kPublishMessage: publish(proc, m.request_id, std::move(m)); return true;
      case python::kExplicitAckMessage: {
        auto offset = python::decode_explicit_ack(m.head);
        if (!offset) {
          logger_->warn("worker process {} sent a malformed explicit ack: {}", proc.pid, offset.error());
        } else if (!host_ || !host_->explicit_ack(*offset)) {
          logger_->warn("explicit_ack({}, {}, {}): no stream of this processor holds that offset; it will be "
                        "delivered again",
                        offset->topic, offset->partition, offset->offset);
        }
        return true;
      }
      default:
        logger_->warn("worker process {} sent unknown message type {}", proc.pid, m.type);
        return true;
    }
  }

  void on_ready(WorkerProcess& proc) {
    if (proc.ready) return;
    proc.ready = true;
    proc.ready_at = Clock::now();
    proc.readiness_timer.cancel();
    if (attempts_ > 0)
      logger_->info("Python worker process {} ready after {} failed attempt(s)", proc.pid, attempts_);
    else
      logger_->debug("Python worker process {} ready", proc.pid);
    attempts_ = 0;
    backoff_ = kFirstBackoff;
    last_failure_.clear();
    if (stopping_) return;
    set_state("ready");
    if (draining_) send_control(proc, python::kDrainMessage);
    on_readiness_(true);
  }

  void publish(WorkerProcess& proc, std::uint64_t publish_id, shm::Message m) {
    auto request = python::decode_publish(m.head, std::move(m.body));
    if (!request) {
      logger_->warn("worker process {} sent a malformed publish request: {}", proc.pid, request.error());
      return;
    }
    auto answer = [self = shared_from_this(), proc = std::weak_ptr<WorkerProcess>(current_),
                   publish_id](PublishOutcome outcome) {
      python::PublishResult result;
      if (!outcome) {
        result.code = 1;
        result.message = std::move(outcome.error());
      }
      asio::post(self->strand_, [self, weak = std::move(proc), publish_id, result = std::move(result)]() mutable {
        auto target = weak.lock();
        if (!target || target->finished || target->exited) return;
        self->send_control(*target, python::kPublishResultMessage, publish_id,
                           python::encode_publish_result_head(result));
      });
    };
    if (!host_) return answer(tl::make_unexpected(std::string("this processor has no outputs")));
    host_->publish(request->output, std::move(request->message), std::move(answer));
  }

  void log_record(WorkerProcess& proc, std::uint64_t request_id, const python::LogRecord& record) {
    const auto level = spdlog_level(record.level);
    const char* sep = record.fields_json.empty() || record.fields_json == "{}" ? "" : " ";
    const std::string_view fields = *sep ? std::string_view(record.fields_json) : std::string_view{};
    if (request_id != 0 && proc.in_flight && proc.in_flight->request_id == request_id) {
      logger_->log(level, "{}{}{} (event {})", record.message, sep, fields, proc.in_flight->event.id);
      proc.in_flight->logs->add(level, record.message, record.fields_json);
    } else {
      logger_->log(level, "{}{}{}", record.message, sep, fields);
    }
  }

  void read_pipe(const std::shared_ptr<WorkerProcess>& proc, bool is_stderr) {
    auto& pipe = is_stderr ? proc->stderr_pipe : proc->stdout_pipe;
    auto& buffer = is_stderr ? proc->err_buffer : proc->out_buffer;
    pipe.async_read_some(asio::buffer(buffer), [self = shared_from_this(), proc, is_stderr](error_code ec,
                                                                                           std::size_t n) {
      auto& lines = is_stderr ? proc->err_lines : proc->out_lines;
      const auto level = is_stderr ? spdlog::level::warn : spdlog::level::info;
      auto emit = [&](std::string_view line) { self->logger_->log(level, "{}", line); };
      lines.feed({(is_stderr ? proc->err_buffer : proc->out_buffer).data(), n}, emit);
      if (!ec) return self->read_pipe(proc, is_stderr);
      lines.finish(emit);
      error_code ignored;
      (is_stderr ? proc->stderr_pipe : proc->stdout_pipe).close(ignored);
    });
  }

  // ---- A process ends ----------------------------------------------------

  void on_exit(const std::shared_ptr<WorkerProcess>& proc, int status) {
    proc->exited = true;
    proc->status = status;
    proc->readiness_timer.cancel();
    {
      std::lock_guard lock(mutex_);
      if (live_child_ == proc->child) live_child_.reset();
      proc->abandoned = abandoned_.exchange(false);
    }
    // The pool learns first, so that it sends no more events here.
    report_down(*proc);
    // What the worker sent just before it died: its last logs, an
    // INIT_FAILED, a response. Same strand as the coroutine, and the
    // Channel keeps a partly received message across calls.
    if (!proc->finished) {
      shm::Message m;
      while (proc->channel->try_receive(m) == shm::ChannelStatus::kOk) {
        if (!handle(*proc, std::move(m))) break;
        m = {};
      }
    }
    close_channel(*proc);
    if (proc->finished) cleanup(proc);
  }

  // Once per process that was ready: the pool stops sending it events.
  void report_down(WorkerProcess& proc) {
    if (!proc.ready || proc.reported_down) return;
    proc.reported_down = true;
    on_readiness_(false);
  }

  void close_channel(WorkerProcess& proc) {
    if (!proc.channel) return;
    proc.channel->close();
    // Wakes the coroutine's wait on the doorbell, if it sleeps there.
    if (proc.async) proc.async->interrupt();
  }

  // Both the coroutine and the process are done: account for the exit,
  // answer what it held, start the next one.
  void cleanup(const std::shared_ptr<WorkerProcess>& proc) {
    if (proc->cleaned_up) return;
    proc->cleaned_up = true;
    proc->exit_watcher.reset();
    proc->async.reset();
    proc->channel.reset();
    if (current_ == proc) current_.reset();
    const std::string how = describe_wait_status(proc->status.value_or(-1));
    if (proc->in_flight) {
      const std::string id = proc->in_flight->event.id;
      std::string detail = "the Python worker (process " + std::to_string(proc->pid) + ") ended with " + how +
                           " while handling event " + id;
      if (!stopping_ && !proc->abandoned) logger_->error("{}; starting a new one", detail);
      complete(*proc, tl::make_unexpected(runtime_error(
                          stopping_ ? RuntimeError::Code::kStopping : RuntimeError::Code::kCrashed, detail)));
    } else if (proc->ready && !stopping_ && !proc->abandoned && !proc->stop_sent) {
      logger_->error("the Python worker (process {}) ended with {}; starting a new one", proc->pid, how);
    }
    if (proc->next) {
      auto pending = std::move(*proc->next);
      proc->next.reset();
      auto done = std::move(pending.done);
      RuntimeError error = runtime_error(RuntimeError::Code::kUnavailable, "the worker process ended");
      error.unstarted.emplace(std::move(pending.event));
      done(tl::make_unexpected(std::move(error)));
    }
    if (stopping_) return finish_stop_if_idle();
    if (draining_) {
      set_state("ended during the drain; not restarted");
      return;
    }
    if (proc->ready) return replace(*proc);
    if (!proc->init_error.empty()) {
      const auto next = next_backoff();
      if (proc->init_error != last_failure_) {
        logger_->error("the Python worker failed to start (handler import or init_context); retrying in {} s:\n{}",
                       next.count() / 1000, proc->init_error);
        last_failure_ = proc->init_error;
      } else {
        logger_->warn("the Python worker still fails to start (attempt {}, same error as above); retrying in {} s",
                      attempts_ + 1, next.count() / 1000);
      }
      return failed_start("init failed: " + first_line(proc->init_error));
    }
    if (proc->not_ready_in_time) return failed_start("not ready within readinessTimeoutSeconds");
    logger_->error("the Python worker (process {}) ended with {} before it was ready; retrying in {} s", proc->pid, how,
                   next_backoff().count() / 1000);
    failed_start("ended with " + how + " before it was ready");
  }

  // A process that was ready has ended: the first replacement is immediate;
  // quick deaths in a row back off.
  void replace(const WorkerProcess& proc) {
    const bool quick = !proc.abandoned && Clock::now() - proc.ready_at < kStableAfter;
    quick_deaths_ = quick ? quick_deaths_ + 1 : 0;
    if (quick_deaths_ <= 1) return spawn();
    const auto delay = std::min(kMaxBackoff, kFirstBackoff * (1 << std::min(quick_deaths_ - 2, 5)));
    logger_->warn("the Python worker died within {} s of starting {} times in a row; next start in {} s",
                  std::chrono::duration_cast<std::chrono::seconds>(kStableAfter).count(), quick_deaths_,
                  delay.count() / 1000);
    retry_after(delay, "restarting after repeated crashes");
  }

  std::chrono::milliseconds next_backoff() const {
    return attempts_ == 0 ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
  }

  void failed_start(const std::string& why) {
    backoff_ = next_backoff();
    ++attempts_;
    retry_after(backoff_, why);
  }

  void retry_after(std::chrono::milliseconds delay, const std::string& why) {
    set_state(why + " (next attempt in " + std::to_string(delay.count() / 1000) + " s)");
    retry_.expires_after(delay);
    retry_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->spawn();
    });
  }

  // ---- Stopping --------------------------------------------------------------

  void begin_stop(std::chrono::milliseconds timeout, UniqueFunction<void()> done) {
    stopping_ = true;
    stop_done_ = std::move(done);
    retry_.cancel();
    set_state("stopping");
    auto proc = current_;
    if (!proc || proc->exited) return finish_stop_if_idle();
    report_down(*proc);
    if (proc->ready && !proc->finished) {
      proc->stop_sent = true;
      send_control(*proc, python::kStopMessage);
    } else {
      proc->child->signal_group(SIGKILL);
    }
    stop_timer_.expires_after(timeout);
    stop_timer_.async_wait([self = shared_from_this(), proc, timeout](error_code ec) {
      if (ec || proc->exited) return;
      self->logger_->warn(
          "worker process {} still running {} ms after it was told to stop (workerTerminationTimeout); sending SIGKILL",
          proc->pid, timeout.count());
      proc->child->signal_group(SIGKILL);
    });
  }

  void finish_stop_if_idle() {
    if (!stopping_ || spawning_ || (current_ && !current_->cleaned_up)) return;
    stop_timer_.cancel();
    set_state("stopped");
    if (auto done = std::move(stop_done_)) done();
  }

  void set_state(std::string state) {
    std::lock_guard lock(mutex_);
    state_ = std::move(state);
  }

  Strand strand_;
  std::shared_ptr<const PythonSettings> settings_;
  WorkerIdentity identity_;
  HostServices* host_;
  std::shared_ptr<spdlog::logger> logger_;
  ReadinessCallback on_readiness_;

  mutable std::mutex mutex_;
  std::shared_ptr<ChildProcess> live_child_;  // guarded: what abandon() reaches
  std::string state_ = "not started";        // guarded: describe()
  std::atomic<bool> abandoned_{false};

  // Strand-only:
  std::shared_ptr<WorkerProcess> current_;
  bool spawning_ = false;
  bool draining_ = false;
  bool stopping_ = false;
  int attempts_ = 0;  // failed starts since the last READY
  int quick_deaths_ = 0;
  std::chrono::milliseconds backoff_ = kFirstBackoff;
  std::string last_failure_;
  std::uint64_t next_request_id_ = 1;
  asio::steady_timer retry_;
  asio::steady_timer stop_timer_;
  UniqueFunction<void()> stop_done_;
};

class PythonRuntime final : public Runtime {
 public:
  PythonRuntime(asio::io_context& io, std::shared_ptr<const PythonSettings> settings, WorkerIdentity identity,
                HostServices* host)
      : supervisor_(std::make_shared<ProcessSupervisor>(io, std::move(settings), std::move(identity), host)) {}

  ~PythonRuntime() override {
    // The pool stops its runtimes before it destroys them; this covers a
    // runtime destroyed without a stop (tests, a failed start): its process
    // is killed when the supervisor lets go of it.
    if (!stopped_) supervisor_->stop(0ms, [] {});
  }

  void start(ReadinessCallback on_readiness) override { supervisor_->start(std::move(on_readiness)); }
  bool runs_inline() const noexcept override { return false; }
  void invoke(Event event, InvokeCompletion done) noexcept override {
    try {
      supervisor_->invoke(std::move(event), done);
    } catch (const std::exception& e) {
      // Only allocation fails before the post: `done` was not taken then.
      if (done) done(tl::make_unexpected(runtime_error(RuntimeError::Code::kCrashed, e.what())));
    }
  }
  void abandon() noexcept override { supervisor_->abandon(); }
  void drain() noexcept override { supervisor_->drain(); }
  void stop(std::chrono::milliseconds timeout, UniqueFunction<void()> done) noexcept override {
    stopped_ = true;
    supervisor_->stop(timeout, std::move(done));
  }
  std::string describe() const override { return supervisor_->describe(); }

 private:
  std::shared_ptr<ProcessSupervisor> supervisor_;
  bool stopped_ = false;
};

}  // namespace

std::unique_ptr<Runtime> make_python_runtime(asio::io_context& io, std::shared_ptr<const PythonSettings> settings,
                                             WorkerIdentity identity, HostServices* host) {
  return std::make_unique<PythonRuntime>(io, std::move(settings), std::move(identity), host);
}

}  // namespace edgefn
