#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace edgefn {

// Parses a Go-style duration ("100ms", "10s", "1h30m", "1.5s", "0").
// Units: ns, us (or µs), ms, s, m, h. Returns nullopt on malformed input or
// a negative value.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

// The same, and a bare non-negative integer as seconds, as function.yaml
// reads durations ("5" is 5 s): for command-line options.
std::optional<std::chrono::nanoseconds> parse_duration_or_seconds(std::string_view text);

// Formats as the shortest Go-style string ("1m30s", "250ms").
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace edgefn
