/*
 * edgefn shared-memory channel, protocol version 3: segment, rings, frames,
 * messages, doorbell. This comment is the transport's one description; the
 * heads' encoding rules and HELLO are in codec.hpp, the Python worker's
 * messages (event, response, log, ...) in
 * runtime/python/worker_protocol.hpp, and runtimes/python/edgefn_channel.py
 * repeats the whole of it for its side. Everything is little-endian; both
 * ends run on the same host.
 *
 * SEGMENT. One anonymous memfd per worker, created by the daemon, sealed
 * against shrinking, growing and further seals, and inherited by the worker
 * as a descriptor (segment.hpp); nothing has a name:
 *
 *   0       control block, 4096 bytes (edgefn_shm_control, below), written
 *           once by the daemon before the worker starts, read-only after
 *   4096    ring D->W: daemon to worker (events)
 *   ...     ring W->D: worker to daemon (hello, responses, logs)
 *
 * RING. A single-producer/single-consumer byte ring: a 1024-byte header,
 * then `capacity` bytes of data (a power of two, at least 4 KiB). Header
 * fields, each on its own 128-byte line so that the two sides never write
 * the same line (128, not 64: aarch64 parts and x86's adjacent-line
 * prefetcher both work in 128-byte pairs):
 *   magic, capacity                       constant after init
 *   tail   (u64 atomic) bytes ever written; stored by the producer only
 *   head   (u64 atomic) bytes ever consumed; stored by the consumer only
 *   data_waiter  (u32 atomic, futex word) 1 while the consumer sleeps
 *   space_waiter (u32 atomic, futex word) 1 while the producer sleeps
 *   closed (u32 atomic) set by either side; never cleared
 * head and tail grow forever, by multiples of 16; offset = position &
 * (capacity - 1); used = tail - head. The Python side touches these only
 * through the C helper.
 *
 * INDICES ARE PRIVATE. Both processes can write the whole segment, and each
 * treats the other as hostile (a compromised worker may write anything
 * anywhere in it). So a side keeps its own index (producer: tail, consumer:
 * head) in its process-local handle, read from the ring once at attach, and
 * only ever publishes it (an atomic store): it never reads it back, and a
 * value the peer scribbles there cannot steer where it reads or writes. The
 * peer's index it does read is checked on every load: the head a producer
 * loads must be a multiple of 16, not behind the last head it accepted, and
 * not past its own tail (so tail - head <= capacity); the tail a consumer
 * loads must be a multiple of 16, not behind the last tail it accepted, and
 * at most capacity past its own head. A side that sees otherwise reports
 * PROTOCOL from then on (the ring is unusable; the caller closes the
 * channel). Frame headers are checked against the ring's bounds before use
 * (edgefn_ring_peek). The daemon attaches right after formatting, before the
 * worker exists.
 *
 * FRAME. Every frame starts on a 16-byte boundary with a 16-byte header
 *   u32 size         payload bytes that follow the header
 *   u16 type         0 = PAD, otherwise a message type (codec.hpp)
 *   u16 flags        bit 0 FIRST, bit 1 LAST (a one-frame message has both)
 *   u64 request_id   chosen by the daemon per event; echoed in the answer
 * and occupies align16(16 + size) bytes. A frame is never split at the end
 * of the data area: when it does not fit before the end, the producer fills
 * the rest with a PAD frame (its size covers the rest exactly) and writes the
 * frame at offset 0. The reader thus always sees one contiguous frame and can
 * decode in place. A frame's payload is at most capacity / 4 - 16 bytes,
 * which keeps PAD waste bounded and lets the two sides overlap on big
 * messages.
 *
 * MESSAGE. A message is a head (small, decoded field by field) and a body
 * (opaque bytes, copied exactly once on each side). It travels as one or more
 * frames of the same type and request id: FIRST on the first, LAST on the
 * last. The first frame's payload starts with a 16-byte prefix
 *   u64 total_size   head + body bytes
 *   u32 head_size
 *   u32 reserved     0
 * and the head and body bytes follow, continuing in the later frames in
 * order. A message larger than the control block's max_message_size is
 * refused by the sender (EDGEFN_RING_TOO_BIG) and, if one arrives anyway,
 * reported and skipped by the receiver: never truncated. A writer blocked on
 * a full ring waits for the reader to free space (the reverse doorbell).
 *
 * HANDSHAKE. The worker checks the control block (magic, version, sizes)
 * when it attaches, then sends HELLO (codec.hpp) carrying its protocol
 * version and pid; the daemon checks the version and answers HELLO with its
 * own. Either side closes the channel on a mismatch.
 *
 * DOORBELL. A consumer with nothing to read spins for a short, bounded time,
 * then sets its waiter word to 1, checks once more and sleeps; a producer
 * that publishes checks the word and wakes the consumer only if it is 1 (and
 * sets it back to 0). The same handshake, mirrored, lets a producer facing a
 * full ring sleep until the consumer frees space. The daemon sleeps on an
 * eventfd (flag EDGEFN_SHM_DAEMON_EVENTFD: one per worker, inherited by the
 * worker at spawn, so Asio can wait on it with epoll and no thread blocks per
 * worker); the worker sleeps on the futex word itself. An idle worker sits in
 * futex_wait and uses no CPU. Closing a ring wakes every sleeper.
 *
 * WORKER BELL (version 3). A worker that waits inside an event loop (Python
 * asyncio, so that tasks a handler started keep running between events)
 * needs a descriptor to watch, not a futex. The daemon creates a second
 * eventfd per worker, the bell, passes it at spawn and sets
 * EDGEFN_SHM_WORKER_BELL in the control block. The waiter word of ring D->W
 * then says how the worker sleeps: 1 on the futex, 2 (EDGEFN_WAITER_BELL) on
 * the bell, and the daemon's wake (the same exchange with 0) writes the bell
 * or calls futex_wake accordingly, so the futex path costs nothing more.
 * The worker arms with 2 only while no thread of it sleeps on the futex
 * (one consumer), and disarms with a compare-and-swap from 2, so that it
 * never clears a futex sleeper's 1. A worker may write 2 whenever it likes:
 * the daemon then writes the worker's own eventfd, nothing else. Closing
 * either ring rings the bell too.
 *
 * THREADS. Per ring, one producer thread and one consumer thread at a time
 * (they may be in different processes). The functions below are not
 * thread-safe otherwise, except edgefn_ring_close(), which any thread may
 * call at any time.
 *
 * RETURN VALUES. Functions returning int return an EDGEFN_RING_* status.
 * Timeouts are in nanoseconds; negative means no limit.
 */
