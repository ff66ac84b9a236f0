#include "runtime/shell/shell_settings.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>

#include "config/config_error.hpp"
#include "runtime/shell/shell_args.hpp"

namespace edgefn {
namespace {

namespace fs = std::filesystem;

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view{"!#$%&'*+-.^_`|~"}.find(c) != std::string_view::npos;
}

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return std::string(s.substr(first, last - first + 1));
}

std::string first_word(std::string_view s) {
  auto t = trim(s);
  return t.substr(0, t.find_first_of(" \t"));
}

bool is_sh_or_bash(std::string_view name) { return name == "sh" || name == "bash"; }

std::string read_first_line(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw HandlerError("cannot read the shell handler " + file.string() + ": permission denied?");
  // The kernel reads at most this much of a #! line too.
  std::array<char, 256> buffer{};
  in.read(buffer.data(), buffer.size());
  std::string_view text{buffer.data(), static_cast<std::size_t>(in.gcount())};
  return std::string(text.substr(0, text.find('\n')));
}

ShellCommand with_description(std::vector<std::string> prefix) {
  std::string description;
  for (const auto& part : prefix) description.append(description.empty() ? "" : " ").append(part);
  return {std::move(prefix), std::move(description)};
}

ShellCommand command_for_file(const fs::path& file, const fs::path& directory, std::string_view path) {
  const auto shebang = parse_shebang(read_first_line(file));
  if (!shebang || wants_bash(*shebang)) {
    const auto bash = find_on_path("bash", path);
    if (bash.empty())
      throw StartError("shell handler " + file.string() + " runs with bash, and no bash was found on PATH (" +
                       std::string(path) + ")");
    std::vector<std::string> prefix{bash.string()};
    // `#!/bin/sh -e` keeps its option; `#!/usr/bin/env bash` has none.
    if (shebang && is_sh_or_bash(fs::path(shebang->interpreter).filename().string()) && !shebang->argument.empty())
      prefix.push_back(shebang->argument);
    prefix.push_back(file.string());
    return with_description(std::move(prefix));
  }
  // Running the interpreter ourselves is what the kernel does for a #! line,
  // and it spares the file an execute bit, as Nuclio never asked for one.
  fs::path interpreter = shebang->interpreter;
  if (interpreter.is_relative()) interpreter = directory / interpreter;
  if (!is_executable_file(interpreter))
    throw HandlerError("shell handler " + file.string() + ": its #! line names " + shebang->interpreter +
                       ", which is not an executable file");
  std::vector<std::string> prefix{interpreter.string()};
  if (!shebang->argument.empty()) prefix.push_back(shebang->argument);
  prefix.push_back(file.string());
  return with_description(std::move(prefix));
}

void check_header(const ConfigNode& where, const std::string& name, const std::string& value) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char))
    where.fail("'" + name + "' is not a valid HTTP header name");
  if (value.find_first_of(std::string_view{"\r\n\0", 3}) != std::string::npos)
    where.fail("header values cannot contain CR, LF or NUL");
}

ConfigMap make_shell_map() {
  const ShellAttributes defaults;
  ConfigMap map{"shell", "spec.runtimeAttributes", {}, {}};
  map.keys = {
      {.name = "arguments",
       .help = "the handler's arguments, split like shell words (quotes and backslashes only; never run through a "
               "shell); the `X-Nuclio-Arguments` request header replaces them per event only with "
               "`allowArgumentsHeader`"},
      {.name = "allowArgumentsHeader",
       .type = KeyType::kBool,
       .default_value = default_text(defaults.allow_arguments_header),
       .help = "let a request's `X-Nuclio-Arguments` header replace `arguments` (any client then chooses what the "
               "handler runs); when false, a request carrying the header is answered 403"},
      {.name = "logStderr",
       .type = KeyType::kBool,
       .default_value = default_text(defaults.log_stderr),
       .help = "send stderr to the processor's log, line by line, instead of into the response body with stdout "
               "(where Nuclio puts it)"},
      {.name = "responseHeaders",
       .type = KeyType::kMapping,
       .help = "headers added to the handler's answers, 200 and 500 alike (as Nuclio)"},
      {.name = "contentType", .default_value = defaults.content_type, .help = "Content-Type of 200 responses"},
      {.name = "maxOutputSize",
       .type = KeyType::kInteger,
       .min = 1,
       .default_value = default_text(defaults.max_output_size),
       .default_note = byte_size_note(defaults.max_output_size),
       .help = "bytes of output (stdout, with stderr unless `logStderr`); a handler that writes more is killed and "
               "the event answers 500"},
  };
  return map;
}

}  // namespace

