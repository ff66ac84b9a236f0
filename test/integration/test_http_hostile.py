"""The HTTP trigger against hostile clients, through raw sockets: framing
that could smuggle or desynchronise, unbounded chunk extensions and
trailers, trickled headers and bodies, connection exhaustion, the global
body budget, oversized handler headers, the drain, and memory
amplification. Every refusal is checked on the wire and in
edgefn_http_rejected_total."""
import concurrent.futures
import os
import re
import resource
import select
import signal
import socket
import threading
import time
import unittest

from support import BUILD_DIR, Processor, TempDir, wait_for, write_function, TEST_HANDLER


def setUpModule():
    # Some tests hold a few hundred sockets at once; the daemon raises its
    # own limit, the test process raises this one.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def build_type():
    try:
        with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
            m = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", f.read(), re.M)
            return m.group(1) if m else ""
    except OSError:
        return ""


def status_of(raw_response):
    line = raw_response.split(b"\r\n", 1)[0]
    return int(line.split()[1]) if line.startswith(b"HTTP/1.1 ") else None


def connect(proc, timeout=10):
    return socket.create_connection(("127.0.0.1", proc.http_port), timeout=timeout)


def read_all(s):
    """Everything until the server closes (a reset counts as the end)."""
    chunks = []
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def stream_then_read(proc, head, filler, total, piece=64 * 1024, timeout=30):
    """Sends `head`, then `filler` repeated up to `total` bytes, until the
    server answers; returns the answer. Reading while sending: a server
    that stops reading must not leave the client blocked in send."""
    with connect(proc, timeout=timeout) as s:
        s.sendall(head)
        block = filler * max(1, piece // len(filler))
        pending = memoryview(b"")
        sent = 0
        s.setblocking(False)
        deadline = time.monotonic() + timeout
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
            except (BrokenPipeError, ConnectionResetError):
                break
            pending = pending[n:]
            sent += n
            if sent >= total:
                s.shutdown(socket.SHUT_WR)
        s.settimeout(10)
        return read_all(s)


def closed_by_server(s, timeout=20):
    """True once the server closed `s` (EOF or reset) within `timeout`;
    whatever it sent before is skipped."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def rejected(proc, reason):
    _, metrics = proc.get_management("/metrics")
    m = re.search(rb'edgefn_http_rejected_total\{reason="%s",trigger="api"\} (\d+)' % reason.encode(), metrics)
    return int(m.group(1)) if m else 0


def metric(proc, name):
    _, metrics = proc.get_management("/metrics")
    m = re.search(rb'%s\{trigger="api"\} (\d+)' % name.encode(), metrics)
    return int(m.group(1)) if m else None


def function(attributes, handler="builtin:echo", extra=""):
    lines = "\n".join(f"            {k}: {v}" for k, v in attributes.items())
    return f"""
    metadata:
      name: hostile
    spec:
      runtime: native
      handler: {handler}
      {extra}
      triggers:
        api:
          kind: http
          numWorkers: 2
          attributes:
{lines}
    """


class FramingTest(unittest.TestCase):
    """One daemon with small limits; each case is one raw connection."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir()
        directory = cls.tmp.__enter__()
        os.symlink(TEST_HANDLER, os.path.join(directory, "libtest_handler.so"))
        cls.proc = Processor(write_function(directory, function(
            {"maxHeaderSize": 2048, "maxRequestBodySize": 4096}, handler="libtest_handler.so:describe"))).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.proc.__exit__(None, None, None)
        cls.tmp.__exit__(None, None, None)

    def refused(self, data, status, reason):
        before = rejected(self.proc, reason)
        out = self.proc.raw(data)
        self.assertEqual(status_of(out), status, out)
        self.assertIn(b"Connection: close", out)
        self.assertEqual(out.count(b"HTTP/1.1 "), 1, out)
        self.assertEqual(rejected(self.proc, reason), before + 1)

    def test_invalid_framings_are_refused_with_one_answer(self):
        smuggled = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
        chunked = b"Transfer-Encoding: chunked\r\n"
        cases = [
            (b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400, "framing"),
            (b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400, "framing"),
            (b"Content-Length: 5\r\n" + chunked + b"\r\n5\r\nhello\r\n0\r\n\r\n", 400, "framing"),
            (chunked + b"Content-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400, "framing"),
            (b"Content-Length: -5\r\n\r\nhello", 400, "framing"),
            (b"Content-Length: +5\r\n\r\nhello", 400, "framing"),
            (b"Content-Length: 5, 5\r\n\r\nhello", 400, "framing"),
            (b"Content-Length: 99999999999999999999999\r\n\r\nhello", 400, "framing"),
            (b"Content-Length: 5\r\n 5\r\n\r\nhello", 400, "framing"),  # obs-fold into the length
            (b"Transfer-Encoding: gzip\r\n\r\nhello", 501, "framing"),
            (b"Transfer-Encoding: identity\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501, "framing"),
            (chunked + b"\r\nzz\r\nhello\r\n0\r\n\r\n", 400, "framing"),
            (chunked + b"\r\n-5\r\nhello\r\n0\r\n\r\n", 400, "framing"),
            (chunked + b"\r\nfffffffffffffffffffffff\r\nhello\r\n0\r\n\r\n", 400, "framing"),
            (chunked + b"\r\n5\r\nhelloXX0\r\n\r\n", 400, "framing"),  # no CRLF after the data
            (chunked + b"\r\n5;\x01\r\nhello\r\n0\r\n\r\n", 400, "framing"),  # a control in an extension
            (chunked + b"\r\n10000000\r\nhello", 413, "body_too_large"),  # a 256 MiB chunk
        ]
        for headers, status, reason in cases:
            with self.subTest(headers=headers):
                self.refused(b"POST / HTTP/1.1\r\nHost: t\r\n" + headers + smuggled, status, reason)

    def test_bare_line_feeds_are_refused(self):
        self.refused(b"GET / HTTP/1.1\nHost: t\n\n", 400, "malformed")
        self.refused(b"GET / HTTP/1.1\r\nHost: t\nX-A: b\r\n\r\n", 400, "malformed")

    def test_a_folded_ordinary_header_is_joined_not_a_new_request(self):
        out = self.proc.raw(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: b\r\n GET /evil HTTP/1.1\r\nConnection: close\r\n\r\n")
        self.assertEqual(status_of(out), 200, out)
        self.assertEqual(out.count(b"HTTP/1.1 "), 1, out)

    def test_host_must_appear_once_in_http_1_1(self):
        self.refused(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 400, "host")
        self.refused(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "host")
        out = self.proc.raw(b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual(status_of(out), 200, out)

    def test_empty_lines_before_the_request_line_are_ignored(self):
        out = self.proc.raw(b"\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        self.assertEqual(status_of(out), 200, out)
        # After a request too, as some clients send after a body; the
        # request line comes later, once the first answer is in.
        with connect(self.proc) as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi\r\n")
            self.assertEqual(status_of(s.recv(65536)), 200)
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            self.assertEqual(status_of(read_all(s)), 200)
        # Past the header limit, they are a header too large.
        self.refused(b"\r\n" * 2048 + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", 431, "header_too_large")

    def test_chunk_extensions_count_against_the_header_limit(self):
        head = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        # Small ones pass.
        out = self.proc.raw(head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") +
                            b"3;name=value\r\nabc\r\n0;last\r\n\r\n")
        self.assertEqual(status_of(out), 200, out)
        # One endless extension, streamed.
        before = rejected(self.proc, "chunk_extension")
        out = stream_then_read(self.proc, head + b"3;", b"x", 4 * 1024 * 1024)
        self.assertEqual(status_of(out), 400, out)
        # Many chunks whose extensions add up.
        out = self.proc.raw(head + b"1;" + b"e" * 1500 + b"\r\na\r\n1;" + b"e" * 1500 + b"\r\nb\r\n0\r\n\r\n")
        self.assertEqual(status_of(out), 400, out)
        self.assertEqual(rejected(self.proc, "chunk_extension"), before + 2)

    def test_trailers_count_against_the_header_limit_and_never_reach_the_handler(self):
        head = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n"
        out = self.proc.raw(head + b"0\r\nX-Trailer: 1\r\n\r\n")
        self.assertEqual(status_of(out), 200, out)
        # Host, Transfer-Encoding and Connection; not the trailer.
        self.assertIn(b"headers=3 body=3", out)
        before = rejected(self.proc, "trailer_too_large")
        self.refused(head + b"0\r\nX-Trailer: " + b"t" * 2000 + b"\r\n\r\n", 431, "trailer_too_large")
        out = stream_then_read(self.proc, head + b"0\r\nX-Trailer: ", b"t", 4 * 1024 * 1024)
        self.assertEqual(status_of(out), 431, out)
        self.assertEqual(rejected(self.proc, "trailer_too_large"), before + 2)

    def test_limits_answer_with_their_status(self):
        self.refused(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1099511627776\r\n\r\n", 413, "body_too_large")
        self.refused(b"GET / HTTP/1.1\r\nHost: t\r\n" + b"a:b\r\n" * 1000 + b"\r\n", 431, "header_too_large")


class ResponseHeaderTest(unittest.TestCase):
    def test_oversized_response_headers_become_a_500_and_a_log_line(self):
        with TempDir() as d:
            os.symlink(TEST_HANDLER, os.path.join(d, "libtest_handler.so"))
            path = write_function(d, function({"maxResponseHeaderSize": 4096}, handler="libtest_handler.so:big_headers"))
            with Processor(path) as proc:
                status, headers, body = proc.request("POST", "/", body=b"10 100")
                self.assertEqual((status, body, len(headers["X-Big-9"])), (200, b"big", 100))
                for spec in (b"1 5000", b"10000 1", b"1 20000000"):
                    with self.subTest(spec=spec):
                        status, _, body = proc.request("POST", "/", body=spec)
                        self.assertEqual((status, body), (500, b"response header too large\n"))
                proc.wait_log(r"response headers take \d+ bytes, over maxResponseHeaderSize \(4096\)")
                self.assertEqual(rejected(proc, "response_header_too_large"), 3)
                self.assertEqual(proc.request("POST", "/", body=b"1 10")[0], 200)


class SlowClientTest(unittest.TestCase):
    def trickle(self, proc, head, interval=0.25, limit=40.0):
        """Sends `head`, then a byte every `interval` s until the server
        answers; returns the answer."""
        with connect(proc, timeout=limit) as s:
            s.sendall(head)
            s.settimeout(interval)
            deadline = time.monotonic() + limit
            while time.monotonic() < deadline:
                try:
                    s.sendall(b"x")
                except (BrokenPipeError, ConnectionResetError):
                    break
                try:
                    first = s.recv(65536)
                except socket.timeout:
                    continue
                except ConnectionResetError:
                    return b""
                s.settimeout(10)
                return first + read_all(s)
            return b""

    def test_a_body_trickled_below_the_minimum_rate_gets_408(self):
        # The pause between bytes (0.25 s) stays well under readBodyTimeout;
        # the rate (4 B/s, under 1000 B/s) is what ends it.
        config = function({"readBodyTimeout": "2s", "readBodyMinRate": 1000})
        with TempDir() as d, Processor(write_function(d, config)) as proc:
            out = self.trickle(proc, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
            self.assertEqual(status_of(out), 408, out)
            self.assertIn(b"Connection: close", out)
            self.assertEqual(rejected(proc, "body_timeout"), 1)

    def test_a_body_past_its_deadline_gets_408(self):
        config = function({"readBodyDeadline": "2s", "readBodyMinRate": 0})
        with TempDir() as d, Processor(write_function(d, config)) as proc:
            out = self.trickle(proc, b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n")
            self.assertEqual(status_of(out), 408, out)
            self.assertEqual(rejected(proc, "body_timeout"), 1)

    def test_slowloris_headers_are_cut_and_other_clients_are_served(self):
        config = function({"readHeaderTimeout": "2s"})
        with TempDir() as d, Processor(write_function(d, config)) as proc:
            errors = []
            served = [0]
            stop = threading.Event()

            def normal_client():
                while not stop.is_set():
                    try:
                        status, _, body = proc.request("POST", "/", body=b"ping", timeout=10)
                        if (status, body) != (200, b"ping"):
                            errors.append(status)
                        served[0] += 1
                    except OSError as e:
                        errors.append(e)
                    stop.wait(0.05)

            client = threading.Thread(target=normal_client)
            client.start()
            sockets = []
            try:
                for _ in range(200):
                    s = connect(proc)
                    s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
                    sockets.append(s)
                # A header byte every 0.3 s on each socket: never a pause
                # long enough for any idle timeout, but the header never ends.
                open_sockets = list(sockets)
                deadline = time.monotonic() + 30
                while open_sockets and time.monotonic() < deadline:
                    still = []
                    for s in open_sockets:
                        try:
                            s.sendall(b"a")
                            still.append(s)
                        except OSError:
                            pass
                    open_sockets = still
                    time.sleep(0.3)
                wait_for(lambda: proc.status()["triggers"][0]["connections"] <= 1, timeout=20,
                         what="every slow header cut")
                self.assertEqual(rejected(proc, "header_timeout"), 200)
            finally:
                stop.set()
                client.join(timeout=20)
                for s in sockets:
                    s.close()
            self.assertEqual(errors, [])
            self.assertGreater(served[0], 0)


class ConnectionLimitTest(unittest.TestCase):
    def test_at_max_connections_the_longest_idle_connection_makes_room(self):
        config = function({"maxConnections": 20, "readHeaderTimeout": "60s", "keepAliveTimeout": "60s"})
        with TempDir() as d, Processor(write_function(d, config)) as proc:
            trigger = lambda: proc.status()["triggers"][0]
            sockets = []
            try:
                # Ten never used, then ten that made one request each. The
                # client sees a response before the server files its
                # connection as idle, so each request waits for that filing:
                # otherwise the next connection's request could overtake it
                # and the idle order would not be the order of the requests.
                sockets += [connect(proc) for _ in range(10)]
                wait_for(lambda: trigger()["connections"] == 10, what="10 connections")
                for j in range(10):
                    s = connect(proc)
                    sockets.append(s)
                    s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                    self.assertEqual(status_of(s.recv(65536)), 200)
                    wait_for(lambda: trigger()["idleConnections"] == 11 + j, what=f"{11 + j} idle connections")
                self.assertEqual(trigger()["connections"], 20)
                # Each newcomer is served and stays; the connection idle the
                # longest goes: the never used ones first, then the others in
                # the order they finished their request.
                for i in range(12):
                    s = connect(proc)
                    sockets.append(s)
                    s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                    self.assertEqual(status_of(s.recv(65536)), 200)
                    self.assertTrue(closed_by_server(sockets[i]), i)
                    wait_for(lambda: (trigger()["connections"], trigger()["idleConnections"]) == (20, 20),
                             what="the evicted connection gone, the newcomer idle")
                # The others are still open: nothing to read, not even an EOF.
                self.assertEqual(select.select(sockets[12:], [], [], 0.2)[0], [])
                self.assertEqual(metric(proc, "edgefn_http_evictions_total"), 12)
                self.assertEqual(rejected(proc, "connections"), 0)
            finally:
                for s in sockets:
                    s.close()

    def test_with_every_connection_inside_a_request_a_newcomer_gets_503(self):
        config = function({"maxConnections": 5, "readHeaderTimeout": "60s"})
        with TempDir() as d, Processor(write_function(d, config)) as proc:
            sockets = []
            try:
                for _ in range(5):
                    s = connect(proc)
                    s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
                    sockets.append(s)
                wait_for(lambda: proc.status()["triggers"][0]["connections"] == 5, what="5 connections")
                out = proc.raw(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                self.assertEqual(status_of(out), 503, out)
                self.assertIn(b"too many connections", out)
                self.assertEqual(rejected(proc, "connections"), 1)
                # Finishing one request makes its connection idle, and so
                # evictable.
                sockets[0].sendall(b"\r\n")
                self.assertEqual(status_of(sockets[0].recv(65536)), 200)
                wait_for(lambda: proc.status()["triggers"][0]["idleConnections"] == 1, what="an idle connection")
                self.assertEqual(self.request_on_new_connection(proc), 200)
                self.assertTrue(closed_by_server(sockets[0]))
            finally:
                for s in sockets:
                    s.close()

    def test_the_default_limit_is_reachable_from_a_low_descriptor_limit(self):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard < 1200:
            self.skipTest(f"the hard descriptor limit ({hard}) is below 1200")
        config = function({"readHeaderTimeout": "60s"})
        with TempDir() as d, Processor(write_function(d, config), "--log-level", "debug",
                                       wrapper=("prlimit", f"--nofile=256:{hard}")) as proc:
            with open(f"/proc/{proc.proc.pid}/limits") as f:
                soft_now = int(re.search(r"Max open files\s+(\d+)", f.read()).group(1))
            self.assertEqual(soft_now, hard)
            proc.wait_log(r"raised the open-file limit from 256 to ")
            sockets = []
            try:
                for _ in range(1030):
                    sockets.append(connect(proc))
                self.assertEqual(self.request_on_new_connection(proc), 200)
                wait_for(lambda: metric(proc, "edgefn_http_evictions_total") == 7, what="7 evictions")
            finally:
                for s in sockets:
                    s.close()

    @staticmethod
    def request_on_new_connection(proc):
        return status_of(proc.raw(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))


class BodyBudgetTest(unittest.TestCase):
    def test_bodies_share_one_budget_and_return_it_when_released(self):
        config = function({"maxTotalRequestBodySize": 65536, "maxRequestBodySize": 50000})
        with TempDir() as d, Processor(write_function(d, config)) as proc:
            held = lambda: proc.status()["triggers"][0]["requestBodyBytes"]
            with connect(proc) as a:
                a.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 40000\r\n\r\n" + b"a" * 30000)
                wait_for(lambda: held() == 30000, what="30000 body bytes held")
                # Declared larger than what is left: refused before it is sent.
                out = proc.raw(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 40000\r\n\r\n")
                self.assertEqual(status_of(out), 503, out)
                self.assertIn(b"Connection: close", out)
                # Chunked: refused when it reaches the budget.
                out = stream_then_read(proc, b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
                                       b"1000\r\n" + b"c" * 4096 + b"\r\n", 45000, piece=4102)
                self.assertEqual(status_of(out), 503, out)
                self.assertEqual(rejected(proc, "body_budget"), 2)
                a.sendall(b"a" * 10000)
                out = a.recv(65536)
                self.assertEqual(status_of(out), 200, out)
            wait_for(lambda: held() == 0, what="the budget back")
            self.assertEqual(metric(proc, "edgefn_http_request_body_bytes"), 0)
            status, _, body = proc.request("POST", "/", body=b"b" * 50000)
            self.assertEqual((status, len(body)), (200, 50000))


SLEEP = """
    metadata:
      name: sleeper
    spec:
      runtime: native
      handler: builtin:sleep
      eventTimeout: 60s
      triggers:
        api:
          kind: http
          numWorkers: 1
          workerAvailabilityTimeoutMilliseconds: 30000
          workerTerminationTimeout: 500ms
"""


class DrainTest(unittest.TestCase):
    def test_connections_with_nothing_dispatched_close_at_once_on_drain(self):
        with TempDir() as d, Processor(write_function(d, SLEEP), "--drain-timeout", "60s") as proc:
            idle = connect(proc)
            idle.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n0")
            self.assertEqual(status_of(idle.recv(65536)), 200)
            partial_header = connect(proc)
            partial_header.sendall(b"POST / HTTP/1.1\r\nHost: t\r\n")
            partial_body = connect(proc)
            partial_body.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12")
            wait_for(lambda: proc.status()["triggers"][0]["connections"] == 3, what="3 connections")
            proc.proc.send_signal(signal.SIGTERM)
            # Well before the 60 s drain timeout.
            self.assertEqual(proc.proc.wait(timeout=20), 0)
            for s in (idle, partial_header, partial_body):
                s.settimeout(10)
                self.assertEqual(read_all(s), b"")
                s.close()

    def test_requests_cut_by_the_drain_deadline_get_503_and_close(self):
        with TempDir() as d, Processor(write_function(d, SLEEP), "--drain-timeout", "300ms") as proc:
            running = connect(proc, timeout=30)
            running.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n5000")
            wait_for(lambda: proc.status()["pools"][0]["busy"] == 1, what="the worker busy")
            queued = connect(proc, timeout=30)
            queued.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n0")
            wait_for(lambda: proc.status()["pools"][0]["waiting"] == 1, what="a request waiting")
            self.assertEqual(proc.terminate(timeout=20), 0)
            for s in (running, queued):
                out = read_all(s)
                s.close()
                self.assertEqual(status_of(out), 503, out)
                self.assertIn(b"Connection: close", out)


class AmplificationTest(unittest.TestCase):
    """What a client can make the daemon hold before any limit answers."""

    def test_hostile_requests_leave_memory_where_it_was(self):
        config = """
            spec:
              runtime: native
              handler: builtin:echo
              triggers:
                api:
                  kind: http
        """
        with TempDir() as d, Processor(write_function(d, config)) as proc:
            def rss_mib():
                with open(f"/proc/{proc.proc.pid}/status") as f:
                    return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) / 1024

            self.assertEqual(proc.request("POST", "/", body=b"warm")[0], 200)
            before = rss_mib()
            post = b"POST / HTTP/1.1\r\nHost: t\r\n"
            chunked = post + b"Transfer-Encoding: chunked\r\n\r\n"
            hundred_mb = 100 * 1024 * 1024
            cases = [
                ("Content-Length 2^40", lambda: proc.raw(post + b"Content-Length: 1099511627776\r\n\r\n"), 413),
                ("100,000 one-byte headers", lambda: stream_then_read(proc, post, b"a:b\r\n", 100_000 * 5), 431),
                ("a 100 MB chunk", lambda: stream_then_read(proc, chunked + b"6400000\r\n", b"c", hundred_mb), 413),
                ("100 MB of chunks", lambda: stream_then_read(
                    proc, chunked, b"100000\r\n" + b"c" * 0x100000 + b"\r\n", hundred_mb, piece=0x100008), 413),
                ("a 100 MB chunk extension", lambda: stream_then_read(proc, chunked + b"3;", b"e", hundred_mb), 400),
                ("a 100 MB trailer", lambda: stream_then_read(proc, chunked + b"0\r\nX: ", b"t", hundred_mb), 431),
            ]
            with concurrent.futures.ThreadPoolExecutor(len(cases)) as pool:
                futures = {name: pool.submit(run) for name, run, _ in cases}
                for name, _, status in cases:
                    with self.subTest(name):
                        self.assertEqual(status_of(futures[name].result(timeout=60)), status)
            grown = rss_mib() - before
            # Sanitizer and debug builds spend memory of their own.
            if build_type() == "Release":
                self.assertLess(grown, 32, f"RSS grew by {grown:.0f} MiB")
            self.assertEqual(proc.request("POST", "/", body=b"still here")[2], b"still here")


if __name__ == "__main__":
    unittest.main()
