#include "runtime/runtime.hpp"

namespace edgefn {

InvokeResult Runtime::invoke_inline(const Event&) noexcept {
  return tl::make_unexpected(RuntimeError{RuntimeError::Code::kCrashed, "runtime cannot run inline", std::nullopt});
}

}  // namespace edgefn
