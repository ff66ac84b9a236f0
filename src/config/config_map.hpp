#pragma once
// A config map: the keys of one section of function.yaml declared once, as
// plain data (name, type, default, one line of help), in the manner of Fluent
// Bit's config maps. The same table
//   - checks a file: ConfigNode::check_keys(map) warns about unknown keys
//     (suggesting the nearest declared one), notes ignored platform keys once,
//     and checks the type and range of every declared key present;
//   - gives readers their ranges (ConfigNode::get_int(key, fallback));
//   - prints `processor config-keys`, whose tables are the ones in
//     docs/configuration.md (an integration test compares them).
//
// Each kind declares its map next to its settings reader and fills in the
// defaults from a default-constructed settings struct, so that a default is
// written once. config/ declares the maps of the keys it reads itself (see
// config_loader.hpp) and knows no kind's map; app/kinds.cpp lists them.
//
// Maps are immutable once built; kinds build theirs on first use (a
// function-local static), so reading them is thread-safe.
#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace edgefn {

enum class KeyType {
  kBool,      // true/false (and YAML 1.1's yes/no/on/off)
  kInteger,   // between ConfigKey::min and ConfigKey::max
  kDuration,  // Go-style ("10s", "1m30s"); an integer is seconds
  kString,
  kChoice,      // one of ConfigKey::choices, case-insensitive
  kStringList,  // a YAML list, or a comma-separated string
  kList,        // a YAML list whose entries the reader checks (with `fields`: mappings of those keys)
  kMapping,     // a mapping; its keys are declared in ConfigKey::fields, or free-form
  kSecret,      // a string, or {valueFrom: {envVar: NAME}} (see ConfigNode::as_secret)
};

struct ConfigMap;

// Written with designated initializers; the `{}` on members lets those leave
// them out without GCC's -Wmissing-field-initializers.
struct ConfigKey {
  std::string name{};  // Nuclio's spelling; files may use any case
  KeyType type = KeyType::kString;
  std::int64_t min = 0;  // kInteger
  std::int64_t max = std::numeric_limits<std::int64_t>::max();
  std::vector<std::string> choices{};  // kChoice, in their canonical spelling
  // The default as it would be written in function.yaml ("10s", "false");
  // empty when there is none. Fill it with default_text() from the settings
  // struct's default member, never with a literal of its own.
  std::string default_value{};
  // A remark on the default ("4 MiB"), or, when there is no literal default,
  // what happens instead ("the host's", "(required)").
  std::string default_note{};
  std::string help{};                 // one line: what the key does
  const ConfigMap* fields = nullptr;  // kMapping: its own keys, checked along; kList: its entries' keys
};

// A key edgefn accepts and ignores: it only means something on a Nuclio
// platform (Kubernetes, image builds).
struct IgnoredKey {
  std::string name;
  std::string reason;  // a short noun phrase ("scaling"); may be empty
};

struct ConfigMap {
  std::string name;   // the section ("http", "shell"); for a nested map, its key
  std::string where;  // its place in function.yaml ("spec.triggers.<name>.attributes"); empty when nested
  std::vector<ConfigKey> keys;
  std::vector<IgnoredKey> ignored;

  // Case-insensitive; nullptr when `key` is not declared.
  const ConfigKey* find(std::string_view key) const;
  // The declared key; std::logic_error when it is not declared (a reader
  // asking for a key its own map lacks is a bug, not a config error).
  const ConfigKey& at(std::string_view key) const;
  const IgnoredKey* find_ignored(std::string_view key) const;
};

// The canonical spelling of `text` among a kChoice key's choices
// (case-insensitive); empty when it is none of them.
std::string canonical_choice(const ConfigKey& key, std::string_view text);

// Declares several ignored keys that share a reason.
void add_ignored(ConfigMap& map, std::initializer_list<std::string_view> names, std::string_view reason);

// Default texts, from a settings struct's default members.
std::string default_text(bool value);
template <std::integral T>
requires(!std::same_as<T, bool>) std::string default_text(T value) { return std::to_string(value); }
std::string default_text(std::chrono::nanoseconds value);          // "1m30s"
std::string default_text(const std::vector<std::string>& values);  // "a, b, c"
// "4 MiB" for a whole number of KiB, MiB or GiB; empty otherwise.
std::string byte_size_note(std::uint64_t bytes);

// "bool", "integer (1 to 65535)", "duration", "`enable`, `disable`", ...
std::string describe_type(const ConfigKey& key);

// One section of `processor config-keys` output, with nested maps named
// "<parent>.<key>" ("http.cors") and placed after their parent.
struct ConfigSection {
  std::string name;
  std::string where;
  const ConfigMap* map;
};
std::vector<ConfigSection> sections_of(const ConfigMap& map);

// The Markdown table of the map's own keys (key | type | default | what it
// does), followed by a line naming its ignored keys, if any; ends with a
// newline. Nested maps are not included (see sections_of()).
std::string markdown_table(const ConfigMap& map);

}  // namespace edgefn
