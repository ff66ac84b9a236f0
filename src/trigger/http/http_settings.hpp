#pragma once
// The HTTP trigger's settings, read from the trigger config and its
// attributes. Defaults follow Nuclio where it has the knob, nginx otherwise.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "config/function_config.hpp"

namespace edgefn {

// Nuclio's defaults.
struct CorsSettings {
  bool enabled = false;
  std::vector<std::string> allow_origins{"*"};
  std::vector<std::string> allow_methods{"HEAD", "GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
  std::vector<std::string> allow_headers{"Accept", "Content-Length", "Content-Type", "Authorization",
                                         "X-Nuclio-Log-Level"};
  std::vector<std::string> expose_headers;
  bool allow_credentials = false;
  int preflight_max_age_seconds = 5;  // -1: no Access-Control-Max-Age
};

struct HttpSettings {
  std::string host;  // empty: all interfaces
  std::uint16_t port = 8080;
  std::uint64_t max_request_body_size = 4 * 1024 * 1024;  // inclusive
  std::uint32_t max_header_size = 16 * 1024;
  // Request bodies held at once by all connections together, counted as they
  // arrive: without it 1,024 connections may hold 1,024 full bodies (4 GiB).
  std::uint64_t max_total_request_body_size = 64 * 1024 * 1024;
  // Response headers a handler may produce; larger ones become a 500.
  std::uint32_t max_response_header_size = 64 * 1024;
  // At this many connections a new one closes the connection idle the
  // longest; when none is idle it answers 503.
  std::size_t max_connections = 1024;
  // nginx's client_header_timeout: the whole header, from its first byte.
  std::chrono::milliseconds header_timeout{60'000};
  // nginx's client_body_timeout: between two reads of the body.
  std::chrono::milliseconds body_timeout{60'000};
  // Apache mod_reqtimeout's MinRate: the body's time allowance, first
  // body_timeout, grows by one second per this many bytes received, so a
  // trickle cannot hold a connection for ever. 0: no rate.
  std::uint64_t body_min_rate = 1024;  // bytes per second
  // The whole body, from the end of the header; 0: none.
  std::chrono::milliseconds body_deadline{0};
  // nginx's keepalive_timeout: an idle connection between requests.
  std::chrono::milliseconds keep_alive_timeout{75'000};
  // Also bounds writing a response to a client that stopped reading.
  std::chrono::milliseconds send_timeout{60'000};
  // The status of an event that ran past spec.eventTimeout: Nuclio's 408,
  // or 504 for clients behind a proxy that retries a 408 on its own (the
  // request may well have had effects).
  int event_timeout_status = 408;
  CorsSettings cors;
};

// The http trigger's attributes (spec.triggers.<name>.attributes), with
// `cors` nested; defaults from HttpSettings' and CorsSettings' members.
const ConfigMap& http_config_map();

// Reads the trigger's url and attributes. `listen_override` is
// --http-listen ("host:port"), which wins when not empty. Throws ConfigError.
HttpSettings read_http_settings(const TriggerConfig& trigger, const std::string& listen_override = {});

// "host:port", ":port", "port", "http://host:port/..." -> host and port.
// Throws ConfigError with `what` in the message on a malformed address.
void parse_listen_address(const std::string& text, const std::string& what, std::string& host, std::uint16_t& port);

}  // namespace edgefn
