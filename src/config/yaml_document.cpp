#include "config/yaml_document.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>

#include "config/config_map.hpp"
#include "util/unique_fd.hpp"

namespace edgefn {
namespace {

ConfigError too_large(const std::string& display, const std::string& size) {
  return ConfigError(SourceMark{display, 1, 1},
                     "the file is " + size + "; a function.yaml may be at most " +
                         byte_size_note(kMaxConfigFileSize) + " (" + std::to_string(kMaxConfigFileSize) +
                         " bytes), spec.build.functionSourceCode included: keep large handlers in files beside it");
}

// yaml-cpp marks are 0-based.
SourceMark at(const YAML::Mark& mark, const std::string& file) {
  if (mark.line < 0) return SourceMark{file, 1, 1};
  return SourceMark{file, mark.line + 1, mark.column + 1};
}

// The nesting of a YAML text, line by line: block collections by their
// indentation and compact indicators ("- - a", "- key: value"), flow
// collections by their brackets, skipping comments, quoted scalars and
// block scalars' contents.
class NestingScan {
 public:
  explicit NestingScan(int limit) : limit_(limit) {}

  // The 0-based column of `line` where the nesting passes the limit.
  std::optional<std::size_t> scan_line(std::string_view line) {
    const std::size_t first = line.find_first_not_of(' ');
    const bool blank = first == std::string_view::npos;
    const std::size_t indent = blank ? line.size() : first;
    if (block_scalar_parent_ >= -1) {
      if (blank || static_cast<long>(indent) > block_scalar_parent_) return std::nullopt;
      block_scalar_parent_ = kNoBlockScalar;
    }
    if (quote_ != Quote::kNone || flow_ > 0) return scan_tokens(line, 0, -1);
    if (blank || line[indent] == '#') return std::nullopt;

    const auto column = static_cast<long>(indent);
    while (!block_.empty() && block_.back() > column) block_.pop_back();
    if (block_.empty() || block_.back() < column) {
      block_.push_back(column);
      if (too_deep()) return indent;
    }
    // Compact nesting on one line: each "- ", "? " or ": " opens a level
    // at the node after it. A scalar there counts too: an over-count.
    std::size_t i = indent;
    long indicator = -1;
    for (;;) {
      i = skip_properties(line, i);
      if (i >= line.size() || !is_indicator(line, i)) break;
      const std::size_t next = line.find_first_not_of(" \t", i + 1);
      if (next == std::string_view::npos || line[next] == '#') break;
      indicator = static_cast<long>(i);
      block_.push_back(static_cast<long>(next));
      if (too_deep()) return next;
      i = next;
    }
    return scan_tokens(line, i, indicator);
  }

 private:
  enum class Quote { kNone, kSingle, kDouble };
  static constexpr long kNoBlockScalar = -2;

  bool too_deep() const { return static_cast<long>(block_.size()) + flow_ > limit_; }

  static bool blank_at(std::string_view line, std::size_t i) {
    return i >= line.size() || line[i] == ' ' || line[i] == '\t';
  }

  static bool is_indicator(std::string_view line, std::size_t i) {
    return (line[i] == '-' || line[i] == '?' || line[i] == ':') && blank_at(line, i + 1);
  }

  // Anchors and tags ("&a", "!!str") do not nest anything.
  static std::size_t skip_properties(std::string_view line, std::size_t i) {
    while (i < line.size() && (line[i] == '&' || line[i] == '!')) {
      while (i < line.size() && !blank_at(line, i)) ++i;
      while (i < line.size() && blank_at(line, i)) ++i;
    }
    return i;
  }

  // "|", ">", "|-", ">+2" ..., then nothing but blanks or a comment.
  static bool is_block_scalar_header(std::string_view line, std::size_t i) {
    std::size_t j = i + 1;
    while (j < line.size() && (line[j] == '+' || line[j] == '-' || (line[j] >= '0' && line[j] <= '9'))) ++j;
    while (j < line.size() && blank_at(line, j)) ++j;
    return j == line.size() || line[j] == '#';
  }

