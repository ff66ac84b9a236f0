#pragma once
// What a reload reports: the answer to POST /reload, the "reload" object of
// /status (the last one) and its log line.
#include <chrono>
#include <string>
#include <vector>

#include "util/json.hpp"

namespace edgefn {

struct ReloadReport {
  // 200 applied; 409 another reload is running; 422 the new version did
  // not load, start or become ready (the old one goes on serving); 503 the
  // daemon is draining.
  int status = 200;
  bool ok() const noexcept { return status == 200; }
  std::string cause;    // "SIGHUP", "POST /reload", "--watch"
  std::string message;  // what was applied, or why nothing was
  int generation = 0;   // the generation serving afterwards
  // Per trigger: "kept", "replaced", "added", "removed"; per pool its size.
  std::vector<std::pair<std::string, std::string>> triggers;
  std::vector<std::pair<std::string, int>> pools;
  std::chrono::system_clock::time_point at = std::chrono::system_clock::now();
  double seconds = 0;  // from the request to the swap (or the failure)

  // Writes the fields into an open JSON object.
  void write(JsonWriter& out) const;
  std::string json() const;
};

}  // namespace edgefn
