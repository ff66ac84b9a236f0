#include "trigger/http/http_trigger.hpp"

#include <sys/socket.h>

#include "config/config_error.hpp"
#include "log/log.hpp"
#include "trigger/http/http_core.hpp"
#include "trigger/http/http_wire.hpp"

namespace edgefn {
namespace {

using tcp = asio::ip::tcp;
using http_trigger::Core;

// Too many connections: a short 503 rather than a silent refusal, then close.
awaitable<void> refuse(tcp::socket socket) {
  static constexpr std::string_view kBusy =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 20\r\nConnection: close\r\n\r\ntoo many connections";
  error_code ec;
  co_await asio::async_write(socket, asio::buffer(kBusy), asio::redirect_error(asio::use_awaitable, ec));
  socket.shutdown(tcp::socket::shutdown_both, ec);
}

class HttpTrigger final : public Trigger {
 public:
  HttpTrigger(const TriggerContext& ctx, HttpSettings settings)
      : core_(std::make_shared<Core>(
            ctx.io,
            TriggerInfo{"http", ctx.config.name},
            std::move(settings),
            ctx.pool,
            ctx.config.worker_availability_timeout,
            ctx.dev_mode,
            http_trigger::Counters{EventMetrics(ctx.metrics, ctx.config.name),
             &ctx.metrics.counter("edgefn_http_rejected_total", "Requests refused before dispatch (framing, limits)",
                                  {{"trigger", ctx.config.name}}),
             &ctx.metrics.gauge("edgefn_http_connections", "Open client connections", {{"trigger", ctx.config.name}})},
            get_logger("trigger.http." + ctx.config.name))),
        acceptor_(std::make_shared<tcp::acceptor>(ctx.io)) {}

  ~HttpTrigger() override { stop(); }

  const TriggerInfo& info() const noexcept override { return core_->info; }

  void start() override {
    const auto& s = core_->settings;
    std::string shown = (s.host.empty() ? std::string{"0.0.0.0"} : s.host) + ":" + std::to_string(s.port);
    try {
      auto address = s.host.empty() ? asio::ip::address(asio::ip::address_v4::any())
                                    : asio::ip::make_address(s.host == "localhost" ? "127.0.0.1" : s.host);
      tcp::endpoint endpoint{address, s.port};
      acceptor_->open(endpoint.protocol());
      acceptor_->set_option(tcp::acceptor::reuse_address(true));
      acceptor_->bind(endpoint);
      acceptor_->listen(asio::socket_base::max_listen_connections);
      bound_ = acceptor_->local_endpoint();
    } catch (const boost::system::system_error& e) {
      throw StartError("HTTP trigger '" + core_->info.name + "' cannot listen on " + shown + ": " +
                       e.code().message() + " (set the trigger url, attributes.port or --http-listen)");
    }
    core_->logger->info("listening on {}:{}", bound_.address().to_string(), bound_.port());
    asio::co_spawn(core_->io, accept_loop(core_, acceptor_), asio::detached);
  }

  void stop_accepting() noexcept override {
    if (core_->draining.exchange(true)) return;
    close_acceptor();
    // Idle keep-alive connections would otherwise wait for their timeout.
    std::lock_guard lock(core_->mutex);
    for (const auto& [id, connection] : core_->connections)
      if (connection.idle) ::shutdown(connection.fd, SHUT_RD);
  }

  std::size_t in_flight() const noexcept override {
    std::lock_guard lock(core_->mutex);
    return core_->connections.size();
  }

  void stop() noexcept override {
    core_->draining.store(true);
    close_acceptor();
    std::lock_guard lock(core_->mutex);
    for (const auto& [id, connection] : core_->connections) ::shutdown(connection.fd, SHUT_RDWR);
  }

  void write_status(JsonWriter& out) const override {
    out.key("address").value(bound_.address().to_string() + ":" + std::to_string(bound_.port()));
    out.key("port").value(static_cast<int>(bound_.port()));
    out.key("connections").value(static_cast<std::uint64_t>(in_flight()));
    out.key("maxRequestBodySize").value(static_cast<std::uint64_t>(core_->settings.max_request_body_size));
  }

 private:
  void close_acceptor() noexcept {
    std::lock_guard lock(acceptor_mutex_);
    if (acceptor_closed_) return;
    acceptor_closed_ = true;
    // The acceptor belongs to the I/O threads; close it there.
    asio::post(core_->io, [acceptor = acceptor_] {
      error_code ec;
      acceptor->close(ec);
    });
  }

  static awaitable<void> accept_loop(std::shared_ptr<Core> core, std::shared_ptr<tcp::acceptor> acceptor) {
    asio::steady_timer backoff(core->io);
    for (;;) {
      error_code ec;
      tcp::socket socket = co_await acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor || !acceptor->is_open()) break;
      if (ec) {
        // Out of descriptors or memory: retrying at once would spin.
        core->logger->warn("accept failed: {}", ec.message());
        backoff.expires_after(std::chrono::milliseconds(100));
        co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      bool full;
      {
        std::lock_guard lock(core->mutex);
        full = core->connections.size() >= core->settings.max_connections;
      }
      if (full) {
        asio::co_spawn(core->io, refuse(std::move(socket)), asio::detached);
        continue;
      }
      asio::co_spawn(core->io, http_trigger::run_session(core, std::move(socket)), asio::detached);
    }
  }

  std::shared_ptr<Core> core_;
  std::shared_ptr<tcp::acceptor> acceptor_;
  tcp::endpoint bound_;
  std::mutex acceptor_mutex_;
  bool acceptor_closed_ = false;
};

}  // namespace

std::unique_ptr<Trigger> make_http_trigger(const TriggerContext& context, HttpSettings settings) {
  return std::make_unique<HttpTrigger>(context, std::move(settings));
}

}  // namespace edgefn
