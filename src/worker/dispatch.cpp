#include "worker/dispatch.hpp"

#include <vector>

namespace edgefn {

const char* to_string(DispatchError::Code code) noexcept {
  switch (code) {
    case DispatchError::Code::kOverloaded: return "overloaded";
    case DispatchError::Code::kTimedOut: return "timed_out";
    case DispatchError::Code::kCrashed: return "crashed";
    case DispatchError::Code::kStopping: return "stopping";
    case DispatchError::Code::kCancelled: return "cancelled";
  }
  return "unknown";
}

int http_status(DispatchError::Code code) noexcept {
  switch (code) {
    case DispatchError::Code::kOverloaded: return 503;
    case DispatchError::Code::kTimedOut: return 408;
    case DispatchError::Code::kCrashed: return 500;
    case DispatchError::Code::kStopping: return 503;
    case DispatchError::Code::kCancelled: return 503;
  }
  return 500;
}

void CancelScope::cancel() noexcept {
  std::unordered_map<std::uint64_t, std::function<void()>> hooks;
  {
    std::lock_guard lock(mutex_);
    if (cancelled_) return;
    cancelled_ = true;
    hooks.swap(hooks_);
  }
  for (auto& [id, hook] : hooks) hook();
}

bool CancelScope::cancelled() const noexcept {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

std::optional<std::uint64_t> CancelScope::watch(std::function<void()> hook) {
  std::lock_guard lock(mutex_);
  if (cancelled_) return std::nullopt;
  const auto id = next_id_++;
  hooks_.emplace(id, std::move(hook));
  return id;
}

void CancelScope::unwatch(std::uint64_t id) noexcept {
  std::lock_guard lock(mutex_);
  hooks_.erase(id);
}

}  // namespace edgefn
