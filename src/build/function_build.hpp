#pragma once
// `processor build`: what Nuclio's image build does with spec.build.commands
// (`pip install simplejson`, ...), done on this host. A Python function
// gets a virtual environment of its own, with pip inside it, and each
// command runs with `sh -c` in the function's directory with the
// environment's bin/ first on PATH, as the commands run in Nuclio's image.
//
// Where: <directory of function.yaml>/.edgefn/venv. Beside the function
// rather than in a cache directory keyed by it, because the function's
// directory is what is deployed, copied and deleted together (no stale
// cache outlives a function, none is shared by two), it is writable by
// whoever deploys it, and a --worker-user that can read the handler can
// read its packages. .edgefn/built-commands records the commands of the
// last successful build, so that a start can tell whether they have run.
//
// A rebuild reuses the environment (pip skips what is installed already)
// and runs every command again, as an image build without cache does. The
// environment is made afresh only when its interpreter no longer runs or
// is another Python version than the function's.
#include <filesystem>
#include <string>
#include <vector>

#include "config/function_config.hpp"

namespace edgefn {

struct FunctionEnvironment {
  std::filesystem::path directory;  // <config directory>/.edgefn
  std::filesystem::path venv;       // directory/venv
  std::filesystem::path python;     // venv/bin/python
  std::filesystem::path stamp;      // directory/built-commands
};

// Where `processor build` keeps what it builds for `config`. Pure.
FunctionEnvironment function_environment(const FunctionConfig& config);

// The environment's interpreter when `processor build` has made one (an
// executable venv/bin/python), else empty. Reads the filesystem.
std::filesystem::path built_python(const FunctionConfig& config);

// What a start says about spec.build.commands: nothing when there are none
// or the last `processor build` ran exactly these; else a warning naming
// `processor build --config FILE`. Reads the filesystem.
std::vector<ConfigNotice> build_notices(const FunctionConfig& config);

// The interpreter the environment is made from.
struct BasePython {
  std::string interpreter;  // absolute path; empty: not a Python function, no environment
  std::string version;      // "3.11"
};

// Makes (or reuses) the environment, then runs every build command in
// order, their output going straight to this process's stdout and stderr.
// Returns 0, or the exit status of the first command that failed (it is
// logged by name, and the rest do not run). Throws StartError when the
// environment cannot be made. Blocking; for the `processor build` command,
// which has no other threads or children.
int run_build(const FunctionConfig& config, const BasePython& base);

}  // namespace edgefn
