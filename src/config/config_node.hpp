#pragma once
// A read-only view of one YAML mapping in function.yaml that knows its key
// path and file, so every typed read can fail with file:line:col, the key path
// and what was expected. Trigger kinds read their `attributes` through it, so
// config/ never needs to know a kind's keys.
//
// Lookups of keys are case-insensitive (Nuclio matches attribute names that
// way). Values are read verbatim: `${VAR}` is not expanded, so a Nuclio
// function.yaml keeps its meaning (an env entry's valueFrom.envVar is the
// explicit way to take a value from the processor's environment).
//
// Copies are cheap and share the parsed document. Not thread-safe: yaml-cpp
// updates internal caches even on const reads, so read one document from one
// thread at a time (loading, validate_trigger, a kind's constructor).
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config_error.hpp"
#include "config/config_map.hpp"

namespace edgefn {

// Notes the loader collects instead of printing: unknown keys (with a
// suggestion), platform-only keys, unsupported-but-harmless features.
struct ConfigNotice {
  enum class Level { kInfo, kWarning } level;
  std::string message;  // already prefixed with file:line:col
};

class ConfigNode {
 public:
  // `notices` may be null: notices are then dropped. It must outlive this
  // node and every node derived from it (see with_notices()).
  ConfigNode(YAML::Node node, std::string path, std::string file, std::vector<ConfigNotice>* notices);
  ConfigNode(const ConfigNode&) = default;
  ConfigNode(ConfigNode&&) = default;
  // Rebinds to `other`'s node. (YAML::Node's own assignment would instead
  // overwrite the node this one refers to, editing the document.)
  ConfigNode& operator=(const ConfigNode& other);
  ConfigNode& operator=(ConfigNode&& other);

  bool defined() const { return node_.IsDefined() && !node_.IsNull(); }
  bool is_map() const { return node_.IsMap(); }
  bool is_sequence() const { return node_.IsSequence(); }
  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }
  // Where the value is; for an absent or null value, where its key (or the
  // nearest present parent) is.
  SourceMark mark() const;
  // Where the key naming this value is (falls back to mark()).
  SourceMark key_mark() const;
  const YAML::Node& raw() const { return node_; }

  // Child by key (case-insensitive); an absent child is !defined().
  ConfigNode child(std::string_view key) const;
  // Elements of a sequence, or (key, value) entries of a map in file order.
  // Empty when !defined(); ConfigError when the node is of the other shape.
  std::vector<ConfigNode> elements() const;
  std::vector<std::pair<std::string, ConfigNode>> entries() const;

  // Typed reads of this node's own scalar. All throw ConfigError naming the
  // path, the mark and the expectation (also when the node is absent).
  std::string as_string() const;
  std::string as_raw_string() const;  // the same; says the text is kept verbatim
  bool as_bool() const;
  std::int64_t as_int(std::int64_t min, std::int64_t max) const;
  std::chrono::nanoseconds as_duration() const;  // "10s", "1m30s"; integers are seconds
  std::vector<std::string> as_string_list() const;  // a sequence or a comma-separated string
  // A secret (a password): the string itself, or `{valueFrom: {envVar:
  // NAME}}` to take it from the processor's environment so that it need
  // not be written into function.yaml. Fails when the variable is unset.
  std::string as_secret() const;

  // Typed reads of a child with a default when the child is absent.
  std::string get_string(std::string_view key, std::string fallback = {}) const;
  bool get_bool(std::string_view key, bool fallback) const;
  std::int64_t get_int(std::string_view key, std::int64_t fallback, std::int64_t min = 0,
                       std::int64_t max = INT64_MAX) const;
  std::chrono::nanoseconds get_duration(std::string_view key, std::chrono::nanoseconds fallback) const;
  // A declared integer key: its name and range come from `key`.
  std::int64_t get_int(const ConfigKey& key, std::int64_t fallback) const;

  // Warns (through the notices) about every key of this mapping that is in
  // neither `known` nor `ignored`, suggesting the nearest known key; keys in
  // `ignored` get one info line saying they are platform-only. Does nothing
  // when the node is not a mapping.
  void check_keys(std::initializer_list<std::string_view> known,
                  std::initializer_list<std::string_view> ignored = {}) const;
  // The same against a config map, whose ignored keys' reasons join the
  // info line; in addition, every declared key present is read as its type
  // (bool, integer in range, duration, choice, string or list of strings),
  // throwing the ConfigError the typed reads throw, and mappings with
  // declared fields are checked in turn. Lists, free-form mappings and the
  // rest of a value's meaning are left to the reader; so is an empty
  // duration, which some keys take as "none" (Nuclio exports
  // `eventTimeout: ""`). Does nothing when the node is not a mapping.
  void check_keys(const ConfigMap& map) const;

  // Throws ConfigError "file:line:col: path: <message>" at mark().
  [[noreturn]] void fail(const std::string& message) const;
  // Adds "file:line:col: path: <message>" at key_mark() to the notices.
  void notice(ConfigNotice::Level level, const std::string& message) const;

  // The same node reporting its (and its children's) notices to `notices`
  // instead; null drops them.
  ConfigNode with_notices(std::vector<ConfigNotice>* notices) const;

 private:
  ConfigNode(YAML::Node node, std::string path, std::string file, std::vector<ConfigNotice>* notices,
             SourceMark anchor);
  // Scalar text for a typed read, or fail() naming `expectation`.
  std::string scalar_text(const std::string& expectation) const;

  YAML::Node node_;
  std::string path_;
  std::string file_;
  std::vector<ConfigNotice>* notices_;
  SourceMark anchor_;  // the key's mark, or the parent's when the key is absent
};

// A name a POSIX shell accepts for a variable: [A-Za-z_][A-Za-z0-9_]*.
bool is_env_name(std::string_view name);

// The closest of `candidates` to `word` by edit distance, if close enough to
// be a plausible typo.
// Case-insensitive; a candidate that `word` is a prefix of also counts.
std::optional<std::string> nearest_key(std::string_view word, std::initializer_list<std::string_view> candidates);
std::optional<std::string> nearest_key(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace edgefn
