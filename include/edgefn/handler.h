/*
 * edgefn native handler ABI, version 1.
 *
 * A native handler is a shared library (.so) that edgefn loads with dlopen.
 * It is named in function.yaml as
 *
 *     spec:
 *       runtime: native
 *       handler: libmyfn.so:my_handle      # file in the function directory
 *
 * The library must export:
 *
 *   EDGEFN_DECLARE_ABI();                  defines `edgefn_abi_version`
 *   int my_handle(const edgefn_call *call, const edgefn_event *event);
 *
 * and may export:
 *
 *   int  edgefn_worker_init(const edgefn_worker_info *info, void **worker_state);
 *   void edgefn_worker_shutdown(void *worker_state);
 *
 * Threading. edgefn creates one "worker" per slot (spec.triggers.*.numWorkers).
 * init runs once per worker before it takes events; shutdown once when it
 * stops. One worker never runs two events at once, but different workers
 * run concurrently on different threads: state shared between workers needs
 * the handler's own synchronisation, state in *worker_state does not.
 * By default a handler runs inline on the daemon's I/O thread and must not
 * block (no sleeping, no network or disk waits): every microsecond it takes
 * delays other requests on that thread. A handler that does I/O sets
 * `runtimeAttributes.blocking: true` and then runs on a thread pool.
 *
 * Ownership. Everything reachable from `event` is owned by edgefn and valid
 * only until the handler returns; copy what must outlive the call. Response
 * data is handed over with the callbacks in `call->api`: set_body and
 * add_header copy their arguments; alloc_body returns a buffer owned by
 * edgefn, valid until the handler returns, that becomes the body.
 *
 * Errors. Return 0 on success. A non-zero return is a handler error: the
 * client gets 500 (unless the handler set a status of 400 or more itself),
 * with the message given to set_error, if any. A crash (signal) in a native
 * handler is a crash of the daemon: isolation is what the Python and shell
 * runtimes are for. Do not let C++ exceptions or Rust panics unwind out of
 * these functions.
 *
 * Strings are (pointer, length) pairs and are not NUL-terminated unless
 * noted; the body may contain NUL bytes.
 *
 * Growth. edgefn_api gains members only at its end, within the same ABI
 * version; `struct_size` says how much of it this processor provides.
 * Test for a later member with EDGEFN_API_HAS(call->api, member) before
 * calling it (the edgefn_* wrappers below do), so that a handler built
 * against this header still loads into an older 1.x processor.
 */
#ifndef EDGEFN_HANDLER_H
#define EDGEFN_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDGEFN_ABI_VERSION 1u

typedef struct edgefn_str {
  const char *data;
  size_t size;
} edgefn_str;

typedef struct edgefn_header {
  edgefn_str name;
  edgefn_str value;
} edgefn_header;

typedef struct edgefn_event {
  edgefn_str id;
  edgefn_str trigger_kind;
  edgefn_str trigger_name;
  edgefn_str method;
  edgefn_str path;
  edgefn_str url;
  edgefn_str content_type;
  const edgefn_header *headers;
  size_t num_headers;
  const edgefn_header *fields; /* query arguments for HTTP */
  size_t num_fields;
  const void *body;
  size_t body_size;
  int64_t timestamp_ns; /* Unix epoch, nanoseconds */
  edgefn_str topic;     /* stream events; empty otherwise */
  edgefn_str key;
  int32_t shard_id; /* -1 when not a stream event */
  int64_t offset;   /* -1 when not a stream event */
} edgefn_event;

/* A message for a named output (publish, below). */
typedef struct edgefn_output_message {
  edgefn_str topic; /* empty: the output's default */
  edgefn_str key;
  const edgefn_header *headers;
  size_t num_headers;
  const void *body;
  size_t body_size;
} edgefn_output_message;

enum edgefn_log_level {
  EDGEFN_LOG_DEBUG = 0,
  EDGEFN_LOG_INFO = 1,
  EDGEFN_LOG_WARN = 2,
  EDGEFN_LOG_ERROR = 3
};

typedef struct edgefn_call edgefn_call;

/* Host callbacks. Each takes the call it belongs to and may be used only
 * during that call, from the thread running the handler. Functions returning
 * int return 0 on success, -1 on a bad argument or allocation failure. */
