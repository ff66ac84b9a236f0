#pragma once
// What the shell runtime is built from: the resolved command, the
// runtimeAttributes it honours, and the environment every event's process
// starts with. Reading and resolving live here, apart from the process
// handling, so that they can be tested without spawning anything.
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/function_config.hpp"
#include "event/event.hpp"
#include "process/credentials.hpp"
#include "process/environment.hpp"

namespace edgefn {

inline constexpr std::size_t kDefaultMaxOutputSize = 64u << 20;
// fasthttp's default, which every answer of a Nuclio shell function carries
// unless responseHeaders set another.
inline constexpr std::string_view kShellContentType = "text/plain; charset=utf-8";

// spec.runtimeAttributes of a shell function.
struct ShellAttributes {
  std::vector<std::string> arguments;                   // `arguments`, already split
  Headers response_headers;                             // `responseHeaders`
  std::string content_type{kShellContentType};          // `contentType`
  std::size_t max_output_size = kDefaultMaxOutputSize;  // `maxOutputSize`, bytes of stdout and stderr
  // `allowArgumentsHeader`: whether a request's X-Nuclio-Arguments replaces
  // `arguments`. Off by default: with it, any client that reaches the
  // trigger chooses what the handler runs (`sed` with `e id`, `cat` with
  // /etc/shadow); a request carrying the header is refused with 403.
  bool allow_arguments_header = false;
  // `logStderr`: stderr goes to the processor's log line by line (and to
  // X-Nuclio-Logs) instead of into the response body beside stdout, where
  // Nuclio puts it.
  bool log_stderr = false;
};

// The shell runtime's spec.runtimeAttributes; defaults from ShellAttributes'
// members.
const ConfigMap& shell_config_map();

// Reads and checks spec.runtimeAttributes. Throws ConfigError at the
// offending key (an unbalanced quote in `arguments`, a non-string header).
ShellAttributes read_shell_attributes(const FunctionConfig& config);

// The interpreter a `#!` line names, split as the kernel splits it: the
// path, then the rest of the line (trimmed) as at most one argument.
struct Shebang {
  std::string interpreter;
  std::string argument;  // empty when absent
};
// Parses the first line of a file; nullopt when it does not start with #!.
std::optional<Shebang> parse_shebang(std::string_view first_line);
// True when the shebang asks for sh or bash (directly or through env),
// which we run with bash.
bool wants_bash(const Shebang& shebang);

// Go's wording of a wait status, as os/exec reports it and Nuclio's error
// bodies carry it: "exit status 3", "signal: killed".
std::string go_exit_description(int wait_status);

// The body of a 500 for a handler that exited non-zero or was killed, as
// Nuclio's shell runtime words it: the exit, then the output (stdout and
// stderr interleaved) verbatim.
std::string shell_failure_body(int wait_status, std::string_view output);

// What to execute for every event, before the event's own arguments.
struct ShellCommand {
  std::vector<std::string> prefix;  // prefix[0] is an absolute path to execve()
  std::string description;          // for logs: "bash /fn/handler.sh"
};

// Resolves spec.handler ("name" or "name:ignored"):
//   - a relative name that is a file under `directory` runs as
//     `bash <file>`, unless its #! names another interpreter, which then
//     runs the file itself (so no execute bit is needed either way);
//   - otherwise an absolute path, or a name found on `path` (a PATH-style
//     list), that is an executable regular file runs directly.
// Throws HandlerError (a ConfigError) when nothing runnable is found,
// naming the directory and PATH searched; StartError when the script runs
// with bash and there is no bash on PATH. Blocking (reads the filesystem);
// start-up thread.
ShellCommand resolve_shell_command(const std::string& handler, const std::filesystem::path& directory,
                                   std::string_view path);

// spec.build.functionSourceCode, written where the shell can run it: a file
// named after the handler in a directory of its own (mode 0700, owned by
// --worker-user's user when there is one) under the temporary directory
// ($TMPDIR, else /tmp). Both are removed with this object, that is when the
// last worker that runs it is gone (a processor killed with SIGKILL leaves
// them behind).
class ShellSourceFile {
 public:
  // Throws StartError when the directory or the file cannot be made.
  // Blocking; start-up thread.
  ShellSourceFile(const std::string& handler, std::string_view code, const std::optional<Credentials>& owner);
  ~ShellSourceFile();
  ShellSourceFile(const ShellSourceFile&) = delete;
  ShellSourceFile& operator=(const ShellSourceFile&) = delete;
  const std::filesystem::path& path() const noexcept { return file_; }

 private:
  std::filesystem::path directory_;
  std::filesystem::path file_;
};

// What a shell function runs: functionSourceCode when the config has it
// (then `source` holds the file), otherwise resolve_shell_command(). Throws
// as resolve_shell_command() and ShellSourceFile do. Start-up thread.
struct ShellHandler {
  ShellCommand command;
  std::shared_ptr<const ShellSourceFile> source;
};
ShellHandler resolve_shell_handler(const FunctionConfig& config, const std::filesystem::path& directory,
                                   std::string_view path, const std::optional<Credentials>& owner = std::nullopt);

}  // namespace edgefn
