#pragma once
// The management HTTP server (default 127.0.0.1:8082): /live, /ready,
// /status (JSON), /metrics (Prometheus text). Small and separate from the
// HTTP trigger: it has no limits to tune and must answer while triggers drain.
//
// GET (or HEAD) /live -> 200 "ok"; /ready -> 200 "ready" or 503 "not ready"
// (with ": <reason>" when the not_ready_reason hook gives one);
// /status -> 200 application/json; /metrics -> 200 Prometheus text 0.0.4;
// POST /reload -> the reload's status and JSON report (app/reload.hpp);
// /log-level -> GET the level ("info\n"); PUT with a level as the body, or
// POST ?level=debug, sets it for every logger (400 for an unknown name);
// other paths 404, other methods 405. HTTP/1.1 keep-alive; each connection
// has a 30 s idle/read timeout, 8 KiB of headers and 64 KiB of body at most.
// With a bearer token, /status, /metrics and /log-level answer 401 unless the request
// carries `Authorization: Bearer <token>`; /live and /ready stay open for
// probes, which cannot be given secrets as easily and reveal nothing.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "metrics/metrics.hpp"
#include "util/asio.hpp"
#include "util/unique_function.hpp"

namespace edgefn {

// Called on any thread running the io_context, possibly concurrently. What
// they reference must outlive the io_context's last run(), not just the
// server: a request in flight when stop() is called may still finish.
// An empty hook means: always ready, "{}" status, empty metrics. An
// exception from a hook becomes a 500.
struct ManagementHooks {
  std::function<bool()> ready;               // any I/O thread; must be cheap and thread-safe
  std::function<std::string()> status_json;  // any I/O thread; a JSON object
  MetricsRegistry* metrics = nullptr;        // also counts what the server refuses
  // Why not ready, for the 503's body ("mqtt trigger 'sensors' is not
  // ready"); empty or absent: just "not ready". Any I/O thread.
  std::function<std::string()> not_ready_reason;
  // POST /reload (same token rule as /status): `answer` is called once,
  // from any thread, with the HTTP status and a JSON body. Absent: 404.
  std::function<void(UniqueFunction<void(int status, std::string body)> answer)> reload;
};

struct ManagementAccess {
  std::string bearer_token;  // empty: every path is open
};

// The io_context may run on several threads: the acceptor and each
// connection live on their own strand. `io` must outlive the server.
class ManagementServer {
 public:
  // Connections beyond this are accepted and closed at once, so a flood
  // cannot exhaust file descriptors the triggers need.
  static constexpr std::size_t kMaxConnections = 64;

  // Binds and listens at once (so port 0 resolves before start()); throws
  // StartError naming the address and the --management-address knob.
  ManagementServer(asio::io_context& io, const asio::ip::tcp::endpoint& endpoint, ManagementHooks hooks,
                   ManagementAccess access = {});
  ~ManagementServer();  // stop()

  asio::ip::tcp::endpoint local_endpoint() const;  // the bound address; any thread
  void start();                                    // begins accepting; any thread, non-blocking; once
  void stop() noexcept;  // closes the acceptor and open connections; any thread, non-blocking, idempotent

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace edgefn
