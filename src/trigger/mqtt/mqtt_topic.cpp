// Topic names and filters (MQTT 3.1.1 4.7, MQTT 5 4.7 and 4.8.2).
#include <fmt/format.h>

#include <algorithm>

#include "trigger/mqtt/mqtt_codec.hpp"
#include "trigger/mqtt/mqtt_wire.hpp"

namespace edgefn::mqtt {

namespace {

constexpr std::string_view kSharePrefix = "$share/";

// The filter part of `$share/<group>/<filter>`, or `filter` itself.
std::string_view without_share(std::string_view filter) noexcept {
  if (!filter.starts_with(kSharePrefix)) return filter;
  const auto rest = filter.substr(kSharePrefix.size());
  const auto slash = rest.find('/');
  return slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
}

}  // namespace

const char* wire::filter_error(std::string_view filter) noexcept {
  if (filter.empty()) return "empty";
  if (filter.starts_with(kSharePrefix)) {
    const auto rest = filter.substr(kSharePrefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) return "a shared subscription needs $share/<group>/<filter>";
    const auto group = rest.substr(0, slash);
    if (group.empty()) return "the shared subscription's group is empty";
    if (has_wildcard(group)) return "the shared subscription's group has a wildcard";
    filter = rest.substr(slash + 1);
    if (filter.empty()) return "the shared subscription's filter is empty";
  }
  for (std::size_t i = 0; i < filter.size(); ++i) {
    const char c = filter[i];
    if (c != '+' && c != '#') continue;
    const bool level_start = i == 0 || filter[i - 1] == '/';
    const bool level_end = i + 1 == filter.size() || filter[i + 1] == '/';
    if (c == '#' && !(level_start && i + 1 == filter.size())) return "'#' must be the whole last level";
    if (c == '+' && !(level_start && level_end)) return "'+' must be a whole level";
  }
  return nullptr;
}

std::string check_topic_filter(std::string_view filter) {
  if (filter.size() > 0xFFFF) return fmt::format("topic filter of {} bytes: at most 65,535", filter.size());
  if (!wire::valid_utf8(filter)) return "topic filter is not well-formed UTF-8 or has U+0000";
  if (const char* why = wire::filter_error(filter)) return fmt::format("topic filter '{}': {}", filter, why);
  return {};
}

std::string check_topic_name(std::string_view topic) {
  if (topic.empty()) return "topic name is empty";
  if (topic.size() > 0xFFFF) return fmt::format("topic name of {} bytes: at most 65,535", topic.size());
  if (!wire::valid_utf8(topic)) return "topic name is not well-formed UTF-8 or has U+0000";
  if (wire::has_wildcard(topic)) return fmt::format("topic name '{}' has a wildcard ('+' or '#')", topic);
  return {};
}

bool topic_matches(std::string_view filter, std::string_view topic) noexcept {
  filter = without_share(filter);
  if (filter.empty() || topic.empty()) return false;
  // MQTT 4.7.2: a wildcard first does not match the server's own '$' topics.
  if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#')) return false;
  std::size_t f = 0, t = 0;
  bool topic_done = false;  // every topic level matched; '#' still matches the parent
  for (;;) {
    const std::size_t f_end = std::min(filter.find('/', f), filter.size());
    const auto level = filter.substr(f, f_end - f);
    if (level == "#") return true;
    if (topic_done) return false;
    const std::size_t t_end = std::min(topic.find('/', t), topic.size());
    if (level != "+" && level != topic.substr(t, t_end - t)) return false;
    const bool filter_last = f_end == filter.size();
    const bool topic_last = t_end == topic.size();
    if (filter_last) return topic_last;
    f = f_end + 1;
    if (topic_last) {
      topic_done = true;
    } else {
      t = t_end + 1;
    }
  }
}

}  // namespace edgefn::mqtt