#ifndef EDGEFN_SHM_RING_H
#define EDGEFN_SHM_RING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDGEFN_SHM_PROTOCOL_VERSION 3u
/* "EDGEFNSH" read as a little-endian u64 */
#define EDGEFN_SHM_MAGIC 0x48534e4645474445ull
#define EDGEFN_SHM_CONTROL_SIZE 4096u
#define EDGEFN_RING_HEADER_SIZE 1024u
#define EDGEFN_RING_MIN_CAPACITY 4096u
#define EDGEFN_FRAME_HEADER_SIZE 16u
#define EDGEFN_MESSAGE_PREFIX_SIZE 16u

#define EDGEFN_FRAME_PAD 0u
#define EDGEFN_FRAME_FIRST 0x1u
#define EDGEFN_FRAME_LAST 0x2u

/* Control block flags. */
#define EDGEFN_SHM_DAEMON_EVENTFD 0x1u
#define EDGEFN_SHM_WORKER_BELL 0x2u

/* Waiter word values: the sleeper's own wait (futex, or the eventfd the
 * handle was set up with), or the consumer's bell (WORKER BELL above). */
#define EDGEFN_WAITER_SLEEPS 1u
#define EDGEFN_WAITER_BELL 2u

enum {
  EDGEFN_RING_OK = 0,
  EDGEFN_RING_EMPTY = 1,       /* nothing to read yet */
  EDGEFN_RING_FULL = 2,        /* not enough free space yet */
  EDGEFN_RING_TIMEOUT = 3,     /* the timeout passed first */
  EDGEFN_RING_INTERRUPTED = 4, /* a signal arrived while sleeping; call again */
  EDGEFN_RING_CLOSED = -1,     /* closed by either side: the peer is gone or stopping */
  EDGEFN_RING_TOO_BIG = -2,    /* over the frame or message size limit */
  EDGEFN_RING_PROTOCOL = -3,   /* bad magic or version, or a malformed frame */
  EDGEFN_RING_INVALID = -4,    /* bad argument */
  EDGEFN_RING_SYSTEM = -5      /* a system call failed; errno tells which */
};

