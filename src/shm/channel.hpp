#pragma once
// The daemon's end of one worker's shm channel: a segment holding two rings
// (protocol in ring.h), the eventfd the daemon sleeps on, the HELLO
// handshake, and whole messages (heads in codec.hpp) chunked over frames.
// The worker's end is runtimes/python/edgefn_channel.py (or any program
// using ring.h's edgefn_endpoint_* calls).
//
// Spawning a worker: construct the Channel, then start the child with
// segment_fd(), notify_fd() and bell_fd() passed as inherited descriptors (the
// spawner, process/spawner.hpp, also sets PR_SET_PDEATHSIG: a worker asleep
// on its futex would otherwise outlive a SIGKILLed daemon), and tell it
// their numbers (EDGEFN_SHM_FD, EDGEFN_SHM_NOTIFY_FD, EDGEFN_SHM_BELL_FD for
// the Python worker).
// The worker maps the segment, attaches and sends HELLO; try_receive() answers it and returns
// it, after which connected() is true and events may be sent. A worker that
// dies cannot say so: watch its process (a pidfd on the same io_context,
// or SIGCHLD) and close() the Channel when it exits, which completes any
// pending wait with kClosed. One Channel per worker process: a restarted
// worker gets a fresh Channel (and segment). Everything the daemon reads
// from the segment is checked: the worker may write anything there.
//
// Waiting: the daemon never blocks a thread per worker. The worker writes
// notify_fd() whenever the daemon announced it would sleep (prepare_to_sleep)
// and a message, ring space or a close arrives; an event loop polls the fd
// (AsyncChannel in async_channel.hpp does it for Asio). The blocking calls
// spin then poll the same fd, for tests, tools and the benchmark.
//
// Threads: one thread (or strand) at a time uses a Channel, except close(),
// which any thread may call at any time; it wakes that thread.
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shm/codec.hpp"
#include "shm/ring.h"
#include "shm/segment.hpp"
#include "util/unique_fd.hpp"  // inherit_fd, for spawning a worker

namespace edgefn::shm {

struct ChannelSettings {
  // Bytes of data in each ring (a power of two, at least 4096). A message
  // over a quarter of it travels in several frames.
  std::size_t ring_capacity = std::size_t{1} << 20;
  // Largest message (head + body) either way: above the trigger's
  // maxRequestBodySize plus room for the head. Larger ones are refused or
  // skipped with kTooLarge, never truncated.
  std::uint64_t max_message_size = std::uint64_t{64} << 20;
  // How long the blocking calls spin before they sleep, at most (the spin
  // adapts: see edgefn_spin in ring.h). Covers an empty Python handler's
  // round trip (6-12 us measured) with room to spare.
  std::chrono::nanoseconds spin{std::chrono::microseconds(50)};
  // false: no eventfd; the daemon sleeps on the futex word like the worker
  // (blocking calls only). For tests of a worker that inherits no fd.
  bool use_eventfd = true;
  // true: a second eventfd, the worker's bell (WORKER BELL in ring.h), for
  // a worker that waits on it in its own event loop.
  bool worker_bell = true;
};

enum class ChannelStatus {
  kOk,
  kWouldBlock,     // non-blocking calls: nothing (more) can be done yet
  kTimeout,        // blocking calls
  kClosed,         // closed by either side: the worker is gone or stopping
  kTooLarge,       // over max_message_size: refused (send) or skipped (receive)
  kProtocolError,  // the worker broke the protocol; the channel is now closed
};
const char* to_string(ChannelStatus status) noexcept;

struct Message {
  MessageType type{};
  std::uint64_t request_id = 0;
  std::string head;
  std::string body;
};

// What a sleeper waits for; a close wakes either.
enum class WaitFor { kMessage, kSpace };

class Channel {
 public:
  // Creates the segment and the eventfd. Throws ShmError.
  explicit Channel(ChannelSettings settings = {});
  // Closes the channel, unmaps the segment and closes both descriptors.
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // The sealed memfd holding the rings (O_CLOEXEC), owned by the Channel.
  int segment_fd() const noexcept { return segment_.fd(); }
  // EFD_NONBLOCK | EFD_CLOEXEC, owned by the Channel; -1 without eventfd.
  int notify_fd() const noexcept { return notify_fd_; }
  // The worker's bell: EFD_NONBLOCK | EFD_CLOEXEC, owned by the Channel; -1
  // without worker_bell. The worker inherits it and reads it; the daemon
  // only writes it.
  int bell_fd() const noexcept { return bell_fd_; }
  const ChannelSettings& settings() const noexcept { return settings_; }

