#include "runtime/shell/shell_runtime.hpp"

#include <sys/wait.h>

#include <array>
#include <atomic>
#include <csignal>
#include <mutex>
#include <optional>
#include <thread>

#include "log/log.hpp"
#include "runtime/invocation_logs.hpp"
#include "runtime/output_lines.hpp"
#include "runtime/shell/child_process.hpp"
#include "runtime/shell/shell_args.hpp"

namespace edgefn {
namespace {

using namespace std::chrono_literals;
using Descriptor = asio::posix::stream_descriptor;
using Strand = asio::strand<asio::io_context::executor_type>;

constexpr std::size_t kReadChunk = 64 * 1024;
// Longer stderr lines are logged in pieces of this size.
// How much of the end of stderr a --dev 500 body carries.
constexpr std::size_t kStderrTail = 64 * 1024;
// After the handler's group is gone, only a process that left the group
// (setsid) can still hold its stdout or stderr open; waiting for it
// longer than this would let it hold the event hostage.
constexpr auto kPipeGrace = 1s;
// Exit polling, only where the kernel has no pidfd (Linux < 5.3).
constexpr auto kPollFirst = 2ms;
constexpr auto kPollMax = 50ms;

class Invocation;

// What a runtime shares with its invocation in flight, which may outlive
// the runtime by a few completions.
struct Slot {
  Slot(asio::io_context& io_context, std::shared_ptr<const ShellSettings> s, std::shared_ptr<spdlog::logger> log)
      : io(io_context), settings(std::move(s)), logger(std::move(log)) {}
  asio::io_context& io;
  std::shared_ptr<const ShellSettings> settings;
  std::shared_ptr<spdlog::logger> logger;
  std::mutex mutex;
  std::shared_ptr<Invocation> current;  // guarded by mutex
  std::atomic<bool> stopping{false};
};

// One event's process. Everything but terminate() and child() runs on the
// strand; the event completes when the process was reaped and stdout and
// stderr were read to their end.
class Invocation : public std::enable_shared_from_this<Invocation> {
 public:
  Invocation(std::shared_ptr<Slot> slot, Event event, std::unique_ptr<ChildProcess> child, ChildProcess::Pipes pipes,
             InvokeCompletion&& done)
      : slot_(std::move(slot)),
        settings_(*slot_->settings),
        strand_(asio::make_strand(slot_->io)),
        event_(std::move(event)),
        logs_(event_),
        child_(std::move(child)),
        stdin_(strand_, pipes.stdin_write.release()),
        stdout_(strand_, pipes.stdout_read.release()),
        stderr_(strand_, pipes.stderr_read.release()),
        deadline_(strand_),
        poll_(strand_),
        // Last, so that `done` is still the caller's if anything above throws.
        done_(std::move(done)) {
    if (pipes.pidfd) pidfd_.emplace(strand_, pipes.pidfd.release());
  }

  ChildProcess& child() noexcept { return *child_; }

  void start() {
    asio::dispatch(strand_, [self = shared_from_this()] { self->begin(); });
  }

  // The event timed out: SIGTERM the group now, SIGKILL it after the
  // termination timeout. Any thread.
  void terminate() {
    asio::dispatch(strand_, [self = shared_from_this()] {
      if (self->finished_ || self->status_ || self->terminating_) return;
      self->terminating_ = true;
      const auto timeout = self->settings_.termination_timeout;
      self->slot_->logger->warn("event {} timed out: sending SIGTERM to handler process group {}", self->event_.id,
                                self->child_->pid());
      self->child_->signal_group(SIGTERM);
      self->deadline_.expires_after(timeout);
      self->deadline_.async_wait([self, timeout](error_code ec) {
        if (ec || self->finished_ || self->status_) return;
        self->slot_->logger->warn(
            "handler process group {} still running {} ms after SIGTERM (workerTerminationTimeout); sending SIGKILL",
            self->child_->pid(), timeout.count());
        self->child_->signal_group(SIGKILL);
      });
    });
  }

