#include "control/management_server.hpp"

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

#include "config/config_error.hpp"
#include "control/management_token.hpp"
#include "util/asio.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = edgefn::asio::ip::tcp;
using edgefn::error_code;
using edgefn::ManagementServer;
namespace asio = edgefn::asio;
using namespace std::chrono_literals;

constexpr auto kClientTimeout = 5s;

struct Reply {
  error_code error;  // status is 0 when set
  unsigned status = 0;
  std::string body;
  std::string content_type;
  std::string content_length;
  std::string allow;
  std::string www_authenticate;
  bool keep_alive = false;
};

Reply failed(error_code ec) {
  Reply reply;
  reply.error = ec;
  return reply;
}

// A blocking test client whose every operation is bounded by a timeout on
// its own io_context, so a broken server fails the test instead of hanging it.
// No Catch2 assertions inside: Catch2 v2 is not thread-safe and the
// concurrency test drives clients from several threads.
class Client {
 public:
  explicit Client(const tcp::endpoint& endpoint) : stream_(io_) {
    connect_error_ = run([&](auto done) { stream_.async_connect(endpoint, done); });
  }

  error_code connect_error() const { return connect_error_; }

  Reply request(http::verb verb, const std::string& target, bool keep_alive = true,
                const std::string& authorization = {}) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "localhost");
    if (!authorization.empty()) req.set(http::field::authorization, authorization);
    req.keep_alive(keep_alive);
    req.prepare_payload();
    if (auto ec = run([&](auto done) { http::async_write(stream_, req, done); })) return failed(ec);
    return read_reply(verb == http::verb::head);
  }

  error_code send_raw(const std::string& bytes) {
    return run([&](auto done) { asio::async_write(stream_, asio::buffer(bytes), done); });
  }

  Reply read_reply(bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    parser.skip(head);
    if (auto ec = run([&](auto done) { http::async_read(stream_, buffer_, parser, done); })) return failed(ec);
    const auto& res = parser.get();
    Reply reply;
    reply.status = res.result_int();
    reply.body = res.body();
    reply.content_type = std::string(res[http::field::content_type]);
    reply.content_length = std::string(res[http::field::content_length]);
    reply.allow = std::string(res[http::field::allow]);
    reply.www_authenticate = std::string(res[http::field::www_authenticate]);
    reply.keep_alive = res.keep_alive();
    return reply;
  }

  struct ReadToEnd {
    std::string data;
    error_code end;
  };

  // Everything up to the error that ends reading: eof or reset when the
  // server closed the connection, beast::error::timeout when it left it open.
  ReadToEnd read_to_end() {
    ReadToEnd out;
    out.data.assign(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    buffer_.consume(buffer_.size());
    std::array<char, 512> scratch;
    for (;;) {
      std::size_t n = 0;
      out.end = run([&](auto done) {
        stream_.async_read_some(asio::buffer(scratch), [&n, done](error_code ec, std::size_t got) {
          n = got;
          done(ec);
        });
      });
      out.data.append(scratch.data(), n);
      if (out.end) return out;
    }
  }

  error_code read_until_closed() { return read_to_end().end; }

 private:
  template <class Start>
  error_code run(Start start) {
    error_code result;
    bool finished = false;
    stream_.expires_after(kClientTimeout);
    start([&](error_code ec, auto&&...) {
      result = ec;
      finished = true;
    });
    io_.restart();
    io_.run();
    return finished ? result : asio::error::timed_out;
  }

  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  error_code connect_error_;
};

bool is_closed_error(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset || ec == http::error::end_of_stream;
}

// A server on 127.0.0.1:0 with its io_context on two threads, to exercise
// the strands as the daemon does.
class ServerFixture {
 public:
  explicit ServerFixture(int threads = 2, std::string bearer_token = {}) {
    edgefn::ManagementHooks hooks;
    hooks.ready = [this] { return ready.load(); };
    hooks.status_json = [this] {
      if (status_throws) throw std::runtime_error("status broke");
      return std::string{R"({"state":"running","workers":2})"};
    };
    hooks.metrics = &metrics;
    hooks.not_ready_reason = [this] {
      return give_reason.load() ? std::string{"mqtt trigger 'sensors' is not ready"} : std::string{};
    };
    server = std::make_unique<ManagementServer>(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0), hooks,
                                                edgefn::ManagementAccess{std::move(bearer_token)});
    server->start();
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        io.run();
        std::lock_guard lock(mutex_);
        ++finished_;
        cv_.notify_all();
      });
    }
  }

  ~ServerFixture() {
    server->stop();
    work_.reset();
    if (!wait_until_io_returns()) io.stop();
    for (auto& t : threads_) t.join();
  }

  tcp::endpoint endpoint() const { return server->local_endpoint(); }

  // True when every io thread returned, i.e. the server left no work behind.
  bool wait_until_io_returns() {
    work_.reset();
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, kClientTimeout, [this] { return finished_ == threads_.size(); });
  }

  asio::io_context io;
  std::atomic<bool> ready{false};
  std::atomic<bool> give_reason{false};
  std::atomic<bool> status_throws{false};
  edgefn::MetricsRegistry metrics;
  std::unique_ptr<ManagementServer> server;

 private:
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{io.get_executor()};
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t finished_ = 0;
};

}  // namespace

