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
  CHECK(got[0] == std::string(edgefn::OutputLines::kPiece, 'x') + std::string(edgefn::OutputLines::kCutMarker));
  CHECK(got[0].size() == edgefn::OutputLines::kMaxLine);
  CHECK(got[1] == std::string(edgefn::OutputLines::kMaxLine + 3 - edgefn::OutputLines::kPiece, 'x'));
}

TEST_CASE("a line of exactly the bound is whole; longer ones are cut into marked pieces across reads") {
  using edgefn::OutputLines;
  OutputLines lines;
  std::vector<std::string> got;
  auto emit = [&](std::string_view line) { got.emplace_back(line); };
  lines.feed(std::string(OutputLines::kMaxLine - 1, 'a'), emit);
  lines.feed("a", emit);
  CHECK(got.empty());
  lines.feed("\n", emit);
  REQUIRE(got.size() == 1);
  CHECK(got[0] == std::string(OutputLines::kMaxLine, 'a'));

  // 2.5 bounds without a newline, fed in odd chunks.
  got.clear();
  const std::string big(OutputLines::kMaxLine * 5 / 2, 'b');
  for (std::size_t at = 0; at < big.size(); at += 1000) lines.feed(std::string_view(big).substr(at, 1000), emit);
  lines.feed("\nnext\n", emit);
  REQUIRE(got.size() == 4);
  const std::string marked = std::string(OutputLines::kPiece, 'b') + std::string(OutputLines::kCutMarker);
  CHECK(got[0] == marked);
  CHECK(got[1] == marked);
  CHECK(got[2] == std::string(big.size() - 2 * OutputLines::kPiece, 'b'));
  CHECK(got[3] == "next");
}

TEST_CASE("a cut never splits a UTF-8 character") {
  using edgefn::OutputLines;
  OutputLines lines;
  std::vector<std::string> got;
  auto emit = [&](std::string_view line) { got.emplace_back(line); };
  // "é" is two bytes: the cut falls between them.
  std::string text(OutputLines::kPiece - 1, 'c');
  text += "\xc3\xa9";
  text += std::string(OutputLines::kMaxLine, 't');
  lines.feed(text, emit);
  lines.finish(emit);
  REQUIRE(got.size() == 3);
  CHECK(got[0] == std::string(OutputLines::kPiece - 1, 'c') + std::string(OutputLines::kCutMarker));
  CHECK(got[1] == "\xc3\xa9" + std::string(OutputLines::kPiece - 2, 't') + std::string(OutputLines::kCutMarker));
  CHECK(got[2] == std::string(OutputLines::kMaxLine - OutputLines::kPiece + 2, 't'));

  CHECK(edgefn::incomplete_utf8_tail("ab") == 0);
  CHECK(edgefn::incomplete_utf8_tail("a\xc3") == 1);
  CHECK(edgefn::incomplete_utf8_tail("a\xc3\xa9") == 0);
  CHECK(edgefn::incomplete_utf8_tail("\xe2\x82") == 2);
  CHECK(edgefn::incomplete_utf8_tail("\xf0\x9f\x98") == 3);
  CHECK(edgefn::incomplete_utf8_tail("\xf0\x9f\x98\x80") == 0);
}

TEST_CASE("a record over the bound is cut once, saying how much was left out") {
  using edgefn::OutputLines;
  CHECK(edgefn::bounded_line("short") == "short");
  const std::string exact(OutputLines::kMaxLine, 'd');
  CHECK(edgefn::bounded_line(exact) == exact);
  const auto cut = edgefn::bounded_line(exact + "dd");
  CHECK(cut == std::string(OutputLines::kMaxLine - 64, 'd') + " [cut: 66 more bytes]");
  CHECK(cut.size() <= OutputLines::kMaxLine);
  std::string split(OutputLines::kMaxLine - 65, 'e');
  split += "\xc3\xa9";
  split += std::string(100, 'f');
  CHECK(edgefn::bounded_line(split) == std::string(OutputLines::kMaxLine - 65, 'e') + " [cut: 102 more bytes]");
}
