#include "config/inline_config.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "config/config_loader.hpp"

namespace fs = std::filesystem;
using edgefn::ConfigError;
using edgefn::ConfigNotice;
using edgefn::KindCatalog;

namespace {

struct TempDir {
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "edgefn-inline-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()));
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return path / name;
  }
  fs::path path;
};

KindCatalog catalog() {
  KindCatalog catalog;
  catalog.trigger_kinds = {"http", "cron"};
  catalog.runtimes = {"native", "python", "shell"};
  catalog.nuclio_only_runtimes = {"golang", "java", "nodejs", "dotnetcore", "ruby"};
  return catalog;
}

std::string load_error(const fs::path& file) {
  try {
    edgefn::load_function_config(file, catalog());
  } catch (const ConfigError& error) {
    return error.what();
  }
  FAIL("expected a ConfigError for " << file);
  return {};
}

bool has_notice(const std::vector<ConfigNotice>& notices, const std::string& part) {
  for (const auto& notice : notices) {
    if (notice.message.find(part) != std::string::npos) return true;
  }
  return false;
}

const char* const kPythonWithBlock = R"(import json

# @nuclio.configure
#
# function.yaml:
#   metadata:
#     name: greeter
#   spec:
#     env:
#     - name: GREETING
#       value: hello
#     triggers:
#       web:
#         kind: http
#         attributes:
#           port: 9000

def handler(context, event):
    return "hi"
)";

}  // namespace

TEST_CASE("source languages come from the extension, as Nuclio's builder maps them") {
  CHECK(edgefn::source_language("f/handler.py")->runtime == "python");
  CHECK(edgefn::source_language("handler.sh")->comment_prefix == "#");
  CHECK(edgefn::source_language("greet.c")->runtime == "native");
  CHECK(edgefn::source_language("greet.cpp")->comment_prefix == "//");
  CHECK(edgefn::source_language("libgreet.so")->comment_prefix.empty());
  CHECK(edgefn::source_language("main.go")->runtime == "golang");
  CHECK_FALSE(edgefn::source_language("function.yaml"));
  CHECK_FALSE(edgefn::source_language("function.yml"));
  CHECK_FALSE(edgefn::source_language("Makefile"));
  CHECK_FALSE(edgefn::source_language("handler."));
}

TEST_CASE("the inline block keeps its lines and columns where the source has them") {
  auto block = edgefn::find_inline_block(kPythonWithBlock, "#");
  CHECK(block.line == 3);
  CHECK(block.skipped.empty());
  // Two lines before the block, the marker line, then the body with "# "
  // blanked to two spaces; nothing after the first non-comment line.
  CHECK(block.yaml.rfind("\n\n\n \n  function.yaml:\n    metadata:\n", 0) == 0);
  CHECK(block.yaml.find("def handler") == std::string::npos);
  CHECK(block.yaml.find("            port: 9000\n") != std::string::npos);
}

TEST_CASE("inline blocks in // comments, indented, without a space, and at the end of the file") {
  SECTION("C comments, indented") {
    auto block = edgefn::find_inline_block("  // @nuclio.configure\n  //function.yaml:\n  //  spec: {}", "//");
    CHECK(block.line == 1);
    CHECK(block.yaml == "\n    function.yaml:\n      spec: {}\n");
  }
  SECTION("spaces inside the marker line, CRLF line ends") {
    auto block = edgefn::find_inline_block("#   @nuclio.configure  \r\n# function.yaml: {}\r\nx = 1\r\n", "#");
    CHECK(block.line == 1);
    CHECK(block.yaml == "\n  function.yaml: {}\n");
  }
  SECTION("no block") {
    auto block = edgefn::find_inline_block("# function.yaml:\n#   spec: {}\n", "#");
    CHECK(block.line == 0);
    CHECK(block.yaml.empty());
  }
  SECTION("other blocks are skipped; the last configure block is used") {
    auto block = edgefn::find_inline_block(
        "# @nuclio.createFiles\n# a: b\n\n# @nuclio.configure\n# first: 1\n\n# @nuclio.configure\n# second: 2\n", "#");
    CHECK(block.line == 7);
    REQUIRE(block.skipped.size() == 2);
    CHECK(block.skipped[0] == std::pair<std::string, int>{"createFiles", 1});
    CHECK(block.skipped[1] == std::pair<std::string, int>{"configure", 4});
    CHECK(block.yaml.find("first") == std::string::npos);
    CHECK(block.yaml.find("  second: 2") != std::string::npos);
  }
  SECTION("a binary has no comments to read") {
    CHECK(edgefn::find_inline_block("# @nuclio.configure\n# a: 1\n", "").line == 0);
  }
}

TEST_CASE("a Python source with an inline block is the function's config, the source its code") {
  TempDir dir;
  auto file = dir.write("greet.py", kPythonWithBlock);
  auto [config, notices] = edgefn::load_function_config(file, catalog());
  CHECK(config.name == "greeter");
  CHECK(config.runtime == "python");
  CHECK(config.handler == "greet:handler");
  CHECK(config.file == fs::weakly_canonical(file));
  CHECK(config.build_path == config.file);
  CHECK(config.handler_directory() == fs::weakly_canonical(dir.path));
  REQUIRE(config.env.size() == 1);
  CHECK(config.env[0].second == "hello");
  REQUIRE(config.triggers.size() == 1);
  CHECK(config.triggers[0].name == "web");
  CHECK(config.triggers[0].mark.line == 13);
  CHECK(has_notice(notices, "spec.runtime: not given; 'python' from the extension of greet.py"));
  CHECK(has_notice(notices, "spec.handler: not given; 'greet:handler' from greet.py"));
}

