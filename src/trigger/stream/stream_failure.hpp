#pragma once
// What both stream triggers (MQTT, Kafka) decide the same way about a
// handler's answer: whether it is a failure, how to describe it in a log
// line or an error header, how long to wait before running it again, and
// what to do once the retries are spent. Pure, so it is unit-tested
// without a broker.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "worker/dispatch.hpp"

namespace edgefn::stream {

// The headers a message carries when it is published to an error (MQTT)
// or dead-letter (Kafka) topic, beside its own.
inline constexpr const char* kErrorHeader = "x-edgefn-error";        // "status 500: ..." / "crashed: ..."
inline constexpr const char* kTopicHeader = "x-edgefn-topic";        // the topic the message came on
inline constexpr const char* kPartitionHeader = "x-edgefn-partition";  // Kafka: its partition
inline constexpr const char* kOffsetHeader = "x-edgefn-offset";      // Kafka: its offset
inline constexpr const char* kAttemptsHeader = "x-edgefn-attempts";  // handler runs, retries included
inline constexpr const char* kTriggerHeader = "x-edgefn-trigger";    // the trigger that gave up

// The longest retry backoff, however many retries are configured.
inline constexpr std::chrono::milliseconds kMaxRetryBackoff{30'000};

// Whether a dispatch's result calls for the failure policy: a response of
// 500 or more, a crash, a timeout, or no worker in time. A 4xx is the
// handler saying no: handled. kStopping and kCancelled are not failures:
// the event was not handled and is left to the source to redeliver.
bool is_failure(const DispatchResult& result) noexcept;
bool is_abandoned(const DispatchResult& result) noexcept;  // kStopping, kCancelled

// A short line saying why a result is a failure, for logs and error
// headers: "status 503: <body, cut at 200 bytes>", "crashed: <detail>",
// "timed out: <detail>".
std::string describe_failure(const DispatchResult& result);

// The wait before retry number `retry` (1, 2, ...): `base` doubled per
// retry, at most kMaxRetryBackoff.
std::chrono::milliseconds retry_delay(std::chrono::milliseconds base, int retry) noexcept;

// What becomes of an event whose handler keeps failing (`onError`).
struct FailurePolicy {
  enum class OnError {
    kRetry,       // run it again after a backoff, up to max_retries; then as below
    kSkip,        // log it, count it, move on
    kDeadLetter,  // publish it with error headers to dead_letter_topic, move on
  };
  // Unset: retry, then dead-letter when a topic is set, else skip.
  std::optional<OnError> on_error;
  int max_retries = 3;
  std::chrono::milliseconds retry_backoff{1000};  // doubled per retry, capped at kMaxRetryBackoff
  std::string dead_letter_topic;

  enum class Next { kRetry, kDeadLetter, kSkip };
  // After the handler failed on run number `attempts` (1, 2, ...).
  Next after_failure(int attempts) const noexcept;
};

// "retry", "skip", "deadLetter" (case-insensitive); nullopt for anything else.
std::optional<FailurePolicy::OnError> parse_on_error(std::string_view text) noexcept;

}  // namespace edgefn::stream
