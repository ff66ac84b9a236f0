// processor: CLI11 -> app. Exit codes: 0 clean stop, 1 failed start, 2 bad
// config or usage (a handler that cannot be found or compiled included, at
// start as in `validate`: systemd's RestartPreventExitStatus=2 then stops
// restarting what no restart can fix).
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "app/health_command.hpp"
#include "app/kinds.hpp"
#include "app/processor_app.hpp"
#include "config/config_error.hpp"
#include "log/log.hpp"
#include "process/credentials.hpp"
#include "util/duration.hpp"
#include "util/printable.hpp"

namespace {

constexpr int kExitStartFailed = 1;
constexpr int kExitBadConfig = 2;

// `processor config-keys [SECTION]`: a Markdown table per section, the same
// tables as in docs/configuration.md. A section also selects its nested ones
// ("http" prints http.cors too).
int print_config_keys(const std::string& wanted) {
  using namespace edgefn;
  std::vector<ConfigSection> sections;
  std::vector<std::string> names;
  for (const ConfigMap* map : config_maps()) {
    for (ConfigSection& section : sections_of(*map)) {
      names.push_back(section.name);
      if (wanted.empty() || section.name == wanted || section.name.rfind(wanted + ".", 0) == 0) {
        sections.push_back(std::move(section));
      }
    }
  }
  if (sections.empty()) {
    std::string message = "config-keys: unknown section '" + wanted + "'";
    if (auto suggestion = nearest_key(wanted, names)) message += " (did you mean '" + *suggestion + "'?)";
    std::string list;
    for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
    std::cerr << message << "; sections: " << list << "\n";
    return kExitBadConfig;
  }
  for (std::size_t i = 0; i < sections.size(); ++i) {
    std::cout << (i ? "\n" : "") << "## " << sections[i].name << ": `" << sections[i].where << "`\n\n"
              << markdown_table(*sections[i].map);
  }
  return 0;
}

// printable() line by line, keeping the line breaks: a start error with a
// compiler's output becomes several log records, not one with "\n" in it.
std::string printable_lines(std::string_view text) {
  std::string out;
  for (;;) {
    const auto newline = text.find('\n');
    out += edgefn::printable(text.substr(0, newline));
    if (newline == std::string_view::npos) return out;
    out += '\n';
    text.remove_prefix(newline + 1);
  }
}

std::string section_names() {
  std::string out;
  for (const edgefn::ConfigMap* map : edgefn::config_maps()) out += (out.empty() ? "" : ", ") + map->name;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace edgefn;
  // A write to a peer that went away (a client, a handler that did not read
  // all of its stdin) fails with EPIPE instead of ending the daemon. Once,
  // here, for the whole process; children get the default back before exec.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App cli{"edgefn processor: runs a Nuclio-style function.yaml"};
  cli.set_version_flag("--version", std::string{"processor (edgefn) "} + EDGEFN_VERSION);
  cli.require_subcommand(0, 1);

  AppOptions options;
  std::string log_level = "info";
  std::string log_format = "text";
  std::string drain_timeout = "30s";
  std::string config_file;
  cli.add_option("--config,-c", config_file,
                 "function.yaml to run, or a handler source (.py, .sh, ...) with an inline @nuclio.configure block");
  cli.add_option("--log-level", log_level,
                 "trace, debug, info, warn (or warning), error, critical or off; changed at run time by SIGUSR1 "
                 "(debug on and off) or the management API's /log-level")
      ->capture_default_str();
  cli.add_option("--log-format", log_format,
                 "text, or json: one object per line, structured fields (event_id, trigger, worker, info_with's) "
                 "as members")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cli.add_flag("--access-log", options.access_log,
               "log a line per event for every trigger (also per trigger: accessLog: true; always at debug level)");
  cli.add_option("--io-threads", options.io_threads, "I/O threads (default: one per core)")
      ->check(CLI::Range(1, 1024));
  cli.add_option("--http-listen", options.http_listen,
                 "host:port for the HTTP trigger, overriding the config (port 0 picks a free port)");
  cli.add_option("--instance", options.instance,
                 "this processor's instance name (a systemd template's %i): part of the default MQTT client ID, "
                 "so that instances on one host keep sessions of their own")
      ->check([](const std::string& name) {
        const bool printable = std::all_of(name.begin(), name.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
        return printable ? std::string{} : std::string("expected printable ASCII without spaces");
      });
  cli.add_option("--management-address", options.management_address,
                 "host:port of /live, /ready, /status and /metrics (port 0 picks a free port)")
      ->capture_default_str();
  cli.add_option("--management-token-file", options.management_token_file,
                 "file holding the bearer token /status and /metrics require (or EDGEFN_MANAGEMENT_TOKEN); "
                 "required when --management-address is not a loopback address");
  cli.add_option("--drain-timeout", drain_timeout,
                 "how long SIGTERM waits for in-flight events: a duration as in function.yaml (30s, 1m30s; "
                 "a bare number is seconds)")
      ->capture_default_str();
  std::vector<std::string> function_urls;
  cli.add_option("--function-url", function_urls,
                 "NAME=URL: where context.platform.call_function(NAME, ...) posts (repeatable)");
  cli.add_flag("--watch", options.watch,
               "reload (as SIGHUP does) when a file under the function's directory changes");
  cli.add_flag("--dev", options.dev_mode, "development mode: error details such as tracebacks go into 500 bodies");
  std::string metrics_mode = "on";
  cli.add_option("--metrics", metrics_mode,
                 "on, or off: /metrics stays up but events, latencies and bytes are not recorded (to measure "
                 "what recording costs)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  std::string worker_user;
  cli.add_option("--worker-user", worker_user,
                 "NAME or UID: a processor started as root runs its Python workers and shell handlers as this user");

  std::string validate_file;
  auto* validate = cli.add_subcommand(
      "validate", "check a function.yaml and exit 0, or 2 with `file:line:col: message` on stderr");
  std::string validate_positional;
  validate->add_option("--config,-c", validate_file, "function.yaml (or handler source) to check");
  validate->add_option("file", validate_positional, "the same as --config");
  validate->fallthrough();

  std::string build_file;
  auto* build = cli.add_subcommand(
      "build", "run spec.build.commands (pip install ...) in the function's own Python environment, "
               ".edgefn/venv beside function.yaml; exits with the status of a command that fails");
  build->add_option("--config,-c", build_file, "function.yaml to build")->required();
  build->fallthrough();

  std::string keys_section;
  auto* config_keys = cli.add_subcommand(
      "config-keys", "print the function.yaml keys of SECTION (default: all) as Markdown tables: type, default, help");
  config_keys->add_option("section", keys_section, "one of " + section_names() + " (or a nested one, e.g. http.cors)");
  config_keys->fallthrough();

  HealthOptions health_options;
  double health_timeout_seconds = 5;
  auto* health = cli.add_subcommand(
      "health", "ask a running processor on --management-address whether it is ready (GET /ready): exit 0 when it "
                "answers 200, 1 otherwise with the reason on stderr (for container health checks; no token needed)");
  health->add_option("--timeout", health_timeout_seconds, "seconds to wait for the answer")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  health->add_flag("--live", health_options.live, "ask /live (the process answers) instead of /ready");
  health->fallthrough();

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 exits with 100+ for usage errors; ours is 2.
    int code = cli.exit(e);
    return code == 0 ? 0 : kExitBadConfig;
  }
  if (*config_keys) return print_config_keys(keys_section);
  if (*health) {
    health_options.management_address = options.management_address;
    health_options.timeout = std::chrono::milliseconds{static_cast<long long>(health_timeout_seconds * 1000)};
    return run_health_check(health_options, std::cout, std::cerr);
  }

  spdlog::level::level_enum level;
  if (!parse_log_level(log_level, level)) {
    std::cerr << "--log-level: unknown level '" << log_level << "'\n";
    return kExitBadConfig;
  }
  setup_logging(level, log_format == "json" ? LogFormat::kJson : LogFormat::kText);
  auto log = get_logger("processor");

  if (*validate) {
    if (validate_file.empty()) validate_file = validate_positional;
    if (validate_file.empty() || (!validate_positional.empty() && validate_positional != validate_file)) {
      std::cerr << "validate: give one function.yaml, as `validate FILE` or `validate --config FILE`\n";
      return kExitBadConfig;
    }
    try {
      validate_config(validate_file);
      return 0;
    } catch (const ConfigError& e) {
      // The form editors and CI problem matchers read: file:line:col: message.
      std::cerr << e.what() << "\n";
      return kExitBadConfig;
    } catch (const std::exception& e) {
      std::cerr << validate_file << ": " << printable_lines(e.what()) << "\n";
      return kExitStartFailed;
    }
  }
  try {
    if (*build) {
      try {
        return build_function(build_file);
      } catch (const StartError& e) {
        log->error("build failed: {}", printable_lines(e.what()));
        return kExitStartFailed;
      }
    }
    if (config_file.empty()) {
      std::cerr << "--config is required (try --help)\n";
      return kExitBadConfig;
    }
    auto drain = parse_duration_or_seconds(drain_timeout);
    if (!drain) {
      std::cerr << "--drain-timeout: expected a duration such as 30s, 1m30s or 5 (seconds), got '" << drain_timeout
                << "'\n";
      return kExitBadConfig;
    }
    for (const auto& entry : function_urls) {
      auto eq = entry.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
        std::cerr << "--function-url: expected NAME=URL, got '" << entry << "'\n";
        return kExitBadConfig;
      }
      options.function_urls[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    if (!worker_user.empty()) {
      auto user = look_up_user(worker_user);
      if (!user) {
        std::cerr << "--worker-user: " << user.error() << "\n";
        return kExitBadConfig;
      }
      if (::geteuid() == 0) {
        options.worker_user = std::move(user.value());
      } else if (user->uid != ::geteuid()) {
        std::cerr << "--worker-user " << worker_user << ": the processor runs as uid " << ::geteuid()
                  << " and cannot start processes as another user; start it as root, or leave --worker-user out\n";
        return kExitBadConfig;
      }
      // Already that user: nothing to change.
    }
    options.drain_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*drain);
    if (const char* token = std::getenv("EDGEFN_MANAGEMENT_TOKEN")) {
      options.management_token_from_environment = token;
      // Workers inherit the environment; handlers have no business with it.
      ::unsetenv("EDGEFN_MANAGEMENT_TOKEN");
    }
    options.config_file = config_file;
    options.metrics_recording = metrics_mode == "on";
    return run_processor(options);
  } catch (const ConfigError& e) {
    log->error("{}", e.what());
    return kExitBadConfig;
  } catch (const std::exception& e) {  // StartError, and anything else that stops the start
    log->error("failed to start: {}", printable_lines(e.what()));
    return kExitStartFailed;
  }
}
