#include "trigger/mqtt/mqtt_session.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <random>
#include <unordered_map>

#include "log/log.hpp"
#include "trigger/mqtt/mqtt_outbox.hpp"
#include "trigger/mqtt/mqtt_transport.hpp"
#include "worker/acknowledgement.hpp"

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

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// PUBLISH packets read past the window are kept decoded, up to this many
// bytes, before the socket stops being read: the broker's PUBACKs for our
// own publishes (which deliveries may be waiting for) and its PINGRESPs
// keep arriving behind them. Past it, reading stops until a settle.
constexpr std::size_t kHeldBytesCap = 1024 * 1024;
constexpr std::size_t kReadChunk = 16 * 1024;
// A connection that ends sooner than this after its CONNACK does not reset
// the backoff: two clients taking the same client ID from each other
// would otherwise reconnect at the minimum backoff forever.
constexpr auto kStableConnection = 1s;

std::string seconds_text(Clock::duration d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000.0);
}

// One TCP (TLS, WebSocket) connection and what lives only as long as it.
struct Connection : std::enable_shared_from_this<Connection> {
  Connection(const asio::any_io_executor& ex, const Endpoint& endpoint, std::shared_ptr<TlsContext> tls)
      : transport(ex, endpoint, std::move(tls)), wake_writer(ex), ended(ex), resume_reading(ex), keepalive(ex) {
    ended.expires_at(Clock::time_point::max());
  }

  Transport transport;
  std::uint64_t generation = 0;
  Version version = Version::k311;
  bool open = true;      // false once lost or closed
  bool closing = false;  // a last packet (DISCONNECT) is being written; nothing more is read
  bool established = false;  // CONNACK accepted
  Clock::time_point connected_at;
  std::string why;  // why it ended

  std::string in;  // bytes read, not yet decoded, from in_start
  std::size_t in_start = 0;
  std::string out;  // encoded packets waiting for the writer
  std::string batch;  // what the writer is writing
  std::vector<std::uint64_t> qos0_out;  // outbox sequence numbers of QoS 0 publishes in `out`
  std::uint64_t acks_out = 0;  // PUBACKs and PUBRECs in `out` (counted once written)
  bool writing = false;

  asio::steady_timer wake_writer;     // cancelled when `out` gains bytes
  asio::steady_timer ended;           // cancelled when the connection ends
  asio::steady_timer resume_reading;  // cancelled when reading may go on
  asio::steady_timer keepalive;
  std::chrono::seconds keep_alive{0};
  Clock::time_point last_sent, last_received;
  bool socket_paused = false;

  std::uint16_t subscribe_id = 0;  // the pending SUBSCRIBE's packet id, 0 when none

  // Incoming, for this connection's acknowledgements.
  struct AckInfo {
    std::uint8_t qos;
    std::uint16_t packet_id;
  };
  AckWindow acks;
  std::unordered_map<std::uint64_t, AckInfo> ack_info;  // delivered, not yet acknowledged
  std::size_t unsettled = 0;  // this connection's deliveries not settled
  // QoS 2 packet ids the broker sent and we hold: received (not yet
  // PUBREC'd) or released (PUBREC sent, awaiting PUBREL). A DUP resend of
  // one of them is not delivered again.
  enum class Qos2 { kReceived, kReleased };
  std::unordered_map<std::uint16_t, Qos2> qos2;
  std::deque<std::pair<Publish, std::size_t>> held;  // read past the window, not delivered yet (packet size)
  std::size_t held_bytes = 0;

  bool usable() const noexcept { return open && !closing; }
};

class SessionImpl final : public Session {
 public:
  SessionImpl(asio::io_context& io, SessionSettings settings, Callbacks callbacks, std::string log_name)
      : strand_(asio::make_strand(io)),
        settings_(std::move(settings)),
        callbacks_(std::move(callbacks)),
        logger_(get_logger("trigger.mqtt." + log_name)),
        retry_timer_(strand_),
        progress_(strand_),
        random_(std::random_device{}()),
        client_id_(settings_.connect.client_id) {
    if (settings_.endpoint.tls()) {
      tls_ = make_tls_context(settings_.tls);
      if (settings_.tls.insecure_skip_verify)
        logger_->warn("TLS without verification (insecureSkipVerify): the broker {} is not authenticated",
                      settings_.endpoint.url);
    }
  }

