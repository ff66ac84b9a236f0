#pragma once
// The byte stream an MQTT session runs over: TCP, TLS (OpenSSL through
// asio::ssl), WebSocket or WebSocket over TLS (Beast; subprotocol "mqtt",
// binary messages). The session sees one read_some/write/close whatever the
// broker URL's scheme, so its logic is written once.
//
// Threading: a Transport is used from one strand (the session's), one read
// and one write outstanding at most. Nothing blocks; every operation
// completes with an error once close() was called, which is how the
// session's timeouts (built from timers, Boost 1.74 has no cancellation
// slots) stop an operation.
#include <cstddef>
#include <memory>
#include <string>
#include <variant>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "trigger/mqtt/mqtt_settings.hpp"
#include "util/asio.hpp"

namespace edgefn::mqtt {

// The TLS configuration of one session, loaded once: CA file (else the
// system's default paths), client certificate and key, verification mode.
// A file that cannot be loaded is not fatal here: every connection attempt
// fails with `error`, so the trigger keeps retrying and says why.
struct TlsContext {
  asio::ssl::context context{asio::ssl::context::tls_client};
  std::string error;  // empty when the context is usable
  bool verify = true;  // false: insecure_skip_verify
};
// Start-up thread (reads the files).
std::shared_ptr<TlsContext> make_tls_context(const TlsSettings& settings);

class Transport {
 public:
  using tcp = asio::ip::tcp;

  // `tls` is needed for the two TLS transports only.
  Transport(asio::any_io_executor executor, const Endpoint& endpoint, std::shared_ptr<TlsContext> tls);

  // Resolves, connects to the first address that answers, then does the
  // TLS and WebSocket handshakes the endpoint needs. An error says which
  // step failed ("TLS handshake: certificate verify failed").
  awaitable<error_code> open(std::string& failed_step);

  // Some bytes into `buffer` (at least one, unless an error).
  awaitable<std::size_t> read_some(asio::mutable_buffer buffer, error_code& ec);
  // All of `data` (one binary WebSocket message).
  awaitable<void> write(asio::const_buffer data, error_code& ec);

  // Ends our direction (TCP FIN) and keeps reading possible: after a last
  // packet, reading on to the broker's own close keeps the kernel from
  // answering the broker's late bytes with a reset, which can make the
  // broker discard what we wrote last.
  void shutdown_send() noexcept;

  // Closes the socket under every layer: pending operations complete with
  // an error. No TLS close_notify or WebSocket close frame: MQTT's own
  // DISCONNECT is the orderly end. Idempotent.
  void close() noexcept;

 private:
  using TlsStream = asio::ssl::stream<tcp::socket>;
  using WsStream = boost::beast::websocket::stream<tcp::socket>;
  using WssStream = boost::beast::websocket::stream<TlsStream>;

  tcp::socket& socket() noexcept;
  awaitable<error_code> tls_handshake(TlsStream& stream, std::string& failed_step);
  template <class Ws>
  awaitable<error_code> ws_handshake(Ws& ws, std::string& failed_step);

  asio::any_io_executor executor_;
  Endpoint endpoint_;
  std::shared_ptr<TlsContext> tls_;
  tcp::resolver resolver_;
  bool closed_ = false;  // close() was called: open() goes no further
  std::variant<tcp::socket, TlsStream, WsStream, WssStream> stream_;
};

}  // namespace edgefn::mqtt
