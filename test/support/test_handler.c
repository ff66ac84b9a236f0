/* A native handler for the ABI tests: each symbol exercises one part of
 * the contract (headers, errors, status, logging, per-worker state). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <edgefn/handler.h>

#define EXPORT __attribute__((visibility("default")))

EDGEFN_DECLARE_ABI();

typedef struct {
  int worker_id;
  long calls;
} state_t;

EXPORT int edgefn_worker_init(const edgefn_worker_info *info, void **worker_state) {
  state_t *s = calloc(1, sizeof *s);
  if (!s) return -1;
  s->worker_id = info->worker_id;
  *worker_state = s;
  return 0;
}

EXPORT void edgefn_worker_shutdown(void *worker_state) { free(worker_state); }

/* Body "worker=<id> calls=<n> method=<m> path=<p>", header X-Echo-Count. */
EXPORT int describe(const edgefn_call *call, const edgefn_event *event) {
  state_t *s = call->worker_state;
  char out[512];
  s->calls++;
  int n = snprintf(out, sizeof out, "worker=%d calls=%ld method=%.*s path=%.*s headers=%zu body=%zu", s->worker_id,
                   s->calls, (int)event->method.size, event->method.data, (int)event->path.size, event->path.data,
                   event->num_headers, event->body_size);
  edgefn_set_content_type(call, "text/plain; charset=utf-8", 25);
  return edgefn_set_body(call, out, (size_t)n);
}

/* Fails: status 422 with a message, plus a log line. */
EXPORT int fail(const edgefn_call *call, const edgefn_event *event) {
  (void)event;
  edgefn_log(call, EDGEFN_LOG_WARN, "refusing", 8);
  edgefn_set_status(call, 422);
  edgefn_set_error(call, "bad input", 9);
  return 1;
}

/* Fails without setting anything: must become a 500. */
EXPORT int fail_plain(const edgefn_call *call, const edgefn_event *event) {
  (void)call;
  (void)event;
  return 7;
}

/* Writes the body through alloc_body, upper-casing the request body. */
EXPORT int upper(const edgefn_call *call, const edgefn_event *event) {
  char *out = edgefn_alloc_body(call, event->body_size);
  if (!out && event->body_size) return -1;
  const char *in = event->body;
  for (size_t i = 0; i < event->body_size; ++i) out[i] = (in[i] >= 'a' && in[i] <= 'z') ? in[i] - 32 : in[i];
  edgefn_log(call, EDGEFN_LOG_INFO, "upper-cased", 11);
  edgefn_set_status(call, 201);
  return 0;
}

/* Tries to split the response with a header value containing CRLF. */
EXPORT int bad_header(const edgefn_call *call, const edgefn_event *event) {
  (void)event;
  edgefn_add_header(call, "X-Good", 6, "yes", 3);
  edgefn_add_header(call, "X-Evil", 6, "a\r\nSet-Cookie: pwned=1", 22);
  edgefn_add_header(call, "Bad Name", 8, "x", 1);
  return edgefn_set_body(call, "ok", 2);
}

/* Answers with the headers the body asks for: "<count> <size>" adds
 * <count> headers X-Big-<i> of <size> bytes each. */
EXPORT int big_headers(const edgefn_call *call, const edgefn_event *event) {
  char spec[64] = {0};
  memcpy(spec, event->body, event->body_size < sizeof spec - 1 ? event->body_size : sizeof spec - 1);
  long count = 0, size = 0;
  if (sscanf(spec, "%ld %ld", &count, &size) != 2 || count < 0 || size < 0 || size > (1L << 26)) return -1;
  char *value = malloc((size_t)size + 1);
  if (!value) return -1;
  memset(value, 'a', (size_t)size);
  for (long i = 0; i < count; ++i) {
    char name[32];
    int len = snprintf(name, sizeof name, "X-Big-%ld", i);
    edgefn_add_header(call, name, (size_t)len, value, (size_t)size);
  }
  free(value);
  return edgefn_set_body(call, "big", 3);
}

/* Blocks until edgefn_test_release() is called (or 30 s pass), counting the
 * calls that returned: a handler that never returns while the processor
 * stops. */
static _Atomic int released;
static _Atomic int returned;

EXPORT void edgefn_test_release(void) { released = 1; }
EXPORT int edgefn_test_returned(void) { return returned; }

EXPORT int block(const edgefn_call *call, const edgefn_event *event) {
  (void)event;
  for (int i = 0; i < 30000 && !released; ++i) {
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  /* Touches the worker's state and the host after the wait: what a stop
   * that gave up must leave valid. */
  state_t *s = call->worker_state;
  s->calls++;
  edgefn_log(call, EDGEFN_LOG_INFO, "unblocked", 9);
  int rc = edgefn_set_body(call, "unblocked", 9);
  returned++;
  return rc;
}

/* Publishes the request body to the output named by header X-Output, with
 * topic "t/1" and one header; answers "published" or "refused". */
EXPORT int publish(const edgefn_call *call, const edgefn_event *event) {
  edgefn_str output = {"", 0};
  for (size_t i = 0; i < event->num_headers; ++i)
    if (event->headers[i].name.size == 8 && memcmp(event->headers[i].name.data, "X-Output", 8) == 0)
      output = event->headers[i].value;
  edgefn_header header = {{"X-Source", 8}, {"native", 6}};
  edgefn_output_message message = {{"t/1", 3}, {"", 0}, &header, 1, event->body, event->body_size};
  int rc = edgefn_publish(call, output.data, output.size, &message);
  return rc == 0 ? edgefn_set_body(call, "published", 9) : edgefn_set_body(call, "refused", 7);
}

/* Answers the raw query string (ABI 1.2), between brackets. */
EXPORT int raw_query(const edgefn_call *call, const edgefn_event *event) {
  (void)event;
  edgefn_str query = edgefn_query(call);
  char out[256];
  int n = snprintf(out, sizeof out, "[%.*s]", (int)query.size, query.data);
  return edgefn_set_body(call, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
}

/* Answers a stream event's place: "topic=<t> key=<k in hex> shard=<n>
 * offset=<n> ts=<ns>" (a key may hold any byte, NUL too). */
EXPORT int stream_fields(const edgefn_call *call, const edgefn_event *event) {
  char key[129] = "";
  for (size_t i = 0; i < event->key.size && i < 64; ++i)
    snprintf(key + 2 * i, 3, "%02x", (unsigned char)event->key.data[i]);
  char out[512];
  int n = snprintf(out, sizeof out, "topic=%.*s key=%s shard=%d offset=%lld ts=%lld", (int)event->topic.size,
                   event->topic.data, key, (int)event->shard_id, (long long)event->offset,
                   (long long)event->timestamp_ns);
  return edgefn_set_body(call, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
}
