// function.yaml's bounds: size, nesting, nodes, aliases (bombs and cycles).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config_node.hpp"
#include "config/yaml_document.hpp"

using namespace edgefn;

namespace {

std::string repeat(std::string_view text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += text;
  return out;
}

std::string parse_error(const std::string& text) {
  try {
    parse_config_document(text, "f.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}

std::string deepest_mark(const std::string& text, int limit) {
  auto mark = find_excess_nesting(text, "f.yaml", limit);
  return mark ? mark->to_string() : "none";
}

// Nine levels of nine aliases: 453 bytes that stand for 9^9 lists.
std::string alias_bomb() {
  std::string text = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  // Appended piecewise: GCC 12's -Wrestrict false positive (bug 105329).
  for (char name = 'b'; name <= 'i'; ++name) {
    std::string previous = "*";
    previous += static_cast<char>(name - 1);
    text += name;
    text += ": &";
    text += name;
    text += " [";
    text += repeat(previous + ",", 8);
    text += previous;
    text += "]\n";
  }
  return text;
}

}  // namespace

TEST_CASE("the nesting scan counts block levels, compact entries and flow brackets") {
  CHECK(deepest_mark("a:\n  b:\n    c: 1\n", 3) == "none");
  CHECK(deepest_mark("a:\n  b:\n    c: 1\n", 2) == "f.yaml:3:5");
  CHECK(deepest_mark("- - - x\n", 3) == "f.yaml:1:7");  // the scalar counts too
  CHECK(deepest_mark("a: [[[1]]]\n", 3) == "f.yaml:1:6");
  CHECK(deepest_mark("a: [\n  [\n    [1]]]\n", 3) == "f.yaml:3:5");
  CHECK(deepest_mark("a: {b: {c: [1]}}\n", 3) == "f.yaml:1:12");
}

TEST_CASE("the nesting scan skips comments, quoted scalars, plain brackets and block scalars") {
  CHECK(deepest_mark("a: 1 # [[[[\n", 1) == "none");
  CHECK(deepest_mark("a: '[[[['\nb: \"{{{{\\\"[[\"\n", 1) == "none");
  CHECK(deepest_mark("a: x[0][1][2]\n", 1) == "none");
  CHECK(deepest_mark("a: 'it''s [[[['\n", 1) == "none");
  CHECK(deepest_mark("a: |\n  [[[[\n  - - - -\nb: 1\n", 1) == "none");
  CHECK(deepest_mark("- |\n  [[[[\n- >-\n  {{{{\n", 2) == "none");
  // A block scalar ends where the indentation comes back: what follows counts.
  CHECK(deepest_mark("- k: |\n    [[[[\n  o: [[1]]\n", 3) == "f.yaml:3:7");
  CHECK(deepest_mark("a: \"multi\n  line [[[[ \"\nb: 1\n", 1) == "none");
}

TEST_CASE("a document nested 100,000 deep is refused before yaml-cpp recurses, in any form") {
  const int n = 100'000;
  for (const std::string& text : {repeat("[", n) + repeat("]", n), repeat("{a: ", n) + "1" + repeat("}", n),
                                  repeat("- ", n) + "x\n", repeat("? ", n) + "x\n"}) {
    CHECK_THAT(parse_error(text), Catch::StartsWith("f.yaml:1:") && Catch::Contains("nesting too deep: more than 100"));
  }
  // The top-level mapping and 99 lists are 100 levels.
  const std::string fits = "a: " + repeat("[", 99) + repeat("]", 99) + "\n";
  CHECK_NOTHROW(parse_config_document(fits, "f.yaml"));
  CHECK_THAT(parse_error("a: " + repeat("[", 100) + repeat("]", 100) + "\n"),
             Catch::StartsWith("f.yaml:1:103: nesting too deep"));
}

TEST_CASE("an alias bomb is refused at the alias that passes the budget, after a linear parse") {
  // a: 10 nodes, b: 91, c: 820, d: 7381; aliases have added 8289 when e's
  // first *d adds 7381 more.
  CHECK(parse_error(alias_bomb()) ==
        "f.yaml:5:8: too many nodes through aliases: this alias repeats 7381, and aliases may add at most 10000 to "
        "a function.yaml");
  // Anchors used a few times are fine, in values and in keys.
  CHECK_NOTHROW(parse_config_document("base: &b {x: 1, y: [1, 2]}\none: *b\ntwo: *b\n*b : 3\n", "f.yaml"));
}

TEST_CASE("an alias inside the collection it names is refused as a cycle") {
  CHECK_THAT(parse_error("a: &a [1, *a]\n"), Catch::StartsWith("f.yaml:1:11: this alias names a list or mapping it is "
                                                               "inside (a cycle"));
  CHECK_THAT(parse_error("a: &m {b: {c: *m}}\n"), Catch::StartsWith("f.yaml:1:15: this alias names"));
}

TEST_CASE("a document of more nodes than the limit is refused at the first node past it") {
  const std::string text = "a: [" + repeat("0,", static_cast<int>(kMaxConfigNodes)) + "0]\n";
  CHECK_THAT(parse_error(text), Catch::StartsWith("f.yaml:1:") &&
                                    Catch::Contains("too many nodes: a function.yaml may hold at most 50000"));
}

TEST_CASE("a key given twice is found once however many aliases repeat its mapping") {
  CHECK(parse_error("a: &a {x: 1, x: 2}\nb: [*a, *a]\n") ==
        "f.yaml:1:14: a.x: duplicate key (first given on line 1)");
  CHECK(parse_error("spec:\n  handler: a\n  handler: b\n") ==
        "f.yaml:3:3: spec.handler: duplicate key (first given on line 2)");
}

TEST_CASE("a file is read up to the size limit, and refused past it naming the limit") {
  const auto file = std::filesystem::temp_directory_path() / ("edgefn-size-" + std::to_string(::getpid()) + ".yaml");
  std::string text(kMaxConfigFileSize, '#');
  std::ofstream(file, std::ios::binary) << text;
  CHECK(read_config_file(file, "f.yaml").size() == kMaxConfigFileSize);
  std::ofstream(file, std::ios::binary | std::ios::app) << '#';
  try {
    read_config_file(file, "f.yaml");
    FAIL("no ConfigError");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) ==
          "f.yaml:1:1: the file is 4194305 bytes; a function.yaml may be at most 4 MiB (4194304 bytes), "
          "spec.build.functionSourceCode included: keep large handlers in files beside it");
  }
  std::filesystem::remove(file);
}

TEST_CASE("a key far longer than any candidate gets no suggestion, and no comparison") {
  const std::string huge(1 << 20, 'k');
  CHECK_FALSE(nearest_key(huge, {"numWorkers", "kind"}).has_value());
  CHECK(nearest_key("numWorker", {"numWorkers", "kind"}) == "numWorkers");
}
