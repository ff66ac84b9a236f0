/* The SPSC byte ring and its doorbell. The protocol is described in ring.h. */
#define _GNU_SOURCE
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LINE 128
/* "EDGERING" read as a little-endian u64 */
#define RING_MAGIC 0x474e495245474445ull
#define NO_DEADLINE UINT64_MAX

struct edgefn_ring_shared {
  alignas(LINE) uint64_t magic;
  uint64_t capacity;
  alignas(LINE) _Atomic uint64_t tail;
  alignas(LINE) _Atomic uint64_t head;
  alignas(LINE) _Atomic uint32_t data_waiter;
  alignas(LINE) _Atomic uint32_t space_waiter;
  alignas(LINE) _Atomic uint32_t closed;
};

_Static_assert(sizeof(struct edgefn_ring_shared) <= EDGEFN_RING_HEADER_SIZE, "ring header overflows its reserve");
/* A lock-based atomic would put a process-local lock in shared memory. */
_Static_assert(ATOMIC_LONG_LOCK_FREE == 2 && sizeof(long) == 8, "64-bit atomics must be lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");

struct frame_header {
  uint32_t size;
  uint16_t type;
  uint16_t flags;
  uint64_t request_id;
};
_Static_assert(sizeof(struct frame_header) == EDGEFN_FRAME_HEADER_SIZE, "frame header is 16 bytes");

static uint64_t align16(uint64_t n) { return (n + 15u) & ~(uint64_t)15u; }

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t deadline_after(int64_t timeout_ns) {
  return timeout_ns < 0 ? NO_DEADLINE : now_ns() + (uint64_t)timeout_ns;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#endif
}

const char *edgefn_ring_status_name(int status) {
  switch (status) {
    case EDGEFN_RING_OK: return "ok";
    case EDGEFN_RING_EMPTY: return "empty";
    case EDGEFN_RING_FULL: return "full";
    case EDGEFN_RING_TIMEOUT: return "timeout";
    case EDGEFN_RING_INTERRUPTED: return "interrupted";
    case EDGEFN_RING_CLOSED: return "closed";
    case EDGEFN_RING_TOO_BIG: return "too big";
    case EDGEFN_RING_PROTOCOL: return "protocol error";
    case EDGEFN_RING_INVALID: return "invalid argument";
    case EDGEFN_RING_SYSTEM: return "system error";
    default: return "unknown status";
  }
}

/* ---- Doorbell --------------------------------------------------------- */

/* Memory ordering of the doorbell (a Dekker-style handshake).
 *
 *   sleeper (consumer)                 waker (producer)
 *   W1: data_waiter = 1   seq_cst      W2: tail = t        seq_cst
 *   R1: load tail         seq_cst      R2: load data_waiter seq_cst
 *       unchanged -> futex_wait(1)         1 -> set 0, futex_wake
 *
 * The danger is store buffering: each side's store still sitting in its
 * core's store buffer while its load runs, so that R1 misses the new tail
 * and R2 misses the waiter flag, and the consumer sleeps on a published
 * frame with nobody to wake it. Acquire/release does not forbid this (x86
 * and aarch64 both exhibit it). All four accesses are seq_cst, so they
 * fall in a single total order S that respects each thread's program order:
 * if R1 precedes W2 in S (R1 missed the frame), then W1 < R1 < W2 < R2 and
 * R2, a seq_cst load, reads W1's 1 (a later store to the word comes only
 * from the consumer once awake), so the producer wakes the consumer. One of the two always sees the other. The space
 * doorbell (producer sleeps on space_waiter, consumer publishes head) and
 * close (closed = 1, then the wake) are the same pattern mirrored. The
 * index stored is the side's private copy and the index loaded is checked
 * after the load (take_head, take_tail): neither changes the argument.
 *
 * seq_cst operations rather than seq_cst fences around relaxed ones: the
 * guarantee is the same, the code is the same on x86-64 (XCHG for the store)
 * and aarch64 (STLR then LDAR, which the architecture keeps in order), and
 * ThreadSanitizer models operations but not standalone fences.
 *
 * A lost wakeup between R1 and the sleep itself cannot happen: futex_wait
 * sleeps only if the word still holds 1, atomically with respect to
 * futex_wake, and the producer clears it before waking; an eventfd keeps
 * its count until read, so a write that lands before poll() still wakes. */

