#include "config/config_map.hpp"

#include <stdexcept>

#include "util/duration.hpp"
#include "util/strings.hpp"

namespace edgefn {
namespace {

// An upper bound that only guards a field's width says nothing to the user
// (the same rule as ConfigNode's range errors).
bool open_ended(std::int64_t max) {
  return max == std::numeric_limits<std::int64_t>::max() || max == std::numeric_limits<int>::max();
}

// Appended piecewise: "`" + std::string(...) trips GCC 12's -Wrestrict
// false positive (GCC bug 105329).
std::string code(std::string_view text) {
  std::string out(1, '`');
  out += text;
  out += '`';
  return out;
}

std::string cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out;
}

std::string default_cell(const ConfigKey& key) {
  if (key.default_value.empty()) return key.default_note;
  std::string out = code(key.default_value);
  if (!key.default_note.empty()) out += " (" + key.default_note + ")";
  return out;
}

void add_sections(const ConfigMap& map, const std::string& name, const std::string& where,
                  std::vector<ConfigSection>& out) {
  out.push_back(ConfigSection{name, where, &map});
  for (const ConfigKey& key : map.keys) {
    if (key.fields) add_sections(*key.fields, name + "." + key.name, where + "." + key.name, out);
  }
}

}  // namespace

const ConfigKey* ConfigMap::find(std::string_view key) const {
  for (const ConfigKey& candidate : keys) {
    if (iequals(candidate.name, key)) return &candidate;
  }
  return nullptr;
}

const ConfigKey& ConfigMap::at(std::string_view key) const {
  if (const ConfigKey* found = find(key)) return *found;
  throw std::logic_error("config map '" + name + "' declares no key '" + std::string(key) + "'");
}

const IgnoredKey* ConfigMap::find_ignored(std::string_view key) const {
  for (const IgnoredKey& candidate : ignored) {
    if (iequals(candidate.name, key)) return &candidate;
  }
  return nullptr;
}

std::string canonical_choice(const ConfigKey& key, std::string_view text) {
  for (const std::string& choice : key.choices) {
    if (iequals(choice, text)) return choice;
  }
  return {};
}

void add_ignored(ConfigMap& map, std::initializer_list<std::string_view> names, std::string_view reason) {
  for (std::string_view name : names) map.ignored.push_back(IgnoredKey{std::string(name), std::string(reason)});
}

std::string default_text(bool value) { return value ? "true" : "false"; }

std::string default_text(std::chrono::nanoseconds value) {
  // "1m" rather than Go's "1m0s": both parse, the first reads better.
  std::string text = format_duration(value);
  if (text.size() > 3 && text.ends_with("m0s")) text.resize(text.size() - 2);
  return text;
}

std::string default_text(const std::vector<std::string>& values) {
  std::string out;
  for (const std::string& value : values) {
    if (!out.empty()) out += ", ";
    out += value;
  }
  return out;
}

std::string byte_size_note(std::uint64_t bytes) {
  constexpr std::string_view kUnits[] = {"GiB", "MiB", "KiB"};
  for (int i = 0; i < 3; ++i) {
    std::uint64_t unit = std::uint64_t{1} << (10 * (3 - i));
    if (bytes >= unit && bytes % unit == 0) return std::to_string(bytes / unit) + " " + std::string(kUnits[i]);
  }
  return {};
}

std::string describe_type(const ConfigKey& key) {
  switch (key.type) {
    case KeyType::kBool: return "bool";
    case KeyType::kInteger:
      if (open_ended(key.max)) return "integer, at least " + std::to_string(key.min);
      return "integer, " + std::to_string(key.min) + " to " + std::to_string(key.max);
    case KeyType::kDuration: return "duration";
    case KeyType::kString: return "string";
    case KeyType::kChoice: {
      std::string out;
      for (const std::string& choice : key.choices) {
        if (!out.empty()) out += ", ";
        out += code(choice);
      }
      return out;
    }
    case KeyType::kStringList: return "list of strings";
    case KeyType::kList: return "list";
    case KeyType::kMapping: return "mapping";
    case KeyType::kSecret: return "string, or `{valueFrom: {envVar: NAME}}`";
  }
  return {};
}

std::vector<ConfigSection> sections_of(const ConfigMap& map) {
  std::vector<ConfigSection> out;
  add_sections(map, map.name, map.where, out);
  return out;
}

std::string markdown_table(const ConfigMap& map) {
  std::string out = "| key | type | default | what it does |\n| --- | --- | --- | --- |\n";
  for (const ConfigKey& key : map.keys) {
    out += '|';
    for (const std::string& text : {code(key.name), describe_type(key), default_cell(key), key.help}) {
      if (!text.empty()) out += ' ' + cell(text);
      out += " |";
    }
    out += '\n';
  }
  if (map.ignored.empty()) return out;
  // Keys sharing a reason are listed together: "`a`, `b` (reason); `c`."
  std::string line;
  for (std::size_t i = 0; i < map.ignored.size(); ++i) {
    const IgnoredKey& key = map.ignored[i];
    bool first_of_group = i == 0 || map.ignored[i - 1].reason != key.reason;
    bool last_of_group = i + 1 == map.ignored.size() || map.ignored[i + 1].reason != key.reason;
    if (i > 0) line += first_of_group ? "; " : ", ";
    line += code(key.name);
    if (last_of_group && !key.reason.empty()) line += " (" + key.reason + ")";
  }
  return out + "\nIgnored, as Nuclio platform settings: " + cell(line) + ".\n";
}

}  // namespace edgefn
