#include "runtime/shell/shell_args.hpp"

namespace edgefn {
namespace {

bool is_separator(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string at(std::string_view what, std::size_t offset) {
  return std::string(what) + " at offset " + std::to_string(offset);
}

// Inside double quotes sh gives a backslash meaning only before these.
bool escapable_in_double_quotes(char c) { return c == '"' || c == '\\' || c == '$' || c == '`' || c == '\n'; }

}  // namespace

tl::expected<std::vector<std::string>, std::string> split_arguments(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  // A word exists once anything, even an empty pair of quotes, was seen.
  bool in_word = false;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (is_separator(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
    } else if (c == '\'') {
      auto close = text.find('\'', i + 1);
      if (close == std::string_view::npos) return tl::make_unexpected(at("unterminated single quote", i));
      word.append(text.substr(i + 1, close - i - 1));
      in_word = true;
      i = close + 1;
    } else if (c == '"') {
      const std::size_t open = i++;
      for (;;) {
        if (i >= text.size()) return tl::make_unexpected(at("unterminated double quote", open));
        const char d = text[i];
        if (d == '"') break;
        if (d == '\\' && i + 1 < text.size() && escapable_in_double_quotes(text[i + 1])) {
          if (text[i + 1] != '\n') word.push_back(text[i + 1]);
          i += 2;
          continue;
        }
        word.push_back(text[i++]);
      }
      in_word = true;
      ++i;
    } else if (c == '\\') {
      if (i + 1 >= text.size()) return tl::make_unexpected(at("trailing backslash", i));
      if (text[i + 1] != '\n') {
        word.push_back(text[i + 1]);
        in_word = true;
      }
      i += 2;
    } else {
      word.push_back(c);
      in_word = true;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

}  // namespace edgefn