  std::optional<std::size_t> scan_tokens(std::string_view line, std::size_t i, long indicator) {
    char previous = 0;  // the last character that was not blank; 0 at the start
    bool blank_before = true;
    for (; i < line.size(); ++i) {
      const char c = line[i];
      if (quote_ == Quote::kSingle) {
        if (c == '\'') {
          if (i + 1 < line.size() && line[i + 1] == '\'') {
            ++i;
          } else {
            quote_ = Quote::kNone;
            previous = c;
          }
        }
        continue;
      }
      if (quote_ == Quote::kDouble) {
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          quote_ = Quote::kNone;
          previous = c;
        }
        continue;
      }
      if (c == ' ' || c == '\t') {
        blank_before = true;
        continue;
      }
      if (c == '#' && blank_before) return std::nullopt;
      const bool node_start = previous == 0 || previous == '[' || previous == '{' || previous == ',' ||
                              ((previous == '-' || previous == '?' || previous == ':') && blank_before) ||
                              (flow_ > 0 && previous == ':');
      blank_before = false;
      if (node_start && (c == '\'' || c == '"')) {
        quote_ = c == '\'' ? Quote::kSingle : Quote::kDouble;
        continue;
      }
      if (node_start && (c == '&' || c == '!')) {
        while (i + 1 < line.size() && !blank_at(line, i + 1)) ++i;
        continue;
      }
      if (node_start && flow_ == 0 && (c == '|' || c == '>') && is_block_scalar_header(line, i)) {
        // Its lines are those indented deeper than its parent: the mapping
        // whose value it is, or the "- " entry it is.
        if (previous == ':') {
          block_scalar_parent_ = block_.empty() ? -1 : block_.back();
        } else if (indicator >= 0) {
          block_scalar_parent_ = indicator;
        } else {
          block_scalar_parent_ = static_cast<long>(i) - 1;
        }
        return std::nullopt;
      }
      if (c == '[' || c == '{') {
        if (flow_ > 0 || node_start) {
          ++flow_;
          if (too_deep()) return i;
        }
      } else if ((c == ']' || c == '}') && flow_ > 0) {
        --flow_;
      }
      previous = c;
    }
    return std::nullopt;
  }

  const int limit_;
  std::vector<long> block_;  // columns of the open block collections
  long flow_ = 0;
  Quote quote_ = Quote::kNone;
  // >= -1: inside a block scalar whose parent is at this column.
  long block_scalar_parent_ = kNoBlockScalar;
};

// Counts nodes and alias expansions from yaml-cpp's parse events, before
// any node is built. Every event comes with its mark, aliases included,
// which the node graph no longer has (an alias is its anchor's node there).
class Census final : public YAML::EventHandler {
 public:
  explicit Census(const std::string& file) : file_(file) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string&) override {
    leaf(mark, anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnMapEnd() override { close(); }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    // yaml-cpp has refused unknown anchors already: one without a size yet
    // is a collection still open around this alias.
    auto it = sizes_.find(anchor);
    if (it == sizes_.end()) {
      throw ConfigError(at(mark, file_), "this alias names a list or mapping it is inside (a cycle, which never "
                                         "ends when read)");
    }
    repeated_ += it->second;
    if (repeated_ > kMaxAliasExpansion) {
      throw ConfigError(at(mark, file_), "too many nodes through aliases: this alias repeats " +
                                             std::to_string(it->second) + ", and aliases may add at most " +
                                             std::to_string(kMaxAliasExpansion) + " to a function.yaml");
    }
    add(it->second);
  }

 private:
  struct Open {
    YAML::anchor_t anchor;
    std::uint64_t nodes;  // with aliases expanded
  };

  void count(const YAML::Mark& mark) {
    if (++written_ > kMaxConfigNodes) {
      throw ConfigError(at(mark, file_), "too many nodes: a function.yaml may hold at most " +
                                             std::to_string(kMaxConfigNodes) +
                                             " values, keys, lists and mappings in all");
    }
  }
  void add(std::uint64_t nodes) {
    if (!open_.empty()) open_.back().nodes += nodes;
  }
  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    count(mark);
    if (anchor != YAML::NullAnchor) sizes_[anchor] = 1;
    add(1);
  }
  void open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    count(mark);
    open_.push_back(Open{anchor, 1});
  }
  void close() {
    Open done = open_.back();
    open_.pop_back();
    if (done.anchor != YAML::NullAnchor) sizes_[done.anchor] = done.nodes;
    add(done.nodes);
  }

  const std::string& file_;
  std::vector<Open> open_;
  std::unordered_map<YAML::anchor_t, std::uint64_t> sizes_;  // of anchored nodes, once complete
  std::uint64_t written_ = 0;
  std::uint64_t repeated_ = 0;
};

