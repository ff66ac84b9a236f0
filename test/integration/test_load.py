"""Many clients at once against a processor with four I/O threads, then a
drain under that load: every request gets exactly one answer. In the tsan
and asan builds (CMakePresets.json) this is the run that exercises the HTTP
sessions, the pool and the shm channel from several threads at once; any
sanitizer report fails the suite (sanitizer.logs.check)."""
import concurrent.futures
import http.client
import threading
import time
import unittest

from support import Processor, TempDir, wait_for, write_function
from test_python import make_function

CLIENTS = 8
# Answers to collect before the load is stopped (or the drain starts).
ANSWERS = 2000


class Answers:
    def __init__(self):
        self._lock = threading.Lock()
        self.count = 0

    def add(self):
        with self._lock:
            self.count += 1


def hammer(port, path, stop, answers, body=b"x"):
    """Keep-alive requests until `stop` is set; returns the statuses seen."""
    statuses = []
    conn = None
    while not stop.is_set() and len(statuses) < 100000:
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", path, body=body)
            r = conn.getresponse()
            r.read()
            statuses.append(r.status)
            answers.add()
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (ConnectionError, http.client.HTTPException, OSError):
            # The drain closes connections between requests; a new one is
            # refused once the listener is closed.
            if conn is not None:
                conn.close()
                conn = None
            if stop.is_set():
                break
            statuses.append("closed")
    if conn is not None:
        conn.close()
    return statuses


class LoadTest(unittest.TestCase):
    def run_load(self, proc, path):
        stop, answers = threading.Event(), Answers()
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            futures = [pool.submit(hammer, proc.http_port, path, stop, answers) for _ in range(CLIENTS)]
            wait_for(lambda: answers.count >= ANSWERS or any(f.done() for f in futures), 120,
                     what=f"{ANSWERS} answers")
            stop.set()
            return [s for f in futures for s in f.result(timeout=60)]

    def test_native_handler_under_load_on_four_io_threads(self):
        config = """
            spec:
              runtime: native
              handler: builtin:echo
              triggers:
                api:
                  kind: http
                  numWorkers: 4
        """
        with TempDir() as d, Processor(write_function(d, config), io_threads=4) as proc:
            statuses = self.run_load(proc, "/")
            self.assertGreaterEqual(len(statuses), ANSWERS)
            self.assertEqual(set(statuses), {200})
            self.assertEqual(proc.terminate(timeout=60), 0)

    def test_python_workers_under_load_then_a_drain_answers_every_request(self):
        with TempDir() as d:
            config = make_function(d, "handlers:echo", workers=2,
                                   trigger_attrs="      workerAvailabilityTimeoutMilliseconds: 30000\n")
            with Processor(config, io_threads=4) as proc:
                stop, answers = threading.Event(), Answers()
                with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
                    futures = [pool.submit(hammer, proc.http_port, "/", stop, answers) for _ in range(CLIENTS)]
                    wait_for(lambda: answers.count >= ANSWERS, 120, what=f"{ANSWERS} answers")
                    proc.proc.send_signal(15)
                    self.assertEqual(proc.proc.wait(timeout=60), 0)
                    stop.set()
                    statuses = [s for f in futures for s in f.result(timeout=60)]
                answered = [s for s in statuses if s != "closed"]
                self.assertGreaterEqual(len(answered), ANSWERS)
                # Requests taken before the drain are answered by the handler;
                # none gets a 5xx from a lost worker.
                self.assertEqual(set(answered) - {200, 503}, set())
                self.assertNotIn("ended with", proc.log())


if __name__ == "__main__":
    unittest.main()
