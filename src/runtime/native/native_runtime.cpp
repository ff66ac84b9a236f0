#include "runtime/native/native_runtime.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "config/config_error.hpp"
#include "log/log.hpp"
#include "runtime/invocation_logs.hpp"

namespace edgefn {
namespace {

// What the host callbacks write into while one handler call runs.
struct HostCall {
  Response response;
  std::string error;
  bool status_set = false;
  spdlog::logger* logger;
  InvocationLogs logs;
  // Cleared when a stop gives up on a handler that never returns: the host
  // services may be gone by the time it calls publish().
  const std::atomic<HostServices*>* host;
  // The event's raw query string (query() in the ABI), a view into its url.
  std::string_view query;
  const Event* event;  // for the log's event_id and trigger fields
};

HostCall& host_of(const edgefn_call* call) { return *static_cast<HostCall*>(call->host); }

spdlog::level::level_enum to_spdlog(int level) {
  switch (level) {
    case EDGEFN_LOG_DEBUG: return spdlog::level::debug;
    case EDGEFN_LOG_WARN: return spdlog::level::warn;
    case EDGEFN_LOG_ERROR: return spdlog::level::err;
    default: return spdlog::level::info;
  }
}

std::string_view text(const char* data, size_t size) { return data ? std::string_view{data, size} : std::string_view{}; }

int publish(const edgefn_call* call, const char* output, size_t output_size, const edgefn_output_message* message) {
  if (!output || output_size == 0 || !message || (!message->body && message->body_size) ||
      (!message->headers && message->num_headers))
    return -1;
  try {
    auto& call_state = host_of(call);
    HostServices* host = call_state.host->load(std::memory_order_acquire);
    if (!host) return -1;
    OutputMessage m;
    m.topic = text(message->topic.data, message->topic.size);
    m.key = text(message->key.data, message->key.size);
    for (size_t i = 0; i < message->num_headers; ++i)
      m.headers.emplace_back(text(message->headers[i].name.data, message->headers[i].name.size),
                             text(message->headers[i].value.data, message->headers[i].value.size));
    m.body.assign(static_cast<const char*>(message->body), message->body_size);
    // An output refuses (no such output) before publish() returns, and the
    // handler gets -1; a failure after that arrives from any thread and is
    // only logged. 0: undecided, 1: returned to the handler, -1: refused.
    auto verdict = std::make_shared<std::atomic<int>>(0);
    auto logger = get_logger(call_state.logger->name());
    std::string name{output, output_size};
    host->publish(name, std::move(m), [logger, name, verdict](PublishOutcome outcome) {
      if (outcome) return;
      int undecided = 0;
      if (verdict->compare_exchange_strong(undecided, -1)) return;
      logger->warn("publishing to output '{}' failed: {}", name, outcome.error());
    });
    int undecided = 0;
    return verdict->compare_exchange_strong(undecided, 1) ? 0 : -1;
  } catch (...) {
    return -1;
  }
}

// The callbacks cross a C boundary: nothing may escape them.
const edgefn_api kHostApi = {
    EDGEFN_ABI_VERSION,
    sizeof(edgefn_api),
    [](const edgefn_call* call, int level, const char* message, size_t size) {
      try {
        auto& host = host_of(call);
        auto line = text(message, size);
        const auto at = to_spdlog(level);
        if (host.logger->should_log(at)) {
          LogFields fields;
          fields.add("event_id", host.event->id);
          if (host.event->trigger) fields.add("trigger", host.event->trigger->name);
          log_with(*host.logger, at, line, fields);
        }
        host.logs.add(at, line);
      } catch (...) {
      }
    },
    [](const edgefn_call* call, int status) {
      auto& host = host_of(call);
      host.response.status = status;
      host.status_set = true;
    },
    [](const edgefn_call* call, const char* value, size_t size) -> int {
      if (!value) return -1;
      try {
        host_of(call).response.content_type.assign(value, size);
        return 0;
      } catch (...) {
        return -1;
      }
    },
    [](const edgefn_call* call, const char* name, size_t name_size, const char* value, size_t value_size) -> int {
      if (!name || name_size == 0 || (!value && value_size)) return -1;
      try {
        host_of(call).response.headers.emplace_back(std::string{name, name_size},
                                                    std::string{value ? value : "", value_size});
        return 0;
      } catch (...) {
        return -1;
      }
    },
    [](const edgefn_call* call, const void* data, size_t size) -> int {
      if (!data && size) return -1;
      try {
        host_of(call).response.body.assign(static_cast<const char*>(data), size);
        return 0;
      } catch (...) {
        return -1;
      }
    },
    [](const edgefn_call* call, size_t size) -> void* {
      try {
        auto& body = host_of(call).response.body;
        body.resize(size);
        return body.data();
      } catch (...) {
        return nullptr;
      }
    },
    [](const edgefn_call* call, const char* message, size_t size) {
      try {
        host_of(call).error.assign(text(message, size));
      } catch (...) {
      }
    },
    publish,
    [](const edgefn_call* call) -> edgefn_str {
      auto query = host_of(call).query;
      return {query.data(), query.size()};
    },
};

edgefn_str view(std::string_view s) { return {s.data(), s.size()}; }

// What follows the first '?' of a URL, up to a '#' (clients do not send
// one, but a url is not only a request target).
std::string_view raw_query(std::string_view url) {
  const auto question = url.find('?');
  if (question == std::string_view::npos) return {};
  url.remove_prefix(question + 1);
  return url.substr(0, url.find('#'));
}

// The C view of an Event. The vectors are per thread and reused, so a call
// allocates nothing once warm.
const edgefn_event& make_view(const Event& e) {
  thread_local edgefn_event ev;
  thread_local std::vector<edgefn_header> headers;
  thread_local std::vector<edgefn_header> fields;
  headers.clear();
  fields.clear();
  for (const auto& [k, v] : e.headers) headers.push_back({view(k), view(v)});
  for (const auto& [k, v] : e.fields) fields.push_back({view(k), view(v)});
  ev.id = view(e.id);
  ev.trigger_kind = e.trigger ? view(e.trigger->kind) : edgefn_str{"", 0};
  ev.trigger_name = e.trigger ? view(e.trigger->name) : edgefn_str{"", 0};
  ev.method = view(e.method);
  ev.path = view(e.path);
  ev.url = view(e.url);
  ev.content_type = view(e.content_type);
  ev.headers = headers.data();
  ev.num_headers = headers.size();
  ev.fields = fields.data();
  ev.num_fields = fields.size();
  ev.body = e.body.data();
  ev.body_size = e.body.size();
  ev.timestamp_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(e.timestamp.time_since_epoch()).count();
  ev.topic = view(e.topic);
  ev.key = view(e.key);
  ev.shard_id = e.shard_id;
  ev.offset = e.offset;
  return ev;
}

// One handler call, as every worker makes it.
InvokeResult call_handler(const NativeHandler& handler, void* state, spdlog::logger* logger,
                          const std::atomic<HostServices*>* host, const Event& event) noexcept {
  try {
    HostCall call_state{Response{}, {}, false, logger, InvocationLogs{event}, host, raw_query(event.url), &event};
    edgefn_call c{&kHostApi, state, &call_state};
    int rc = handler.handle(&c, &make_view(event));
    auto& response = call_state.response;
    if (rc != 0) {
      if (!call_state.status_set || response.status < 400) response.status = 500;
      if (call_state.error.empty()) call_state.error = "handler returned " + std::to_string(rc);
      logger->error("handler failed for event {}: {}", event.id, call_state.error);
      if (response.body.empty()) {
        response.content_type = "text/plain";
        response.body = call_state.error;
      }
    }
    call_state.logs.attach(response);
    return std::move(response);
  } catch (const std::exception& e) {
    return tl::make_unexpected(RuntimeError{RuntimeError::Code::kCrashed, e.what(), std::nullopt});
  }
}

// Everything a blocking worker's thread touches. Shared by the runtime and
// the thread, so that a thread left behind by stop() owns what it uses.
struct ThreadState {
  NativeHandler handler;  // holds the library open
  void* state = nullptr;  // the handler's per-worker state
  std::shared_ptr<spdlog::logger> logger;
  std::atomic<HostServices*> host{nullptr};  // cleared when stop() gives up on this thread