 private:
  void begin() {
    if (event_.body.empty()) {
      close(stdin_);
    } else {
      asio::async_write(stdin_, asio::buffer(event_.body), [self = shared_from_this()](error_code, std::size_t) {
        // EPIPE only means the handler did not read all of its input.
        close(self->stdin_);
      });
    }
    read_stdout();
    read_stderr();
    if (pidfd_)
      watch_pidfd();
    else
      poll_exit(kPollFirst);
  }

  static void close(Descriptor& d) {
    error_code ignored;
    d.close(ignored);
  }

  void read_stdout() {
    const std::size_t limit = settings_.attributes.max_output_size;
    // One byte past the limit tells "exactly at it" from "over it".
    const std::size_t chunk = std::min(kReadChunk, limit + 1 - output_size_);
    output_.resize(output_size_ + chunk);
    stdout_.async_read_some(asio::buffer(output_.data() + output_size_, chunk),
                            [self = shared_from_this(), limit](error_code ec, std::size_t n) {
                              if (self->finished_) return;
                              self->output_size_ += n;
                              if (!ec && self->output_size_ <= limit) return self->read_stdout();
                              if (!ec) {
                                self->overflow_ = true;
                                self->child_->signal_group(SIGKILL);
                              }
                              close(self->stdout_);
                              self->stdout_open_ = false;
                              self->maybe_finish();
                            });
  }

  void read_stderr() {
    stderr_.async_read_some(asio::buffer(stderr_buffer_), [self = shared_from_this()](error_code ec, std::size_t n) {
      if (self->finished_) return;
      self->take_stderr(std::string_view(self->stderr_buffer_.data(), n));
      if (!ec) return self->read_stderr();
      self->stderr_lines_.finish([&](std::string_view line) { self->log_stderr_line(line); });
      close(self->stderr_);
      self->stderr_open_ = false;
      self->maybe_finish();
    });
  }

  void take_stderr(std::string_view data) {
    stderr_tail_.append(data);
    if (stderr_tail_.size() > 2 * kStderrTail) stderr_tail_.erase(0, stderr_tail_.size() - kStderrTail);
    stderr_lines_.feed(data, [this](std::string_view line) { log_stderr_line(line); });
  }

  void log_stderr_line(std::string_view line) {
    slot_->logger->info("{}", line);
    logs_.add(spdlog::level::info, line);
  }

  void watch_pidfd() {
    pidfd_->async_wait(Descriptor::wait_read, [self = shared_from_this()](error_code ec) {
      if (self->finished_ || self->status_ || ec == asio::error::operation_aborted) return;
      if (ec) {
        self->slot_->logger->warn("cannot wait on a pidfd ({}); polling for handler exits", ec.message());
        self->pidfd_.reset();
        return self->poll_exit(kPollFirst);
      }
      if (!self->reap_if_exited()) self->watch_pidfd();
    });
    // Asio registers descriptors edge-triggered and its wait operations do
    // not look before they sleep: an exit between registering the pidfd and
    // queueing this wait would never be reported. Look once it is queued.
    reap_if_exited();
  }

  void poll_exit(std::chrono::milliseconds interval) {
    if (reap_if_exited()) return;
    poll_.expires_after(interval);
    poll_.async_wait([self = shared_from_this(), interval](error_code ec) {
      if (ec || self->finished_ || self->status_) return;
      self->poll_exit(std::min<std::chrono::milliseconds>(interval * 2, kPollMax));
    });
  }

