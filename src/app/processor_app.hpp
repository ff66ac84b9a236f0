#pragma once
// The composition root: builds pools, triggers and the management server
// from a loaded config, runs the I/O threads, and drains on SIGTERM/SIGINT.
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "process/credentials.hpp"

namespace edgefn {

struct AppOptions {
  std::filesystem::path config_file;
  std::string http_listen;                          // --http-listen; empty: from the config
  std::string instance;                             // --instance: in default stream client IDs
  std::string management_address = "127.0.0.1:8082";
  std::filesystem::path management_token_file;      // --management-token-file
  std::string management_token_from_environment;    // EDGEFN_MANAGEMENT_TOKEN
  int io_threads = 0;                               // 0: one per core
  std::chrono::milliseconds drain_timeout{30'000};
  bool dev_mode = false;
  bool metrics_recording = true;                     // --metrics off: /metrics stays, hot paths record nothing
  bool watch = false;                                 // --watch: reload when a file of the function changes
  bool access_log = false;                            // --access-log: every trigger's events in the log
  std::map<std::string, std::string> function_urls;  // --function-url NAME=URL
  std::optional<Credentials> worker_user;            // --worker-user, resolved; only when running as root
};

// Runs until a signal drains it. Returns the exit code (0 after a drain).
// Throws ConfigError (exit 2) or StartError (exit 1).
int run_processor(const AppOptions& options);

// `processor build`: loads the config and runs spec.build.commands in the
// function's environment (build/function_build.hpp). Returns 0, or the
// exit status of the command that failed. Throws ConfigError (exit 2) or
// StartError (exit 1: the environment cannot be made).
int build_function(const std::filesystem::path& file);

// `processor validate`: loads and checks the config, logs notices. Throws
// ConfigError.
void validate_config(const std::filesystem::path& file);

}  // namespace edgefn