/* A static string naming an EDGEFN_RING_* status. */
const char *edgefn_ring_status_name(int status);

/* ---- Adaptive spin ------------------------------------------------------ */

/* How long to spin before the next sleep, learned from how the last spins
 * went (the reasons are in ring.c). Zero-initialise; `cap` is the most the
 * caller allows. Used by the ring waits and by AsyncChannel. */
typedef struct edgefn_spin {
  uint64_t budget; /* ns; UINT64_MAX or 0 before the first use */
  uint32_t skips;  /* waits without a spin since the budget fell to 0 */
  uint8_t started;
} edgefn_spin;

/* The learned budget alone, whatever the machine's load. */
uint64_t edgefn_spin_budget(edgefn_spin *s, uint64_t cap);
/* The budget, or 0 while more tasks are runnable than there are CPUs (the
 * peer may then be waiting for this very CPU). */
uint64_t edgefn_spin_next(edgefn_spin *s, uint64_t cap);
/* 1 when more tasks are runnable than the machine has CPUs; refreshed at
 * most every 10 ms. */
int edgefn_cpus_contended(void);
/* `spun` is what edgefn_spin_next returned; `caught` whether the peer
 * answered during the spin. */
void edgefn_spin_done(edgefn_spin *s, uint64_t cap, uint64_t spun, int caught);

/* ---- Ring ------------------------------------------------------------- */

struct edgefn_ring_shared;

typedef struct edgefn_ring_frame {
  uint16_t type;
  uint16_t flags;
  uint32_t size;
  uint64_t request_id;
  const unsigned char *payload; /* valid until edgefn_ring_release() */
} edgefn_ring_frame;

/* A process's handle on a ring in shared memory. Fields are private. */
typedef struct edgefn_ring {
  struct edgefn_ring_shared *shared;
  unsigned char *data;
  uint64_t capacity;
  uint64_t tail;            /* producer: its own index, published, never read back */
  uint64_t head;            /* consumer: likewise */
  uint64_t seen_head;       /* producer: the last head loaded that passed the checks */
  uint64_t seen_tail;       /* consumer: the last tail loaded that passed the checks */
  uint64_t read_end;        /* consumer: end of the peeked frame; 0 if none */
  edgefn_ring_frame peeked; /* its header, validated, read from shared memory once */
  edgefn_spin spin;         /* adaptive, at most the caller's spin_ns */
  int wait_fd;              /* -1: sleep on the futex word; else poll this eventfd */
  int wake_fd;              /* -1: wake the peer with futex; else write this eventfd */
  int bell_fd;              /* the worker's bell (WORKER BELL), -1 if none: written when a
                               waiter word says EDGEFN_WAITER_BELL, and on close */
  int broken;               /* a peer index failed its checks: PROTOCOL from then on */
} edgefn_ring;

typedef struct edgefn_ring_piece {
  const void *data;
  size_t size;
} edgefn_ring_piece;

/* Bytes a ring of `capacity` occupies (header + data). */
uint64_t edgefn_ring_footprint(uint64_t capacity);

