#include "shm/channel.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace edgefn::shm {

namespace {

using Clock = std::chrono::steady_clock;

std::size_t checked_segment_size(const ChannelSettings& s) {
  std::size_t c = s.ring_capacity;
  if (c < EDGEFN_RING_MIN_CAPACITY || (c & (c - 1)) != 0 || c > (std::size_t{1} << 32)) {
    throw ShmError("shm ring capacity " + std::to_string(c) + " must be a power of two from 4096 to 4 GiB");
  }
  return static_cast<std::size_t>(edgefn_shm_segment_size(c));
}

int64_t left_ns(Clock::time_point deadline) {
  if (deadline == Clock::time_point::max()) return -1;
  auto left = deadline - Clock::now();
  return left.count() < 0 ? 0 : std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
}

Clock::time_point deadline_after(std::chrono::nanoseconds timeout) {
  if (timeout.count() < 0 || timeout > std::chrono::hours(24 * 365)) return Clock::time_point::max();
  return Clock::now() + timeout;
}

}  // namespace

const char* to_string(ChannelStatus status) noexcept {
  switch (status) {
    case ChannelStatus::kOk: return "ok";
    case ChannelStatus::kWouldBlock: return "would block";
    case ChannelStatus::kTimeout: return "timeout";
    case ChannelStatus::kClosed: return "closed";
    case ChannelStatus::kTooLarge: return "too large";
    case ChannelStatus::kProtocolError: return "protocol error";
  }
  return "unknown";
}

Channel::Channel(ChannelSettings settings)
    : settings_(settings), segment_(Segment::create(checked_segment_size(settings))) {
  if (settings_.use_eventfd) {
    notify_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (notify_fd_ < 0) throw ShmError(std::string("cannot create the shm channel's eventfd: ") + std::strerror(errno));
  }
  if (settings_.worker_bell) {
    bell_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (bell_fd_ < 0) {
      int error = errno;
      if (notify_fd_ >= 0) ::close(notify_fd_);
      throw ShmError(std::string("cannot create the shm channel's worker bell: ") + std::strerror(error));
    }
  }
  auto base = segment_.data();
  auto size = static_cast<std::uint64_t>(segment_.size());
  uint32_t flags = (settings_.use_eventfd ? EDGEFN_SHM_DAEMON_EVENTFD : 0) |
                   (settings_.worker_bell ? EDGEFN_SHM_WORKER_BELL : 0);
  int rc = edgefn_shm_format(base, size, settings_.ring_capacity, settings_.max_message_size, flags,
                             static_cast<uint32_t>(getpid()));
  if (rc == EDGEFN_RING_OK) {
    auto spin = static_cast<uint64_t>(std::max<int64_t>(0, settings_.spin.count()));
    rc = edgefn_endpoint_attach(&ep_, base, size, EDGEFN_SHM_DAEMON, notify_fd_, spin);
  }
  if (rc == EDGEFN_RING_OK && bell_fd_ >= 0) rc = edgefn_endpoint_set_bell(&ep_, bell_fd_);
  if (rc != EDGEFN_RING_OK) {
    if (notify_fd_ >= 0) ::close(notify_fd_);
    if (bell_fd_ >= 0) ::close(bell_fd_);
    throw ShmError(std::string("cannot format the shm segment: ") + edgefn_ring_status_name(rc));
  }
}

Channel::~Channel() {
  close();
  if (notify_fd_ >= 0) ::close(notify_fd_);
  if (bell_fd_ >= 0) ::close(bell_fd_);
}

void Channel::close() noexcept { edgefn_endpoint_close(&ep_); }

bool Channel::closed() const noexcept { return edgefn_ring_closed(&ep_.rx) != 0; }

ChannelStatus Channel::fail(std::string what) {
  last_error_ = std::move(what);
  close();
  return ChannelStatus::kProtocolError;
}

