#include "trigger/http/http_settings.hpp"

#include <charconv>

namespace edgefn {

void parse_listen_address(const std::string& text, const std::string& what, std::string& host, std::uint16_t& port) {
  std::string_view s = text;
  if (auto scheme = s.find("://"); scheme != std::string_view::npos) s.remove_prefix(scheme + 3);
  if (auto slash = s.find('/'); slash != std::string_view::npos) s = s.substr(0, slash);
  std::string_view host_part;
  std::string_view port_part = s;
  if (!s.empty() && s.front() == '[') {  // [::1]:8080
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
      throw ConfigError(what + ": expected host:port, got '" + text + "'");
    host_part = s.substr(1, close - 1);
    port_part = s.substr(close + 2);
  } else if (auto colon = s.rfind(':'); colon != std::string_view::npos) {
    host_part = s.substr(0, colon);
    port_part = s.substr(colon + 1);
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port_part.data(), port_part.data() + port_part.size(), value);
  if (port_part.empty() || ec != std::errc{} || ptr != port_part.data() + port_part.size() || value > 65535)
    throw ConfigError(what + ": expected host:port with a port from 0 to 65535, got '" + text + "'");
  host = std::string{host_part};
  if (host == "*") host.clear();
  port = static_cast<std::uint16_t>(value);
}

namespace {

// 1 TiB: a bound that keeps a body limit far from overflowing counters.
constexpr std::int64_t kMaxRequestBodySize = std::int64_t{1} << 40;

ConfigMap make_cors_map() {
  const CorsSettings defaults;
  ConfigMap map{"cors", "", {}, {}};
  map.keys = {
      {.name = "enabled",
       .type = KeyType::kBool,
       .default_value = default_text(defaults.enabled),
       .help = "answer preflight (`OPTIONS`) requests and add CORS headers to responses"},
      {.name = "allowOrigins",
       .type = KeyType::kStringList,
       .default_value = default_text(defaults.allow_origins),
       .help = "origins allowed to call the function"},
      {.name = "allowMethods",
       .type = KeyType::kStringList,
       .default_value = default_text(defaults.allow_methods),
       .help = "methods a preflight request may ask for"},
      {.name = "allowHeaders",
       .type = KeyType::kStringList,
       .default_value = default_text(defaults.allow_headers),
       .help = "request headers a preflight request may ask for"},
      {.name = "exposeHeaders",
       .type = KeyType::kStringList,
       .default_value = default_text(defaults.expose_headers),
       .help = "response headers the browser may show to the page"},
      {.name = "allowCredentials",
       .type = KeyType::kBool,
       .default_value = default_text(defaults.allow_credentials),
       .help = "allow requests with cookies or HTTP authentication"},
      {.name = "preflightMaxAgeSeconds",
       .type = KeyType::kInteger,
       .min = -1,
       .max = 86400 * 365,
       .default_value = default_text(defaults.preflight_max_age_seconds),
       .help = "how long a browser may cache a preflight answer; -1 sends no `Access-Control-Max-Age`"},
  };
  return map;
}

ConfigMap make_http_map() {
  static const ConfigMap cors = make_cors_map();
  const HttpSettings defaults;
  ConfigMap map{"http", "spec.triggers.<name>.attributes", {}, {}};
  map.keys = {
      {.name = "port",
       .type = KeyType::kInteger,
       .min = 0,
       .max = 65535,
       .default_value = default_text(defaults.port),
       .help = "listen port when there is no `url` (and no `--http-listen`); 0 picks a free port"},
      {.name = "maxRequestBodySize",
       .type = KeyType::kInteger,
       .min = 0,
       .max = kMaxRequestBodySize,
       .default_value = default_text(defaults.max_request_body_size),
       .default_note = byte_size_note(defaults.max_request_body_size),
       .help = "bytes; a larger body answers 413"},
      {.name = "maxHeaderSize",
       .type = KeyType::kInteger,
       .min = 1024,
       .max = 1 << 20,
       .default_value = default_text(defaults.max_header_size),
       .default_note = byte_size_note(defaults.max_header_size),
       .help = "bytes; larger request headers answer 431; chunk extensions (400) and trailers (431) count too"},
      {.name = "maxTotalRequestBodySize",
       .type = KeyType::kInteger,
       .min = 0,
       .max = kMaxRequestBodySize,
       .default_value = default_text(defaults.max_total_request_body_size),
       .default_note = byte_size_note(defaults.max_total_request_body_size),
       .help = "bytes of request bodies all connections may hold at once; a body that would exceed it answers 503"},
      {.name = "maxResponseHeaderSize",
       .type = KeyType::kInteger,
       .min = 1024,
       .max = 16 << 20,
       .default_value = default_text(defaults.max_response_header_size),
       .default_note = byte_size_note(defaults.max_response_header_size),
       .help = "bytes; a handler's answer with larger headers is replaced by a 500 and logged"},
      {.name = "maxConnections",
       .type = KeyType::kInteger,
       .min = 1,
       .max = 1'000'000,
       .default_value = default_text(defaults.max_connections),
       .help = "at this many, a new connection closes the one idle the longest; with none idle it answers 503"},
      {.name = "readHeaderTimeout",
       .type = KeyType::kDuration,
       .default_value = default_text(defaults.header_timeout),
       .help = "time to receive a whole request header, from its first byte"},
      {.name = "readBodyTimeout",
       .type = KeyType::kDuration,
       .default_value = default_text(defaults.body_timeout),
       .help = "longest pause between two reads of a request body (408)"},
      {.name = "readBodyMinRate",
       .type = KeyType::kInteger,
       .min = 0,
       .max = kMaxRequestBodySize,
       .default_value = default_text(defaults.body_min_rate),
       .help = "bytes/s; a body gets `readBodyTimeout` plus one second per this many bytes received, then 408; 0: no "
               "rate"},
      {.name = "readBodyDeadline",
       .type = KeyType::kDuration,
       .default_value = default_text(defaults.body_deadline),
       .default_note = "none",
       .help = "time to receive a whole request body, from the end of its header (408); 0: none"},
      {.name = "keepAliveTimeout",
       .type = KeyType::kDuration,
       .default_value = default_text(defaults.keep_alive_timeout),
       .help = "an idle keep-alive connection is closed after this"},
      {.name = "writeTimeout",
       .type = KeyType::kDuration,
       .default_value = default_text(defaults.send_timeout),
       .help = "time to send a response to a client that stopped reading"},
      {.name = "eventTimeoutStatusCode",
       .type = KeyType::kInteger,
       .min = 408,
       .max = 504,
       .default_value = default_text(defaults.event_timeout_status),
       .help = "408 (as Nuclio) or 504: the status of an event that ran past `spec.eventTimeout`; the body is "
               "`{\"error\": \"handler timed out\"}` either way"},
      {.name = "cors",
       .type = KeyType::kMapping,
       .default_note = "disabled",
       .help = "cross-origin requests (see `http.cors`)",
       .fields = &cors},
  };
  add_ignored(map, {"ingresses", "serviceType", "externalIPAddresses"}, "Kubernetes networking");
  add_ignored(map, {"exposeHeaders"}, "");
  add_ignored(map, {"readBufferSize", "reduceMemoryUsage"}, "fasthttp's buffers; see maxHeaderSize");
  add_ignored(map, {"disablePortPublishing"}, "Docker port publishing");
  return map;
}

// Keys and types were checked with the attributes (see http_config_map()).
void read_cors(const ConfigNode& node, const ConfigMap& map, CorsSettings& cors) {
  if (!node.defined()) return;
  if (!node.is_map()) node.fail("expected a mapping with enabled, allowOrigins, allowMethods, ...");
  cors.enabled = node.get_bool("enabled", cors.enabled);
  if (auto n = node.child("allowOrigins"); n.defined()) cors.allow_origins = n.as_string_list();
  if (auto n = node.child("allowMethods"); n.defined()) cors.allow_methods = n.as_string_list();
  if (auto n = node.child("allowHeaders"); n.defined()) cors.allow_headers = n.as_string_list();
  if (auto n = node.child("exposeHeaders"); n.defined()) cors.expose_headers = n.as_string_list();
  cors.allow_credentials = node.get_bool("allowCredentials", cors.allow_credentials);
  cors.preflight_max_age_seconds =
      static_cast<int>(node.get_int(map.at("preflightMaxAgeSeconds"), cors.preflight_max_age_seconds));
}

std::chrono::milliseconds millis(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

}  // namespace

const ConfigMap& http_config_map() {
  static const ConfigMap map = make_http_map();
  return map;
}

HttpSettings read_http_settings(const TriggerConfig& trigger, const std::string& listen_override) {
  HttpSettings s;
  std::optional<ConfigNode> attrs;
  if (trigger.attributes && trigger.attributes->defined()) {
    attrs = trigger.attributes;
    if (!attrs->is_map()) attrs->fail("expected a mapping");
    const ConfigMap& map = http_config_map();
    attrs->check_keys(map);
    s.max_request_body_size = static_cast<std::uint64_t>(
        attrs->get_int(map.at("maxRequestBodySize"), static_cast<std::int64_t>(s.max_request_body_size)));
    s.max_header_size = static_cast<std::uint32_t>(attrs->get_int(map.at("maxHeaderSize"), s.max_header_size));
    s.max_total_request_body_size = static_cast<std::uint64_t>(attrs->get_int(
        map.at("maxTotalRequestBodySize"), static_cast<std::int64_t>(s.max_total_request_body_size)));
    s.max_response_header_size =
        static_cast<std::uint32_t>(attrs->get_int(map.at("maxResponseHeaderSize"), s.max_response_header_size));
    s.max_connections = static_cast<std::size_t>(
        attrs->get_int(map.at("maxConnections"), static_cast<std::int64_t>(s.max_connections)));
    s.header_timeout = millis(attrs->get_duration("readHeaderTimeout", s.header_timeout));
    s.body_timeout = millis(attrs->get_duration("readBodyTimeout", s.body_timeout));
    s.body_min_rate = static_cast<std::uint64_t>(
        attrs->get_int(map.at("readBodyMinRate"), static_cast<std::int64_t>(s.body_min_rate)));
    s.body_deadline = millis(attrs->get_duration("readBodyDeadline", s.body_deadline));
    s.keep_alive_timeout = millis(attrs->get_duration("keepAliveTimeout", s.keep_alive_timeout));
    s.send_timeout = millis(attrs->get_duration("writeTimeout", s.send_timeout));
    if (auto n = attrs->child("eventTimeoutStatusCode"); n.defined()) {
      s.event_timeout_status = static_cast<int>(attrs->get_int(map.at("eventTimeoutStatusCode"), 408));
      if (s.event_timeout_status != 408 && s.event_timeout_status != 504)
        n.fail("expected 408 (as Nuclio) or 504 (for clients behind a proxy)");
    }
    read_cors(attrs->child("cors"), *map.at("cors").fields, s.cors);
  }

  if (!listen_override.empty()) {
    parse_listen_address(listen_override, "--http-listen", s.host, s.port);
  } else if (!trigger.url.empty()) {
    parse_listen_address(trigger.url, trigger.mark.to_string() + ": spec.triggers." + trigger.name + ".url", s.host,
                         s.port);
  } else if (attrs && attrs->child("port").defined()) {
    s.port = static_cast<std::uint16_t>(attrs->get_int(http_config_map().at("port"), s.port));
  }
  return s;
}

}  // namespace edgefn
