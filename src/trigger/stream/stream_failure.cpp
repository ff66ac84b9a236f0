#include "trigger/stream/stream_failure.hpp"

#include <algorithm>

#include "util/strings.hpp"

namespace edgefn::stream {
namespace {

// Handler bodies quoted in an error header or a log line.
constexpr std::size_t kQuotedBodyLimit = 200;

std::string quoted(const std::string& text) {
  if (text.size() <= kQuotedBodyLimit) return text;
  return text.substr(0, kQuotedBodyLimit) + "...";
}

}  // namespace

bool is_failure(const DispatchResult& result) noexcept {
  if (result) return result->status >= 500;
  return !is_abandoned(result);
}

bool is_abandoned(const DispatchResult& result) noexcept {
  if (result) return false;
  const auto code = result.error().code;
  return code == DispatchError::Code::kStopping || code == DispatchError::Code::kCancelled;
}

std::string describe_failure(const DispatchResult& result) {
  if (result) return "status " + std::to_string(result->status) + ": " + quoted(result->body);
  const auto& error = result.error();
  std::string what;
  switch (error.code) {
    case DispatchError::Code::kCrashed: what = "crashed"; break;
    case DispatchError::Code::kTimedOut: what = "timed out"; break;
    case DispatchError::Code::kOverloaded: what = "no worker"; break;
    case DispatchError::Code::kStopping: what = "stopping"; break;
    case DispatchError::Code::kCancelled: what = "cancelled"; break;
  }
  return error.detail.empty() ? what : what + ": " + quoted(error.detail);
}

std::chrono::milliseconds retry_delay(std::chrono::milliseconds base, int retry) noexcept {
  if (base.count() <= 0 || retry < 1) return std::chrono::milliseconds{0};
  auto delay = std::min(base, kMaxRetryBackoff);
  for (int i = 1; i < retry && delay < kMaxRetryBackoff; ++i) delay = std::min(delay * 2, kMaxRetryBackoff);
  return delay;
}

FailurePolicy::Next FailurePolicy::after_failure(int attempts) const noexcept {
  const auto mode = on_error.value_or(OnError::kRetry);
  if (mode == OnError::kRetry && attempts <= max_retries) return Next::kRetry;
  if (mode == OnError::kSkip) return Next::kSkip;
  return dead_letter_topic.empty() ? Next::kSkip : Next::kDeadLetter;
}

std::optional<FailurePolicy::OnError> parse_on_error(std::string_view text) noexcept {
  if (iequals(text, "retry")) return FailurePolicy::OnError::kRetry;
  if (iequals(text, "skip")) return FailurePolicy::OnError::kSkip;
  if (iequals(text, "deadLetter")) return FailurePolicy::OnError::kDeadLetter;
  return std::nullopt;
}

}  // namespace edgefn::stream