  bool reap_if_exited() {
    if (status_) return true;
    auto status = child_->try_reap();
    if (!status) return false;
    status_ = status;
    if (pidfd_) close(*pidfd_);
    poll_.cancel();
    deadline_.cancel();
    if (stdout_open_ || stderr_open_) {
      deadline_.expires_after(kPipeGrace);
      deadline_.async_wait([self = shared_from_this()](error_code ec) {
        if (ec || self->finished_) return;
        self->slot_->logger->warn(
            "event {}: the handler exited, but a process that left its process group still holds its stdout or "
            "stderr open; not waiting for it",
            self->event_.id);
        self->stdout_open_ = self->stderr_open_ = false;
        self->maybe_finish();
      });
    }
    maybe_finish();
    return true;
  }

  void maybe_finish() {
    if (finished_ || !status_ || stdout_open_ || stderr_open_) return;
    finished_ = true;
    close(stdin_);
    close(stdout_);
    close(stderr_);
    if (pidfd_) close(*pidfd_);
    deadline_.cancel();
    poll_.cancel();
    output_.resize(output_size_);
    InvokeResult result = outcome();
    {
      std::lock_guard lock(slot_->mutex);
      if (slot_->current.get() == this) slot_->current.reset();
    }
    auto done = std::move(done_);
    done(std::move(result));
  }

  InvokeResult outcome() {
    const int status = *status_;
    if (slot_->stopping.load())
      return tl::make_unexpected(DispatchError{DispatchError::Code::kStopping, "processor is stopping"});
    if (terminating_)
      return tl::make_unexpected(DispatchError{DispatchError::Code::kTimedOut,
                                      "event timeout exceeded; handler ended with " + describe_wait_status(status)});
    auto& log = *slot_->logger;
    if (overflow_) {
      const auto limit = settings_.attributes.max_output_size;
      log.error("event {}: handler wrote more than runtimeAttributes.maxOutputSize ({} bytes) to stdout; killed it",
                event_.id, limit);
      return failure("handler output exceeded runtimeAttributes.maxOutputSize (" + std::to_string(limit) + " bytes)");
    }
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      const auto& a = settings_.attributes;
      Response r{200, a.content_type, a.response_headers, std::move(output_)};
      logs_.attach(r);
      return r;
    }
    log.error("event {}: handler `{}` failed with {}", event_.id, settings_.command.description,
              describe_wait_status(status));
    return failure("handler failed with " + describe_wait_status(status));
  }

  Response failure(const std::string& message) {
    Response r{500, "text/plain", {}, message + "\n"};
    if (settings_.dev_mode && !stderr_tail_.empty()) {
      std::string_view tail = stderr_tail_;
      if (tail.size() > kStderrTail) tail = tail.substr(tail.size() - kStderrTail);
      r.body += "stderr:\n";
      r.body += tail;
    }
    logs_.attach(r);
    return r;
  }

  std::shared_ptr<Slot> slot_;
  const ShellSettings& settings_;  // kept alive by slot_
  Strand strand_;
  Event event_;
  InvocationLogs logs_;
  std::unique_ptr<ChildProcess> child_;
  Descriptor stdin_;
  Descriptor stdout_;
  Descriptor stderr_;
  std::optional<Descriptor> pidfd_;
  asio::steady_timer deadline_;  // SIGKILL after SIGTERM; then the pipe grace after the exit
  asio::steady_timer poll_;
  std::string output_;  // the first output_size_ bytes are stdout so far
  std::size_t output_size_ = 0;
  std::array<char, kReadChunk> stderr_buffer_{};
  OutputLines stderr_lines_;
  std::string stderr_tail_;
  bool stdout_open_ = true;
  bool stderr_open_ = true;
  bool overflow_ = false;
  bool terminating_ = false;
  bool finished_ = false;
  std::optional<int> status_;
  InvokeCompletion done_;
};

class ShellRuntime final : public Runtime {
 public:
  ShellRuntime(asio::io_context& io, std::shared_ptr<const ShellSettings> settings, WorkerIdentity identity)
      : slot_(std::make_shared<Slot>(io, std::move(settings),
                                     get_logger("worker." + identity.pool_name + "." + std::to_string(identity.id)))) {}

