#pragma once
// A tiny JSON writer for /status, log lines and X-Nuclio-Logs (values are
// appended in order; the writer inserts commas), and a strict validator for
// JSON that comes from outside, such as a Python worker's log fields.
//
// The validator follows RFC 8259's grammar and is stricter in two places:
// strings must be well-formed UTF-8, and a \u escape of a UTF-16 surrogate
// must be a high-low pair (I-JSON, RFC 7493), since parsers disagree on what
// a lone one means. Nesting deeper than `max_depth` arrays and objects is
// rejected. It never recurses and allocates nothing, whatever the nesting,
// so a hostile input costs one linear pass. All functions are pure and
// thread-safe.
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgefn {

// Appends `text` as a JSON string literal (quotes included), escaping
// control characters, DEL and invalid UTF-8 bytes (as \u00XX), so that the
// result is also a valid HTTP header value.
void append_json_string(std::string& out, std::string_view text);

// Default bound on nested arrays and objects: `[[1]]` has depth 2.
inline constexpr std::size_t kJsonMaxDepth = 64;
// Larger `max_depth` arguments are lowered to this.
inline constexpr std::size_t kJsonMaxDepthLimit = 1024;

// True when `text` is exactly one JSON value, optionally surrounded by
// whitespace, nested at most `max_depth` deep.
bool json_is_valid(std::string_view text, std::size_t max_depth = kJsonMaxDepth) noexcept;

// One member of an object as written: `key` is the string literal with its
// quotes and escapes, `value` the value's text. Both point into the input.
struct JsonMember {
  std::string_view key;
  std::string_view value;
};

// Validates `text` as one JSON object (the object itself counts as depth 1)
// and replaces `members` with its members in order, duplicates included.
// On false, `text` is not a valid object and `members` is unspecified.
// Allocates only for `members`.
bool json_object_members(std::string_view text, std::vector<JsonMember>& members,
                         std::size_t max_depth = kJsonMaxDepth);

// The same for an array and its elements.
bool json_array_elements(std::string_view text, std::vector<std::string_view>& elements,
                         std::size_t max_depth = kJsonMaxDepth);

// True when the JSON string literal `literal` (quotes included, valid, as in
// JsonMember::key) decodes to exactly `text`, so "\u006cevel" equals "level".
bool json_string_equals(std::string_view literal, std::string_view text) noexcept;

// Appends valid JSON (check with the functions above first) without the
// whitespace between tokens, so that no tab or line break from the input
// reaches, say, an HTTP header, and with DEL in strings written as \u007f.
void append_json_compact(std::string& out, std::string_view valid_json);

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