  std::mutex mutex;
  std::condition_variable wake;
  std::optional<Event> event;  // the job: set by invoke(), taken by the thread
  InvokeCompletion done;       // the job's completion; stop() may take it first
  bool running = false;        // a handler call is in progress
  bool stopping = false;
  bool exited = false;
  UniqueFunction<void()> on_exit;  // stop()'s done, if it is still waiting
};

void thread_main(std::shared_ptr<ThreadState> s) {
  std::unique_lock lock(s->mutex);
  for (;;) {
    s->wake.wait(lock, [&] { return s->stopping || s->event.has_value(); });
    if (!s->event) break;
    Event event = std::move(*s->event);
    s->event.reset();
    s->running = true;
    lock.unlock();
    auto result = call_handler(s->handler, s->state, s->logger.get(), &s->host, event);
    lock.lock();
    s->running = false;
    if (auto done = std::move(s->done)) {
      lock.unlock();
      done(std::move(result));
      lock.lock();
    }
  }
  s->exited = true;
  auto on_exit = std::move(s->on_exit);  // empty when stop() stopped waiting for this thread
  lock.unlock();
  // The last handler call has returned, on this very thread: the state is
  // free to go, even when the stop gave up waiting long ago.
  if (s->handler.shutdown) s->handler.shutdown(s->state);
  if (on_exit) on_exit();
}

class NativeRuntime final : public Runtime {
 public:
  explicit NativeRuntime(NativeSettings settings)
      : settings_(std::move(settings)),
        logger_(get_logger("worker." + settings_.identity.pool_name + "." +
                           std::to_string(settings_.identity.id))) {}

