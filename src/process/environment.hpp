#pragma once
// Environments and programs of child processes: what a child inherits from
// the daemon, how overrides combine into an execve() environment, and how a
// command is found on a PATH. Pure functions, any thread.
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgefn {

using Environment = std::vector<std::pair<std::string, std::string>>;
using EnvironmentOverrides = std::vector<std::pair<std::string_view, std::string>>;

// What execvp() would search with no PATH at all, minus the current
// directory.
inline constexpr std::string_view kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

// The only variables of the daemon's own environment a handler sees: PATH,
// HOME, LANG, TZ and STATE_DIRECTORY (systemd's StateDirectory=), those
// that are set.
Environment inherited_environment();

// Every variable of the daemon's own environment.
Environment daemon_environment();

// The value of `name` in `environment`; empty when it is not there.
std::string_view find_env(const Environment& environment, std::string_view name);

// The PATH a child gets: from `base`, or kDefaultPath.
std::string handler_path(const Environment& base);

// `base` with `overrides` replacing entries of the same name and added at
// the end, as "NAME=value" strings ready for execve().
std::vector<std::string> execve_environment(const Environment& base, const EnvironmentOverrides& overrides);

// Finds an executable regular file named `name` on `path` (a PATH-style
// list; empty entries are skipped, never the current directory); empty if
// none. Reads the filesystem.
std::filesystem::path find_on_path(std::string_view name, std::string_view path);

// True for a regular file this process may execute.
bool is_executable_file(const std::filesystem::path& path);

}  // namespace edgefn
