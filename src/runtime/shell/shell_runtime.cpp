#include "runtime/shell/shell_runtime.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <mutex>
#include <optional>

#include "log/log.hpp"
#include "process/exit_watcher.hpp"
#include "process/output_lines.hpp"
#include "process/spawner.hpp"
#include "runtime/handler_environment.hpp"
#include "runtime/invocation_logs.hpp"
#include "runtime/shell/shell_args.hpp"
#include "util/strings.hpp"

namespace edgefn {
namespace {

using namespace std::chrono_literals;
using Descriptor = asio::posix::stream_descriptor;
using Strand = asio::strand<asio::io_context::executor_type>;

constexpr std::size_t kReadChunk = 64 * 1024;
// After the handler's group is gone, only a process that left the group
// (setsid) can still hold its output open; waiting for it longer than this
// would let it hold the event hostage.
constexpr auto kPipeGrace = 1s;

RuntimeError runtime_error(RuntimeError::Code code, std::string detail) { return {code, std::move(detail), {}}; }

constexpr std::string_view kArgumentsHeader = "X-Nuclio-Arguments";
constexpr std::string_view kArgumentsRefused =
    "X-Nuclio-Arguments is not accepted by this function: a client may not choose the handler's arguments unless "
    "spec.runtimeAttributes.allowArgumentsHeader is true\n";

// Present at all, even empty: a client that sends it expects it to count.
bool carries_arguments_header(const Event& event) {
  return std::any_of(event.headers.begin(), event.headers.end(),
                     [](const auto& header) { return iequals(header.first, kArgumentsHeader); });
}

class Invocation;

// One worker: what the runtime shares with its invocation in flight, which
// may outlive the runtime by a few completions. Its strand orders
// everything an invocation does.
struct Slot {
  Slot(asio::io_context& io, std::shared_ptr<const ShellSettings> s, std::shared_ptr<spdlog::logger> log)
      : strand(asio::make_strand(io)), settings(std::move(s)), logger(std::move(log)) {}
  Strand strand;
  std::shared_ptr<const ShellSettings> settings;
  std::shared_ptr<spdlog::logger> logger;
  std::mutex mutex;
  std::shared_ptr<Invocation> current;  // guarded by mutex
  UniqueFunction<void()> stopped;       // guarded by mutex: stop()'s done, while an invocation ends
  std::atomic<bool> stopping{false};
};

// One event's process, from the spawn to the last byte of its output
// (stdout and stderr share one pipe unless logStderr). Everything but the
// constructor runs on the slot's strand; the event completes when the
// process was reaped and its output was read to its end.
class Invocation : public std::enable_shared_from_this<Invocation> {
 public:
  Invocation(std::shared_ptr<Slot> slot, Event event, InvokeCompletion done)
      : slot_(std::move(slot)),
        settings_(*slot_->settings),
        event_(std::move(event)),
        logs_(event_),
        stdin_(slot_->strand),
        stdout_(slot_->strand),
        stderr_(slot_->strand),
        deadline_(slot_->strand),
        done_(std::move(done)) {}

  // Hands the spawn to the spawner thread. Any thread.
  void start(SpawnRequest request) {
    spawn_async(std::move(request), slot_->strand,
                [self = shared_from_this()](SpawnResult result) { self->on_spawned(std::move(result)); });
  }

  // SIGTERM the group now, SIGKILL it after the termination timeout: for an
  // event timeout (abandon) or a stop. Any thread.
  void terminate(bool timed_out) {
    asio::dispatch(slot_->strand, [self = shared_from_this(), timed_out] {
      self->timed_out_ = self->timed_out_ || timed_out;
      if (self->terminating_ || self->finished_) return;
      self->terminating_ = true;
      if (!self->child_) return;  // still spawning: on_spawned() kills it
      self->send_terminate();
    });
  }

 private:
  void on_spawned(SpawnResult result) {
    if (!result.child) {
      slot_->logger->error("event {}: {}", event_.id, result.child.error());
      return finish(tl::make_unexpected(runtime_error(RuntimeError::Code::kCrashed, result.child.error())));
    }
    child_ = std::move(result.child.value());
    try {
      stdin_.assign(result.pipes.stdin_write.release());
      stdout_.assign(result.pipes.stdout_read.release());
      if (settings_.attributes.log_stderr) stderr_.assign(result.pipes.stderr_read.release());
      exit_watcher_.emplace(slot_->strand, child_, std::move(result.pipes.pidfd),
                            [self = shared_from_this()](int status) { self->on_exit(status); });
    } catch (const std::exception& e) {
      slot_->logger->error("event {}: cannot watch the handler process: {}", event_.id, e.what());
      child_->signal_group(SIGKILL);
      child_->reap();
      return finish(tl::make_unexpected(runtime_error(RuntimeError::Code::kCrashed, e.what())));
    }
    if (terminating_) send_terminate();
    if (event_.body.empty()) {
      close(stdin_);
    } else {
      asio::async_write(stdin_, asio::buffer(event_.body), [self = shared_from_this()](error_code, std::size_t) {
        // EPIPE only means the handler did not read all of its input.
        close(self->stdin_);
      });
    }
    read_stdout();
    if (stderr_open_) read_stderr();
  }