static void signal_eventfd(int fd) {
  uint64_t one = 1;
  /* EAGAIN means the counter is saturated: the sleeper will wake anyway. */
  ssize_t n = write(fd, &one, sizeof one);
  (void)n;
}

static void futex_wake(_Atomic uint32_t *word, int count) {
  syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, count, NULL, NULL, 0);
}

static void wake_peer(edgefn_ring *r, _Atomic uint32_t *word) {
  if (atomic_load_explicit(word, memory_order_seq_cst) == 0) return;
  uint32_t was = atomic_exchange_explicit(word, 0, memory_order_seq_cst);
  if (was == 0) return;
  if (was == EDGEFN_WAITER_BELL && r->bell_fd >= 0) {
    signal_eventfd(r->bell_fd);
  } else if (r->wake_fd >= 0) {
    signal_eventfd(r->wake_fd);
  } else {
    futex_wake(word, 1);
  }
}

/* Sleeps while *word == 1, until woken or the deadline. */
static int sleep_on(edgefn_ring *r, _Atomic uint32_t *word, uint64_t deadline) {
  struct timespec ts;
  if (r->wait_fd >= 0) {
    struct timespec *rel = NULL;
    if (deadline != NO_DEADLINE) {
      uint64_t now = now_ns();
      uint64_t left = deadline > now ? deadline - now : 0;
      ts.tv_sec = (time_t)(left / 1000000000u);
      ts.tv_nsec = (long)(left % 1000000000u);
      rel = &ts;
    }
    struct pollfd pfd = {.fd = r->wait_fd, .events = POLLIN, .revents = 0};
    int n = ppoll(&pfd, 1, rel, NULL);
    if (n < 0) return errno == EINTR ? EDGEFN_RING_INTERRUPTED : EDGEFN_RING_SYSTEM;
    if (n == 0) return EDGEFN_RING_TIMEOUT;
    uint64_t count;
    ssize_t got = read(r->wait_fd, &count, sizeof count);
    (void)got; /* EAGAIN: another reader of the same eventfd got there first */
    return EDGEFN_RING_OK;
  }
  /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so
   * spurious wakeups and EINTR need no remaining-time arithmetic. Not
   * FUTEX_PRIVATE: the word is shared between processes. */
  if (deadline != NO_DEADLINE) {
    ts.tv_sec = (time_t)(deadline / 1000000000u);
    ts.tv_nsec = (long)(deadline % 1000000000u);
  }
  long rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, 1u, deadline == NO_DEADLINE ? NULL : &ts, NULL,
                    FUTEX_BITSET_MATCH_ANY);
  if (rc == 0 || errno == EAGAIN) return EDGEFN_RING_OK;
  if (errno == ETIMEDOUT) return EDGEFN_RING_TIMEOUT;
  if (errno == EINTR) return EDGEFN_RING_INTERRUPTED;
  return EDGEFN_RING_SYSTEM;
}

/* ---- Ring ------------------------------------------------------------- */

uint64_t edgefn_ring_footprint(uint64_t capacity) { return EDGEFN_RING_HEADER_SIZE + capacity; }

static int valid_capacity(uint64_t capacity) {
  /* u32 frame sizes bound a frame to capacity / 4, hence the upper limit. */
  return capacity >= EDGEFN_RING_MIN_CAPACITY && capacity <= ((uint64_t)1 << 32) && (capacity & (capacity - 1)) == 0;
}

