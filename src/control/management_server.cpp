#include "control/management_server.hpp"

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "config/config_error.hpp"
#include "log/log.hpp"

// GCC 12 false positive: Asio's awaitable frames come from its recycling
// allocator's operator new and go back through the frame's own operator
// delete, which -Wmismatched-new-delete cannot pair up once inlined.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace edgefn {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// Long enough for a scraper's keep-alive between 15 s scrapes, short enough
// that abandoned connections give their slot back.
constexpr auto kIoTimeout = std::chrono::seconds(30);
constexpr std::size_t kHeaderLimit = 8 * 1024;
constexpr std::size_t kBodyLimit = 64 * 1024;
// After an error reply to a request we did not read to its end, keep reading
// briefly so that closing with unread input does not send an RST that could
// destroy the reply before the client reads it.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = 256 * 1024;
// After a failed accept other than an aborted handshake (typically EMFILE),
// so the loop does not spin while descriptors are exhausted.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";

std::string format_endpoint(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address().to_string();
  return endpoint.address().is_v6() ? fmt::format("[{}]:{}", address, endpoint.port())
                                    : fmt::format("{}:{}", address, endpoint.port());
}

struct Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
};

// What the server refuses, by reason, when it has a metrics registry.
struct Refusals {
  explicit Refusals(MetricsRegistry* metrics) {
    if (!metrics) return;
    const std::string name = "edgefn_management_rejected_total";
    const std::string help = "management requests and connections refused, by reason";
    unauthorized = &metrics->counter(name, help, {{"reason", "unauthorized"}});
    too_many_connections = &metrics->counter(name, help, {{"reason", "too_many_connections"}});
    bad_request = &metrics->counter(name, help, {{"reason", "bad_request"}});
  }
  static void count(Counter* counter) {
    if (counter) counter->inc();
  }
  Counter* unauthorized = nullptr;
  Counter* too_many_connections = nullptr;
  Counter* bad_request = nullptr;
};

struct ServerState {
  ServerState(asio::io_context& context, ManagementHooks h, ManagementAccess a)
      : io(context),
        acceptor(asio::make_strand(context)),
        hooks(std::move(h)),
        access(std::move(a)),
        refusals(hooks.metrics),
        log(get_logger("control.management")) {}

  asio::io_context& io;
  tcp::acceptor acceptor;  // used only on its strand once start() was called
  tcp::endpoint endpoint;  // written before start(), read-only afterwards
  const ManagementHooks hooks;
  const ManagementAccess access;
  const Refusals refusals;
  const std::shared_ptr<spdlog::logger> log;
  std::atomic<bool> stopping{false};

  std::mutex mutex;  // guards the members below
  bool started = false;
  std::uint64_t next_id = 0;
  std::unordered_map<std::uint64_t, std::shared_ptr<Connection>> connections;
};
using State = ServerState;

Response make_response(http::status status, unsigned version, std::string_view content_type, std::string body) {
  Response res{status, version};
  res.set(http::field::server, "edgefn");
  res.set(http::field::content_type, content_type);
  res.body() = std::move(body);
  return res;
}

// Compares in time that depends only on the lengths, so that a client
// cannot find the token a byte at a time by timing 401s.
bool same_secret(std::string_view given, std::string_view expected) {
  if (given.size() != expected.size()) return false;
  unsigned char difference = 0;
  for (std::size_t i = 0; i < given.size(); ++i) {
    difference |= static_cast<unsigned char>(given[i] ^ expected[i]);
  }
  return difference == 0;
}

bool authorized(const State& state, const Request& req) {
  if (state.access.bearer_token.empty()) return true;
  std::string_view credentials = req[http::field::authorization];
  constexpr std::string_view kScheme = "bearer ";
  if (credentials.size() <= kScheme.size() || !beast::iequals(credentials.substr(0, kScheme.size()), kScheme)) {
    return false;
  }
  credentials.remove_prefix(kScheme.size());
  while (!credentials.empty() && credentials.front() == ' ') credentials.remove_prefix(1);
  return same_secret(credentials, state.access.bearer_token);
}