const ConfigMap& shell_config_map() {
  static const ConfigMap map = make_shell_map();
  return map;
}

ShellAttributes read_shell_attributes(const FunctionConfig& config) {
  ShellAttributes result;
  if (!config.runtime_attributes || !config.runtime_attributes->defined()) return result;
  const auto& attrs = *config.runtime_attributes;
  if (!attrs.is_map()) attrs.fail("expected a mapping");
  const ConfigMap& map = shell_config_map();
  attrs.check_keys(map);

  if (ConfigNode arguments = attrs.child("arguments"); arguments.defined()) {
    auto split = split_arguments(arguments.as_string());
    if (!split) arguments.fail("cannot split into arguments: " + split.error());
    result.arguments = std::move(split.value());
  }
  if (ConfigNode headers = attrs.child("responseHeaders"); headers.defined()) {
    if (!headers.is_map()) headers.fail("expected a mapping of header names to values");
    for (const auto& [name, value] : headers.entries()) {
      auto text = value.as_string();
      check_header(value, name, text);
      result.response_headers.emplace_back(name, std::move(text));
    }
  }
  if (ConfigNode type = attrs.child("contentType"); type.defined()) {
    result.content_type = type.as_string();
    if (result.content_type.empty()) type.fail("expected a media type such as text/plain");
    check_header(type, "Content-Type", result.content_type);
  }
  result.allow_arguments_header = attrs.get_bool("allowArgumentsHeader", result.allow_arguments_header);
  result.log_stderr = attrs.get_bool("logStderr", result.log_stderr);
  result.max_output_size = static_cast<std::size_t>(
      attrs.get_int(map.at("maxOutputSize"), static_cast<std::int64_t>(result.max_output_size)));
  return result;
}

std::string go_exit_description(int wait_status) {
  if (wait_status == -1) return "exit status unknown";
  if (WIFEXITED(wait_status)) return "exit status " + std::to_string(WEXITSTATUS(wait_status));
  if (!WIFSIGNALED(wait_status)) return "wait status " + std::to_string(wait_status);
  // Go's names for the signals a handler meets; glibc's are the same but
  // capitalised, and not thread-safe to ask for.
  static constexpr std::array<std::string_view, 16> kNames{
      "",        "hangup",    "interrupt",     "quit",    "illegal instruction", "trace/breakpoint trap",
      "aborted", "bus error", "floating point exception", "killed",              "user defined signal 1",
      "segmentation fault",  "user defined signal 2",     "broken pipe",         "alarm clock",
      "terminated"};
  const int signal = WTERMSIG(wait_status);
  std::string text = "signal: ";
  if (signal > 0 && signal < static_cast<int>(kNames.size()))
    text += kNames[static_cast<std::size_t>(signal)];
  else
    text += "signal " + std::to_string(signal);
  if (WCOREDUMP(wait_status)) text += " (core dumped)";
  return text;
}

std::string shell_failure_body(int wait_status, std::string_view output) {
  std::string body = "Failed to run shell command.\nError: " + go_exit_description(wait_status) + "\nOutput:";
  body += output;
  return body;
}

