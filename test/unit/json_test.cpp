#include "util/json.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

using edgefn::append_json_compact;
using edgefn::append_json_string;
using edgefn::json_array_elements;
using edgefn::json_is_valid;
using edgefn::json_object_members;
using edgefn::json_string_equals;
using edgefn::JsonMember;
using edgefn::JsonWriter;

namespace {

std::string quoted(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

std::string nested(std::size_t depth, std::string_view open, std::string_view inner, std::string_view close) {
  std::string out;
  for (std::size_t i = 0; i < depth; ++i) out += open;
  out += inner;
  for (std::size_t i = 0; i < depth; ++i) out += close;
  return out;
}

std::string compact(std::string_view json) {
  std::string out;
  append_json_compact(out, json);
  return out;
}

}  // namespace

TEST_CASE("append_json_string quotes and escapes the JSON specials") {
  CHECK(quoted("") == R"("")");
  CHECK(quoted("plain text") == R"("plain text")");
  CHECK(quoted("say \"hi\"") == R"("say \"hi\"")");
  CHECK(quoted("C:\\dir") == R"("C:\\dir")");
  CHECK(quoted("a\nb\rc\td\be\ff") == R"("a\nb\rc\td\be\ff")");
  CHECK(quoted("/") == R"("/")");
}

TEST_CASE("append_json_string writes other control characters and DEL as \\u00XX") {
  CHECK(quoted(std::string_view{"\x00\x01\x1f", 3}) == R"("\u0000\u0001\u001f")");
  CHECK(quoted("\x7f") == R"("\u007f")");
}

TEST_CASE("append_json_string passes well-formed UTF-8 through") {
  CHECK(quoted("caf\xC3\xA9") == "\"caf\xC3\xA9\"");            // 2 bytes
  CHECK(quoted("\xE2\x82\xAC") == "\"\xE2\x82\xAC\"");          // 3 bytes: euro sign
  CHECK(quoted("\xF0\x9F\x98\x80") == "\"\xF0\x9F\x98\x80\"");  // 4 bytes: emoji
  CHECK(quoted("\xF4\x8F\xBF\xBF") == "\"\xF4\x8F\xBF\xBF\"");  // U+10FFFF
}

TEST_CASE("append_json_string escapes each byte of malformed UTF-8") {
  CHECK(quoted("\xFF") == R"("\u00ff")");
  CHECK(quoted("a\x80z") == R"("a\u0080z")");                            // stray continuation
  CHECK(quoted("\xC3") == R"("\u00c3")");                                // truncated at the end
  CHECK(quoted("\xC3(") == R"("\u00c3(")");                              // bad continuation
  CHECK(quoted("\xC0\xAF") == R"("\u00c0\u00af")");                      // overlong '/'
  CHECK(quoted("\xE0\x80\xAF") == R"("\u00e0\u0080\u00af")");            // overlong 3-byte
  CHECK(quoted("\xED\xA0\x80") == R"("\u00ed\u00a0\u0080")");            // UTF-16 surrogate
  CHECK(quoted("\xF4\x90\x80\x80") == R"("\u00f4\u0090\u0080\u0080")");  // past U+10FFFF
  CHECK(quoted("\xE2\x82") == R"("\u00e2\u0082")");                      // truncated 3-byte
}

TEST_CASE("append_json_string appends to what is already there") {
  std::string out = "x=";
  append_json_string(out, "y");
  CHECK(out == R"(x="y")");
}

TEST_CASE("JsonWriter separates members and elements with commas") {
  JsonWriter w;
  w.begin_object();
  w.key("name").value("fn");
  w.key("workers").value(4);
  w.key("tags").begin_array().value("a").value("b").begin_object().end_object().end_array();
  w.key("nested").begin_object().key("ok").value(true).key("none").null().end_object();
  w.key("empty").begin_array().end_array();
  w.key("raw").raw(R"({"x":1})");
  w.end_object();
  CHECK(w.str() ==
        R"({"name":"fn","workers":4,"tags":["a","b",{}],"nested":{"ok":true,"none":null},"empty":[],"raw":{"x":1}})");
}

TEST_CASE("JsonWriter writes integers of every width exactly") {
  JsonWriter w;
  w.begin_array();
  w.value(std::numeric_limits<std::int64_t>::min());
  w.value(std::numeric_limits<std::uint64_t>::max());
  w.value(static_cast<unsigned>(7));
  w.value(static_cast<short>(-3));
  w.value(static_cast<std::size_t>(42));
  w.value(false);
  w.end_array();
  CHECK(w.str() == "[-9223372036854775808,18446744073709551615,7,-3,42,false]");
}

TEST_CASE("JsonWriter prints doubles so they read back exactly, non-finite as null") {
  JsonWriter w;
  w.begin_array();
  w.value(0.1);
  w.value(1.0);
  w.value(-2.5);
  w.value(1e300);
  w.value(123456789.123456789);
  w.value(std::nan(""));
  w.value(std::numeric_limits<double>::infinity());
  w.value(-std::numeric_limits<double>::infinity());
  w.end_array();
  CHECK(w.str() == "[0.1,1,-2.5,1e+300,123456789.12345679,null,null,null]");
  CHECK(std::stod("123456789.12345679") == 123456789.123456789);
}

TEST_CASE("JsonWriter escapes keys and string values") {
  JsonWriter w;
  w.begin_object().key("a\"b").value("line\nbreak").end_object();
  CHECK(w.str() == R"({"a\"b":"line\nbreak"})");
}

TEST_CASE("JsonWriter::take hands over the text") {
  JsonWriter w;
  w.begin_array().value(1).end_array();
  const std::string text = w.take();
  CHECK(text == "[1]");
}

TEST_CASE("json_is_valid accepts every kind of RFC 8259 value") {
  // Packed by hand: the formatter would put each string on a line of its own.
  // clang-format off
  for (const char* text : {
           "{}", "[]", "0", "-0", "1", "-12", "1.5", "-0.25", "1e3", "1E+3", "2.5e-10", "0e0",
           "123456789012345678901234567890", "true", "false", "null", R"("")", R"("text")",
           R"("\" \\ \/ \b \f \n \r \t")", R"("\u0000\u001f\u00e9\uFFFF")", R"("\ud83d\ude00")",
           "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"", "\"\x7f\"",
           R"({"a":1,"b":[true,false,null],"c":{"d":"e"},"":0})", R"([1,"two",{},[],null])",
           " \t\r\n{ \"a\" : [ 1 , 2 ] }\n ", R"({"a":1,"a":2})"}) {
    // clang-format on
    INFO(text);
    CHECK(json_is_valid(text));
  }
}

