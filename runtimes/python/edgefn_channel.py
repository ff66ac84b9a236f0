"""The worker's end of the edgefn shared-memory channel, protocol version 3.

The daemon (src/shm/channel.hpp) creates one anonymous, sealed memfd per
worker and spawns the worker with it inherited: EDGEFN_SHM_FD=<its fd> and,
usually, EDGEFN_SHM_NOTIFY_FD=<fd of the daemon's eventfd> and
EDGEFN_SHM_BELL_FD=<fd of the worker's bell, an eventfd>. Nothing has a
name in /dev/shm. Ring indices and doorbell words are touched only by the C
helper libedgefn_ring.so (loaded with ctypes, GIL released while it blocks),
never by Python byte writes, which are neither atomic nor ordered. Python
itself only reads: the control block's magic and version (for a clear
error), and a message's bytes once the helper has acquired them and until
it releases them.

Transport (the same text as src/shm/ring.h and src/shm/codec.hpp; all
integers little-endian):

Segment (the memfd, its size fixed by seals):
  offset 0: control block, 4096 bytes: u64 magic "EDGEFNSH", u32 version,
    u32 control size, u64 segment size, u64 d2w offset, u64 d2w size,
    u64 w2d offset, u64 w2d size, u64 max message size, u32 daemon pid,
    u32 flags (bit 0: the daemon sleeps on an eventfd; wake it through it;
    bit 1: the worker has a bell).
  then ring D->W (events) and ring W->D (hello, responses, logs).
Ring: a 1024-byte header (magic, capacity; head, tail, two futex waiter
  words and a closed flag, each on its own 128-byte line), then capacity
  bytes (a power of two). head/tail count bytes forever, in multiples of 16;
  offset = pos mod capacity. Indices are private: each side keeps its own
  (the producer's tail, the consumer's head) in its process, takes it from
  the ring once at attach and from then on only publishes it, never reading
  it back, so that a peer scribbling on it cannot steer reads or writes. The
  peer's index is checked on every load (a multiple of 16, never going
  backwards, tail - head <= capacity); a violation makes the ring unusable
  (ProtocolError here) and the channel is closed.
Frame: on a 16-byte boundary, header u32 size, u16 type (0 = PAD), u16 flags
  (1 FIRST, 2 LAST), u64 request id; payload; padded to 16. A frame never
  wraps: a PAD frame fills the end of the ring instead. Payload at most
  capacity / 4 - 16 bytes.
Message: (type, request id, head, body) in frames of that type and id, FIRST
  on the first, LAST on the last; the first payload starts with u64 total
  size (head + body), u32 head size, u32 zero. Larger than the control
  block's max message size: refused by the sender, skipped by the receiver.
Handshake: the worker checks magic and version, sends HELLO, and waits for
  the daemon's HELLO.
Doorbell: a reader with nothing to read spins briefly, sets its waiter word,
  re-checks and sleeps (the worker on the futex word, the daemon on its
  eventfd); a writer wakes the reader only if its word is set. Idle workers
  use no CPU.
Worker bell (version 3): a worker waiting inside an asyncio loop cannot
  sleep on a futex. It arms ring D->W's waiter word with 2 instead of 1 and
  watches its bell, an eventfd the daemon writes when it finds 2 there
  (arm_bell, clear_bell). Only while no thread of it sleeps on the futex.

Messages: edgefn_messages.py, their layouts and codec.

Threads: one thread receives; sends may come from any thread (serialised
here); close() may come from any thread at any time. Every call that uses the
helper's endpoint counts as a user for as long as it does; close() wakes the
users blocked in the helper, and the endpoint and mapping are freed by the
last user out, so that no thread can be inside the helper with freed memory.
Body bytes are copied exactly once out of the ring, straight into the bytes
object the caller gets.
"""

import ctypes
import functools
import mmap
import os
import struct
import threading
import time

