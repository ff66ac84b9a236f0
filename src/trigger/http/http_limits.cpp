#include "trigger/http/http_limits.hpp"

#include <boost/beast/http/error.hpp>

namespace edgefn::http_trigger {

std::string_view refusal_name(Refusal refusal) noexcept {
  switch (refusal) {
    case Refusal::kMalformed: return "malformed";
    case Refusal::kFraming: return "framing";
    case Refusal::kHost: return "host";
    case Refusal::kHeaderTooLarge: return "header_too_large";
    case Refusal::kChunkExtension: return "chunk_extension";
    case Refusal::kTrailerTooLarge: return "trailer_too_large";
    case Refusal::kBodyTooLarge: return "body_too_large";
    case Refusal::kBodyBudget: return "body_budget";
    case Refusal::kBodyTimeout: return "body_timeout";
    case Refusal::kHeaderTimeout: return "header_timeout";
    case Refusal::kConnections: return "connections";
    case Refusal::kResponseHeaderTooLarge: return "response_header_too_large";
  }
  return "unknown";
}

BodyClock::Clock::time_point BodyClock::expiry(std::chrono::milliseconds pause, std::uint64_t min_rate,
                                               std::chrono::milliseconds deadline) const noexcept {
  auto at = last_progress + pause;
  if (min_rate > 0) {
    // In milliseconds, capped so that a huge count cannot overflow the
    // time point: a day is far past any other bound.
    constexpr std::uint64_t kDayMs = 86'400'000;
    const std::uint64_t seconds = received / min_rate;
    const std::uint64_t earned_ms =
        seconds >= kDayMs / 1000 ? kDayMs : seconds * 1000 + received % min_rate * 1000 / min_rate;
    at = std::min(at, start + pause + std::chrono::milliseconds(earned_ms));
  }
  if (deadline.count() > 0) at = std::min(at, start + deadline);
  return at;
}

Overflow classify_overflow(std::string_view unparsed) noexcept {
  // Beast leaves the CRLF that ends a chunk's data to the next chunk line.
  if (unparsed.substr(0, 2) == "\r\n") unparsed.remove_prefix(2);
  // A whole chunk line with more after it can only be the last chunk's:
  // Beast hands any other complete line on at once.
  return unparsed.find("\r\n") == std::string_view::npos ? Overflow::kChunkLine : Overflow::kTrailer;
}

void ChunkExtensionLimit::operator()(std::uint64_t, std::string_view extensions, boost::system::error_code& ec) {
  total += extensions.size();
  if (total > limit) {
    exceeded = true;
    ec = boost::beast::http::error::bad_chunk_extension;
  }
}

}  // namespace edgefn::http_trigger
