#include "util/duration.hpp"

#include <cmath>
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>

namespace edgefn {
namespace {

std::optional<double> unit_nanos(std::string_view unit) {
  if (unit == "ns") return 1.0;
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return 1e3;
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  if (unit == "m") return 60e9;
  if (unit == "h") return 3600e9;
  return std::nullopt;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  if (text == "0") return std::chrono::nanoseconds{0};
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  double total = 0;
  while (!text.empty()) {
    std::size_t i = 0;
    double value = 0;
    bool digits = false;
    while (i < text.size() && is_digit(text[i])) {
      value = value * 10 + (text[i] - '0');
      ++i;
      digits = true;
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      double scale = 0.1;
      while (i < text.size() && is_digit(text[i])) {
        value += (text[i] - '0') * scale;
        scale /= 10;
        ++i;
        digits = true;
      }
    }
    if (!digits) return std::nullopt;
    std::size_t j = i;
    while (j < text.size() && !is_digit(text[j]) && text[j] != '.') ++j;
    auto nanos = unit_nanos(text.substr(i, j - i));
    if (!nanos) return std::nullopt;
    total += value * *nanos;
    text.remove_prefix(j);
  }
  if (total > 9.2e18) return std::nullopt;
  return std::chrono::nanoseconds{static_cast<std::int64_t>(std::llround(total))};
}

std::optional<std::chrono::nanoseconds> parse_duration_or_seconds(std::string_view text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::int64_t seconds = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / 1'000'000'000;
    if (ec != std::errc{} || end != text.data() + text.size() || seconds > kMaxSeconds) return std::nullopt;
    return std::chrono::seconds{seconds};
  }
  return parse_duration(text);
}

std::string format_duration(std::chrono::nanoseconds d) {
  using namespace std::chrono;
  if (d == nanoseconds{0}) return "0s";
  std::string out;
  auto n = d.count();
  if (n < 0) {
    out = "-";
    n = -n;
  }
  if (n < 1'000) return out + std::to_string(n) + "ns";
  if (n < 1'000'000) return out + std::to_string(n / 1'000) + "us";
  if (n < 1'000'000'000) return out + std::to_string(n / 1'000'000) + "ms";
  auto ms = n / 1'000'000;
  auto h = ms / 3'600'000;
  auto m = (ms / 60'000) % 60;
  auto s = (ms / 1000) % 60;
  auto frac = ms % 1000;
  if (h) out += std::to_string(h) + "h";
  if (h || m) out += std::to_string(m) + "m";
  out += std::to_string(s);
  if (frac) {
    auto f = std::to_string(1000 + frac).substr(1);
    while (f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out + "s";
}

}  // namespace edgefn