int edgefn_ring_init(void *mem, uint64_t size) {
  if (mem == NULL || (uintptr_t)mem % LINE != 0 || size < edgefn_ring_footprint(EDGEFN_RING_MIN_CAPACITY)) {
    return EDGEFN_RING_INVALID;
  }
  uint64_t room = size - EDGEFN_RING_HEADER_SIZE;
  uint64_t capacity = EDGEFN_RING_MIN_CAPACITY;
  while (capacity * 2 <= room && capacity * 2 <= ((uint64_t)1 << 32)) capacity *= 2;
  memset(mem, 0, EDGEFN_RING_HEADER_SIZE);
  struct edgefn_ring_shared *sh = mem;
  sh->magic = RING_MAGIC;
  sh->capacity = capacity;
  atomic_init(&sh->tail, 0);
  atomic_init(&sh->head, 0);
  atomic_init(&sh->data_waiter, 0);
  atomic_init(&sh->space_waiter, 0);
  atomic_init(&sh->closed, 0);
  return EDGEFN_RING_OK;
}

int edgefn_ring_attach(edgefn_ring *r, void *mem, uint64_t size) {
  if (r == NULL || mem == NULL || (uintptr_t)mem % LINE != 0 || size < EDGEFN_RING_HEADER_SIZE) {
    return EDGEFN_RING_INVALID;
  }
  struct edgefn_ring_shared *sh = mem;
  /* Read once: the value checked is the value used. */
  uint64_t capacity = sh->capacity;
  if (sh->magic != RING_MAGIC || !valid_capacity(capacity) || edgefn_ring_footprint(capacity) > size) {
    return EDGEFN_RING_PROTOCOL;
  }
  uint64_t tail = atomic_load_explicit(&sh->tail, memory_order_acquire);
  uint64_t head = atomic_load_explicit(&sh->head, memory_order_acquire);
  if (((tail | head) & 15u) != 0 || tail - head > capacity) return EDGEFN_RING_PROTOCOL;
  memset(r, 0, sizeof *r);
  r->shared = sh;
  r->data = (unsigned char *)mem + EDGEFN_RING_HEADER_SIZE;
  r->capacity = capacity;
  /* The only reads of this side's own index (see ring.h, RING). */
  r->tail = tail;
  r->head = head;
  r->seen_head = head;
  r->seen_tail = tail;
  r->wait_fd = -1;
  r->wake_fd = -1;
  r->bell_fd = -1;
  return EDGEFN_RING_OK;
}

void edgefn_ring_set_fds(edgefn_ring *r, int wait_fd, int wake_fd) {
  r->wait_fd = wait_fd;
  r->wake_fd = wake_fd;
}

void edgefn_ring_set_bell(edgefn_ring *r, int bell_fd) { r->bell_fd = bell_fd; }

uint64_t edgefn_ring_capacity(const edgefn_ring *r) { return r->capacity; }

uint64_t edgefn_ring_max_payload(const edgefn_ring *r) { return r->capacity / 4 - EDGEFN_FRAME_HEADER_SIZE; }

int edgefn_ring_closed(const edgefn_ring *r) {
  return atomic_load_explicit(&r->shared->closed, memory_order_acquire) != 0;
}

/* Checks of the peer's index, on every load (ring.h, RING): the head a
 * producer loads lies in [seen_head, tail], the tail a consumer loads in
 * [seen_tail, head + capacity], each a multiple of 16. Unsigned differences
 * keep the comparisons right when the u64 positions wrap. A failed check
 * marks the handle broken, and the value is not kept. */
static int take_head(edgefn_ring *r, uint64_t head) {
  if ((head & 15u) != 0 || head - r->seen_head > r->tail - r->seen_head) {
    r->broken = 1;
    return 0;
  }
  r->seen_head = head;
  return 1;
}

static int take_tail(edgefn_ring *r, uint64_t tail) {
  if ((tail & 15u) != 0 || tail - r->seen_tail > r->head + r->capacity - r->seen_tail) {
    r->broken = 1;
    return 0;
  }
  r->seen_tail = tail;
  return 1;
}

uint64_t edgefn_ring_free_space(edgefn_ring *r) {
  if (r->broken || !take_head(r, atomic_load_explicit(&r->shared->head, memory_order_acquire))) return 0;
  return r->capacity - (r->tail - r->seen_head);
}

/* Bytes a frame needs at `tail`, counting the PAD that moves it to offset 0
 * when it does not fit before the end. */
