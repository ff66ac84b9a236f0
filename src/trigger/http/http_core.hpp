#pragma once
// State shared by the HTTP trigger and its sessions. Sessions hold it by
// shared_ptr, so a session finishing after the trigger object is gone
// touches nothing freed. Each session runs on a strand of its own (its
// socket's executor); what they share is here, under one mutex or atomic.
#include <array>
#include <atomic>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include <boost/beast/core/rate_policy.hpp>
#include <boost/beast/http/message.hpp>
#include <spdlog/logger.h>

#include "trigger/access_log.hpp"
#include "trigger/event_metrics.hpp"
#include "trigger/http/http_limits.hpp"
#include "trigger/http/http_settings.hpp"
#include "trigger/trigger.hpp"

namespace edgefn::http_trigger {

struct Counters {
  EventMetrics events;
  // edgefn_http_rejected_total by reason, indexed by Refusal.
  std::array<Counter*, kRefusals> rejected;
  Counter* evictions;  // idle connections closed to admit a new one
  Gauge* connections;
  Gauge* body_bytes;  // request bodies held, counted against maxTotalRequestBodySize
  // What the sockets of the sessions read and wrote; null when the registry
  // does not record (then nothing is counted per read or write).
  Counter* received_bytes = nullptr;
  Counter* sent_bytes = nullptr;
  // edgefn_http_responses_total by status class, 1xx to 5xx; null when not
  // recording.
  std::array<Counter*, 5> responses{};

  void refused(Refusal refusal) const noexcept { rejected[static_cast<std::size_t>(refusal)]->inc(); }
  void responded(int status) const noexcept {
    const auto cls = static_cast<std::size_t>(status / 100 - 1);
    if (cls < responses.size() && responses[cls]) responses[cls]->inc();
  }
};

// Beast's rate policy hooks, used only to count the bytes a session's
// socket reads and writes: never a limit, so Beast's rate timer never runs.
class ByteCounting {
 public:
  ByteCounting(Counter* received, Counter* sent) noexcept : received_(received), sent_(sent) {}

 private:
  friend class boost::beast::rate_policy_access;
  static constexpr std::size_t kAll = std::numeric_limits<std::size_t>::max();
  std::size_t available_read_bytes() const noexcept { return kAll; }
  std::size_t available_write_bytes() const noexcept { return kAll; }
  void transfer_read_bytes(std::size_t n) const noexcept {
    if (received_) received_->inc(n);
  }
  void transfer_write_bytes(std::size_t n) const noexcept {
    if (sent_) sent_->inc(n);
  }
  void on_timer() noexcept {}

