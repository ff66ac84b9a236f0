"""The HTTP trigger through the real binary: keep-alive, pipelining,
concurrency, limits, framing, status mapping, CORS, health."""
import concurrent.futures
import json
import os
import re
import socket
import threading
import unittest

from support import SANITIZER, Processor, TempDir, wait_for, write_function, TEST_HANDLER

ECHO = """
    metadata:
      name: echo
    spec:
      runtime: native
      handler: builtin:echo
      triggers:
        api:
          kind: http
          numWorkers: 2
          attributes:
            maxRequestBodySize: 1024
            maxHeaderSize: 2048
            cors:
              enabled: true
              allowOrigins: ["https://app.example"]
              allowCredentials: true
              preflightMaxAgeSeconds: 600
"""


def status_of(raw_response):
    line = raw_response.split(b"\r\n", 1)[0]
    return int(line.split()[1]) if line.startswith(b"HTTP/1.1 ") else None


class EchoTriggerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir()
        directory = cls.tmp.__enter__()
        cls.proc = Processor(write_function(directory, ECHO)).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.proc.__exit__(None, None, None)
        cls.tmp.__exit__(None, None, None)

    def test_keep_alive_reuses_one_connection(self):
        conn = self.proc.connect()
        ports = set()
        for i in range(5):
            conn.request("POST", "/", body=f"n{i}".encode())
            r = conn.getresponse()
            self.assertEqual(r.read(), f"n{i}".encode())
            ports.add(conn.sock.getsockname()[1])
        conn.close()
        self.assertEqual(len(ports), 1)

    def test_pipelined_requests_are_answered_in_order(self):
        bodies = [b"first", b"second-body", b"third"]
        data = b"".join(
            b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b) for b in bodies)
        data += b"GET /last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        out = self.proc.raw(data)
        positions = [out.find(b"\r\n\r\n" + b) for b in bodies]
        self.assertTrue(all(p > 0 for p in positions), out)
        self.assertEqual(positions, sorted(positions))
        self.assertEqual(out.count(b"HTTP/1.1 200 OK"), 4)

    def test_concurrent_clients_each_get_their_own_answer(self):
        def client(n):
            conn = self.proc.connect()
            got = []
            for i in range(20):
                body = f"client{n}-req{i}".encode()
                conn.request("POST", "/", body=body)
                got.append(conn.getresponse().read() == body)
            conn.close()
            return all(got)

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(client, range(16)))
        self.assertTrue(all(results))

    def test_event_fields_reach_the_handler(self):
        status, headers, body = self.proc.request(
            "PUT", "/x?a=1", body=b"\x00binary\xff", headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(status, 200)
        self.assertEqual(body, b"\x00binary\xff")
        self.assertEqual(headers["Content-Type"], "application/octet-stream")

    def test_malformed_request_gets_400_and_close(self):
        out = self.proc.raw(b"THIS IS NOT HTTP\r\n\r\n")
        self.assertEqual(status_of(out), 400)
        self.assertIn(b"Connection: close", out)

    def test_body_limit_is_inclusive_and_larger_gets_413(self):
        status, _, body = self.proc.request("POST", "/", body=b"a" * 1024)
        self.assertEqual((status, len(body)), (200, 1024))
        status, _, _ = self.proc.request("POST", "/", body=b"a" * 1025)
        self.assertEqual(status, 413)
        chunked = (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"400\r\n" + b"b" * 1024 + b"\r\n1\r\nb\r\n0\r\n\r\n")
        self.assertEqual(status_of(self.proc.raw(chunked)), 413)

    def test_oversized_header_gets_431(self):
        out = self.proc.raw(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"x" * 4096 + b"\r\n\r\n")
        self.assertEqual(status_of(out), 431)

    def test_smuggling_framings_are_refused_and_the_connection_closed(self):
        cases = {
            b"Transfer-Encoding: gzip\r\n": 501,
            b"Transfer-Encoding: gzip\r\nContent-Length: 5\r\n": 400,
            b"Transfer-Encoding: chunked, identity\r\n": 501,
            b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n": 400,
            b"Content-Length: 5\r\nContent-Length: 5\r\n": 400,
            b"Content-Length: 5\r\nContent-Length: 6\r\n": 400,
            b"Content-Length: -5\r\n": 400,
        }
        smuggled = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
        for headers, expected in cases.items():
            with self.subTest(headers=headers):
                out = self.proc.raw(b"POST / HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\nhello" + smuggled)
                self.assertEqual(status_of(out), expected, out)
                # Exactly one response: nothing after it was read as a request.
                self.assertEqual(out.count(b"HTTP/1.1 "), 1, out)
        http10 = b"POST / HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        self.assertEqual(status_of(self.proc.raw(http10)), 400)

    def test_internal_health_answers_200_without_calling_the_handler(self):
        def events():
            return sum(w["events"] for w in self.proc.status()["pools"][0]["workers"])

        before = events()
        for path in ("/__internal/health", "/__internal/health/deep"):
            status, _, _ = self.proc.request("POST", path, body=b"not echoed")
            self.assertEqual(status, 200)
        self.assertEqual(events(), before)

    def test_cors_preflight_is_answered_by_the_processor_with_200_as_nuclio(self):
        def events():
            return sum(w["events"] for w in self.proc.status()["pools"][0]["workers"])

        before = events()
        status, headers, _ = self.proc.request("OPTIONS", "/", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type, X-Nuclio-Log-Level"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["Access-Control-Allow-Origin"], "https://app.example")
        self.assertEqual(headers["Access-Control-Allow-Methods"], "HEAD, GET, POST, PUT, DELETE, OPTIONS, PATCH")
        self.assertEqual(headers["Access-Control-Allow-Headers"],
                         "Accept, Content-Length, Content-Type, Authorization, X-Nuclio-Log-Level")
        self.assertEqual(headers["Access-Control-Max-Age"], "600")
        self.assertEqual(headers["Access-Control-Allow-Credentials"], "true")
        self.assertIn("Access-Control-Request-Method", headers["Vary"])
        self.assertEqual(events(), before)  # the handler never saw it

    def test_cors_preflight_refused_answers_400_as_nuclio(self):
        refused = [
            {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},  # origin
            {"Origin": "https://app.example", "Access-Control-Request-Method": "ABC"},  # method
            {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "X-Not-Allowed"},  # header
            {"Access-Control-Request-Method": "POST"},  # no origin
        ]
        for headers in refused:
            with self.subTest(headers=headers):
                status, answer, _ = self.proc.request("OPTIONS", "/", headers=headers)
                self.assertEqual(status, 400)
                self.assertNotIn("Access-Control-Allow-Origin", answer)
                self.assertIn("Origin", answer["Vary"])

    def test_options_without_a_requested_method_reaches_the_handler(self):
        status, _, body = self.proc.request("OPTIONS", "/", body=b"plain options",
                                            headers={"Origin": "https://app.example"})
        self.assertEqual((status, body), (200, b"plain options"))

    def test_cors_headers_on_an_allowed_simple_request(self):
        _, headers, _ = self.proc.request("GET", "/", headers={"Origin": "https://app.example"})
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), "https://app.example")
        _, headers, _ = self.proc.request("GET", "/", headers={"Origin": "https://evil.example"})
        self.assertNotIn("Access-Control-Allow-Origin", headers)

    def test_head_request_gets_no_body(self):
        out = self.proc.raw(b"HEAD / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        self.assertEqual(status_of(out), 200)
        # The length of the body the echo handler produced, and no body.
        self.assertIn(b"Content-Length: 5\r\n", out)
        self.assertTrue(out.endswith(b"\r\n\r\n"), out)

    def test_status_reports_bound_address_and_workers(self):
        status = self.proc.status()
        self.assertEqual(status["function"], "echo")
        trigger = status["triggers"][0]
        self.assertEqual(trigger["port"], self.proc.http_port)
        self.assertEqual(len(status["pools"][0]["workers"]), 2)
        code, metrics = self.proc.get_management("/metrics")
        self.assertEqual(code, 200)
        self.assertRegex(metrics, rb'edgefn_events_total\{result="success",trigger="api"\} [1-9]')


SLEEP = """
    metadata:
      name: sleeper
    spec:
      runtime: native
      handler: builtin:sleep
      eventTimeout: {timeout}
      triggers:
        api:
          kind: http
          numWorkers: {workers}
          workerAvailabilityTimeoutMilliseconds: {wait}
          workerTerminationTimeout: {termination}
"""


class SlowHandlerTest(unittest.TestCase):
    def start(self, directory, workers=1, wait=100, timeout="30s"):
        return Processor(write_function(directory, SLEEP.format(workers=workers, wait=wait, timeout=timeout,
                                                                termination="10s")))

    def test_busy_pool_answers_503_after_the_availability_timeout(self):
        with TempDir() as d, self.start(d, workers=1, wait=100) as proc:
            slow = concurrent.futures.ThreadPoolExecutor(1).submit(proc.request, "POST", "/", b"1500")
            wait_for(lambda: proc.status()["pools"][0]["busy"] == 1, what="the worker to be busy")
            status, _, body = proc.request("POST", "/", body=b"0")
            self.assertEqual(status, 503, body)
            self.assertEqual(slow.result(timeout=10)[0], 200)

    def test_event_timeout_answers_408_as_nuclio_and_holds_the_slot(self):
        with TempDir() as d, self.start(d, workers=1, wait=0, timeout="200ms") as proc:
            status, headers, body = proc.request("POST", "/", body=b"1500")
            self.assertEqual(status, 408)
            self.assertEqual(headers["Content-Type"], "application/json")
            self.assertEqual(json.loads(body), {"error": "handler timed out"})
            workers = proc.status()["pools"][0]["workers"]
            self.assertEqual(workers[0]["state"], "abandoned")
            status, _, _ = proc.request("POST", "/", body=b"0")
            self.assertEqual(status, 503)
            wait_for(lambda: proc.status()["pools"][0]["workers"][0]["state"] == "idle", what="the slot back")
            self.assertEqual(proc.request("POST", "/", body=b"0")[0], 200)

    def test_sigterm_lets_every_accepted_request_finish(self):
        with TempDir() as d, self.start(d, workers=4, wait=10000) as proc:
            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                futures = [pool.submit(proc.request, "POST", "/", b"700", None, 20) for _ in range(6)]
                wait_for(lambda: proc.status()["pools"][0]["busy"] == 4, what="4 busy workers")
                wait_for(lambda: proc.status()["pools"][0]["waiting"] == 2, what="2 waiting requests")
                proc.proc.send_signal(15)
                wait_for(lambda: proc.get_management("/ready")[0] == 503, what="/ready to turn false")
                results = [f.result(timeout=30) for f in futures]
            self.assertEqual([r[0] for r in results], [200] * 6)
            self.assertEqual(proc.proc.wait(timeout=30), 0)
            # The exit can come before the log reader has read the last line.
            proc.wait_log(r"processor: stopped")

    def test_past_the_drain_timeout_every_request_is_answered_503_and_the_daemon_exits_0(self):
        # The handler runs 5 s; the drain gives it 300 ms and the worker's stop
        # 500 ms more: the request in the handler and the one waiting for a
        # worker both get 503 rather than a closed connection.
        with TempDir() as d:
            path = write_function(d, SLEEP.format(workers=1, wait=10000, timeout="60s", termination="500ms"))
            with Processor(path, "--drain-timeout", "300ms") as proc:
                with concurrent.futures.ThreadPoolExecutor(2) as pool:
                    slow = pool.submit(proc.request, "POST", "/", b"5000", None, 20)
                    wait_for(lambda: proc.status()["pools"][0]["busy"] == 1, what="the worker to be busy")
                    queued = pool.submit(proc.request, "POST", "/", b"0", None, 20)
                    wait_for(lambda: proc.status()["pools"][0]["waiting"] == 1, what="a request waiting")
                    self.assertEqual(proc.terminate(timeout=20), 0)
                    self.assertEqual(slow.result(timeout=20)[0], 503)
                    self.assertEqual(queued.result(timeout=20)[0], 503)
                self.assertRegex(proc.log(), r"drain timeout .* expired with 2 event")
                self.assertRegex(proc.log(), r"native handler still running 500 ms after the stop")

    def test_a_handler_that_ends_within_the_termination_timeout_is_still_answered(self):
        with TempDir() as d:
            path = write_function(d, SLEEP.format(workers=1, wait=0, timeout="60s", termination="10s"))
            with Processor(path, "--drain-timeout", "100ms") as proc:
                with concurrent.futures.ThreadPoolExecutor(1) as pool:
                    slow = pool.submit(proc.request, "POST", "/", b"1000", None, 20)
                    wait_for(lambda: proc.status()["pools"][0]["busy"] == 1, what="the worker to be busy")
                    self.assertEqual(proc.terminate(timeout=20), 0)
                    self.assertEqual(slow.result(timeout=20)[:3:2], (200, b"1000 ms\n"))


class BodyMemoryTest(unittest.TestCase):
    @unittest.skipIf(SANITIZER, "a memory bound; the sanitizer's allocator is not the one measured")
    def test_a_declared_content_length_commits_no_memory_before_the_body_arrives(self):
        # Beast's string_body reserved the whole declared length when the
        # header arrived: 100 connections declaring 4 MiB each committed
        # 400 MiB (address space, charged in full where overcommit is off)
        # without sending a byte of body. The body now grows as it arrives.
        config = """
            spec:
              runtime: native
              handler: builtin:echo
              triggers:
                api:
                  kind: http
        """
        with TempDir() as d, Processor(write_function(d, config)) as proc:
            def vm_size_kib():
                with open(f"/proc/{proc.proc.pid}/status") as f:
                    return int(re.search(r"VmSize:\s+(\d+) kB", f.read()).group(1))

            before = vm_size_kib()
            sockets = []
            try:
                for _ in range(100):
                    s = socket.create_connection(("127.0.0.1", proc.http_port), timeout=10)
                    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n"
                              b"Expect: 100-continue\r\n\r\n")
                    sockets.append(s)
                # "100 Continue" comes once the header was parsed and the body
                # reader set up: when the old reader had reserved its 4 MiB.
                for s in sockets:
                    self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 100 Continue"))
                    s.sendall(b"ab")
                grown_mib = (vm_size_kib() - before) / 1024
                self.assertLess(grown_mib, 100, f"address space grew by {grown_mib:.0f} MiB")
            finally:
                for s in sockets:
                    s.close()


