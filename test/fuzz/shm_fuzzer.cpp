// The daemon's end of a Python worker's shm channel, against a compromised
// worker. The worker is played in-process: it maps the real Channel's
// segment a second time (as a worker maps the memfd it inherits), sends
// messages through ring.h's calls, and may also write anything anywhere in
// the segment (its ring's frames and indices, the daemon's ring, the
// control block) between the daemon's calls. The daemon side is the real
// Channel; every message it returns goes where ProcessSupervisor::handle()
// (runtime/python/worker_conversation.cpp) sends it: the worker_protocol
// decoders, the event's invocation logs, and for a response, the HTTP
// response head that the client would get.
//
// What must hold: no memory error or undefined behaviour on the daemon
// side, whatever the worker writes; a decoded response's head parses as
// one HTTP response with the status and the headers the daemon meant
// (a worker cannot split it or add a header of its own); X-Nuclio-Logs
// is a JSON array.
//
// The input is a script of operations (see Op below), read by
// fuzz_input.hpp's Input.
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "fuzz_input.hpp"
#include "runtime/invocation_logs.hpp"
#include "runtime/python/worker_protocol.hpp"
#include "shm/channel.hpp"
#include "shm/ring.h"
#include "trigger/http/http_wire.hpp"
#include "util/json.hpp"

namespace {

using namespace edgefn;
namespace http = boost::beast::http;

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "shm_fuzzer: %s %.*s\n", what, static_cast<int>(detail.size()), detail.data());
  std::abort();
}

// Where ring.h puts a ring's shared fields (each on its own 128-byte line,
// after magic and capacity): the worker may write any of them.
enum RingField : std::size_t { kTail = 128, kHead = 256, kDataWaiter = 384, kSpaceWaiter = 512, kClosed = 640 };

enum class Op : std::uint8_t {
  kMessage,       // the worker sends a well-formed message (any type, head and body)
  kPoke,          // the worker writes bytes anywhere in the segment
  kIndex,         // the worker stores a value into a ring's shared field
  kReceive,       // the daemon takes messages, as its strand does after a wakeup
  kDaemonSend,    // the daemon sends an event (or continues sending one)
  kWorkerRead,    // the worker consumes what the daemon sent
  kWorkerClose,   // the worker closes both rings
  kCount,
};

// Message types a worker sends, and two it has no business sending.
constexpr shm::MessageType kTypes[] = {
    shm::kHelloMessage,          python::kResponseMessage, python::kLogMessage,
    python::kReadyMessage,       python::kInitFailedMessage, python::kPublishMessage,
    python::kExplicitAckMessage, python::kEventMessage,    python::kStopMessage,
};

const TriggerInfo kTrigger{"http", "fuzz"};

Event make_event(std::size_t body_size) {
  Event e;
  e.id = "00000000-0000-4000-8000-000000000000";
  e.trigger = &kTrigger;
  e.method = "POST";
  e.path = "/fuzz";
  e.url = "http://127.0.0.1/fuzz";
  e.content_type = "text/plain";
  // The client asked for the invocation's logs, so LOG records reach an
  // HTTP header.
  e.headers = {{"Host", "127.0.0.1"}, {"X-Nuclio-Log-Level", "debug"}};
  e.body.assign(body_size, 'e');
  return e;
}

// As ProcessSupervisor's spdlog_level() (worker_conversation.cpp).
spdlog::level::level_enum spdlog_level(python::LogLevel level) {
  switch (level) {
    case python::LogLevel::kDebug: return spdlog::level::debug;
    case python::LogLevel::kInfo: return spdlog::level::info;
    case python::LogLevel::kWarn: return spdlog::level::warn;
    default: return spdlog::level::err;
  }
}

bool framing_header(std::string_view name) {
  return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") || iequals(name, "Connection");
}

