#include "trigger/mqtt/mqtt_transport.hpp"

#include <openssl/ssl.h>

namespace edgefn::mqtt {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;

}  // namespace

std::shared_ptr<TlsContext> make_tls_context(const TlsSettings& settings) {
  auto tls = std::make_shared<TlsContext>();
  auto& ctx = tls->context;
  try {
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    tls->verify = !settings.insecure_skip_verify;
    if (settings.insecure_skip_verify) {
      ctx.set_verify_mode(ssl::verify_none);
    } else {
      ctx.set_verify_mode(ssl::verify_peer);
      if (settings.ca_cert.empty())
        ctx.set_default_verify_paths();
      else
        ctx.load_verify_file(settings.ca_cert);
    }
    if (!settings.client_cert.empty()) ctx.use_certificate_chain_file(settings.client_cert);
    if (!settings.client_key.empty()) ctx.use_private_key_file(settings.client_key, ssl::context::pem);
  } catch (const boost::system::system_error& e) {
    tls->error = "TLS setup: " + std::string{e.what()};
  }
  return tls;
}

Transport::Transport(asio::any_io_executor executor, const Endpoint& endpoint, std::shared_ptr<TlsContext> tls)
    : executor_(executor),
      endpoint_(endpoint),
      tls_(std::move(tls)),
      resolver_(executor),
      stream_(std::in_place_index<0>, executor) {
  switch (endpoint_.transport) {
    case Endpoint::Transport::kTcp: break;
    case Endpoint::Transport::kTls: stream_.emplace<TlsStream>(executor, tls_->context); break;
    case Endpoint::Transport::kWebSocket: stream_.emplace<WsStream>(executor); break;
    case Endpoint::Transport::kWebSocketTls: stream_.emplace<WssStream>(executor, tls_->context); break;
  }
}

Transport::tcp::socket& Transport::socket() noexcept {
  return std::visit([](auto& s) -> tcp::socket& { return beast::get_lowest_layer(s); }, stream_);
}

awaitable<error_code> Transport::open(std::string& failed_step) {
  error_code ec;
  if (endpoint_.tls() && (!tls_ || !tls_->error.empty())) {
    failed_step = tls_ ? tls_->error : "TLS setup";
    co_return asio::error::invalid_argument;
  }
  failed_step = "resolving " + endpoint_.host;
  auto addresses = co_await resolver_.async_resolve(endpoint_.host, std::to_string(endpoint_.port),
                                                    asio::redirect_error(asio::use_awaitable, ec));
  if (!ec && closed_) ec = asio::error::operation_aborted;
  if (ec) co_return ec;
  failed_step = "connecting to " + endpoint_.host + ":" + std::to_string(endpoint_.port);
  co_await asio::async_connect(socket(), addresses, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return ec;
  socket().set_option(tcp::no_delay(true), ec);
  ec = {};
  if (auto* s = std::get_if<TlsStream>(&stream_)) co_return co_await tls_handshake(*s, failed_step);
  if (auto* s = std::get_if<WsStream>(&stream_)) co_return co_await ws_handshake(*s, failed_step);
  if (auto* s = std::get_if<WssStream>(&stream_)) {
    ec = co_await tls_handshake(s->next_layer(), failed_step);
    if (ec) co_return ec;
    co_return co_await ws_handshake(*s, failed_step);
  }
  co_return ec;
}

awaitable<error_code> Transport::tls_handshake(TlsStream& stream, std::string& failed_step) {
  failed_step = "TLS handshake with " + endpoint_.host;
  // SNI: brokers behind one address (cloud brokers, proxies) pick the
  // certificate by it.
  SSL_set_tlsext_host_name(stream.native_handle(), endpoint_.host.c_str());
  // verify_none in the context makes the callback moot (no verification
  // happens); otherwise the certificate must name the host.
  if (tls_->verify) stream.set_verify_callback(ssl::host_name_verification(endpoint_.host));
  error_code ec;
  co_await stream.async_handshake(ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

template <class Ws>
awaitable<error_code> Transport::ws_handshake(Ws& ws, std::string& failed_step) {
  failed_step = "WebSocket handshake with " + endpoint_.url;
  ws.binary(true);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& req) { req.set(beast::http::field::sec_websocket_protocol, "mqtt"); }));
  // The session's own limit applies to MQTT packets; a WebSocket message
  // may carry several, so Beast's limit stays off.
  ws.read_message_max(0);
  std::string host = endpoint_.host;
  const bool default_port = endpoint_.port == (endpoint_.tls() ? 443 : 80);
  if (!default_port) host += ":" + std::to_string(endpoint_.port);
  // A local, not a conditional expression inside the co_await: GCC 12
  // frees such a temporary wrongly across the suspension.
  const std::string target = endpoint_.path.empty() ? std::string{"/"} : endpoint_.path;
  error_code ec;
  co_await ws.async_handshake(host, target, asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

awaitable<std::size_t> Transport::read_some(asio::mutable_buffer buffer, error_code& ec) {
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  if (auto* s = std::get_if<WsStream>(&stream_)) co_return co_await s->async_read_some(buffer, token);
  if (auto* s = std::get_if<WssStream>(&stream_)) co_return co_await s->async_read_some(buffer, token);
  if (auto* s = std::get_if<TlsStream>(&stream_)) co_return co_await s->async_read_some(buffer, token);
  co_return co_await std::get<tcp::socket>(stream_).async_read_some(buffer, token);
}

awaitable<void> Transport::write(asio::const_buffer data, error_code& ec) {
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  if (auto* ws = std::get_if<WsStream>(&stream_))
    co_await ws->async_write(data, token);
  else if (auto* wss = std::get_if<WssStream>(&stream_))
    co_await wss->async_write(data, token);
  else if (auto* tls = std::get_if<TlsStream>(&stream_))
    co_await asio::async_write(*tls, data, token);
  else
    co_await asio::async_write(std::get<tcp::socket>(stream_), data, token);
}

void Transport::shutdown_send() noexcept {
  error_code ignored;
  socket().shutdown(tcp::socket::shutdown_send, ignored);
}

void Transport::close() noexcept {
  closed_ = true;
  resolver_.cancel();
  error_code ignored;
  auto& s = socket();
  s.shutdown(tcp::socket::shutdown_both, ignored);
  s.close(ignored);
}

}  // namespace edgefn::mqtt