  Counter* received_;
  Counter* sent_;
};

// A request body as it arrives: unlike Beast's string_body, which reserves
// the whole declared Content-Length as soon as the header is read (1,024
// connections times 4 MiB committed by headers alone, on a device without
// overcommit), it grows with the bytes actually received.
struct GrowingBody {
  using value_type = std::string;
  static std::uint64_t size(const value_type& body) { return body.size(); }

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body) {}
    void init(const boost::optional<std::uint64_t>&, error_code& ec) { ec = {}; }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, error_code& ec) {
      std::size_t n = 0;
      for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
        asio::const_buffer b = *it;
        body_.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      ec = {};
      return n;
    }
    void finish(error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

using Request = boost::beast::http::request<GrowingBody>;

struct Core {
  Core(asio::io_context& context, TriggerInfo trigger_info, HttpSettings http_settings, Dispatcher& dispatcher,
       std::chrono::milliseconds availability, bool dev, bool single_threaded, Counters metric_counters,
       std::shared_ptr<spdlog::logger> trigger_logger, bool access_log_on)
      : io(context),
        info(std::move(trigger_info)),
        settings(std::move(http_settings)),
        pool(dispatcher),
        availability_timeout(availability),
        dev_mode(dev),
        single_threaded_io(single_threaded),
        counters(metric_counters),
        logger(std::move(trigger_logger)),
        access(info, access_log_on) {}

  asio::io_context& io;
  TriggerInfo info;
  HttpSettings settings;
  Dispatcher& pool;
  std::chrono::milliseconds availability_timeout;
  bool dev_mode;
  bool single_threaded_io;  // one I/O thread: sessions need no strand of their own
  Counters counters;
  std::shared_ptr<spdlog::logger> logger;
  AccessLog access;

  // Open connections by id: whether each has a request dispatched (taken:
  // it will be answered) and whether it is idle (no request begun). Used to
  // cut connections at drain and to evict one at maxConnections, with
  // shutdown(2) on the descriptor, which is safe from any thread, unlike
  // touching another strand's socket.
  struct Connection {
    int fd;
    bool dispatched = false;
    bool evicted = false;
    std::list<std::uint64_t>::iterator idle;  // idle_.end() while a request is in progress
    // Holds the connection's own list node while it is not idle, so that
    // marking it idle and busy on every request splices, never allocates.
    std::list<std::uint64_t> parked;
  };

  // Registers a new connection, idle until its first byte, when there is
  // room: below maxConnections, or after the connection idle the longest
  // was cut to make room. Its id, or none: refuse it. Accept strand.
  std::optional<std::uint64_t> admit(int fd);
  // Once per admitted connection, before its descriptor is closed. Any
  // thread.
  void remove_connection(std::uint64_t id);
  // A request's first byte arrived; false when the connection was evicted
  // while idle (then it must close without serving). The session's strand.
  bool mark_busy(std::uint64_t id);
  // The connection waits for its next request: evictable, the most
  // recently idle one. The session's strand.
  void mark_idle(std::uint64_t id);
  // A connection's request was dispatched, or answered. Any thread.
  void set_dispatched(std::uint64_t id, bool dispatched);

  // Takes `bytes` of body from maxTotalRequestBodySize; false (nothing
  // taken) when fewer are left. Any thread.
  bool take_body_bytes(std::uint64_t bytes) noexcept;
  void return_body_bytes(std::uint64_t bytes) noexcept;
  std::uint64_t body_bytes_left() const noexcept;

  // Starts the drain: connections with nothing dispatched are cut now (an
  // idle keep-alive connection or a half-received request), the others
  // once answered; `done` runs when none has a request dispatched. Any
  // thread.
  void begin_drain(UniqueFunction<void()> done);
  // After the drain: reads stop on every connection; what is left closes
  // once it has written its answer, or is cut after `grace`. Any thread.
  void shut_down(std::chrono::milliseconds grace);
  bool draining() const noexcept { return draining_.load(std::memory_order_relaxed); }
  std::size_t dispatched() const;
  std::size_t connection_count() const;
  std::size_t idle_count() const;
  // Up to this many open connections, a connection keeps its read buffer
  // between requests; beyond, an idle one gives it back (a flood of idle
  // connections then costs a few hundred bytes each).
  static constexpr std::size_t kKeepBuffersUpTo = 64;
  bool keeps_buffers() const noexcept { return open_.load(std::memory_order_relaxed) <= kKeepBuffersUpTo; }
  std::uint64_t body_bytes() const noexcept { return body_bytes_.load(std::memory_order_relaxed); }

 private:
  void maybe_drained_locked(UniqueFunction<void()>& out);
  void unlist_idle_locked(Connection& connection);

  mutable std::mutex mutex_;
  std::atomic<std::size_t> open_{0};  // connections_.size(), read without the lock
  std::optional<asio::steady_timer> grace_timer_;  // under mutex_, as every call on it
  std::unordered_map<std::uint64_t, Connection> connections_;
  std::list<std::uint64_t> idle_;  // idle connections, the longest idle first
  std::size_t evicted_ = 0;        // cut by admit() and not yet removed
  std::uint64_t next_connection_id_ = 0;
  std::size_t dispatched_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<std::uint64_t> body_bytes_{0};
  UniqueFunction<void()> drained_;
};

// An admitted connection's entry in the Core's registry, removed when this
// is destroyed: before the descriptor is closed, since its number may then
// be reused and a drain must not shut down a stranger.
class Registration {
 public:
  Registration(Core& core, std::uint64_t id) : core_(&core), id_(id) {}
  Registration(Registration&& other) noexcept : core_(std::exchange(other.core_, nullptr)), id_(other.id_) {}
  Registration& operator=(Registration&&) = delete;
  ~Registration() {
    if (core_) core_->remove_connection(id_);
  }

  void set_dispatched(bool dispatched) { core_->set_dispatched(id_, dispatched); }
  bool mark_busy() { return core_->mark_busy(id_); }
  void mark_idle() { core_->mark_idle(id_); }

 private:
  Core* core_;
  std::uint64_t id_;
};

// One connection, from accept to close, on the socket's executor (a
// strand). Never throws.
awaitable<void> run_session(std::shared_ptr<Core> core, asio::ip::tcp::socket socket, Registration registration);

}  // namespace edgefn::http_trigger