TEST_CASE("a bare source is a function with defaults") {
  TempDir dir;
  SECTION("python") {
    auto [config, notices] =
        edgefn::load_function_config(dir.write("main.py", "def handler(context, event):\n    return 1\n"), catalog());
    CHECK(config.runtime == "python");
    CHECK(config.handler == "main:handler");
    REQUIRE(config.triggers.size() == 1);
    CHECK(config.triggers[0].name == "default-http");
    CHECK(has_notice(notices, "main.py:1:1: spec.runtime: not given"));
  }
  SECTION("shell: the handler is the script") {
    auto [config, notices] = edgefn::load_function_config(dir.write("reply.sh", "echo hi\n"), catalog());
    CHECK(config.runtime == "shell");
    CHECK(config.handler == "reply.sh");
  }
}

TEST_CASE("the inline block's own runtime and handler win over the inferred ones") {
  TempDir dir;
  auto file = dir.write("tool.py",
                        "# @nuclio.configure\n# function.yaml:\n#   spec:\n#     runtime: python:3.11\n"
                        "#     handler: tool:main\n");
  auto [config, notices] = edgefn::load_function_config(file, catalog());
  CHECK(config.runtime == "python:3.11");
  CHECK(config.handler == "tool:main");
  CHECK(config.handler_mark.line == 5);
  CHECK(config.handler_mark.column == 16);
  CHECK_FALSE(has_notice(notices, "not given"));
}

TEST_CASE("errors in an inline block name the source's line and column") {
  TempDir dir;
  SECTION("a bad value") {
    auto file = dir.write("h.py",
                          "import os\n\n# @nuclio.configure\n#\n# function.yaml:\n#   spec:\n#     triggers:\n"
                          "#       web:\n#         kind: htp\n\ndef handler(c, e): pass\n");
    CHECK_THAT(load_error(file), Catch::StartsWith(file.string() + ":9:17: spec.triggers.web.kind: unknown trigger "
                                                                   "kind 'htp'"));
  }
  SECTION("bad YAML") {
    auto file = dir.write("h.py", "# @nuclio.configure\n# function.yaml:\n#   spec: [a\n");
    CHECK_THAT(load_error(file), Catch::StartsWith(file.string() + ":"));
    CHECK_THAT(load_error(file), Catch::Contains(":3:") || Catch::Contains(":4:"));
  }
  SECTION("a tab in the block's indentation") {
    auto file = dir.write("h.py", "# @nuclio.configure\n# function.yaml:\n#  \tspec: {}\n");
    CHECK_THAT(load_error(file), Catch::StartsWith(file.string() + ":3:"));
  }
  SECTION("function.yaml that is not a mapping") {
    auto file = dir.write("h.sh", "#!/bin/sh\n# @nuclio.configure\n# function.yaml: python\necho\n");
    CHECK_THAT(load_error(file), Catch::StartsWith(file.string() + ":3:18: function.yaml: expected the function's"));
  }
}

TEST_CASE("a missing runtime or handler that cannot be worked out stays an error") {
  TempDir dir;
  SECTION("a native source needs its handler") {
    auto file = dir.write("greet.c", "// @nuclio.configure\n// function.yaml:\n//   metadata: {name: g}\n");
    CHECK_THAT(load_error(file), Catch::Contains("greet.c:3:6: spec.handler: missing, and none follows from greet.c"));
  }
  SECTION("a Python file name that is no module name") {
    auto file = dir.write("my-function.py", "def handler(context, event): pass\n");
    CHECK_THAT(load_error(file), Catch::EndsWith("spec.handler: missing, and none follows from my-function.py; "
                                                 "expected the handler, e.g. 'main:handler'"));
  }
  SECTION("a Go source names a runtime edgefn lacks") {
    auto file = dir.write("main.go", "package main\n");
    CHECK_THAT(load_error(file), Catch::Contains("spec.runtime: missing, and 'golang' (from the extension of main.go) "
                                                 "exists in Nuclio but is not supported by edgefn yet"));
  }
  SECTION("a function.yaml without spec.build.path") {
    auto file = dir.write("function.yaml", "spec:\n  handler: main:handler\n");
    CHECK_THAT(load_error(file), Catch::Contains(":1:1: spec.runtime: missing; expected one of"));
  }
  SECTION("functionSourceCode: Nuclio wants the runtime stated") {
    auto file = dir.write("function.yaml", "spec:\n  build:\n    functionSourceCode: ZWNobyBoaQ==\n");
    CHECK_THAT(load_error(file), Catch::Contains("spec.runtime: missing"));
  }
}

TEST_CASE("a function.yaml whose spec.build.path names a file gets its runtime and handler from it") {
  TempDir dir;
  dir.write("echo.sh", "cat\n");
  auto [config, notices] =
      edgefn::load_function_config(dir.write("function.yaml", "spec:\n  build:\n    path: echo.sh\n"), catalog());
  CHECK(config.runtime == "shell");
  CHECK(config.handler == "echo.sh");
  CHECK(has_notice(notices, "function.yaml:1:1: spec.runtime: not given; 'shell' from the extension of echo.sh"));
}
