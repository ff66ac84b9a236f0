#include "runtime/python/process_supervisor.hpp"

namespace edgefn::python {
namespace {

using namespace std::chrono_literals;

constexpr auto kPipeGrace = 1s;

// For the worker's state in /status: the last line of a traceback names
// the exception; its first says "Traceback (most recent call last):".
std::string first_line(const std::string& text) {
  if (text.rfind("Traceback", 0) == 0) {
    auto last = text.find_last_not_of("\n");
    auto start = text.rfind('\n', last);
    const auto from = start == std::string::npos ? 0 : start + 1;
    return text.substr(from, last + 1 - from);
  }
  return text.substr(0, text.find('\n'));
}

}  // namespace

void ProcessSupervisor::start(ReadinessCallback on_readiness) {
  on_readiness_ = std::move(on_readiness);
  asio::post(strand_, [self = shared_from_this()] { self->spawn(); });
}

void ProcessSupervisor::invoke(Event event, InvokeCompletion& done) {
  auto pending = std::make_shared<Pending>();
  pending->event = std::move(event);
  pending->logs = std::make_unique<InvocationLogs>(pending->event);
  pending->done = std::move(done);
  asio::post(strand_, [self = shared_from_this(), pending] { self->accept(std::move(*pending)); });
}

void ProcessSupervisor::abandon() noexcept {
  std::lock_guard lock(mutex_);
  if (!live_child_) return;
  logger_->warn("event timeout exceeded: killing worker process {} and starting a new one", live_child_->pid());
  abandoned_.store(true);
  live_child_->signal_group(SIGKILL);
}

void ProcessSupervisor::drain() noexcept {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->draining_ || self->stopping_) return;
    self->draining_ = true;
    if (auto& p = self->current_; p && p->ready && !p->exited) self->send_control(*p, kDrainMessage);
  });
}

void ProcessSupervisor::run_drain_callbacks() noexcept {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->stopping_) return;
    // A process that is not ready yet, or is being recycled, has no events
    // of the revoked partitions in hand; the worker runs the callback
    // after the event it is handling, before the next one.
    auto& p = self->current_;
    if (!p || !p->ready || p->exited || p->finished || p->recycling || p->stop_sent) return;
    self->logger_->debug("running the drain callback of worker process {} (rebalance)", p->pid);
    self->send_control(*p, kDrainMessage);
  });
}

void ProcessSupervisor::stop(std::chrono::milliseconds timeout, UniqueFunction<void()> done) noexcept {
  asio::post(strand_, [self = shared_from_this(), timeout, done = std::move(done)]() mutable {
    self->begin_stop(timeout, std::move(done));
  });
}

std::string ProcessSupervisor::describe() const {
  std::lock_guard lock(mutex_);
  return state_;
}

std::optional<int> ProcessSupervisor::process_id() const {
  std::lock_guard lock(mutex_);
  if (!live_child_) return std::nullopt;
  return live_child_->pid();
}