# The messages, re-exported: the worker, the tests and bench/shm use them
# through this module.
from edgefn_messages import (  # noqa: F401
    DEBUG, DRAIN, ERROR, EVENT, EXPLICIT_ACK, HELLO, INFO, INIT_FAILED, LOG, PUBLISH, PUBLISH_RESULT, READY,
    RESPONSE, STOP, WARN, ChannelClosed, ChannelError, MessageTooLarge, ProtocolError, decode_event,
    decode_publish_result, decode_response, encode_event_head, encode_explicit_ack_head, encode_log_head,
    encode_publish_head, encode_response_head)

PROTOCOL_VERSION = 3
MAGIC = 0x48534E4645474445  # "EDGEFNSH"


# Statuses of the C helper (EDGEFN_RING_* in ring.h).
OK, EMPTY, FULL, TIMEOUT, INTERRUPTED = 0, 1, 2, 3, 4
CLOSED, TOO_BIG, PROTOCOL, INVALID, SYSTEM = -1, -2, -3, -4, -5

_CONTROL = struct.Struct("<QI")
_HELLO = struct.Struct("<II")
_BELL_ONE = struct.pack("=Q", 1)  # an eventfd takes a u64 in native byte order


# ---- Helper library ---------------------------------------------------------

def _helper_candidates():
    here = os.path.dirname(os.path.abspath(__file__))
    explicit = os.environ.get("EDGEFN_RING_HELPER")
    if explicit:
        return [explicit]
    # The daemon always says where (its embedded copy, /proc/self/fd/N);
    # a worker started by hand from a directory of these files looks
    # beside them.
    return [os.path.join(here, "libedgefn_ring.so")]