std::optional<Shebang> parse_shebang(std::string_view first_line) {
  if (first_line.substr(0, 2) != "#!") return std::nullopt;
  auto rest = trim(first_line.substr(2));
  if (rest.empty()) return std::nullopt;
  auto split = rest.find_first_of(" \t");
  if (split == std::string::npos) return Shebang{rest, {}};
  return Shebang{rest.substr(0, split), trim(std::string_view(rest).substr(split))};
}

bool wants_bash(const Shebang& shebang) {
  const auto name = fs::path(shebang.interpreter).filename().string();
  if (is_sh_or_bash(name)) return true;
  return name == "env" && is_sh_or_bash(first_word(shebang.argument)) &&
         trim(shebang.argument) == first_word(shebang.argument);
}

ShellCommand resolve_shell_command(const std::string& handler, const fs::path& directory, std::string_view path) {
  const auto name = handler.substr(0, handler.find(':'));
  if (name.empty())
    throw HandlerError("'" + handler + "' names no program: name a script in the function directory or a command "
                       "on PATH (e.g. 'handler.sh')");
  const fs::path relative = name;
  if (relative.is_relative()) {
    std::error_code ec;
    const auto file = fs::absolute(directory / relative).lexically_normal();
    if (fs::is_regular_file(file, ec)) return command_for_file(file, directory, path);
  }
  if (relative.is_absolute() || name.find('/') != std::string::npos) {
    if (relative.is_absolute() && is_executable_file(relative)) return with_description({name});
    throw HandlerError((relative.is_absolute() ? name : (directory / name).string()) + " is not " +
                       (relative.is_absolute() ? "an executable file" : "a file"));
  }
  const auto found = find_on_path(name, path);
  if (found.empty())
    throw HandlerError("no file '" + name + "' in the function directory " + directory.string() +
                       ", and no executable '" + name + "' on PATH (" + std::string(path) + ")");
  return with_description({found.string()});
}

ShellSourceFile::ShellSourceFile(const std::string& handler, std::string_view code,
                                 const std::optional<Credentials>& owner) {
  std::error_code ec;
  auto base = fs::temp_directory_path(ec);
  if (ec) base = "/tmp";
  std::string pattern = (base / "edgefn-shell-XXXXXX").string();
  // mkdtemp makes it 0700: no other user reads the function's source.
  if (!::mkdtemp(pattern.data()))
    throw StartError("cannot create a directory for spec.build.functionSourceCode under " + base.string() + ": " +
                     std::strerror(errno) + " (set TMPDIR to a writable directory)");
  directory_ = pattern;
  auto name = fs::path(handler.substr(0, handler.find(':'))).filename();
  if (name.empty() || name == "." || name == "..") name = "handler.sh";
  file_ = directory_ / name;
  auto fail = [&](const std::string& what) {
    const std::string message = what + " " + file_.string() + ": " + std::strerror(errno);
    fs::remove_all(directory_, ec);
    throw StartError(message);
  };
  const int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail("cannot create");
  std::size_t written = 0;
  while (written < code.size()) {
    const auto n = ::write(fd, code.data() + written, code.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      fail("cannot write");
    }
    written += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) fail("cannot write");
  if (owner && (::chown(directory_.c_str(), owner->uid, owner->gid) != 0 ||
                ::chown(file_.c_str(), owner->uid, owner->gid) != 0))
    fail("cannot give --worker-user " + owner->name + " the file");
}

ShellSourceFile::~ShellSourceFile() {
  std::error_code ignored;
  fs::remove_all(directory_, ignored);
}

ShellHandler resolve_shell_handler(const FunctionConfig& config, const fs::path& directory, std::string_view path,
                                   const std::optional<Credentials>& owner) {
  if (config.function_source_code.empty()) return {resolve_shell_command(config.handler, directory, path), nullptr};
  auto source = std::make_shared<const ShellSourceFile>(config.handler, config.function_source_code, owner);
  return {command_for_file(source->path(), directory, path), std::move(source)};
}

}  // namespace edgefn
