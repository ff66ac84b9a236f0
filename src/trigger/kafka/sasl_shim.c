/* The Cyrus SASL functions that Debian's librdkafka.a calls, for the static
 * build only (cmake/static_build.cmake). librdkafka implements PLAIN,
 * SCRAM-SHA-256/512 and OAUTHBEARER itself and goes through Cyrus SASL for
 * GSSAPI (Kerberos) alone; libsasl2's archive would drag in Kerberos, which
 * Debian ships no archive of. Here the library initialises, so librdkafka
 * starts, and every connection it opens refuses with one message that says
 * why and what to do. kafka_settings.cpp refuses GSSAPI at config load
 * already: this is the net under a raw `librdkafka: {sasl.mechanisms: ...}`.
 *
 * The signatures are <sasl/sasl.h>'s (libsasl2-dev, not needed to build
 * this); the types are left opaque since nothing here looks inside them. */
#include <stddef.h>

/* From <sasl/sasl.h>. */
enum { kSaslOk = 0, kSaslFail = -1, kSaslNoMech = -4 };

static const char kRefusal[] =
    "SASL GSSAPI (Kerberos) is not available: this edgefn binary is the static build, which links no "
    "Cyrus SASL; use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER, or a build configured with "
    "-DEDGEFN_STATIC=OFF";

struct sasl_callback;
struct sasl_conn;
struct sasl_interact;

int sasl_client_init(const struct sasl_callback* callbacks) {
  (void)callbacks;
  return kSaslOk;
}

int sasl_client_new(const char* service, const char* server_fqdn, const char* local_ip_port,
                    const char* remote_ip_port, const struct sasl_callback* prompts, unsigned flags,
                    struct sasl_conn** connection) {
  (void)service, (void)server_fqdn, (void)local_ip_port, (void)remote_ip_port, (void)prompts, (void)flags;
  *connection = NULL;
  return kSaslNoMech;
}

int sasl_client_start(struct sasl_conn* connection, const char* mechanisms, struct sasl_interact** prompts,
                      const char** out, unsigned* out_length, const char** mechanism) {
  (void)connection, (void)mechanisms, (void)prompts;
  *out = NULL;
  *out_length = 0;
  if (mechanism) *mechanism = NULL;
  return kSaslNoMech;
}

int sasl_client_step(struct sasl_conn* connection, const char* in, unsigned in_length,
                     struct sasl_interact** prompts, const char** out, unsigned* out_length) {
  (void)connection, (void)in, (void)in_length, (void)prompts;
  *out = NULL;
  *out_length = 0;
  return kSaslNoMech;
}

void sasl_dispose(struct sasl_conn** connection) {
  if (connection) *connection = NULL;
}

const char* sasl_errstring(int error, const char* languages, const char** language) {
  (void)error, (void)languages;
  if (language) *language = "en-us";
  return kRefusal;
}

const char* sasl_errdetail(struct sasl_conn* connection) {
  (void)connection;
  return kRefusal;
}

int sasl_getprop(struct sasl_conn* connection, int property, const void** value) {
  (void)connection, (void)property;
  *value = NULL;
  return kSaslFail;
}

int sasl_listmech(struct sasl_conn* connection, const char* user, const char* prefix, const char* separator,
                  const char* suffix, const char** result, unsigned* length, int* count) {
  (void)connection, (void)user, (void)prefix, (void)separator, (void)suffix;
  *result = "";
  if (length) *length = 0;
  if (count) *count = 0;
  return kSaslOk;
}