bool open_to_probes(std::string_view path) { return path == "/live" || path == "/ready"; }

Response answer(const State& state, const Request& req, std::string_view path) {
  const auto& hooks = state.hooks;
  if (!open_to_probes(path) && !authorized(state, req)) {
    Refusals::count(state.refusals.unauthorized);
    auto res = make_response(http::status::unauthorized, req.version(), kTextPlain, "a bearer token is required");
    res.set(http::field::www_authenticate, "Bearer realm=\"edgefn\"");
    return res;
  }
  try {
    if (path == "/live") return make_response(http::status::ok, req.version(), kTextPlain, "ok");
    if (path == "/ready") {
      if (!hooks.ready || hooks.ready()) return make_response(http::status::ok, req.version(), kTextPlain, "ready");
      const std::string why = hooks.not_ready_reason ? hooks.not_ready_reason() : std::string{};
      return make_response(http::status::service_unavailable, req.version(), kTextPlain,
                           why.empty() ? std::string{"not ready"} : "not ready: " + why);
    }
    if (path == "/status") {
      return make_response(http::status::ok, req.version(), "application/json",
                           hooks.status_json ? hooks.status_json() : std::string{"{}"});
    }
    if (path == "/metrics") {
      return make_response(http::status::ok, req.version(), "text/plain; version=0.0.4; charset=utf-8",
                           hooks.metrics ? hooks.metrics->prometheus_text() : std::string{});
    }
    return make_response(http::status::not_found, req.version(), kTextPlain, "not found");
  } catch (const std::exception& e) {
    state.log->error("{} {} failed: {}", std::string_view{req.method_string()}, path, e.what());
    return make_response(http::status::internal_server_error, req.version(), kTextPlain, "internal error");
  }
}

