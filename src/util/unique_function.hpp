#pragma once
// std::function requires copyable targets; Asio completion handlers (and so
// anything that captures one) are move-only. GCC 12 has no
// std::move_only_function.
#include <atomic>
#include <functional>
#include <memory>
#include <utility>

namespace edgefn {

template <class Signature>
class UniqueFunction;

template <class R, class... Args>
class UniqueFunction<R(Args...)> {
 public:
  UniqueFunction() = default;
  template <class F>
  UniqueFunction(F f) : impl_(std::make_unique<Impl<F>>(std::move(f))) {}

  explicit operator bool() const noexcept { return impl_ != nullptr; }
  R operator()(Args... args) { return impl_->call(std::forward<Args>(args)...); }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual R call(Args... args) = 0;
  };
  template <class F>
  struct Impl final : Base {
    explicit Impl(F f) : fn(std::move(f)) {}
    R call(Args... args) override { return fn(std::forward<Args>(args)...); }
    F fn;
  };
  std::unique_ptr<Base> impl_;
};

// A callback several paths may reach (a deadline, the last event answered,
// a timeout) that must run once: every copy shares one flag, and the first
// call wins. Copyable, so each path can hold one. Any thread.
inline std::function<void()> run_once(UniqueFunction<void()> fn) {
  struct State {
    std::atomic<bool> fired{false};
    UniqueFunction<void()> fn;
  };
  auto state = std::make_shared<State>();
  state->fn = std::move(fn);
  return [state] {
    if (!state->fired.exchange(true)) state->fn();
  };
}

}  // namespace edgefn
