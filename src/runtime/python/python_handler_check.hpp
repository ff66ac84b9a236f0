#pragma once
// The Python runtime's handler check, for `processor validate` and the
// start alike: spec.handler is 'module:function', the module is there (a
// file in the function directory, or spec.build.functionSourceCode), its
// source parses, and its top level defines the function. The source is
// parsed by the function's own interpreter running edgefn_check.py, never
// run: imports that fail and an init_context that raises stay the worker's
// business (retried with backoff), as they may depend on the moment.
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "config/function_config.hpp"

namespace edgefn {

struct PythonHandlerName {
  std::string module;    // "main", "pkg.mod"
  std::string function;  // "handler"
};

// Splits spec.handler. Throws HandlerError unless it is 'module:function'
// with a module name Python can import.
PythonHandlerName parse_python_handler(const std::string& handler);

// The file `name.module` is imported from, found in `directory` as
// Python's finder looks: a package's __init__.py, else module.py, else a
// sourceless module.pyc. Throws HandlerError when there is none. Reads the
// filesystem.
std::filesystem::path require_python_module(const std::filesystem::path& directory, const PythonHandlerName& name);

// How long the interpreter may take to parse the handler's source; past it
// the check gives up with a warning (a slow machine is not a bad config).
inline constexpr std::chrono::seconds kPythonCheckTimeout{10};

// Runs `interpreter -I -S -c ...` (within kPythonCheckTimeout) and returns
// the "X.Y" version it reports, or why it could not start: it cannot be
// executed, or it ended without answering (an exit status 127 of a wrapper
// whose target is gone). Blocking, through the spawner.
tl::expected<std::string, std::string> probe_python_interpreter(const std::string& interpreter,
                                                                const std::string& path);

// Checks spec.handler of a Python function whose files are in `directory`.
// Throws HandlerError: malformed, module not found, a syntax error, no such
// function at the top level. Returns notices (without a place) on what it
// could not check: no interpreter here, a sourceless module, a definition
// no reading can see ("from x import *"). Blocking: reads files and runs
// the interpreter for up to kPythonCheckTimeout, through the spawner.
std::vector<ConfigNotice> check_python_handler(const FunctionConfig& config, const std::filesystem::path& directory);

}  // namespace edgefn