TEST_CASE("json_is_valid rejects what the grammar does not allow") {
  // clang-format off
  for (const char* text : {
           "", " ", "{", "}", "[", "]", "{]", "[}", "[1,]", "[,1]", "[1 2]", "{,}", R"({"a":1,})",
           R"({"a" 1})", R"({"a":})", R"({a:1})", R"({1:1})", R"({'a':1})", "{\"a\":1", "[1",
           "01", "-01", "00", "-", "+1", "1.", ".5", "1e", "1e+", "0x10", "1.5.2", "--1",
           "NaN", "Infinity", "-Infinity", "tru", "True", "nul", "nulll", "undefined",
           R"("abc)", R"("\x41")", R"("\a")", R"("\u12")", R"("\u12G4")", R"("\)", "\"tab\there\"",
           "\"line\nbreak\"", R"('single')"}) {
    // clang-format on
    INFO(text);
    CHECK_FALSE(json_is_valid(text));
  }
  CHECK_FALSE(json_is_valid(std::string_view{"\"a\0b\"", 5}));  // raw NUL in a string
  CHECK_FALSE(json_is_valid(std::string_view{"[1]\0", 4}));
}

TEST_CASE("json_is_valid rejects trailing garbage after a complete value") {
  for (const char* text : {"{}}", "[]]", "{} {}", "1 2", "true false", R"("a" "b")", "null,", "{}x", R"({"a":1}])",
                           "[1]//comment", "0 0"}) {
    INFO(text);
    CHECK_FALSE(json_is_valid(text));
  }
}

TEST_CASE("json_is_valid rejects lone UTF-16 surrogate escapes") {
  CHECK(json_is_valid(R"("\uD83D\uDE00")"));
  CHECK_FALSE(json_is_valid(R"("\ud83d")"));        // high surrogate at the end
  CHECK_FALSE(json_is_valid(R"("\ud83dx")"));       // high surrogate, then a letter
  CHECK_FALSE(json_is_valid(R"("\ud83d\u0041")"));  // high surrogate, then no low one
  CHECK_FALSE(json_is_valid(R"("\ude00")"));        // low surrogate alone
  CHECK_FALSE(json_is_valid(R"("\ude00\ud83d")"));  // the pair reversed
}

TEST_CASE("json_is_valid rejects invalid UTF-8 in strings") {
  for (const char* text : {"\"\xFF\"", "\"a\x80z\"", "\"\xC3\"", "\"\xC3(\"", "\"\xC0\xAF\"", "\"\xE0\x80\xAF\"",
                           "\"\xED\xA0\x80\"", "\"\xF4\x90\x80\x80\"", "\"\xE2\x82\"", "\"\xF8\x88\x80\x80\x80\""}) {
    INFO(text);
    CHECK_FALSE(json_is_valid(text));
  }
  CHECK_FALSE(json_is_valid("\xEF\xBB\xBF{}"));  // RFC 8259 8.1: no byte order mark
}