  void start() override {
    asio::co_spawn(strand_, run(shared_self()), asio::detached);
  }

  void settle(std::uint64_t id) noexcept override {
    asio::post(strand_, [self = shared_self(), id] { self->on_settle(id); });
  }

  void publish(Publish message, PublishDone done) noexcept override {
    asio::post(strand_, [self = shared_self(), m = std::move(message), d = std::move(done)]() mutable {
      if (self->closed_) {
        d(tl::unexpected(std::string{"the MQTT session is closed"}));
        return;
      }
      // The counters are current by the time the publisher hears.
      self->outbox_.add(std::move(m), [s = self.get(), d = std::move(d)](PublishOutcome outcome) mutable {
        s->update_stats();
        d(std::move(outcome));
      });
      self->pump();
      self->update_stats();
    });
  }

  void stop_intake() noexcept override {
    asio::post(strand_, [self = shared_self()] {
      self->intake_stopped_ = true;
      if (self->conn_) self->drop_held(*self->conn_);
    });
  }

  void disconnect(Clock::time_point deadline, UniqueFunction<void()> done) noexcept override {
    asio::post(strand_, [self = shared_self(), deadline, d = std::move(done)]() mutable {
      if (self->closed_) {
        d();
        return;
      }
      self->intake_stopped_ = true;
      if (self->conn_) self->drop_held(*self->conn_);
      self->disconnect_done_ = std::move(d);
      asio::co_spawn(self->strand_, self->drain(self, deadline), asio::detached);
    });
  }

  void close() noexcept override {
    close_requested_ = true;
    asio::post(strand_, [self = shared_self()] { self->shut_down(); });
  }

  SessionState state() const noexcept override { return state_.load(); }

