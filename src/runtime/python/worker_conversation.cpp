#include "runtime/python/process_supervisor.hpp"

namespace edgefn::python {
namespace {

spdlog::level::level_enum spdlog_level(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    default: return spdlog::level::err;
  }
}

}  // namespace

void ProcessSupervisor::accept(Pending pending) {
  pending.request_id = next_request_id_++;
  if (stopping_) return fail(pending, RuntimeError::Code::kStopping, "processor is stopping");
  auto& proc = current_;
  if (!proc || !proc->ready || proc->recycling || proc->stop_sent || proc->exited || proc->finished ||
      proc->unsent.size() + proc->sent.size() > kQueueCapacity) {
    // The pool hands events only to ready workers; this one stopped being
    // ready (and said so) before the event arrived.
    return give_back(pending, "the worker process is not ready");
  }
  proc->unsent.push_back(std::move(pending));
  proc->async->interrupt();
}

void ProcessSupervisor::fail(Pending& pending, RuntimeError::Code code, std::string detail) {
  auto done = std::move(pending.done);
  if (done) done(tl::make_unexpected(runtime_error(code, std::move(detail))));
}

void ProcessSupervisor::complete(WorkerProcess& proc, InvokeResult result) {
  auto pending = std::move(proc.sent.front());
  proc.sent.pop_front();
  pending.done(std::move(result));
}

void ProcessSupervisor::give_back(Pending& pending, const char* why) {
  auto done = std::move(pending.done);
  RuntimeError error = runtime_error(RuntimeError::Code::kUnavailable, why);
  error.unstarted.emplace(std::move(pending.event));
  done(tl::make_unexpected(std::move(error)));
}

void ProcessSupervisor::give_back_unsent(WorkerProcess& proc, const char* why) {
  auto unsent = std::move(proc.unsent);
  proc.unsent.clear();
  for (auto& pending : unsent) give_back(pending, why);
}

bool ProcessSupervisor::may_send_next(const WorkerProcess& proc, std::size_t size) const {
  if (proc.sent.empty()) return true;
  // One frame (a quarter of the ring) per queued event, and at most
  // kQueueCapacity of them beside small control messages: the ring has
  // room, whatever the worker does.
  return proc.sent.size() <= kQueueCapacity && size <= proc.channel->settings().ring_capacity / 4;
}

void ProcessSupervisor::send_control(WorkerProcess& proc, shm::MessageType type, std::uint64_t request_id, std::string head) {
  proc.outbox.push_back({type, request_id, std::move(head)});
  if (proc.async) proc.async->interrupt();
}

