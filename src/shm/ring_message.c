/* Messages chunked over ring frames, the segment control block, and the
 * blocking endpoint calls. The protocol is described in ring.h. */
#define _GNU_SOURCE
#include <string.h>
#include <time.h>

#include "ring.h"

struct message_prefix {
  uint64_t total_size;
  uint32_t head_size;
  uint32_t reserved;
};
_Static_assert(sizeof(struct message_prefix) == EDGEFN_MESSAGE_PREFIX_SIZE, "message prefix is 16 bytes");
_Static_assert(sizeof(edgefn_shm_control) <= EDGEFN_SHM_CONTROL_SIZE, "control block overflows its page");

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* ---- Writing ---------------------------------------------------------- */

void edgefn_ring_msg_out_init(edgefn_ring_msg_out *m, uint16_t type, uint64_t request_id, const void *head,
                              uint64_t head_size, const void *body, uint64_t body_size) {
  memset(m, 0, sizeof *m);
  m->type = type;
  m->request_id = request_id;
  m->head = head;
  m->head_size = head_size;
  m->body = body;
  m->body_size = body_size;
}

/* Head and body bytes the next frame carries. */
static uint64_t next_chunk(const edgefn_ring *r, const edgefn_ring_msg_out *m) {
  uint64_t room = edgefn_ring_max_payload(r) - (m->started ? 0 : EDGEFN_MESSAGE_PREFIX_SIZE);
  return min_u64(m->head_size + m->body_size - m->sent, room);
}

uint64_t edgefn_ring_msg_next_payload(const edgefn_ring *r, const edgefn_ring_msg_out *m) {
  return next_chunk(r, m) + (m->started ? 0 : EDGEFN_MESSAGE_PREFIX_SIZE);
}

int edgefn_ring_msg_write(edgefn_ring *r, edgefn_ring_msg_out *m) {
  if (m->head_size > UINT32_MAX) return EDGEFN_RING_TOO_BIG;
  uint64_t total = m->head_size + m->body_size;
  while (!m->started || m->sent < total) {
    uint64_t n = next_chunk(r, m);
    struct message_prefix prefix = {.total_size = total, .head_size = (uint32_t)m->head_size, .reserved = 0};
    edgefn_ring_piece pieces[3];
    size_t count = 0;
    if (!m->started) pieces[count++] = (edgefn_ring_piece){&prefix, sizeof prefix};
    if (m->sent < m->head_size) {
      uint64_t k = min_u64(n, m->head_size - m->sent);
      pieces[count++] = (edgefn_ring_piece){m->head + m->sent, (size_t)k};
      if (n > k) pieces[count++] = (edgefn_ring_piece){m->body, (size_t)(n - k)};
    } else if (n > 0) {
      pieces[count++] = (edgefn_ring_piece){m->body + (m->sent - m->head_size), (size_t)n};
    }
    uint16_t flags = (uint16_t)((m->started ? 0 : EDGEFN_FRAME_FIRST) | (m->sent + n == total ? EDGEFN_FRAME_LAST : 0));
    int rc = edgefn_ring_try_write(r, m->type, flags, m->request_id, pieces, count);
    if (rc != EDGEFN_RING_OK) return rc;
    m->started = 1;
    m->sent += n;
  }
  return EDGEFN_RING_OK;
}

/* ---- Reading ---------------------------------------------------------- */

int edgefn_ring_msg_begin(edgefn_ring *r, edgefn_ring_msg_in *m, uint64_t max_size) {
  if (!m->active) {
    edgefn_ring_frame f;
    int rc = edgefn_ring_peek(r, &f);
    if (rc != EDGEFN_RING_OK) return rc;
    if (!(f.flags & EDGEFN_FRAME_FIRST) || f.size < EDGEFN_MESSAGE_PREFIX_SIZE) return EDGEFN_RING_PROTOCOL;
    struct message_prefix prefix;
    memcpy(&prefix, f.payload, sizeof prefix);
    if (prefix.head_size > prefix.total_size) return EDGEFN_RING_PROTOCOL;
    m->head = NULL;
    m->body = NULL;
    m->type = f.type;
    m->request_id = f.request_id;
    m->head_size = prefix.head_size;
    m->body_size = prefix.total_size - prefix.head_size;
    m->received = 0;
    m->frame_used = EDGEFN_MESSAGE_PREFIX_SIZE;
    m->active = 1;
  }
  return m->head_size + m->body_size > max_size ? EDGEFN_RING_TOO_BIG : EDGEFN_RING_OK;
}

