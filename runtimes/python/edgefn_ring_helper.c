/* libedgefn_ring.so: the shm ring (src/shm/ring.c, ring_message.c, linked
 * in) with flat entry points for ctypes, so that Python never touches ring
 * indices or doorbell words itself: those need C11 atomics and ordering
 * that Python byte writes cannot give. edgefn_channel.py is the only user.
 *
 * Every call may block only where it says so; blocking calls release the
 * GIL because ctypes.CDLL does. Timeouts are in nanoseconds, negative for
 * none. Return values are EDGEFN_RING_* statuses (ring.h).
 */
#include <stdlib.h>
#include <unistd.h>

#include "shm/ring.h"

#define EDGEFN_EXPORT __attribute__((visibility("default")))

EDGEFN_EXPORT uint32_t edgefn_py_protocol_version(void) { return EDGEFN_SHM_PROTOCOL_VERSION; }

EDGEFN_EXPORT const char *edgefn_py_status_name(int status) { return edgefn_ring_status_name(status); }

/* The endpoint, and whether the message last begun is being read in
 * place (see edgefn_py_recv_begin). */
typedef struct edgefn_py_channel {
  edgefn_endpoint ep;
  int release_pending;
} edgefn_py_channel;

/* Attaches to a segment mapped at `base` as the worker. Returns a handle
 * to free with edgefn_py_detach(), or NULL with *status set. */
EDGEFN_EXPORT edgefn_py_channel *edgefn_py_attach(void *base, uint64_t size, int notify_fd, uint64_t spin_ns,
                                                  int *status) {
  edgefn_py_channel *ch = calloc(1, sizeof *ch);
  if (ch == NULL) {
    *status = EDGEFN_RING_SYSTEM;
    return NULL;
  }
  *status = edgefn_endpoint_attach(&ch->ep, base, size, EDGEFN_SHM_WORKER, notify_fd, spin_ns);
  if (*status != EDGEFN_RING_OK) {
    free(ch);
    return NULL;
  }
  return ch;
}

/* Frees the handle; does not close the channel. */
EDGEFN_EXPORT void edgefn_py_detach(edgefn_py_channel *ch) { free(ch); }

EDGEFN_EXPORT uint64_t edgefn_py_max_message_size(const edgefn_py_channel *ch) {
  return ch->ep.control->max_message_size;
}

/* Blocks (spin, then futex) until a message begins. info receives its
 * type, request id, head size, body size and, when the whole message sits
 * in the frame at hand (the usual case), the segment offset of its head,
 * else 0. With an offset, the caller copies head and body straight out of
 * its own mapping (the C acquire in here orders those reads after the
 * producer's writes) and does not call edgefn_py_recv_finish: the frame
 * stays in the ring, and so valid, until the next edgefn_py_recv_begin
 * releases it, which saves a call per event. Without one, the caller
 * completes the message with edgefn_py_recv_finish. */
EDGEFN_EXPORT int edgefn_py_recv_begin(edgefn_py_channel *ch, int64_t timeout_ns, uint64_t info[5]) {
  edgefn_endpoint *ep = &ch->ep;
  if (ch->release_pending) {
    ch->release_pending = 0;
    int rc = edgefn_endpoint_recv_finish(ep, NULL, NULL, 0);
    if (rc != EDGEFN_RING_OK) return rc;
  }
  int rc = edgefn_endpoint_recv_begin(ep, timeout_ns);
  if (rc == EDGEFN_RING_OK || rc == EDGEFN_RING_TOO_BIG) {
    info[0] = ep->in.type;
    info[1] = ep->in.request_id;
    info[2] = ep->in.head_size;
    info[3] = ep->in.body_size;
    info[4] = 0;
    edgefn_ring_frame f;
    if (rc == EDGEFN_RING_OK && edgefn_ring_peek(&ep->rx, &f) == EDGEFN_RING_OK && (f.flags & EDGEFN_FRAME_LAST) &&
        ep->in.received == 0 && f.size == EDGEFN_MESSAGE_PREFIX_SIZE + ep->in.head_size + ep->in.body_size) {
      const unsigned char *base = (const unsigned char *)ep->control;
      info[4] = (uint64_t)(f.payload + EDGEFN_MESSAGE_PREFIX_SIZE - base);
      ch->release_pending = 1;
    }
  }
  return rc;
}

/* Copies the begun message into head and body (the only copy out of the
 * ring), blocking for the frames still to come. NULL discards. */
EDGEFN_EXPORT int edgefn_py_recv_finish(edgefn_py_channel *ch, void *head, void *body, int64_t timeout_ns) {
  return edgefn_endpoint_recv_finish(&ch->ep, head, body, timeout_ns);
}

/* Blocks until the whole message is in the ring (see
 * edgefn_endpoint_send for TIMEOUT and INTERRUPTED). */
EDGEFN_EXPORT int edgefn_py_send(edgefn_py_channel *ch, uint32_t type, uint64_t request_id, const void *head,
                                 uint64_t head_size, const void *body, uint64_t body_size, int64_t timeout_ns) {
  if (type == EDGEFN_FRAME_PAD || type > UINT16_MAX) return EDGEFN_RING_INVALID;
  return edgefn_endpoint_send(&ch->ep, (uint16_t)type, request_id, head, head_size, body, body_size, timeout_ns);
}

EDGEFN_EXPORT int edgefn_py_send_resume(edgefn_py_channel *ch, int64_t timeout_ns) {
  return edgefn_endpoint_send_resume(&ch->ep, timeout_ns);
}

/* The worker's bell (ring.h, WORKER BELL): INVALID unless the daemon
 * offers one (EDGEFN_SHM_WORKER_BELL). The handle does not own the fd. */
EDGEFN_EXPORT int edgefn_py_set_bell(edgefn_py_channel *ch, int bell_fd) {
  return edgefn_endpoint_set_bell(&ch->ep, bell_fd);
}

/* For a receiver whose event loop watches the bell: releases a message
 * read in place, spins briefly, then arms the bell. 1: a message (or the
 * close) is there, receive it; 0: armed, wait for the bell, then
 * edgefn_py_clear_bell() and call again. Negative: a ring status. Never
 * sleeps. */
EDGEFN_EXPORT int edgefn_py_arm_bell(edgefn_py_channel *ch) {
  edgefn_endpoint *ep = &ch->ep;
  if (ep->rx.bell_fd < 0) return EDGEFN_RING_INVALID;
  if (ch->release_pending) {
    ch->release_pending = 0;
    int rc = edgefn_endpoint_recv_finish(ep, NULL, NULL, 0);
    if (rc != EDGEFN_RING_OK) return rc;
  }
  return edgefn_ring_spin_arm_bell(&ep->rx, ep->spin_ns);
}

/* After the bell rang: reads it (non-blocking) and disarms, leaving a
 * futex sleeper's waiter word alone. */
EDGEFN_EXPORT void edgefn_py_clear_bell(edgefn_py_channel *ch) {
  uint64_t count;
  ssize_t n = read(ch->ep.rx.bell_fd, &count, sizeof count);
  (void)n; /* EAGAIN: a spurious wakeup, or read already */
  edgefn_ring_disarm_bell(&ch->ep.rx);
}

/* Any thread: the daemon sees CLOSED, and a thread blocked here wakes. */
EDGEFN_EXPORT void edgefn_py_close(edgefn_py_channel *ch) { edgefn_endpoint_close(&ch->ep); }

EDGEFN_EXPORT int edgefn_py_closed(const edgefn_py_channel *ch) { return edgefn_ring_closed(&ch->ep.rx); }
