#!/usr/bin/env python3
"""Counters for bench/kafka/run.sh. Standard library only.

    kafka_bench.py count --count N             reads a consumer's output on stdin
                                               (one line per message)
    kafka_bench.py watch --log FILE --pid PID --count N [--trigger stream]
                                               sums the processor's
                                               edgefn_events_total{trigger=...}
    kafka_bench.py note JSON NAME=VALUE...     adds fields to a result line

Each measuring command prints one JSON object: received, first_ns and
last_ns (time.monotonic_ns() when the first and the last message were
seen) and msgs (received / (last - first) per second): both ways time the
stream from its first message to its last, not the client's start-up or
the consumer group's join.
"""
import argparse
import http.client
import json
import os
import re
import sys
import time

kPollSeconds = 0.01


def rate(received, first_ns, last_ns):
    if not received or first_ns is None or last_ns is None or last_ns <= first_ns:
        return 0
    return round(received / ((last_ns - first_ns) / 1e9))


def count(args):
    """Counts newline-terminated messages on stdin until EOF."""
    received, first_ns, last_ns = 0, None, None
    stdin = sys.stdin.buffer.raw
    while True:
        chunk = stdin.read(1 << 16)
        if not chunk:
            break
        now = time.monotonic_ns()
        if first_ns is None:
            first_ns = now
        n = chunk.count(b"\n")
        if n:
            received += n
            last_ns = now
    print(json.dumps(dict(received=received, count=args.count, first_ns=first_ns, last_ns=last_ns,
                          msgs=rate(received, first_ns, last_ns))))


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Metrics:
    """The processor's edgefn_events_total{trigger=...}, summed per result."""

    def __init__(self, port, trigger):
        self.port = port
        self.series = re.compile(r'^edgefn_events_total\{([^}]*)\} ([0-9.e+]+)$', re.M)
        self.trigger = f'trigger="{trigger}"'
        self.conn = None

    def read(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            self.conn.request("GET", "/metrics")
            text = self.conn.getresponse().read().decode()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            return None
        by_result = {}
        for labels, value in self.series.findall(text):
            if self.trigger in labels:
                m = re.search(r'result="([^"]*)"', labels)
                result = m.group(1) if m else "?"
                by_result[result] = by_result.get(result, 0) + int(float(value))
        return by_result


def management_port(log_path, pid, timeout):
    """The port of `management server on 127.0.0.1:PORT` in the log."""
    pattern = re.compile(r"management server on 127\.0\.0\.1:(\d+)")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        try:
            with open(log_path, errors="replace") as f:
                m = pattern.search(f.read())
            if m:
                return int(m.group(1))
        except FileNotFoundError:
            pass
        time.sleep(kPollSeconds)
    return None


def watch(args):
    """Polls /metrics from the moment the management port is known (before
    the group's first assignment) until the events reach --count, none
    arrive for --idle seconds, the processor exits or --timeout passes."""
    port = management_port(args.log, args.pid, 30)
    if port is None:
        print(json.dumps(dict(received=0, count=args.count, error="no management port in the log")))
        return
    metrics = Metrics(port, args.trigger)
    deadline = time.monotonic() + args.timeout
    total, first_ns, last_ns, last_change, counts = 0, None, None, time.monotonic(), {}
    stopped = None
    while True:
        now_s = time.monotonic()
        if now_s > deadline:
            stopped = "timeout"
            break
        if not alive(args.pid):
            stopped = "processor exited"
            break
        read = metrics.read()
        now_ns = time.monotonic_ns()
        if read is not None:
            counts = read
            new_total = sum(read.values())
            if new_total != total:
                total, last_ns, last_change = new_total, now_ns, time.monotonic()
                if first_ns is None:
                    first_ns = now_ns
            if total >= args.count:
                break
            if first_ns is not None and time.monotonic() - last_change > args.idle:
                stopped = f"no event for {args.idle}s"
                break
        time.sleep(kPollSeconds)
    result = dict(received=total, count=args.count, first_ns=first_ns, last_ns=last_ns,
                  msgs=rate(total, first_ns, last_ns), not_ok=sum(v for k, v in counts.items() if k != "success"))
    if stopped:
        result["stopped"] = stopped
    print(json.dumps(result))


def note(argv):
    result = json.loads(argv[0])
    for item in argv[1:]:
        name, value = item.split("=", 1)
        result[name] = value
    print(json.dumps(result))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "note":
        note(sys.argv[2:])
        return
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("count")
    p.add_argument("--count", type=int, required=True)
    p = sub.add_parser("watch")
    p.add_argument("--log", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--trigger", default="stream")
    p.add_argument("--idle", type=float, default=30.0)
    p.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    {"count": count, "watch": watch}[args.command](args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
