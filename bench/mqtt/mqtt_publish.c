// The MQTT benchmark's publisher (bench/mqtt/run.sh builds it with cc):
// MQTT 3.1.1 over a raw socket, so that publishing costs the 2 cores a
// few µs per message instead of the ~20 µs of a Python publisher.
//
//   mqtt_publish PORT TOPIC QOS COUNT SIZE WINDOW RATE
//
// Sends COUNT messages of SIZE bytes: `SEQ TIMESTAMP ` (10 and 19 digits,
// TIMESTAMP = CLOCK_MONOTONIC in ns when written) padded with 'x', as
// mqtt_bench.py's publisher does. QoS 1 keeps at most WINDOW PUBLISHes
// unacknowledged and returns only when every PUBACK came. RATE > 0 paces
// the messages (one write each); 0 sends as fast as the window allows.
// Prints {"sent", "acked", "t_first", "t_sent", "t_acked"} (ns) on stdout.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kBatch = 256, kMaxPacket = 4096, kTimeoutMs = 300000 };

static void die(const char* what) {
  fprintf(stderr, "mqtt_publish: %s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "");
  exit(1);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t put_length(unsigned char* out, size_t n) {
  size_t i = 0;
  do {
    unsigned char byte = n % 128;
    n /= 128;
    out[i++] = byte | (n ? 0x80 : 0);
  } while (n);
  return i;
}

static void write_all(int fd, const unsigned char* data, size_t n) {
  while (n) {
    ssize_t w = write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("write");
    data += w;
    n -= (size_t)w;
  }
}

static size_t read_some(int fd, unsigned char* buf, size_t n) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int r = poll(&p, 1, kTimeoutMs);
  if (r == 0) {
    errno = 0;
    die("no PUBACK within the timeout");
  }
  ssize_t got = read(fd, buf, n);
  if (got == 0) {
    errno = 0;
    die("the broker closed the connection");
  }
  if (got < 0) die("read");
  // mosquitto leaves Nagle on: acknowledge what came at once, or its next
  // 4-byte PUBACKs wait for our delayed ACK.
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  return (size_t)got;
}

int main(int argc, char** argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: mqtt_publish PORT TOPIC QOS COUNT SIZE WINDOW RATE\n");
    return 2;
  }
  int port = atoi(argv[1]);
  const char* topic = argv[2];
  int qos = atoi(argv[3]);
  long count = atol(argv[4]);
  size_t size = (size_t)atol(argv[5]);
  long window = atol(argv[6]);
  double rate = atof(argv[7]);
  size_t topic_len = strlen(topic);
  if ((qos != 0 && qos != 1) || count < 1 || size < 31 || window < 1 || topic_len + size + 16 > kMaxPacket) {
    fprintf(stderr, "mqtt_publish: bad arguments\n");
    return 2;
  }

  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  // CONNECT: "MQTT", level 4, clean session, keepalive 60, client ID.
  static const char kClientId[] = "bench-publisher";
  unsigned char pkt[kMaxPacket];
  size_t body = 10 + 2 + sizeof kClientId - 1, n = 0;
  pkt[n++] = 0x10;
  n += put_length(pkt + n, body);
  memcpy(pkt + n, "\x00\x04MQTT\x04\x02\x00\x3c", 10);
  n += 10;
  pkt[n++] = 0;
  pkt[n++] = sizeof kClientId - 1;
  memcpy(pkt + n, kClientId, sizeof kClientId - 1);
  n += sizeof kClientId - 1;
  write_all(fd, pkt, n);
  unsigned char in[1 << 16];
  size_t have = 0;
  while (have < 4) have += read_some(fd, in + have, sizeof in - have);
  if (in[0] != 0x20 || in[3] != 0) {
    errno = 0;
    die("CONNACK refused");
  }

  // The fixed part of every PUBLISH: header, length, topic.
  unsigned char prefix[kMaxPacket];
  size_t prefix_len = 0;
  prefix[prefix_len++] = (unsigned char)(0x30 | (qos << 1));
  prefix_len += put_length(prefix + prefix_len, 2 + topic_len + (qos ? 2 : 0) + size);
  prefix[prefix_len++] = (unsigned char)(topic_len >> 8);
  prefix[prefix_len++] = (unsigned char)topic_len;
  memcpy(prefix + prefix_len, topic, topic_len);
  prefix_len += topic_len;
  size_t packet_len = prefix_len + (qos ? 2 : 0) + size;

  unsigned char* batch = malloc(packet_len * kBatch);
  if (!batch) die("malloc");
  long sent = 0, acked = 0;
  size_t pending = have - 4;  // bytes of a PUBACK split across reads
  memmove(in, in + 4, pending);
  int64_t t_first = now_ns();
  double interval = rate > 0 ? 1e9 / rate : 0;
  while (sent < count) {
    long room = count - sent;
    if (interval) {
      int64_t wait = t_first + (int64_t)(sent * interval) - now_ns();
      if (wait > 0) {
        struct timespec ts = {.tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000};
        nanosleep(&ts, NULL);
      }
      room = 1;
    } else if (room > kBatch) {
      room = kBatch;
    }
    if (qos && room > window - (sent - acked)) room = window - (sent - acked);
    size_t len = 0;
    for (long i = 0; i < room; ++i, ++sent) {
      unsigned char* p = batch + len;
      memcpy(p, prefix, prefix_len);
      p += prefix_len;
      if (qos) {
        unsigned id = (unsigned)(sent % 65535) + 1;
        *p++ = (unsigned char)(id >> 8);
        *p++ = (unsigned char)id;
      }
      char head[64];
      int h = snprintf(head, sizeof head, "%010ld %019lld ", sent, (long long)now_ns());
      memcpy(p, head, (size_t)h);
      memset(p + h, 'x', size - (size_t)h);
      len += packet_len;
    }
    if (len) write_all(fd, batch, len);
    if (qos) {
      // Block only when the window is full; otherwise take what is there.
      struct pollfd p = {.fd = fd, .events = POLLIN};
      if (sent - acked >= window || poll(&p, 1, 0) > 0) {
        pending += read_some(fd, in + pending, sizeof in - pending);
        size_t whole = pending - pending % 4;
        for (size_t i = 0; i < whole; i += 4)
          if (in[i] != 0x40) {
            errno = 0;
            die("a packet other than PUBACK from the broker");
          }
        acked += (long)(whole / 4);
        memmove(in, in + whole, pending - whole);
        pending -= whole;
      }
    }
  }
  int64_t t_sent = now_ns();
  while (qos && acked < count) {
    pending += read_some(fd, in + pending, sizeof in - pending);
    size_t whole = pending - pending % 4;
    acked += (long)(whole / 4);
    memmove(in, in + whole, pending - whole);
    pending -= whole;
  }
  int64_t t_acked = now_ns();
  write_all(fd, (const unsigned char*)"\xe0\x00", 2);  // DISCONNECT
  close(fd);
  free(batch);
  printf("{\"sent\": %ld, \"acked\": %s%ld, \"t_first\": %lld, \"t_sent\": %lld, \"t_acked\": %lld}\n", sent,
         "", qos ? acked : 0L, (long long)t_first, (long long)t_sent, (long long)t_acked);
  return 0;
}