static uint64_t bytes_needed(const edgefn_ring *r, uint64_t tail, uint64_t frame) {
  uint64_t to_end = r->capacity - (tail & (r->capacity - 1));
  return frame <= to_end ? frame : to_end + frame;
}

static void put_header(unsigned char *at, uint32_t size, uint16_t type, uint16_t flags, uint64_t request_id) {
  struct frame_header h = {.size = size, .type = type, .flags = flags, .request_id = request_id};
  memcpy(at, &h, sizeof h);
}

int edgefn_ring_try_write(edgefn_ring *r, uint16_t type, uint16_t flags, uint64_t request_id,
                          const edgefn_ring_piece *pieces, size_t count) {
  struct edgefn_ring_shared *sh = r->shared;
  if (type == EDGEFN_FRAME_PAD || (count > 0 && pieces == NULL)) return EDGEFN_RING_INVALID;
  if (r->broken) return EDGEFN_RING_PROTOCOL;
  if (atomic_load_explicit(&sh->closed, memory_order_acquire)) return EDGEFN_RING_CLOSED;
  uint64_t size = 0;
  for (size_t i = 0; i < count; ++i) size += pieces[i].size;
  if (size > edgefn_ring_max_payload(r)) return EDGEFN_RING_TOO_BIG;

  uint64_t frame = align16(EDGEFN_FRAME_HEADER_SIZE + size);
  uint64_t tail = r->tail;
  uint64_t need = bytes_needed(r, tail, frame);
  if (r->capacity - (tail - r->seen_head) < need) {
    /* Acquire: the consumer's reads of the bytes it released are done
     * before they are overwritten. */
    if (!take_head(r, atomic_load_explicit(&sh->head, memory_order_acquire))) return EDGEFN_RING_PROTOCOL;
    if (r->capacity - (tail - r->seen_head) < need) return EDGEFN_RING_FULL;
  }
  uint64_t offset = tail & (r->capacity - 1);
  uint64_t to_end = r->capacity - offset;
  if (frame > to_end) {
    put_header(r->data + offset, (uint32_t)(to_end - EDGEFN_FRAME_HEADER_SIZE), EDGEFN_FRAME_PAD, 0, 0);
    tail += to_end;
    offset = 0;
  }
  put_header(r->data + offset, (uint32_t)size, type, flags, request_id);
  unsigned char *out = r->data + offset + EDGEFN_FRAME_HEADER_SIZE;
  for (size_t i = 0; i < count; ++i) {
    if (pieces[i].size == 0) continue;
    memcpy(out, pieces[i].data, pieces[i].size);
    out += pieces[i].size;
  }
  r->tail = tail + frame;
  atomic_store_explicit(&sh->tail, r->tail, memory_order_seq_cst);
  wake_peer(r, &sh->data_waiter);
  return EDGEFN_RING_OK;
}

static void publish_head(edgefn_ring *r, uint64_t head) {
  r->head = head;
  atomic_store_explicit(&r->shared->head, head, memory_order_seq_cst);
  wake_peer(r, &r->shared->space_waiter);
}