awaitable<void> ProcessSupervisor::run(std::shared_ptr<WorkerProcess> proc) {
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
    // After STOP the worker reads nothing more.
    if (proc->stop_sent) give_back_unsent(*proc, "the worker process is stopping");
    while (!proc->unsent.empty()) {
      auto head = encode_event_head(proc->unsent.front().event);
      if (!may_send_next(*proc, head.size() + proc->unsent.front().event.body.size())) break;
      proc->sent.push_back(std::move(proc->unsent.front()));
      proc->unsent.pop_front();
      auto& p = proc->sent.back();
      status = co_await async.send(kEventMessage, p.request_id, std::move(head), p.event.body);
      if (status == shm::ChannelStatus::kTooLarge) {
        // Refused whole, so it never reached the ring.
        auto refused = std::move(proc->sent.back());
        proc->sent.pop_back();
        refused.done(Response{413, "text/plain", {}, "event too large for the worker's channel\n"});
        status = shm::ChannelStatus::kOk;
        continue;
      }
      if (status != shm::ChannelStatus::kOk) break;
    }
    if (status != shm::ChannelStatus::kOk) break;
    shm::Message m;
    // Spin only while an answer is due: an idle worker costs nothing.
    status = co_await async.receive(m, !proc->sent.empty());
    if (status == shm::ChannelStatus::kWouldBlock) continue;
    if (status == shm::ChannelStatus::kTooLarge) {
      if (m.type == kResponseMessage && !proc->sent.empty() && m.request_id == proc->sent.front().request_id) {
        logger_->error("event {}: the handler's response is over the channel's limit of {} bytes",
                       proc->sent.front().event.id, proc->channel->settings().max_message_size);
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

bool ProcessSupervisor::handle(WorkerProcess& proc, shm::Message m) {
  switch (m.type) {
    case shm::kHelloMessage: return true;
    case kLogMessage: {
      auto record = decode_log(m.head);
      if (!record) {
        logger_->warn("worker process {} sent a malformed log record: {}", proc.pid, record.error());
        return true;
      }
      log_record(proc, m.request_id, *record);
      return true;
    }
    case kResponseMessage: {
      if (proc.sent.empty() || proc.sent.front().request_id != m.request_id) {
        logger_->warn("worker process {} answered request {}, which it does not hold", proc.pid, m.request_id);
        return true;
      }
      auto response = decode_response(m.head, std::move(m.body));
      if (!response) {
        proc.channel->fail("malformed response: " + response.error());
        return false;
      }
      proc.sent.front().logs->attach(*response);
      // Before the answer goes: the pool then puts this worker back to
      // work only if it stays.
      recycle_if_due(proc);
      complete(proc, std::move(response.value()));
      return true;
    }
    case kReadyMessage: on_ready(proc); return true;
    case kInitFailedMessage:
      proc.init_error = m.head.empty() ? std::string("init failed") : std::move(m.head);
      return false;
    case kPublishMessage: publish(proc, m.request_id, std::move(m)); return true;
    case kExplicitAckMessage: {
      auto offset = decode_explicit_ack(m.head);
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

void ProcessSupervisor::recycle_if_due(WorkerProcess& proc) {
  ++proc.events;
  if (proc.recycling || proc.exited || proc.finished || draining_ || stopping_) return;
  const auto& limits = settings_->attributes;
  std::string why;
  Counter* counter = nullptr;
  if (limits.max_events_per_worker > 0 && proc.events >= limits.max_events_per_worker) {
    why = "it handled " + std::to_string(proc.events) + " events (runtimeAttributes.maxEventsPerWorker)";
    counter = settings_->recycled_for_events;
  } else if (limits.max_worker_memory > 0) {
    const auto resident = proc.memory.bytes();
    if (!resident || *resident <= limits.max_worker_memory) return;
    why = "its resident memory, " + std::to_string(*resident) + " bytes, is over runtimeAttributes.maxWorkerMemory (" +
          std::to_string(limits.max_worker_memory) + " bytes) after " + std::to_string(proc.events) + " events";
    counter = settings_->recycled_for_memory;
  } else {
    return;
  }
  logger_->info("recycling Python worker process {}: {}; starting a new one", proc.pid, why);
  if (counter) counter->inc();
  proc.recycling = true;
  set_state("recycling (process " + std::to_string(proc.pid) + ")");
  report_down(proc);
  proc.stop_sent = true;
  send_control(proc, kStopMessage);
  const auto timeout = settings_->termination_timeout;
  proc.readiness_timer.expires_after(timeout);
  proc.readiness_timer.async_wait([self = shared_from_this(), proc = proc.shared_from_this(), timeout](error_code ec) {
    if (ec || proc->exited) return;
    self->logger_->warn("recycled worker process {} still running {} ms after STOP (workerTerminationTimeout); "
                        "sending SIGKILL",
                        proc->pid, timeout.count());
    proc->child->signal_group(SIGKILL);
  });
}

void ProcessSupervisor::on_ready(WorkerProcess& proc) {
  if (proc.ready) return;
  proc.ready = true;
  proc.ready_at = Clock::now();
  proc.readiness_timer.cancel();
  if (restarts_.failed_starts() > 0)
    logger_->info("Python worker process {} ready after {} failed attempt(s)", proc.pid, restarts_.failed_starts());
  else
    logger_->debug("Python worker process {} ready", proc.pid);
  restarts_.ready();
  last_failure_.clear();
  if (stopping_) return;
  set_state("ready");
  if (draining_) send_control(proc, kDrainMessage);
  on_readiness_(true);
}

void ProcessSupervisor::publish(WorkerProcess& proc, std::uint64_t publish_id, shm::Message m) {
  auto request = decode_publish(m.head, std::move(m.body));
  if (!request) {
    logger_->warn("worker process {} sent a malformed publish request: {}", proc.pid, request.error());
    return;
  }
  auto answer = [self = shared_from_this(), proc = std::weak_ptr<WorkerProcess>(current_),
                 publish_id](PublishOutcome outcome) {
    PublishResult result;
    if (!outcome) {
      result.code = 1;
      result.message = std::move(outcome.error());
    }
    asio::post(self->strand_, [self, weak = std::move(proc), publish_id, result = std::move(result)]() mutable {
      auto target = weak.lock();
      if (!target || target->finished || target->exited) return;
      self->send_control(*target, kPublishResultMessage, publish_id,
                         encode_publish_result_head(result));
    });
  };
  if (!host_) return answer(tl::make_unexpected(std::string("this processor has no outputs")));
  host_->publish(request->output, std::move(request->message), std::move(answer));
}

void ProcessSupervisor::log_record(WorkerProcess& proc, std::uint64_t request_id, const LogRecord& record) {
  const auto level = spdlog_level(record.level);
  // Our worker cuts print() into bounded lines and logger messages at the
  // same bound; a worker that does not still gets one bounded line.
  std::string cut_message, cut_fields;
  std::string_view message = record.message, all_fields = record.fields_json;
  if (message.size() > OutputLines::kMaxLine) message = cut_message = bounded_line(message);
  if (all_fields.size() > OutputLines::kMaxLine) all_fields = cut_fields = bounded_line(all_fields);
  Pending* running = proc.sent.empty() ? nullptr : &proc.sent.front();
  const bool in_event = request_id != 0 && running && running->request_id == request_id;
  if (logger_->should_log(level)) {
    // info_with's fields, then what the daemon knows: JSON lines carry them
    // all as members, text lines after the message.
    LogFields fields;
    fields.add_members(all_fields);
    if (in_event) {
      fields.add("event_id", running->event.id);
      if (running->event.trigger) fields.add("trigger", running->event.trigger->name);
    }
    fields.add("worker", identity_.id);
    log_with(*logger_, level, message, fields);
  }
  // As in Nuclio, X-Nuclio-Logs carries the logger's records, not print().
  if (in_event && !record.output) running->logs->add(level, message, all_fields);
}

void ProcessSupervisor::read_pipe(const std::shared_ptr<WorkerProcess>& proc, bool is_stderr) {
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
    // Both read to their end: the grace that cleanup() may have armed is over.
    if (proc->cleaned_up && !proc->stdout_pipe.is_open() && !proc->stderr_pipe.is_open())
      proc->readiness_timer.cancel();
  });
}

}  // namespace edgefn::python
