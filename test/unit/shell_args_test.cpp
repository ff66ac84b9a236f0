#include "runtime/shell/shell_args.hpp"

#include <catch2/catch.hpp>

using namespace edgefn;
using Words = std::vector<std::string>;

namespace {

Words split(std::string_view text) {
  auto r = split_arguments(text);
  INFO(text);
  REQUIRE(r.has_value());
  return r.value();
}

std::string error_of(std::string_view text) {
  auto r = split_arguments(text);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

}  // namespace

TEST_CASE("arguments split on runs of whitespace") {
  CHECK(split("") == Words{});
  CHECK(split(" \t\n ") == Words{});
  CHECK(split("a-z A-Z") == Words{"a-z", "A-Z"});
  CHECK(split("  one \t two\nthree  ") == Words{"one", "two", "three"});
}

TEST_CASE("single quotes keep everything literally") {
  CHECK(split("'a b' c") == Words{"a b", "c"});
  CHECK(split(R"('\n "x" $HOME')") == Words{R"(\n "x" $HOME)"});
  CHECK(split("pre'mid dle'post") == Words{"premid dlepost"});
}

TEST_CASE("double quotes honour only backslash before \" \\ $ ` and newline") {
  CHECK(split(R"("a b" c)") == Words{"a b", "c"});
  CHECK(split(R"("say \"hi\"")") == Words{R"(say "hi")"});
  CHECK(split(R"("back\\slash")") == Words{R"(back\slash)"});
  CHECK(split(R"("\$5 and \`x\`")") == Words{"$5 and `x`"});
  CHECK(split(R"("\n\t stay")") == Words{R"(\n\t stay)"});
  CHECK(split("\"joined\\\nline\"") == Words{"joinedline"});
  CHECK(split(R"("it's")") == Words{"it's"});
}

TEST_CASE("a backslash outside quotes escapes the next character") {
  CHECK(split(R"(a\ b c)") == Words{"a b", "c"});
  CHECK(split(R"(\'quoted\')") == Words{"'quoted'"});
  CHECK(split(R"(\\)") == Words{R"(\)"});
  CHECK(split("one\\\ntwo") == Words{"onetwo"});
}

TEST_CASE("empty quotes make an empty argument") {
  CHECK(split("''") == Words{""});
  CHECK(split(R"(a "" b)") == Words{"a", "", "b"});
}

TEST_CASE("shell syntax is not interpreted") {
  CHECK(split("one '; touch /tmp/x'") == Words{"one", "; touch /tmp/x"});
  CHECK(split("a;b | c && $(id) `id` *.txt ~ > out") ==
        Words{"a;b", "|", "c", "&&", "$(id)", "`id`", "*.txt", "~", ">", "out"});
  CHECK(split("$HOME") == Words{"$HOME"});
}

TEST_CASE("unbalanced quotes and a trailing backslash are errors naming the offset") {
  CHECK(error_of("ok 'open") == "unterminated single quote at offset 3");
  CHECK(error_of(R"(x "open \")") == "unterminated double quote at offset 2");
  CHECK(error_of(R"(end\)") == "trailing backslash at offset 3");
}
