#pragma once
// A tiny JSON writer for /status, log lines and X-Nuclio-Logs. Values are
// appended in order; the writer inserts commas. No parsing.
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace edgefn {

// Appends `text` as a JSON string literal (quotes included), escaping
// control characters and invalid UTF-8 bytes (as \u00XX).
void append_json_string(std::string& out, std::string_view text);

class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view v);
  JsonWriter& value(const char* v) { return value(std::string_view{v}); }
  JsonWriter& value(std::int64_t v);
  JsonWriter& value(std::uint64_t v);
  // Any other integer type (int, unsigned, long long, ...) without ambiguity.
  template <std::integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) JsonWriter& value(T v) {
    if constexpr (std::signed_integral<T>) {
      return value(static_cast<std::int64_t>(v));
    } else {
      return value(static_cast<std::uint64_t>(v));
    }
  }
  JsonWriter& value(double v);  // shortest round-trip form; NaN and infinities as null
  JsonWriter& value(bool v);
  JsonWriter& null();
  JsonWriter& raw(std::string_view json);  // an already-encoded value

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void separate();
  std::string out_;
  bool need_comma_ = false;
};

}  // namespace edgefn