ChannelStatus Channel::start_send(MessageType type, std::uint64_t request_id, std::string head, std::string_view body) {
  if (sending_) return ChannelStatus::kWouldBlock;
  if (closed()) return ChannelStatus::kClosed;
  std::uint64_t size = head.size() + body.size();
  if (size > settings_.max_message_size) {
    last_error_ = "message of " + std::to_string(size) + " bytes is over the channel's limit of " +
                  std::to_string(settings_.max_message_size);
    return ChannelStatus::kTooLarge;
  }
  out_head_ = std::move(head);
  edgefn_ring_msg_out_init(&out_, static_cast<uint16_t>(type), request_id, out_head_.data(), out_head_.size(),
                           body.data(), body.size());
  sending_ = true;
  return continue_send();
}

ChannelStatus Channel::continue_send() {
  if (!sending_) return ChannelStatus::kOk;
  int rc = edgefn_ring_msg_write(&ep_.tx, &out_);
  if (rc == EDGEFN_RING_FULL) return ChannelStatus::kWouldBlock;
  sending_ = false;
  if (rc == EDGEFN_RING_OK) return ChannelStatus::kOk;
  if (rc == EDGEFN_RING_CLOSED) return ChannelStatus::kClosed;
  return fail(std::string("cannot write a frame: ") + edgefn_ring_status_name(rc));
}

ChannelStatus Channel::try_receive(Message& out) {
  edgefn_ring_msg_in& in = ep_.in;
  if (receiving_ == Receiving::kIdle) {
    int rc = edgefn_ring_msg_begin(&ep_.rx, &in, settings_.max_message_size);
    if (rc == EDGEFN_RING_EMPTY) return ChannelStatus::kWouldBlock;
    if (rc == EDGEFN_RING_CLOSED) return ChannelStatus::kClosed;
    if (rc == EDGEFN_RING_OK) {
      in_head_.resize(in.head_size);
      in_body_.resize(in.body_size);
      in.head = reinterpret_cast<unsigned char*>(in_head_.data());
      in.body = reinterpret_cast<unsigned char*>(in_body_.data());
      receiving_ = Receiving::kMessage;
    } else if (rc == EDGEFN_RING_TOO_BIG) {
      in.head = nullptr;
      in.body = nullptr;
      receiving_ = Receiving::kSkipping;
    } else {
      return fail(std::string("malformed frame from the worker: ") + edgefn_ring_status_name(rc));
    }
  }
  int rc = edgefn_ring_msg_continue(&ep_.rx, &in);
  if (rc == EDGEFN_RING_EMPTY) return ChannelStatus::kWouldBlock;
  if (rc == EDGEFN_RING_CLOSED) return ChannelStatus::kClosed;
  if (rc != EDGEFN_RING_OK) {
    return fail(std::string("malformed frame from the worker: ") + edgefn_ring_status_name(rc));
  }
  out.type = static_cast<MessageType>(in.type);
  out.request_id = in.request_id;
  if (std::exchange(receiving_, Receiving::kIdle) == Receiving::kSkipping) {
    out.head.clear();
    out.body.clear();
    last_error_ = "skipped a message of " + std::to_string(in.head_size + in.body_size) +
                  " bytes over the channel's limit of " + std::to_string(settings_.max_message_size);
    return ChannelStatus::kTooLarge;
  }
  out.head = std::move(in_head_);
  out.body = std::move(in_body_);
  in_head_ = {};
  in_body_ = {};
  if (out.type == kHelloMessage) return on_hello(out);
  return ChannelStatus::kOk;
}

ChannelStatus Channel::on_hello(const Message& hello) {
  auto decoded = decode_hello(hello.head);
  if (!decoded) return fail("bad HELLO from the worker: " + decoded.error());
  if (decoded->protocol_version != EDGEFN_SHM_PROTOCOL_VERSION) {
    return fail("the worker speaks shm protocol version " + std::to_string(decoded->protocol_version) +
                          ", this daemon version " + std::to_string(EDGEFN_SHM_PROTOCOL_VERSION) +
                          ": runtime files and daemon come from different builds");
  }
  // The reply must not land in the middle of a half-written message.
  if (sending_) return fail("HELLO from the worker arrived while a message was being sent to it");
  std::string reply = encode_hello({EDGEFN_SHM_PROTOCOL_VERSION, static_cast<std::uint32_t>(getpid())});
  edgefn_ring_msg_out m;
  edgefn_ring_msg_out_init(&m, static_cast<uint16_t>(kHelloMessage), 0, reply.data(), reply.size(), nullptr, 0);
  int rc = edgefn_ring_msg_write(&ep_.tx, &m);
  if (rc == EDGEFN_RING_CLOSED) return ChannelStatus::kClosed;
  if (rc != EDGEFN_RING_OK) return fail(std::string("cannot answer HELLO: ") + edgefn_ring_status_name(rc));
  worker_pid_ = static_cast<pid_t>(decoded->pid);
  return ChannelStatus::kOk;
}

