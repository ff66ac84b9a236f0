#pragma once
// Per-invocation log capture for the X-Nuclio-Log-Level request header:
// records at or above the requested level are returned to the client as a
// JSON array in the X-Nuclio-Logs response header, and also go to the
// daemon log as usual.
#include <chrono>
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
  // Reads X-Nuclio-Log-Level from the event; inactive when absent or unknown.
  explicit InvocationLogs(const Event& event);

  // `fields_json` should be a JSON object ("{...}") or empty; it may come
  // from a worker and is validated: any other text is kept as a string.
  void add(spdlog::level::level_enum level, std::string_view message, std::string_view fields_json = {});
  // Adds X-Nuclio-Logs to the response when active.
  void attach(Response& response) const;

 private:
  std::optional<spdlog::level::level_enum> level_;
  std::string json_;                 // the array being built, without the closing bracket
  std::vector<JsonMember> members_;  // scratch, reused across records
};

}  // namespace edgefn
