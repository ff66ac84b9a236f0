#pragma once
// The Python runtime's insides (python_runtime.hpp has the picture): a
// ProcessSupervisor keeps one WorkerProcess (an interpreter and its shm
// channel) alive for one worker. Keeping a process alive (start, exit,
// restart, stop) is in process_supervisor.cpp; talking to it (events,
// answers, logs, host services) in worker_conversation.cpp. Everything runs
// on the supervisor's strand but for what its mutex guards.
#include <signal.h>

#include <array>
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <spdlog/logger.h>

#include "host/host_services.hpp"
#include "log/log.hpp"
#include "process/exit_watcher.hpp"
#include "process/output_lines.hpp"
#include "process/resident_memory.hpp"
#include "process/spawner.hpp"
#include "runtime/invocation_logs.hpp"
#include "runtime/python/python_settings.hpp"
#include "runtime/python/restart_policy.hpp"
#include "runtime/python/worker_protocol.hpp"
#include "runtime/runtime.hpp"
#include "shm/async_channel.hpp"
#include "shm/channel.hpp"

namespace edgefn::python {

using Clock = std::chrono::steady_clock;
using Descriptor = asio::posix::stream_descriptor;
using Strand = asio::strand<asio::io_context::executor_type>;

inline RuntimeError runtime_error(RuntimeError::Code code, std::string detail) {
  return {code, std::move(detail), {}};
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
struct WorkerProcess : std::enable_shared_from_this<WorkerProcess> {
  explicit WorkerProcess(const Strand& strand)
      : stdout_pipe(strand), stderr_pipe(strand), readiness_timer(strand) {}

  std::unique_ptr<shm::Channel> channel;
  std::unique_ptr<shm::AsyncChannel> async;
  std::shared_ptr<ChildProcess> child;
  std::optional<ExitWatcher> exit_watcher;
  Descriptor stdout_pipe;
  Descriptor stderr_pipe;
  // READY's deadline; then a recycled worker's STOP deadline; then the
  // pipes' grace after the exit.
  asio::steady_timer readiness_timer;
  ResidentMemory memory;  // opened only with maxWorkerMemory
  pid_t pid = 0;
  std::uint64_t events = 0;  // answered
  bool ready = false;
  bool recycling = false;  // told to stop between events (maxWorkerMemory, maxEventsPerWorker)
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
  std::deque<Pending> unsent;  // accepted, not in the ring yet
  std::deque<Pending> sent;    // in the ring: the front runs, the rest wait behind it
  std::deque<Outgoing> outbox;       // control messages for the worker
  std::array<char, 4096> out_buffer{};
  std::array<char, 4096> err_buffer{};
  OutputLines out_lines;
  OutputLines err_lines;
};

class ProcessSupervisor : public std::enable_shared_from_this<ProcessSupervisor> {
 public:
  // Events a worker holds behind the one it runs (Runtime::queue_capacity):
  // one is enough for the worker to find its next event the moment it
  // answers, and more would only hold events a freed worker could run.
  static constexpr std::size_t kQueueCapacity = 1;

  ProcessSupervisor(asio::io_context& io, std::shared_ptr<const PythonSettings> settings, WorkerIdentity identity,
                    HostServices* host)
      : strand_(asio::make_strand(io)),
        settings_(std::move(settings)),
        identity_(std::move(identity)),
        host_(host),
        logger_(get_logger("worker." + identity_.pool_name + "." + std::to_string(identity_.id))),
        retry_(strand_),
        stop_timer_(strand_) {}

  void start(ReadinessCallback on_readiness);

  // Takes `done` only once nothing here can throw, so a caller that catches
  // an exception still holds it and can answer.
  void invoke(Event event, InvokeCompletion& done);
  void abandon() noexcept;
  void drain() noexcept;
  // DRAIN to the process if one is ready, without draining_.
  void run_drain_callbacks() noexcept;
  void stop(std::chrono::milliseconds timeout, UniqueFunction<void()> done) noexcept;
  std::string describe() const;
  std::optional<int> process_id() const;

 private:
  // ---- Starting a process --------------------------------------------------

  void spawn();
  void on_spawned(const std::shared_ptr<WorkerProcess>& proc, SpawnResult result);

  // ---- Talking to the process --------------------------------------------

  void accept(Pending pending);
  static void fail(Pending& pending, RuntimeError::Code code, std::string detail);
  // Answers the event the worker runs; the next one in the ring runs now.
  static void complete(WorkerProcess& proc, InvokeResult result);
  // An event that never started goes back to the pool, which runs it
  // elsewhere.
  static void give_back(Pending& pending, const char* why);
  void give_back_unsent(WorkerProcess& proc, const char* why);
  // Whether the next unsent event goes into the ring now: always when the
  // worker is idle; behind a running one only while the ring surely has
  // room for it, so that writing it can never wait on a worker that is
  // itself waiting for the daemon to read its answer.
  bool may_send_next(const WorkerProcess& proc, std::size_t size) const;
  void send_control(WorkerProcess& proc, shm::MessageType type, std::uint64_t request_id = 0, std::string head = {});
  awaitable<void> run(std::shared_ptr<WorkerProcess> proc);

  // False: the channel is done with (INIT_FAILED, a malformed message).
  bool handle(WorkerProcess& proc, shm::Message m);
  void on_ready(WorkerProcess& proc);
  void publish(WorkerProcess& proc, std::uint64_t publish_id, shm::Message m);
  void log_record(WorkerProcess& proc, std::uint64_t request_id, const LogRecord& record);
  // After each answer: past maxEventsPerWorker or maxWorkerMemory, the
  // process takes no more events and is stopped, then replaced.
  void recycle_if_due(WorkerProcess& proc);
  void read_pipe(const std::shared_ptr<WorkerProcess>& proc, bool is_stderr);

  // ---- A process ends ----------------------------------------------------

  void on_exit(const std::shared_ptr<WorkerProcess>& proc, int status);

  // Once per process that was ready: the pool stops sending it events.
  void report_down(WorkerProcess& proc);
  void close_channel(WorkerProcess& proc);

  // Both the coroutine and the process are done: account for the exit,
  // answer what it held, start the next one.
  void cleanup(const std::shared_ptr<WorkerProcess>& proc);

  // A process that was ready has ended: the first replacement is immediate;
  // quick deaths in a row back off.
  void replace(const WorkerProcess& proc);

  void failed_start(const std::string& why) {
    count(settings_->restarts.init_failed);
    count(settings_->restarts.init_failures);
    retry_after(restarts_.failed_start(), why);
  }
  static void count(Counter* counter) noexcept {
    if (counter) counter->inc();
  }

  void retry_after(std::chrono::milliseconds delay, const std::string& why);

  // ---- Stopping --------------------------------------------------------------

  void begin_stop(std::chrono::milliseconds timeout, UniqueFunction<void()> done);
  void finish_stop_if_idle();
  void set_state(std::string state);
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
  RestartPolicy restarts_;
  std::string last_failure_;  // the init or spawn error last logged in full
  std::uint64_t next_request_id_ = 1;
  asio::steady_timer retry_;
  asio::steady_timer stop_timer_;
  UniqueFunction<void()> stop_done_;
};

}  // namespace edgefn::python