static void take(edgefn_ring_msg_in *m, const unsigned char *from, uint64_t n) {
  uint64_t at = m->received;
  if (at < m->head_size) {
    uint64_t k = min_u64(n, m->head_size - at);
    if (m->head != NULL) memcpy(m->head + at, from, (size_t)k);
    from += k;
    n -= k;
    at += k;
  }
  if (n > 0 && m->body != NULL) memcpy(m->body + (at - m->head_size), from, (size_t)n);
}

int edgefn_ring_msg_continue(edgefn_ring *r, edgefn_ring_msg_in *m) {
  if (!m->active) return EDGEFN_RING_INVALID;
  uint64_t total = m->head_size + m->body_size;
  for (;;) {
    edgefn_ring_frame f;
    int rc = edgefn_ring_peek(r, &f);
    if (rc != EDGEFN_RING_OK) return rc;
    if (m->frame_used == 0 && ((f.flags & EDGEFN_FRAME_FIRST) || f.type != m->type || f.request_id != m->request_id)) {
      return EDGEFN_RING_PROTOCOL;
    }
    uint64_t n = f.size - m->frame_used;
    if (n > total - m->received) return EDGEFN_RING_PROTOCOL;
    take(m, f.payload + m->frame_used, n);
    m->received += n;
    int last = (f.flags & EDGEFN_FRAME_LAST) != 0;
    if (last != (m->received == total)) return EDGEFN_RING_PROTOCOL;
    edgefn_ring_release(r);
    m->frame_used = 0;
    if (last) {
      m->active = 0;
      return EDGEFN_RING_OK;
    }
  }
}

/* ---- Segment ---------------------------------------------------------- */

uint64_t edgefn_shm_segment_size(uint64_t ring_capacity) {
  return EDGEFN_SHM_CONTROL_SIZE + 2 * edgefn_ring_footprint(ring_capacity);
}

int edgefn_shm_format(void *base, uint64_t size, uint64_t ring_capacity, uint64_t max_message_size, uint32_t flags,
                      uint32_t daemon_pid) {
  if (base == NULL || (uintptr_t)base % 4096 != 0 || ring_capacity < EDGEFN_RING_MIN_CAPACITY ||
      (ring_capacity & (ring_capacity - 1)) != 0 || size < edgefn_shm_segment_size(ring_capacity)) {
    return EDGEFN_RING_INVALID;
  }
  unsigned char *bytes = base;
  uint64_t ring_size = edgefn_ring_footprint(ring_capacity);
  edgefn_shm_control *c = base;
  memset(c, 0, EDGEFN_SHM_CONTROL_SIZE);
  c->magic = EDGEFN_SHM_MAGIC;
  c->version = EDGEFN_SHM_PROTOCOL_VERSION;
  c->control_size = EDGEFN_SHM_CONTROL_SIZE;
  c->segment_size = edgefn_shm_segment_size(ring_capacity);
  c->d2w_offset = EDGEFN_SHM_CONTROL_SIZE;
  c->d2w_size = ring_size;
  c->w2d_offset = EDGEFN_SHM_CONTROL_SIZE + ring_size;
  c->w2d_size = ring_size;
  c->max_message_size = max_message_size;
  c->daemon_pid = daemon_pid;
  c->flags = flags;
  int rc = edgefn_ring_init(bytes + c->d2w_offset, ring_size);
  if (rc != EDGEFN_RING_OK) return rc;
  return edgefn_ring_init(bytes + c->w2d_offset, ring_size);
}

static int region_ok(uint64_t offset, uint64_t size, uint64_t limit) {
  return offset >= EDGEFN_SHM_CONTROL_SIZE && offset % 128 == 0 && size <= limit && offset <= limit - size;
}

int edgefn_endpoint_attach(edgefn_endpoint *ep, void *base, uint64_t size, int role, int notify_fd, uint64_t spin_ns) {
  if (ep == NULL || base == NULL || (role != EDGEFN_SHM_DAEMON && role != EDGEFN_SHM_WORKER)) {
    return EDGEFN_RING_INVALID;
  }
  memset(ep, 0, sizeof *ep);
  const edgefn_shm_control *c = base;
  if (size < EDGEFN_SHM_CONTROL_SIZE || c->magic != EDGEFN_SHM_MAGIC || c->version != EDGEFN_SHM_PROTOCOL_VERSION ||
      c->control_size != EDGEFN_SHM_CONTROL_SIZE || c->segment_size > size ||
      !region_ok(c->d2w_offset, c->d2w_size, c->segment_size) ||
      !region_ok(c->w2d_offset, c->w2d_size, c->segment_size)) {
    return EDGEFN_RING_PROTOCOL;
  }
  if (((c->flags & EDGEFN_SHM_DAEMON_EVENTFD) != 0) != (notify_fd >= 0)) return EDGEFN_RING_INVALID;
  unsigned char *bytes = base;
  edgefn_ring d2w, w2d;
  int rc = edgefn_ring_attach(&d2w, bytes + c->d2w_offset, c->d2w_size);
  if (rc == EDGEFN_RING_OK) rc = edgefn_ring_attach(&w2d, bytes + c->w2d_offset, c->w2d_size);
  if (rc != EDGEFN_RING_OK) return rc;
  if (role == EDGEFN_SHM_DAEMON) {
    ep->rx = w2d;
    ep->tx = d2w;
    edgefn_ring_set_fds(&ep->rx, notify_fd, -1);
    edgefn_ring_set_fds(&ep->tx, notify_fd, -1);
  } else {
    ep->rx = d2w;
    ep->tx = w2d;
    edgefn_ring_set_fds(&ep->rx, -1, notify_fd);
    edgefn_ring_set_fds(&ep->tx, -1, notify_fd);
  }
  ep->control = c;
  ep->spin_ns = spin_ns;
  return EDGEFN_RING_OK;
}