class ReadinessTest(unittest.TestCase):
    def test_ready_turns_true_after_start_and_false_while_draining(self):
        with TempDir() as d:
            path = write_function(d, SLEEP.format(workers=1, wait=0, timeout="30s", termination="10s"))
            with Processor(path) as proc:
                self.assertEqual(proc.get_management("/live")[0], 200)
                self.assertEqual(proc.get_management("/ready")[0], 200)
                slow = concurrent.futures.ThreadPoolExecutor(1).submit(proc.request, "POST", "/", b"800")
                wait_for(lambda: proc.status()["pools"][0]["busy"] == 1, what="the worker to be busy")
                proc.proc.send_signal(15)
                wait_for(lambda: proc.get_management("/ready")[0] == 503, what="/ready false while draining")
                self.assertEqual(proc.get_management("/live")[0], 200)
                self.assertEqual(slow.result(timeout=10)[0], 200)
                self.assertEqual(proc.proc.wait(timeout=20), 0)


class NativeLibraryTest(unittest.TestCase):
    def test_native_library_errors_and_logs_reach_the_client(self):
        with TempDir() as d:
            os.symlink(TEST_HANDLER, os.path.join(d, "libtest_handler.so"))
            path = write_function(d, """
                metadata:
                  name: native
                spec:
                  runtime: native
                  handler: libtest_handler.so:fail
            """)
            with Processor(path) as proc:
                status, headers, body = proc.request("GET", "/", headers={"X-Nuclio-Log-Level": "debug"})
                self.assertEqual((status, body), (422, b"bad input"))
                logs = json.loads(headers["X-Nuclio-Logs"])
                self.assertEqual(logs[0]["message"], "refusing")
                status, headers, _ = proc.request("GET", "/")
                self.assertNotIn("X-Nuclio-Logs", headers)

    def test_invalid_handler_headers_never_split_the_response(self):
        with TempDir() as d:
            os.symlink(TEST_HANDLER, os.path.join(d, "libtest_handler.so"))
            path = write_function(d, """
                metadata:
                  name: native
                spec:
                  runtime: native
                  handler: libtest_handler.so:bad_header
            """)
            with Processor(path) as proc:
                status, headers, body = proc.request("GET", "/")
                self.assertEqual((status, body), (200, b"ok"))
                self.assertEqual(headers.get("X-Good"), "yes")
                self.assertNotIn("Set-Cookie", headers)
                self.assertNotIn("X-Evil", headers)

    def test_the_raw_query_string_reaches_a_native_handler_as_sent(self):
        with TempDir() as d:
            os.symlink(TEST_HANDLER, os.path.join(d, "libtest_handler.so"))
            path = write_function(d, """
                metadata:
                  name: native
                spec:
                  runtime: native
                  handler: libtest_handler.so:raw_query
            """)
            with Processor(path) as proc:
                self.assertEqual(proc.request("GET", "/p?a=b%20c&d&e=%3F")[::2], (200, b"[a=b%20c&d&e=%3F]"))
                self.assertEqual(proc.request("GET", "/p")[::2], (200, b"[]"))


if __name__ == "__main__":
    unittest.main()
