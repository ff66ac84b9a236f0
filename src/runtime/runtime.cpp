#include "runtime/runtime.hpp"

namespace edgefn {

const char* to_string(DispatchError::Code code) noexcept {
  switch (code) {
    case DispatchError::Code::kOverloaded: return "overloaded";
    case DispatchError::Code::kTimedOut: return "timed_out";
    case DispatchError::Code::kCrashed: return "crashed";
    case DispatchError::Code::kStopping: return "stopping";
  }
  return "unknown";
}

int http_status(DispatchError::Code code) noexcept {
  switch (code) {
    case DispatchError::Code::kOverloaded: return 503;
    case DispatchError::Code::kTimedOut: return 504;
    case DispatchError::Code::kCrashed: return 500;
    case DispatchError::Code::kStopping: return 503;
  }
  return 500;
}

InvokeResult Runtime::invoke_inline(const Event&) noexcept {
  return tl::make_unexpected(DispatchError{DispatchError::Code::kCrashed, "runtime cannot run inline"});
}

}  // namespace edgefn
