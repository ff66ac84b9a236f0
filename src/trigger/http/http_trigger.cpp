#include "trigger/http/http_trigger.hpp"

#include "config/config_error.hpp"
#include "log/log.hpp"
#include "trigger/http/http_core.hpp"
#include "trigger/http/http_wire.hpp"

namespace edgefn {
namespace {

using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using http_trigger::Core;

// After the pools have stopped, connections still writing their last
// answer get this long before they are cut.
constexpr auto kStopGrace = 1s;

// Too many connections and none idle: a short 503 rather than a silent
// refusal, then close.
awaitable<void> refuse(tcp::socket socket) {
  static constexpr std::string_view kBusy =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 20\r\nConnection: close\r\n\r\ntoo many connections";
  error_code ec;
  co_await asio::async_write(socket, asio::buffer(kBusy), asio::redirect_error(asio::use_awaitable, ec));
  socket.shutdown(tcp::socket::shutdown_both, ec);
}

http_trigger::Counters make_counters(MetricsRegistry& metrics, const std::string& trigger) {
  http_trigger::Counters counters{EventMetrics(metrics, trigger), {}, nullptr, nullptr, nullptr};
  for (std::size_t i = 0; i < http_trigger::kRefusals; ++i) {
    const auto reason = http_trigger::refusal_name(static_cast<http_trigger::Refusal>(i));
    counters.rejected[i] = &metrics.counter("edgefn_http_rejected_total",
                                            "Requests and connections refused by a limit or for bad framing",
                                            {{"trigger", trigger}, {"reason", std::string{reason}}});
  }
  counters.evictions = &metrics.counter("edgefn_http_evictions_total",
                                        "Idle connections closed to admit a new one at maxConnections",
                                        {{"trigger", trigger}});
  counters.connections = &metrics.gauge("edgefn_http_connections", "Open client connections", {{"trigger", trigger}});
  counters.body_bytes = &metrics.gauge("edgefn_http_request_body_bytes",
                                       "Request body bytes held, counted against maxTotalRequestBodySize",
                                       {{"trigger", trigger}});
  auto& received =
      metrics.counter("edgefn_http_received_bytes_total", "Bytes read from client connections", {{"trigger", trigger}});
  auto& sent =
      metrics.counter("edgefn_http_sent_bytes_total", "Bytes written to client connections", {{"trigger", trigger}});
  std::array<Counter*, 5> responses{};
  for (std::size_t i = 0; i < responses.size(); ++i) {
    responses[i] =
        &metrics.counter("edgefn_http_responses_total", "Responses written, by status class (refusals included)",
                         {{"trigger", trigger}, {"code", std::to_string(i + 1) + "xx"}});
  }
  if (metrics.recording()) {
    counters.received_bytes = &received;
    counters.sent_bytes = &sent;
    counters.responses = responses;
  }
  return counters;
}

// The acceptor and what only the accept loop touches, on one strand.
struct Listener {
  explicit Listener(asio::io_context& io) : strand(asio::make_strand(io)), acceptor(strand), resume(strand) {}
  asio::strand<asio::io_context::executor_type> strand;
  tcp::acceptor acceptor;
  asio::steady_timer resume;  // the accept loop waits on it while paused
  bool paused = false;
  bool closed = false;
};

class HttpTrigger final : public Trigger {
 public:
  HttpTrigger(const TriggerContext& ctx, HttpSettings settings)
      : core_(std::make_shared<Core>(
            ctx.io, TriggerInfo{"http", ctx.config.name}, std::move(settings), ctx.pool,
            ctx.config.worker_availability_timeout, ctx.dev_mode, ctx.single_threaded_io,
            make_counters(ctx.metrics, ctx.config.name),
            get_logger("trigger.http." + ctx.config.name), ctx.access_log || ctx.config.access_log)),
        listener_(std::make_shared<Listener>(ctx.io)),
        drain_timer_(ctx.io) {}

  ~HttpTrigger() override { stop(); }

  const TriggerInfo& info() const noexcept override { return core_->info; }

  void start() override {
    const auto& s = core_->settings;
    std::string shown = (s.host.empty() ? std::string{"0.0.0.0"} : s.host) + ":" + std::to_string(s.port);
    auto& acceptor = listener_->acceptor;
    try {
      auto address = s.host.empty() ? asio::ip::address(asio::ip::address_v4::any())
                                    : asio::ip::make_address(s.host == "localhost" ? "127.0.0.1" : s.host);
      tcp::endpoint endpoint{address, s.port};
      acceptor.open(endpoint.protocol());
      acceptor.set_option(tcp::acceptor::reuse_address(true));
      acceptor.bind(endpoint);
      acceptor.listen(asio::socket_base::max_listen_connections);
      bound_ = acceptor.local_endpoint();
    } catch (const boost::system::system_error& e) {
      throw StartError("HTTP trigger '" + core_->info.name + "' cannot listen on " + shown + ": " +
                       e.code().message() + " (set the trigger url, attributes.port or --http-listen)");
    }
    core_->logger->info("listening on {}:{}", bound_.address().to_string(), bound_.port());
    asio::co_spawn(listener_->strand, accept_loop(core_, listener_), asio::detached);
  }

