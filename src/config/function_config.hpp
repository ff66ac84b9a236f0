#pragma once
// The function.yaml model: plain structs that tests can build by hand.
// Loading and validation live in config_loader.hpp.
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config_node.hpp"

namespace edgefn {

struct TriggerConfig {
  std::string name;  // the map key unless `name` is given
  std::string kind;  // canonical kind ("kafka" is stored as "kafka-cluster")
  bool disabled = false;
  int num_workers = 1;  // numWorkers, or its alias maxWorkers
  std::string url;
  std::string username;  // trigger-level credentials (Nuclio's mqtt, rabbit-mq)
  std::string password;
  std::chrono::milliseconds worker_availability_timeout{10000};
  std::string worker_allocator_name;  // empty: a pool of its own
  std::chrono::milliseconds worker_termination_timeout{10000};
  std::string explicit_ack_mode = "disable";  // "enable" | "disable" | "explicitOnly"
  // Nuclio's trigger-level waitExplicitAckDuringRebalanceTimeout (Kafka).
  std::optional<std::chrono::milliseconds> wait_explicit_ack_during_rebalance;
  bool access_log = false;  // accessLog: a line per event in the log
  // Kind-specific settings, read by the kind itself through ConfigNode so
  // that errors still point into the file.
  std::optional<ConfigNode> attributes;
  SourceMark mark;  // the trigger's key under spec.triggers
  SourceMark num_workers_mark;  // numWorkers (or maxWorkers) when given, else `mark`
};

struct FunctionConfig {
  std::filesystem::path file;       // the function.yaml (or handler source) that was loaded
  std::filesystem::path directory;  // its directory: handler files are found here
  // metadata
  std::string name;  // the directory's name when metadata.name is absent
  std::string namespace_name = "default";  // when absent, as in Nuclio
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  // spec
  std::string description;
  std::string version;
  std::string runtime;  // "python", "python:3.11", "shell", "native"
  std::string handler;  // "module:entry", "lib.so:symbol", "builtin:echo"
  std::vector<std::pair<std::string, std::string>> env;
  std::optional<std::chrono::nanoseconds> event_timeout;
  // readinessTimeoutSeconds: a worker that is not ready by then (its
  // process started, the handler imported, init_context run) is restarted.
  std::chrono::milliseconds readiness_timeout{120'000};
  std::filesystem::path build_path;        // spec.build.path, absolute; empty if unset
  std::string function_source_code;        // decoded spec.build.functionSourceCode
  std::vector<std::string> build_commands;  // spec.build.commands, run by `processor build`
  std::optional<ConfigNode> runtime_attributes;
  std::vector<TriggerConfig> triggers;     // enabled and disabled, in file order
  // No http trigger is added when `triggers` declares none of kind http.
  bool disable_default_http_trigger = false;
  // spec.disable: the processor says so and exits 0 without starting it.
  bool disabled = false;
  SourceMark runtime_mark;
  SourceMark handler_mark;

  // "python:3.11" -> "python"
  std::string runtime_kind() const;
  // "python:3.11" -> "3.11"; empty when no version is given
  std::string runtime_version() const;
  // Where handler files are found: spec.build.path (a file there stands for
  // its directory), else the config's directory. Reads the filesystem.
  std::filesystem::path handler_directory() const;
};

}  // namespace edgefn
