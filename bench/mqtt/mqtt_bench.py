#!/usr/bin/env python3
"""The MQTT benchmark's own clients (bench/mqtt/run.sh), MQTT 3.1.1 over a raw socket.

    mqtt_bench.py publish --port P --qos Q --count N [--rate R]   a publisher
    mqtt_bench.py count --port P --topic T --qos Q --count N       an arrival counter
    mqtt_bench.py measure --port P --qos Q --count N --detect ...  one measured run
    mqtt_bench.py note JSON KEY=VALUE...                           JSON with the pairs added

Every payload is `SEQ TIMESTAMP ` and 'x' padding, printable and without a
newline (so that `mosquitto_sub | mosquitto_pub -l` relays it unchanged):
SEQ is the message's number, 0..N-1, TIMESTAMP the publisher's
CLOCK_MONOTONIC in ns when it wrote the message. CLOCK_MONOTONIC is one
clock for every process on the machine, so a counter's arrival time minus
TIMESTAMP is the end-to-end latency.

The publisher (here, or mqtt_publish.c, which run.sh uses: the same
messages for a fifth of the CPU) keeps a window of unacknowledged QoS 1 PUBLISHes (pipelined,
not one at a time) and returns only when every PUBACK has arrived, unlike
`mosquitto_pub -l`, which can exit first and under-deliver. Results are
one JSON object on stdout; progress and errors go to stderr.
"""

import argparse
import http.client
import json
import os
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time

kSeqDigits = 10
kStampDigits = 19
kMinPayload = kSeqDigits + 1 + kStampDigits + 1
kKeepAlive = 60
kBatch = 256  # QoS 0 messages written per send()


def die(message):
    print(f"mqtt_bench: {message}", file=sys.stderr)
    sys.exit(1)


def remaining_length(n):
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(text):
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def recv_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return bytes(data)


