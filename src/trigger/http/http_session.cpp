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
// Unlike Nuclio, a request from an origin not allowed (or with none: curl,
// same-origin pages) still reaches the handler, without these headers: the
// browser is what enforces CORS.
void add_cors_headers(const CorsSettings& cors, std::string_view origin, Headers& out) {
  if (!cors.enabled) return;
  const bool wildcard = !cors.allow_credentials && cors.allow_origins.size() == 1 && cors.allow_origins[0] == "*";
  // Whether the headers are there depends on Origin, allowed or not.
  if (!wildcard) out.emplace_back("Vary", "Origin");
  if (origin.empty() || !listed(cors.allow_origins, origin)) return;
  out.emplace_back("Access-Control-Allow-Origin", wildcard ? std::string{"*"} : std::string{origin});
  if (cors.allow_credentials) out.emplace_back("Access-Control-Allow-Credentials", "true");
  if (!cors.expose_headers.empty()) out.emplace_back("Access-Control-Expose-Headers", join(cors.expose_headers));
}

// A CORS preflight: OPTIONS asking for a method (Access-Control-Request-
// Method), as Nuclio tells one apart; the handler never sees it.
bool is_preflight(const CorsSettings& cors, const http::request_header<>& req) {
  return cors.enabled && req.method() == http::verb::options &&
         !req[http::field::access_control_request_method].empty();
}

// The answer to a CORS preflight, which the processor gives itself: 200 or
// 400, as Nuclio's HTTP trigger answers. No Origin is a refusal too.
Response preflight_response(const CorsSettings& cors, const http::request_header<>& req, Headers& extra) {
  auto origin = req[http::field::origin];
  auto method = req[http::field::access_control_request_method];
  // The answer depends on all three: a cache must not serve it for others.
  extra.emplace_back("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
  bool allowed = !origin.empty() && listed(cors.allow_origins, origin) &&
                 (method == "OPTIONS" || listed(cors.allow_methods, method));
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
    r.status = 400;
    r.body = "CORS preflight rejected: origin, method or headers not allowed\n";
    return r;
  }
  r.status = 200;
  r.content_type.clear();
  extra.emplace_back("Access-Control-Allow-Origin", std::string{origin});
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
  Event e = http_wire::make_event(req, std::move(req.body()));
  e.id = new_event_id();
  e.trigger = &core.info;
  e.timestamp = std::chrono::system_clock::now();
  return e;
}

// A body's share of maxTotalRequestBodySize, returned when it is released.
class BodyCharge {
 public:
  explicit BodyCharge(Core& core) : core_(core) {}
  ~BodyCharge() { release(); }
  BodyCharge(const BodyCharge&) = delete;
  BodyCharge& operator=(const BodyCharge&) = delete;

  // False, taking nothing, when the budget has not `size - held` bytes left.
  bool grow_to(std::uint64_t size) {
    if (size <= held_) return true;
    if (!core_.take_body_bytes(size - held_)) return false;
    held_ = size;
    return true;
  }
  void release() {
    core_.return_body_bytes(held_);
    held_ = 0;
  }

 private:
  Core& core_;
  std::uint64_t held_ = 0;
};

// The body clock of one body read and its timer, shared with the timer's
// handler: once `active` is false the handler touches nothing else.
struct BodyWatch {
  BodyClock clock;
  std::chrono::milliseconds pause;
  std::uint64_t min_rate;
  std::chrono::milliseconds deadline;
  bool active = true;
  bool expired = false;

  BodyClock::Clock::time_point expiry() const { return clock.expiry(pause, min_rate, deadline); }
};

class Session {
 public:
  Session(std::shared_ptr<Core> core, tcp::socket socket, Registration registration)
      : core_(std::move(core)),
        stream_(ByteCounting(core_->counters.received_bytes, core_->counters.sent_bytes), std::move(socket)),
        registration_(std::move(registration)),
        // Bounds what Beast holds unparsed: a header (its own limit comes
        // first), a chunk line or a trailer section. Body bytes are passed
        // on as they arrive and take no room here.
        buffer_(core_->settings.max_header_size + kReadChunk) {}