@functools.lru_cache(maxsize=None)
def load_helper(path=None):
    """Loads libedgefn_ring.so: `path`, else $EDGEFN_RING_HELPER, else beside
    this file."""
    candidates = [path] if path else _helper_candidates()
    for candidate in candidates:
        if os.path.exists(candidate):
            lib = ctypes.CDLL(candidate)
            break
    else:
        raise ChannelError("libedgefn_ring.so not found (tried %s); set EDGEFN_RING_HELPER"
                           % ", ".join(candidates))
    c_ep, u64, i64 = ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int64
    signatures = {
        "edgefn_py_protocol_version": (ctypes.c_uint32, []),
        "edgefn_py_status_name": (ctypes.c_char_p, [ctypes.c_int]),
        "edgefn_py_attach": (c_ep, [ctypes.c_void_p, u64, ctypes.c_int, u64, ctypes.POINTER(ctypes.c_int)]),
        "edgefn_py_detach": (None, [c_ep]),
        "edgefn_py_max_message_size": (u64, [c_ep]),
        "edgefn_py_recv_begin": (ctypes.c_int, [c_ep, i64, ctypes.POINTER(u64)]),
        # c_char_p, not c_void_p, for buffers: ctypes converts bytes to it
        # markedly faster, and this is the per-event path.
        "edgefn_py_recv_finish": (ctypes.c_int, [c_ep, ctypes.c_char_p, ctypes.c_char_p, i64]),
        "edgefn_py_send": (ctypes.c_int, [c_ep, ctypes.c_uint32, u64, ctypes.c_char_p, u64, ctypes.c_char_p, u64,
                                          i64]),
        "edgefn_py_send_resume": (ctypes.c_int, [c_ep, i64]),
        "edgefn_py_close": (None, [c_ep]),
        "edgefn_py_closed": (ctypes.c_int, [c_ep]),
        "edgefn_py_set_bell": (ctypes.c_int, [c_ep, ctypes.c_int]),
        "edgefn_py_arm_bell": (ctypes.c_int, [c_ep]),
        "edgefn_py_clear_bell": (None, [c_ep]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    if lib.edgefn_py_protocol_version() != PROTOCOL_VERSION:
        raise ProtocolError("%s speaks protocol version %d, edgefn_channel.py version %d"
                            % (candidate, lib.edgefn_py_protocol_version(), PROTOCOL_VERSION))
    return lib


# CPython's documented way to build a bytes object and then fill it, as C
# extensions do: the helper writes straight into it, so the body leaves the
# ring in a single copy. (size 0 returns the shared b"", which is never
# written to.)
_new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
_new_bytes.restype = ctypes.py_object
_new_bytes.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t)


def _timeout_ns(deadline):
    if deadline is None:
        return -1
    return max(0, int((deadline - time.monotonic()) * 1e9))


def _deadline(timeout):
    return None if timeout is None else time.monotonic() + timeout


def _send_buffer(data):
    """bytes-like -> (argument for a c_void_p parameter, length), no copy."""
    if isinstance(data, bytes):
        return data, len(data)
    if isinstance(data, str):
        data = data.encode("utf-8")
        return data, len(data)
    view = memoryview(data)
    if view.readonly or not view.c_contiguous:
        data = view.tobytes()
        return data, len(data)
    return (ctypes.c_char * view.nbytes).from_buffer(view), view.nbytes


class Channel:
    """The worker's channel: attach, handshake, then recv and send.

    spin_us: how long a receive spins before it sleeps on the futex; after
    the last event, the worker burns at most this much CPU, then none.
    """

    def __init__(self, segment_fd, notify_fd=None, helper_path=None, spin_us=50, handshake_timeout=10.0,
                 bell_fd=None):
        self._lib = lib = load_helper(helper_path)
        self._ep = None
        # The bell's descriptor (owned from here on), or None: no bell.
        self.bell_fd = bell_fd
        # One lock for the endpoint's state: _ep, _closed, _users (calls
        # using _ep right now) and _sending (one send at a time in the
        # helper; other senders wait on _send_turn, under the same lock).
        self._lock = threading.Lock()
        self._send_turn = threading.Condition(self._lock)
        self._closed = False
        self._users = 0
        self._sending = False
        self._send_waiters = 0
        self._info = (ctypes.c_uint64 * 5)()
        # The mapping keeps the memory; the descriptor is not needed after it.
        path = "shm fd %d" % segment_fd
        try:
            size = os.fstat(segment_fd).st_size
            self._mm = mmap.mmap(segment_fd, size)
        finally:
            os.close(segment_fd)
        magic, version = _CONTROL.unpack_from(self._mm, 0)
        if magic != MAGIC:
            self._unmap()
            raise ProtocolError("%s is not an edgefn shm segment" % path)
        if version != PROTOCOL_VERSION:
            self._unmap()
            raise ProtocolError("%s speaks shm protocol version %d, this worker version %d: runtime files and "
                                "daemon come from different builds" % (path, version, PROTOCOL_VERSION))
        self._base = ctypes.c_char.from_buffer(self._mm)
        status = ctypes.c_int(0)
        self._ep = lib.edgefn_py_attach(ctypes.addressof(self._base), size, -1 if notify_fd is None else notify_fd,
                                        int(spin_us * 1000), ctypes.byref(status))
        if not self._ep:
            self._unmap()
            raise ProtocolError("cannot attach to %s: %s (EDGEFN_SHM_NOTIFY_FD given: %s)"
                                % (path, self._status_name(status.value), notify_fd is not None))
        self.max_message_size = lib.edgefn_py_max_message_size(self._ep)
        if bell_fd is not None and lib.edgefn_py_set_bell(self._ep, bell_fd) != OK:
            # The daemon offers no bell: this worker sleeps on the futex.
            os.close(bell_fd)
            self.bell_fd = None
        self._begin = lib.edgefn_py_recv_begin
        self._finish = lib.edgefn_py_recv_finish
        try:
            self.send(HELLO, 0, _HELLO.pack(PROTOCOL_VERSION, os.getpid()))
            reply = self.recv(timeout=handshake_timeout)
            if reply is None:
                raise ChannelError("no HELLO from the daemon within %s s" % handshake_timeout)
            if reply[0] != HELLO:
                raise ProtocolError("expected HELLO from the daemon, got message type %d" % reply[0])
            version, self.daemon_pid = _HELLO.unpack(reply[2])
            if version != PROTOCOL_VERSION:
                raise ProtocolError("the daemon speaks protocol version %d, this worker %d"
                                    % (version, PROTOCOL_VERSION))
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_environment(cls, **kwargs):
        """Attaches as the daemon told us: EDGEFN_SHM_FD, EDGEFN_SHM_NOTIFY_FD,
        EDGEFN_SHM_BELL_FD."""
        fd = os.environ.get("EDGEFN_SHM_NOTIFY_FD")
        bell = os.environ.get("EDGEFN_SHM_BELL_FD")
        if bell not in (None, ""):
            kwargs.setdefault("bell_fd", int(bell))
        return cls(int(os.environ["EDGEFN_SHM_FD"]), None if fd in (None, "") else int(fd), **kwargs)

    def _status_name(self, status):
        return self._lib.edgefn_py_status_name(status).decode()

    def _check(self, status, what):
        if status == CLOSED:
            raise ChannelClosed("channel closed while %s" % what)
        if status == TOO_BIG:
            raise MessageTooLarge("message over the channel's limit of %d bytes while %s"
                                  % (self.max_message_size, what))
        if status == PROTOCOL:
            raise ProtocolError("the daemon broke the ring protocol (a malformed frame or an impossible ring "
                                "index) while %s" % what)
        raise ChannelError("%s while %s" % (self._status_name(status), what))

    def recv(self, timeout=None):
        """Blocks for the next message: (type, request_id, head, body) as bytes,
        or None after `timeout` seconds. Raises ChannelClosed when the daemon
        closed the channel, MessageTooLarge for a skipped message."""
        ep = self._enter()
        try:
            return self._recv(ep, timeout)
        finally:
            self._leave()

    def _recv(self, ep, timeout):
        deadline = _deadline(timeout)
        info = self._info
        while True:
            rc = self._begin(ep, _timeout_ns(deadline), info)
            if rc != INTERRUPTED:
                break
        if rc == TIMEOUT:
            return None
        if rc == TOO_BIG:
            rc = self._finish(ep, None, None, -1)
            while rc == INTERRUPTED:
                rc = self._finish(ep, None, None, -1)
            self._check(TOO_BIG if rc == OK else rc, "skipping a message of %d bytes" % (info[2] + info[3]))
        if rc != OK:
            self._check(rc, "receiving")
        kind, request_id, head_size, body_size, at = info
        if at:
            # All in one frame: slice it out of the mapping, one copy each.
            # The helper releases the frame at the next recv_begin.
            return kind, request_id, self._mm[at:at + head_size], self._mm[at + head_size:at + head_size + body_size]
        head = _new_bytes(None, head_size)
        body = _new_bytes(None, body_size)
        # The rest of a message that has begun is already on its way.
        rc = self._finish(ep, head, body, -1)
        while rc == INTERRUPTED:
            rc = self._finish(ep, head, body, -1)
        if rc != OK:
            self._check(rc, "receiving")
        return kind, request_id, head, body

    def arm_bell(self):
        """For a receiver that waits in an event loop watching bell_fd (the
        only receiver meanwhile): True when a message (or the close) is
        there, so recv() will not sleep; False when armed: wait until bell_fd
        is readable, call clear_bell() and ask again. Never sleeps."""
        ep = self._enter()
        try:
            rc = self._lib.edgefn_py_arm_bell(ep)
        finally:
            self._leave()
        if rc < 0:
            self._check(rc, "arming the bell")
        return rc == 1

    def clear_bell(self):
        """Reads the bell and disarms it; after the bell rang."""
        with self._lock:
            if self._closed:
                return
            self._lib.edgefn_py_clear_bell(self._ep)

    def ring_bell(self):
        """Rings the worker's own bell (any thread), so that a loop waiting on
        it looks again; a no-op without a bell or once closed."""
        with self._lock:
            if self._closed or self.bell_fd is None:
                return
            try:
                os.write(self.bell_fd, _BELL_ONE)
            except OSError:
                pass  # the counter is saturated: the bell rings anyway

    def recv_event(self, timeout=None):
        """Blocks for the next EVENT: (request_id, event dict as decode_event
        returns), or None after `timeout`. Other message types raise
        ProtocolError unless an `on_message(type, request_id, head, body)`
        attribute handles them."""
        while True:
            message = self.recv(timeout)
            if message is None:
                return None
            kind, request_id, head, body = message
            if kind == EVENT:
                return request_id, decode_event(head, body)
            handler = getattr(self, "on_message", None)
            if handler is None:
                raise ProtocolError("unexpected message type %d from the daemon" % kind)
            handler(kind, request_id, head, body)

    def send(self, kind, request_id, head, body=b""):
        """Sends one message, blocking while the ring is full. Any thread."""
        head, head_size = _send_buffer(head)
        body, body_size = _send_buffer(body)
        # Taking the turn and counting as a user share one lock round trip,
        # leaving another: this is the per-event path, and these two are all
        # it needs.
        with self._lock:
            while self._sending and not self._closed:
                self._send_waiters += 1
                try:
                    self._send_turn.wait()
                finally:
                    self._send_waiters -= 1
            if self._closed:
                raise ChannelClosed("channel closed")
            self._sending = True
            self._users += 1
            ep = self._ep
        try:
            rc = self._lib.edgefn_py_send(ep, kind, request_id, head, head_size, body, body_size, -1)
            while rc == INTERRUPTED:
                rc = self._lib.edgefn_py_send_resume(ep, -1)
        except BaseException:
            # A signal handler raised mid-message: the stream cannot
            # continue with half a message in it.
            self._shutdown()
            raise
        finally:
            with self._lock:
                self._sending = False
                if self._send_waiters:
                    self._send_turn.notify_all()
                self._leave_locked()
        if rc != OK:
            self._check(rc, "sending message type %d" % kind)

    def send_response(self, request_id, body=b"", status=200, content_type="text/plain", headers=(), no_ack=False):
        self.send(RESPONSE, request_id, encode_response_head(status, content_type, headers, no_ack), body)

    def send_log(self, request_id, level, message, fields=None, output=False):
        self.send(LOG, request_id, encode_log_head(level, message, fields, output))

    def close(self):
        """Closes the channel (the daemon sees it) and unmaps the segment.
        Any thread, any time, idempotent: a thread blocked in recv or send
        wakes with ChannelClosed, and the last one out releases the mapping
        (close() itself when nobody is inside)."""
        with self._lock:
            self._close_locked()
            if not self._users:
                self._release()

    def _enter(self):
        """The endpoint, counted as in use until _leave() (see close())."""
        with self._lock:
            if self._closed:
                raise ChannelClosed("channel closed")
            self._users += 1
            return self._ep

    def _leave(self):
        with self._lock:
            self._leave_locked()

    def _leave_locked(self):
        # The last user out of a closed channel releases the mapping.
        self._users -= 1
        if self._closed and not self._users:
            self._release()

    def _shutdown(self):
        with self._lock:
            self._close_locked()

    def _close_locked(self):
        # edgefn_py_close never blocks; _ep is valid while _lock is held.
        if not self._closed and self._ep is not None:
            self._lib.edgefn_py_close(self._ep)  # wakes threads blocked in the helper
        self._closed = True
        if self._send_waiters:
            self._send_turn.notify_all()  # and those waiting for their turn to send

    def _release(self):
        if self._ep is not None:
            self._lib.edgefn_py_detach(self._ep)
            self._ep = None
        if self.bell_fd is not None:
            os.close(self.bell_fd)
            self.bell_fd = None
        self._unmap()

    def _unmap(self):
        self._base = None
        mm, self._mm = getattr(self, "_mm", None), None
        if mm is not None:
            mm.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