int edgefn_ring_peek(edgefn_ring *r, edgefn_ring_frame *frame) {
  struct edgefn_ring_shared *sh = r->shared;
  if (r->broken) return EDGEFN_RING_PROTOCOL;
  if (r->read_end != 0) {
    *frame = r->peeked;
    return EDGEFN_RING_OK;
  }
  for (;;) {
    uint64_t head = r->head;
    if (head == r->seen_tail) {
      if (!take_tail(r, atomic_load_explicit(&sh->tail, memory_order_acquire))) return EDGEFN_RING_PROTOCOL;
      if (head == r->seen_tail) {
        if (!atomic_load_explicit(&sh->closed, memory_order_acquire)) return EDGEFN_RING_EMPTY;
        /* Frames published before the close are still delivered. */
        if (!take_tail(r, atomic_load_explicit(&sh->tail, memory_order_acquire))) return EDGEFN_RING_PROTOCOL;
        if (head == r->seen_tail) return EDGEFN_RING_CLOSED;
      }
    }
    /* head is a multiple of 16 and avail at most capacity (take_tail), so
     * the header read below lies inside the data area. */
    uint64_t avail = r->seen_tail - head;
    uint64_t to_end = r->capacity - (head & (r->capacity - 1));
    struct frame_header h;
    const unsigned char *at = r->data + (head & (r->capacity - 1));
    memcpy(&h, at, sizeof h);
    uint64_t span = align16(EDGEFN_FRAME_HEADER_SIZE + (uint64_t)h.size);
    if (span > avail || span > to_end) return EDGEFN_RING_PROTOCOL;
    if (h.type == EDGEFN_FRAME_PAD) {
      if (span != to_end) return EDGEFN_RING_PROTOCOL;
      publish_head(r, head + span);
      continue;
    }
    if (h.size > edgefn_ring_max_payload(r)) return EDGEFN_RING_PROTOCOL;
    r->read_end = head + span;
    r->peeked = (edgefn_ring_frame){.type = h.type,
                                    .flags = h.flags,
                                    .size = h.size,
                                    .request_id = h.request_id,
                                    .payload = at + EDGEFN_FRAME_HEADER_SIZE};
    *frame = r->peeked;
    return EDGEFN_RING_OK;
  }
}

void edgefn_ring_release(edgefn_ring *r) {
  if (r->read_end == 0) return;
  uint64_t end = r->read_end;
  r->read_end = 0;
  publish_head(r, end);
}

/* seq_cst loads: these are the R1 of the doorbell comment when called right
 * after arming. A broken ring counts as ready, so that nobody sleeps on it
 * and the next peek or write reports it. */
static int data_ready(edgefn_ring *r, uint64_t unused) {
  (void)unused;
  if (r->read_end != 0 || r->broken) return 1;
  struct edgefn_ring_shared *sh = r->shared;
  if (!take_tail(r, atomic_load_explicit(&sh->tail, memory_order_seq_cst))) return 1;
  return r->seen_tail != r->head || atomic_load_explicit(&sh->closed, memory_order_seq_cst) != 0;
}

static int space_ready(edgefn_ring *r, uint64_t payload_size) {
  if (r->broken) return 1;
  struct edgefn_ring_shared *sh = r->shared;
  uint64_t need = bytes_needed(r, r->tail, align16(EDGEFN_FRAME_HEADER_SIZE + payload_size));
  if (!take_head(r, atomic_load_explicit(&sh->head, memory_order_seq_cst))) return 1;
  return r->capacity - (r->tail - r->seen_head) >= need || atomic_load_explicit(&sh->closed, memory_order_seq_cst) != 0;
}

int edgefn_ring_readable(edgefn_ring *r) { return data_ready(r, 0); }

int edgefn_ring_writable(edgefn_ring *r, uint64_t payload_size) { return space_ready(r, payload_size); }

/* ---- Adaptive spin ---------------------------------------------------- */

/* Spinning pays only while the peer runs on another CPU and answers within
 * the spin. When it is slow (a long handler, an idle stream) the spin is
 * wasted CPU; when more tasks are runnable than there are CPUs, the peer may
 * be waiting for this very CPU, and spinning delays it (measured on 2 CPUs
 * with two busy loops beside daemon and worker: a fixed 50 us spin made
 * round trips 6x slower than a socket's). So the budget halves after a spin
 * that ended in sleep and doubles after one that caught the peer; below
 * cap / 16 it drops to 0, and every 16th wait then probes with the whole
 * cap. The probe must be the whole cap: once both sides sleep, each one's
 * wait also holds the other's wakeup, and a short probe would never catch
 * a reply again (seen: both sides stuck at 65 us on an idle host).
 * sched_yield() inside the spin is no cure for contention: CFS hands the
 * CPU to the hog for a whole slice (milliseconds), whereas a woken sleeper
 * gets to preempt it.
 *
 * Halving learns too slowly when the machine is busy (under HTTP load on 2
 * CPUs the p99 was 67-86 us against 32 us for a socket, and 28 us with no
 * spin): so no spin at all while more tasks are runnable than there are
 * CPUs, whatever the budget says. */