  SessionStats stats() const noexcept override {
    SessionStats s;
    s.connects = connects_.load(std::memory_order_relaxed);
    s.connection_losses = losses_.load(std::memory_order_relaxed);
    s.received = received_.load(std::memory_order_relaxed);
    s.acknowledged = acknowledged_.load(std::memory_order_relaxed);
    s.published = published_.load(std::memory_order_relaxed);
    s.unsettled = unsettled_count_.load(std::memory_order_relaxed);
    s.outgoing_pending = outgoing_pending_.load(std::memory_order_relaxed);
    s.reading_paused = reading_paused_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::shared_ptr<SessionImpl> shared_self() { return std::static_pointer_cast<SessionImpl>(shared_from_this()); }

  // --- the connection loop -------------------------------------------------

  awaitable<void> run(std::shared_ptr<SessionImpl> self) {
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

  Clock::duration backoff(int attempt) {
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

  // Connects and sends CONNECT, reads CONNACK; on success starts the
  // connection's reader, writer and keepalive and returns "". Else why not.
  awaitable<std::string> open_connection(std::shared_ptr<Connection> conn) {
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

  awaitable<std::string> handshake(Connection& conn, std::string& step) {
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

  void established(Connection& conn, const Connack& connack, const Connect& sent) {
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

  void report_connected() {
    set_state(SessionState::kConnected,
              "connected to " + settings_.endpoint.url +
                  (session_present_ ? " (the broker kept the session)" : " (new session)") +
                  (settings_.subscriptions.empty()
                       ? std::string{}
                       : ", subscribed to " + std::to_string(settings_.subscriptions.size()) + " filter" +
                             (settings_.subscriptions.size() == 1 ? "" : "s")));
  }

  // Ends `conn` (idempotent): closes the socket and wakes its loops.
  void end_connection(Connection& conn, const std::string& why) {
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

  // Ends the connection after writing what is queued and, on MQTT 5, a
  // DISCONNECT with `reason` (a protocol error of the broker's, or ours
  // going away).
  void end_with_disconnect(Connection& conn, std::uint8_t reason, const std::string& why) {
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

  // --- writing ---------------------------------------------------------------

  void wake_writer(Connection& conn) {
    if (!conn.out.empty()) conn.wake_writer.cancel();
  }

  void pump() {
    if (!conn_ || !conn_->established || !conn_->usable()) return;
    outbox_.pump(conn_->version, conn_->out, conn_->qos0_out, conn_->subscribe_id);
    wake_writer(*conn_);
    update_stats();
  }

  awaitable<void> write_loop(std::shared_ptr<SessionImpl> self, std::shared_ptr<Connection> conn) {
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

  // --- reading ---------------------------------------------------------------

  awaitable<void> read_loop(std::shared_ptr<SessionImpl> self, std::shared_ptr<Connection> conn) {
    (void)self;
    error_code ec;
    while (conn->open) {
      if (!conn->usable()) {
        // Closing: what still comes is read and dropped until the broker
        // closes (see Transport::shutdown_send).
        conn->in.clear();
        conn->in_start = 0;
      } else if (!process_input(*conn)) {
        continue;
      } else if (conn->held_bytes >= kHeldBytesCap) {
        conn->socket_paused = true;
        conn->resume_reading.expires_at(Clock::time_point::max());
        co_await conn->resume_reading.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        conn->socket_paused = false;
        // Nothing was read while paused: the keepalive clock starts again.
        conn->last_received = Clock::now();
        continue;
      }
      if (conn->in_start > 0 && conn->in_start * 2 >= conn->in.size()) {
        conn->in.erase(0, conn->in_start);
        conn->in_start = 0;
      }
      const auto old = conn->in.size();
      conn->in.resize(old + kReadChunk);
      const auto n = co_await conn->transport.read_some(asio::buffer(conn->in.data() + old, kReadChunk), ec);
      conn->in.resize(old + n);
      if (ec) {
        if (conn->closing)
          end_connection(*conn, conn->why);
        else
          end_connection(*conn, "lost the connection to " + settings_.endpoint.url + " (" +
                                    (ec == asio::error::eof ? std::string{"closed by the broker"} : ec.message()) +
                                    ")");
        break;
      }
      conn->last_received = Clock::now();
    }
  }

  // Decodes and handles the complete packets in `conn.in`. False when the
  // connection ends.
  bool process_input(Connection& conn) {
    while (conn.usable()) {
      std::string_view view = std::string_view(conn.in).substr(conn.in_start);
      auto size = frame_size(view, settings_.max_packet_size);
      if (!size) {
        protocol_error(conn, size.error());
        return false;
      }
      if (*size == 0 || view.size() < *size) return true;
      auto packet = decode(view.substr(0, *size), conn.version);
      conn.in_start += *size;
      if (!packet) {
        protocol_error(conn, packet.error());
        return false;
      }
      handle(conn, std::move(*packet), *size);
    }
    return false;
  }

  void protocol_error(Connection& conn, const DecodeError& error) {
    end_with_disconnect(conn, error.reason_code,
                        "the broker sent a malformed packet (" + error.message + "); reconnecting");
  }

  void handle(Connection& conn, Packet&& packet, std::size_t size) {
    if (auto* p = std::get_if<Publish>(&packet)) return on_publish(conn, std::move(*p), size);
    if (auto* r = std::get_if<PublishResponse>(&packet)) return on_response(conn, *r);
    if (auto* s = std::get_if<Suback>(&packet)) return on_suback(conn, *s);
    if (auto* d = std::get_if<Disconnect>(&packet)) return on_disconnect(conn, *d);
    if (auto* ping = std::get_if<Ping>(&packet); ping && ping->type == PacketType::kPingresp) return;
    end_with_disconnect(conn, reason::kProtocolError,
                        std::string{"the broker sent an unexpected "} + to_string(type_of(packet)) + "; reconnecting");
  }

  void on_publish(Connection& conn, Publish&& publish, std::size_t size) {
    received_.fetch_add(1, std::memory_order_relaxed);
    if (publish.properties.topic_alias) {
      end_with_disconnect(conn, reason::kProtocolError,
                          "the broker used a topic alias though we allow none (Topic Alias Maximum 0); reconnecting");
      return;
    }
    if (publish.qos == 2) {
      auto [it, fresh] = conn.qos2.try_emplace(publish.packet_id, Connection::Qos2::kReceived);
      if (!fresh) {
        // A resend of one we hold: answered by the PUBREC already sent, or
        // by the one its settle sends.
        if (it->second == Connection::Qos2::kReleased) {
          encode(response_packet(PacketType::kPubrec, publish.packet_id), conn.version, conn.out);
          wake_writer(conn);
        }
        return;
      }
    }
    if (intake_stopped_) {
      // Not delivered and not acknowledged: the broker redelivers it to
      // the next session (QoS 0 is lost, as QoS 0 may be).
      if (publish.qos == 2) conn.qos2.erase(publish.packet_id);
      return;
    }
    conn.held_bytes += size;
    conn.held.emplace_back(std::move(publish), size);
    deliver_held(conn);
  }

  void deliver_held(Connection& conn) {
    while (!conn.held.empty() && unsettled_.size() < settings_.window && conn.usable() && !close_requested_) {
      Publish publish = std::move(conn.held.front().first);
      conn.held_bytes -= conn.held.front().second;
      conn.held.pop_front();
      const auto id = next_delivery_id_++;
      unsettled_.emplace(id, conn.generation);
      conn.acks.track(static_cast<AckWindow::Id>(id));
      conn.ack_info.emplace(id, Connection::AckInfo{publish.qos, publish.packet_id});
      ++conn.unsettled;
      update_delivery_stats();
      if (callbacks_.on_message) callbacks_.on_message(Delivery{id, std::move(publish)});
    }
    if (conn.held_bytes < kHeldBytesCap) conn.resume_reading.cancel();
  }

  void drop_held(Connection& conn) {
    for (const auto& [p, size] : conn.held)
      if (p.qos == 2) conn.qos2.erase(p.packet_id);
    conn.held.clear();
    conn.held_bytes = 0;
    conn.resume_reading.cancel();
  }

  void on_response(Connection& conn, const PublishResponse& response) {
    if (response.type == PacketType::kPubrel) {
      auto it = conn.qos2.find(response.packet_id);
      if (it != conn.qos2.end() && it->second == Connection::Qos2::kReleased) conn.qos2.erase(it);
      encode(response_packet(PacketType::kPubcomp, response.packet_id), conn.version, conn.out);
      wake_writer(conn);
      return;
    }
    outbox_.on_response(response, conn.version, conn.out);
    pump();
    wake_writer(conn);
    notify_progress();
  }

  void on_suback(Connection& conn, const Suback& suback) {
    if (suback.type != PacketType::kSuback || suback.packet_id != conn.subscribe_id || conn.subscribe_id == 0) return;
    conn.subscribe_id = 0;
    for (std::size_t i = 0; i < suback.reason_codes.size() && i < settings_.subscriptions.size(); ++i) {
      if (suback.reason_codes[i] >= 0x80)
        logger_->error("the broker refused the subscription to '{}': {}", settings_.subscriptions[i].filter,
                       reason_text(suback.reason_codes[i]));
    }
    report_connected();
  }

  void on_disconnect(Connection& conn, const Disconnect& disconnect) {
    std::string why = "the broker closed the connection: ";
    if (disconnect.reason_code == reason::kSessionTakenOver)
      why += "another client connected with client ID '" + client_id_ + "' (Session taken over)";
    else
      why += reason_text(disconnect.reason_code);
    if (disconnect.properties.reason_string) why += " - " + *disconnect.properties.reason_string;
    end_connection(conn, why);
  }

  // --- acknowledgements ------------------------------------------------------

  void on_settle(std::uint64_t id) {
    auto it = unsettled_.find(id);
    if (it == unsettled_.end()) return;
    const auto generation = it->second;
    unsettled_.erase(it);
    auto conn = conn_;
    if (conn && conn->generation == generation) {
      --conn->unsettled;
      if (conn->usable()) {
        conn->acks.done(static_cast<AckWindow::Id>(id), [&](AckWindow::Id released) { acknowledge(*conn, released); });
        wake_writer(*conn);
        deliver_held(*conn);
      }
    }
    update_delivery_stats();
    notify_progress();
  }

  void acknowledge(Connection& conn, AckWindow::Id id) {
    auto it = conn.ack_info.find(static_cast<std::uint64_t>(id));
    if (it == conn.ack_info.end()) return;
    const auto info = it->second;
    conn.ack_info.erase(it);
    if (info.qos == 0) return;
    if (info.qos == 2) conn.qos2[info.packet_id] = Connection::Qos2::kReleased;
    encode(response_packet(info.qos == 1 ? PacketType::kPuback : PacketType::kPubrec, info.packet_id), conn.version,
           conn.out);
    ++conn.acks_out;
  }

  // --- keepalive -------------------------------------------------------------

  // A PINGREQ goes when nothing was sent for three quarters of the
  // keepalive (checked every quarter, so it is out before the keepalive
  // ends). Silence for 1.5 keepalives while the socket is read means the
  // connection is dead; while reading is paused the PINGRESP cannot be
  // seen, so silence is not held against the broker then.
  awaitable<void> keepalive_loop(std::shared_ptr<SessionImpl> self, std::shared_ptr<Connection> conn) {
    (void)self;
    const Clock::duration keep_alive = conn->keep_alive;
    const auto tick = std::max<Clock::duration>(keep_alive / 4, 100ms);
    error_code ec;
    while (conn->usable()) {
      conn->keepalive.expires_after(tick);
      co_await conn->keepalive.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (!conn->usable()) break;
      const auto now = Clock::now();
      if (!conn->socket_paused && now - conn->last_received > keep_alive * 3 / 2) {
        end_connection(*conn, "lost the connection to " + settings_.endpoint.url + " (nothing from the broker for " +
                                  seconds_text(now - conn->last_received) + ", keepalive " +
                                  seconds_text(keep_alive) + ")");
        break;
      }
      if (now - conn->last_sent >= keep_alive * 3 / 4 && conn->out.empty() && !conn->writing) {
        encode(Ping{PacketType::kPingreq}, conn->version, conn->out);
        wake_writer(*conn);
      }
    }
  }

  // --- drain and close -------------------------------------------------------

  bool drained() const {
    if (outbox_.pending() != 0) return false;
    if (!conn_ || !conn_->usable() || !conn_->established) return true;
    const bool acks_held = conn_->acks.pending() > conn_->unsettled;
    return !acks_held && conn_->out.empty() && !conn_->writing;
  }

  void notify_progress() { progress_.cancel(); }

  awaitable<void> drain(std::shared_ptr<SessionImpl> self, Clock::time_point deadline) {
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

  void shut_down() {
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

  // --- state and stats -------------------------------------------------------

  void set_state(SessionState state, const std::string& why) {
    if (closed_) return;
    state_ = state;
    if (!close_requested_ && callbacks_.on_state) callbacks_.on_state(state, why);
  }

  void update_delivery_stats() {
    unsettled_count_.store(unsettled_.size(), std::memory_order_relaxed);
    reading_paused_.store(unsettled_.size() >= settings_.window, std::memory_order_relaxed);
  }

  void update_stats() {
    outgoing_pending_.store(outbox_.pending(), std::memory_order_relaxed);
    published_.store(outbox_.completed(), std::memory_order_relaxed);
  }

  asio::strand<asio::io_context::executor_type> strand_;
  const SessionSettings settings_;
  const Callbacks callbacks_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<TlsContext> tls_;
  asio::steady_timer retry_timer_;
  asio::steady_timer progress_;  // cancelled whenever a drain may have finished
  std::minstd_rand random_;

  // Strand only.
  std::shared_ptr<Connection> conn_;
  std::uint64_t generation_ = 0;
  std::uint64_t next_delivery_id_ = 1;
  std::unordered_map<std::uint64_t, std::uint64_t> unsettled_;  // delivery id -> connection generation
  Outbox outbox_;
  bool session_present_ = false;
  bool intake_stopped_ = false;
  bool disconnecting_ = false;
  std::string client_id_;  // as sent, or as the broker assigned it
  bool closed_ = false;
  UniqueFunction<void()> disconnect_done_;

  // Any thread.
  std::atomic<bool> close_requested_{false};
  std::atomic<SessionState> state_{SessionState::kDisconnected};
  std::atomic<std::uint64_t> connects_{0}, losses_{0}, received_{0}, acknowledged_{0}, published_{0};
  std::atomic<std::size_t> unsettled_count_{0}, outgoing_pending_{0};
  std::atomic<bool> reading_paused_{false};
};

}  // namespace

std::shared_ptr<Session> Session::create(asio::io_context& io, SessionSettings settings, Callbacks callbacks,
                                         std::string log_name) {
  return std::make_shared<SessionImpl>(io, std::move(settings), std::move(callbacks), std::move(log_name));
}

}  // namespace edgefn::mqtt