std::string_view query_value(std::string_view target, std::string_view name) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name && pair[name.size()] == '=')
      return pair.substr(name.size() + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

// GET /log-level: the level; PUT with the level as the body, or POST
// ?level=NAME, sets it for every logger. Logged at the more verbose of the
// two levels, so that the line shows either way.
Response log_level_endpoint(const State& state, const Request& req, std::string_view path) {
  if (!authorized(state, req)) return answer(state, req, path);  // the 401, counted
  const auto before = log_level();
  if (req.method() == http::verb::get || req.method() == http::verb::head)
    return make_response(http::status::ok, req.version(), kTextPlain, std::string{log_level_name(before)} + "\n");
  std::string_view wanted = req.method() == http::verb::post ? query_value(req.target(), "level") : req.body();
  if (req.method() == http::verb::post && wanted.empty()) wanted = req.body();
  while (!wanted.empty() && (wanted.back() == '\n' || wanted.back() == '\r' || wanted.back() == ' '))
    wanted.remove_suffix(1);
  spdlog::level::level_enum level;
  if (!parse_log_level(wanted, level)) {
    return make_response(http::status::bad_request, req.version(), kTextPlain,
                         "expected one of trace, debug, info, warn, error, critical, off\n");
  }
  const auto message = fmt::format("log level {} (was {}), set by {} /log-level", log_level_name(level),
                                   log_level_name(before), std::string_view{req.method_string()});
  if (level > before) state.log->info("{}", message);
  set_log_level(level);
  if (level <= before) state.log->info("{}", message);
  return make_response(http::status::ok, req.version(), kTextPlain, std::string{log_level_name(level)} + "\n");
}

Response route(const State& state, const Request& req) {
  const bool head = req.method() == http::verb::head;
  {
    std::string_view path = req.target();
    path = path.substr(0, path.find('?'));
    if (path == "/log-level") {
      if (req.method() != http::verb::get && !head && req.method() != http::verb::put &&
          req.method() != http::verb::post) {
        auto res = make_response(http::status::method_not_allowed, req.version(), kTextPlain, "method not allowed");
        res.set(http::field::allow, "GET, HEAD, PUT, POST");
        return res;
      }
      Response res = log_level_endpoint(state, req, path);
      if (head) {
        res.content_length(res.body().size());
        res.body().clear();
      }
      return res;
    }
  }
  if (req.method() != http::verb::get && !head) {
    auto res = make_response(http::status::method_not_allowed, req.version(), kTextPlain, "method not allowed");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  std::string_view path = req.target();
  path = path.substr(0, path.find('?'));
  Response res = answer(state, req, path);
  if (head) {
    res.content_length(res.body().size());
    res.body().clear();
  }
  return res;
}

bool is_reload(const Request& req) {
  std::string_view path = req.target();
  return path.substr(0, path.find('?')) == "/reload";
}

// POST /reload waits for the reload, which may take as long as the new
// workers take to start; other requests on other connections go on.
awaitable<Response> answer_reload(const State& state, const Request& req) {
  if (req.method() != http::verb::post) {
    auto res = make_response(http::status::method_not_allowed, req.version(), kTextPlain, "method not allowed");
    res.set(http::field::allow, "POST");
    co_return res;
  }
  if (!state.hooks.reload) co_return make_response(http::status::not_found, req.version(), kTextPlain, "not found");
  if (!authorized(state, req)) {
    Refusals::count(state.refusals.unauthorized);
    auto res = make_response(http::status::unauthorized, req.version(), kTextPlain, "a bearer token is required");
    res.set(http::field::www_authenticate, "Bearer realm=\"edgefn\"");
    co_return res;
  }
  // The answer arrives on another thread; a timer that never expires on
  // its own is what the coroutine waits on, cancelled once it is there.
  struct Outcome {
    explicit Outcome(const asio::any_io_executor& executor)
        : wake(executor, asio::steady_timer::time_point::max()) {}
    asio::steady_timer wake;
    int status = 500;
    std::string body;
  };
  auto outcome = std::make_shared<Outcome>(co_await asio::this_coro::executor);
  state.hooks.reload([outcome](int code, std::string text) {
    asio::post(outcome->wake.get_executor(), [outcome, code, text = std::move(text)]() mutable {
      outcome->status = code;
      outcome->body = std::move(text);
      outcome->wake.cancel();
    });
  });
  error_code ec;
  co_await outcome->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return make_response(static_cast<http::status>(outcome->status), req.version(), "application/json",
                          std::move(outcome->body));
}

// The reply owed to a request that failed to parse, or nothing when the
// client went away or timed out.
std::optional<http::status> status_for_read_error(const error_code& ec) {
  if (ec == http::error::header_limit) return http::status::request_header_fields_too_large;
  if (ec == http::error::body_limit) return http::status::payload_too_large;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) return std::nullopt;
  if (ec.category() == http::make_error_code(http::error::bad_target).category()) return http::status::bad_request;
  return std::nullopt;
}

// Removes the connection from the server's table however the session ends,
// including when the io_context is destroyed with the coroutine suspended.
struct Registration {
  std::shared_ptr<State> state;
  std::uint64_t id;
  ~Registration() {
    std::lock_guard lock(state->mutex);
    state->connections.erase(id);
  }
};

awaitable<void> linger_and_close(beast::tcp_stream& stream) {
  error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.expires_after(kLingerTimeout);
  std::array<char, 4096> scratch;
  std::size_t drained = 0;
  while (!ec && drained < kLingerBytes) {
    drained += co_await stream.async_read_some(asio::buffer(scratch), asio::redirect_error(asio::use_awaitable, ec));
  }
  stream.close();
}

awaitable<void> serve(std::shared_ptr<State> state, std::shared_ptr<Connection> conn, std::uint64_t id) {
  Registration registration{state, id};
  auto& stream = conn->stream;
  beast::flat_buffer buffer;
  try {
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimit);
      parser.body_limit(kBodyLimit);
      error_code ec;
      stream.expires_after(kIoTimeout);
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        const auto status = status_for_read_error(ec);
        if (!status || state->stopping) break;
        Refusals::count(state->refusals.bad_request);
        error_code peer_ec;
        const auto peer = stream.socket().remote_endpoint(peer_ec);
        state->log->debug("bad request from {}: {}", format_endpoint(peer), ec.message());
        auto res = make_response(*status, 11, kTextPlain, std::string{http::obsolete_reason(*status)});
        res.keep_alive(false);
        res.prepare_payload();
        stream.expires_after(kIoTimeout);
        co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
        if (!ec) co_await linger_and_close(stream);
        break;
      }

      // Not a conditional expression: GCC 12 mishandles co_await in one.
      Response res;
      if (is_reload(parser.get()))
        res = co_await answer_reload(*state, parser.get());
      else
        res = route(*state, parser.get());
      res.keep_alive(parser.get().keep_alive() && !state->stopping);
      if (parser.get().method() != http::verb::head) res.prepare_payload();
      stream.expires_after(kIoTimeout);
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !res.keep_alive()) break;
    }
  } catch (const std::exception& e) {
    state->log->debug("connection ended: {}", e.what());
  }
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