def read_packet(sock):
    """One whole packet (blocking): (first byte, body)."""
    first = recv_exact(sock, 1)[0]
    length, shift = 0, 0
    while True:
        byte = recv_exact(sock, 1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return first, recv_exact(sock, length)


def connect(port, client_id, timeout=10.0):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # protocol name, level 4 (3.1.1), flags: clean session; keepalive
    body = utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", kKeepAlive) + utf8(client_id)
    sock.sendall(b"\x10" + remaining_length(len(body)) + body)
    first, body = read_packet(sock)
    if first != 0x20 or len(body) != 2 or body[1] != 0:
        die(f"{client_id}: CONNACK refused ({first:#x} {body.hex()})")
    return sock


def quick_ack(sock):
    """Acknowledges at once what was read. mosquitto leaves Nagle on
    (set_tcp_nodelay false): what it writes next waits until its previous
    segment is acknowledged, and a delayed ACK here holds it up to 40 ms.
    A QoS 0 counter sends nothing its ACKs could ride on: without this, the
    paced latency through a second hop measured 9 ms median instead of 0.24."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def subscribe(sock, topic, qos):
    body = struct.pack("!H", 1) + utf8(topic) + bytes([qos])
    sock.sendall(b"\x82" + remaining_length(len(body)) + body)
    first, body = read_packet(sock)
    if first != 0x90 or body[2:3] not in (b"\x00", b"\x01", b"\x02"):
        die(f"SUBACK refused ({first:#x} {body.hex()})")


def payload(seq, size):
    head = b"%010d %019d " % (seq, time.monotonic_ns())
    return head + b"x" * (size - len(head))


# ---- publish ---------------------------------------------------------------


def publish(args):
    """Sends args.count messages; returns the times of the first write, the
    last write and the last PUBACK (CLOCK_MONOTONIC ns)."""
    if args.size < kMinPayload:
        die(f"--size must be at least {kMinPayload}")
    sock = connect(args.port, args.client_id)
    topic = utf8(args.topic)
    extra = 2 if args.qos else 0
    header = bytes([0x30 | (args.qos << 1)]) + remaining_length(len(topic) + extra + args.size)
    prefix = header + topic
    n, window = args.count, max(1, args.window)
    sent = acked = 0
    pending = b""  # a PUBACK split across reads
    t_first = time.monotonic_ns()
    interval = 1e9 / args.rate if args.rate else 0
    sock.settimeout(args.timeout)
    while sent < n:
        if interval:
            due = t_first + int(sent * interval)
            wait = due - time.monotonic_ns()
            if wait > 0:
                time.sleep(wait / 1e9)
            batch = 1
        else:
            batch = min(kBatch, n - sent)
        if args.qos:
            batch = min(batch, window - (sent - acked))
        if batch > 0:
            if args.qos:
                parts = [prefix + struct.pack("!H", (s % 65535) + 1) + payload(s, args.size)
                         for s in range(sent, sent + batch)]
            else:
                parts = [prefix + payload(s, args.size) for s in range(sent, sent + batch)]
            sock.sendall(b"".join(parts))
            sent += batch
        if args.qos:
            # Block only when the window is full; otherwise take what is there.
            full = sent - acked >= window
            readable = True if full else select.select([sock], [], [], 0)[0]
            if readable:
                data = pending + sock.recv(1 << 16)
                quick_ack(sock)
                if len(data) == len(pending):
                    die("the broker closed the connection")
                whole = len(data) - len(data) % 4
                if data[0:whole:4].strip(b"\x40"):
                    die("a packet other than PUBACK from the broker")
                acked += whole // 4
                pending = data[whole:]
    t_sent = time.monotonic_ns()
    while args.qos and acked < n:
        data = pending + sock.recv(1 << 16)
        quick_ack(sock)
        if len(data) == len(pending):
            die("the broker closed the connection")
        whole = len(data) - len(data) % 4
        acked += whole // 4
        pending = data[whole:]
    t_acked = time.monotonic_ns()
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    return dict(sent=sent, acked=acked if args.qos else None, t_first=t_first, t_sent=t_sent, t_acked=t_acked)


# ---- count -----------------------------------------------------------------


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def count(args):
    """Subscribes, announces it (--ready-file), and counts arrivals until
    args.count distinct messages came, nothing came for --idle seconds, or
    --timeout passed."""
    sock = connect(args.port, args.client_id)
    subscribe(sock, args.topic, args.qos)
    if args.ready_file:
        with open(args.ready_file + ".tmp", "w") as f:
            f.write("subscribed\n")
        os.rename(args.ready_file + ".tmp", args.ready_file)
    n = args.count
    seen = bytearray(n)
    unique = duplicates = foreign = 0
    latencies = []
    first_ns = last_ns = None
    buf = bytearray()
    deadline = time.monotonic() + args.timeout
    sock.settimeout(args.idle)
    while unique < n and time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            break
        if not chunk:
            break
        now = time.monotonic_ns()
        quick_ack(sock)
        buf += chunk
        acks = []
        pos, end = 0, len(buf)
        while pos + 2 <= end:
            first = buf[pos]
            length, shift, i = 0, 0, pos + 1
            while i < end:
                byte = buf[i]
                length |= (byte & 0x7F) << shift
                shift += 7
                i += 1
                if not byte & 0x80:
                    break
            else:
                break
            if i + length > end:
                break
            if first >> 4 == 3:
                topic_len = (buf[i] << 8) | buf[i + 1]
                body = i + 2 + topic_len
                if first & 0x06:
                    acks.append(b"\x40\x02" + bytes(buf[body:body + 2]))
                    body += 2
                try:
                    seq = int(buf[body:body + kSeqDigits])
                    stamp = int(buf[body + kSeqDigits + 1:body + kSeqDigits + 1 + kStampDigits])
                except ValueError:
                    seq = -1
                if 0 <= seq < n:
                    if seen[seq]:
                        duplicates += 1
                    else:
                        seen[seq] = 1
                        unique += 1
                        latencies.append(now - stamp)
                        if first_ns is None:
                            first_ns = now
                        last_ns = now
                else:
                    foreign += 1
            pos = i + length
        del buf[:pos]
        if acks:
            sock.sendall(b"".join(acks))
    try:
        sock.sendall(b"\xe0\x00")
    except OSError:
        pass
    sock.close()
    latencies.sort()
    ms = lambda v: None if v is None else round(v / 1e6, 3)  # noqa: E731
    return dict(received=unique, duplicates=duplicates, foreign=foreign, lost=n - unique, first=first_ns,
                last=last_ns, p50_ms=ms(percentile(latencies, 50)), p99_ms=ms(percentile(latencies, 99)),
                max_ms=ms(latencies[-1] if latencies else None))


# ---- measure ---------------------------------------------------------------


def wait_for(predicate, limit, what, proc=None):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            die(f"{what}: the process exited ({proc.returncode}) first")
        time.sleep(0.01)
    die(f"{what}: not within {limit} s")


def broker_saw_subscription(log_path, client_id, topic):
    """A predicate: has mosquitto logged (`log_type subscribe`: `<time>:
    <client> <qos> <topic>`) the subscription since this call?"""
    pattern = re.compile(rf"^\d+: {re.escape(client_id)} \d {re.escape(topic)}$", re.M)
    start = os.path.getsize(log_path)

    def subscribed():
        with open(log_path, errors="replace") as f:
            f.seek(start)
            return pattern.search(f.read()) is not None

    return subscribed


class MetricsPoller:
    """Sums edgefn_events_total{trigger=...} from the processor's /metrics
    every 10 ms on a thread; records when it reached the target."""

    def __init__(self, url, trigger):
        m = re.match(r"http://([^:/]+):(\d+)", url)
        self.host, self.port = m.group(1), int(m.group(2))
        self.series = re.compile(r'^edgefn_events_total\{([^}]*)\} ([0-9.e+]+)$', re.M)
        self.trigger = f'trigger="{trigger}"'
        self.conn = None

    def read(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            self.conn.request("GET", "/metrics")
            text = self.conn.getresponse().read().decode()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        by_result = {}
        for labels, value in self.series.findall(text):
            if self.trigger in labels:
                result = re.search(r'result="([^"]*)"', labels).group(1)
                by_result[result] = by_result.get(result, 0) + int(float(value))
        return by_result

    def watch(self, target, idle, timeout):
        start = sum(self.read().values())
        out = dict(start=start)

        def run():
            deadline = time.monotonic() + timeout
            last_total, last_change = start, time.monotonic()
            while time.monotonic() < deadline:
                counts = self.read()
                now_ns, total = time.monotonic_ns(), sum(counts.values())
                if total != last_total:
                    last_total, last_change = total, time.monotonic()
                    if out.get("first") is None and total > start:
                        out["first"] = now_ns
                    out["last"] = now_ns
                out["counts"] = counts
                if total - start >= target or time.monotonic() - last_change > idle:
                    break
                time.sleep(0.01)
            out["handled"] = last_total - start

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread, out


def measure(args):
    """One run: start the detector, wait until it listens, start the
    publisher, wait for the end. Prints a JSON object."""
    me = os.path.abspath(__file__)
    common = ["--port", str(args.port), "--qos", str(args.qos), "--count", str(args.count)]
    detector = None
    result = dict(detect=args.detect, qos=args.qos, count=args.count, rate=args.rate)
    if args.detect == "mosquitto_sub":
        client = "bench-ceiling"
        subscribed = broker_saw_subscription(args.broker_log, client, args.topic)
        detector = subprocess.Popen(["mosquitto_sub", "-p", str(args.port), "-i", client, "-t", args.topic,
                                     "-q", str(args.qos), "-C", str(args.count)], stdout=subprocess.DEVNULL)
        wait_for(subscribed, 10, "mosquitto_sub", detector)
    elif args.detect == "counter":
        ready = os.path.join(args.work, f"ready-{os.getpid()}")
        detector = subprocess.Popen([sys.executable, me, "count", *common, "--topic", args.topic, "--client-id",
                                     "bench-counter", "--ready-file", ready, "--idle", str(args.idle),
                                     "--timeout", str(args.timeout)], stdout=subprocess.PIPE)
        wait_for(lambda: os.path.exists(ready), 10, "counter", detector)
    else:
        poller = MetricsPoller(args.metrics_url, args.trigger)
        watcher, watched = poller.watch(args.count, args.idle, args.timeout)

    if args.publisher:
        pub_cmd = [args.publisher, str(args.port), "bench/in", str(args.qos), str(args.count), str(args.size),
                   str(args.window), str(args.rate)]
    else:
        pub_cmd = [sys.executable, me, "publish", *common, "--topic", "bench/in", "--size", str(args.size),
                   "--window", str(args.window), "--timeout", str(args.timeout)]
        if args.rate:
            pub_cmd += ["--rate", str(args.rate)]
    publisher = subprocess.run(pub_cmd, stdout=subprocess.PIPE, timeout=args.timeout + 30, check=False)
    if publisher.returncode != 0:
        if detector:
            detector.kill()
        die("the publisher failed")
    pub = json.loads(publisher.stdout)
    result["publisher_msgs"] = round(args.count / ((pub["t_acked"] - pub["t_first"]) / 1e9))

    if args.detect == "mosquitto_sub":
        try:
            detector.wait(timeout=args.timeout)
            end, received = time.monotonic_ns(), args.count
        except subprocess.TimeoutExpired:
            detector.kill()
            detector.wait()
            end, received = None, None
        result.update(received=received, end=end)
    elif args.detect == "counter":
        out, _ = detector.communicate(timeout=args.timeout + 30)
        got = json.loads(out)
        result.update(received=got["received"], duplicates=got["duplicates"], end=got["last"],
                      p50_ms=got["p50_ms"], p99_ms=got["p99_ms"], max_ms=got["max_ms"])
    else:
        watcher.join(args.timeout + 30)
        counts = watched.get("counts", {})
        result.update(received=watched.get("handled"), end=watched.get("last"),
                      not_ok=sum(v for k, v in counts.items() if k != "success"))
    end = result.get("end")
    result["msgs"] = round(result["received"] / ((end - pub["t_first"]) / 1e9)) if end and result["received"] else 0
    result.pop("end", None)
    print(json.dumps(result))


def note(argv):
    """Adds KEY=VALUE pairs to the JSON object argv[0], prints it, and a
    progress line on stderr."""
    d = json.loads(argv[0])
    for pair in argv[1:]:
        key, _, value = pair.partition("=")
        d[key] = int(value) if key == "round" else value
    print(json.dumps(d))
    latency = f"  p50 {d['p50_ms']} ms p99 {d['p99_ms']} ms" if d.get("p50_ms") is not None else ""
    server = f"  CPU server {d['server_cpu']} %" if d.get("server_cpu", "-") != "-" else ""
    print(f"  {d.get('phase', ''):<6} {d['msgs']:>8} msg/s  received {d['received']}/{d['count']}{latency}"
          f"  publisher {d['publisher_msgs']} msg/s{server}  broker {d.get('broker_cpu')} %  ({d.get('label')})",
          file=sys.stderr)


def main():
    if sys.argv[1:2] == ["note"]:
        note(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("publish", "count", "measure"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--qos", type=int, choices=(0, 1), required=True)
        p.add_argument("--count", type=int, required=True)
        p.add_argument("--topic", default="bench/in")
        p.add_argument("--timeout", type=float, default=300, help="bound on the whole run, seconds")
        p.add_argument("--idle", type=float, default=15, help="give up after this long without an arrival")
        p.add_argument("--size", type=int, default=64, help="payload bytes")
        p.add_argument("--window", type=int, default=1000, help="unacknowledged QoS 1 messages at most")
        p.add_argument("--rate", type=float, default=0, help="messages/s; 0: as fast as possible")
        p.add_argument("--client-id", default=f"bench-{name}")
        p.add_argument("--ready-file")
        p.add_argument("--detect", choices=("mosquitto_sub", "counter", "metrics"), default="counter")
        p.add_argument("--broker-log", help="mosquitto's log with log_type subscribe (for --detect mosquitto_sub)")
        p.add_argument("--metrics-url", help="the processor's management URL (for --detect metrics)")
        p.add_argument("--trigger", default="mqtt", help="the trigger's name in edgefn_events_total")
        p.add_argument("--work", default="/tmp", help="where ready files go")
        p.add_argument("--publisher", help="mqtt_publish (mqtt_publish.c) instead of this script's publisher")
    args = parser.parse_args()
    if args.command == "publish":
        print(json.dumps(publish(args)))
    elif args.command == "count":
        print(json.dumps(count(args)))
    else:
        measure(args)


if __name__ == "__main__":
    main()
