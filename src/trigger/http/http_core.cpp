#include "trigger/http/http_core.hpp"

#include <sys/socket.h>

namespace edgefn::http_trigger {

std::optional<std::uint64_t> Core::admit(int fd) {
  std::lock_guard lock(mutex_);
  // Connections already cut count as gone: their sessions are on their way
  // out.
  if (connections_.size() - evicted_ >= settings.max_connections) {
    if (idle_.empty()) return std::nullopt;
    auto& victim = connections_.at(idle_.front());
    unlist_idle_locked(victim);
    victim.evicted = true;
    ++evicted_;
    ::shutdown(victim.fd, SHUT_RDWR);
    counters.evictions->inc();
  }
  const auto id = next_connection_id_++;
  auto& connection = connections_.emplace(id, Connection{fd, false, false, idle_.end(), {}}).first->second;
  connection.idle = idle_.insert(idle_.end(), id);
  counters.connections->add(1);
  open_.store(connections_.size(), std::memory_order_relaxed);
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
    if (it->second.evicted) --evicted_;
    unlist_idle_locked(it->second);
    connections_.erase(it);
    counters.connections->add(-1);
    open_.store(connections_.size(), std::memory_order_relaxed);
    maybe_drained_locked(drained);
    // The last connection is gone: nothing is left to cut.
    if (connections_.empty() && grace_timer_) grace_timer_->cancel();
  }
  if (drained) asio::post(io, std::move(drained));
}

void Core::unlist_idle_locked(Connection& connection) {
  if (connection.idle == idle_.end()) return;
  connection.parked.splice(connection.parked.end(), idle_, connection.idle);
  connection.idle = idle_.end();
}

bool Core::mark_busy(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = connections_.find(id);
  if (it == connections_.end() || it->second.evicted) return false;
  unlist_idle_locked(it->second);
  return true;
}

void Core::mark_idle(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  auto& connection = it->second;
  if (connection.evicted || connection.idle != idle_.end()) return;
  connection.idle = connection.parked.begin();
  idle_.splice(idle_.end(), connection.parked, connection.idle);
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

bool Core::take_body_bytes(std::uint64_t bytes) noexcept {
  const auto budget = settings.max_total_request_body_size;
  auto held = body_bytes_.load(std::memory_order_relaxed);
  do {
    if (bytes > budget || held > budget - bytes) return false;
  } while (!body_bytes_.compare_exchange_weak(held, held + bytes, std::memory_order_relaxed));
  counters.body_bytes->add(static_cast<std::int64_t>(bytes));
  return true;
}

void Core::return_body_bytes(std::uint64_t bytes) noexcept {
  if (bytes == 0) return;
  body_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  counters.body_bytes->add(-static_cast<std::int64_t>(bytes));
}

std::uint64_t Core::body_bytes_left() const noexcept {
  const auto held = body_bytes_.load(std::memory_order_relaxed);
  const auto budget = settings.max_total_request_body_size;
  return held >= budget ? 0 : budget - held;
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

std::size_t Core::idle_count() const {
  std::lock_guard lock(mutex_);
  return idle_.size();
}

}  // namespace edgefn::http_trigger