#define CONTENTION_RECHECK_NS 10000000u /* 10 ms */

/* The kernel's count of runnable tasks (this one included), from the
 * fourth field of /proc/loadavg ("running/total"); -1 if unreadable. */
static long runnable_tasks(void) {
  int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char text[128];
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return -1;
  text[n] = '\0';
  const char *p = text;
  for (int field = 0; field < 3; ++field) {
    while (*p && *p != ' ') ++p;
    while (*p == ' ') ++p;
  }
  long running = 0;
  if (*p < '0' || *p > '9') return -1;
  while (*p >= '0' && *p <= '9') running = running * 10 + (*p++ - '0');
  return running;
}

/* Process-wide and read at most every 10 ms (an open, a read, a close:
 * microseconds, so well under 0.1 % of a spinning core). Racy on purpose:
 * two threads that both refresh it only read the file twice. */
int edgefn_cpus_contended(void) {
  static _Atomic uint64_t checked_at;
  static _Atomic int contended;
  static _Atomic long cpus;
  uint64_t now = now_ns();
  uint64_t last = atomic_load_explicit(&checked_at, memory_order_relaxed);
  if (last != 0 && now - last < CONTENTION_RECHECK_NS) return atomic_load_explicit(&contended, memory_order_relaxed);
  atomic_store_explicit(&checked_at, now, memory_order_relaxed);
  long n = atomic_load_explicit(&cpus, memory_order_relaxed);
  if (n <= 0) {
    n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0) n = 1;
    atomic_store_explicit(&cpus, n, memory_order_relaxed);
  }
  long running = runnable_tasks();
  int busy = running > n;
  atomic_store_explicit(&contended, busy, memory_order_relaxed);
  return busy;
}

uint64_t edgefn_spin_budget(edgefn_spin *s, uint64_t cap) {
  if (cap == 0) return 0;
  if (!s->started || s->budget > cap) {
    s->budget = cap;
    s->started = 1;
  }
  if (s->budget > 0) return s->budget;
  return ++s->skips % 16 == 0 ? cap : 0;
}

uint64_t edgefn_spin_next(edgefn_spin *s, uint64_t cap) {
  uint64_t spin = edgefn_spin_budget(s, cap);
  return spin > 0 && edgefn_cpus_contended() ? 0 : spin;
}

void edgefn_spin_done(edgefn_spin *s, uint64_t cap, uint64_t spun, int caught) {
  if (spun == 0) return;
  uint64_t next = caught ? spun * 2 : s->budget / 2;
  s->budget = next > cap ? cap : next < cap / 16 ? 0 : next;
  s->skips = 0;
}

typedef int (*ready_fn)(edgefn_ring *, uint64_t);

static int arm_with(edgefn_ring *r, _Atomic uint32_t *word, uint32_t how, ready_fn ready, uint64_t arg) {
  atomic_store_explicit(word, how, memory_order_seq_cst);
  if (ready(r, arg)) {
    atomic_store_explicit(word, 0, memory_order_relaxed);
    return 1;
  }
  return 0;
}

static int arm(edgefn_ring *r, _Atomic uint32_t *word, ready_fn ready, uint64_t arg) {
  return arm_with(r, word, EDGEFN_WAITER_SLEEPS, ready, arg);
}

/* The bounded, adaptive spin before a sleep: 1 if `ready` came to hold. */
static int spin_for(edgefn_ring *r, ready_fn ready, uint64_t arg, uint64_t spin_ns, uint64_t deadline) {
  uint64_t spin = edgefn_spin_next(&r->spin, spin_ns);
  if (spin == 0) return 0;
  uint64_t start = now_ns();
  uint64_t spin_end = start + spin < deadline ? start + spin : deadline;
  /* Reading the clock costs about as much as a few pauses: check it only
   * every 16 rounds. */
  for (unsigned i = 1;; ++i) {
    cpu_relax();
    if (ready(r, arg)) {
      edgefn_spin_done(&r->spin, spin_ns, spin, 1);
      return 1;
    }
    if ((i & 15u) == 0 && now_ns() >= spin_end) break;
  }
  edgefn_spin_done(&r->spin, spin_ns, spin, 0);
  return 0;
}