  ~ShellRuntime() override { stop(0ms); }

  void start() override {
    // A handler that exits without reading all of its input makes the next
    // write to its stdin raise SIGPIPE, whose default action would end the
    // daemon; ignored, the write fails with EPIPE instead. Process-wide and
    // idempotent; children get the default back before exec.
    std::signal(SIGPIPE, SIG_IGN);
  }

  bool runs_inline() const noexcept override { return false; }

  void invoke(Event event, InvokeCompletion done) noexcept override {
    try {
      if (slot_->stopping.load())
        return done(tl::make_unexpected(DispatchError{DispatchError::Code::kStopping, "processor is stopping"}));
      const auto& settings = *slot_->settings;
      std::vector<std::string> argv = settings.command.prefix;
      if (auto header = event.header("X-Nuclio-Arguments"); !header.empty()) {
        auto split = split_arguments(header);
        if (!split) return done(Response{400, "text/plain", {}, "X-Nuclio-Arguments: " + split.error() + "\n"});
        argv.insert(argv.end(), split.value().begin(), split.value().end());
      } else {
        argv.insert(argv.end(), settings.attributes.arguments.begin(), settings.attributes.arguments.end());
      }
      SpawnRequest request{std::move(argv), event_environment(settings.environment, event), settings.working_directory};
      ChildProcess::Pipes pipes;
      auto child = ChildProcess::spawn(request, pipes);
      if (!child) {
        slot_->logger->error("event {}: {}", event.id, child.error());
        return done(tl::make_unexpected(DispatchError{DispatchError::Code::kCrashed, child.error()}));
      }
      auto invocation = std::make_shared<Invocation>(slot_, std::move(event), std::move(child.value()),
                                                     std::move(pipes), std::move(done));
      bool missed_stop;
      {
        std::lock_guard lock(slot_->mutex);
        slot_->current = invocation;
        missed_stop = slot_->stopping.load();
      }
      // stop() ran between the check above and now, and did not see it.
      if (missed_stop) invocation->child().signal_group(SIGKILL);
      invocation->start();
    } catch (const std::exception& e) {
      slot_->logger->error("cannot run the shell handler: {}", e.what());
      if (done) done(tl::make_unexpected(DispatchError{DispatchError::Code::kCrashed, e.what()}));
    }
  }

  void abandon() noexcept override {
    if (auto invocation = current()) {
      try {
        invocation->terminate();
      } catch (const std::exception& e) {
        slot_->logger->error("cannot stop a timed-out handler: {}; killing it", e.what());
        invocation->child().signal_group(SIGKILL);
      }
    }
  }

  // Blocks the calling thread for up to `timeout` while a handler that
  // ignores SIGTERM runs on: the pool stops its workers one after another,
  // and no I/O is needed here, so this is safe on an I/O thread too.
  void stop(std::chrono::milliseconds timeout) noexcept override {
    std::shared_ptr<Invocation> invocation;
    {
      std::lock_guard lock(slot_->mutex);
      slot_->stopping.store(true);
      invocation = slot_->current;
    }
    if (!invocation) return;
    auto& child = invocation->child();
    child.signal_group(SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!child.exited() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    if (!child.exited())
      slot_->logger->warn("handler process group {} still running {} ms after SIGTERM; sending SIGKILL", child.pid(),
                          timeout.count());
    child.signal_group(SIGKILL);
    child.reap();
  }

 private:
  std::shared_ptr<Invocation> current() {
    std::lock_guard lock(slot_->mutex);
    return slot_->current;
  }

  std::shared_ptr<Slot> slot_;
};

}  // namespace

std::unique_ptr<Runtime> make_shell_runtime(asio::io_context& io, std::shared_ptr<const ShellSettings> settings,
                                            WorkerIdentity identity) {
  return std::make_unique<ShellRuntime>(io, std::move(settings), std::move(identity));
}

}  // namespace edgefn
