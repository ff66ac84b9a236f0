#include "util/json.hpp"

#include <fmt/format.h>

#include <bitset>
#include <cmath>
#include <iterator>

namespace edgefn {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_u00(std::string& out, unsigned char byte) {
  out += "\\u00";
  out += kHex[byte >> 4];
  out += kHex[byte & 0xF];
}

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence starting at text[i], or 0. Follows
// RFC 3629 table 3-7: no overlong forms, no surrogates, nothing past U+10FFFF,
// so that every byte we pass through unescaped is valid in a JSON document.
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char lead = at(0);
  const std::size_t left = text.size() - i;
  if (lead >= 0xC2 && lead <= 0xDF) {
    return left >= 2 && is_continuation(at(1)) ? 2 : 0;
  }
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (left < 3) return 0;
    const unsigned char lo = lead == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = lead == 0xED ? 0x9F : 0xBF;
    return at(1) >= lo && at(1) <= hi && is_continuation(at(2)) ? 3 : 0;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (left < 4) return 0;
    const unsigned char lo = lead == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = lead == 0xF4 ? 0x8F : 0xBF;
    return at(1) >= lo && at(1) <= hi && is_continuation(at(2)) && is_continuation(at(3)) ? 4 : 0;
  }
  return 0;
}

// One pass over JSON text. Each scan_* function starts at the first byte of
// its token and leaves `pos` just past it, or returns false.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  std::size_t pos() const { return pos_; }
  bool at_end() const { return pos_ == text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }  // NUL is invalid anywhere anyway
  bool take(char c) {
    if (at_end() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  void skip_whitespace() {
    while (!at_end()) {
      const char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
      ++pos_;
    }
  }

  bool scan_string() {
    if (!take('"')) return false;
    while (!at_end()) {
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == '\\') {
        if (!scan_escape()) return false;
      } else if (c < 0x20) {
        return false;
      } else if (c < 0x80) {
        ++pos_;
      } else {
        const std::size_t n = utf8_sequence_length(text_, pos_);
        if (n == 0) return false;
        pos_ += n;
      }
    }
    return false;
  }

  bool scan_number() {
    take('-');
    if (take('0')) {
      // RFC 8259 allows no leading zeros: "01" ends the number after "0" and
      // the caller rejects the "1" that follows.
    } else if (!scan_digits()) {
      return false;
    }
    if (take('.') && !scan_digits()) return false;
    if (take('e') || take('E')) {
      if (!take('+')) take('-');
      if (!scan_digits()) return false;
    }
    return true;
  }

  bool scan_literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool scan_scalar() {
    switch (peek()) {
      case '"': return scan_string();
      case 't': return scan_literal("true");
      case 'f': return scan_literal("false");
      case 'n': return scan_literal("null");
      default: return scan_number();
    }
  }

  // A member's key and colon, with the whitespace around them.
  bool scan_key() {
    skip_whitespace();
    if (!scan_string()) return false;
    skip_whitespace();
    return take(':');
  }

  // One value of any kind, containers nested at most `max_depth` deep. The
  // kind of each open container is one bit, so the memory is fixed however
  // deep the input goes.
  bool scan_value(std::size_t max_depth) {
    std::bitset<kJsonMaxDepthLimit> is_object;
    std::size_t depth = 0;
    for (;;) {
      skip_whitespace();
      const char open = peek();
      if (open == '{' || open == '[') {
        if (depth == max_depth) return false;
        ++pos_;
        is_object[depth++] = open == '{';
        skip_whitespace();
        if (take(open == '{' ? '}' : ']')) {
          --depth;
        } else {
          if (open == '{' && !scan_key()) return false;
          continue;
        }
      } else if (!scan_scalar()) {
        return false;
      }
      // After a value: close containers until one continues with a comma.
      for (;;) {
        if (depth == 0) return true;
        skip_whitespace();
        const bool object = is_object[depth - 1];
        if (take(',')) {
          if (object && !scan_key()) return false;
          break;
        }
        if (!take(object ? '}' : ']')) return false;
        --depth;
      }
    }
  }

 private:
  bool scan_digits() {
    const std::size_t start = pos_;
    while (!at_end() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    return pos_ != start;
  }

  // Reads 4 hex digits at pos_ into `unit`.
  bool scan_hex4(unsigned& unit) {
    if (text_.size() - pos_ < 4) return false;
    unit = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text_[pos_++];
      unit <<= 4;
      if (c >= '0' && c <= '9') {
        unit |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        unit |= static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        unit |= static_cast<unsigned>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }

  bool scan_escape() {
    ++pos_;  // the backslash
    if (at_end()) return false;
    switch (text_[pos_++]) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't': return true;
      case 'u': break;
      default: return false;
    }
    unsigned unit = 0;
    if (!scan_hex4(unit)) return false;
    if (unit >= 0xDC00 && unit <= 0xDFFF) return false;  // a low surrogate with no high one
    if (unit < 0xD800 || unit > 0xDBFF) return true;
    unsigned low = 0;
    return scan_literal("\\u") && scan_hex4(low) && low >= 0xDC00 && low <= 0xDFFF;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

std::size_t clamp_depth(std::size_t max_depth) {
  return max_depth < kJsonMaxDepthLimit ? max_depth : kJsonMaxDepthLimit;
}

unsigned hex_value(char c) {
  if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
  return static_cast<unsigned>(c - 'A' + 10);
}

unsigned hex4_at(std::string_view text, std::size_t i) {
  return hex_value(text[i]) << 12 | hex_value(text[i + 1]) << 8 | hex_value(text[i + 2]) << 4 | hex_value(text[i + 3]);
}

// Appends code point `cp` as UTF-8 to a small buffer; returns its length.
std::size_t encode_utf8(char32_t cp, char (&buf)[4]) {
  if (cp < 0x80) {
    buf[0] = static_cast<char>(cp);
    return 1;
  }
  if (cp < 0x800) {
    buf[0] = static_cast<char>(0xC0 | (cp >> 6));
    buf[1] = static_cast<char>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    buf[0] = static_cast<char>(0xE0 | (cp >> 12));
    buf[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    buf[2] = static_cast<char>(0x80 | (cp & 0x3F));
    return 3;
  }
  buf[0] = static_cast<char>(0xF0 | (cp >> 18));
  buf[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
  buf[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  buf[3] = static_cast<char>(0x80 | (cp & 0x3F));
  return 4;
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  out.reserve(out.size() + text.size() + 2);
  out += '"';
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          // DEL is valid in JSON but not in an HTTP header value (RFC 9110
          // field-vchar), and these strings go into X-Nuclio-Logs.
          if (c < 0x20 || c == 0x7f) {
            append_u00(out, c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    if (const std::size_t n = utf8_sequence_length(text, i); n != 0) {
      out.append(text.data() + i, n);
      i += n;
    } else {
      // Reading the stray byte as Latin-1 keeps the output valid JSON and the
      // byte's value recoverable, which matters for handler logs of binary data.
      append_u00(out, c);
      ++i;
    }
  }
  out += '"';
}

void JsonWriter::separate() {
  if (need_comma_) out_ += ',';
  need_comma_ = false;
}

JsonWriter& JsonWriter::begin_object() {
  separate();
  out_ += '{';
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  out_ += '}';
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  separate();
  out_ += '[';
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  out_ += ']';
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view k) {
  separate();
  append_json_string(out_, k);
  out_ += ':';
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view v) {
  separate();
  append_json_string(out_, v);
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(std::int64_t v) {
  separate();
  fmt::format_to(std::back_inserter(out_), "{}", v);
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(std::uint64_t v) {
  separate();
  fmt::format_to(std::back_inserter(out_), "{}", v);
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(double v) {
  if (!std::isfinite(v)) return null();
  separate();
  // fmt's default is the shortest text that parses back to the same double,
  // and its forms ("1", "0.1", "1e+300") are all valid JSON numbers.
  fmt::format_to(std::back_inserter(out_), "{}", v);
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(bool v) {
  separate();
  out_ += v ? "true" : "false";
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::null() {
  separate();
  out_ += "null";
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::raw(std::string_view json) {
  separate();
  out_ += json;
  need_comma_ = true;
  return *this;
}

bool json_is_valid(std::string_view text, std::size_t max_depth) noexcept {
  Scanner s(text);
  if (!s.scan_value(clamp_depth(max_depth))) return false;
  s.skip_whitespace();
  return s.at_end();
}

namespace {

// The container itself is scanned here, each element with Scanner::scan_value,
// so that each element's span is known.
template <typename OnElement>
bool scan_container(std::string_view text, char open, std::size_t max_depth, OnElement on_element) {
  max_depth = clamp_depth(max_depth);
  if (max_depth == 0) return false;
  const char close = open == '{' ? '}' : ']';
  Scanner s(text);
  s.skip_whitespace();
  if (!s.take(open)) return false;
  s.skip_whitespace();
  if (!s.take(close)) {
    for (;;) {
      std::string_view key;
      if (open == '{') {
        s.skip_whitespace();
        const std::size_t key_start = s.pos();
        if (!s.scan_string()) return false;
        key = text.substr(key_start, s.pos() - key_start);
        s.skip_whitespace();
        if (!s.take(':')) return false;
      }
      s.skip_whitespace();
      const std::size_t value_start = s.pos();
      if (!s.scan_value(max_depth - 1)) return false;
      on_element(key, text.substr(value_start, s.pos() - value_start));
      s.skip_whitespace();
      if (s.take(close)) break;
      if (!s.take(',')) return false;
    }
  }
  s.skip_whitespace();
  return s.at_end();
}

}  // namespace

bool json_object_members(std::string_view text, std::vector<JsonMember>& members, std::size_t max_depth) {
  members.clear();
  return scan_container(text, '{', max_depth, [&](std::string_view key, std::string_view value) {
    members.push_back({key, value});
  });
}

bool json_array_elements(std::string_view text, std::vector<std::string_view>& elements, std::size_t max_depth) {
  elements.clear();
  return scan_container(text, '[', max_depth,
                        [&](std::string_view, std::string_view value) { elements.push_back(value); });
}

bool json_string_equals(std::string_view literal, std::string_view text) noexcept {
  if (literal.size() < 2) return false;
  const std::string_view body = literal.substr(1, literal.size() - 2);
  std::size_t matched = 0;
  const auto match = [&](const char* bytes, std::size_t n) {
    if (text.substr(matched, n) != std::string_view(bytes, n)) return false;
    matched += n;
    return true;
  };
  for (std::size_t i = 0; i < body.size();) {
    if (body[i] != '\\') {
      if (!match(&body[i], 1)) return false;
      ++i;
      continue;
    }
    char decoded[4];
    std::size_t n = 1;
    switch (body[i + 1]) {
      case 'b': decoded[0] = '\b'; break;
      case 'f': decoded[0] = '\f'; break;
      case 'n': decoded[0] = '\n'; break;
      case 'r': decoded[0] = '\r'; break;
      case 't': decoded[0] = '\t'; break;
      case 'u': {
        char32_t cp = hex4_at(body, i + 2);
        if (cp >= 0xD800 && cp <= 0xDBFF) {  // valid input: a low surrogate follows
          cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4_at(body, i + 8) - 0xDC00);
          i += 6;
        }
        n = encode_utf8(cp, decoded);
        i += 4;
        break;
      }
      default: decoded[0] = body[i + 1];  // " \ /
    }
    i += 2;
    if (!match(decoded, n)) return false;
  }
  return matched == text.size();
}

void append_json_compact(std::string& out, std::string_view valid_json) {
  out.reserve(out.size() + valid_json.size());
  bool in_string = false;
  for (std::size_t i = 0; i < valid_json.size(); ++i) {
    const char c = valid_json[i];
    if (in_string) {
      if (c == '\\') {
        out += c;
        out += valid_json[++i];
        continue;
      }
      if (c == '\x7f') {
        out += "\\u007f";
        continue;
      }
      in_string = c != '"';
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      continue;
    } else {
      in_string = c == '"';
    }
    out += c;
  }
}

}  // namespace edgefn
