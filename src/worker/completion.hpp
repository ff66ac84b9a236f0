#pragma once
// A one-shot completion shared by racing parties (a worker finishing, a
// timer firing, a stop): the first to claim() it completes it, the others
// back off. Holds outstanding work on the waiting coroutine's executor so
// io_context::run() does not return while a completion is pending.
#include <atomic>
#include <utility>

#include "util/asio.hpp"
#include "util/unique_function.hpp"

namespace edgefn {

template <class T>
class Completion {
 public:
  template <class Handler>
  Completion(asio::io_context& io, Handler handler)
      : work_(asio::prefer(asio::get_associated_executor(handler, io.get_executor()),
                           asio::execution::outstanding_work.tracked)),
        fn_([h = std::move(handler)](T value) mutable { std::move(h)(std::move(value)); }) {}

  // True for exactly one caller. Any thread.
  bool claim() noexcept { return !claimed_.exchange(true, std::memory_order_acq_rel); }

  // Only after a successful claim(). Resumes the waiter on its own
  // executor, never inline, so the caller's locks and stack stay out of it.
  void complete(T value) {
    auto work = std::move(work_);
    asio::post(work, [fn = std::move(fn_), v = std::move(value)]() mutable { fn(std::move(v)); });
  }

 private:
  asio::any_io_executor work_;
  UniqueFunction<void(T)> fn_;
  std::atomic<bool> claimed_{false};
};

}  // namespace edgefn