// yaml-cpp reports a tab used for indentation as whatever it tripped over
// next ("illegal map value"); name the tab instead when one precedes the
// error.
std::optional<SourceMark> find_indenting_tab(const std::string& text, const std::string& file, int up_to_line) {
  int line = 1;
  std::size_t start = 0;
  while (start < text.size() && line <= up_to_line) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    for (std::size_t i = start; i < end && (text[i] == ' ' || text[i] == '\t'); ++i) {
      if (text[i] == '\t') return SourceMark{file, line, static_cast<int>(i - start) + 1};
    }
    start = end + 1;
    ++line;
  }
  return std::nullopt;
}

std::string nesting_message() {
  return "nesting too deep: more than " + std::to_string(kMaxConfigNesting) +
         " levels of lists and mappings inside each other";
}

// yaml-cpp keeps both entries of a repeated key and lookups see the first,
// so a later override would be silently lost. Each list and mapping is
// checked once, however many aliases repeat it.
class DuplicateKeyCheck {
 public:
  explicit DuplicateKeyCheck(const std::string& file) : file_(file) {}

  void check(const YAML::Node& node, const std::string& path) {
    if (!node.IsMap() && !node.IsSequence()) return;
    // An alias is its anchor's node, and yaml-cpp offers no identity but
    // is(): the address of the node's tag, which all its aliases share, is
    // one.
    if (!visited_.insert(&node.Tag()).second) return;
    if (node.IsSequence()) {
      std::size_t index = 0;
      for (const auto& element : node) check(element, path + "[" + std::to_string(index++) + "]");
      return;
    }
    std::map<std::string, YAML::Mark> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      const std::string& key = it->first.Scalar();
      std::string child_path = path.empty() ? key : path + "." + key;
      auto [previous, inserted] = seen.emplace(key, it->first.Mark());
      if (!inserted) {
        throw ConfigError(at(it->first.Mark(), file_), child_path + ": duplicate key (first given on line " +
                                                           std::to_string(previous->second.line + 1) + ")");
      }
      check(it->second, child_path);
    }
  }

 private:
  const std::string& file_;
  std::unordered_set<const void*> visited_;
};

}  // namespace

// POSIX rather than ifstream: ifstream opens a directory without complaint
// and loses errno, and "cannot read x: <why>" is the message users need.
std::string read_config_file(const std::filesystem::path& file, const std::string& display) {
  auto cannot_read = [&](int error) { return ConfigError("cannot read " + display + ": " + std::strerror(error)); };
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw cannot_read(errno);
  struct stat info {};
  if (::fstat(fd.get(), &info) == 0 && S_ISREG(info.st_mode) &&
      static_cast<std::uint64_t>(info.st_size) > kMaxConfigFileSize) {
    throw too_large(display, std::to_string(info.st_size) + " bytes");
  }
  // A pipe or a file still growing is read up to the limit only.
  std::string text;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw cannot_read(errno);
    }
    if (text.size() + static_cast<std::size_t>(n) > kMaxConfigFileSize) {
      throw too_large(display, "more than " + std::to_string(kMaxConfigFileSize) + " bytes");
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

std::optional<SourceMark> find_excess_nesting(std::string_view text, const std::string& file, int limit) {
  NestingScan scan(limit);
  int line_number = 1;
  for (std::size_t start = 0; start <= text.size(); ++line_number) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (auto column = scan.scan_line(line)) return SourceMark{file, line_number, static_cast<int>(*column) + 1};
    start = end + 1;
  }
  return std::nullopt;
}

YAML::Node parse_config_document(const std::string& text, const std::string& file) {
  if (auto deep = find_excess_nesting(text, file, kMaxConfigNesting)) throw ConfigError(*deep, nesting_message());
  YAML::Node document;
  try {
    {
      std::istringstream stream(text);
      YAML::Parser parser(stream);
      Census census(file);
      parser.HandleNextDocument(census);
    }
    document = YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    throw ConfigError(at(e.mark, file), nesting_message());
  } catch (const YAML::Exception& e) {
    SourceMark where{file, e.mark.line < 0 ? 0 : e.mark.line + 1, e.mark.column + 1};
    if (auto tab = find_indenting_tab(text, file, where.line > 0 ? where.line : 1 << 30)) {
      throw ConfigError(*tab, "invalid YAML: tab character in indentation (YAML indents with spaces only)");
    }
    throw ConfigError(where, "invalid YAML: " + e.msg);
  }
  DuplicateKeyCheck(file).check(document, "");
  return document;
}

}  // namespace edgefn
