#include "runtime/native/native_runtime.hpp"

#include <dlfcn.h>

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

// The callbacks cross a C boundary: nothing may escape them.
const edgefn_api kHostApi = {
    EDGEFN_ABI_VERSION,
    sizeof(edgefn_api),
    [](const edgefn_call* call, int level, const char* message, size_t size) {
      try {
        auto& host = host_of(call);
        std::string_view text{message ? message : "", message ? size : 0};
        host.logger->log(to_spdlog(level), "{}", text);
        host.logs.add(to_spdlog(level), text);
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
        host_of(call).error.assign(message ? message : "", message ? size : 0);
      } catch (...) {
      }
    },
};

edgefn_str view(std::string_view s) { return {s.data(), s.size()}; }

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

class NativeRuntime final : public Runtime {
 public:
  explicit NativeRuntime(NativeSettings settings)
      : settings_(std::move(settings)),
        logger_(get_logger("worker." + settings_.identity.pool_name + "." +
                           std::to_string(settings_.identity.id))) {}

  ~NativeRuntime() override { stop(std::chrono::milliseconds{0}); }

  void start() override {
    if (settings_.handler.init) {
      edgefn_worker_info info{EDGEFN_ABI_VERSION, settings_.identity.id, view(settings_.identity.function_name),
                              view(settings_.trigger_name)};
      int rc = settings_.handler.init(&info, &state_);
      if (rc != 0)
        throw StartError("native handler " + settings_.handler.name + ": edgefn_worker_init failed with " +
                         std::to_string(rc) + " for worker " + std::to_string(settings_.identity.id));
    }
    initialized_ = true;
    if (settings_.blocking) thread_ = std::thread([this] { thread_main(); });
  }

  bool runs_inline() const noexcept override { return !settings_.blocking; }

  InvokeResult invoke_inline(const Event& event) noexcept override { return call(event); }

  void invoke(Event event, InvokeCompletion done) noexcept override {
    if (!settings_.blocking) {
      done(call(event));
      return;
    }
    {
      std::lock_guard lock(mutex_);
      job_.emplace(Job{std::move(event), std::move(done)});
    }
    cv_.notify_one();
  }

  void stop(std::chrono::milliseconds timeout) noexcept override {
    if (!initialized_) return;
    bool stuck = false;
    if (thread_.joinable()) {
      std::unique_lock lock(mutex_);
      stopping_ = true;
      cv_.notify_one();
      // A handler that never returns cannot be interrupted: leave its thread
      // behind rather than hang the shutdown. An idle thread exits at once
      // and is always joined, whatever the timeout.
      stuck = !exited_cv_.wait_for(lock, timeout, [this] { return exited_ || !running_; });
      lock.unlock();
      if (stuck) {
        logger_->warn("native handler still running after {} ms; not waiting for it", timeout.count());
        thread_.detach();
      } else {
        thread_.join();
      }
    }
    if (!stuck && settings_.handler.shutdown) settings_.handler.shutdown(state_);
    initialized_ = false;
  }

 private:
  struct Job {
    Event event;
    InvokeCompletion done;
  };

  InvokeResult call(const Event& event) noexcept {
    try {
      HostCall host{Response{}, {}, false, logger_.get(), InvocationLogs{event}};
      edgefn_call c{&kHostApi, state_, &host};
      int rc = settings_.handler.handle(&c, &make_view(event));
      if (rc != 0) {
        if (!host.status_set || host.response.status < 400) host.response.status = 500;
        if (host.error.empty()) host.error = "handler returned " + std::to_string(rc);
        logger_->error("handler failed for event {}: {}", event.id, host.error);
        if (host.response.body.empty()) {
          host.response.content_type = "text/plain";
          host.response.body = host.error;
        }
      }
      host.logs.attach(host.response);
      return std::move(host.response);
    } catch (const std::exception& e) {
      return tl::make_unexpected(DispatchError{DispatchError::Code::kCrashed, e.what()});
    }
  }

  void thread_main() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [this] { return stopping_ || job_.has_value(); });
      if (job_) {
        Job job = std::move(*job_);
        job_.reset();
        running_ = true;
        lock.unlock();
        job.done(call(job.event));
        lock.lock();
        running_ = false;
        exited_cv_.notify_all();
        continue;
      }
      break;
    }
    exited_ = true;
    exited_cv_.notify_all();
  }

  NativeSettings settings_;
  std::shared_ptr<spdlog::logger> logger_;
  void* state_ = nullptr;
  bool initialized_ = false;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::condition_variable exited_cv_;
  std::optional<Job> job_;
  bool stopping_ = false;
  bool running_ = false;  // a handler call is in progress on thread_
  bool exited_ = false;
};

}  // namespace

NativeHandler load_native_handler(const std::string& handler, const std::filesystem::path& directory) {
  auto colon = handler.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == handler.size())
    throw StartError("spec.handler '" + handler +
                     "': a native handler is 'libname.so:symbol' or 'builtin:name'");
  auto file = handler.substr(0, colon);
  auto symbol = handler.substr(colon + 1);
  if (file == "builtin") {
    if (const auto* builtin = find_builtin(symbol)) return *builtin;
    throw StartError("spec.handler '" + handler + "': no such builtin (builtins: " + builtin_names() + ")");
  }

  auto path = std::filesystem::path(file).is_absolute() ? std::filesystem::path(file) : directory / file;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw StartError("native handler library " + path.string() + " not found (spec.handler '" + handler +
                     "' is resolved against the function directory)");

  void* raw = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!raw) throw StartError("cannot load native handler " + path.string() + ": " + dlerror());
  std::shared_ptr<void> library(raw, [](void* h) { dlclose(h); });

  const auto* abi = static_cast<const std::uint32_t*>(dlsym(raw, "edgefn_abi_version"));
  if (!abi)
    throw StartError(path.string() + " does not export edgefn_abi_version: build it with EDGEFN_DECLARE_ABI() from "
                     "<edgefn/handler.h>");
  if (*abi != EDGEFN_ABI_VERSION)
    throw StartError(path.string() + " was built for native ABI version " + std::to_string(*abi) +
                     ", this processor speaks version " + std::to_string(EDGEFN_ABI_VERSION));

  NativeHandler h;
  h.name = handler;
  h.handle = reinterpret_cast<edgefn_handle_fn>(dlsym(raw, symbol.c_str()));
  if (!h.handle) throw StartError(path.string() + " has no exported symbol '" + symbol + "' (spec.handler)");
  h.init = reinterpret_cast<edgefn_worker_init_fn>(dlsym(raw, "edgefn_worker_init"));
  h.shutdown = reinterpret_cast<edgefn_worker_shutdown_fn>(dlsym(raw, "edgefn_worker_shutdown"));
  h.library = std::move(library);
  return h;
}

std::unique_ptr<Runtime> make_native_runtime(NativeSettings settings) {
  return std::make_unique<NativeRuntime>(std::move(settings));
}

}  // namespace edgefn
