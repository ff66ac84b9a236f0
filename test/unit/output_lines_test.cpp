#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "process/output_lines.hpp"

TEST_CASE("output is cut into lines across reads, without CR, with long lines split") {
  edgefn::OutputLines lines;
  std::vector<std::string> got;
  auto emit = [&](std::string_view line) { got.emplace_back(line); };
  lines.feed("first\r\nsec", emit);
  lines.feed("ond\n\nlast", emit);
  CHECK(got == std::vector<std::string>{"first", "second", ""});
  lines.finish(emit);
  CHECK(got.back() == "last");
  lines.finish(emit);
  CHECK(got.size() == 4);

  got.clear();
  lines.feed(std::string(edgefn::OutputLines::kMaxLine + 3, 'x'), emit);
  lines.finish(emit);
  REQUIRE(got.size() == 2);
  CHECK(got[0].size() == edgefn::OutputLines::kMaxLine);
  CHECK(got[1] == "xxx");
}