TEST_CASE("management server binds port 0 to a real port") {
  ServerFixture fx;
  CHECK(fx.endpoint().port() != 0);
  CHECK(fx.endpoint().address() == asio::ip::make_address("127.0.0.1"));
}

TEST_CASE("/live answers 200 ok") {
  ServerFixture fx;
  Client client(fx.endpoint());
  REQUIRE_FALSE(client.connect_error());
  const auto reply = client.request(http::verb::get, "/live");
  CHECK(reply.status == 200);
  CHECK(reply.body == "ok");
  CHECK(reply.content_type.rfind("text/plain", 0) == 0);
}

TEST_CASE("/ready follows the readiness hook") {
  ServerFixture fx;
  Client client(fx.endpoint());
  auto reply = client.request(http::verb::get, "/ready");
  CHECK(reply.status == 503);
  CHECK(reply.body == "not ready");
  fx.ready = true;
  reply = client.request(http::verb::get, "/ready");
  CHECK(reply.status == 200);
  CHECK(reply.body == "ready");
  fx.ready = false;
  CHECK(client.request(http::verb::get, "/ready?verbose=1").status == 503);
}

TEST_CASE("/ready's 503 says why when the hook gives a reason") {
  ServerFixture fx;
  fx.give_reason = true;
  Client client(fx.endpoint());
  auto reply = client.request(http::verb::get, "/ready");
  CHECK(reply.status == 503);
  CHECK(reply.body == "not ready: mqtt trigger 'sensors' is not ready");
  fx.ready = true;
  reply = client.request(http::verb::get, "/ready");
  CHECK(reply.status == 200);
  CHECK(reply.body == "ready");
}

TEST_CASE("/status returns the hook's JSON") {
  ServerFixture fx;
  Client client(fx.endpoint());
  const auto reply = client.request(http::verb::get, "/status");
  CHECK(reply.status == 200);
  CHECK(reply.content_type == "application/json");
  CHECK(reply.body == R"({"state":"running","workers":2})");
}

TEST_CASE("a throwing hook becomes a 500 and the connection stays usable") {
  ServerFixture fx;
  fx.status_throws = true;
  Client client(fx.endpoint());
  CHECK(client.request(http::verb::get, "/status").status == 500);
  CHECK(client.request(http::verb::get, "/live").status == 200);
}

TEST_CASE("/metrics returns Prometheus text 0.0.4") {
  ServerFixture fx;
  fx.metrics.counter("edgefn_events_total", "Events handled.", {{"trigger", "http"}}).inc(7);
  Client client(fx.endpoint());
  const auto reply = client.request(http::verb::get, "/metrics");
  CHECK(reply.status == 200);
  CHECK(reply.content_type.rfind("text/plain; version=0.0.4", 0) == 0);
  CHECK(reply.body.find("# TYPE edgefn_events_total counter\n") != std::string::npos);
  CHECK(reply.body.find("edgefn_events_total{trigger=\"http\"} 7\n") != std::string::npos);
}

TEST_CASE("unknown paths get 404 and other methods 405") {
  ServerFixture fx;
  Client client(fx.endpoint());
  CHECK(client.request(http::verb::get, "/nope").status == 404);
  CHECK(client.request(http::verb::get, "/").status == 404);
  const auto reply = client.request(http::verb::post, "/live");
  CHECK(reply.status == 405);
  CHECK(reply.allow == "GET, HEAD");
  CHECK(client.request(http::verb::delete_, "/ready").status == 405);
}

TEST_CASE("HEAD gets the headers without a body") {
  ServerFixture fx;
  Client client(fx.endpoint());
  const auto reply = client.request(http::verb::head, "/live");
  CHECK(reply.status == 200);
  CHECK(reply.body.empty());
  CHECK(reply.content_length == "2");
  // The connection is still in sync: no stray body bytes precede this reply.
  CHECK(client.request(http::verb::get, "/live").body == "ok");
}