  ~NativeRuntime() override {
    if (thread_ && !stop_requested_) {
      std::lock_guard lock(thread_->mutex);
      thread_->stopping = true;
      thread_->host.store(nullptr);
      thread_->wake.notify_one();
    }
    if (thread_handle_.joinable()) thread_handle_.detach();
    if (!thread_ && initialized_ && !stop_requested_ && settings_.handler.shutdown)
      settings_.handler.shutdown(state_);
  }

  void start(ReadinessCallback on_readiness) override {
    if (settings_.handler.init) {
      edgefn_worker_info info{EDGEFN_ABI_VERSION, settings_.identity.id, view(settings_.identity.function_name),
                              view(settings_.trigger_name)};
      int rc = settings_.handler.init(&info, &state_);
      if (rc != 0)
        throw StartError("native handler " + settings_.handler.name + ": edgefn_worker_init failed with " +
                         std::to_string(rc) + " for worker " + std::to_string(settings_.identity.id));
    }
    initialized_ = true;
    if (settings_.blocking) {
      thread_ = std::make_shared<ThreadState>();
      thread_->handler = settings_.handler;
      thread_->state = state_;
      thread_->logger = logger_;
      thread_->host.store(settings_.host);
      thread_handle_ = std::thread(thread_main, thread_);
    }
    on_readiness(true);
  }

  bool runs_inline() const noexcept override { return !settings_.blocking; }

  InvokeResult invoke_inline(const Event& event) noexcept override {
    return call_handler(settings_.handler, state_, logger_.get(), &host_, event);
  }

  void invoke(Event event, InvokeCompletion done) noexcept override {
    if (!thread_) {
      auto result = invoke_inline(event);
      asio::post(*settings_.io, [done = std::move(done), result = std::move(result)]() mutable {
        done(std::move(result));
      });
      return;
    }
    std::lock_guard lock(thread_->mutex);
    thread_->event.emplace(std::move(event));
    thread_->done = std::move(done);
    thread_->wake.notify_one();
  }

  void stop(std::chrono::milliseconds timeout, UniqueFunction<void()> done) noexcept override {
    stop_requested_ = true;
    if (!thread_) {
      if (initialized_ && settings_.handler.shutdown) settings_.handler.shutdown(state_);
      initialized_ = false;
      return done();
    }
    // The thread calls `done` when it exits; a handler that never returns
    // cannot be interrupted, so after `timeout` the worker stops waiting
    // for it: its event is answered kStopping now and the thread is left to
    // finish on its own.
    auto finish = run_once(std::move(done));
    timer_ = std::make_shared<asio::steady_timer>(*settings_.io);
    timer_->expires_after(timeout);
    timer_->async_wait([this, state = thread_, finish, timeout](error_code ec) {
      if (ec) return;
      InvokeCompletion orphan;
      {
        std::lock_guard lock(state->mutex);
        if (state->exited) return;
        orphan = std::move(state->done);
        state->on_exit = {};
        state->host.store(nullptr);
      }
      logger_->warn("native handler still running {} ms after the stop; not waiting for it", timeout.count());
      if (orphan)
        orphan(tl::make_unexpected(
            RuntimeError{RuntimeError::Code::kStopping, "processor stopped before the handler returned", std::nullopt}));
      finish();
    });
    // A thread that exits in time cancels the timer, which would otherwise
    // keep the io_context (and so the processor's exit) waiting out
    // `timeout` after an idle worker stopped at once.
    UniqueFunction<void()> on_exit = [finish, timer = timer_]() mutable {
      asio::post(timer->get_executor(), [timer] { timer->cancel(); });
      finish();
    };
    {
      std::lock_guard lock(thread_->mutex);
      thread_->stopping = true;
      if (!thread_->exited) {
        thread_->on_exit = std::move(on_exit);
        thread_->wake.notify_one();
      }
    }
    if (on_exit) on_exit();  // the thread had exited already
  }

  bool left_running() const noexcept override {
    if (!thread_) return false;
    std::lock_guard lock(thread_->mutex);
    return thread_->stopping && !thread_->exited;
  }

  std::string describe() const override {
    if (!thread_) return initialized_ ? "ready" : stop_requested_ ? "stopped" : "starting";
    std::lock_guard lock(thread_->mutex);
    if (thread_->exited) return "stopped";
    if (thread_->running) return thread_->stopping ? "handler still running after the stop" : "running a handler";
    return "ready";
  }

 private:
  NativeSettings settings_;
  std::shared_ptr<spdlog::logger> logger_;
  void* state_ = nullptr;
  bool initialized_ = false;
  std::atomic<bool> stop_requested_{false};
  std::shared_ptr<ThreadState> thread_;
  std::thread thread_handle_;
  std::shared_ptr<asio::steady_timer> timer_;
  std::atomic<HostServices*> host_{settings_.host};
};

}  // namespace

std::unique_ptr<Runtime> make_native_runtime(NativeSettings settings) {
  return std::make_unique<NativeRuntime>(std::move(settings));
}

}  // namespace edgefn