/* Formats `size` bytes at `mem` (64-byte aligned, zero or not) as an empty
 * ring of the largest power-of-two capacity that fits. Call before the peer
 * attaches. */
int edgefn_ring_init(void *mem, uint64_t size);

/* Attaches a handle to a ring formatted by edgefn_ring_init(), checking its
 * magic, that it fits in `size` and that head and tail are consistent
 * (PROTOCOL otherwise). Takes this side's own index from the ring here, once
 * (see RING above), so attach before the peer may run: a handle attached
 * later trusts whatever the peer left there. wait_fd/wake_fd start at -1
 * (futex). */
int edgefn_ring_attach(edgefn_ring *r, void *mem, uint64_t size);

/* Chooses how this process sleeps (wait_fd: an EFD_NONBLOCK eventfd, or -1
 * for the futex) and how it wakes the peer (wake_fd: the peer's eventfd, or
 * -1 for the futex). The handle does not own the descriptors. */
void edgefn_ring_set_fds(edgefn_ring *r, int wait_fd, int wake_fd);

/* The worker's bell (see WORKER BELL); -1 for none. Not owned. */
void edgefn_ring_set_bell(edgefn_ring *r, int bell_fd);

uint64_t edgefn_ring_capacity(const edgefn_ring *r);
/* Largest payload of one frame: capacity / 4 - 16. */
uint64_t edgefn_ring_max_payload(const edgefn_ring *r);
/* Producer: bytes free right now (0 when the ring is broken). */
uint64_t edgefn_ring_free_space(edgefn_ring *r);

/* Producer. Writes one frame whose payload is the concatenation of
 * `pieces` (gather: header and body need no staging copy), publishes it and
 * wakes the consumer if it sleeps. FULL when it does not fit now (nothing
 * written), TOO_BIG over edgefn_ring_max_payload(), CLOSED, PROTOCOL (the
 * consumer's head failed its checks: the ring is unusable). */
int edgefn_ring_try_write(edgefn_ring *r, uint16_t type, uint16_t flags, uint64_t request_id,
                          const edgefn_ring_piece *pieces, size_t count);

/* Consumer. Returns the oldest frame without consuming it (PAD frames are
 * skipped): OK, EMPTY, CLOSED (closed and drained), PROTOCOL (a malformed
 * header, or the producer's tail failed its checks: the ring is unusable).
 * Peeking again returns the same frame. The header is copied out of shared
 * memory once and checked against the ring's bounds, so a peer that
 * rewrites it afterwards cannot steer the reader outside the ring; the
 * payload bytes remain the peer's to change. */
int edgefn_ring_peek(edgefn_ring *r, edgefn_ring_frame *frame);

/* Consumer. Consumes the peeked frame and wakes the producer if it waits
 * for space. No-op if nothing is peeked. */
void edgefn_ring_release(edgefn_ring *r);

/* Non-blocking checks: 1 when a frame is ready or the ring is closed /
 * when a frame of `payload_size` fits or the ring is closed; also 1 when the
 * ring is broken (the next peek or write says PROTOCOL). */
int edgefn_ring_readable(edgefn_ring *r);
int edgefn_ring_writable(edgefn_ring *r, uint64_t payload_size);

/* Blocking. Spins up to `spin_ns` (less while recent spins were in vain:
 * see ring.c), then sleeps, until readable (or, for the second, until a
 * frame of `payload_size` fits). OK (also when closed: the
 * next peek or write tells), TIMEOUT, INTERRUPTED, SYSTEM. */
int edgefn_ring_wait_readable(edgefn_ring *r, uint64_t spin_ns, int64_t timeout_ns);
int edgefn_ring_wait_writable(edgefn_ring *r, uint64_t payload_size, uint64_t spin_ns, int64_t timeout_ns);

/* For event loops that sleep on wait_fd themselves (Asio): announce the
 * intent to sleep. Returns 1 when the condition already holds (do not sleep;
 * nothing stays armed) and 0 when armed: sleep until wait_fd is readable,
 * then read it, disarm and check again. */
