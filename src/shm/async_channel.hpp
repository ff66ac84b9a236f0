#pragma once
// Drives a Channel from Asio with no thread per worker. While a reply is
// expected (an empty Python handler answers in microseconds) it polls the
// ring between other handlers on the executor, for at most `spin` (less
// while recent spins were in vain); then it arms the doorbell and waits on
// the channel's eventfd with epoll, costing nothing until the worker
// writes it. interrupt() wakes a waiting receive() for the owner's own
// reasons (an event to send, a message to answer), without a system call.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "shm/channel.hpp"
#include "util/asio.hpp"

namespace edgefn::shm {

class AsyncChannel {
 public:
  // `channel` must have been created with use_eventfd and must outlive this
  // object. Every call runs on `executor` (a strand), one at a time (a
  // send and a receive may not be pending together). Throws on a failed
  // dup().
  AsyncChannel(asio::any_io_executor executor, Channel& channel,
               std::chrono::nanoseconds spin = std::chrono::microseconds(50));

  // Sends one whole message, waiting for ring space as needed. `body` must
  // stay valid until completion. kOk, kClosed, kTooLarge, kProtocolError.
  awaitable<ChannelStatus> send(MessageType type, std::uint64_t request_id, std::string head, std::string_view body);

  // The next complete message: kOk, kClosed, kTooLarge (skipped; `out` has
  // its type and id), kProtocolError; kWouldBlock when interrupt() was
  // called and no message is complete yet. `spin`: poll before sleeping
  // (when an answer is due soon); false sleeps at once (when idle).
  // There is no timeout of its own: to bound a wait (handshake, event
  // timeout), close the Channel from a timer or another thread, and the
  // pending call completes with kClosed.
  awaitable<ChannelStatus> receive(Message& out, bool spin = true);

  // Makes a pending or the next receive() return kWouldBlock (unless a
  // message is complete). On the executor.
  void interrupt();

 private:
  // False when the eventfd failed (the channel is then closed).
  awaitable<bool> wait(WaitFor what, bool spin);

  Channel& channel_;
  asio::posix::stream_descriptor fd_;
  std::chrono::nanoseconds spin_;
  edgefn_spin spin_state_{};
  bool interrupted_ = false;
  bool sleeping_ = false;  // in the doorbell read: interrupt() cancels it
};

}  // namespace edgefn::shm
