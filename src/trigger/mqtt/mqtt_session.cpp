#include "trigger/mqtt/mqtt_session.hpp"

#include "trigger/mqtt/mqtt_session_impl.hpp"

namespace edgefn::mqtt {

const char* to_string(SessionState state) noexcept {
  switch (state) {
    case SessionState::kConnecting: return "connecting";
    case SessionState::kConnected: return "connected";
    case SessionState::kDisconnected: return "disconnected";
    case SessionState::kClosed: return "closed";
  }
  return "?";
}

namespace session_detail {

using namespace std::chrono_literals;

awaitable<void> SessionImpl::run(std::shared_ptr<SessionImpl> self) {
  (void)self;  // keeps the session alive as long as the loop runs
  int attempt = 0;
  while (!closed_) {
    set_state(SessionState::kConnecting, "connecting to " + settings_.endpoint.url);
    auto conn = std::make_shared<Connection>(strand_, settings_.endpoint, tls_);
    conn->generation = ++generation_;
    conn_ = conn;
    std::string why = co_await open_connection(conn);
    if (conn->established) {
      error_code ec;
      co_await conn->ended.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      why = conn->why;
      losses_.fetch_add(1, std::memory_order_relaxed);
      if (Clock::now() - conn->connected_at >= kStableConnection) attempt = 0;
    }
    end_connection(*conn, why);
    conn_.reset();
    update_delivery_stats();
    notify_progress();
    if (closed_ || disconnecting_) break;
    const auto delay = backoff(attempt++);
    set_state(SessionState::kDisconnected, why + "; retrying in " + seconds_text(delay));
    retry_timer_.expires_after(delay);
    error_code ec;
    co_await retry_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

Clock::duration SessionImpl::backoff(int attempt) {
  const auto min = std::max<Clock::duration>(settings_.reconnect_min_backoff, 1ms);
  const auto max = std::max<Clock::duration>(settings_.reconnect_max_backoff, min);
  auto delay = min;
  for (int i = 0; i < attempt && delay < max; ++i) delay *= 2;
  delay = std::min(delay, max);
  // Jitter in [delay/2, delay]: processors that lost one broker at the
  // same moment do not all come back at the same moment.
  std::uniform_int_distribution<Clock::rep> jitter(delay.count() / 2, delay.count());
  return Clock::duration{jitter(random_)};
}

awaitable<std::string> SessionImpl::open_connection(std::shared_ptr<Connection> conn) {
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer deadline(strand_);
  deadline.expires_after(settings_.connect_timeout);
  deadline.async_wait([conn, timed_out](error_code ec) {
    if (ec || conn->established || !conn->open) return;
    *timed_out = true;
    conn->transport.close();
  });
  std::string step;
  std::string why = co_await handshake(*conn, step);
  deadline.cancel();
  if (*timed_out) why = "timed out after " + seconds_text(settings_.connect_timeout) + " " + step;
  if (closed_ && why.empty()) why = "closed";
  if (!why.empty()) {
    conn->transport.close();
    co_return why;
  }
  co_return std::string{};
}

awaitable<std::string> SessionImpl::handshake(Connection& conn, std::string& step) {
  error_code ec = co_await conn.transport.open(step);
  if (ec) co_return step + ": " + ec.message();
  if (closed_) co_return std::string{};

  Connect hello = settings_.connect;
  conn.version = hello.version;
  if (hello.version == Version::k5) {
    if (!hello.properties.receive_maximum)
      hello.properties.receive_maximum =
          static_cast<std::uint16_t>(std::clamp<std::size_t>(settings_.window, 1, 65535));
    // Larger packets are dropped by the broker instead of ending our
    // connection when they arrive.
    if (!hello.properties.maximum_packet_size)
      hello.properties.maximum_packet_size =
          static_cast<std::uint32_t>(std::min<std::size_t>(settings_.max_packet_size, 268'435'455));
    // Topic Alias Maximum stays absent (0): the broker sends every topic.
    hello.properties.topic_alias_maximum.reset();
  }
  std::string bytes;
  encode(hello, hello.version, bytes);
  step = "sending CONNECT";
  co_await conn.transport.write(asio::buffer(bytes), ec);
  if (ec) co_return step + ": " + ec.message();

  step = "waiting for CONNACK";
  std::size_t size = 0;
  for (;;) {
    std::string_view view(conn.in);
    auto framed = frame_size(view, settings_.max_packet_size);
    if (!framed) co_return "the broker's CONNACK is malformed: " + framed.error().message;
    size = *framed;
    if (size != 0 && view.size() >= size) break;
    const auto old = conn.in.size();
    conn.in.resize(old + kReadChunk);
    const auto n = co_await conn.transport.read_some(asio::buffer(conn.in.data() + old, kReadChunk), ec);
    conn.in.resize(old + n);
    if (ec) {
      std::string why = step + ": ";
      why += ec == asio::error::eof ? std::string{"the broker closed the connection"} : ec.message();
      co_return why;
    }
  }
  auto packet = decode(std::string_view(conn.in).substr(0, size), conn.version);
  conn.in_start = size;
  if (!packet) co_return "the broker's CONNACK is malformed: " + packet.error().message;
  auto* connack = std::get_if<Connack>(&*packet);
  if (!connack) co_return std::string{"the broker answered CONNECT with "} + to_string(type_of(*packet));
  if (connack->reason_code >= 0x80) {
    std::string why = "connection refused: " + reason_text(connack->reason_code);
    if (connack->properties.reason_string) why += " (" + *connack->properties.reason_string + ")";
    co_return why;
  }
  if (closed_) co_return std::string{};
  established(conn, *connack, hello);
  co_return std::string{};
}

void SessionImpl::established(Connection& conn, const Connack& connack, const Connect& sent) {
  const auto& props = connack.properties;
  conn.established = true;
  conn.connected_at = conn.last_sent = conn.last_received = Clock::now();
  conn.keep_alive = std::chrono::seconds{props.server_keep_alive.value_or(sent.keep_alive)};
  connects_.fetch_add(1, std::memory_order_relaxed);
  if (props.assigned_client_identifier) {
    client_id_ = *props.assigned_client_identifier;
    logger_->info("the broker assigned client ID '{}'", client_id_);
  }
  logger_->debug("CONNACK: session present {}, receive maximum {}, maximum QoS {}, keepalive {} s",
                 connack.session_present, props.receive_maximum.value_or(65535), props.maximum_qos.value_or(2),
                 conn.keep_alive.count());
  Outbox::Limits limits;
  limits.receive_maximum = props.receive_maximum.value_or(65535);
  if (props.maximum_packet_size) limits.maximum_packet_size = *props.maximum_packet_size;
  limits.maximum_qos = props.maximum_qos.value_or(2);
  limits.session_present = connack.session_present;
  outbox_.restart(limits);
  session_present_ = connack.session_present;
  pump();
  // Always resubscribed, even with the session present: harmless, and a
  // broker that lost its state (no persistence, a failover) gets them back.
  if (!settings_.subscriptions.empty()) {
    conn.subscribe_id = outbox_.allocate_id();
    Subscribe subscribe{conn.subscribe_id, settings_.subscriptions, {}};
    encode(subscribe, conn.version, conn.out);
  } else {
    report_connected();
  }
  auto self = shared_self();
  auto c = conn_;
  asio::co_spawn(strand_, write_loop(self, c), asio::detached);
  asio::co_spawn(strand_, read_loop(self, c), asio::detached);
  if (conn.keep_alive.count() > 0) asio::co_spawn(strand_, keepalive_loop(self, c), asio::detached);
}

void SessionImpl::report_connected() {
  set_state(SessionState::kConnected,
            "connected to " + settings_.endpoint.url +
                (session_present_ ? " (the broker kept the session)" : " (new session)") +
                (settings_.subscriptions.empty()
                     ? std::string{}
                     : ", subscribed to " + std::to_string(settings_.subscriptions.size()) + " filter" +
                           (settings_.subscriptions.size() == 1 ? "" : "s")));
}

void SessionImpl::end_connection(Connection& conn, const std::string& why) {
  if (!conn.open) return;
  conn.open = false;
  conn.why = why;
  conn.transport.close();
  conn.wake_writer.cancel();
  conn.ended.cancel();
  conn.resume_reading.cancel();
  conn.keepalive.cancel();
  logger_->debug("connection ended: {}", why);
}

void SessionImpl::end_with_disconnect(Connection& conn, std::uint8_t reason, const std::string& why) {
  if (!conn.usable()) return;
  if (conn.version == Version::k5 || reason == reason::kSuccess)
    encode(Disconnect{PacketType::kDisconnect, reason, {}}, conn.version, conn.out);
  conn.closing = true;
  conn.why = why;
  conn.wake_writer.cancel();
  conn.resume_reading.cancel();
  // The last write, bounded: a broker that stopped reading must not keep
  // a dead connection open.
  conn.keepalive.expires_after(2s);
  conn.keepalive.async_wait([self = shared_self(), c = conn.shared_from_this()](error_code ec) {
    if (!ec) self->end_connection(*c, c->why);
  });
}

void SessionImpl::wake_writer(Connection& conn) {
  if (!conn.out.empty()) conn.wake_writer.cancel();
}

void SessionImpl::pump() {
  if (!conn_ || !conn_->established || !conn_->usable()) return;
  outbox_.pump(conn_->version, conn_->out, conn_->qos0_out, conn_->subscribe_id);
  // Its answer will come behind whatever the broker sent meanwhile: a
  // paused reader must read on (see kHeldBytesLimit).
  if (conn_->socket_paused && outbox_.awaiting_broker() > 0) conn_->resume_reading.cancel();
  wake_writer(*conn_);
  update_stats();
}

awaitable<void> SessionImpl::write_loop(std::shared_ptr<SessionImpl> self, std::shared_ptr<Connection> conn) {
  (void)self;
  error_code ec;
  while (conn->open) {
    if (conn->out.empty()) {
      if (conn->closing) {
        // The reader ends the connection when the broker closes its
        // side, or the timer of end_with_disconnect does.
        conn->transport.shutdown_send();
        while (conn->open) {
          conn->wake_writer.expires_at(Clock::time_point::max());
          co_await conn->wake_writer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        break;
      }
      conn->wake_writer.expires_at(Clock::time_point::max());
      co_await conn->wake_writer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    // Everything queued goes in one write: acks settled together, a
    // burst of responses, share a system call (and a TLS record).
    conn->batch.clear();
    conn->batch.swap(conn->out);
    auto written = std::move(conn->qos0_out);
    conn->qos0_out.clear();
    const auto acks = std::exchange(conn->acks_out, 0);
    conn->writing = true;
    co_await conn->transport.write(asio::buffer(conn->batch), ec);
    conn->writing = false;
    if (ec) {
      end_connection(*conn, "lost the connection to " + settings_.endpoint.url + " (write: " + ec.message() + ")");
      break;
    }
    conn->last_sent = Clock::now();
    acknowledged_.fetch_add(acks, std::memory_order_relaxed);
    for (auto seq : written) outbox_.written(seq);
    update_stats();
    notify_progress();
  }
}

bool SessionImpl::drained() const {
  if (outbox_.pending() != 0) return false;
  if (!conn_ || !conn_->usable() || !conn_->established) return true;
  const bool acks_held = conn_->acks.pending() > conn_->unsettled;
  return !acks_held && conn_->out.empty() && !conn_->writing;
}

awaitable<void> SessionImpl::drain(std::shared_ptr<SessionImpl> self, Clock::time_point deadline) {
  (void)self;
  error_code ec;
  while (!closed_ && !drained() && Clock::now() < deadline) {
    progress_.expires_at(deadline);
    co_await progress_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  // The connection loop stops with this connection: no retry follows.
  disconnecting_ = true;
  if (auto conn = conn_; !closed_ && conn && conn->established && conn->usable()) {
    end_with_disconnect(*conn, reason::kSuccess, "disconnected");
    // The DISCONNECT's own write, bounded: a broker that stopped reading
    // must not hold the drain past its deadline by much.
    const auto limit = std::max(deadline, Clock::now() + 1s);
    while (conn->open && Clock::now() < limit) {
      progress_.expires_at(limit);
      co_await progress_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  shut_down();
}

void SessionImpl::shut_down() {
  close_requested_ = true;
  if (!closed_) {
    closed_ = true;
    state_ = SessionState::kClosed;
    logger_->debug("session closed");
    if (conn_) end_connection(*conn_, "closed");
    retry_timer_.cancel();
    outbox_.fail_all("the MQTT session was closed before the broker took the message");
    update_stats();
  }
  notify_progress();
  if (disconnect_done_) {
    auto done = std::move(disconnect_done_);
    disconnect_done_ = {};
    done();
  }
}

}  // namespace session_detail



std::shared_ptr<Session> Session::create(asio::io_context& io, SessionSettings settings, Callbacks callbacks,
                                         std::string log_name) {
  return std::make_shared<session_detail::SessionImpl>(io, std::move(settings), std::move(callbacks), std::move(log_name));
}

}  // namespace edgefn::mqtt
