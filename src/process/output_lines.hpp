#pragma once
// Cuts a child process's output into log lines: at '\n', without a trailing
// '\r', and at kMaxLine bytes so that output without newlines cannot grow a
// line without bound. Used for shell handlers' stderr and for the Python
// worker's raw stdout and stderr.
#include <cstddef>
#include <string>
#include <string_view>

namespace edgefn {

class OutputLines {
 public:
  static constexpr std::size_t kMaxLine = 16 * 1024;

  // Calls emit(std::string_view) for each line completed by `data`.
  template <class Emit>
  void feed(std::string_view data, Emit&& emit) {
    for (char c : data) {
      if (c == '\n') {
        flush(emit);
        continue;
      }
      line_.push_back(c);
      if (line_.size() >= kMaxLine) flush(emit);
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

  std::string line_;
};

}  // namespace edgefn