TEST_CASE("json_is_valid bounds nesting without recursing") {
  CHECK(json_is_valid(nested(64, "[", "", "]")));
  CHECK_FALSE(json_is_valid(nested(65, "[", "", "]")));
  CHECK(json_is_valid(nested(63, R"({"a":)", "[]", "}")));
  CHECK_FALSE(json_is_valid(nested(64, R"({"a":)", "[]", "}")));
  CHECK(json_is_valid("[[1]]", 2));
  CHECK_FALSE(json_is_valid("[[1]]", 1));
  CHECK(json_is_valid("1", 0));
  CHECK_FALSE(json_is_valid("[]", 0));
  // Deeper than any limit: rejected in one pass, no stack to overflow.
  CHECK_FALSE(json_is_valid(nested(1'000'000, "[", "", "]"), 1'000'000));
  CHECK_FALSE(json_is_valid(nested(1'000'000, R"({"":)", "1", "}"), 1'000'000));
  CHECK_FALSE(json_is_valid(std::string(1'000'000, '[')));
  CHECK(json_is_valid(nested(1024, "[", "", "]"), 5000));  // limits above 1024 become 1024
  CHECK_FALSE(json_is_valid(nested(1025, "[", "", "]"), 5000));
  // Siblings do not add up: depth is nesting, not count.
  std::string wide = "[";
  for (int i = 0; i < 1000; ++i) wide += i ? ",[[1]]" : "[[1]]";
  CHECK(json_is_valid(wide + "]", 3));
}

TEST_CASE("json_object_members lists each member as written") {
  std::vector<JsonMember> m;
  REQUIRE(json_object_members(R"( { "n" : 1 , "s":"x\"y", "o":{"a":[1, 2]}, "n":null } )", m));
  REQUIRE(m.size() == 4);
  CHECK(m[0].key == R"("n")");
  CHECK(m[0].value == "1");
  CHECK(m[1].key == R"("s")");
  CHECK(m[1].value == R"("x\"y")");
  CHECK(m[2].value == R"({"a":[1, 2]})");
  CHECK(m[3].key == R"("n")");  // duplicates are kept, in order
  CHECK(m[3].value == "null");
  REQUIRE(json_object_members("{}", m));
  CHECK(m.empty());
}

TEST_CASE("json_object_members rejects what is not one valid object") {
  std::vector<JsonMember> m;
  for (const char* text : {"", "[]", "1", R"("{}")", "{", R"({"a":1}x)", R"({"a":1}{})", R"({"a":[}})", R"({"a":01})",
                           R"({"a":1,})", "{\"a\":\"\xFF\"}", "null"}) {
    INFO(text);
    CHECK_FALSE(json_object_members(text, m));
  }
  // The object itself is depth 1.
  CHECK(json_object_members(R"({"a":[1]})", m, 2));
  CHECK_FALSE(json_object_members(R"({"a":[1]})", m, 1));
  CHECK_FALSE(json_object_members("{}", m, 0));
  CHECK_FALSE(json_object_members(R"({"a":)" + nested(100'000, "[", "", "]") + "}", m));
}

TEST_CASE("json_array_elements lists each element as written") {
  std::vector<std::string_view> e;
  REQUIRE(json_array_elements(R"([ 1, "two" ,{"3":[4]},[] ])", e));
  REQUIRE(e.size() == 4);
  CHECK(e[0] == "1");
  CHECK(e[1] == R"("two")");
  CHECK(e[2] == R"({"3":[4]})");
  CHECK(e[3] == "[]");
  REQUIRE(json_array_elements("[]", e));
  CHECK(e.empty());
  CHECK_FALSE(json_array_elements("[1,]", e));
  CHECK_FALSE(json_array_elements("[1]]", e));
  CHECK_FALSE(json_array_elements("{}", e));
}

TEST_CASE("json_string_equals compares the decoded text") {
  CHECK(json_string_equals(R"("level")", "level"));
  CHECK(json_string_equals(R"("\u006cevel")", "level"));
  CHECK(json_string_equals(R"("\u006C\u0065vel")", "level"));
  CHECK(json_string_equals(R"("a\"b\\c\/d\n")", "a\"b\\c/d\n"));
  CHECK(json_string_equals(R"("caf\u00e9")", "caf\xC3\xA9"));
  CHECK(json_string_equals(R"("\u20ac")", "\xE2\x82\xAC"));
  CHECK(json_string_equals(R"("\ud83d\ude00")", "\xF0\x9F\x98\x80"));
  CHECK(json_string_equals(R"("")", ""));
  CHECK_FALSE(json_string_equals(R"("level")", "leve"));
  CHECK_FALSE(json_string_equals(R"("leve")", "level"));
  CHECK_FALSE(json_string_equals(R"("levels")", "level"));
  CHECK_FALSE(json_string_equals(R"("\u0000level")", "level"));
  CHECK_FALSE(json_string_equals(R"("Level")", "level"));
}

TEST_CASE("append_json_compact drops whitespace between tokens and keeps it in strings") {
  CHECK(compact(" {\n\t\"a b\" : [ 1 ,\r\n 2 ] , \"c\" : \" x \\\" y \" } ") == R"({"a b":[1,2],"c":" x \" y "})");
  CHECK(compact(R"("\\" )") == R"("\\")");
  CHECK(compact("\"del\x7f\"") == R"("del\u007f")");
  CHECK(compact(R"("\u0041\n")") == R"("\u0041\n")");
  const std::string out = compact(" [ \"\\\\\" , \"\\\" ]\" ] ");
  CHECK(out == R"(["\\","\" ]"])");
  CHECK(json_is_valid(out));
}
