#include <limits>
#include <set>

#include <catch2/catch.hpp>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "trigger/http/http_limits.hpp"
#include "trigger/http/http_wire.hpp"

using namespace edgefn;
using namespace edgefn::http_trigger;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

namespace {

http::request_header<> header_of(std::string raw) {
  http::request_parser<http::string_body> parser;
  parser.eager(false);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(raw), ec);
  INFO(ec.message());
  REQUIRE((!ec || ec == http::error::need_more));
  REQUIRE(parser.is_header_done());
  return parser.get().base();
}

}  // namespace

TEST_CASE("every refusal has its own metric label") {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < kRefusals; ++i) {
    auto name = refusal_name(static_cast<Refusal>(i));
    CHECK(name != "unknown");
    names.insert(name);
  }
  CHECK(names.size() == kRefusals);
  CHECK(refusal_name(Refusal::kResponseHeaderTooLarge) == "response_header_too_large");
}

TEST_CASE("a body read times out at the first of pause, rate allowance and deadline") {
  BodyClock clock;
  clock.start = BodyClock::Clock::time_point{} + 1000s;
  clock.last_progress = clock.start + 50s;
  clock.received = 10'000;
  // The pause alone: 60 s after the last bytes.
  CHECK(clock.expiry(60s, 0, 0ms) == clock.last_progress + 60s);
  // 10,000 bytes at 1,000 B/s earned 10 s on top of the first 60 s.
  CHECK(clock.expiry(60s, 1000, 0ms) == clock.start + 70s);
  // A deadline earlier than both.
  CHECK(clock.expiry(60s, 1000, 30s) == clock.start + 30s);
  // A fast body is bounded by its pause, not by the rate.
  clock.received = 1'000'000'000;
  CHECK(clock.expiry(60s, 1000, 0ms) == clock.last_progress + 60s);
}

TEST_CASE("the rate allowance counts fractions of a second and cannot overflow") {
  BodyClock clock;
  clock.start = BodyClock::Clock::time_point{} + 1000s;
  clock.last_progress = clock.start + 100s;
  clock.received = 1500;
  CHECK(clock.expiry(100s, 1000, 0ms) == clock.start + 101500ms);
  clock.last_progress = clock.start;
  clock.received = std::numeric_limits<std::uint64_t>::max();
  CHECK(clock.expiry(1h, 1, 0ms) == clock.last_progress + 1h);
}

TEST_CASE("an overflowing buffer holds a chunk line or the last chunk's trailer") {
  CHECK(classify_overflow("3;" + std::string(100, 'x')) == Overflow::kChunkLine);
  CHECK(classify_overflow("\r\n3;" + std::string(100, 'x')) == Overflow::kChunkLine);
  CHECK(classify_overflow("0\r\nX-Trailer: " + std::string(100, 'x')) == Overflow::kTrailer);
  CHECK(classify_overflow("\r\n0;ext\r\nX-Trailer: " + std::string(100, 'x')) == Overflow::kTrailer);
}

TEST_CASE("chunk extensions are counted across chunks") {
  ChunkExtensionLimit limit{10};
  boost::system::error_code ec;
  limit(3, ";a=1", ec);
  limit(3, ";b=2", ec);
  CHECK_FALSE(ec);
  CHECK_FALSE(limit.exceeded);
  limit(3, ";c=3", ec);
  CHECK(ec == http::error::bad_chunk_extension);
  CHECK(limit.exceeded);
}

TEST_CASE("HTTP/1.1 needs exactly one Host, HTTP/1.0 at most one") {
  CHECK(http_wire::check_host(header_of("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).status == 0);
  CHECK(http_wire::check_host(header_of("GET / HTTP/1.1\r\n\r\n")).status == 400);
  CHECK(http_wire::check_host(header_of("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n")).status == 400);
  CHECK(http_wire::check_host(header_of("GET / HTTP/1.0\r\n\r\n")).status == 0);
  CHECK(http_wire::check_host(header_of("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n")).status == 400);
}

TEST_CASE("header bytes count the request line and every field") {
  // "GET /x HTTP/1.1\r\n" is 17 bytes, "Host: a\r\n" 9.
  CHECK(http_wire::header_bytes(header_of("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")) == 26);
}