awaitable<void> accept_loop(std::shared_ptr<State> state) {
  for (;;) {
    tcp::socket socket(asio::make_strand(state->io));
    error_code ec;
    co_await state->acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (state->stopping || ec == asio::error::operation_aborted || !state->acceptor.is_open()) break;
    if (ec) {
      if (ec == asio::error::connection_aborted) continue;
      state->log->warn("accept failed: {}", ec.message());
      asio::steady_timer backoff(state->acceptor.get_executor(), kAcceptBackoff);
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }

    auto conn = std::make_shared<Connection>(std::move(socket));
    std::uint64_t id = 0;
    {
      std::lock_guard lock(state->mutex);
      if (state->stopping) break;
      if (state->connections.size() >= ManagementServer::kMaxConnections) {
        Refusals::count(state->refusals.too_many_connections);
        state->log->debug("refusing a connection: {} already open", state->connections.size());
        continue;
      }
      id = state->next_id++;
      state->connections.emplace(id, conn);
    }
    asio::co_spawn(conn->stream.get_executor(), serve(state, conn, id), asio::detached);
  }
}

}  // namespace

struct ManagementServer::State : ServerState {
  using ServerState::ServerState;
};

ManagementServer::ManagementServer(asio::io_context& io, const tcp::endpoint& endpoint, ManagementHooks hooks,
                                   ManagementAccess access)
    : state_(std::make_shared<State>(io, std::move(hooks), std::move(access))) {
  auto& acceptor = state_->acceptor;
  error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) state_->endpoint = acceptor.local_endpoint(ec);
  if (ec) {
    throw StartError(fmt::format("cannot listen on {} for the management server: {} (set --management-address)",
                                 format_endpoint(endpoint), ec.message()));
  }
}

ManagementServer::~ManagementServer() { stop(); }

tcp::endpoint ManagementServer::local_endpoint() const { return state_->endpoint; }

void ManagementServer::start() {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->started || state_->stopping) return;
    state_->started = true;
  }
  asio::co_spawn(state_->acceptor.get_executor(), accept_loop(state_), asio::detached);
  state_->log->info("management server on {}{}", format_endpoint(state_->endpoint),
                    state_->access.bearer_token.empty() ? ""
                                                        : " (/status, /metrics and /log-level need a bearer token; "
                                                          "/live and /ready are open)");
}

void ManagementServer::stop() noexcept {
  try {
    std::vector<std::shared_ptr<Connection>> open;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->stopping.exchange(true)) return;
      open.reserve(state_->connections.size());
      for (const auto& [id, conn] : state_->connections) open.push_back(conn);
    }
    // Sockets are not thread-safe: each is closed on the strand its session
    // runs on, which also makes the close race-free with a read in progress.
    asio::post(state_->acceptor.get_executor(), [state = state_] {
      error_code ignored;
      state->acceptor.close(ignored);
    });
    for (auto& conn : open) {
      asio::post(conn->stream.get_executor(), [conn] {
        error_code ignored;
        conn->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        conn->stream.close();
      });
    }
  } catch (const std::exception& e) {
    // Only allocation can fail here; the io_context's destruction closes
    // whatever was not reached.
    state_->log->error("management server stop: {}", e.what());
  } catch (...) {
  }
}

}  // namespace edgefn
