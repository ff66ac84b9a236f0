#pragma once
// The HTTP trigger's limits as pure logic, apart from sockets so that unit
// tests reach them: why a request is refused (the `reason` label of
// edgefn_http_rejected_total), when a body read times out, what a read
// buffer that filled up was holding, how large chunk extensions are.
#include <chrono>
#include <cstdint>
#include <string_view>

#include <boost/system/error_code.hpp>

namespace edgefn::http_trigger {

// What a refusal answers is in the comment; "closed" answers nothing.
enum class Refusal : std::uint8_t {
  kMalformed,               // 400: not HTTP/1.x as Beast parses it
  kFraming,                 // 400 or 501: Content-Length, Transfer-Encoding or chunks that could desynchronise
  kHost,                    // 400: HTTP/1.1 without Host, or Host twice (RFC 9112 §3.2)
  kHeaderTooLarge,          // 431: maxHeaderSize
  kChunkExtension,          // 400: chunk extensions beyond maxHeaderSize
  kTrailerTooLarge,         // 431: header and trailer beyond maxHeaderSize
  kBodyTooLarge,            // 413: maxRequestBodySize
  kBodyBudget,              // 503: maxTotalRequestBodySize
  kBodyTimeout,             // 408: readBodyTimeout, readBodyMinRate or readBodyDeadline
  kHeaderTimeout,           // closed: readHeaderTimeout
  kConnections,             // 503: maxConnections with no idle connection to close
  kResponseHeaderTooLarge,  // 500 instead of the handler's answer: maxResponseHeaderSize
};
inline constexpr std::size_t kRefusals = 12;

// The metric label: "malformed", "framing", "host", ...
std::string_view refusal_name(Refusal refusal) noexcept;

// When a body read times out, whichever of three bounds comes first: a
// pause longer than `pause` since the last bytes; the allowance (`pause`,
// plus one second per `min_rate` bytes received since `start`) used up, as
// Apache mod_reqtimeout's MinRate; `start` + `deadline`. A zero min_rate or
// deadline switches its bound off.
struct BodyClock {
  using Clock = std::chrono::steady_clock;
  Clock::time_point start;
  Clock::time_point last_progress;
  std::uint64_t received = 0;

  Clock::time_point expiry(std::chrono::milliseconds pause, std::uint64_t min_rate,
                           std::chrono::milliseconds deadline) const noexcept;
};

// What a read buffer that reached its limit after the header was holding:
// a chunk line (size and extensions) with no end, or the trailer section
// after the last chunk, whose line ended. `unparsed` is what Beast left.
enum class Overflow { kChunkLine, kTrailer };
Overflow classify_overflow(std::string_view unparsed) noexcept;

// Counts chunk extensions against a limit, as Beast's parser reports each
// chunk header; set on the parser with on_chunk_header(). Past the limit
// the parse fails and `exceeded` says why.
struct ChunkExtensionLimit {
  std::uint64_t limit = 0;
  std::uint64_t total = 0;
  bool exceeded = false;

  void operator()(std::uint64_t size, std::string_view extensions, boost::system::error_code& ec);
};

}  // namespace edgefn::http_trigger
