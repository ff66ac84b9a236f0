#include "runtime/python/python_handler_check.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "config/config_error.hpp"
#include "process/environment.hpp"
#include "process/spawner.hpp"
#include "runtime/handler_environment.hpp"
#include "runtime/python/embedded_runtime.hpp"
#include "runtime/python/python_settings.hpp"
#include "util/memfd.hpp"

namespace edgefn {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Level = ConfigNotice::Level;

constexpr int kCheckSourceFd = 3;   // where edgefn_check.py reads the source
constexpr int kCheckArchiveFd = 4;  // the embedded runtime, which holds edgefn_check.py
constexpr std::size_t kMaxCheckOutput = 16 * 1024;

// Letters, digits and '_', not first a digit; bytes of non-ASCII letters
// pass too (Python takes Unicode identifiers).
bool is_identifier(std::string_view name) {
  if (name.empty() || (name.front() >= '0' && name.front() <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           static_cast<unsigned char>(c) >= 0x80;
  });
}

bool is_module_name(std::string_view module) {
  for (std::size_t start = 0;;) {
    const auto dot = module.find('.', start);
    if (!is_identifier(module.substr(start, dot == std::string_view::npos ? dot : dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

struct CheckRun {
  bool finished = false;  // false: killed at the deadline
  int status = 0;         // wait status when finished
  std::string output;     // stdout and stderr, at most kMaxCheckOutput bytes
};

// Runs edgefn_check.py to its end or to the deadline. The spawner forks it,
// as it forks every child; this thread waits on its pipes.
CheckRun run_check(SpawnRequest request) {
  const auto deadline = Clock::now() + kPythonCheckTimeout;
  SpawnResult spawned = spawn_blocking(std::move(request));
  if (!spawned.child) throw std::runtime_error(spawned.child.error());
  auto& child = *spawned.child;
  auto& pipes = spawned.pipes;
  pipes.stdin_write = UniqueFd{};

  auto milliseconds_left = [&] {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 1000));
  };
  CheckRun run;
  pollfd fds[2] = {{pipes.stdout_read.get(), POLLIN, 0}, {pipes.stderr_read.get(), POLLIN, 0}};
  int open = 2;
  char buffer[4096];
  while (open > 0 && Clock::now() < deadline) {
    if (::poll(fds, 2, milliseconds_left()) < 0 && errno != EINTR) break;
    for (auto& fd : fds) {
      if (fd.fd < 0 || fd.revents == 0) continue;
      ssize_t n = ::read(fd.fd, buffer, sizeof buffer);
      if (n > 0) {
        const std::size_t room = kMaxCheckOutput - std::min(kMaxCheckOutput, run.output.size());
        run.output.append(buffer, std::min(static_cast<std::size_t>(n), room));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        fd.fd = -1;
        --open;
      }
    }
  }
  // Both pipes closed: the interpreter is exiting; it still gets only
  // what is left of the time.
  for (;;) {
    if (auto status = child->try_reap()) {
      run.finished = open == 0;
      run.status = *status;
      return run;
    }
    if (Clock::now() >= deadline) break;
    pollfd exit_fd{pipes.pidfd ? pipes.pidfd.get() : -1, POLLIN, 0};
    ::poll(&exit_fd, 1, pipes.pidfd ? milliseconds_left() : std::min(milliseconds_left(), 10));
  }
  child->signal_group(SIGKILL);
  child->reap();
  return run;
}

// `python3 -c` code that runs edgefn_check.py from the directory or archive
// given as its first argument, the rest of the command line being the
// check's (runpy sets sys.argv[0] to its file).
constexpr const char* kCheckBootstrap =
    "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
    "runpy.run_module('edgefn_check', run_name='__main__', alter_sys=True)";

std::string first_line(const std::string& text) {
  auto line = text.substr(0, text.find('\n'));
  return line.empty() ? "(no output)" : line;
}

}  // namespace

tl::expected<std::string, std::string> probe_python_interpreter(const std::string& interpreter,
                                                                const std::string& path) {
  SpawnRequest request;
  request.argv = {interpreter, "-I", "-S", "-c", "import sys; sys.stdout.write('%d.%d' % sys.version_info[:2])"};
  request.env = {"PATH=" + path};
  request.working_directory = "/";
  CheckRun run;
  try {
    run = run_check(std::move(request));
  } catch (const std::exception& e) {
    return tl::make_unexpected(std::string(e.what()));
  }
  if (!run.finished) {
    // Slow is not broken: a loaded machine may take this long.
    return "unknown";
  }
  if (run.status != 0 || run.output.find('.') == std::string::npos) {
    return tl::make_unexpected("it ended with " + describe_wait_status(run.status) + ": " + first_line(run.output));
  }
  return run.output;
}

PythonHandlerName parse_python_handler(const std::string& handler) {
  const auto colon = handler.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == handler.size()) {
    throw HandlerError("'" + handler + "' is not a Python handler: write 'module:function', e.g. 'main:handler'");
  }
  PythonHandlerName name{handler.substr(0, colon), handler.substr(colon + 1)};
  if (!is_module_name(name.module)) throw HandlerError("'" + name.module + "' is not a Python module name");
  return name;
}

fs::path require_python_module(const fs::path& directory, const PythonHandlerName& name) {
  fs::path base = directory;
  std::string_view rest = name.module;
  for (auto dot = rest.find('.'); dot != std::string_view::npos; dot = rest.find('.')) {
    base /= std::string(rest.substr(0, dot));
    rest.remove_prefix(dot + 1);
  }
  base /= std::string(rest);
  std::error_code ec;
  for (fs::path candidate : {base / "__init__.py", fs::path(base.string() + ".py"), fs::path(base.string() + ".pyc")}) {
    if (fs::is_regular_file(candidate, ec)) return candidate;
  }
  const std::string& module = name.module;
  if (module.ends_with(".py")) {
    throw HandlerError("module '" + module + "' not found in " + directory.string() +
                       ": name the module, not its file ('" + module.substr(0, module.size() - 3) + ":" +
                       name.function + "')");
  }
  throw HandlerError("module '" + module + "' not found in " + directory.string() + " (expected " + module +
                     ".py there; check spec.handler and spec.build.path)");
}

std::vector<ConfigNotice> check_python_handler(const FunctionConfig& config, const fs::path& directory) {
  const PythonHandlerName name = parse_python_handler(config.handler);
  std::vector<ConfigNotice> notices;
  auto not_checked = [&](const std::string& why) {
    notices.push_back({Level::kWarning, "the source of '" + config.handler + "' was not checked: " + why});
    return notices;
  };

  UniqueFd source;
  std::string source_name;
  if (!config.function_source_code.empty()) {
    source = sealed_memfd("edgefn-check", config.function_source_code);
    source_name = "spec.build.functionSourceCode";
  } else {
    const fs::path file = require_python_module(directory, name);
    if (file.extension() == ".pyc") {
      notices.push_back({Level::kInfo, file.string() + " has no source: '" + name.function +
                                           "' is looked for when a worker imports it"});
      return notices;
    }
    source = UniqueFd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!source) throw HandlerError("cannot read " + file.string() + ": " + std::strerror(errno));
    source_name = file.string();
  }

  const Environment environment = base_environment(config, daemon_environment());
  const std::string path = handler_path(environment);
  std::string interpreter;
  try {
    const PythonInterpreter chosen = choose_python_interpreter(config, environment, path);
    if (!chosen.fallback.empty()) notices.push_back({Level::kWarning, chosen.fallback});
    interpreter = chosen.path;
  } catch (const StartError& e) {
    return not_checked(e.what());
  }
  PythonRuntimeFiles runtime;
  try {
    runtime = python_runtime_files(kCheckArchiveFd, -1);
  } catch (const StartError& e) {
    return not_checked(e.what());
  }

  SpawnRequest request;
  // -I: no PYTHON* variables, no user site, no script directory on the
  // path; -S: no site module. Nothing of the function's runs.
  // edgefn_check.py is a module of the runtime's archive (or of the
  // override directory), run as __main__ from there.
  request.argv = {interpreter, "-I", "-S", "-c", kCheckBootstrap, runtime.import_path, name.function, source_name};
  request.env = {"PATH=" + path};
  request.working_directory = directory;
  request.pass_fds = {{source.get(), kCheckSourceFd}};
  request.pass_fds.insert(request.pass_fds.end(), runtime.fds.begin(), runtime.fds.end());
  CheckRun run;
  try {
    run = run_check(std::move(request));
  } catch (const std::exception& e) {
    return not_checked(std::string("cannot run ") + interpreter + ": " + e.what());
  }
  if (!run.finished) {
    return not_checked(interpreter + " took longer than " + std::to_string(kPythonCheckTimeout.count()) +
                       " s to parse it");
  }
  const std::string line = first_line(run.output);
  const int exit_status = WIFEXITED(run.status) ? WEXITSTATUS(run.status) : -1;
  if (exit_status == 0) {
    if (line.starts_with("assumed: ")) {
      notices.push_back({Level::kInfo, "'" + name.function + "' is not defined at the top level of " + source_name +
                                           ", but " + line.substr(9) + ": taken to define it"});
    }
    return notices;
  }
  if (exit_status == 1 && line.starts_with("syntax: ")) {
    // "syntax: LINE:COLUMN: MESSAGE"
    const std::string where_and_what = line.substr(8);
    const auto split = where_and_what.find(": ");
    throw HandlerError(source_name + ":" + where_and_what.substr(0, split) +
                       ": SyntaxError: " + where_and_what.substr(split == std::string::npos ? 0 : split + 2));
  }
  if (exit_status == 2) {
    throw HandlerError("module '" + name.module + "' (" + source_name + ") has no function '" + name.function +
                       "' at its top level");
  }
  if (exit_status == 3) return not_checked(line.substr(line.find(": ") + 2));
  return not_checked(interpreter + " ended with " + describe_wait_status(run.status) + ": " + line);
}

}  // namespace edgefn
