#include "trigger/mqtt/mqtt_outbox.hpp"

#include <algorithm>

namespace edgefn::mqtt {

void Outbox::add(Publish message, PublishDone done) {
  message.packet_id = 0;
  message.dup = false;
  messages_.emplace(next_seq_++, Message{Packet{std::move(message)}, std::move(done)});
}

void Outbox::restart(const Limits& limits) {
  limits_ = limits;
  limits_.receive_maximum = std::max<std::size_t>(limits_.receive_maximum, 1);
  in_flight_ = 0;
  for (auto& [seq, m] : messages_) {
    m.on_wire = false;
    // Without the broker's session a PUBREC it sent is forgotten: the
    // message goes again from the start (a duplicate at worst, never a loss).
    if (!limits.session_present) m.released = false;
  }
}

std::uint16_t Outbox::allocate_id(std::uint16_t reserved_id) {
  for (int tries = 0; tries < 65535; ++tries) {
    const std::uint16_t id = next_id_;
    next_id_ = next_id_ == 65535 ? 1 : static_cast<std::uint16_t>(next_id_ + 1);
    if (id != reserved_id && !by_id_.contains(id)) return id;
  }
  return 0;
}

void Outbox::pump(Version version, std::string& out, std::vector<std::uint64_t>& qos0_written,
                  std::uint16_t reserved_id) {
  for (auto it = messages_.begin(); it != messages_.end();) {
    auto& m = it->second;
    if (m.on_wire) {
      ++it;
      continue;
    }
    auto& p = publish_of(m);
    // Lowered, not refused: the broker would otherwise end the connection.
    p.qos = std::min(p.qos, limits_.maximum_qos);
    if (p.qos > 0) {
      if (in_flight_ >= limits_.receive_maximum) break;
      if (p.packet_id == 0) {
        p.packet_id = allocate_id(reserved_id);
        if (p.packet_id == 0) break;
        by_id_[p.packet_id] = it->first;
      }
    } else if (p.packet_id != 0) {
      // Lowered to QoS 0 after it had gone out with an id.
      by_id_.erase(p.packet_id);
      p.packet_id = 0;
    }
    const auto before = out.size();
    if (m.released) {
      encode(response_packet(PacketType::kPubrel, p.packet_id), version, out);
    } else {
      p.dup = m.sent && limits_.session_present && p.qos > 0;
      encode(m.packet, version, out);
      if (limits_.maximum_packet_size && out.size() - before > *limits_.maximum_packet_size) {
        const auto size = out.size() - before;
        out.resize(before);
        complete(it++, tl::unexpected("message of " + std::to_string(size) +
                                      " bytes is larger than the broker's Maximum Packet Size of " +
                                      std::to_string(*limits_.maximum_packet_size)));
        continue;
      }
    }
    m.sent = true;
    m.on_wire = true;
    if (p.qos > 0)
      ++in_flight_;
    else
      qos0_written.push_back(it->first);
    ++it;
  }
}

void Outbox::written(std::uint64_t seq) {
  auto it = messages_.find(seq);
  if (it != messages_.end() && publish_of(it->second).qos == 0 && it->second.on_wire) complete(it, {});
}

void Outbox::on_response(const PublishResponse& response, Version version, std::string& out) {
  auto id = by_id_.find(response.packet_id);
  if (id == by_id_.end()) {
    // A PUBREC for a message completed before: the broker still waits for
    // the PUBREL that ends the exchange.
    if (response.type == PacketType::kPubrec && response.reason_code < 0x80)
      encode(response_packet(PacketType::kPubrel, response.packet_id), version, out);
    return;
  }
  auto it = messages_.find(id->second);
  auto& m = it->second;
  const auto qos = publish_of(m).qos;
  auto refused = [&](const char* packet) {
    std::string why = std::string{"the broker refused the message ("} + packet + " " + reason_text(response.reason_code);
    if (response.properties.reason_string) why += ": " + *response.properties.reason_string;
    return tl::unexpected(why + ")");
  };
  switch (response.type) {
    case PacketType::kPuback:
      if (qos != 1) return;
      complete(it, response.reason_code >= 0x80 ? PublishOutcome{refused("PUBACK")} : PublishOutcome{});
      return;
    case PacketType::kPubrec:
      if (qos != 2) return;
      if (response.reason_code >= 0x80) {
        complete(it, refused("PUBREC"));
        return;
      }
      m.released = true;
      encode(response_packet(PacketType::kPubrel, response.packet_id), version, out);
      return;
    case PacketType::kPubcomp:
      if (qos != 2 || !m.released) return;
      complete(it, response.reason_code >= 0x80 ? PublishOutcome{refused("PUBCOMP")} : PublishOutcome{});
      return;
    default: return;
  }
}

void Outbox::complete(std::map<std::uint64_t, Message>::iterator it, PublishOutcome outcome) {
  auto& m = it->second;
  const auto& p = publish_of(m);
  if (p.packet_id != 0) by_id_.erase(p.packet_id);
  if (m.on_wire && p.qos > 0) --in_flight_;
  auto done = std::move(m.done);
  if (outcome) ++completed_;
  messages_.erase(it);
  if (done) done(std::move(outcome));
}

void Outbox::fail_all(const std::string& why) {
  while (!messages_.empty()) complete(messages_.begin(), tl::unexpected(why));
}

}  // namespace edgefn::mqtt
