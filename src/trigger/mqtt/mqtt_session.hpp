#pragma once
// One MQTT client session on the daemon's io_context: connects (TCP, TLS,
// WebSocket, WebSocket over TLS), subscribes, keeps the connection alive,
// reconnects with capped exponential backoff and resubscribes, hands every
// PUBLISH to its owner and acknowledges it only when the owner settles it.
// No thread of its own: everything runs on the strand given at
// construction, so a handler that runs for minutes never holds back a
// keepalive, and another connection never waits for this one.
//
// Delivery contract (what the MQTT trigger builds at-least-once on):
// - Every incoming PUBLISH becomes one Delivery, in arrival order, each
//   with a fresh id. The owner calls settle(id) for every delivery (QoS 0
//   too) when it is done with it.
// - QoS 1: PUBACK is sent when the delivery is settled. QoS 2: PUBREC is
//   sent when it is settled (so QoS 2 is at-least-once, like QoS 1), then
//   PUBREL is answered with PUBCOMP. Acknowledgements go out in arrival
//   order (MQTT 3.1.1 4.6): a settled delivery waits for earlier ones.
// - A delivery whose connection was lost before it was settled is not
//   acknowledged: the broker redelivers it on the next connection of a
//   persistent session (possibly as a duplicate of one being handled).
// - Flow control: at `window` deliveries not yet settled (those of a lost
//   connection too, their handlers still run), the session delivers no
//   more until one is settled. It reads on, holding up to 1 MiB of PUBLISH
//   packets, so that PUBACKs for our own publishes (which a delivery may be
//   waiting for) and PINGRESPs still arrive; past that it stops reading
//   the socket (the broker buffers). PINGREQs always go out. MQTT 5 also
//   tells the broker (Receive Maximum = window).
// - Outgoing publishes (responses, error topic, handlers' own) complete
//   when the broker took them (QoS 0: written; QoS 1: PUBACK; QoS 2:
//   PUBCOMP). Unacknowledged ones are resent (DUP) after a reconnect; a
//   publish never fails for a lost connection, only for close().
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "host/host_services.hpp"
#include "trigger/mqtt/mqtt_codec.hpp"
#include "trigger/mqtt/mqtt_settings.hpp"
#include "util/asio.hpp"
#include "util/json.hpp"
#include "util/unique_function.hpp"

namespace edgefn::mqtt {

enum class SessionState {
  kConnecting,    // resolving, connecting, handshaking, waiting for CONNACK, subscribing
  kConnected,     // CONNACK accepted and every subscription granted or refused
  kDisconnected,  // lost or refused; a retry is scheduled
  kClosed,        // after disconnect() completed or close()
};
const char* to_string(SessionState state) noexcept;

struct Delivery {
  std::uint64_t id = 0;  // for settle(); grows in arrival order
  Publish publish;       // topic resolved when it came as an MQTT 5 alias
};

// Counters for /status and metrics; read on any thread.
struct SessionStats {
  std::uint64_t connects = 0;          // CONNACKs accepted
  std::uint64_t connection_losses = 0;
  std::uint64_t received = 0;          // PUBLISH packets
  std::uint64_t acknowledged = 0;      // PUBACK / PUBREC sent
  std::uint64_t published = 0;         // outgoing publishes the broker took
  std::size_t unsettled = 0;           // deliveries not yet settled
  std::size_t outgoing_pending = 0;    // outgoing publishes not yet taken
  bool reading_paused = false;         // at the window: nothing more is delivered until a settle
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  struct Callbacks {
    // A message to handle. On the strand; must not call back into the
    // session synchronously except settle().
    std::function<void(Delivery)> on_message;
    // Every state change, with a sentence saying why ("connection refused:
    // Bad User Name or Password", "the broker closed the connection: another
    // client connected with client ID 'x' (Session taken over)", "retrying in
    // 4 s"). On the strand.
    std::function<void(SessionState, const std::string& why)> on_state;
  };

  // `log_name` names the trigger in log lines. Start-up thread.
  static std::shared_ptr<Session> create(asio::io_context& io, SessionSettings settings, Callbacks callbacks,
                                         std::string log_name);
  virtual ~Session() = default;

  // Begins connecting; returns at once. Once.
  virtual void start() = 0;

  // The owner is done with delivery `id` (handled, or given up on by the
  // failure policy). Any thread; unknown or repeated ids are ignored.
  virtual void settle(std::uint64_t id) noexcept = 0;

  // Publishes `message` (QoS 0-2, retain, MQTT 5 properties such as
  // correlation data); `done` runs once, on the strand, when the broker
  // took it, or with an error after close() or for a message the broker
  // cannot take (too large for its Maximum Packet Size, QoS above its
  // Maximum QoS is lowered, not refused). Any thread.
  virtual void publish(Publish message, PublishDone done) noexcept = 0;

  // Reads no more PUBLISH packets (drain): what was delivered can still be
  // settled and is acknowledged. Any thread; idempotent.
  virtual void stop_intake() noexcept = 0;

  // Waits until every settled delivery's acknowledgement and every
  // outgoing publish has gone out (or `deadline`), then sends DISCONNECT
  // (normal: the will is not published), closes, and calls `done` on the
  // strand. Any thread; once.
  virtual void disconnect(std::chrono::steady_clock::time_point deadline, UniqueFunction<void()> done) noexcept = 0;

  // Closes now: pending publishes fail, nothing more is acknowledged (the
  // broker redelivers; acknowledgements written just before may be lost
  // with the reset connection: disconnect() is the orderly end). Any
  // thread; idempotent. Neither close() nor disconnect() reports kClosed
  // through on_state (their caller knows), and no callback starts once
  // close() has returned (one running on another thread may finish), so
  // an owner may close and then go away.
  virtual void close() noexcept = 0;

  virtual SessionState state() const noexcept = 0;  // any thread
  virtual SessionStats stats() const noexcept = 0;  // any thread
};

}  // namespace edgefn::mqtt
