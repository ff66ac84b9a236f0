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

void read_cors(const ConfigNode& node, CorsSettings& cors) {
  if (!node.defined()) return;
  if (!node.is_map()) node.fail("expected a mapping with enabled, allowOrigins, allowMethods, ...");
  node.check_keys({"enabled", "allowOrigins", "allowMethods", "allowHeaders", "allowCredentials",
                   "preflightMaxAgeSeconds", "exposeHeaders"});
  cors.enabled = node.get_bool("enabled", false);
  if (auto n = node.child("allowOrigins"); n.defined()) cors.allow_origins = n.as_string_list();
  if (auto n = node.child("allowMethods"); n.defined()) cors.allow_methods = n.as_string_list();
  if (auto n = node.child("allowHeaders"); n.defined()) cors.allow_headers = n.as_string_list();
  if (auto n = node.child("exposeHeaders"); n.defined()) cors.expose_headers = n.as_string_list();
  cors.allow_credentials = node.get_bool("allowCredentials", false);
  cors.preflight_max_age_seconds = static_cast<int>(node.get_int("preflightMaxAgeSeconds", -1, -1, 86400 * 365));
}

std::chrono::milliseconds millis(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

}  // namespace

HttpSettings read_http_settings(const TriggerConfig& trigger, const std::string& listen_override) {
  HttpSettings s;
  std::optional<ConfigNode> attrs;
  if (trigger.attributes && trigger.attributes->defined()) {
    attrs = trigger.attributes;
    if (!attrs->is_map()) attrs->fail("expected a mapping");
    attrs->check_keys({"port", "maxRequestBodySize", "cors", "maxHeaderSize", "maxConnections", "readHeaderTimeout",
                       "readBodyTimeout", "keepAliveTimeout", "writeTimeout"},
                      {"ingresses", "serviceType", "externalIPAddresses", "exposeHeaders"});
    s.max_request_body_size = static_cast<std::uint64_t>(
        attrs->get_int("maxRequestBodySize", static_cast<std::int64_t>(s.max_request_body_size), 0,
                       std::int64_t{1} << 40));
    s.max_header_size = static_cast<std::uint32_t>(attrs->get_int("maxHeaderSize", s.max_header_size, 1024, 1 << 20));
    s.max_connections =
        static_cast<std::size_t>(attrs->get_int("maxConnections", static_cast<std::int64_t>(s.max_connections), 1,
                                                1'000'000));
    s.header_timeout = millis(attrs->get_duration("readHeaderTimeout", s.header_timeout));
    s.body_timeout = millis(attrs->get_duration("readBodyTimeout", s.body_timeout));
    s.keep_alive_timeout = millis(attrs->get_duration("keepAliveTimeout", s.keep_alive_timeout));
    s.send_timeout = millis(attrs->get_duration("writeTimeout", s.send_timeout));
    read_cors(attrs->child("cors"), s.cors);
  }

  if (!listen_override.empty()) {
    parse_listen_address(listen_override, "--http-listen", s.host, s.port);
  } else if (!trigger.url.empty()) {
    parse_listen_address(trigger.url, trigger.mark.to_string() + ": spec.triggers." + trigger.name + ".url", s.host,
                         s.port);
  } else if (attrs && attrs->child("port").defined()) {
    s.port = static_cast<std::uint16_t>(attrs->child("port").as_int(0, 65535));
  }
  return s;
}

}  // namespace edgefn