// The head an HTTP client gets for `response` must parse as one response
// header with the response's status and exactly the fields write_head()
// meant to write: Server, Date, the handler's valid headers, Content-Type
// and Content-Length (none of the two for a bodyless status). A header
// split off a value, or one swallowed, changes the count.
void check_response_head(const Response& response) {
  std::string head;
  const int dropped = http_wire::write_head(head, response, {});
  http::response_parser<http::empty_body> parser;
  parser.eager(false);
  boost::beast::error_code ec;
  const std::size_t used = parser.put(boost::asio::buffer(head), ec);
  if (ec || !parser.is_header_done() || used != head.size()) fail("the response head does not parse:", head);
  const auto& parsed = parser.get();
  if (parsed.result_int() != static_cast<unsigned>(response.status)) fail("the head has another status:", head);

  std::size_t expected = 2;  // Server, Date
  int invalid = 0;
  bool content_type = false;
  for (const auto& [name, value] : response.headers) {
    if (framing_header(name)) continue;
    if (!http_wire::valid_header_name(name) || !http_wire::valid_header_value(value)) {
      ++invalid;
      continue;
    }
    ++expected;
    if (iequals(name, "Content-Type")) content_type = true;
  }
  if (!http_wire::bodyless_status(response.status)) {
    if (!content_type && !response.content_type.empty()) {
      if (http_wire::valid_header_value(response.content_type))
        ++expected;
      else
        ++invalid;
    }
    ++expected;  // Content-Length
  }
  if (dropped != invalid) fail("write_head() miscounted the headers it dropped:", head);
  std::size_t fields = 0;
  for (auto it = parsed.begin(); it != parsed.end(); ++it) ++fields;
  if (fields != expected) fail("the head has another number of fields than was written:", head);

  const auto logs = find_header(response.headers, "X-Nuclio-Logs");
  if (!logs.empty()) {
    std::vector<std::string_view> records;
    if (!json_array_elements(logs, records)) fail("X-Nuclio-Logs is not a JSON array:", logs);
  }
}

class Harness {
 public:
  Harness()
      : channel_(shm::ChannelSettings{.ring_capacity = 4096,
                                      .max_message_size = 6000,
                                      .spin = std::chrono::nanoseconds(0),
                                      .use_eventfd = true}),
        segment_(shm::Segment::map(channel_.segment_fd())) {
    base_ = static_cast<unsigned char*>(segment_.data());
    const auto* control = static_cast<const edgefn_shm_control*>(segment_.data());
    d2w_ = base_ + control->d2w_offset;
    w2d_ = base_ + control->w2d_offset;
    if (edgefn_endpoint_attach(&worker_, segment_.data(), segment_.size(), EDGEFN_SHM_WORKER, channel_.notify_fd(),
                               0) != EDGEFN_RING_OK)
      fail("the worker cannot attach");
  }

  void run(fuzz::Input& in) {
    for (int steps = 0; !in.empty() && steps < 256; ++steps) {
      switch (static_cast<Op>(in.take<std::uint8_t>() % static_cast<std::uint8_t>(Op::kCount))) {
        case Op::kMessage: worker_message(in); break;
        case Op::kPoke: poke(in); break;
        case Op::kIndex: store_index(in); break;
        case Op::kReceive: receive(1 + in.take<std::uint8_t>() % 8); break;
        case Op::kDaemonSend: daemon_send(in.take<std::uint16_t>() % 8192); break;
        case Op::kWorkerRead: worker_read(); break;
        case Op::kWorkerClose: edgefn_endpoint_close(&worker_); break;
        case Op::kCount: break;
      }
    }
    receive(64);
  }

 private:
  void worker_message(fuzz::Input& in) {
    const auto selector = in.take<std::uint8_t>();
    const shm::MessageType type =
        selector < std::size(kTypes) ? kTypes[selector] : static_cast<shm::MessageType>(in.take<std::uint16_t>());
    std::uint64_t id = 0;
    switch (in.take<std::uint8_t>() % 3) {
      case 0: id = in_flight_ ? in_flight_->request_id : 0; break;
      case 1: id = 0; break;
      default: id = in.take<std::uint64_t>(); break;
    }
    const auto head_size = in.take<std::uint16_t>() % 4096;
    const auto body_size = in.take<std::uint16_t>() % 8192;
    out_head_ = std::string(in.bytes(head_size));
    // The body is mostly filler, so that short inputs reach the multi-frame
    // and over-the-limit paths.
    out_body_ = std::string(in.bytes(body_size % 64));
    out_body_.resize(body_size, 'b');
    edgefn_ring_msg_out message;
    edgefn_ring_msg_out_init(&message, type, id, out_head_.data(), out_head_.size(), out_body_.data(),
                             out_body_.size());
    // Whatever does not fit now is dropped mid-message: a worker may stop
    // anywhere, and the daemon must cope with the half it got.
    (void)edgefn_ring_msg_write(&worker_.tx, &message);
  }

  void poke(fuzz::Input& in) {
    const std::size_t offset = in.take<std::uint16_t>() % segment_.size();
    const auto bytes = in.bytes(std::min<std::size_t>(in.take<std::uint8_t>() % 33, segment_.size() - offset));
    std::memcpy(base_ + offset, bytes.data(), bytes.size());
  }

