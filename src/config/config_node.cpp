#include "config/config_node.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>

#include "util/duration.hpp"
#include "util/printable.hpp"
#include "util/strings.hpp"

namespace edgefn {

std::string SourceMark::to_string() const {
  std::string out = file;
  if (line > 0) {
    if (!out.empty()) out += ':';
    out += std::to_string(line) + ':' + std::to_string(column);
  }
  return out;
}

namespace {

char to_lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::string join_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

// yaml-cpp marks are 0-based and -1 when unknown.
SourceMark to_source_mark(const YAML::Mark& mark, const std::string& file) {
  if (mark.line < 0) return SourceMark{file, 0, 0};
  return SourceMark{file, mark.line + 1, mark.column + 1};
}

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  return "'" + node.Scalar() + "'";
}

std::string describe_int_range(std::int64_t min, std::int64_t max, bool too_big) {
  // An upper bound that only guards a field's width is noise to the user,
  // unless the value actually ran into it.
  bool open_ended = max == std::numeric_limits<std::int64_t>::max() || max == std::numeric_limits<int>::max();
  if (open_ended && !too_big) {
    if (min == 1) return "a positive integer";
    if (min == 0) return "a non-negative integer";
    return "an integer of at least " + std::to_string(min);
  }
  return "an integer between " + std::to_string(min) + " and " + std::to_string(max);
}

// Optimal string alignment distance (Damerau-Levenshtein without repeated
// edits of one substring), case-insensitive: typos in keys are mostly one
// swapped, dropped or doubled letter.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      std::size_t cost = to_lower(a[i - 1]) == to_lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && to_lower(a[i - 1]) == to_lower(b[j - 2]) && to_lower(a[i - 2]) == to_lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

template <typename Range>
std::optional<std::string> nearest_of(std::string_view word, const Range& candidates) {
  if (word.empty()) return std::nullopt;
  // Short words tolerate fewer edits, or everything would suggest everything.
  const std::size_t limit = word.size() <= 4 ? 1 : word.size() <= 8 ? 2 : 3;
  std::optional<std::string> best;
  std::size_t best_distance = limit + 1;
  for (std::string_view candidate : candidates) {
    // The distance is at least the difference in length: a key of a
    // megabyte is not compared letter by letter with every candidate.
    std::size_t gap = word.size() > candidate.size() ? word.size() - candidate.size() : candidate.size() - word.size();
    if (gap > limit) continue;
    std::size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = std::string(candidate);
    }
  }
  if (best) return best;
  // A truncated key ("workerAvailabilityTimeout") is far in edits but obvious.
  if (word.size() >= 4) {
    for (std::string_view candidate : candidates) {
      if (istarts_with(candidate, word)) return std::string(candidate);
    }
  }
  return std::nullopt;
}

const std::string kIgnoredMessage = "a Nuclio platform setting; ignored by edgefn";

template <typename Range>
void warn_unknown(const ConfigNode& entry, std::string_view key, const Range& known) {
  std::string message = "unknown key, ignored";
  if (auto suggestion = nearest_of(key, known)) message += "; did you mean '" + *suggestion + "'?";
  entry.notice(ConfigNotice::Level::kWarning, message);
}

void check_value(const ConfigNode& value, const ConfigKey& key) {
  if (!value.defined()) return;  // an empty value reads as absent
  switch (key.type) {
    case KeyType::kBool: value.as_bool(); return;
    case KeyType::kInteger: value.as_int(key.min, key.max); return;
    case KeyType::kDuration:
      if (!(value.raw().IsScalar() && value.raw().Scalar().empty())) value.as_duration();
      return;
    case KeyType::kString:
      value.as_string();
      return;
    case KeyType::kChoice: {
      std::string text = value.as_string();
      if (canonical_choice(key, text).empty()) {
        std::string list;
        for (const std::string& choice : key.choices) list += (list.empty() ? "" : ", ") + choice;
        value.fail("expected one of " + list + ", got '" + text + "'");
      }
      return;
    }
    case KeyType::kStringList: value.as_string_list(); return;
    case KeyType::kList: return;
    case KeyType::kMapping:
      if (key.fields) value.check_keys(*key.fields);
      return;
    case KeyType::kSecret: value.as_secret(); return;
  }
}

}  // namespace

ConfigNode::ConfigNode(YAML::Node node, std::string path, std::string file, std::vector<ConfigNotice>* notices)
    : node_(std::move(node)), path_(std::move(path)), file_(std::move(file)), notices_(notices) {
  anchor_ = node_.IsDefined() ? to_source_mark(node_.Mark(), file_) : SourceMark{file_, 0, 0};
}

ConfigNode::ConfigNode(YAML::Node node, std::string path, std::string file, std::vector<ConfigNotice>* notices,
                       SourceMark anchor)
    : node_(std::move(node)),
      path_(std::move(path)),
      file_(std::move(file)),
      notices_(notices),
      anchor_(std::move(anchor)) {}

ConfigNode& ConfigNode::operator=(const ConfigNode& other) {
  if (this != &other) {
    node_.reset(other.node_);
    path_ = other.path_;
    file_ = other.file_;
    notices_ = other.notices_;
    anchor_ = other.anchor_;
  }
  return *this;
}