  // New connections wait in the listen backlog; open ones go on.
  void pause() noexcept override {
    asio::post(listener_->strand, [listener = listener_] { listener->paused = true; });
  }

  void resume() noexcept override {
    asio::post(listener_->strand, [listener = listener_] {
      listener->paused = false;
      listener->resume.cancel();
    });
  }

  void drain(Clock::time_point deadline, UniqueFunction<void()> done) noexcept override {
    close_acceptor();
    // Whichever comes first: the last dispatched request answered, or the
    // deadline. Requests waiting for a worker are served until then.
    auto fire = run_once(std::move(done));
    // Armed before the drain begins, whose callback (posted) cancels it.
    drain_timer_.expires_at(deadline);
    drain_timer_.async_wait([fire](error_code ec) {
      if (!ec) fire();
    });
    core_->begin_drain([this, fire] {
      drain_timer_.cancel();
      fire();
    });
  }

  void stop() noexcept override {
    if (stopped_.exchange(true)) return;
    close_acceptor();
    // Reads stop now; a connection still writing its answer (a 503 for a
    // request the pool gave up on) finishes, or is cut after a grace.
    core_->shut_down(kStopGrace);
  }

  std::size_t in_flight() const noexcept override { return core_->dispatched(); }

  std::string address() const override {
    return bound_.address().to_string() + ":" + std::to_string(bound_.port());
  }

  void write_status(JsonWriter& out) const override {
    out.key("address").value(bound_.address().to_string() + ":" + std::to_string(bound_.port()));
    out.key("port").value(static_cast<int>(bound_.port()));
    out.key("connections").value(static_cast<std::uint64_t>(core_->connection_count()));
    out.key("idleConnections").value(static_cast<std::uint64_t>(core_->idle_count()));
    out.key("inFlight").value(static_cast<std::uint64_t>(core_->dispatched()));
    out.key("maxRequestBodySize").value(static_cast<std::uint64_t>(core_->settings.max_request_body_size));
    out.key("requestBodyBytes").value(core_->body_bytes());
  }

 private:
  void close_acceptor() noexcept {
    asio::post(listener_->strand, [listener = listener_] {
      listener->closed = true;
      listener->resume.cancel();
      error_code ec;
      listener->acceptor.close(ec);
    });
  }

  static awaitable<void> accept_loop(std::shared_ptr<Core> core, std::shared_ptr<Listener> listener) {
    asio::steady_timer backoff(listener->strand);
    for (;;) {
      error_code ec;
      while (listener->paused && !listener->closed) {
        listener->resume.expires_at(asio::steady_timer::time_point::max());
        co_await listener->resume.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      if (listener->closed) break;
      // Each connection gets a strand of its own: its socket, its timers
      // and its coroutine never run on two I/O threads at once. With one
      // I/O thread that holds already, and a strand costs about 13 % of
      // the requests per second (bench/http).
      auto executor = core->single_threaded_io ? asio::any_io_executor(core->io.get_executor())
                                               : asio::any_io_executor(asio::make_strand(core->io));
      tcp::socket socket =
          co_await listener->acceptor.async_accept(executor, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor || listener->closed) break;
      if (ec) {
        // Out of descriptors or memory: retrying at once would spin.
        core->logger->warn("accept failed: {}", ec.message());
        backoff.expires_after(100ms);
        co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto id = core->admit(socket.native_handle());
      if (!id) {
        core->counters.refused(http_trigger::Refusal::kConnections);
        asio::co_spawn(executor, refuse(std::move(socket)), asio::detached);
        continue;
      }
      http_trigger::Registration registration(*core, *id);
      asio::co_spawn(executor, http_trigger::run_session(core, std::move(socket), std::move(registration)),
                     asio::detached);
    }
  }

  std::shared_ptr<Core> core_;
  std::shared_ptr<Listener> listener_;
  tcp::endpoint bound_;
  asio::steady_timer drain_timer_;
  std::atomic<bool> stopped_{false};
};

}  // namespace

std::unique_ptr<Trigger> make_http_trigger(const TriggerContext& context, HttpSettings settings) {
  return std::make_unique<HttpTrigger>(context, std::move(settings));
}

}  // namespace edgefn