void ProcessSupervisor::spawn() {
  if (stopping_ || draining_) return finish_stop_if_idle();
  auto proc = std::make_shared<WorkerProcess>(strand_);
  SpawnRequest request;
  try {
    proc->channel = std::make_unique<shm::Channel>();
    const auto& s = *settings_;
    request.argv = {s.interpreter, s.runtime.worker_main};
    request.env = worker_environment(s, identity_.id);
    request.working_directory = s.function_directory;
    request.pass_fds = {{proc->channel->notify_fd(), kWorkerNotifyFd},
                        {proc->channel->segment_fd(), kWorkerSegmentFd},
                        {proc->channel->bell_fd(), kWorkerBellFd}};
    if (s.source_fd) request.pass_fds.push_back({s.source_fd.get(), kWorkerSourceFd});
    request.pass_fds.insert(request.pass_fds.end(), s.runtime.fds.begin(), s.runtime.fds.end());
    request.ignore_termination_signals = true;
    request.credentials = s.worker_user;
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

void ProcessSupervisor::on_spawned(const std::shared_ptr<WorkerProcess>& proc, SpawnResult result) {
  spawning_ = false;
  if (!result.child) {
    // Said in full once; the start checked the interpreter, so this is
    // one removed since, and each retry would only repeat it.
    if (result.child.error() != last_failure_) {
      logger_->error("cannot start the Python worker: {}; retrying every {} s at most", result.child.error(),
                     RestartPolicy::kMaxBackoff.count() / 1000);
      last_failure_ = result.child.error();
    }
    if (stopping_) return finish_stop_if_idle();
    return failed_start(result.child.error());
  }
  proc->child = std::move(result.child.value());
  proc->pid = proc->child->pid();
  if (settings_->attributes.max_worker_memory > 0) {
    proc->memory = ResidentMemory(proc->pid);
    if (!proc->memory.valid())
      logger_->warn("cannot read /proc/{}/statm: runtimeAttributes.maxWorkerMemory is not enforced for this worker",
                    proc->pid);
  }
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

void ProcessSupervisor::on_exit(const std::shared_ptr<WorkerProcess>& proc, int status) {
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

void ProcessSupervisor::report_down(WorkerProcess& proc) {
  if (!proc.ready || proc.reported_down) return;
  proc.reported_down = true;
  on_readiness_(false);
}

void ProcessSupervisor::close_channel(WorkerProcess& proc) {
  if (!proc.channel) return;
  proc.channel->close();
  // Wakes the coroutine's wait on the doorbell, if it sleeps there.
  if (proc.async) proc.async->interrupt();
}

void ProcessSupervisor::cleanup(const std::shared_ptr<WorkerProcess>& proc) {
  if (proc->cleaned_up) return;
  proc->cleaned_up = true;
  proc->exit_watcher.reset();
  proc->async.reset();
  proc->channel.reset();
  // The process is gone, and its group with it; only something that left
  // the group (setsid) can still hold its stdout or stderr open. What the
  // worker wrote is read within the grace; then the pipes close, so that
  // such a straggler cannot keep the daemon from exiting.
  if (proc->stdout_pipe.is_open() || proc->stderr_pipe.is_open()) {
    proc->readiness_timer.expires_after(kPipeGrace);
    proc->readiness_timer.async_wait([proc](error_code ec) {
      if (ec) return;
      error_code ignored;
      proc->stdout_pipe.close(ignored);
      proc->stderr_pipe.close(ignored);
    });
  }
  if (current_ == proc) current_.reset();
  const std::string how = describe_wait_status(proc->status.value_or(-1));
  // What follows the exit, for the log: nothing while stopping; no new
  // process during the drain.
  const char* then = draining_ ? "; not restarted during the drain" : "; starting a new one";
  if (!proc->sent.empty()) {
    const std::string id = proc->sent.front().event.id;
    std::string detail = "the Python worker (process " + std::to_string(proc->pid) + ") ended with " + how +
                         " while handling event " + id;
    if (!stopping_ && !proc->abandoned) logger_->error("{}{}", detail, then);
    complete(*proc, tl::make_unexpected(runtime_error(
                        stopping_ ? RuntimeError::Code::kStopping : RuntimeError::Code::kCrashed, detail)));
  } else if (proc->ready && !stopping_ && !proc->abandoned && !proc->stop_sent) {
    logger_->error("the Python worker (process {}) ended with {}{}", proc->pid, how, then);
  }
  // Queued behind the one that ran: never started.
  auto queued = std::move(proc->sent);
  proc->sent.clear();
  for (auto& pending : queued) give_back(pending, "the worker process ended");
  give_back_unsent(*proc, "the worker process ended");
  if (stopping_) return finish_stop_if_idle();
  if (draining_) {
    set_state("ended during the drain; not restarted");
    return;
  }
  if (proc->ready) return replace(*proc);
  if (!proc->init_error.empty()) {
    const auto next = restarts_.next_failed_start();
    if (proc->init_error != last_failure_) {
      const std::string advice = missing_module_advice(proc->init_error, *settings_);
      logger_->error("the Python worker failed to start (handler import or init_context); retrying in {} s:\n{}{}",
                     next.count() / 1000, proc->init_error, advice.empty() ? "" : "\n" + advice);
      last_failure_ = proc->init_error;
    } else {
      logger_->warn("the Python worker still fails to start (attempt {}, same error as above); retrying in {} s",
                    restarts_.failed_starts() + 1, next.count() / 1000);
    }
    return failed_start("init failed: " + first_line(proc->init_error));
  }
  if (proc->not_ready_in_time) return failed_start("not ready within readinessTimeoutSeconds");
  logger_->error("the Python worker (process {}) ended with {} before it was ready; retrying in {} s", proc->pid, how,
                 restarts_.next_failed_start().count() / 1000);
  failed_start("ended with " + how + " before it was ready");
}

void ProcessSupervisor::replace(const WorkerProcess& proc) {
  const auto& counters = settings_->restarts;
  count(proc.abandoned ? counters.timeout : proc.recycling ? counters.recycled : counters.crashed);
  const auto delay = restarts_.ended_after_ready(Clock::now() - proc.ready_at, proc.abandoned || proc.recycling);
  if (delay == std::chrono::milliseconds::zero()) return spawn();
  logger_->warn("the Python worker died within {} s of starting {} times in a row; next start in {} s",
                RestartPolicy::kStableAfter.count(), restarts_.quick_deaths(), delay.count() / 1000);
  retry_after(delay, "restarting after repeated crashes");
}

void ProcessSupervisor::retry_after(std::chrono::milliseconds delay, const std::string& why) {
  set_state(why + " (next attempt in " + std::to_string(delay.count() / 1000) + " s)");
  retry_.expires_after(delay);
  retry_.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->spawn();
  });
}

void ProcessSupervisor::begin_stop(std::chrono::milliseconds timeout, UniqueFunction<void()> done) {
  stopping_ = true;
  stop_done_ = std::move(done);
  retry_.cancel();
  set_state("stopping");
  auto proc = current_;
  if (!proc || proc->exited) return finish_stop_if_idle();
  report_down(*proc);
  if (proc->ready && !proc->finished) {
    if (!proc->stop_sent) send_control(*proc, kStopMessage);  // a recycled worker has had its STOP
    proc->stop_sent = true;
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

void ProcessSupervisor::finish_stop_if_idle() {
  if (!stopping_ || spawning_ || (current_ && !current_->cleaned_up)) return;
  stop_timer_.cancel();
  set_state("stopped");
  if (auto done = std::move(stop_done_)) done();
}

void ProcessSupervisor::set_state(std::string state) {
  std::lock_guard lock(mutex_);
  state_ = std::move(state);
}

}  // namespace edgefn::python
