#include "util/json.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <catch2/catch.hpp>

using edgefn::append_json_string;
using edgefn::JsonWriter;

namespace {

std::string quoted(std::string_view text) {
  std::string out;
  append_json_string(out, text);
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

TEST_CASE("append_json_string writes other control characters as \\u00XX") {
  CHECK(quoted(std::string_view{"\x00\x01\x1f", 3}) == R"("\u0000\u0001\u001f")");
  CHECK(quoted("\x7f") == "\"\x7f\"");
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
