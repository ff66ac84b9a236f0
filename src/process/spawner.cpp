#include "process/spawner.hpp"

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

namespace edgefn {
namespace {

using Done = UniqueFunction<void(SpawnResult)>;

class Spawner {
 public:
  Spawner() : thread_([this] { run(); }) {}

  ~Spawner() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

  void submit(SpawnRequest request, Done done) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back({std::move(request), std::move(done)});
    }
    wake_.notify_one();
  }

 private:
  struct Job {
    SpawnRequest request;
    Done done;
  };

  void run() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return done_ || !queue_.empty(); });
        if (queue_.empty()) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      SpawnResult result;
      result.child = ChildProcess::spawn(job.request, result.pipes);
      job.done(std::move(result));
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool done_ = false;
  std::thread thread_;  // last: started once the rest exists
};

Spawner* spawner(std::string& error) {
  try {
    static Spawner instance;
    return &instance;
  } catch (const std::exception& e) {
    error = e.what();
    return nullptr;
  }
}

void submit(SpawnRequest request, Done done) {
  std::string error;
  if (auto* s = spawner(error)) return s->submit(std::move(request), std::move(done));
  SpawnResult result;
  result.child = tl::make_unexpected("cannot start the spawner thread: " + error);
  done(std::move(result));
}

}  // namespace

void spawn_async(SpawnRequest request, asio::any_io_executor executor, Done done) {
  auto work = asio::prefer(std::move(executor), asio::execution::outstanding_work.tracked);
  submit(std::move(request), [work = std::move(work), done = std::move(done)](SpawnResult result) mutable {
    auto target = std::move(work);
    asio::post(target, [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
  });
}

SpawnResult spawn_blocking(SpawnRequest request) {
  std::promise<SpawnResult> promise;
  auto future = promise.get_future();
  submit(std::move(request), [&promise](SpawnResult result) { promise.set_value(std::move(result)); });
  return future.get();
}

}  // namespace edgefn