int edgefn_ring_arm_readable(edgefn_ring *r);
int edgefn_ring_arm_writable(edgefn_ring *r, uint64_t payload_size);
void edgefn_ring_disarm_readable(edgefn_ring *r);
void edgefn_ring_disarm_writable(edgefn_ring *r);

/* For a consumer that sleeps on its bell in an event loop (WORKER BELL):
 * spins as edgefn_ring_wait_readable does (adaptive, at most `spin_ns`),
 * then arms the waiter word with EDGEFN_WAITER_BELL. Returns 1 when
 * readable (nothing stays armed) and 0 when armed: wait until the bell is
 * readable, read it, edgefn_ring_disarm_bell() and check again. */
int edgefn_ring_spin_arm_bell(edgefn_ring *r, uint64_t spin_ns);
/* Clears the waiter word only if it still says EDGEFN_WAITER_BELL. */
void edgefn_ring_disarm_bell(edgefn_ring *r);

/* Marks the ring closed and wakes every sleeper on both sides. Any thread,
 * any time, idempotent. Frames already published can still be read. */
void edgefn_ring_close(edgefn_ring *r);
int edgefn_ring_closed(const edgefn_ring *r);

/* ---- Messages (chunked over frames) ----------------------------------- */

/* A message being written. Initialise with edgefn_ring_msg_out_init(); the
 * head and body must stay valid until the write completes. */
typedef struct edgefn_ring_msg_out {
  const unsigned char *head;
  const unsigned char *body;
  uint64_t head_size;
  uint64_t body_size;
  uint64_t request_id;
  uint64_t sent; /* of head_size + body_size */
  uint16_t type;
  uint8_t started;
} edgefn_ring_msg_out;

void edgefn_ring_msg_out_init(edgefn_ring_msg_out *m, uint16_t type, uint64_t request_id, const void *head,
                              uint64_t head_size, const void *body, uint64_t body_size);

/* Producer. Writes as many of the message's frames as fit now: OK when all
 * are in the ring, FULL when it needs space (wait for
 * edgefn_ring_msg_next_payload() bytes, then call again), CLOSED, TOO_BIG
 * (head over 4 GiB), PROTOCOL (see edgefn_ring_try_write). */
int edgefn_ring_msg_write(edgefn_ring *r, edgefn_ring_msg_out *m);
uint64_t edgefn_ring_msg_next_payload(const edgefn_ring *r, const edgefn_ring_msg_out *m);

/* A message being read. Zero-initialise once; begin/continue reuse it. */
typedef struct edgefn_ring_msg_in {
  unsigned char *head; /* destinations, set by the caller after begin: */
  unsigned char *body; /* head_size and body_size bytes; NULL discards */
  uint64_t head_size;
  uint64_t body_size;
  uint64_t request_id;
  uint64_t received;   /* of head_size + body_size */
  uint32_t frame_used; /* payload bytes of the peeked frame already taken */
  uint16_t type;
  uint8_t active;
} edgefn_ring_msg_in;

/* Consumer. Starts the next message: fills type, request_id, head_size and
 * body_size and returns OK (idempotent while the message is active); EMPTY,
 * CLOSED, PROTOCOL; TOO_BIG when it exceeds `max_size` (sizes are filled:
 * leave head and body NULL and continue to skip it). */
int edgefn_ring_msg_begin(edgefn_ring *r, edgefn_ring_msg_in *m, uint64_t max_size);

/* Consumer. Copies what has arrived into head/body and releases the frames
 * it used up: OK when the message is complete, EMPTY when more frames are
 * needed (wait readable, call again), CLOSED (peer gone mid-message),
 * PROTOCOL. */
int edgefn_ring_msg_continue(edgefn_ring *r, edgefn_ring_msg_in *m);

/* ---- Segment control block and endpoints ------------------------------- */

