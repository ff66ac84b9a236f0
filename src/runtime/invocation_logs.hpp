#pragma once
// Per-invocation log capture for the X-Nuclio-Log-Level request header, for
// every runtime (native, shell, Python): records at or above the requested
// level are returned to the client as a JSON array in the X-Nuclio-Logs
// response header, and also go to the daemon log as usual.
//
// A record has the shape Nuclio's processor gives it (its HTTP trigger logs
// the function through a nuclio/zap BufferLogger with zap's JSON encoder and
// flattened with-fields), so a client written for Nuclio reads the same keys:
//
//   {"level":"info","time":1718000000123.456,"message":"got","path":"/x","n":3}
//
//   level    "debug", "info", "warn" or "error" (trace counts as debug,
//            critical as error)
//   time     milliseconds since the Unix epoch, a number (microseconds in
//            the fraction), when the daemon received the record
//   message  the text
//   ...      each *_with field at the top level, keeping its JSON type
//
// Nuclio also writes "name", its logger's name (the trigger's id), the same
// on every record; edgefn leaves it out, so that a with-field called "name"
// reaches the client as it is.
//
// A with-field called level, time, message or with does not replace the
// fixed key, which clients filter and print by: it goes, with its value,
// into an object under "with" at the end of the record
// ({"level":"info",...,"message":"m","with":{"level":"mine"}}). (Nuclio
// writes the key twice, and most parsers keep the second.) Fields that are
// not one valid JSON object (a worker is not trusted) are kept whole as a
// string under "with" instead: {"level":"info",...,"with":"{not json"}.
//
// Size: the header's value stays within kMaxHeaderBytes, below the 4096
// bytes at which Nuclio drops the whole header (one chatty invocation made
// a 269 KB header, which curl and Python's http.client refuse). Records are
// kept whole and in order while each fits with room to spare for a final
// marker; from the first record that does not fit on, none is kept, however
// small, and the marker, last, says how many were left out:
//
//   {"level":"warn","time":...,"message":"3 more log records were left out:
//    X-Nuclio-Logs is limited to 4 KiB","left_out":3}
//
// Its level is warn, or the requested level when that is higher. The daemon
// log still gets every record.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/common.h>

#include "event/event.hpp"
#include "util/json.hpp"

namespace edgefn {

class InvocationLogs {
 public:
  // The longest X-Nuclio-Logs value, in bytes.
  static constexpr std::size_t kMaxHeaderBytes = 4095;

  // Reads X-Nuclio-Log-Level from the event; inactive when absent or unknown,
  // and then add() and attach() do nothing. Does not keep `event`.
  explicit InvocationLogs(const Event& event);

  // Records one log line of the invocation when it is at or above the
  // requested level. `fields_json` should be a JSON object ("{...}") or
  // empty; it may come from a worker and is validated. Never blocks, never
  // throws but std::bad_alloc. Not thread-safe: one invocation's runtime
  // calls it from one thread at a time.
  void add(spdlog::level::level_enum level, std::string_view message, std::string_view fields_json = {});
  // Adds X-Nuclio-Logs to the response when active.
  void attach(Response& response) const;

 private:
  std::optional<spdlog::level::level_enum> level_;
  std::string json_;                 // the records kept, after '[', without the closing bracket
  std::size_t left_out_ = 0;         // records at the level that did not fit
  std::string record_;               // scratch, reused across records
  std::vector<JsonMember> members_;  // scratch, reused across records
};

}  // namespace edgefn
