#pragma once
// What the shell runtime is built from: the resolved command, the
// runtimeAttributes it honours, and the environment every event's process
// starts with. Reading and resolving live here, apart from the process
// handling, so that they can be tested without spawning anything.
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/function_config.hpp"
#include "event/event.hpp"

namespace edgefn {

inline constexpr std::size_t kDefaultMaxOutputSize = 64u << 20;

// spec.runtimeAttributes of a shell function.
struct ShellAttributes {
  std::vector<std::string> arguments;                   // `arguments`, already split
  Headers response_headers;                             // `responseHeaders`
  std::string content_type = "text/plain";              // `contentType`
  std::size_t max_output_size = kDefaultMaxOutputSize;  // `maxOutputSize`, bytes of stdout
};

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
// Throws StartError naming the directory and PATH searched. Blocking (reads
// the filesystem); start-up thread.
ShellCommand resolve_shell_command(const std::string& handler, const std::filesystem::path& directory,
                                   std::string_view path);

// Finds an executable regular file named `name` on `path`; empty if none.
std::filesystem::path find_on_path(std::string_view name, std::string_view path);

using Environment = std::vector<std::pair<std::string, std::string>>;

// The only variables of the daemon's own environment a handler sees: PATH,
// HOME, LANG and TZ, those that are set. Any thread.
Environment inherited_environment();

// The environment shared by all events: `inherited`, then spec.env, then
// the NUCLIO_FUNCTION_* variables; a later entry of the same name wins.
// Sorted by name. Pure.
Environment base_environment(const FunctionConfig& config, const Environment& inherited);

// The value of `name` in `environment`; empty when it is not there.
std::string_view find_env(const Environment& environment, std::string_view name);

// The PATH a handler process gets: from `base`, or a conventional default.
std::string handler_path(const Environment& base);

using EnvironmentOverrides = std::vector<std::pair<std::string_view, std::string>>;

// `base` with `overrides` replacing entries of the same name and added at
// the end, as "NAME=value" strings ready for execve(). Pure.
std::vector<std::string> execve_environment(const Environment& base, const EnvironmentOverrides& overrides);

// `base` plus the NUCLIO_EVENT_* and NUCLIO_TRIGGER_* variables of
// `event`, as "NAME=value" strings ready for execve(). Pure; any thread.
std::vector<std::string> event_environment(const Environment& base, const Event& event);

// "2024-05-01T12:00:00Z", as Go's time.RFC3339 prints a UTC time.
std::string rfc3339(std::chrono::system_clock::time_point time);

}  // namespace edgefn
