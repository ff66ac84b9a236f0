#pragma once
// When a Python worker's process is started again. Pure: the supervisor
// says what happened, the policy says how long to wait; unit-tested alone.
//
// - A failed start (the import or init_context raised, the process died
//   before READY, READY did not come within readinessTimeoutSeconds) is
//   retried after 1 s, then 2 s, 4 s, ... up to 30 s, until a READY.
// - A process that ends after READY is replaced at once. If its
//   replacement also dies within 10 s of its READY, and the next one too,
//   the waits back off the same way: a handler that crashes its worker on
//   every start must not turn the daemon into a fork loop. A process the
//   daemon ended itself (an event timeout, a recycle for
//   maxWorkerMemory or maxEventsPerWorker) does not count.
#include <chrono>

namespace edgefn::python {

class RestartPolicy {
 public:
  static constexpr std::chrono::milliseconds kFirstBackoff{1'000};
  static constexpr std::chrono::milliseconds kMaxBackoff{30'000};
  static constexpr std::chrono::seconds kStableAfter{10};

  // A start failed: the wait before the next one.
  std::chrono::milliseconds failed_start() noexcept;
  // What failed_start() would answer now, without counting a failure.
  std::chrono::milliseconds next_failed_start() const noexcept;
  // READY came: failed starts are forgotten.
  void ready() noexcept;
  // A process that was ready for `lived` ended (`killed_by_daemon`: for an
  // event timeout, or recycled). The wait before its replacement; zero: at
  // once.
  std::chrono::milliseconds ended_after_ready(std::chrono::steady_clock::duration lived,
                                              bool killed_by_daemon) noexcept;

  int failed_starts() const noexcept { return failed_starts_; }  // since the last READY
  int quick_deaths() const noexcept { return quick_deaths_; }     // in a row

 private:
  static std::chrono::milliseconds doubled(int times) noexcept;

  int failed_starts_ = 0;
  int quick_deaths_ = 0;
};

}  // namespace edgefn::python
