// The words of kafka-mock's command language (kafka_mock.cpp): splitting a
// line, percent-decoding a key or value, and the names of Kafka API keys
// and error codes. Pure functions, no librdkafka handle needed.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace edgefn::kafka_mock {

// A command that cannot be carried out; its message becomes `error: <what>`.
class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The words of `line`, split on spaces and tabs (a trailing \r is ignored).
std::vector<std::string> split_words(std::string_view line);

// A key, value or header word: `-` is none (a null key or value), `""` the
// empty string, anything else is percent-decoded (`%20` a space, `%25` a
// percent sign, `%00` a NUL byte). Throws CommandError on a bad escape.
std::optional<std::string> decode_bytes(std::string_view word);

// The Kafka API key of `word`: a name such as Fetch or OffsetCommit (case
// does not matter) or a number 0..32767. Throws CommandError otherwise.
std::int16_t parse_api_key(std::string_view word);

// The name of API key `key`, or its number when it has no name here.
std::string api_name(std::int16_t key);

// The librdkafka error code (rd_kafka_resp_err_t as int) of `word`: a name
// as librdkafka spells it (NOT_COORDINATOR, REQUEST_TIMED_OUT, _TRANSPORT;
// an RD_KAFKA_RESP_ERR_ prefix is allowed) or a number. Throws CommandError
// for a name librdkafka does not know.
int parse_error_code(std::string_view word);

// A decimal integer in [min, max] named `what` in the error; throws
// CommandError.
std::int64_t parse_int(std::string_view word, std::int64_t min, std::int64_t max, std::string_view what);

}  // namespace edgefn::kafka_mock
