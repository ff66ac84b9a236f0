// What errors quote from a config file is printed escaped.
#include <catch2/catch.hpp>

#include <string>

#include "config/config_error.hpp"
#include "util/printable.hpp"

using namespace edgefn;

TEST_CASE("errors quote the file's bytes printably") {
  CHECK(printable("a\x01" "b\x1b[31m\n\t\r\x7f") == "a\\x01b\\x1b[31m\\n\\t\\r\\x7f");
  CHECK(printable("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  // Bytes that are not UTF-8: a lone continuation, an overlong form, a
  // surrogate, a truncated sequence.
  CHECK(printable("\x80 \xc0\xaf \xed\xa0\x80 \xe2\x82") == "\\x80 \\xc0\\xaf \\xed\\xa0\\x80 \\xe2\\x82");
  CHECK(printable(printable("a\x01\\x01")) == "a\\x01\\x01");
  CHECK(std::string(ConfigError(SourceMark{"f.yaml", 1, 2}, "got 'x\x07'").what()) == "f.yaml:1:2: got 'x\\x07'");
}