  // Set when the worker's HELLO has been received and answered.
  bool connected() const noexcept { return worker_pid_ != 0; }
  pid_t worker_pid() const noexcept { return worker_pid_; }

  // ---- Non-blocking ----
  // Starts sending one message and writes what fits now: kOk when all of it
  // is in the ring, kWouldBlock when the rest waits for space (then
  // continue_send() after a wakeup; `body` must stay valid until kOk), or
  // kClosed, kTooLarge (nothing sent). While a send is pending, start_send()
  // returns kWouldBlock and does nothing.
  ChannelStatus start_send(MessageType type, std::uint64_t request_id, std::string head, std::string_view body);
  ChannelStatus continue_send();
  bool sending() const noexcept { return sending_; }

  // Takes one complete message if there is one: kOk, kWouldBlock (none, or
  // only part of one yet), kClosed, kTooLarge (one over the limit was
  // skipped; `out` has its type and id only), kProtocolError. A HELLO is
  // checked and answered here, then returned like any message.
  ChannelStatus try_receive(Message& out);

  // True when `what` can be done now without sleeping.
  bool ready(WaitFor what) noexcept;
  // Announces that this thread is about to sleep on notify_fd() until
  // `what` is possible. false: it already is, do not sleep. true: sleep
  // until notify_fd() is readable, then call after_wakeup() and retry.
  bool prepare_to_sleep(WaitFor what) noexcept;
  // `counter_read`: the caller's wakeup was a read of notify_fd() that
  // returned its counter, so there is nothing left to clear there.
  void after_wakeup(bool counter_read = false) noexcept;

  // ---- Blocking: spin for settings().spin, then sleep ----
  ChannelStatus send(MessageType type, std::uint64_t request_id, std::string head, std::string_view body,
                     std::chrono::nanoseconds timeout);
  ChannelStatus receive(Message& out, std::chrono::nanoseconds timeout);
  // Receives until the worker's HELLO: kOk, kTimeout, kClosed, kProtocolError.
  ChannelStatus accept(std::chrono::nanoseconds timeout);

  // The worker sees kClosed from now on; a thread sleeping in this Channel
  // wakes. Any thread; idempotent.
  void close() noexcept;
  bool closed() const noexcept;

  // What went wrong, for the last kProtocolError or kTooLarge.
  const std::string& last_error() const noexcept { return last_error_; }

  // Gives up on the channel: records `what` as last_error(), closes it, and
  // returns kProtocolError. For what the owner finds wrong (a malformed
  // head, a failed doorbell).
  ChannelStatus fail(std::string what);

 private:
  enum class Receiving { kIdle, kMessage, kSkipping };

  ChannelStatus on_hello(const Message& hello);
  ChannelStatus wait(WaitFor what, std::chrono::steady_clock::time_point deadline);

  ChannelSettings settings_;
  Segment segment_;
  int notify_fd_ = -1;
  int bell_fd_ = -1;
  edgefn_endpoint ep_{};
  pid_t worker_pid_ = 0;

  bool sending_ = false;
  std::string out_head_;
  edgefn_ring_msg_out out_{};

  Receiving receiving_ = Receiving::kIdle;
  std::string in_head_;
  std::string in_body_;

  std::string last_error_;
};

}  // namespace edgefn::shm
