#include "trigger/http/http_wire.hpp"

#include <charconv>
#include <ctime>
#include <iterator>

namespace edgefn::http_wire {

FramingVerdict check_framing(const http::request_header<>& header) {
  int te_count = 0;
  int cl_count = 0;
  bool te_chunked_only = true;
  for (const auto& field : header) {
    auto name = field.name_string();
    if (iequals(name, "Transfer-Encoding")) {
      ++te_count;
      if (!iequals(field.value(), "chunked")) te_chunked_only = false;
    } else if (iequals(name, "Content-Length")) {
      ++cl_count;
      auto v = field.value();
      if (v.empty() || v.find_first_not_of("0123456789") != std::string_view::npos)
        return {400, "invalid Content-Length"};
    }
  }
  if (cl_count > 1) return {400, "repeated Content-Length"};
  if (te_count == 0) return {};
  if (header.version() < 11) return {400, "Transfer-Encoding on HTTP/1.0"};
  if (cl_count > 0) return {400, "both Transfer-Encoding and Content-Length"};
  if (te_count > 1 || !te_chunked_only) return {501, "unsupported Transfer-Encoding"};
  return {};
}

FramingVerdict check_host(const http::request_header<>& header) {
  const auto hosts = header.count(http::field::host);
  if (hosts > 1) return {400, "repeated Host header"};
  if (hosts == 0 && header.version() >= 11) return {400, "missing Host header"};
  return {};
}

std::uint64_t header_bytes(const http::request_header<>& header) {
  // "METHOD target HTTP/1.1\r\n"
  std::uint64_t total = header.method_string().size() + header.target().size() + 12;
  for (const auto& field : header) total += field.name_string().size() + field.value().size() + 4;
  return total;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      int hi = hex_value(text[i + 1]);
      int lo = hex_value(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

Headers parse_query(std::string_view query) {
  Headers fields;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    if (eq == std::string_view::npos)
      fields.emplace_back(percent_decode(part, true), std::string{});
    else
      fields.emplace_back(percent_decode(part.substr(0, eq), true), percent_decode(part.substr(eq + 1), true));
  }
  return fields;
}

Event make_event(const http::request_header<>& header, std::string body) {
  Event e;
  e.method = std::string{header.method_string()};
  auto target = header.target();
  auto question = target.find('?');
  e.path = percent_decode(target.substr(0, question), false);
  if (question != std::string_view::npos) e.fields = parse_query(target.substr(question + 1));
  e.headers.reserve(static_cast<std::size_t>(std::distance(header.begin(), header.end())));
  for (const auto& field : header) {
    auto name = field.name_string();
    if (iequals(name, "Content-Type")) e.content_type = std::string{field.value()};
    e.headers.emplace_back(std::string{name}, std::string{field.value()});
  }
  auto host = header[http::field::host];
  e.url.reserve(7 + host.size() + target.size());
  e.url.append("http://").append(host).append(target);
  e.body = std::move(body);
  return e;
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: break;
  }
  if (status < 200) return "Informational";
  if (status < 300) return "Success";
  if (status < 400) return "Redirection";
  if (status < 500) return "Client Error";
  return "Server Error";
}

std::string_view http_date() noexcept {
  thread_local std::time_t cached_second = 0;
  thread_local char buffer[64];
  thread_local std::size_t length = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    length = std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_second = now;
  }
  return {buffer, length};
}

bool valid_header_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    bool token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 std::string_view{"!#$%&'*+-.^_`|~"}.find(static_cast<char>(c)) != std::string_view::npos;
    if (!token) return false;
  }
  return true;
}

bool valid_header_value(std::string_view value) noexcept {
  for (unsigned char c : value)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  return true;
}

bool bodyless_status(int status) noexcept { return status < 200 || status == 204 || status == 304; }

namespace {

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

}  // namespace

int write_head(std::string& out, const Response& response, const HeadOptions& options, const Headers& extra_headers) {
  char number[24];
  out.append("HTTP/1.1 ");
  auto [end, ec] = std::to_chars(number, number + sizeof number, response.status);
  (void)ec;
  out.append(number, end);
  out.push_back(' ');
  out.append(reason_phrase(response.status));
  out.append("\r\n");
  append_header(out, "Server", "edgefn");
  append_header(out, "Date", http_date());

  int dropped = 0;
  bool content_type_set = false;
  for (const auto* list : {&response.headers, &extra_headers}) {
    for (const auto& [name, value] : *list) {
      if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") || iequals(name, "Connection"))
        continue;
      if (!valid_header_name(name) || !valid_header_value(value)) {
        ++dropped;
        continue;
      }
      if (iequals(name, "Content-Type")) content_type_set = true;
      append_header(out, name, value);
    }
  }
  const bool bodyless = bodyless_status(response.status);
  if (!bodyless && !content_type_set && !response.content_type.empty()) {
    if (valid_header_value(response.content_type))
      append_header(out, "Content-Type", response.content_type);
    else
      ++dropped;
  }
  if (!bodyless) {
    auto [len_end, len_ec] = std::to_chars(number, number + sizeof number, response.body.size());
    (void)len_ec;
    append_header(out, "Content-Length", std::string_view(number, len_end - number));
  }
  if (!options.keep_alive)
    append_header(out, "Connection", "close");
  else if (options.http10)
    append_header(out, "Connection", "keep-alive");
  out.append("\r\n");
  return dropped;
}

}  // namespace edgefn::http_wire
