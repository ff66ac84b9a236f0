#include <catch2/catch.hpp>

#include "trigger/stream/stream_failure.hpp"

using namespace edgefn;
using namespace edgefn::stream;
using Next = FailurePolicy::Next;
using OnError = FailurePolicy::OnError;

TEST_CASE("the default failure policy retries, then dead-letters when a topic is set, else skips") {
  FailurePolicy policy;
  policy.max_retries = 2;
  CHECK(policy.after_failure(1) == Next::kRetry);
  CHECK(policy.after_failure(2) == Next::kRetry);
  CHECK(policy.after_failure(3) == Next::kSkip);
  policy.dead_letter_topic = "dead";
  CHECK(policy.after_failure(2) == Next::kRetry);
  CHECK(policy.after_failure(3) == Next::kDeadLetter);
}

TEST_CASE("onError skip and deadLetter give up on the first failure") {
  FailurePolicy policy;
  policy.max_retries = 5;
  policy.dead_letter_topic = "dead";
  policy.on_error = OnError::kSkip;
  CHECK(policy.after_failure(1) == Next::kSkip);
  policy.on_error = OnError::kDeadLetter;
  CHECK(policy.after_failure(1) == Next::kDeadLetter);
  policy.max_retries = 0;
  policy.on_error = OnError::kRetry;
  CHECK(policy.after_failure(1) == Next::kDeadLetter);
}

TEST_CASE("onError is read as Nuclio-style names, case-insensitively") {
  CHECK(parse_on_error("retry") == OnError::kRetry);
  CHECK(parse_on_error("Skip") == OnError::kSkip);
  CHECK(parse_on_error("deadletter") == OnError::kDeadLetter);
  CHECK_FALSE(parse_on_error("drop"));
  CHECK_FALSE(parse_on_error(""));
}
