#include "app/reload.hpp"

#include <ctime>

namespace edgefn {

namespace {
std::string utc_timestamp(std::chrono::system_clock::time_point at) {
  const std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}
}  // namespace

void ReloadReport::write(JsonWriter& out) const {
  out.key("ok").value(ok());
  out.key("status").value(status);
  out.key("cause").value(cause);
  out.key("at").value(utc_timestamp(at));
  out.key("seconds").value(seconds);
  out.key("generation").value(generation);
  out.key("message").value(message);
  out.key("triggers").begin_object();
  for (const auto& [name, change] : triggers) out.key(name).value(change);
  out.end_object();
  out.key("pools").begin_object();
  for (const auto& [name, size] : pools) out.key(name).value(size);
  out.end_object();
}

std::string ReloadReport::json() const {
  JsonWriter w;
  w.begin_object();
  write(w);
  w.end_object();
  return w.take();
}

}  // namespace edgefn