typedef struct edgefn_api {
  uint32_t abi_version;
  uint32_t struct_size; /* grows at the end in later minor versions */
  void (*log)(const edgefn_call *call, int level, const char *message, size_t size);
  void (*set_status)(const edgefn_call *call, int status);
  int (*set_content_type)(const edgefn_call *call, const char *value, size_t size);
  int (*add_header)(const edgefn_call *call, const char *name, size_t name_size, const char *value,
                    size_t value_size);
  int (*set_body)(const edgefn_call *call, const void *data, size_t size);
  void *(*alloc_body)(const edgefn_call *call, size_t size); /* NULL on failure */
  void (*set_error)(const edgefn_call *call, const char *message, size_t size);
  /* Since 1.1. Publishes `message` to the output named `output` (a stream
   * trigger's connection). Copies everything and returns at once: 0 when
   * the output exists and took the message for delivery, -1 when there is
   * no such output or an argument is bad. Delivery failures are logged by
   * the processor; the handler is not told. Never blocks, so inline
   * handlers may call it. */
  int (*publish)(const edgefn_call *call, const char *output, size_t output_size,
                 const edgefn_output_message *message);
  /* Since 1.2. The event's raw query string, as the client sent it: what
   * follows the first '?' of the request target, still percent-encoded
   * (`event->fields` has it decoded). Empty when there is none, and for
   * events that are not HTTP requests. */
  edgefn_str (*query)(const edgefn_call *call);
} edgefn_api;

/* Whether `api` provides `member`, for members added after 1.0. */
#define EDGEFN_API_HAS(api, member) \
  ((api)->struct_size >= offsetof(edgefn_api, member) + sizeof(((edgefn_api *)0)->member))

struct edgefn_call {
  const edgefn_api *api;
  void *worker_state; /* what edgefn_worker_init stored; NULL otherwise */
  void *host;         /* edgefn's own; do not touch */
};

typedef struct edgefn_worker_info {
  uint32_t abi_version;
  int32_t worker_id;
  edgefn_str function_name;
  edgefn_str trigger_name;
} edgefn_worker_info;

typedef int (*edgefn_handle_fn)(const edgefn_call *call, const edgefn_event *event);
typedef int (*edgefn_worker_init_fn)(const edgefn_worker_info *info, void **worker_state);
typedef void (*edgefn_worker_shutdown_fn)(void *worker_state);

#define EDGEFN_DECLARE_ABI() \
  __attribute__((visibility("default"))) const uint32_t edgefn_abi_version = EDGEFN_ABI_VERSION

/* Conveniences over call->api. */
static inline void edgefn_log(const edgefn_call *c, int level, const char *msg, size_t size) {
  c->api->log(c, level, msg, size);
}
static inline void edgefn_set_status(const edgefn_call *c, int status) { c->api->set_status(c, status); }
static inline int edgefn_set_content_type(const edgefn_call *c, const char *value, size_t size) {
  return c->api->set_content_type(c, value, size);
}
static inline int edgefn_add_header(const edgefn_call *c, const char *name, size_t name_size,
                                    const char *value, size_t value_size) {
  return c->api->add_header(c, name, name_size, value, value_size);
}
static inline int edgefn_set_body(const edgefn_call *c, const void *data, size_t size) {
  return c->api->set_body(c, data, size);
}
static inline void *edgefn_alloc_body(const edgefn_call *c, size_t size) { return c->api->alloc_body(c, size); }
static inline void edgefn_set_error(const edgefn_call *c, const char *message, size_t size) {
  c->api->set_error(c, message, size);
}
/* -1 also when the processor predates publish (ABI 1.0). */
static inline int edgefn_publish(const edgefn_call *c, const char *output, size_t output_size,
                                 const edgefn_output_message *message) {
  if (!EDGEFN_API_HAS(c->api, publish)) return -1;
  return c->api->publish(c, output, output_size, message);
}
/* Empty also when the processor predates query (ABI 1.0 and 1.1). */
static inline edgefn_str edgefn_query(const edgefn_call *c) {
  if (!EDGEFN_API_HAS(c->api, query)) {
    edgefn_str none = {"", 0};
    return none;
  }
  return c->api->query(c);
}

#ifdef __cplusplus
}
#endif

#endif /* EDGEFN_HANDLER_H */
