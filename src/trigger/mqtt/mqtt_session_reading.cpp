#include "trigger/mqtt/mqtt_session_impl.hpp"

namespace edgefn::mqtt::session_detail {

using namespace std::chrono_literals;

awaitable<void> SessionImpl::read_loop(std::shared_ptr<SessionImpl> self, std::shared_ptr<Connection> conn) {
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
    } else if (conn->held_bytes >= kHeldBytesLimit) {
      end_connection(*conn, "holding " + std::to_string(conn->held_bytes / (1024 * 1024)) +
                                " MiB of messages while waiting for the broker's acknowledgements of our own " +
                                "publishes; reconnecting, the broker redelivers what was not acknowledged");
      break;
    } else if (conn->held_bytes >= kHeldBytesCap && outbox_.awaiting_broker() == 0) {
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

bool SessionImpl::process_input(Connection& conn) {
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

void SessionImpl::protocol_error(Connection& conn, const DecodeError& error) {
  end_with_disconnect(conn, error.reason_code,
                      "the broker sent a malformed packet (" + error.message + "); reconnecting");
}

void SessionImpl::handle(Connection& conn, Packet&& packet, std::size_t size) {
  if (auto* p = std::get_if<Publish>(&packet)) return on_publish(conn, std::move(*p), size);
  if (auto* r = std::get_if<PublishResponse>(&packet)) return on_response(conn, *r);
  if (auto* s = std::get_if<Suback>(&packet)) return on_suback(conn, *s);
  if (auto* d = std::get_if<Disconnect>(&packet)) return on_disconnect(conn, *d);
  if (auto* ping = std::get_if<Ping>(&packet); ping && ping->type == PacketType::kPingresp) return;
  end_with_disconnect(conn, reason::kProtocolError,
                      std::string{"the broker sent an unexpected "} + to_string(type_of(packet)) + "; reconnecting");
}

void SessionImpl::on_publish(Connection& conn, Publish&& publish, std::size_t size) {
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

void SessionImpl::deliver_held(Connection& conn) {
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

void SessionImpl::drop_held(Connection& conn) {
  for (const auto& [p, size] : conn.held)
    if (p.qos == 2) conn.qos2.erase(p.packet_id);
  conn.held.clear();
  conn.held_bytes = 0;
  conn.resume_reading.cancel();
}

void SessionImpl::on_response(Connection& conn, const PublishResponse& response) {
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

void SessionImpl::on_suback(Connection& conn, const Suback& suback) {
  if (suback.type != PacketType::kSuback || suback.packet_id != conn.subscribe_id || conn.subscribe_id == 0) return;
  conn.subscribe_id = 0;
  for (std::size_t i = 0; i < suback.reason_codes.size() && i < settings_.subscriptions.size(); ++i) {
    if (suback.reason_codes[i] >= 0x80)
      logger_->error("the broker refused the subscription to '{}': {}", settings_.subscriptions[i].filter,
                     reason_text(suback.reason_codes[i]));
  }
  report_connected();
}

void SessionImpl::on_disconnect(Connection& conn, const Disconnect& disconnect) {
  std::string why = "the broker closed the connection: ";
  if (disconnect.reason_code == reason::kSessionTakenOver)
    why += "another client connected with client ID '" + client_id_ + "' (Session taken over)";
  else
    why += reason_text(disconnect.reason_code);
  if (disconnect.properties.reason_string) why += " - " + *disconnect.properties.reason_string;
  end_connection(conn, why);
}

void SessionImpl::on_settle(std::uint64_t id) {
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

void SessionImpl::acknowledge(Connection& conn, AckWindow::Id id) {
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

awaitable<void> SessionImpl::keepalive_loop(std::shared_ptr<SessionImpl> self, std::shared_ptr<Connection> conn) {
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

}  // namespace edgefn::mqtt::session_detail