ConfigNode& ConfigNode::operator=(ConfigNode&& other) {
  if (this != &other) {
    node_.reset(other.node_);
    path_ = std::move(other.path_);
    file_ = std::move(other.file_);
    notices_ = other.notices_;
    anchor_ = std::move(other.anchor_);
  }
  return *this;
}

SourceMark ConfigNode::mark() const {
  // A null value's own mark is where the parser gave up looking for it,
  // often the next line; its key is the useful place.
  if (node_.IsDefined() && !node_.IsNull()) {
    SourceMark own = to_source_mark(node_.Mark(), file_);
    if (own.line > 0) return own;
  }
  return anchor_;
}

SourceMark ConfigNode::key_mark() const { return anchor_.line > 0 ? anchor_ : mark(); }

ConfigNode ConfigNode::child(std::string_view key) const {
  if (node_.IsMap()) {
    // An exact spelling wins over a case variant. (yaml-cpp's iterators
    // yield temporaries, so nothing found is kept across an increment.)
    for (bool exact : {true, false}) {
      for (auto it = node_.begin(); it != node_.end(); ++it) {
        if (!it->first.IsScalar()) continue;
        const std::string& name = it->first.Scalar();
        if (exact ? name == key : iequals(name, key)) {
          return ConfigNode(it->second, join_path(path_, name), file_, notices_,
                            to_source_mark(it->first.Mark(), file_));
        }
      }
    }
  }
  return ConfigNode(YAML::Node(YAML::NodeType::Undefined), join_path(path_, key), file_, notices_, key_mark());
}

std::vector<ConfigNode> ConfigNode::elements() const {
  std::vector<ConfigNode> out;
  if (!defined()) return out;
  if (!node_.IsSequence()) fail("expected a list, got " + describe(node_));
  std::size_t index = 0;
  for (auto it = node_.begin(); it != node_.end(); ++it, ++index) {
    out.push_back(ConfigNode(*it, path_ + "[" + std::to_string(index) + "]", file_, notices_,
                             to_source_mark(it->Mark(), file_)));
  }
  return out;
}

std::vector<std::pair<std::string, ConfigNode>> ConfigNode::entries() const {
  std::vector<std::pair<std::string, ConfigNode>> out;
  if (!defined()) return out;
  if (!node_.IsMap()) fail("expected a mapping, got " + describe(node_));
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    SourceMark key_at = to_source_mark(it->first.Mark(), file_);
    if (!it->first.IsScalar()) {
      throw ConfigError(key_at, (path_.empty() ? "" : path_ + ": ") + "expected a plain key, got " +
                                    describe(it->first));
    }
    const std::string& name = it->first.Scalar();
    out.emplace_back(name, ConfigNode(it->second, join_path(path_, name), file_, notices_, key_at));
  }
  return out;
}

std::string ConfigNode::scalar_text(const std::string& expectation) const {
  if (!node_.IsDefined() || node_.IsNull() || !node_.IsScalar()) {
    fail("expected " + expectation + ", got " + describe(node_));
  }
  return node_.Scalar();
}

std::string ConfigNode::as_string() const { return scalar_text("a string"); }

std::string ConfigNode::as_raw_string() const { return scalar_text("a string"); }

bool ConfigNode::as_bool() const {
  std::string text = scalar_text("true or false");
  // YAML 1.1 spellings too: Nuclio reads function.yaml with Go's yaml.v2.
  for (std::string_view yes : {"true", "yes", "on"}) {
    if (iequals(text, yes)) return true;
  }
  for (std::string_view no : {"false", "no", "off"}) {
    if (iequals(text, no)) return false;
  }
  fail("expected true or false, got '" + text + "'");
}

std::int64_t ConfigNode::as_int(std::int64_t min, std::int64_t max) const {
  std::string text = scalar_text(describe_int_range(min, max, false));
  std::string_view digits = text;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  bool parsed = !digits.empty() && ec == std::errc{} && end == digits.data() + digits.size();
  bool too_big = ec == std::errc::result_out_of_range || (parsed && value > max);
  if (!parsed || value < min || value > max) {
    fail("expected " + describe_int_range(min, max, too_big) + ", got '" + text + "'");
  }
  return value;
}

std::chrono::nanoseconds ConfigNode::as_duration() const {
  const std::string expectation = "a duration such as '10s' or '1m30s'";
  std::string text = scalar_text(expectation);
  std::string_view body = text;
  bool negative = !body.empty() && body.front() == '-';
  if (negative) body.remove_prefix(1);
  if (!body.empty() && std::all_of(body.begin(), body.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (negative) fail("expected a non-negative duration, got '" + text + "'");
    std::int64_t seconds = 0;
    auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), seconds);
    constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / 1'000'000'000;
    if (ec != std::errc{} || end != body.data() + body.size() || seconds > kMaxSeconds) {
      fail("expected " + expectation + ", got '" + text + "' (too large)");
    }
    return std::chrono::seconds{seconds};
  }
  if (auto parsed = parse_duration(body); parsed && !negative) return *parsed;
  if (negative && parse_duration(body)) fail("expected a non-negative duration, got '" + text + "'");
  fail("expected " + expectation + ", got '" + text + "'");
}

