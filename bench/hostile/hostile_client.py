"""Hostile HTTP clients for bench/hostile/run.sh, against one running
processor (its pid, HTTP port and management URL on the command line).
Prints tab-separated rows on stdout, progress on stderr:

  idle <connections> <rss before KiB> <rss after KiB> <bytes per connection>
  case <name> <status> <rss before KiB> <rss after KiB> <peak KiB> <seconds>

idle: opens N connections, makes one keep-alive request on each, and
measures the daemon's RSS once all of them are open and idle.
case: one connection per amplification case, run one after the other;
the peak is VmHWM, the daemon's highest RSS so far.
"""
import json
import re
import resource
import select
import socket
import sys
import time
import urllib.request


def proc_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"{field}:\s+(\d+) kB", f.read()).group(1))


def status(mgmt_url):
    with urllib.request.urlopen(mgmt_url + "/status", timeout=10) as r:
        return json.load(r)["triggers"][0]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def wait_for(predicate, limit, what):
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"hostile_client: timed out waiting for {what}")
        time.sleep(0.1)


def idle(pid, port, mgmt_url, count):
    # Settle first: a few requests so that the first-request allocations
    # (thread arenas, the worker pool) are in the baseline.
    for _ in range(20):
        one_request(port)
    wait_for(lambda: status(mgmt_url)["connections"] == 0, 30, "no connection open")
    before = proc_kib(pid, "VmRSS")
    sockets = []
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    try:
        for i in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(request)
            sockets.append(s)
            if i % 1000 == 999:
                log(f"  {i + 1} connections")
        for s in sockets:
            answer = s.recv(65536)
            if not answer.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"hostile_client: unexpected answer {answer[:60]!r}")
        # Builds without the idle count: all open is all idle here.
        wait_for(lambda: status(mgmt_url).get("idleConnections", status(mgmt_url)["connections"]) == count, 60,
                 f"{count} idle connections")
        after = proc_kib(pid, "VmRSS")
    finally:
        for s in sockets:
            s.close()
    per = (after - before) * 1024 / count
    print(f"idle\t{count}\t{before}\t{after}\t{per:.0f}", flush=True)


def one_request(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass


def stream(port, head, filler, total, piece=64 * 1024, limit=120):
    """Sends `head` then `filler` up to `total` bytes until the server
    answers; returns the answer (b"" if none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as s:
        s.sendall(head)
        block = filler * max(1, piece // len(filler))
        pending = memoryview(b"")
        sent = 0
        s.setblocking(False)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            sending = sent < total
            readable, writable, _ = select.select([s], [s] if sending else [], [], 1.0)
            if readable:
                break
            if not writable:
                continue
            if not pending:
                pending = memoryview(block)
            try:
                n = s.send(pending)
            except BlockingIOError:
                continue
            except OSError:
                break
            pending = pending[n:]
            sent += n
            if sent >= total:
                s.shutdown(socket.SHUT_WR)
        s.settimeout(30)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError:
            pass
        return b"".join(chunks)


def cases(port, stream_mb):
    total = stream_mb * 1024 * 1024
    post = b"POST / HTTP/1.1\r\nHost: bench\r\n"
    chunked = post + b"Transfer-Encoding: chunked\r\n\r\n"
    mib_chunk = b"100000\r\n" + b"c" * 0x100000 + b"\r\n"
    return [
        ("Content-Length 2^40, no body", lambda: stream(port, post + b"Content-Length: 1099511627776\r\n\r\n", b"b", 0)),
        ("100,000 one-byte headers", lambda: stream(port, post, b"a:b\r\n", 100_000 * 5)),
        (f"one {stream_mb} MiB chunk", lambda: stream(port, chunked + b"%x\r\n" % total, b"c", total)),
        (f"{stream_mb} MiB of 1 MiB chunks", lambda: stream(port, chunked, mib_chunk, total, piece=len(mib_chunk))),
        (f"a {stream_mb} MiB chunk extension", lambda: stream(port, chunked + b"3;", b"e", total)),
        (f"a {stream_mb} MiB trailer", lambda: stream(port, chunked + b"0\r\nX: ", b"t", total)),
    ]


def amplify(pid, port, stream_mb):
    for _ in range(20):
        one_request(port)
    for name, run in cases(port, stream_mb):
        before = proc_kib(pid, "VmRSS")
        started = time.monotonic()
        answer = run()
        took = time.monotonic() - started
        line = answer.split(b"\r\n", 1)[0]
        code = line.split()[1].decode() if line.startswith(b"HTTP/1.1 ") else "none"
        after = proc_kib(pid, "VmRSS")
        peak = proc_kib(pid, "VmHWM")
        log(f"  {name}: {code}, RSS {before} -> {after} KiB, peak {peak} KiB, {took:.1f} s")
        print(f"case\t{name}\t{code}\t{before}\t{after}\t{peak}\t{took:.1f}", flush=True)


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    mode, pid, port, mgmt_url, arg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    if mode == "idle":
        if hard < arg + 100:
            raise SystemExit(f"hostile_client: the hard descriptor limit ({hard}) is below {arg + 100}")
        idle(pid, port, mgmt_url, arg)
    else:
        amplify(pid, port, arg)


if __name__ == "__main__":
    main()
