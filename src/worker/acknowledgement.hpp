#pragma once
// Acknowledgement after handling, for stream triggers: when an event may be
// acked (an MQTT PUBACK) or committed (a Kafka offset).
//
// Events finish in any order, but acknowledgements must be released in the
// order the events arrived: an MQTT client sends PUBACKs in the order the
// PUBLISH packets came (MQTT 3.1.1, 4.6), and a Kafka offset may be
// committed only once every earlier event of its partition was handled.
// AckWindow does that ordering, one per stream (a connection, a
// partition). Whether the handler's answer acknowledges its event is
// Nuclio's explicitAckMode: with "enable" a handler may defer it
// (Response.ensure_no_ack()) and acknowledge later with explicit_ack(),
// which reaches the trigger through the host services
// (host/host_services.hpp); with "explicitOnly" only explicit_ack() does.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string_view>

#include "event/event.hpp"

namespace edgefn {

enum class ExplicitAckMode { kDisable, kEnable, kExplicitOnly };

// "disable", "enable", "explicitOnly" (as Nuclio spells them); nullopt for
// anything else.
std::optional<ExplicitAckMode> parse_explicit_ack_mode(std::string_view text) noexcept;

// True when the handler's answer itself acknowledges the event.
constexpr bool acknowledges(ExplicitAckMode mode, const Response& response) noexcept {
  switch (mode) {
    case ExplicitAckMode::kDisable: return true;
    case ExplicitAckMode::kEnable: return !response.no_ack;
    case ExplicitAckMode::kExplicitOnly: return false;
  }
  return true;
}

// Not thread-safe: used from the trigger's strand.
class AckWindow {
 public:
  using Id = std::int64_t;

  // Registers the next event, in arrival order. Ids must grow (Kafka
  // offsets may skip numbers; MQTT uses a counter). False, and nothing
  // registered, when `id` does not.
  bool track(Id id);

  // The event `id` may be acknowledged (handled, or given up on by the
  // failure policy). Calls release(id) for each event that is now
  // releasable, in arrival order: `id` itself and the finished ones after
  // it, once every earlier one is done. Unknown or repeated ids are
  // ignored (false).
  template <class Release>
  bool done(Id id, Release&& release) {
    auto* entry = find(id);
    if (!entry || entry->done) return false;
    entry->done = true;
    while (!pending_.empty() && pending_.front().done) {
      const Id released = pending_.front().id;
      pending_.pop_front();
      last_released_ = released;
      release(released);
    }
    return true;
  }

  // Events tracked and not yet released.
  std::size_t pending() const noexcept { return pending_.size(); }
  // The newest id released, if any.
  std::optional<Id> last_released() const noexcept { return last_released_; }
  bool contains(Id id) const noexcept;

 private:
  struct Entry {
    Id id;
    bool done;
  };
  Entry* find(Id id) noexcept;

  std::deque<Entry> pending_;
  std::optional<Id> last_tracked_;
  std::optional<Id> last_released_;
};

}  // namespace edgefn
