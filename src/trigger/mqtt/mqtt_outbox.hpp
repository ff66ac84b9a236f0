#pragma once
// The session's outgoing publishes, from publish() until the broker took
// them: packet ids, the broker's Receive Maximum, resending after a
// reconnect. No I/O: the session asks it what to put on the wire next and
// tells it what the broker answered. Strand only.
//
// Order is kept: messages go out in the order publish() was called, and
// one that waits for the broker's Receive Maximum holds back the ones
// after it (a QoS 0 message never overtakes an earlier QoS 1 one).
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "host/host_services.hpp"
#include "trigger/mqtt/mqtt_codec.hpp"

namespace edgefn::mqtt {

// PUBACK, PUBREC, PUBREL or PUBCOMP for `packet_id`, reason success.
inline PublishResponse response_packet(PacketType type, std::uint16_t packet_id) {
  PublishResponse r;
  r.type = type;
  r.packet_id = packet_id;
  return r;
}

class Outbox {
 public:
  // What the broker said in CONNACK, for the connection now starting.
  struct Limits {
    std::size_t receive_maximum = 65535;  // QoS > 0 publishes in flight
    std::optional<std::size_t> maximum_packet_size;
    std::uint8_t maximum_qos = 2;
    bool session_present = false;
  };

  void add(Publish message, PublishDone done);

  // A new connection: nothing is on its wire. With the broker's session
  // present, unacknowledged publishes go again with DUP and released QoS 2
  // ones as PUBREL; without, every one goes again as new.
  void restart(const Limits& limits);

  // Encodes into `out` what may go now, within the Receive Maximum; QoS 0
  // messages encoded are appended to `qos0_written` (their sequence
  // numbers), to complete once written. A message larger than the
  // broker's Maximum Packet Size fails at once. `reserved_id` (a pending
  // SUBSCRIBE's) is never handed out.
  void pump(Version version, std::string& out, std::vector<std::uint64_t>& qos0_written, std::uint16_t reserved_id);

  // A QoS 0 message written to the socket.
  void written(std::uint64_t seq);

  // PUBACK, PUBREC or PUBCOMP from the broker. A PUBREC asks for a PUBREL,
  // appended to `out`.
  void on_response(const PublishResponse& response, Version version, std::string& out);

  // Fails every message (close()).
  void fail_all(const std::string& why);

  // A packet id for a SUBSCRIBE, not used by any publish; 0 when every id is
  // taken (65,535 publishes in flight).
  std::uint16_t allocate_id(std::uint16_t reserved_id = 0);

  std::size_t pending() const noexcept { return messages_.size(); }
  // QoS > 0 publishes on this connection's wire that the broker has yet to
  // answer: while there are any, an answer is on its way.
  std::size_t awaiting_broker() const noexcept { return in_flight_; }
  std::uint64_t completed() const noexcept { return completed_; }

 private:
  struct Message {
    Packet packet;  // a Publish; kept as a Packet so encode() needs no copy
    PublishDone done;
    bool released = false;  // QoS 2: PUBREC came, PUBREL is what goes next
    bool sent = false;      // on some connection
    bool on_wire = false;   // on this connection
  };
  static Publish& publish_of(Message& m) { return std::get<Publish>(m.packet); }
  void complete(std::map<std::uint64_t, Message>::iterator it, PublishOutcome outcome);

  std::map<std::uint64_t, Message> messages_;  // by sequence number, in publish() order
  std::unordered_map<std::uint16_t, std::uint64_t> by_id_;
  std::uint64_t next_seq_ = 1;
  std::uint16_t next_id_ = 1;
  std::size_t in_flight_ = 0;  // QoS > 0, on this connection's wire
  Limits limits_;
  std::uint64_t completed_ = 0;
};

}  // namespace edgefn::mqtt
