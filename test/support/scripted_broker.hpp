#pragma once
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <optional>
#include <string>

#include "trigger/mqtt/mqtt_codec.hpp"
#include "util/asio.hpp"

namespace edgefn::test {

using namespace edgefn::mqtt;

// A broker played by the test over a raw socket, for what mosquitto 2.0.11
// does not do: DISCONNECT with "Session taken over" (it just closes), a
// topic alias, a QoS 2 resend. Blocking, each step bounded by a timeout.
class ScriptedBroker {
 public:
  ScriptedBroker() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}), socket_(io_) {}
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  bool accept() {
    socket_ = asio::ip::tcp::socket(io_);
    pollfd pfd{acceptor_.native_handle(), POLLIN, 0};
    if (::poll(&pfd, 1, 10'000) != 1) return false;
    acceptor_.accept(socket_);
    timeval tv{10, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    in_.clear();
    return true;
  }
  // The next packet from the client; nullopt on timeout, close or garbage.
  std::optional<Packet> read() {
    for (;;) {
      auto size = frame_size(in_, kMaxPacketSize);
      if (!size) return std::nullopt;
      if (*size != 0 && in_.size() >= *size) {
        auto packet = decode(std::string_view(in_).substr(0, *size), Version::k5);
        in_.erase(0, *size);
        if (!packet) return std::nullopt;
        return *packet;
      }
      char buf[4096];
      const auto n = ::recv(socket_.native_handle(), buf, sizeof buf, 0);
      if (n <= 0) return std::nullopt;
      in_.append(buf, static_cast<std::size_t>(n));
    }
  }
  // The next packet that is not a PINGREQ.
  std::optional<Packet> read_skipping_pings() {
    for (;;) {
      auto p = read();
      if (!p || type_of(*p) != PacketType::kPingreq) return p;
    }
  }
  void send(const Packet& packet) {
    std::string bytes;
    encode(packet, Version::k5, bytes);
    asio::write(socket_, asio::buffer(bytes));
  }
  // Reads CONNECT and SUBSCRIBE, answers both.
  bool handshake() {
    auto connect = read();
    if (!connect || type_of(*connect) != PacketType::kConnect) return false;
    send(Connack{});
    auto subscribe = read();
    if (!subscribe || type_of(*subscribe) != PacketType::kSubscribe) return false;
    Suback suback;
    suback.packet_id = std::get<Subscribe>(*subscribe).packet_id;
    suback.reason_codes = {2};
    send(suback);
    return true;
  }

 private:
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::socket socket_;
  std::string in_;
};

}  // namespace edgefn::test
