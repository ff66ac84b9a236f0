// Boost's assertions where NDEBUG is not defined (the Debug builds: the
// asan and tsan presets, the fuzz targets), through
// BOOST_ENABLE_ASSERT_DEBUG_HANDLER: as assert() reports and aborts, but for
// the one assertion that Boost 1.74 gets wrong, which is let through as the
// Release build lets it through.
//
// Beast 1.74's request parser asserts that when it comes back to a chunked
// body after the last chunk ("0\r\n"), at least 5 bytes are buffered. A
// client sending the final CRLF a byte at a time gives it 4, which the code
// after the assertion handles (it asks for more). Any client could abort a
// Debug daemon that way. Found by the http fuzz target; fixed upstream in
// 2024 (boostorg/beast#2861); Debian 12 ships 1.74.
#include <boost/assert.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

bool known_false(const char* expr, const char* file) {
  return std::strcmp(expr, "n >= 5") == 0 && std::strstr(file, "boost/beast/http/impl/basic_parser.ipp") != nullptr;
}

}  // namespace

namespace boost {

void assertion_failed(char const* expr, char const* function, char const* file, long line) {
  if (known_false(expr, file)) return;
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed.\n", file, line, function, expr);
  std::abort();
}

void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file, long line) {
  if (known_false(expr, file)) return;
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed: %s\n", file, line, function, expr, msg);
  std::abort();
}

}  // namespace boost