  void send_terminate() {
    const auto timeout = settings_.termination_timeout;
    slot_->logger->warn("event {}{}: sending SIGTERM to handler process group {}", event_.id,
                        timed_out_ ? " timed out" : "", child_->pid());
    child_->signal_group(SIGTERM);
    deadline_.expires_after(timeout);
    deadline_.async_wait([self = shared_from_this(), timeout](error_code ec) {
      if (ec || self->finished_ || self->status_) return;
      self->slot_->logger->warn(
          "handler process group {} still running {} ms after SIGTERM (workerTerminationTimeout); sending SIGKILL",
          self->child_->pid(), timeout.count());
      self->child_->signal_group(SIGKILL);
    });
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
      self->stderr_lines_.feed(std::string_view(self->stderr_buffer_.data(), n),
                               [&](std::string_view line) { self->log_stderr_line(line); });
      if (!ec) return self->read_stderr();
      self->stderr_lines_.finish([&](std::string_view line) { self->log_stderr_line(line); });
      close(self->stderr_);
      self->stderr_open_ = false;
      self->maybe_finish();
    });
  }

  void log_stderr_line(std::string_view line) {
    // A handler's stderr is a warning in every runtime.
    if (slot_->logger->should_log(spdlog::level::warn)) {
      LogFields fields;
      fields.add("event_id", event_.id);
      if (event_.trigger) fields.add("trigger", event_.trigger->name);
      log_with(*slot_->logger, spdlog::level::warn, line, fields);
    }
    logs_.add(spdlog::level::warn, line);
  }

  void on_exit(int status) {
    status_ = status;
    deadline_.cancel();
    if (stdout_open_ || stderr_open_) {
      deadline_.expires_after(kPipeGrace);
      deadline_.async_wait([self = shared_from_this()](error_code ec) {
        if (ec || self->finished_) return;
        self->slot_->logger->warn(
            "event {}: the handler exited, but a process that left its process group still holds its output open; "
            "not waiting for it",
            self->event_.id);
        self->stdout_open_ = self->stderr_open_ = false;
        self->maybe_finish();
      });
    }
    maybe_finish();
  }

  void maybe_finish() {
    if (finished_ || !status_ || stdout_open_ || stderr_open_) return;
    output_.resize(output_size_);
    finish(outcome());
  }

  void finish(InvokeResult result) {
    finished_ = true;
    close(stdin_);
    close(stdout_);
    close(stderr_);
    deadline_.cancel();
    exit_watcher_.reset();
    UniqueFunction<void()> stopped;
    {
      std::lock_guard lock(slot_->mutex);
      if (slot_->current.get() == this) slot_->current.reset();
      stopped = std::move(slot_->stopped);
    }
    auto done = std::move(done_);
    done(std::move(result));
    if (stopped) stopped();
  }

  InvokeResult outcome() {
    const int status = *status_;
    if (timed_out_)
      return tl::make_unexpected(runtime_error(RuntimeError::Code::kCrashed, "event timeout exceeded; handler ended with " +
                                                                                 describe_wait_status(status)));
    if (terminating_)
      return tl::make_unexpected(runtime_error(RuntimeError::Code::kStopping, "processor is stopping"));
    auto& log = *slot_->logger;
    if (overflow_) {
      const auto limit = settings_.attributes.max_output_size;
      log.error("event {}: handler wrote more than runtimeAttributes.maxOutputSize ({} bytes); killed it", event_.id,
                limit);
      return failure("handler output exceeded runtimeAttributes.maxOutputSize (" + std::to_string(limit) + " bytes)\n");
    }
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      const auto& a = settings_.attributes;
      Response r{200, a.content_type, a.response_headers, std::move(output_)};
      logs_.attach(r);
      return r;
    }
    log.error("event {}: handler `{}` failed with {}", event_.id, settings_.command.description,
              describe_wait_status(status));
    return failure(shell_failure_body(status, output_));
  }

  // Nuclio's shell runtime answers a failed handler with its configured
  // response headers and fasthttp's default Content-Type.
  Response failure(std::string body) {
    Response r{500, std::string(kShellContentType), settings_.attributes.response_headers, std::move(body)};
    logs_.attach(r);
    return r;
  }

  std::shared_ptr<Slot> slot_;
  const ShellSettings& settings_;  // kept alive by slot_
  Event event_;
  InvocationLogs logs_;
  std::shared_ptr<ChildProcess> child_;
  std::optional<ExitWatcher> exit_watcher_;
  Descriptor stdin_;
  Descriptor stdout_;            // stdout, and stderr interleaved unless logStderr
  Descriptor stderr_;            // logStderr only
  asio::steady_timer deadline_;  // SIGKILL after SIGTERM; then the pipe grace after the exit
  std::string output_;  // the first output_size_ bytes are the output so far
  std::size_t output_size_ = 0;
  std::array<char, kReadChunk> stderr_buffer_{};
  OutputLines stderr_lines_;
  bool stdout_open_ = true;
  bool stderr_open_ = settings_.attributes.log_stderr;
  bool overflow_ = false;
  bool terminating_ = false;
  bool timed_out_ = false;
  bool finished_ = false;
  std::optional<int> status_;
  InvokeCompletion done_;
};