  void store_index(fuzz::Input& in) {
    const auto which = in.take<std::uint8_t>();
    unsigned char* ring = (which & 1) ? d2w_ : w2d_;
    constexpr std::size_t kFields[] = {kTail, kHead, kDataWaiter, kSpaceWaiter, kClosed};
    const std::size_t field = kFields[(which >> 1) % std::size(kFields)];
    if (field == kTail || field == kHead) {
      std::uint64_t value;
      std::memcpy(&value, ring + field, sizeof value);
      // Mostly near the current value, which passes some checks and not
      // others; sometimes anything at all.
      if (which & 0x80)
        value = in.take<std::uint64_t>();
      else
        value += static_cast<std::uint64_t>(static_cast<std::int64_t>(in.take<std::int8_t>()) * 16);
      __atomic_store_n(reinterpret_cast<std::uint64_t*>(ring + field), value, __ATOMIC_SEQ_CST);
    } else {
      __atomic_store_n(reinterpret_cast<std::uint32_t*>(ring + field), in.take<std::uint32_t>(), __ATOMIC_SEQ_CST);
    }
  }

  void daemon_send(std::size_t body_size) {
    if (channel_.sending()) {
      (void)channel_.continue_send();
      return;
    }
    // The body must stay put until the send completes: it is sent from
    // the in-flight event, as the supervisor sends it.
    auto& pending = in_flight_.emplace(Pending{next_request_id_++, make_event(body_size), {}});
    pending.logs.emplace(pending.event);
    const auto status = channel_.start_send(python::kEventMessage, pending.request_id,
                                            python::encode_event_head(pending.event), pending.event.body);
    if (status != shm::ChannelStatus::kOk && status != shm::ChannelStatus::kWouldBlock) in_flight_.reset();
  }

  void worker_read() {
    edgefn_ring_msg_in& in = worker_.in;
    for (int i = 0; i < 8; ++i) {
      int rc = edgefn_ring_msg_begin(&worker_.rx, &in, UINT64_MAX);
      if (rc != EDGEFN_RING_OK) return;
      rc = edgefn_ring_msg_continue(&worker_.rx, &in);
      if (rc != EDGEFN_RING_OK) return;
    }
  }

  void receive(int count) {
    for (int i = 0; i < count; ++i) {
      // What AsyncChannel does before it sleeps, and after the wakeup.
      if (!channel_.ready(shm::WaitFor::kMessage) && channel_.prepare_to_sleep(shm::WaitFor::kMessage))
        channel_.after_wakeup();
      shm::Message m;
      const auto status = channel_.try_receive(m);
      if (status == shm::ChannelStatus::kTooLarge) continue;
      if (status != shm::ChannelStatus::kOk) return;
      handle(std::move(m));
    }
  }

  // As ProcessSupervisor::handle() does.
  void handle(shm::Message m) {
    switch (m.type) {
      case python::kLogMessage: {
        auto record = python::decode_log(m.head);
        if (record && in_flight_ && m.request_id == in_flight_->request_id) {
          in_flight_->logs->add(spdlog_level(record->level), record->message, record->fields_json);
        }
        return;
      }
      case python::kResponseMessage: {
        if (!in_flight_ || m.request_id != in_flight_->request_id) return;
        auto response = python::decode_response(m.head, std::move(m.body));
        if (!response) {
          channel_.fail("malformed response: " + response.error());
          return;
        }
        in_flight_->logs->attach(*response);
        // The pool answers 500 for what is not a final status (worker_pool.cpp).
        if (response->status < 200 || response->status > 599) response->status = 500;
        check_response_head(*response);
        if (!channel_.sending()) in_flight_.reset();
        return;
      }
      case python::kPublishMessage: (void)python::decode_publish(m.head, std::move(m.body)); return;
      case python::kExplicitAckMessage: (void)python::decode_explicit_ack(m.head); return;
      default: return;
    }
  }

  struct Pending {
    std::uint64_t request_id;
    Event event;
    std::optional<InvocationLogs> logs;
  };

  shm::Channel channel_;
  shm::Segment segment_;
  unsigned char* base_ = nullptr;
  unsigned char* d2w_ = nullptr;
  unsigned char* w2d_ = nullptr;
  edgefn_endpoint worker_{};
  std::string out_head_;
  std::string out_body_;
  std::optional<Pending> in_flight_;
  std::uint64_t next_request_id_ = 1;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  edgefn::fuzz::Input in(data, size);
  Harness harness;
  harness.run(in);
  return 0;
}
