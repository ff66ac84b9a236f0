#pragma once
// The access log: one line per event a trigger dispatched, the same for
// every kind, on the logger "access.<trigger>":
//
//   http 'api' GET /hello 200 1.24 ms worker 0 event 7c3e...
//   mqtt 'sensors' sensors/kitchen ok 3.10 ms worker 1 event 91aa...
//   cron 'tick' timed_out 30000.00 ms worker 0 event 0b2f...
//
// With --log-format json the same as fields: trigger, kind, method, path
// (HTTP) or topic (streams), status (HTTP), result (ok, handler_error or
// the dispatch error), duration_ms, worker (absent when no worker took the
// event), event_id.
//
// Off by default. On at info for a trigger with `accessLog: true` and for
// every trigger with --access-log; otherwise written at debug, so that it
// is always there at debug level. When it would not be written, wanted()
// says so before anything is copied or formatted.
#include <chrono>
#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "event/event.hpp"
#include "worker/dispatch.hpp"

namespace edgefn {

class AccessLog {
 public:
  // What a line names of an event, copied before the event is dispatched.
  struct Entry {
    std::string id;
    std::string method;  // HTTP; empty for streams and cron
    std::string path;
    std::string topic;  // streams
  };

  // `on`: --access-log or the trigger's accessLog. `trigger` must outlive
  // this. Start-up thread.
  AccessLog(const TriggerInfo& trigger, bool on);

  // Whether a line would be written now: on, or the logger at debug.
  // Any thread; a load or two, no allocation.
  bool wanted() const noexcept;

  static Entry entry(const Event& event);

  // Writes the line for `entry`. `status`: the HTTP status the client got,
  // 0 for kinds without one. Any thread; never throws.
  void write(const Entry& entry, const DispatchResult& result, std::chrono::steady_clock::duration took,
             int status = 0) const noexcept;

 private:
  const TriggerInfo& trigger_;
  const bool on_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace edgefn
