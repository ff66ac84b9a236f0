#pragma once
// A handler's source file as its own function.yaml, as `nuctl deploy --path
// handler.py` takes it: Nuclio's inline configuration block in the source's
// comments, and what Nuclio's builder works out when spec.runtime or
// spec.handler is not given.
//
// The block, in the comment syntax of the source's language:
//
//   # @nuclio.configure
//   #
//   # function.yaml:
//   #   spec:
//   #     runtime: python
//
// It starts at a comment line reading `@nuclio.configure` (spaces around
// the words allowed) and runs over the comment lines that follow; the first
// line that is not a comment ends it. Its YAML is the comment text with the
// comment marker (and one space or tab after it) taken off. The YAML handed
// to the parser keeps every line where it was in the source and has each
// marker replaced by as many spaces, so yaml-cpp's marks, and hence every
// ConfigError, name the source file's own line and column.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config_node.hpp"

namespace edgefn {

// What edgefn knows of a handler source by its extension.
struct SourceLanguage {
  std::string_view extension;       // without the dot: "py"
  std::string_view runtime;         // the runtime Nuclio's builder picks: "python"
  std::string_view comment_prefix;  // "#", "//"; empty: a binary, no block is read
};

// The language of `file` by its extension (case-sensitive, as Nuclio's
// builder compares it), or nullopt: then `file` is read as function.yaml.
// Pure.
std::optional<SourceLanguage> source_language(const std::filesystem::path& file);

struct InlineBlock {
  // The YAML to parse: blank lines up to the block, then the block's lines
  // with their comment markers blanked; empty when no block was found.
  std::string yaml;
  int line = 0;  // 1-based line of `@nuclio.configure`; 0 when none
  // Other `@nuclio.<name>` blocks (Nuclio's createFiles and the like), and
  // configure blocks before the last one, which Nuclio also drops: name and
  // line, for a notice.
  std::vector<std::pair<std::string, int>> skipped;
};

// Finds the last `@nuclio.configure` block in `source`, comments marked by
// `comment_prefix`. Pure; never throws.
InlineBlock find_inline_block(std::string_view source, std::string_view comment_prefix);

// Reads `file` (a source file, see source_language()) and returns its
// inline block's `function.yaml` value, a mapping; or an empty mapping
// marked at 1:1 when the file has no block (a function with defaults).
// Other keys of the block, skipped blocks and a block without
// `function.yaml` are reported through `notices`. Blocking (reads the file).
// Throws ConfigError at the source's file:line:col (`display`): the file
// cannot be read or is too large (yaml_document.hpp's bounds), bad YAML in
// the block, a block or `function.yaml` value that is not a mapping.
YAML::Node read_inline_configuration(const std::filesystem::path& file, const std::string& display,
                                     std::vector<ConfigNotice>* notices);

// spec.handler as Nuclio's builder works it out from the function's source
// file for `runtime_kind`: "<file stem>:handler" for python, the file's
// name for shell; nullopt where there is no rule (native needs a symbol)
// or the stem is no Python module name (my-function.py).
// Pure.
std::optional<std::string> default_handler(std::string_view runtime_kind, const std::filesystem::path& source);

}  // namespace edgefn
