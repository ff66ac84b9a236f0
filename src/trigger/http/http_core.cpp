#include "trigger/http/http_core.hpp"

#include <sys/socket.h>

namespace edgefn::http_trigger {

std::uint64_t Core::add_connection(int fd) {
  std::lock_guard lock(mutex_);
  const auto id = next_connection_id_++;
  connections_.emplace(id, Connection{fd, false});
  counters.connections->add(1);
  // A connection accepted as the drain began: nothing of it was taken yet.
  if (draining()) ::shutdown(fd, SHUT_RD);
  return id;
}

void Core::remove_connection(std::uint64_t id) {
  UniqueFunction<void()> drained;
  {
    std::lock_guard lock(mutex_);
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    if (it->second.dispatched) --dispatched_;
    connections_.erase(it);
    counters.connections->add(-1);
    maybe_drained_locked(drained);
    // The last connection is gone: nothing is left to cut.
    if (connections_.empty() && grace_timer_) grace_timer_->cancel();
  }
  if (drained) asio::post(io, std::move(drained));
}

void Core::set_dispatched(std::uint64_t id, bool dispatched) {
  UniqueFunction<void()> drained;
  {
    std::lock_guard lock(mutex_);
    auto it = connections_.find(id);
    if (it == connections_.end() || it->second.dispatched == dispatched) return;
    it->second.dispatched = dispatched;
    if (dispatched) {
      ++dispatched_;
    } else {
      --dispatched_;
      maybe_drained_locked(drained);
    }
  }
  if (drained) asio::post(io, std::move(drained));
}

void Core::begin_drain(UniqueFunction<void()> done) {
  UniqueFunction<void()> drained;
  {
    std::lock_guard lock(mutex_);
    draining_.store(true);
    drained_ = std::move(done);
    for (const auto& [id, connection] : connections_)
      if (!connection.dispatched) ::shutdown(connection.fd, SHUT_RD);
    maybe_drained_locked(drained);
  }
  if (drained) asio::post(io, std::move(drained));
}

void Core::maybe_drained_locked(UniqueFunction<void()>& out) {
  if (draining() && dispatched_ == 0 && drained_) out = std::move(drained_);
}

void Core::shut_down(std::chrono::milliseconds grace) {
  std::lock_guard lock(mutex_);
  draining_.store(true);
  for (const auto& [id, connection] : connections_) ::shutdown(connection.fd, SHUT_RD);
  if (connections_.empty() || grace_timer_) return;
  grace_timer_.emplace(io);
  grace_timer_->expires_after(grace);
  grace_timer_->async_wait([this](error_code ec) {
    if (ec) return;
    std::lock_guard timer_lock(mutex_);
    for (const auto& [id, connection] : connections_) ::shutdown(connection.fd, SHUT_RDWR);
  });
}

std::size_t Core::dispatched() const {
  std::lock_guard lock(mutex_);
  return dispatched_;
}

std::size_t Core::connection_count() const {
  std::lock_guard lock(mutex_);
  return connections_.size();
}

}  // namespace edgefn::http_trigger
