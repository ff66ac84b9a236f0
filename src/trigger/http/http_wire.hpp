#pragma once
// The byte-level parts of the HTTP trigger that need no socket: the framing
// check that closes the request-smuggling holes Beast 1.74's parser leaves
// open, the response head writer, query and path decoding. Pure functions,
// unit-tested on their own.
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>

#include "event/event.hpp"

namespace edgefn::http_wire {

namespace http = boost::beast::http;

struct FramingVerdict {
  int status = 0;  // 0: acceptable; else 400 or 501, and the connection closes
  const char* reason = "";
};

// nginx's rules, which Beast 1.74 does not enforce: Transfer-Encoding must be
// exactly "chunked" (else 501), never with Content-Length or on HTTP/1.0
// (400); Content-Length must appear at most once and be all digits (400).
FramingVerdict check_framing(const http::request_header<>& header);

// RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host field, an HTTP/1.0
// one at most (400 otherwise).
FramingVerdict check_host(const http::request_header<>& header);

// About the bytes the header took on the wire: the request line and the
// fields, without the final empty line.
std::uint64_t header_bytes(const http::request_header<>& header);

// Percent-decoding; '+' becomes a space only in query components.
std::string percent_decode(std::string_view text, bool plus_is_space);

// Splits "a=1&b=two%20words" into decoded pairs, in order.
Headers parse_query(std::string_view query);

// The event for a parsed request: method, path (percent-decoded), query
// fields, headers in order, content type, url ("http://" + Host + target)
// and `body`. The id, trigger and timestamp are the caller's to set.
Event make_event(const http::request_header<>& header, std::string body);

std::string_view reason_phrase(int status) noexcept;

// "Fri, 27 Nov 2026 22:44:00 GMT", cached per second per thread.
std::string_view http_date() noexcept;

// Whether a header name is an RFC 9110 token, and a value holds no control
// character but tab (RFC 9110's field-value; clients' parsers, Beast's and
// Node's among them, reject a response with one): what a handler sets is
// checked so it can neither split the response nor make it unreadable.
bool valid_header_name(std::string_view name) noexcept;
bool valid_header_value(std::string_view value) noexcept;

struct HeadOptions {
  bool keep_alive = true;
  bool http10 = false;  // say "Connection: keep-alive" explicitly
};

// Appends the status line and headers of `response` (Content-Length set
// from its body; Content-Length, Transfer-Encoding and Connection from the
// handler dropped; invalid names or values dropped and counted) to `out`.
// Returns how many handler headers were dropped as invalid.
int write_head(std::string& out, const Response& response, const HeadOptions& options,
               const Headers& extra_headers = {});

// True for statuses that never carry a body (1xx, 204, 304).
bool bodyless_status(int status) noexcept;

}  // namespace edgefn::http_wire
