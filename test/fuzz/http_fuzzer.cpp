// The HTTP trigger's request path up to dispatch, without a socket: the
// bytes a client sends on one connection go to Beast's request parser set
// up as the session sets it up (http_session.cpp, serve_one(): the
// trigger's header and body limits, the GrowingBody reader, one buffer
// carried from request to request), each header through the framing check
// (http_wire::check_framing), each complete request through
// http_wire::make_event(), and the event through the shm encoding that
// carries it to a Python worker and back.
//
// Each input runs three times: with the default settings in one read (as a
// small request arrives), with the same settings a few bytes per read (as a
// slow or hostile client sends it), and with tight limits (maxHeaderSize
// 1024, maxRequestBodySize 64). What must hold: no memory error or
// undefined behaviour; the first two runs dispatch the same events and end
// the same way (where a read splits the bytes must not change what they
// mean);
// the event decodes from its shm head as it was.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "runtime/python/worker_protocol.hpp"
#include "trigger/http/http_core.hpp"
#include "trigger/http/http_settings.hpp"
#include "trigger/http/http_wire.hpp"

namespace {

using namespace edgefn;
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "http_fuzzer: %s\n%s\n", what, detail.c_str());
  std::abort();
}

// A connection's incoming bytes, handed out `chunk` bytes per read (0: all
// that is left), then end of stream.
class ByteStream {
 public:
  ByteStream(std::string_view bytes, std::size_t chunk) : bytes_(bytes), chunk_(chunk) {}

  bool exhausted() const noexcept { return bytes_.empty(); }

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, beast::error_code& ec) {
    ec = {};
    if (bytes_.empty()) {
      ec = net::error::eof;
      return 0;
    }
    std::size_t limit = chunk_ ? std::min(chunk_, bytes_.size()) : bytes_.size();
    std::size_t n = net::buffer_copy(buffers, net::buffer(bytes_.data(), limit));
    bytes_.remove_prefix(n);
    return n;
  }

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    beast::error_code ec;
    std::size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

 private:
  std::string_view bytes_;
  std::size_t chunk_;
};

// What serve_one() answers for a read error (reject_read_error()).
std::string read_error_verdict(const beast::error_code& ec) {
  if (ec == http::error::header_limit) return "431";
  if (ec == http::error::body_limit) return "413";
  if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == net::error::eof)
    return "close";
  return "400";
}

void append_pairs(std::string& out, const Headers& pairs) {
  for (const auto& [name, value] : pairs) out.append(name).append(": ").append(value).append("\n");
}

std::string describe(const Event& e) {
  std::string out = e.method + " " + e.path + " " + e.url + " [" + e.content_type + "]\n";
  append_pairs(out, e.headers);
  out += "?\n";
  append_pairs(out, e.fields);
  return out + "body " + std::to_string(e.body.size()) + ": " + e.body + "\n";
}

// The event a Python worker receives is the event the trigger made.
void check_shm_round_trip(const Event& e) {
  auto decoded = python::decode_event(python::encode_event_head(e), e.body);
  if (!decoded) fail("the event's shm head does not decode", decoded.error());
  const Event& d = decoded->event;
  if (d.method != e.method || d.path != e.path || d.url != e.url || d.content_type != e.content_type ||
      d.headers != e.headers || d.fields != e.fields || d.body != e.body || d.id != e.id ||
      d.trigger->kind != e.trigger->kind || d.trigger->name != e.trigger->name || d.timestamp != e.timestamp)
    fail("the event changed on its way through the shm head", describe(e) + "---\n" + describe(d));
}

const TriggerInfo kTrigger{"http", "fuzz"};

// What one connection came to: the events dispatched, in order, and the
// verdict that ended it, if the connection did not simply run out of
// requests.
struct Outcome {
  std::vector<std::string> events;
  std::string verdict;

  std::string text() const {
    std::string out;
    for (const auto& e : events) out += e + "\n";
    return out + "verdict: " + verdict + "\n";
  }
};

// One connection, as Session::run() and serve_one() read it.
Outcome serve(std::string_view bytes, const HttpSettings& settings, std::size_t chunk) {
  Outcome outcome;
  ByteStream stream(bytes, chunk);
  beast::flat_buffer buffer;
  for (int requests = 0; requests < 64; ++requests) {
    if (buffer.size() == 0 && stream.exhausted()) break;
    http::request_parser<http_trigger::GrowingBody> parser;
    parser.header_limit(settings.max_header_size);
    parser.body_limit(settings.max_request_body_size);
    beast::error_code ec;
    http::read_header(stream, buffer, parser, ec);
    if (ec) {
      outcome.verdict = read_error_verdict(ec);
      break;
    }
    if (auto verdict = http_wire::check_framing(parser.get()); verdict.status) {
      outcome.verdict = std::to_string(verdict.status) + " " + verdict.reason;
      break;
    }
    while (!parser.is_done()) {
      http::read_some(stream, buffer, parser, ec);
      if (ec) break;
    }
    if (ec) {
      outcome.verdict = read_error_verdict(ec);
      break;
    }
    auto& req = parser.get();
    const bool keep_alive = req.keep_alive();
    if (req.target().substr(0, 18) == "/__internal/health") {
      outcome.events.push_back("health");
    } else {
      Event e = http_wire::make_event(req, std::move(req.body()));
      e.id = "00000000-0000-4000-8000-000000000000";
      e.trigger = &kTrigger;
      check_shm_round_trip(e);
      outcome.events.push_back(describe(e));
    }
    if (!keep_alive) break;
  }
  return outcome;
}

HttpSettings settings_from_yaml(const char* attributes) {
  TriggerConfig trigger;
  trigger.kind = "http";
  trigger.name = "fuzz";
  trigger.attributes.emplace(YAML::Load(attributes), "attributes", "http_fuzzer", nullptr);
  return read_http_settings(trigger);
}

std::optional<HttpSettings> defaults;
std::optional<HttpSettings> tight;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  defaults = read_http_settings(TriggerConfig{});
  tight = settings_from_yaml("{maxHeaderSize: 1024, maxRequestBodySize: 64}");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto whole = serve(bytes, *defaults, 0);
  // 1 to 7 bytes per read, from the input's length, so the split points
  // vary from input to input but not from run to run.
  const auto trickled = serve(bytes, *defaults, 1 + size % 7);
  // The verdicts may differ in kind: a malformed header seen whole is a
  // 400 where, trickled in, it can still be waiting for more bytes when
  // the stream ends (the connection closes unanswered). Either way nothing
  // more is dispatched.
  if (whole.events != trickled.events || whole.verdict.empty() != trickled.verdict.empty())
    fail("the requests differ with the bytes split across reads", whole.text() + "--- trickled:\n" + trickled.text());
  (void)serve(bytes, *tight, 0);
  return 0;
}
