// Handlers compiled into the binary. They go through the same C ABI as a
// loaded .so, so tests and benchmarks that use them measure the real path.
#include <charconv>
#include <chrono>
#include <cstring>
#include <thread>

#include "runtime/native/native_runtime.hpp"

namespace edgefn {
namespace {

int echo(const edgefn_call* call, const edgefn_event* event) {
  if (event->content_type.size) edgefn_set_content_type(call, event->content_type.data, event->content_type.size);
  return edgefn_set_body(call, event->body, event->body_size);
}

// Same 12 bytes as the nginx baseline in bench/http.
int hello(const edgefn_call* call, const edgefn_event*) {
  static constexpr char kBody[] = "hello, edge\n";
  return edgefn_set_body(call, kBody, sizeof kBody - 1);
}

// Sleeps the number of milliseconds in the body: the slow handler for the
// 503, 504 and drain tests. Blocking, so it runs on a worker thread.
int sleep_ms(const edgefn_call* call, const edgefn_event* event) {
  const char* begin = static_cast<const char*>(event->body);
  const char* end = begin + event->body_size;
  while (begin != end && (*begin == ' ' || *begin == '\n')) ++begin;
  while (end != begin && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r')) --end;
  long ms = 0;
  auto [ptr, ec] = std::from_chars(begin, end, ms);
  if (ec != std::errc{} || ptr != end || ms < 0 || ms > 3'600'000) {
    static constexpr char kError[] = "body must be a number of milliseconds (0 to 3600000)";
    edgefn_set_status(call, 400);
    edgefn_set_error(call, kError, sizeof kError - 1);
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  char out[32];
  auto [p, e] = std::to_chars(out, out + sizeof out, ms);
  (void)e;
  std::memcpy(p, " ms\n", 4);
  return edgefn_set_body(call, out, static_cast<size_t>(p + 4 - out));
}

const NativeHandler kBuiltins[] = {
    {"builtin:echo", nullptr, echo, nullptr, nullptr, false},
    {"builtin:hello", nullptr, hello, nullptr, nullptr, false},
    {"builtin:sleep", nullptr, sleep_ms, nullptr, nullptr, true},
};

}  // namespace

std::string builtin_names() {
  std::string names;
  for (const auto& b : kBuiltins) names += (names.empty() ? "" : ", ") + b.name.substr(8);
  return names;
}

const NativeHandler* find_builtin(std::string_view name) {
  for (const auto& b : kBuiltins)
    if (std::string_view{b.name}.substr(8) == name) return &b;
  return nullptr;
}

}  // namespace edgefn
