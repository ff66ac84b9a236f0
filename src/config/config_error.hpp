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

// spec.handler names nothing that can run: a library, symbol, builtin,
// script, module or function that cannot be found, a handler file that does
// not compile, a malformed value. A configuration error (exit 2, both in
// `validate` and at start, so that systemd does not restart in vain), thrown
// by the runtime that found it without a place; the runtime kind's handler
// check (app/kinds.hpp) puts it at spec.handler.
class HandlerError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

// A valid config that could not be started (bind, dlopen, spawn, missing
// handler file): main() exits 1.
class StartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace edgefn
