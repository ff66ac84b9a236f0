#include "runtime/python/python_runtime.hpp"

#include "runtime/python/process_supervisor.hpp"

namespace edgefn {
namespace {

using namespace std::chrono_literals;
using python::ProcessSupervisor;
using python::runtime_error;

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
  std::size_t queue_capacity() const noexcept override { return ProcessSupervisor::kQueueCapacity; }
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
  void run_drain_callbacks() noexcept override { supervisor_->run_drain_callbacks(); }
  void stop(std::chrono::milliseconds timeout, UniqueFunction<void()> done) noexcept override {
    stopped_ = true;
    supervisor_->stop(timeout, std::move(done));
  }
  std::string describe() const override { return supervisor_->describe(); }
  std::optional<int> process_id() const override { return supervisor_->process_id(); }

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