static int wait_until(edgefn_ring *r, _Atomic uint32_t *word, ready_fn ready, uint64_t arg, uint64_t spin_ns,
                      int64_t timeout_ns) {
  if (ready(r, arg)) return EDGEFN_RING_OK;
  uint64_t deadline = deadline_after(timeout_ns);
  if (spin_for(r, ready, arg, spin_ns, deadline)) return EDGEFN_RING_OK;
  for (;;) {
    if (arm(r, word, ready, arg)) return EDGEFN_RING_OK;
    int rc = sleep_on(r, word, deadline);
    atomic_store_explicit(word, 0, memory_order_relaxed);
    if (ready(r, arg)) return EDGEFN_RING_OK;
    if (rc != EDGEFN_RING_OK) return rc;
    if (deadline != NO_DEADLINE && now_ns() >= deadline) return EDGEFN_RING_TIMEOUT;
  }
}

int edgefn_ring_wait_readable(edgefn_ring *r, uint64_t spin_ns, int64_t timeout_ns) {
  return wait_until(r, &r->shared->data_waiter, data_ready, 0, spin_ns, timeout_ns);
}

int edgefn_ring_wait_writable(edgefn_ring *r, uint64_t payload_size, uint64_t spin_ns, int64_t timeout_ns) {
  if (payload_size > edgefn_ring_max_payload(r)) return EDGEFN_RING_TOO_BIG;
  return wait_until(r, &r->shared->space_waiter, space_ready, payload_size, spin_ns, timeout_ns);
}

int edgefn_ring_arm_readable(edgefn_ring *r) { return arm(r, &r->shared->data_waiter, data_ready, 0); }

int edgefn_ring_arm_writable(edgefn_ring *r, uint64_t payload_size) {
  return arm(r, &r->shared->space_waiter, space_ready, payload_size);
}

int edgefn_ring_spin_arm_bell(edgefn_ring *r, uint64_t spin_ns) {
  if (data_ready(r, 0)) return 1;
  if (spin_for(r, data_ready, 0, spin_ns, NO_DEADLINE)) return 1;
  return arm_with(r, &r->shared->data_waiter, EDGEFN_WAITER_BELL, data_ready, 0);
}

void edgefn_ring_disarm_bell(edgefn_ring *r) {
  uint32_t expected = EDGEFN_WAITER_BELL;
  atomic_compare_exchange_strong_explicit(&r->shared->data_waiter, &expected, 0, memory_order_relaxed,
                                          memory_order_relaxed);
}

/* A waker that found the word at 1 already cleared it; a word still at 1
 * after a wakeup means the wakeup was for something else (the daemon's one
 * eventfd serves both rings). Clearing it spares the peer a needless write. */
void edgefn_ring_disarm_readable(edgefn_ring *r) {
  atomic_store_explicit(&r->shared->data_waiter, 0, memory_order_relaxed);
}

void edgefn_ring_disarm_writable(edgefn_ring *r) {
  atomic_store_explicit(&r->shared->space_waiter, 0, memory_order_relaxed);
}

void edgefn_ring_close(edgefn_ring *r) {
  struct edgefn_ring_shared *sh = r->shared;
  atomic_store_explicit(&sh->closed, 1, memory_order_seq_cst);
  /* Whoever sleeps, on either word, in either process, must wake: set the
   * words to 0 (so a futex_wait about to start returns at once) and ring
   * every bell this handle knows. Closing is rare; spare wakeups are cheap. */
  atomic_store_explicit(&sh->data_waiter, 0, memory_order_seq_cst);
  atomic_store_explicit(&sh->space_waiter, 0, memory_order_seq_cst);
  futex_wake(&sh->data_waiter, INT_MAX);
  futex_wake(&sh->space_waiter, INT_MAX);
  if (r->wake_fd >= 0) signal_eventfd(r->wake_fd);
  if (r->wait_fd >= 0) signal_eventfd(r->wait_fd);
  if (r->bell_fd >= 0) signal_eventfd(r->bell_fd);
}
