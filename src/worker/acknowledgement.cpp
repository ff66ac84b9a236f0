#include "worker/acknowledgement.hpp"

#include <algorithm>

namespace edgefn {

std::optional<ExplicitAckMode> parse_explicit_ack_mode(std::string_view text) noexcept {
  if (text == "disable") return ExplicitAckMode::kDisable;
  if (text == "enable") return ExplicitAckMode::kEnable;
  if (text == "explicitOnly") return ExplicitAckMode::kExplicitOnly;
  return std::nullopt;
}

bool AckWindow::track(Id id) {
  if (last_tracked_ && id <= *last_tracked_) return false;
  pending_.push_back({id, false});
  last_tracked_ = id;
  return true;
}

AckWindow::Entry* AckWindow::find(Id id) noexcept {
  // Most events finish in the order they came.
  if (!pending_.empty() && pending_.front().id == id) return &pending_.front();
  // Ids grow along the deque: a binary search finds one among thousands in
  // flight.
  auto it = std::lower_bound(pending_.begin(), pending_.end(), id,
                             [](const Entry& e, Id value) { return e.id < value; });
  return it != pending_.end() && it->id == id ? &*it : nullptr;
}

bool AckWindow::contains(Id id) const noexcept {
  return const_cast<AckWindow*>(this)->find(id) != nullptr;
}

}  // namespace edgefn
