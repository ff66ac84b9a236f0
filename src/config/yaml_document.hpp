#pragma once
// function.yaml from bytes to a YAML node graph, bounded so that a hostile
// file costs neither minutes nor gigabytes: its size, how deep it nests,
// how many nodes it holds and how many more its aliases stand for are all
// capped before yaml-cpp builds anything. Every error is a ConfigError at
// file:line:col.
//
// yaml-cpp (Debian's, not ours to patch) builds an alias as the very node
// its anchor names, so nine nested lists of nine aliases are a few hundred
// bytes that a naive walk visits 9^9 times; and it recurses once per level
// of nesting. Hence the order: size, then a textual scan of the nesting
// (before yaml-cpp recurses at all), then a pass over yaml-cpp's parse
// events that counts nodes and alias expansions (before any node exists),
// then the node graph, walked once per node for duplicate keys.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "config/config_error.hpp"

namespace edgefn {

// Bytes. Nuclio keeps a function's configuration, spec.build.
// functionSourceCode (base64) included, in a Kubernetes object (etcd takes at
// most 1.5 MB per request) or, on its local platform, in at most 2 MB; twice
// that leaves room and costs about 30 MB and well under a second to load.
inline constexpr std::size_t kMaxConfigFileSize = std::size_t{4} << 20;
// Levels of mappings and lists inside each other. A function.yaml needs
// about eight; a cron event body written as YAML a few more. yaml-cpp
// itself gives up ("bad file") at 500.
inline constexpr int kMaxConfigNesting = 100;
// Nodes as written (scalars, lists, mappings; keys count). A large
// function.yaml has a few thousand; yaml-cpp takes about 500 bytes per node.
inline constexpr std::uint64_t kMaxConfigNodes = 50'000;
// Nodes that aliases add, each alias counting the nodes of what it repeats.
inline constexpr std::uint64_t kMaxAliasExpansion = 10'000;

// The contents of `file`, named `display` in errors. Throws ConfigError: it
// cannot be read, or it is larger than kMaxConfigFileSize.
std::string read_config_file(const std::filesystem::path& file, const std::string& display);

// Where `text` first nests deeper than `limit` levels of block or flow
// collections, or nullopt. A cheap scan of the text that over-counts rather
// than under-counts (a scalar after "- " counts as a level). Pure.
std::optional<SourceMark> find_excess_nesting(std::string_view text, const std::string& file, int limit);

// Parses the first document of `text`. Throws ConfigError at file:line:col
// for: invalid YAML (a tab in the indentation named as such), nesting past
// kMaxConfigNesting, more than kMaxConfigNodes nodes, aliases that add more
// than kMaxAliasExpansion nodes or that name a collection they are inside
// (a cycle), a key given twice in one mapping. What it returns can be
// walked naively: with aliases expanded it has at most kMaxConfigNodes +
// kMaxAliasExpansion nodes, and no cycle.
YAML::Node parse_config_document(const std::string& text, const std::string& file);

}  // namespace edgefn
