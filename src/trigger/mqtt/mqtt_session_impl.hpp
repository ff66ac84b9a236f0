#pragma once
// The MQTT session's implementation, shared by mqtt_session.cpp (the
// connection loop, writing, drain and close) and mqtt_session_reading.cpp
// (reading, deliveries and their acknowledgements, keepalive). Private to
// those two files; the contract is in mqtt_session.hpp.
#include <algorithm>
#include <atomic>
#include <deque>
#include <random>
#include <unordered_map>

#include "log/log.hpp"
#include "trigger/mqtt/mqtt_outbox.hpp"
#include "trigger/mqtt/mqtt_session.hpp"
#include "trigger/mqtt/mqtt_transport.hpp"
#include "worker/acknowledgement.hpp"

namespace edgefn::mqtt::session_detail {


using Clock = std::chrono::steady_clock;

// PUBLISH packets read past the window are kept decoded, up to this many
// bytes, before the socket stops being read: the broker's PUBACKs for our
// own publishes (which deliveries may be waiting for) and its PINGRESPs
// keep arriving behind them. Past it, reading stops until a settle.
constexpr std::size_t kHeldBytesCap = 1024 * 1024;
// But not while the broker owes us an answer to one of our own QoS > 0
// publishes: a delivery whose response awaits its PUBACK settles only when
// that PUBACK is read, and it comes behind what the broker sent since.
// Reading then goes on up to this much held; past it the connection is
// dropped and the persistent session redelivers what was held.
constexpr std::size_t kHeldBytesLimit = 32 * kHeldBytesCap;
constexpr std::size_t kReadChunk = 16 * 1024;
// A connection that ends sooner than this after its CONNACK does not reset
// the backoff: two clients taking the same client ID from each other
// would otherwise reconnect at the minimum backoff forever.
constexpr std::chrono::seconds kStableConnection{1};

inline std::string seconds_text(Clock::duration d) {
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
  awaitable<void> run(std::shared_ptr<SessionImpl> self);
  Clock::duration backoff(int attempt);
  // Connects and sends CONNECT, reads CONNACK; on success starts the
  // connection's reader, writer and keepalive and returns "". Else why not.
  awaitable<std::string> open_connection(std::shared_ptr<Connection> conn);
  awaitable<std::string> handshake(Connection& conn, std::string& step);
  void established(Connection& conn, const Connack& connack, const Connect& sent);
  void report_connected();
  // Ends `conn` (idempotent): closes the socket and wakes its loops.
  void end_connection(Connection& conn, const std::string& why);
  // Ends the connection after writing what is queued and, on MQTT 5, a
  // DISCONNECT with `reason` (a protocol error of the broker's, or ours
  // going away).
  void end_with_disconnect(Connection& conn, std::uint8_t reason, const std::string& why);
  // --- writing ---------------------------------------------------------------
  void wake_writer(Connection& conn);
  void pump();
  awaitable<void> write_loop(std::shared_ptr<SessionImpl> self, std::shared_ptr<Connection> conn);

  // --- reading ---------------------------------------------------------------
  awaitable<void> read_loop(std::shared_ptr<SessionImpl> self, std::shared_ptr<Connection> conn);
  // Decodes and handles the complete packets in `conn.in`. False when the
  // connection ends.
  bool process_input(Connection& conn);
  void protocol_error(Connection& conn, const DecodeError& error);
  void handle(Connection& conn, Packet&& packet, std::size_t size);
  void on_publish(Connection& conn, Publish&& publish, std::size_t size);
  void deliver_held(Connection& conn);
  void drop_held(Connection& conn);
  void on_response(Connection& conn, const PublishResponse& response);
  void on_suback(Connection& conn, const Suback& suback);
  void on_disconnect(Connection& conn, const Disconnect& disconnect);
  // --- acknowledgements ------------------------------------------------------
  void on_settle(std::uint64_t id);
  void acknowledge(Connection& conn, AckWindow::Id id);
  // --- keepalive -------------------------------------------------------------
  // A PINGREQ goes when nothing was sent for three quarters of the
  // keepalive (checked every quarter, so it is out before the keepalive
  // ends). Silence for 1.5 keepalives while the socket is read means the
  // connection is dead; while reading is paused the PINGRESP cannot be
  // seen, so silence is not held against the broker then.
  awaitable<void> keepalive_loop(std::shared_ptr<SessionImpl> self, std::shared_ptr<Connection> conn);

  // --- drain and close -------------------------------------------------------
  bool drained() const;
  void notify_progress() { progress_.cancel(); }
  awaitable<void> drain(std::shared_ptr<SessionImpl> self, Clock::time_point deadline);
  void shut_down();

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

}  // namespace edgefn::mqtt::session_detail
