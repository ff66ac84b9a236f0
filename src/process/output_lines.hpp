#pragma once
// Cuts a child process's output into log lines: at '\n', without a trailing
// '\r', and at kMaxLine bytes so that output without newlines cannot grow a
// line (and the daemon's memory) without bound: a line longer than that is
// logged in pieces, each but the last ending in kCutMarker, none longer
// than kMaxLine with its marker. A cut never splits a UTF-8 character. Used
// for shell handlers' stderr and for the Python worker's raw stdout and
// stderr; the Python worker cuts print() and sys.stderr the same way before
// they become LOG messages (runtimes/python/edgefn_worker.py).
#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace edgefn {

// How many bytes at the end of `text` are the start of a UTF-8 character
// whose remaining bytes have not arrived (0 to 3). Pure.
inline std::size_t incomplete_utf8_tail(std::string_view text) noexcept {
  const std::size_t look = std::min<std::size_t>(3, text.size());
  for (std::size_t i = 1; i <= look; ++i) {
    const auto c = static_cast<unsigned char>(text[text.size() - i]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    std::size_t length = 1;            // ASCII, or a byte no character starts with
    if ((c & 0xE0) == 0xC0)
      length = 2;
    else if ((c & 0xF0) == 0xE0)
      length = 3;
    else if ((c & 0xF8) == 0xF0)
      length = 4;
    return length > i ? i : 0;
  }
  return 0;
}

class OutputLines {
 public:
  static constexpr std::size_t kMaxLine = 16 * 1024;
  static constexpr std::string_view kCutMarker = " [line cut at 16 KiB; continues]";
  // The output bytes in a piece: with its marker, it is kMaxLine bytes.
  static constexpr std::size_t kPiece = kMaxLine - kCutMarker.size();

  // Calls emit(std::string_view) for each line completed by `data`.
  template <class Emit>
  void feed(std::string_view data, Emit&& emit) {
    while (!data.empty()) {
      const auto newline = data.find('\n');
      auto part = data.substr(0, newline);
      // A line of exactly kMaxLine bytes is whole; only a byte past it cuts.
      while (line_.size() + part.size() > kMaxLine) {
        if (line_.size() < kPiece) {
          const auto take = kPiece - line_.size();
          line_.append(part.substr(0, take));
          part.remove_prefix(take);
        }
        cut(emit);
      }
      line_.append(part);
      if (newline == std::string_view::npos) return;
      flush(emit);
      data.remove_prefix(newline + 1);
    }
  }

  // Emits what is left at the end of the output, if anything.
  template <class Emit>
  void finish(Emit&& emit) {
    if (!line_.empty()) flush(emit);
  }

 private:
  template <class Emit>
  void flush(Emit& emit) {
    std::string_view line = line_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    emit(line);
    line_.clear();
  }

  // Emits the first kPiece bytes of line_ (fewer, to end on a whole
  // character) with the marker; line_ holds at least kPiece bytes.
  template <class Emit>
  void cut(Emit& emit) {
    const auto keep = kPiece - incomplete_utf8_tail(std::string_view(line_).substr(0, kPiece));
    piece_.assign(line_, 0, keep);
    piece_.append(kCutMarker);
    emit(std::string_view(piece_));
    line_.erase(0, keep);
  }

  std::string line_;
  std::string piece_;  // scratch for a cut piece and its marker
};

// One record that is logged as a unit (a handler's logger call), within
// OutputLines::kMaxLine bytes: `text` itself, or as much of its start as
// leaves room for " [cut: N more bytes]" (not splitting a UTF-8 character)
// and that note. Pure.
inline std::string bounded_line(std::string_view text) {
  constexpr std::size_t kNoteRoom = 64;
  if (text.size() <= OutputLines::kMaxLine) return std::string(text);
  auto head = text.substr(0, OutputLines::kMaxLine - kNoteRoom);
  head.remove_suffix(incomplete_utf8_tail(head));
  return std::string(head) + " [cut: " + std::to_string(text.size() - head.size()) + " more bytes]";
}

}  // namespace edgefn