TEST_CASE("keep-alive serves several requests on one connection") {
  ServerFixture fx;
  Client client(fx.endpoint());
  for (int i = 0; i < 5; ++i) {
    const auto reply = client.request(http::verb::get, "/live");
    CHECK(reply.status == 200);
    CHECK(reply.keep_alive);
  }
  const auto last = client.request(http::verb::get, "/live", false);
  CHECK(last.status == 200);
  CHECK_FALSE(last.keep_alive);
  CHECK(is_closed_error(client.read_until_closed()));
}

TEST_CASE("pipelined requests are answered in order") {
  ServerFixture fx;
  Client client(fx.endpoint());
  REQUIRE_FALSE(
      client.send_raw("GET /live HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /status HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(client.read_reply().status == 200);
  CHECK(client.read_reply().status == 404);
  CHECK(client.read_reply().content_type == "application/json");
}

TEST_CASE("oversized headers get 431, oversized bodies 413, garbage 400") {
  ServerFixture fx;
  {
    Client client(fx.endpoint());
    REQUIRE_FALSE(client.send_raw("GET /live HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n"));
    const auto reply = client.read_reply();
    CHECK(reply.status == 431);
    CHECK_FALSE(reply.keep_alive);
    CHECK(is_closed_error(client.read_until_closed()));
  }
  {
    Client client(fx.endpoint());
    REQUIRE_FALSE(client.send_raw("GET /live HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"));
    CHECK(client.read_reply().status == 413);
    CHECK(is_closed_error(client.read_until_closed()));
  }
  {
    Client client(fx.endpoint());
    REQUIRE_FALSE(client.send_raw("NOT HTTP AT ALL\r\n\r\n"));
    CHECK(client.read_reply().status == 400);
    CHECK(is_closed_error(client.read_until_closed()));
  }
  Client after(fx.endpoint());
  CHECK(after.request(http::verb::get, "/live").status == 200);
}

TEST_CASE("a client that hangs up mid-request does not disturb the server") {
  ServerFixture fx;
  {
    Client client(fx.endpoint());
    REQUIRE_FALSE(client.send_raw("GET /live HTTP/1.1\r\nHo"));
  }
  Client client(fx.endpoint());
  CHECK(client.request(http::verb::get, "/live").status == 200);
}

TEST_CASE("concurrent clients are all answered") {
  ServerFixture fx;
  fx.ready = true;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 6; ++t) {
    clients.emplace_back([&] {
      Client client(fx.endpoint());
      for (int i = 0; i < 20; ++i) {
        if (client.request(http::verb::get, i % 2 ? "/ready" : "/metrics").status == 200) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(ok == 120);
}

TEST_CASE("connections past the limit are closed at once") {
  ServerFixture fx;
  std::vector<std::unique_ptr<Client>> open;
  for (std::size_t i = 0; i < ManagementServer::kMaxConnections; ++i) {
    open.push_back(std::make_unique<Client>(fx.endpoint()));
    REQUIRE_FALSE(open.back()->connect_error());
  }
  // Accepts are handled in order, so the extra one meets a full table.
  Client extra(fx.endpoint());
  REQUIRE_FALSE(extra.connect_error());
  CHECK(is_closed_error(extra.read_until_closed()));
  CHECK(fx.metrics.prometheus_text().find(
            "edgefn_management_rejected_total{reason=\"too_many_connections\"} 1\n") != std::string::npos);
  CHECK(open.front()->request(http::verb::get, "/live").status == 200);

  // Freeing a slot lets a new connection in once the server has noticed.
  open.pop_back();
  const auto deadline = std::chrono::steady_clock::now() + kClientTimeout;
  bool served = false;
  while (!served && std::chrono::steady_clock::now() < deadline) {
    Client retry(fx.endpoint());
    REQUIRE_FALSE(retry.connect_error());
    // The send fails too when the refusal's RST arrived first.
    if (retry.send_raw("GET /live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) continue;
    // A refused connection is closed before anything is written to it.
    const auto result = retry.read_to_end();
    REQUIRE(is_closed_error(result.end));
    served = result.data.rfind("HTTP/1.1 200", 0) == 0;
  }
  CHECK(served);
}

TEST_CASE("a second server on a used port fails with a StartError naming the knob") {
  ServerFixture fx;
  const auto endpoint = fx.endpoint();
  try {
    ManagementServer second(fx.io, endpoint, {});
    FAIL("bind succeeded");
  } catch (const edgefn::StartError& e) {
    const std::string message = e.what();
    CHECK(message.find("127.0.0.1:" + std::to_string(endpoint.port())) != std::string::npos);
    CHECK(message.find("management server") != std::string::npos);
    CHECK(message.find("--management-address") != std::string::npos);
  }
}

TEST_CASE("stop closes open connections, refuses new ones and leaves no work") {
  ServerFixture fx;
  Client idle(fx.endpoint());
  CHECK(idle.request(http::verb::get, "/live").status == 200);
  const auto endpoint = fx.endpoint();

  fx.server->stop();
  fx.server->stop();  // idempotent
  CHECK(is_closed_error(idle.read_until_closed()));
  CHECK(fx.wait_until_io_returns());

  Client late(endpoint);
  if (!late.connect_error()) {
    CHECK(is_closed_error(late.read_until_closed()));
  } else {
    CHECK(late.connect_error() == asio::error::connection_refused);
  }
}

TEST_CASE("stop before start and destruction without start are harmless") {
  asio::io_context io;
  {
    ManagementServer server(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0), {});
    server.stop();
    server.start();  // after stop: ignored
  }
  { ManagementServer server(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0), {}); }
  io.run_for(std::chrono::seconds(5));
  CHECK(io.stopped());
}

TEST_CASE("with a bearer token, /status and /metrics need it and probes stay open") {
  const std::string token = "0123456789abcdef0123";
  ServerFixture fx(2, token);
  fx.ready = true;
  Client client(fx.endpoint());
  CHECK(client.request(http::verb::get, "/live").status == 200);
  CHECK(client.request(http::verb::get, "/ready").status == 200);

  const std::vector<std::string> refused = {"", "Bearer wrong", "Bearer " + token + "x", "Basic " + token, "Bearer",
                                            token};
  for (const auto& credentials : refused) {
    INFO("Authorization: " << credentials);
    const auto reply = client.request(http::verb::get, "/status", true, credentials);
    CHECK(reply.status == 401);
    CHECK(reply.www_authenticate == "Bearer realm=\"edgefn\"");
    CHECK(reply.body.find(token) == std::string::npos);
  }
  CHECK(client.request(http::verb::get, "/metrics").status == 401);
  CHECK(client.request(http::verb::get, "/nope").status == 401);

  CHECK(client.request(http::verb::get, "/status", true, "Bearer " + token).status == 200);
  const auto metrics = client.request(http::verb::get, "/metrics", true, "bearer " + token);
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("edgefn_management_rejected_total{reason=\"unauthorized\"} 8\n") != std::string::npos);
}

TEST_CASE("management tokens come from a file or the environment and are checked") {
  using edgefn::ConfigError;
  using edgefn::load_management_token;
  CHECK(load_management_token({}, "").empty());
  CHECK(load_management_token({}, "abcdefghijklmnop-_.~+/=") == "abcdefghijklmnop-_.~+/=");
  CHECK_THROWS_AS(load_management_token({}, "short"), ConfigError);
  CHECK_THROWS_AS(load_management_token({}, "has a space in the token"), ConfigError);
  CHECK_THROWS_AS(load_management_token({}, "0123456789abcdef\x01"), ConfigError);

  const auto dir = std::filesystem::temp_directory_path() / ("edgefn-token-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "token";
  {
    std::ofstream out(file);
    out << "0123456789abcdef0123\n";
  }
  std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  CHECK(load_management_token(file, "") == "0123456789abcdef0123");
  CHECK_THROWS_AS(load_management_token(file, "0123456789abcdef0123"), ConfigError);
  CHECK_THROWS_AS(load_management_token(dir / "missing", ""), ConfigError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("an address other hosts can reach needs a token") {
  using edgefn::require_token_off_loopback;
  const auto at = [](const char* address) { return tcp::endpoint(asio::ip::make_address(address), 8082); };
  CHECK_NOTHROW(require_token_off_loopback(at("127.0.0.1"), ""));
  CHECK_NOTHROW(require_token_off_loopback(at("127.0.0.2"), ""));
  CHECK_NOTHROW(require_token_off_loopback(at("::1"), ""));
  CHECK_THROWS_AS(require_token_off_loopback(at("0.0.0.0"), ""), edgefn::ConfigError);
  CHECK_THROWS_AS(require_token_off_loopback(at("::"), ""), edgefn::ConfigError);
  CHECK_THROWS_AS(require_token_off_loopback(at("192.168.1.10"), ""), edgefn::ConfigError);
  CHECK_NOTHROW(require_token_off_loopback(at("0.0.0.0"), "0123456789abcdef"));
}