bool Channel::ready(WaitFor what) noexcept {
  if (what == WaitFor::kMessage) return edgefn_ring_readable(&ep_.rx) != 0;
  return !sending_ || edgefn_ring_writable(&ep_.tx, edgefn_ring_msg_next_payload(&ep_.tx, &out_)) != 0;
}

bool Channel::prepare_to_sleep(WaitFor what) noexcept {
  if (what == WaitFor::kMessage) return edgefn_ring_arm_readable(&ep_.rx) == 0;
  if (!sending_) return false;
  return edgefn_ring_arm_writable(&ep_.tx, edgefn_ring_msg_next_payload(&ep_.tx, &out_)) == 0;
}

void Channel::after_wakeup(bool counter_read) noexcept {
  if (notify_fd_ >= 0 && !counter_read) {
    std::uint64_t count;
    // Non-blocking: a spurious wakeup finds the counter already read.
    [[maybe_unused]] auto n = ::read(notify_fd_, &count, sizeof count);
  }
  edgefn_ring_disarm_readable(&ep_.rx);
  edgefn_ring_disarm_writable(&ep_.tx);
}

ChannelStatus Channel::wait(WaitFor what, Clock::time_point deadline) {
  for (;;) {
    int rc = what == WaitFor::kMessage
                 ? edgefn_ring_wait_readable(&ep_.rx, ep_.spin_ns, left_ns(deadline))
                 : edgefn_ring_wait_writable(&ep_.tx, edgefn_ring_msg_next_payload(&ep_.tx, &out_), ep_.spin_ns,
                                             left_ns(deadline));
    if (rc == EDGEFN_RING_OK) return ChannelStatus::kOk;
    if (rc == EDGEFN_RING_TIMEOUT) return ChannelStatus::kTimeout;
    if (rc != EDGEFN_RING_INTERRUPTED) {
      return fail(std::string("waiting on the shm doorbell failed: ") + std::strerror(errno));
    }
  }
}

ChannelStatus Channel::send(MessageType type, std::uint64_t request_id, std::string head, std::string_view body,
                            std::chrono::nanoseconds timeout) {
  auto deadline = deadline_after(timeout);
  auto status = start_send(type, request_id, std::move(head), body);
  while (status == ChannelStatus::kWouldBlock) {
    if (auto waited = wait(WaitFor::kSpace, deadline); waited != ChannelStatus::kOk) return waited;
    status = continue_send();
  }
  return status;
}

ChannelStatus Channel::receive(Message& out, std::chrono::nanoseconds timeout) {
  auto deadline = deadline_after(timeout);
  for (;;) {
    auto status = try_receive(out);
    if (status != ChannelStatus::kWouldBlock) return status;
    if (auto waited = wait(WaitFor::kMessage, deadline); waited != ChannelStatus::kOk) return waited;
  }
}

ChannelStatus Channel::accept(std::chrono::nanoseconds timeout) {
  auto deadline = deadline_after(timeout);
  Message message;
  while (!connected()) {
    auto status = receive(message, std::chrono::nanoseconds(left_ns(deadline)));
    if (status != ChannelStatus::kOk) return status;
    if (message.type != kHelloMessage) {
      return fail("the worker sent message type " + std::to_string(static_cast<int>(message.type)) +
                            " before HELLO");
    }
  }
  return ChannelStatus::kOk;
}

}  // namespace edgefn::shm