int edgefn_endpoint_set_bell(edgefn_endpoint *ep, int bell_fd) {
  if (bell_fd < 0 || (ep->control->flags & EDGEFN_SHM_WORKER_BELL) == 0) return EDGEFN_RING_INVALID;
  /* Ring D->W is the one whose waiter word may say EDGEFN_WAITER_BELL; a
   * close of either ring must reach a worker asleep on the bell. */
  edgefn_ring_set_bell(&ep->rx, bell_fd);
  edgefn_ring_set_bell(&ep->tx, bell_fd);
  return EDGEFN_RING_OK;
}

static uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Time left before `deadline` (0 = none) as a ring timeout. */
static int64_t left_until(uint64_t deadline) {
  if (deadline == 0) return -1;
  uint64_t now = monotonic_ns();
  return now >= deadline ? 0 : (int64_t)(deadline - now);
}

static uint64_t deadline_for(int64_t timeout_ns) { return timeout_ns < 0 ? 0 : monotonic_ns() + (uint64_t)timeout_ns; }

int edgefn_endpoint_recv_begin(edgefn_endpoint *ep, int64_t timeout_ns) {
  uint64_t deadline = deadline_for(timeout_ns);
  for (;;) {
    int rc = edgefn_ring_msg_begin(&ep->rx, &ep->in, ep->control->max_message_size);
    if (rc != EDGEFN_RING_EMPTY) return rc;
    rc = edgefn_ring_wait_readable(&ep->rx, ep->spin_ns, left_until(deadline));
    if (rc != EDGEFN_RING_OK) return rc;
  }
}

int edgefn_endpoint_recv_finish(edgefn_endpoint *ep, void *head, void *body, int64_t timeout_ns) {
  uint64_t deadline = deadline_for(timeout_ns);
  ep->in.head = head;
  ep->in.body = body;
  for (;;) {
    int rc = edgefn_ring_msg_continue(&ep->rx, &ep->in);
    if (rc != EDGEFN_RING_EMPTY) return rc;
    rc = edgefn_ring_wait_readable(&ep->rx, ep->spin_ns, left_until(deadline));
    if (rc != EDGEFN_RING_OK) return rc;
  }
}

int edgefn_endpoint_send(edgefn_endpoint *ep, uint16_t type, uint64_t request_id, const void *head, uint64_t head_size,
                         const void *body, uint64_t body_size, int64_t timeout_ns) {
  if (ep->sending) return EDGEFN_RING_INVALID;
  if (head_size + body_size > ep->control->max_message_size || head_size + body_size < head_size) {
    return EDGEFN_RING_TOO_BIG;
  }
  edgefn_ring_msg_out_init(&ep->out, type, request_id, head, head_size, body, body_size);
  ep->sending = 1;
  return edgefn_endpoint_send_resume(ep, timeout_ns);
}

int edgefn_endpoint_send_resume(edgefn_endpoint *ep, int64_t timeout_ns) {
  if (!ep->sending) return EDGEFN_RING_INVALID;
  uint64_t deadline = deadline_for(timeout_ns);
  for (;;) {
    int rc = edgefn_ring_msg_write(&ep->tx, &ep->out);
    if (rc == EDGEFN_RING_FULL) {
      rc = edgefn_ring_wait_writable(&ep->tx, edgefn_ring_msg_next_payload(&ep->tx, &ep->out), ep->spin_ns,
                                     left_until(deadline));
      if (rc == EDGEFN_RING_OK) continue;
      if (rc == EDGEFN_RING_TIMEOUT || rc == EDGEFN_RING_INTERRUPTED) return rc;
    }
    ep->sending = 0;
    return rc;
  }
}

void edgefn_endpoint_close(edgefn_endpoint *ep) {
  edgefn_ring_close(&ep->rx);
  edgefn_ring_close(&ep->tx);
}