class ShellRuntime final : public Runtime {
 public:
  ShellRuntime(asio::io_context& io, std::shared_ptr<const ShellSettings> settings, WorkerIdentity identity)
      : slot_(std::make_shared<Slot>(io, std::move(settings),
                                     get_logger("worker." + identity.pool_name + "." + std::to_string(identity.id)))) {
    if (identity.id == 0 && slot_->settings->attributes.allow_arguments_header)
      slot_->logger->warn(
          "runtimeAttributes.allowArgumentsHeader is true: any client that reaches this function's triggers chooses "
          "the arguments of `{}` through X-Nuclio-Arguments; a command that runs what its arguments say (sed, awk, "
          "find, an interpreter) then runs anything for them, as this processor's user",
          slot_->settings->command.description);
  }

  ~ShellRuntime() override {
    slot_->stopping.store(true);
    if (auto invocation = current()) invocation->terminate(false);
  }

  void start(ReadinessCallback on_readiness) override { on_readiness(true); }

  bool runs_inline() const noexcept override { return false; }

  void invoke(Event event, InvokeCompletion done) noexcept override {
    try {
      if (slot_->stopping.load())
        return post(std::move(done), tl::make_unexpected(runtime_error(RuntimeError::Code::kStopping,
                                                                       "processor is stopping")));
      const auto& settings = *slot_->settings;
      std::vector<std::string> argv = settings.command.prefix;
      if (!settings.attributes.allow_arguments_header && carries_arguments_header(event)) {
        if (settings.arguments_refused) settings.arguments_refused->inc();
        // Debug only: clients decide how often this happens; the metric counts.
        slot_->logger->debug("event {}: refused with 403: it carries X-Nuclio-Arguments, and "
                             "runtimeAttributes.allowArgumentsHeader is false",
                             event.id);
        return post(std::move(done), Response{403, "text/plain", {}, std::string(kArgumentsRefused)});
      }
      if (auto header = event.header(kArgumentsHeader); !header.empty()) {
        auto split = split_arguments(header);
        if (!split)
          return post(std::move(done), Response{400, "text/plain", {}, std::string(kArgumentsHeader) + ": " +
                                                                            split.error() + "\n"});
        argv.insert(argv.end(), split.value().begin(), split.value().end());
      } else {
        argv.insert(argv.end(), settings.attributes.arguments.begin(), settings.attributes.arguments.end());
      }
      SpawnRequest request{std::move(argv), event_environment(settings.environment, event), settings.working_directory,
                           {}, false, settings.worker_user, !settings.attributes.log_stderr};
      auto invocation = std::make_shared<Invocation>(slot_, std::move(event), std::move(done));
      bool missed_stop;
      {
        std::lock_guard lock(slot_->mutex);
        slot_->current = invocation;
        missed_stop = slot_->stopping.load();
      }
      invocation->start(std::move(request));
      // stop() ran between the check above and now, and did not see it.
      if (missed_stop) invocation->terminate(false);
    } catch (const std::exception& e) {
      slot_->logger->error("cannot run the shell handler: {}", e.what());
      if (done) post(std::move(done), tl::make_unexpected(runtime_error(RuntimeError::Code::kCrashed, e.what())));
    }
  }

  void abandon() noexcept override {
    if (auto invocation = current()) invocation->terminate(true);
  }

  void stop(std::chrono::milliseconds, UniqueFunction<void()> done) noexcept override {
    std::shared_ptr<Invocation> invocation;
    {
      std::lock_guard lock(slot_->mutex);
      slot_->stopping.store(true);
      invocation = slot_->current;
      if (invocation) slot_->stopped = std::move(done);
    }
    // The invocation's own termination timeout (workerTerminationTimeout)
    // bounds it; it calls `done` once its process group is gone.
    if (invocation)
      invocation->terminate(false);
    else
      done();
  }

  std::string describe() const override {
    if (slot_->stopping.load()) return "stopped";
    return current() ? "running a handler" : "ready";
  }

 private:
  std::shared_ptr<Invocation> current() const {
    std::lock_guard lock(slot_->mutex);
    return slot_->current;
  }

  void post(InvokeCompletion done, InvokeResult result) {
    asio::post(slot_->strand, [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
  }

  std::shared_ptr<Slot> slot_;
};

}  // namespace

std::unique_ptr<Runtime> make_shell_runtime(asio::io_context& io, std::shared_ptr<const ShellSettings> settings,
                                            WorkerIdentity identity) {
  return std::make_unique<ShellRuntime>(io, std::move(settings), std::move(identity));
}

}  // namespace edgefn
