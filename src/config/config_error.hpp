#pragma once
#include <stdexcept>
#include <string>

#include "util/printable.hpp"

namespace edgefn {

// Where a value came from, for messages of the form file:line:col.
struct SourceMark {
  std::string file;
  int line = 0;    // 1-based; 0 = unknown
  int column = 0;  // 1-based
  std::string to_string() const;
};

// A bad function.yaml or command line: main() exits 2. Messages quote the
// file's bytes, so they are kept printable (util/printable.hpp).
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& message) : std::runtime_error(printable(message)) {}
  ConfigError(const SourceMark& mark, const std::string& message)
      : std::runtime_error(printable(mark.to_string() + ": " + message)) {}
};

// A valid config that could not be started (bind, dlopen, spawn, missing
// handler file): main() exits 1.
class StartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace edgefn
