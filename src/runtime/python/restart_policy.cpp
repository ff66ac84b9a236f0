#include "runtime/python/restart_policy.hpp"

#include <algorithm>

namespace edgefn::python {

std::chrono::milliseconds RestartPolicy::doubled(int times) noexcept {
  // 2^5 s already passes the cap; no shift can overflow.
  return std::min(kMaxBackoff, kFirstBackoff * (1 << std::clamp(times, 0, 5)));
}

std::chrono::milliseconds RestartPolicy::next_failed_start() const noexcept { return doubled(failed_starts_); }

std::chrono::milliseconds RestartPolicy::failed_start() noexcept { return doubled(failed_starts_++); }

void RestartPolicy::ready() noexcept { failed_starts_ = 0; }

std::chrono::milliseconds RestartPolicy::ended_after_ready(std::chrono::steady_clock::duration lived,
                                                           bool killed_by_daemon) noexcept {
  const bool quick = !killed_by_daemon && lived < kStableAfter;
  quick_deaths_ = quick ? quick_deaths_ + 1 : 0;
  if (quick_deaths_ <= 1) return std::chrono::milliseconds::zero();
  return doubled(quick_deaths_ - 2);
}

}  // namespace edgefn::python