std::vector<std::string> ConfigNode::as_string_list() const {
  std::vector<std::string> out;
  if (node_.IsSequence()) {
    for (const ConfigNode& element : elements()) out.push_back(element.as_string());
    return out;
  }
  std::string text = scalar_text("a list of strings or a comma-separated string");
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    auto first = item.find_first_not_of(" \t");
    if (first != std::string::npos) out.push_back(item.substr(first, item.find_last_not_of(" \t") - first + 1));
    start = comma + 1;
  }
  return out;
}

std::string ConfigNode::as_secret() const {
  if (!node_.IsMap()) return scalar_text("a string, or {valueFrom: {envVar: NAME}}");
  constexpr const char* kForm = "expected a string, or {valueFrom: {envVar: NAME}} to read it from the processor's environment";
  auto entries = this->entries();
  if (entries.size() != 1 || !iequals(entries.front().first, "valueFrom")) fail(kForm);
  const ConfigNode& from = entries.front().second;
  auto sources = from.is_map() ? from.entries() : decltype(entries){};
  if (sources.size() != 1 || !iequals(sources.front().first, "envVar")) from.fail(kForm);
  const ConfigNode& variable_node = sources.front().second;
  std::string variable = variable_node.as_string();
  const char* value = variable.empty() ? nullptr : std::getenv(variable.c_str());
  if (!value) variable_node.fail("the processor's environment has no variable '" + variable + "'");
  return value;
}

std::string ConfigNode::get_string(std::string_view key, std::string fallback) const {
  ConfigNode node = child(key);
  return node.defined() ? node.as_string() : fallback;
}

bool ConfigNode::get_bool(std::string_view key, bool fallback) const {
  ConfigNode node = child(key);
  return node.defined() ? node.as_bool() : fallback;
}

std::int64_t ConfigNode::get_int(std::string_view key, std::int64_t fallback, std::int64_t min,
                                 std::int64_t max) const {
  ConfigNode node = child(key);
  return node.defined() ? node.as_int(min, max) : fallback;
}

std::chrono::nanoseconds ConfigNode::get_duration(std::string_view key, std::chrono::nanoseconds fallback) const {
  ConfigNode node = child(key);
  return node.defined() ? node.as_duration() : fallback;
}

std::int64_t ConfigNode::get_int(const ConfigKey& key, std::int64_t fallback) const {
  return get_int(key.name, fallback, key.min, key.max);
}

void ConfigNode::check_keys(std::initializer_list<std::string_view> known,
                            std::initializer_list<std::string_view> ignored) const {
  if (!node_.IsMap()) return;
  auto in = [](std::initializer_list<std::string_view> list, std::string_view key) {
    return std::any_of(list.begin(), list.end(), [&](std::string_view k) { return iequals(k, key); });
  };
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string& key = it->first.Scalar();
    if (in(known, key)) continue;
    ConfigNode entry(it->second, join_path(path_, key), file_, notices_, to_source_mark(it->first.Mark(), file_));
    if (in(ignored, key)) {
      entry.notice(ConfigNotice::Level::kInfo, kIgnoredMessage);
      continue;
    }
    warn_unknown(entry, key, known);
  }
}

void ConfigNode::check_keys(const ConfigMap& map) const {
  if (!node_.IsMap()) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string& key = it->first.Scalar();
    ConfigNode entry(it->second, join_path(path_, key), file_, notices_, to_source_mark(it->first.Mark(), file_));
    if (const ConfigKey* declared = map.find(key)) {
      check_value(entry, *declared);
    } else if (const IgnoredKey* ignored = map.find_ignored(key)) {
      entry.notice(ConfigNotice::Level::kInfo,
                   kIgnoredMessage + (ignored->reason.empty() ? "" : " (" + ignored->reason + ")"));
    } else {
      std::vector<std::string_view> known;
      for (const ConfigKey& candidate : map.keys) known.push_back(candidate.name);
      warn_unknown(entry, key, known);
    }
  }
}

void ConfigNode::fail(const std::string& message) const {
  throw ConfigError(mark(), path_.empty() ? message : path_ + ": " + message);
}

void ConfigNode::notice(ConfigNotice::Level level, const std::string& message) const {
  if (!notices_) return;
  std::string text = key_mark().to_string() + ": ";
  if (!path_.empty()) text += path_ + ": ";
  notices_->push_back(ConfigNotice{level, printable(text + message)});
}

ConfigNode ConfigNode::with_notices(std::vector<ConfigNotice>* notices) const {
  ConfigNode copy(*this);
  copy.notices_ = notices;
  return copy;
}

bool is_env_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return c == '_' || std::isalnum(static_cast<unsigned char>(c)); });
}

std::optional<std::string> nearest_key(std::string_view word, std::initializer_list<std::string_view> candidates) {
  return nearest_of(word, candidates);
}

std::optional<std::string> nearest_key(std::string_view word, const std::vector<std::string>& candidates) {
  return nearest_of(word, candidates);
}

}  // namespace edgefn
