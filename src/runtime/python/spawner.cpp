#include "runtime/python/spawner.hpp"

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

namespace edgefn {
namespace {

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

  void submit(SpawnRequest request, UniqueFunction<void(SpawnResult)> done) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back({std::move(request), std::move(done)});
    }
    wake_.notify_one();
  }

 private:
  struct Job {
    SpawnRequest request;
    UniqueFunction<void(SpawnResult)> done;
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

}  // namespace

void spawn_async(SpawnRequest request, UniqueFunction<void(SpawnResult)> done) {
  std::string error;
  if (auto* s = spawner(error)) return s->submit(std::move(request), std::move(done));
  SpawnResult result;
  result.child = tl::make_unexpected("cannot start the spawner thread: " + error);
  done(std::move(result));
}

SpawnResult spawn_blocking(SpawnRequest request) {
  std::promise<SpawnResult> promise;
  auto future = promise.get_future();
  spawn_async(std::move(request), [&promise](SpawnResult result) { promise.set_value(std::move(result)); });
  return future.get();
}

}  // namespace edgefn
