#include "build/function_build.hpp"

#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "config/config_error.hpp"
#include "log/log.hpp"
#include "process/child_process.hpp"
#include "process/environment.hpp"

namespace edgefn {
namespace {

namespace fs = std::filesystem;

std::string stamp_text(const std::vector<std::string>& commands) {
  std::string text;
  for (const auto& command : commands) text += command + '\n';
  return text;
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "3.11" from pyvenv.cfg's "version = 3.11.2" (Python 3.3+ writes it);
// empty when absent.
std::string venv_version(const fs::path& venv) {
  std::istringstream cfg(read_file(venv / "pyvenv.cfg"));
  for (std::string line; std::getline(cfg, line);) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    auto key = line.substr(0, eq);
    key.erase(key.find_last_not_of(" \t") + 1);
    if (key != "version" && key != "version_info") continue;
    auto value = line.substr(line.find_first_not_of(" \t", eq + 1));
    const auto first_dot = value.find('.');
    return value.substr(0, first_dot == std::string::npos ? first_dot : value.find('.', first_dot + 1));
  }
  return {};
}

// Runs argv with this process's stdin, stdout and stderr, so that pip's
// output (progress included) reaches the terminal as it comes. posix_spawn
// rather than the daemon's spawner: `processor build` is a foreground tool
// with no other threads, its children belong in the terminal's process
// group (Ctrl-C stops them), and nothing of theirs needs to outlive it.
// Returns the wait status; throws StartError when nothing could be run.
int run_inheriting(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                   const fs::path& directory) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addchdir_np(&actions, directory.c_str());
  pid_t pid = 0;
  const int error = ::posix_spawn(&pid, args.front(), &actions, nullptr, args.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  if (error != 0)
    throw StartError("cannot run " + argv.front() + " in " + directory.string() + ": " + std::strerror(error));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw StartError(std::string("waitpid: ") + std::strerror(errno));
  }
  return status;
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// The environment build commands run in: this process's, with the
// function's environment active as `source bin/activate` would make it.
std::vector<std::string> command_environment(const FunctionEnvironment& where, bool with_venv) {
  Environment env = daemon_environment();
  if (!with_venv) return execve_environment(env, {});
  const std::string path = (where.venv / "bin").string() + ":" + handler_path(env);
  std::vector<std::string> out;
  for (auto& entry : execve_environment(env, {{"PATH", path}, {"VIRTUAL_ENV", where.venv.string()}})) {
    if (entry.rfind("PYTHONHOME=", 0) != 0) out.push_back(std::move(entry));
  }
  return out;
}

void make_venv(const FunctionEnvironment& where, const BasePython& base, const fs::path& working_directory) {
  auto log = get_logger("build");
  const std::string have = venv_version(where.venv);
  const bool usable = is_executable_file(where.python);
  if (usable && have == base.version) {
    log->info("reusing the Python environment {} (Python {})", where.venv.string(), have);
    return;
  }
  std::vector<std::string> argv = {base.interpreter, "-m", "venv"};
  if (fs::exists(where.venv)) {
    argv.push_back("--clear");
    log->info("making the Python environment {} afresh ({})", where.venv.string(),
              usable ? "it has Python " + have + ", the function runs " + base.version
                     : "its interpreter no longer runs");
  } else {
    log->info("making the Python environment {} with {} (Python {})", where.venv.string(), base.interpreter,
              base.version);
  }
  argv.push_back(where.venv.string());
  std::error_code ec;
  fs::create_directories(where.directory, ec);
  if (ec) throw StartError("cannot create " + where.directory.string() + ": " + ec.message());
  const int status = run_inheriting(argv, command_environment(where, false), working_directory);
  if (status != 0 || !is_executable_file(where.python)) {
    throw StartError(base.interpreter + " -m venv " + where.venv.string() + " ended with " +
                     describe_wait_status(status) +
                     "; the venv module with pip is needed (on Debian: apt-get install python3-venv)");
  }
}

}  // namespace

FunctionEnvironment function_environment(const FunctionConfig& config) {
  FunctionEnvironment where;
  where.directory = config.directory / ".edgefn";
  where.venv = where.directory / "venv";
  where.python = where.venv / "bin" / "python";
  where.stamp = where.directory / "built-commands";
  return where;
}

fs::path built_python(const FunctionConfig& config) {
  auto python = function_environment(config).python;
  return is_executable_file(python) ? python : fs::path{};
}

std::vector<ConfigNotice> build_notices(const FunctionConfig& config) {
  if (config.build_commands.empty()) return {};
  const auto where = function_environment(config);
  std::error_code ec;
  const std::string command = "`processor build --config " + config.file.string() + "`";
  if (!fs::exists(where.stamp, ec)) {
    return {{ConfigNotice::Level::kWarning,
             config.file.string() + ": spec.build.commands (" + std::to_string(config.build_commands.size()) +
                 ") have not been run for this function, so what they install is missing: run " + command +
                 " first (it runs them in " + where.venv.string() + " for a Python function)"}};
  }
  if (read_file(where.stamp) != stamp_text(config.build_commands)) {
    return {{ConfigNotice::Level::kWarning, config.file.string() +
                                               ": spec.build.commands changed since the last `processor build`: "
                                               "run " + command + " again"}};
  }
  return {};
}

int run_build(const FunctionConfig& config, const BasePython& base) {
  auto log = get_logger("build");
  const auto where = function_environment(config);
  const fs::path working_directory = config.handler_directory();
  const bool with_venv = !base.interpreter.empty();
  if (with_venv) make_venv(where, base, working_directory);
  std::error_code ec;
  fs::remove(where.stamp, ec);  // until these commands have all succeeded
  const auto env = command_environment(where, with_venv);
  const auto total = config.build_commands.size();
  for (std::size_t i = 0; i < total; ++i) {
    const std::string& command = config.build_commands[i];
    log->info("[{}/{}] {}", i + 1, total, command);
    const int status = run_inheriting({"/bin/sh", "-c", command}, env, working_directory);
    if (status != 0) {
      log->error("build command {} of {} failed with {}: {}", i + 1, total, describe_wait_status(status), command);
      return exit_code(status) == 0 ? 1 : exit_code(status);
    }
  }
  fs::create_directories(where.directory, ec);
  std::ofstream stamp(where.stamp, std::ios::binary | std::ios::trunc);
  stamp << stamp_text(config.build_commands);
  if (!stamp.flush()) throw StartError("cannot write " + where.stamp.string());
  log->info("built {}: {} command(s) run{}", config.name, total,
            with_venv ? "; the function runs " + where.python.string() : std::string{});
  return 0;
}

}  // namespace edgefn
