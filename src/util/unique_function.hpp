#pragma once
// std::function requires copyable targets; Asio completion handlers (and so
// anything that captures one) are move-only. GCC 12 has no
// std::move_only_function.
//
// A target of up to kInlineSize bytes that moves without throwing lives
// inside the object: the per-event callbacks (a pool's completion, a
// runtime's done, an awaiting coroutine's handler) then cost no allocation.
// Larger ones go to the heap.
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace edgefn {

template <class Signature>
class UniqueFunction;

template <class R, class... Args>
class UniqueFunction<R(Args...)> {
 public:
  static constexpr std::size_t kInlineSize = 64;

  UniqueFunction() noexcept = default;
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, UniqueFunction>>>
  UniqueFunction(F f) {
    using Target = std::decay_t<F>;
    if constexpr (fits_inline<Target>()) {
      ::new (static_cast<void*>(storage_)) Target(std::move(f));
      ops_ = &kInlineOps<Target>;
    } else {
      auto* target = new Target(std::move(f));
      ::new (static_cast<void*>(storage_)) Target*(target);
      ops_ = &kHeapOps<Target>;
    }
  }
  UniqueFunction(UniqueFunction&& other) noexcept { take(other); }
  UniqueFunction& operator=(UniqueFunction&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  UniqueFunction(const UniqueFunction&) = delete;
  UniqueFunction& operator=(const UniqueFunction&) = delete;
  ~UniqueFunction() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  R operator()(Args... args) { return ops_->call(storage_, std::forward<Args>(args)...); }

 private:
  struct Ops {
    R (*call)(void* storage, Args&&... args);
    // Moves the target from one storage to another, leaving `from` empty.
    void (*relocate)(void* from, void* to) noexcept;
    void (*destroy)(void* storage) noexcept;
  };

  template <class T>
  static constexpr bool fits_inline() noexcept {
    return sizeof(T) <= kInlineSize && alignof(T) <= alignof(std::max_align_t) &&
           std::is_nothrow_move_constructible_v<T>;
  }

  template <class T>
  static constexpr Ops kInlineOps{
      [](void* s, Args&&... args) -> R { return (*static_cast<T*>(s))(std::forward<Args>(args)...); },
      [](void* from, void* to) noexcept {
        auto* source = static_cast<T*>(from);
        ::new (to) T(std::move(*source));
        source->~T();
      },
      [](void* s) noexcept { static_cast<T*>(s)->~T(); },
  };

  // The storage holds a T*.
  template <class T>
  static constexpr Ops kHeapOps{
      [](void* s, Args&&... args) -> R { return (**static_cast<T**>(s))(std::forward<Args>(args)...); },
      [](void* from, void* to) noexcept { ::new (to) T*(*static_cast<T**>(from)); },
      [](void* s) noexcept { delete *static_cast<T**>(s); },
  };

  void take(UniqueFunction& other) noexcept {
    ops_ = std::exchange(other.ops_, nullptr);
    if (ops_) ops_->relocate(other.storage_, storage_);
  }
  void reset() noexcept {
    if (auto* ops = std::exchange(ops_, nullptr)) ops->destroy(storage_);
  }

  alignas(std::max_align_t) unsigned char storage_[kInlineSize];
  const Ops* ops_ = nullptr;
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
