#include "shm/async_channel.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <system_error>

namespace edgefn::shm {

namespace {

int dup_notify_fd(const Channel& channel) {
  // The descriptor object closes what it holds; the Channel keeps its own.
  int fd = ::dup(channel.notify_fd());
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "dup of the shm channel's eventfd");
  return fd;
}

}  // namespace

AsyncChannel::AsyncChannel(asio::any_io_executor executor, Channel& channel, std::chrono::nanoseconds spin)
    : channel_(channel), fd_(executor, dup_notify_fd(channel)), spin_(spin) {}

void AsyncChannel::interrupt() {
  interrupted_ = true;
  // Asleep on the doorbell: cancelling the read completes it on the
  // executor with no system call (writing the eventfd cost a write, an
  // epoll_wait and a read per event). Otherwise the flag is seen at the
  // next poll of the spin or before the next sleep.
  if (sleeping_) {
    error_code ignored;
    fd_.cancel(ignored);
  }
}

awaitable<bool> AsyncChannel::wait(WaitFor what, bool spin_first) {
  auto cap = static_cast<std::uint64_t>(std::max<std::int64_t>(0, spin_.count()));
  std::uint64_t spin = spin_first ? edgefn_spin_next(&spin_state_, cap) : 0;
  if (spin > 0) {
    auto spin_end = std::chrono::steady_clock::now() + std::chrono::nanoseconds(spin);
    bool caught = false;
    while (!caught && !interrupted_ && std::chrono::steady_clock::now() < spin_end) {
      // Yield to the other handlers on this executor between polls, so the
      // I/O thread keeps serving while it spins.
      co_await asio::post(fd_.get_executor(), asio::use_awaitable);
      caught = channel_.ready(what);
    }
    edgefn_spin_done(&spin_state_, cap, spin, caught);
    if (caught || interrupted_) co_return true;
  }
  if (interrupted_ || !channel_.prepare_to_sleep(what)) co_return true;
  // A read, not async_wait: Boost 1.74 registers descriptors edge-triggered
  // and its wait does not look at the fd first, so a doorbell rung between
  // prepare_to_sleep() and the wait (and reported to another I/O thread's
  // epoll) would be lost. A read tries the fd before it sleeps.
  error_code ec;
  std::uint64_t count = 0;
  sleeping_ = true;
  co_await fd_.async_read_some(asio::buffer(&count, sizeof count), asio::redirect_error(asio::use_awaitable, ec));
  sleeping_ = false;
  channel_.after_wakeup(!ec);
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again && ec != asio::error::interrupted &&
      ec != asio::error::operation_aborted) {
    channel_.fail("waiting on the shm doorbell failed: " + ec.message());
    co_return false;
  }
  co_return true;
}

awaitable<ChannelStatus> AsyncChannel::send(MessageType type, std::uint64_t request_id, std::string head,
                                            std::string_view body) {
  auto status = channel_.start_send(type, request_id, std::move(head), body);
  while (status == ChannelStatus::kWouldBlock) {
    if (!co_await wait(WaitFor::kSpace, true)) co_return ChannelStatus::kProtocolError;
    // An interrupt is for receive(); a send carries on.
    interrupted_ = false;
    status = channel_.continue_send();
  }
  co_return status;
}

awaitable<ChannelStatus> AsyncChannel::receive(Message& out, bool spin) {
  for (;;) {
    auto status = channel_.try_receive(out);
    if (status != ChannelStatus::kWouldBlock) co_return status;
    if (interrupted_) {
      interrupted_ = false;
      co_return ChannelStatus::kWouldBlock;
    }
    if (!co_await wait(WaitFor::kMessage, spin)) co_return ChannelStatus::kProtocolError;
  }
}

}  // namespace edgefn::shm
