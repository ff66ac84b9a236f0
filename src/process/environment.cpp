#include "process/environment.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

extern char** environ;

namespace edgefn {

namespace fs = std::filesystem;

Environment inherited_environment() {
  Environment env;
  // STATE_DIRECTORY: where systemd's StateDirectory= lets the function
  // write (everything else is read-only under ProtectSystem=strict).
  for (const char* name : {"HOME", "LANG", "PATH", "STATE_DIRECTORY", "TZ"})
    if (const char* value = std::getenv(name)) env.emplace_back(name, value);
  return env;
}

Environment daemon_environment() {
  Environment env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry = *e;
    auto eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    env.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

std::string_view find_env(const Environment& environment, std::string_view name) {
  for (const auto& [key, value] : environment)
    if (key == name) return value;
  return {};
}

std::string handler_path(const Environment& base) {
  auto path = find_env(base, "PATH");
  return std::string(path.empty() ? kDefaultPath : path);
}

std::vector<std::string> execve_environment(const Environment& base, const EnvironmentOverrides& overrides) {
  std::vector<std::string> out;
  out.reserve(base.size() + overrides.size());
  for (const auto& [name, value] : base) {
    bool replaced = std::any_of(overrides.begin(), overrides.end(), [&, &n = name](const auto& o) { return o.first == n; });
    if (!replaced) out.push_back(name + "=" + value);
  }
  for (const auto& [name, value] : overrides) out.push_back(std::string(name) + "=" + value);
  return out;
}

bool is_executable_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

fs::path find_on_path(std::string_view name, std::string_view path) {
  while (!path.empty()) {
    auto colon = path.find(':');
    auto dir = path.substr(0, colon);
    path = colon == std::string_view::npos ? std::string_view{} : path.substr(colon + 1);
    // An empty entry means the current directory to execvp(); a daemon's
    // current directory is no place to pick commands up from.
    if (dir.empty()) continue;
    fs::path candidate = fs::path(dir) / name;
    if (is_executable_file(candidate)) return fs::absolute(candidate);
  }
  return {};
}

}  // namespace edgefn