  awaitable<void> run() {
    error_code ec;
    bool first = true;
    for (;;) {
      if (buffer_.size() == 0) {
        // Draining: an idle connection closes instead of waiting for
        // another request.
        if (core_->draining()) break;
        // Idle from here, and so evictable, until a request begins.
        registration_->mark_idle();
        parser_.reset();
        stream_.expires_after(first ? core_->settings.header_timeout : core_->settings.keep_alive_timeout);
        if (core_->keeps_buffers() && buffer_.capacity() > 0 && buffer_.capacity() <= kKeptBuffer) {
          // Few connections: the buffer stays for the next request
          // (freeing and growing it again cost two allocations and a copy
          // per request).
          auto n = co_await stream_.async_read_some(buffer_.prepare(kReadChunk),
                                                    asio::redirect_error(asio::use_awaitable, ec));
          if (ec) break;
          buffer_.commit(n);
        } else {
          buffer_.shrink_to_fit();
          auto n = co_await stream_.async_read_some(asio::buffer(idle_read_),
                                                    asio::redirect_error(asio::use_awaitable, ec));
          if (ec) break;
          buffer_.commit(asio::buffer_copy(buffer_.prepare(kReadChunk), asio::buffer(idle_read_, n)));
        }
      }
      first = false;
      // Evicted while idle, just as this request began: the client sees the
      // close of an idle keep-alive connection, and nothing was dispatched.
      if (!registration_->mark_busy()) break;
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
  static constexpr std::size_t kHeadReserve = 256;
  // An idle connection waits with this much room and no other buffer, so
  // that thousands of them cost little memory; the next request's bytes
  // move into buffer_ once they come.
  static constexpr std::size_t kIdleRead = 512;
  // A buffer grown past this (a large header, a chunk line) is given back
  // when the connection goes idle, whatever the connection count.
  static constexpr std::size_t kKeptBuffer = 2 * kReadChunk;

  // Reads, dispatches and answers one request. False: close the connection.
  awaitable<bool> serve_one() {
    const auto& settings = core_->settings;
    error_code ec;
    parser_.emplace();
    parser_->header_limit(settings.max_header_size);
    parser_->body_limit(settings.max_request_body_size);
    chunk_extensions_ = ChunkExtensionLimit{settings.max_header_size};
    parser_->on_chunk_header(chunk_extensions_);

    stream_.expires_after(settings.header_timeout);
    ec = co_await skip_empty_lines();
    if (!ec)
      co_await http::async_read_header(stream_, buffer_, *parser_, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return co_await reject_read_error(ec);

    const auto& header = parser_->get();
    if (auto verdict = http_wire::check_framing(header); verdict.status) {
      core_->logger->debug("rejected request: {}", verdict.reason);
      co_return co_await reject(Refusal::kFraming, verdict.status, verdict.reason);
    }
    if (auto verdict = http_wire::check_host(header); verdict.status)
      co_return co_await reject(Refusal::kHost, verdict.status, verdict.reason);
    // A body that cannot fit is refused before it is sent (and before "100
    // Continue" invites it); the others take their share as they arrive.
    if (auto length = parser_->content_length(); length && *length > core_->body_bytes_left())
      co_return co_await reject_over_budget();
    const auto header_fields = static_cast<std::size_t>(std::distance(header.begin(), header.end()));
    const auto header_bytes = http_wire::header_bytes(header);

    if (header.version() >= 11 && iequals(header[http::field::expect], "100-continue") && !parser_->is_done()) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(settings.send_timeout);
      co_await asio::async_write(stream_, asio::buffer(kContinue), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return false;
    }
    BodyCharge charge(*core_);
    if (!parser_->is_done()) {
      switch (co_await read_body(charge, ec)) {
        case BodyEnd::kDone: break;
        case BodyEnd::kReadError: co_return co_await reject_read_error(ec);
        case BodyEnd::kLate: co_return co_await reject(Refusal::kBodyTimeout, 408, "request body too slow");
        case BodyEnd::kOverBudget: co_return co_await reject_over_budget();
      }
    }

    auto& req = parser_->get();
    if (parser_->chunked() && !drop_trailer(req, header_fields, header_bytes))
      co_return co_await reject(Refusal::kTrailerTooLarge, 431, "request header and trailer too large");
    const bool keep_alive = req.keep_alive();
    const bool head = req.method() == http::verb::head;
    const bool http10 = req.version() < 11;
    Headers extra;
    Response response;
    auto target = req.target();
    if (target.substr(0, 18) == "/__internal/health") {
      response = plain(200, "");
    } else if (is_preflight(settings.cors, req)) {
      response = preflight_response(settings.cors, req, extra);
    } else {
      add_cors_headers(settings.cors, req[http::field::origin], extra);
      registration_->set_dispatched(true);
      response = co_await dispatch(make_event(*core_, req));
    }
    // The event, and with it the body, is gone.
    charge.release();
    // Answered as far as a drain is concerned: what is left is the write,
    // bounded by the send timeout.
    auto written = co_await write(response, extra, keep_alive && !core_->draining(), http10, head);
    registration_->set_dispatched(false);
    co_return written;
  }

  // RFC 9112 §2.2: empty lines before a request line are ignored (Beast
  // would refuse them); they count against the header limit.
  awaitable<error_code> skip_empty_lines() {
    std::size_t skipped = 0;
    for (;;) {
      std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
      std::size_t n = 0;
      while (data.substr(n, 2) == "\r\n") n += 2;
      const bool need_more = n == data.size() || (n + 1 == data.size() && data[n] == '\r');
      buffer_.consume(n);
      skipped += n;
      if (skipped > core_->settings.max_header_size) co_return http::error::header_limit;
      if (!need_more) co_return error_code{};
      error_code ec;
      auto got = co_await stream_.async_read_some(buffer_.prepare(kReadChunk),
                                                  asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return ec;
      buffer_.commit(got);
    }
  }

  enum class BodyEnd { kDone, kReadError, kLate, kOverBudget };

  // Reads the rest of the body. Unlike the header, bounded by the stream's
  // own timeout, which closes the socket, the body runs under a timer of
  // its own so that a late client can still be told 408.
  awaitable<BodyEnd> read_body(BodyCharge& charge, error_code& ec) {
    const auto& settings = core_->settings;
    auto watch = std::make_shared<BodyWatch>();
    watch->clock.start = watch->clock.last_progress = BodyClock::Clock::now();
    watch->pause = settings.body_timeout;
    watch->min_rate = settings.body_min_rate;
    watch->deadline = settings.body_deadline;
    asio::steady_timer timer(stream_.get_executor());
    watch_body(timer, watch);
    stream_.expires_never();
    auto end = BodyEnd::kDone;
    while (!parser_->is_done()) {
      auto n = co_await http::async_read_some(stream_, buffer_, *parser_, asio::redirect_error(asio::use_awaitable, ec));
      if (watch->expired) {
        end = BodyEnd::kLate;
        break;
      }
      if (ec) {
        end = BodyEnd::kReadError;
        break;
      }
      if (n > 0) {
        watch->clock.received += n;
        watch->clock.last_progress = BodyClock::Clock::now();
      }
      if (!charge.grow_to(parser_->get().body().size())) {
        end = BodyEnd::kOverBudget;
        break;
      }
    }
    watch->active = false;
    timer.cancel();
    co_return end;
  }

  // Runs on the session's executor, as the read it may cancel. The timer
  // fires at the earliest expiry the clock allowed when it was armed and
  // re-arms itself while bytes kept coming, so a read costs no timer call.
  void watch_body(asio::steady_timer& timer, const std::shared_ptr<BodyWatch>& watch) {
    timer.expires_at(watch->expiry());
    timer.async_wait([this, &timer, watch](error_code ec) {
      if (ec || !watch->active) return;
      if (BodyClock::Clock::now() < watch->expiry()) return watch_body(timer, watch);
      watch->expired = true;
      stream_.cancel();
    });
  }

  // Trailer fields count against maxHeaderSize with the header; then they
  // are dropped, as no field is known that may be merged into the header.
  bool drop_trailer(Request& req, std::size_t header_fields, std::uint64_t header_bytes) {
    auto first_trailer = std::next(req.begin(), static_cast<std::ptrdiff_t>(header_fields));
    std::uint64_t trailer_bytes = 0;
    for (auto it = first_trailer; it != req.end(); ++it)
      trailer_bytes += it->name_string().size() + it->value().size() + 4;
    if (header_bytes + trailer_bytes > core_->settings.max_header_size) return false;
    while (first_trailer != req.end()) first_trailer = req.erase(first_trailer);
    return true;
  }

  awaitable<Response> dispatch(Event event) {
    std::optional<AccessLog::Entry> access;
    if (core_->access.wanted()) access = AccessLog::entry(event);
    const auto started = std::chrono::steady_clock::now();
    auto options = DispatchOptions::within(core_->availability_timeout);
    auto ran = core_->pool.try_run_inline(event, options);
    if (!ran) {
      // A statement of its own: GCC 12 miscompiles co_await inside a
      // conditional expression.
      auto dispatched = co_await core_->pool.dispatch(std::move(event), std::move(options));
      ran.emplace(std::move(dispatched));
    }
    auto& result = *ran;
    const auto took = std::chrono::steady_clock::now() - started;
    core_->counters.events.record(result, took);
    if (access) {
      const int status = result                                                ? result->status
                         : result.error().code == DispatchError::Code::kTimedOut ? core_->settings.event_timeout_status
                                                                                 : http_status(result.error().code);
      core_->access.write(*access, result, took, status);
    }
    if (result) co_return std::move(result.value());
    const auto& error = result.error();
    if (error.code == DispatchError::Code::kTimedOut) {
      // Nuclio's answer, which clients written for it parse.
      Response r;
      r.status = core_->settings.event_timeout_status;
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
    std::string head_bytes;
    // One allocation instead of one per few headers appended.
    head_bytes.reserve(kHeadReserve);
    int dropped = http_wire::write_head(head_bytes, response, {keep_alive, http10}, extra);
    if (dropped) core_->logger->warn("dropped {} response header(s) with an invalid name or value", dropped);
    const Response* sent = &response;
    Response too_large;
    if (head_bytes.size() > core_->settings.max_response_header_size) {
      core_->logger->error("the handler's response headers take {} bytes, over maxResponseHeaderSize ({}): "
                           "answering 500 instead",
                           head_bytes.size(), core_->settings.max_response_header_size);
      core_->counters.refused(Refusal::kResponseHeaderTooLarge);
      too_large = plain(500, "response header too large\n");
      head_bytes.clear();
      http_wire::write_head(head_bytes, too_large, {keep_alive, http10});
      sent = &too_large;
    }
    const bool send_body = !head && !http_wire::bodyless_status(sent->status) && !sent->body.empty();
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head_bytes),
                                              send_body ? asio::buffer(sent->body) : asio::const_buffer{}};
    error_code ec;
    stream_.expires_after(core_->settings.send_timeout);
    co_await asio::async_write(stream_, buffers, asio::redirect_error(asio::use_awaitable, ec));
    core_->counters.responded(sent->status);
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
  awaitable<bool> reject(Refusal why, int status, std::string_view reason) {
    core_->counters.refused(why);
    linger_ = true;
    // What was received of the request is not needed any more.
    parser_.reset();
    buffer_.clear();
    Response r = plain(status, std::string{reason} + "\n");
    co_await write(r, {}, false, false, false);
    co_return false;
  }

  awaitable<bool> reject_over_budget() {
    core_->logger->debug("request body refused: maxTotalRequestBodySize ({} bytes) is taken by other bodies",
                         core_->settings.max_total_request_body_size);
    co_return co_await reject(Refusal::kBodyBudget, 503, "too many request bodies at once, try again later");
  }

  awaitable<bool> reject_read_error(error_code ec) {
    if (ec == http::error::header_limit) co_return co_await reject(Refusal::kHeaderTooLarge, 431, "request header too large");
    if (ec == http::error::body_limit) co_return co_await reject(Refusal::kBodyTooLarge, 413, "request body too large");
    if (ec == http::error::bad_chunk_extension && chunk_extensions_.exceeded)
      co_return co_await reject(Refusal::kChunkExtension, 400, "chunk extensions too large");
    if (ec == http::error::buffer_overflow) {
      // The header has its own limit, which comes first: this is a chunk
      // line or a trailer section that does not end.
      auto unparsed = std::string_view(static_cast<const char*>(buffer_.data().data()), buffer_.size());
      if (classify_overflow(unparsed) == Overflow::kTrailer)
        co_return co_await reject(Refusal::kTrailerTooLarge, 431, "request header and trailer too large");
      co_return co_await reject(Refusal::kChunkExtension, 400, "chunk extensions too large");
    }
    // Content-Length and Transfer-Encoding that Beast refuses itself, and
    // chunks that do not parse.
    if (ec == http::error::bad_content_length || ec == http::error::bad_transfer_encoding ||
        ec == http::error::bad_chunk || ec == http::error::bad_chunk_extension) {
      core_->logger->debug("rejected request: {}", ec.message());
      co_return co_await reject(Refusal::kFraming, 400, "invalid framing");
    }
    // A header begun and not finished in time; the timeout closed the
    // socket.
    if (ec == beast::error::timeout && !parser_->is_header_done()) {
      core_->counters.refused(Refusal::kHeaderTimeout);
      co_return false;
    }
    // The peer went away or stalled (timeouts close the socket): nobody to
    // answer.
    if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
        ec == beast::error::timeout || ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
        ec == asio::error::bad_descriptor || ec == asio::error::broken_pipe)
      co_return false;
    core_->logger->debug("malformed request: {}", ec.message());
    co_return co_await reject(Refusal::kMalformed, 400, "malformed request");
  }

  std::shared_ptr<Core> core_;
  beast::basic_stream<tcp, asio::any_io_executor, ByteCounting> stream_;
  std::optional<Registration> registration_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<GrowingBody>> parser_;
  ChunkExtensionLimit chunk_extensions_;
  std::array<char, kIdleRead> idle_read_;
  bool linger_ = false;
};

}  // namespace

awaitable<void> run_session(std::shared_ptr<Core> core, tcp::socket socket, Registration registration) {
  try {
    Session session(core, std::move(socket), std::move(registration));
    co_await session.run();
  } catch (const std::exception& e) {
    // Nothing on a connection may take the daemon down.
    core->logger->error("connection failed: {}", e.what());
  }
}

}  // namespace edgefn::http_trigger
