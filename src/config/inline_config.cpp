#include "config/inline_config.hpp"

#include <array>

#include "config/yaml_document.hpp"

namespace edgefn {
namespace {

namespace fs = std::filesystem;

// Nuclio's builder maps these extensions to runtimes (and its runtimes to
// comment markers); C and C++ sources and shared libraries are edgefn's
// native handlers. Runtimes edgefn lacks are kept so that the loader says
// "exists in Nuclio but is not supported" rather than failing to parse
// Go as YAML.
constexpr std::array kLanguages{
    SourceLanguage{"py", "python", "#"},      SourceLanguage{"sh", "shell", "#"},
    SourceLanguage{"c", "native", "//"},      SourceLanguage{"cc", "native", "//"},
    SourceLanguage{"cpp", "native", "//"},    SourceLanguage{"cxx", "native", "//"},
    SourceLanguage{"so", "native", ""},       SourceLanguage{"go", "golang", "//"},
    SourceLanguage{"js", "nodejs", "//"},     SourceLanguage{"java", "java", "//"},
    SourceLanguage{"cs", "dotnetcore", "//"}, SourceLanguage{"rb", "ruby", "#"},
};

constexpr std::string_view kBlockKeyword = "@nuclio.";
constexpr std::string_view kConfigureBlock = "configure";

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::size_t skip_blanks(std::string_view line, std::size_t at) {
  while (at < line.size() && is_blank(line[at])) ++at;
  return at;
}

// Where the comment text of `line` starts (after the marker and one blank),
// or npos when the line is not a comment.
std::size_t comment_text_start(std::string_view line, std::string_view prefix) {
  std::size_t at = skip_blanks(line, 0);
  if (line.substr(at, prefix.size()) != prefix) return std::string_view::npos;
  at += prefix.size();
  if (at < line.size() && is_blank(line[at])) ++at;
  return at;
}

// The block name of a `@nuclio.<name>` comment line, or nullopt.
std::optional<std::string> block_name(std::string_view line, std::string_view prefix) {
  std::size_t at = comment_text_start(line, prefix);
  if (at == std::string_view::npos) return std::nullopt;
  at = skip_blanks(line, at);
  if (line.substr(at, kBlockKeyword.size()) != kBlockKeyword) return std::nullopt;
  std::string_view rest = line.substr(at + kBlockKeyword.size());
  while (!rest.empty() && is_blank(rest.back())) rest.remove_suffix(1);
  return std::string(rest);
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

// ASCII only: enough to tell a file name Python cannot import.
bool is_python_identifier(std::string_view name) {
  auto letter = [](char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (name.empty() || !letter(name[0])) return false;
  for (char c : name) {
    if (!letter(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

}  // namespace

std::optional<SourceLanguage> source_language(const fs::path& file) {
  std::string extension = file.extension().string();
  if (extension.size() < 2) return std::nullopt;
  for (const SourceLanguage& language : kLanguages) {
    if (extension.substr(1) == language.extension) return language;
  }
  return std::nullopt;
}

InlineBlock find_inline_block(std::string_view source, std::string_view comment_prefix) {
  InlineBlock result;
  if (comment_prefix.empty()) return result;
  const std::vector<std::string_view> lines = split_lines(source);
  // [first, end) of the configure block's body, 0-based; the last one wins.
  std::size_t first = 0;
  std::size_t end = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto name = block_name(lines[i], comment_prefix);
    if (!name) continue;
    const int line_number = static_cast<int>(i) + 1;
    std::size_t body_end = i + 1;
    while (body_end < lines.size() && comment_text_start(lines[body_end], comment_prefix) != std::string_view::npos) {
      ++body_end;
    }
    if (*name == kConfigureBlock) {
      if (result.line > 0) result.skipped.emplace_back(std::string(kConfigureBlock), result.line);
      result.line = line_number;
      first = i + 1;
      end = body_end;
    } else {
      result.skipped.emplace_back(*name, line_number);
    }
    i = body_end - 1;
  }
  if (result.line == 0) return result;
  for (std::size_t i = 0; i < end; ++i) {
    if (i >= first) {
      std::string_view line = lines[i];
      std::size_t text = comment_text_start(line, comment_prefix);
      result.yaml.append(text, ' ').append(line.substr(text));
    }
    result.yaml += '\n';
  }
  return result;
}

YAML::Node read_inline_configuration(const fs::path& file, const std::string& display,
                                     std::vector<ConfigNotice>* notices) {
  auto language = source_language(file);
  const std::string text = read_config_file(file, display);
  InlineBlock block = find_inline_block(text, language ? language->comment_prefix : std::string_view{});
  for (const auto& [name, line] : block.skipped) {
    std::string what = name == kConfigureBlock
                           ? "an earlier @nuclio.configure block; the last one is used, as in Nuclio"
                           : "block '@nuclio." + name + "' is not read by edgefn; ignored";
    if (notices)
      notices->push_back({ConfigNotice::Level::kWarning, SourceMark{display, line, 1}.to_string() + ": " + what});
  }
  YAML::Node defaults = parse_config_document("{}", display);
  if (block.line == 0) return defaults;

  const SourceMark start{display, block.line, 1};
  YAML::Node document = parse_config_document(block.yaml, display);
  ConfigNode root(document, "", display, notices);
  if (!root.defined()) {
    if (notices)
      notices->push_back({ConfigNotice::Level::kWarning, start.to_string() +
                                                             ": the @nuclio.configure block "
                                                             "is empty; the function runs with defaults"});
    return defaults;
  }
  if (!root.is_map()) {
    throw ConfigError(root.mark(), "expected the @nuclio.configure block (line " + std::to_string(block.line) +
                                       ") to be a mapping holding 'function.yaml:'");
  }
  root.check_keys({"function.yaml"});
  ConfigNode function = root.child("function.yaml");
  if (!function.defined()) {
    if (notices)
      notices->push_back({ConfigNotice::Level::kWarning, start.to_string() +
                                                             ": the @nuclio.configure block "
                                                             "holds no 'function.yaml:'; the function runs with "
                                                             "defaults"});
    return defaults;
  }
  if (!function.is_map()) {
    function.fail("expected the function's configuration (a mapping: metadata, spec), as in a function.yaml");
  }
  return function.raw();
}

std::optional<std::string> default_handler(std::string_view runtime_kind, const fs::path& source) {
  // Nuclio's default entry point is `handler`, in the module the file is;
  // a file such as my-function.py is no module Python can import.
  if (runtime_kind == "python") {
    std::string module = source.stem().string();
    if (!is_python_identifier(module)) return std::nullopt;
    return module + ":handler";
  }
  if (runtime_kind == "shell") return source.filename().string();
  return std::nullopt;
}

}  // namespace edgefn
