#include <array>
#include <optional>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "log/log.hpp"
#include "trigger/http/http_core.hpp"
#include "trigger/http/http_wire.hpp"

namespace edgefn::http_trigger {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// The connection's entry in the Core's registry, removed on every exit
// path, before the descriptor is closed (its number may then be reused,
// and a drain must not shut down a stranger).
class Registration {
 public:
  Registration(Core& core, int fd) : core_(core), id_(core.add_connection(fd)) {}
  ~Registration() { core_.remove_connection(id_); }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

  void set_dispatched(bool dispatched) { core_.set_dispatched(id_, dispatched); }

 private:
  Core& core_;
  std::uint64_t id_;
};

bool listed(const std::vector<std::string>& list, std::string_view item) {
  for (const auto& entry : list)
    if (entry == "*" || iequals(entry, item)) return true;
  return false;
}

std::string join(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& item : list) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

// Headers for an actual (non-preflight) cross-origin request.
void add_cors_headers(const CorsSettings& cors, std::string_view origin, Headers& out) {
  if (!cors.enabled || origin.empty() || !listed(cors.allow_origins, origin)) return;
  const bool wildcard = !cors.allow_credentials && cors.allow_origins.size() == 1 && cors.allow_origins[0] == "*";
  out.emplace_back("Access-Control-Allow-Origin", wildcard ? std::string{"*"} : std::string{origin});
  if (!wildcard) out.emplace_back("Vary", "Origin");
  if (cors.allow_credentials) out.emplace_back("Access-Control-Allow-Credentials", "true");
  if (!cors.expose_headers.empty()) out.emplace_back("Access-Control-Expose-Headers", join(cors.expose_headers));
}

// The answer to a CORS preflight, which the processor gives itself.
Response preflight_response(const CorsSettings& cors, const http::request_header<>& req, Headers& extra) {
  auto origin = req[http::field::origin];
  auto method = req[http::field::access_control_request_method];
  bool allowed = listed(cors.allow_origins, origin) && listed(cors.allow_methods, method);
  std::string_view requested = req[http::field::access_control_request_headers];
  while (allowed && !requested.empty()) {
    auto comma = requested.find(',');
    auto name = requested.substr(0, comma);
    requested = comma == std::string_view::npos ? std::string_view{} : requested.substr(comma + 1);
    while (!name.empty() && (name.front() == ' ' || name.front() == '\t')) name.remove_prefix(1);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    if (!name.empty() && !listed(cors.allow_headers, name)) allowed = false;
  }
  Response r;
  if (!allowed) {
    r.status = 403;
    r.body = "CORS preflight rejected\n";
    return r;
  }
  r.status = 204;
  r.content_type.clear();
  extra.emplace_back("Access-Control-Allow-Origin", std::string{origin});
  extra.emplace_back("Vary", "Origin");
  extra.emplace_back("Access-Control-Allow-Methods", join(cors.allow_methods));
  extra.emplace_back("Access-Control-Allow-Headers", join(cors.allow_headers));
  if (cors.preflight_max_age_seconds >= 0)
    extra.emplace_back("Access-Control-Max-Age", std::to_string(cors.preflight_max_age_seconds));
  if (cors.allow_credentials) extra.emplace_back("Access-Control-Allow-Credentials", "true");
  return r;
}

Response plain(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Event make_event(const Core& core, Request& req) {
  Event e;
  e.id = new_event_id();
  e.trigger = &core.info;
  e.timestamp = std::chrono::system_clock::now();
  e.method = std::string{req.method_string()};
  auto target = req.target();
  auto question = target.find('?');
  e.path = http_wire::percent_decode(target.substr(0, question), false);
  if (question != std::string_view::npos) e.fields = http_wire::parse_query(target.substr(question + 1));
  e.headers.reserve(static_cast<std::size_t>(std::distance(req.begin(), req.end())));
  for (const auto& field : req) {
    auto name = field.name_string();
    if (iequals(name, "Content-Type")) e.content_type = std::string{field.value()};
    e.headers.emplace_back(std::string{name}, std::string{field.value()});
  }
  auto host = req[http::field::host];
  e.url.reserve(7 + host.size() + target.size());
  e.url.append("http://").append(host).append(target);
  e.body = std::move(req.body());
  return e;
}

class Session {
 public:
  Session(std::shared_ptr<Core> core, tcp::socket socket)
      : core_(std::move(core)), stream_(std::move(socket)) {
    registration_.emplace(*core_, stream_.socket().native_handle());
  }

  awaitable<void> run() {
    error_code ec;
    bool first = true;
    for (;;) {
      if (buffer_.size() == 0) {
        // Draining: an idle connection closes instead of waiting for
        // another request.
        if (core_->draining()) break;
        stream_.expires_after(first ? core_->settings.header_timeout : core_->settings.keep_alive_timeout);
        auto n = co_await stream_.async_read_some(buffer_.prepare(kReadChunk),
                                                  asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
        buffer_.commit(n);
      }
      first = false;
      if (!co_await serve_one()) break;
    }
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (linger_) co_await drain_input();
    // Out of the registry before the descriptor is closed: once closed, its
    // number may be reused, and a drain must not shut down a stranger.
    registration_.reset();
    stream_.close();
  }

 private:
  static constexpr std::size_t kReadChunk = 16 * 1024;

  // Reads, dispatches and answers one request. False: close the connection.
  awaitable<bool> serve_one() {
    error_code ec;
    parser_.emplace();
    parser_->header_limit(core_->settings.max_header_size);
    parser_->body_limit(core_->settings.max_request_body_size);

    stream_.expires_after(core_->settings.header_timeout);
    co_await http::async_read_header(stream_, buffer_, *parser_, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return co_await reject_read_error(ec);

    const auto& header = parser_->get();
    if (auto verdict = http_wire::check_framing(header); verdict.status) {
      core_->logger->debug("rejected request: {}", verdict.reason);
      co_return co_await reject(verdict.status, verdict.reason);
    }
    if (header.version() >= 11 && iequals(header[http::field::expect], "100-continue") && !parser_->is_done()) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(core_->settings.send_timeout);
      co_await asio::async_write(stream_, asio::buffer(kContinue), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return false;
    }
    while (!parser_->is_done()) {
      stream_.expires_after(core_->settings.body_timeout);
      co_await http::async_read_some(stream_, buffer_, *parser_, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return co_await reject_read_error(ec);
    }

    auto& req = parser_->get();
    const bool keep_alive = req.keep_alive();
    const bool head = req.method() == http::verb::head;
    const bool http10 = req.version() < 11;
    Headers extra;
    Response response;
    auto target = req.target();
    if (target.substr(0, 18) == "/__internal/health") {
      response = plain(200, "");
    } else if (core_->settings.cors.enabled && req.method() == http::verb::options &&
               !req[http::field::origin].empty() && !req[http::field::access_control_request_method].empty()) {
      response = preflight_response(core_->settings.cors, req, extra);
    } else {
      add_cors_headers(core_->settings.cors, req[http::field::origin], extra);
      registration_->set_dispatched(true);
      response = co_await dispatch(make_event(*core_, req));
    }
    // Answered as far as a drain is concerned: what is left is the write,
    // bounded by the send timeout.
    auto written = co_await write(response, extra, keep_alive && !core_->draining(), http10, head);
    registration_->set_dispatched(false);
    co_return written;
  }

  awaitable<Response> dispatch(Event event) {
    const auto started = std::chrono::steady_clock::now();
    auto result =
        co_await core_->pool.dispatch(std::move(event), DispatchOptions::within(core_->availability_timeout));
    core_->counters.events.record(result, std::chrono::steady_clock::now() - started);
    if (result) co_return std::move(result.value());
    const auto& error = result.error();
    if (error.code == DispatchError::Code::kTimedOut) {
      // Nuclio's answer, which clients written for it parse.
      Response r;
      r.status = http_status(error.code);
      r.content_type = "application/json";
      r.body = R"({"error": "handler timed out"})";
      co_return r;
    }
    std::string body;
    switch (error.code) {
      case DispatchError::Code::kOverloaded: body = "no worker available\n"; break;
      case DispatchError::Code::kTimedOut: break;
      case DispatchError::Code::kCrashed: body = "worker failed\n"; break;
      case DispatchError::Code::kStopping:
      case DispatchError::Code::kCancelled: body = "processor is stopping\n"; break;
    }
    if (core_->dev_mode && !error.detail.empty()) body += error.detail + "\n";
    co_return plain(http_status(error.code), std::move(body));
  }

  awaitable<bool> write(const Response& response, const Headers& extra, bool keep_alive, bool http10, bool head) {
    head_.clear();
    int dropped = http_wire::write_head(head_, response, {keep_alive, http10}, extra);
    if (dropped) core_->logger->warn("dropped {} response header(s) with an invalid name or value", dropped);
    const bool send_body = !head && !http_wire::bodyless_status(response.status) && !response.body.empty();
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head_),
                                              send_body ? asio::buffer(response.body) : asio::const_buffer{}};
    error_code ec;
    stream_.expires_after(core_->settings.send_timeout);
    co_await asio::async_write(stream_, buffers, asio::redirect_error(asio::use_awaitable, ec));
    co_return !ec && keep_alive;
  }

  // After an early error answer the client may still be sending; closing
  // with unread input makes the kernel send RST, which can destroy the
  // answer in the client's receive buffer. Read and discard for a while, as
  // nginx's lingering close does.
  awaitable<void> drain_input() {
    static constexpr std::size_t kMaxDiscard = 8 * 1024 * 1024;
    std::size_t discarded = 0;
    error_code ec;
    stream_.expires_after(std::chrono::seconds(2));
    while (!ec && discarded < kMaxDiscard) {
      buffer_.clear();
      discarded += co_await stream_.async_read_some(buffer_.prepare(kReadChunk),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  // An error answer before dispatch; the connection closes after it.
  awaitable<bool> reject(int status, std::string_view reason) {
    core_->counters.rejected->inc();
    linger_ = true;
    Response r = plain(status, std::string{reason} + "\n");
    co_await write(r, {}, false, false, false);
    co_return false;
  }

  awaitable<bool> reject_read_error(error_code ec) {
    if (ec == http::error::header_limit) co_return co_await reject(431, "request header too large");
    if (ec == http::error::body_limit) co_return co_await reject(413, "request body too large");
    // The peer went away or stalled (timeouts close the socket): nobody to
    // answer.
    if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
        ec == beast::error::timeout || ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
        ec == asio::error::bad_descriptor || ec == asio::error::broken_pipe)
      co_return false;
    core_->logger->debug("malformed request: {}", ec.message());
    co_return co_await reject(400, "malformed request");
  }

  std::shared_ptr<Core> core_;
  beast::tcp_stream stream_;
  std::optional<Registration> registration_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<GrowingBody>> parser_;
  std::string head_;
  bool linger_ = false;
};

}  // namespace

awaitable<void> run_session(std::shared_ptr<Core> core, tcp::socket socket) {
  try {
    Session session(core, std::move(socket));
    co_await session.run();
  } catch (const std::exception& e) {
    // Nothing on a connection may take the daemon down.
    core->logger->error("connection failed: {}", e.what());
  }
}

}  // namespace edgefn::http_trigger
