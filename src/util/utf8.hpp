#pragma once
// UTF-8 as RFC 3629 defines it, for code that must tell valid text from
// bytes (log escaping, MQTT's UTF-8 strings).
#include <cstddef>
#include <string_view>

namespace edgefn {

// The length (2 to 4) of the valid multi-byte UTF-8 sequence starting at
// `text[i]`, or 0: no overlong forms, no surrogates, nothing above
// U+10FFFF. An ASCII byte is not a multi-byte sequence: 0. Pure.
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) noexcept;

}  // namespace edgefn