typedef struct edgefn_shm_control {
  uint64_t magic;
  uint32_t version;
  uint32_t control_size;
  uint64_t segment_size;
  uint64_t d2w_offset; /* ring daemon -> worker */
  uint64_t d2w_size;
  uint64_t w2d_offset; /* ring worker -> daemon */
  uint64_t w2d_size;
  uint64_t max_message_size; /* head + body, each direction */
  uint32_t daemon_pid;
  uint32_t flags; /* EDGEFN_SHM_DAEMON_EVENTFD, EDGEFN_SHM_WORKER_BELL */
} edgefn_shm_control;

/* Segment bytes needed for two rings of `ring_capacity` (a power of two). */
uint64_t edgefn_shm_segment_size(uint64_t ring_capacity);

/* Daemon: formats a segment of `size` bytes: control block and two rings. */
int edgefn_shm_format(void *base, uint64_t size, uint64_t ring_capacity, uint64_t max_message_size, uint32_t flags,
                      uint32_t daemon_pid);

enum { EDGEFN_SHM_DAEMON = 0, EDGEFN_SHM_WORKER = 1 };

/* One side of a channel: the ring it reads, the ring it writes, and the
 * blocking message calls a worker (or a test) uses. Fields are read-only
 * for callers. */
typedef struct edgefn_endpoint {
  const edgefn_shm_control *control;
  edgefn_ring rx;
  edgefn_ring tx;
  edgefn_ring_msg_in in;
  edgefn_ring_msg_out out;
  uint64_t spin_ns;
  int sending;
} edgefn_endpoint;

/* Attaches to a formatted segment as `role`, checking magic, version and
 * sizes (PROTOCOL on a mismatch). `notify_fd` is the daemon's eventfd: the
 * daemon sleeps on it, the worker wakes the daemon through it; -1 when the
 * segment lacks EDGEFN_SHM_DAEMON_EVENTFD (INVALID if they disagree).
 * `spin_ns` bounds the spin before each sleep in the calls below. */
int edgefn_endpoint_attach(edgefn_endpoint *ep, void *base, uint64_t size, int role, int notify_fd, uint64_t spin_ns);

/* Gives both rings the worker's bell (WORKER BELL): the daemon wakes a
 * worker armed with EDGEFN_WAITER_BELL through it, and a close on either
 * side rings it. INVALID when the segment lacks EDGEFN_SHM_WORKER_BELL or
 * bell_fd < 0. */
int edgefn_endpoint_set_bell(edgefn_endpoint *ep, int bell_fd);

/* Waits for the next message and begins it (see edgefn_ring_msg_begin;
 * the message limit is the control block's). Header fields in ep->in. */
int edgefn_endpoint_recv_begin(edgefn_endpoint *ep, int64_t timeout_ns);

/* Completes the begun message into `head` and `body` (sized as ep->in
 * says; NULL discards), waiting for further frames as needed. TIMEOUT or
 * INTERRUPTED leave it resumable. */
int edgefn_endpoint_recv_finish(edgefn_endpoint *ep, void *head, void *body, int64_t timeout_ns);

/* Sends one message, waiting for space as needed: OK once it is all in the
 * ring, CLOSED, TOO_BIG over the message limit (nothing sent), PROTOCOL (the
 * peer broke the ring: close the channel). TIMEOUT or
 * INTERRUPTED leave it pending: head and body must stay valid, and
 * edgefn_endpoint_send_resume() continues it (no other send may start
 * before it completes: INVALID). */
int edgefn_endpoint_send(edgefn_endpoint *ep, uint16_t type, uint64_t request_id, const void *head, uint64_t head_size,
                         const void *body, uint64_t body_size, int64_t timeout_ns);
int edgefn_endpoint_send_resume(edgefn_endpoint *ep, int64_t timeout_ns);

/* Closes both rings (the peer sees CLOSED) and wakes every sleeper. */
void edgefn_endpoint_close(edgefn_endpoint *ep);

#ifdef __cplusplus
}
#endif

#endif /* EDGEFN_SHM_RING_H */
