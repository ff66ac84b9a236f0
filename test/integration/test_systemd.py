"""The processor under a service manager: the sd_notify messages a
Type=notify unit relies on (READY=1, WATCHDOG=1, RELOADING=1, STOPPING=1),
`processor health` (the container HEALTHCHECK), and the writable state
directory the unit gives functions."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest

from support import BUILD_DIR, PROCESSOR, Processor, TempDir, run_cli, wait_for, write_function

HANDLERS = """\
import json
import os
import time

def init_context(context):
    # Held until the test lets it go: READY=1 must wait for it.
    gate = os.environ.get("INIT_GATE")
    deadline = time.monotonic() + 60
    while gate and not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.02)

def environ(context, event):
    return json.dumps(dict(os.environ))
"""


def closed_port():
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NotifySocket:
    """The service manager's end: an AF_UNIX datagram socket in a temp
    directory, read on a thread; `messages` are the datagrams' texts."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self._messages = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._messages.append(data.decode())

    def messages(self):
        with self._lock:
            return list(self._messages)

    def assignments(self):
        """Every NAME=value line received, in order."""
        return [line for m in self.messages() for line in m.split("\n") if line]

    def wait(self, line, count=1, timeout=20.0):
        return wait_for(lambda: self.assignments().count(line) >= count, timeout,
                        what=f"{count} x {line} on NOTIFY_SOCKET (got {self.assignments()})")

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


class SdNotifyTest(unittest.TestCase):
    def setUp(self):
        self._dir = TempDir()
        self.dir = self._dir.__enter__()
        self.notify = NotifySocket(self.dir)

    def tearDown(self):
        self.notify.close()
        self._dir.__exit__(None, None, None)

    def python_function(self, extra_triggers=""):
        with open(os.path.join(self.dir, "handlers.py"), "w") as f:
            f.write(HANDLERS)
        return write_function(self.dir, f"""\
            metadata:
              name: notified
            spec:
              runtime: python
              handler: handlers:environ
              env:
                - name: INIT_GATE
                  value: {os.path.join(self.dir, "go")}
              triggers:
                web:
                  kind: http
                  numWorkers: 1
            {extra_triggers}""")

    def test_ready_waits_for_the_workers_then_watchdog_reload_and_stopping_follow(self):
        config = self.python_function()
        # WATCHDOG_PID names the processor itself: the shell's pid, which exec keeps.
        wrapper = ("sh", "-c", 'export WATCHDOG_PID=$$; exec "$0" "$@"')
        env = {"NOTIFY_SOCKET": self.notify.path, "WATCHDOG_USEC": "200000"}
        with Processor(config, expect_ready=False, env=env, wrapper=wrapper) as proc:
            self.notify.wait("STATUS=starting: waiting for a ready worker in every pool")
            status, body = proc.get_management("/ready")
            self.assertEqual(status, 503, body)
            # init_context is held: the triggers listen, the worker is not ready.
            self.assertNotIn("READY=1", self.notify.assignments())
            open(os.path.join(self.dir, "go"), "w").close()
            self.notify.wait("READY=1")
            # READY=1 went out once the pool was ready: /ready agrees at once.
            self.assertEqual(proc.get_management("/ready")[0], 200)
            self.assertIn("systemd watchdog: WATCHDOG=1 every 100 ms", proc.log())
            self.notify.wait("WATCHDOG=1", count=5)

            # The handler's environment: nothing of the service manager's.
            wait_for(lambda: proc.http_port, 10, what="the HTTP port")
            status, _, body = proc.request()
            self.assertEqual(status, 200, body)
            handler_env = json.loads(body)
            for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
                self.assertNotIn(name, handler_env)
            self.assertIn("INIT_GATE", handler_env)

            proc.proc.send_signal(signal.SIGHUP)
            proc.wait_log(r"reload \(SIGHUP\) done")
            self.notify.wait("READY=1", count=2)
            lines = self.notify.assignments()
            reloading = lines.index("RELOADING=1")
            self.assertTrue(re.fullmatch(r"MONOTONIC_USEC=\d+", lines[reloading + 1]), lines)
            self.assertIn("READY=1", lines[reloading:])

            self.assertEqual(proc.terminate(), 0)
            lines = self.notify.assignments()
            self.assertIn("STOPPING=1", lines)
            self.assertGreater(lines.index("STOPPING=1"), lines.index("READY=1"))
            self.assertNotIn("READY=1", lines[lines.index("STOPPING=1"):])

    def test_ready_does_not_wait_for_an_mqtt_broker_that_is_down(self):
        broker = f"tcp://127.0.0.1:{closed_port()}"
        config = write_function(self.dir, f"""\
            metadata:
              name: early-gateway
            spec:
              runtime: native
              handler: builtin:echo
              triggers:
                sensors:
                  kind: mqtt
                  url: {broker}
                  attributes:
                    subscriptions:
                      - topic: sensors/#
                        qos: 1
            """)
        env = {"NOTIFY_SOCKET": self.notify.path, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}
        with Processor(config, expect_ready=False, env=env) as proc:
            self.notify.wait("READY=1")
            status, body = proc.get_management("/ready")
            self.assertEqual(status, 503)
            self.assertIn(b"mqtt trigger 'sensors' is not ready", body)
            # The watchdog was for another process (WATCHDOG_PID).
            self.assertNotIn("systemd watchdog", proc.log())
            self.assertNotIn("WATCHDOG=1", self.notify.assignments())
            self.assertEqual(proc.terminate(), 0)
            self.assertIn("STOPPING=1", self.notify.assignments())

    def test_an_abstract_socket_name_is_reached_too(self):
        name = f"edgefn-test-{os.getpid()}-{time.monotonic_ns()}"
        abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        abstract.bind("\0" + name)
        abstract.settimeout(20)
        try:
            config = write_function(self.dir, """\
                metadata:
                  name: abstract
                spec:
                  runtime: native
                  handler: builtin:hello
                """)
            with Processor(config, env={"NOTIFY_SOCKET": "@" + name}) as proc:
                received = []
                wait_for(lambda: received.append(abstract.recv(4096).decode()) or "READY=1" in "".join(received),
                         20, what="READY=1 on the abstract socket")
                self.assertEqual(proc.terminate(), 0)
        finally:
            abstract.close()


def health(*args, timeout=30):
    return run_cli("health", *args, timeout=timeout)


class HealthTest(unittest.TestCase):
    def native(self, d):
        return write_function(d, """\
            metadata:
              name: healthy
            spec:
              runtime: native
              handler: builtin:hello
            """)

    def test_exit_0_for_a_ready_processor_also_asked_on_0_0_0_0(self):
        with TempDir() as d, Processor(self.native(d)) as proc:
            r = health("--management-address", f"127.0.0.1:{proc.management_port}")
            self.assertEqual((r.returncode, r.stdout.strip()), (0, "ready"), r)
            r = health("--management-address", f"0.0.0.0:{proc.management_port}", "--timeout", "2.5")
            self.assertEqual(r.returncode, 0, r)
            r = health("--live", "--management-address", f"127.0.0.1:{proc.management_port}")
            self.assertEqual((r.returncode, r.stdout.strip()), (0, "ok"), r)

    def test_exit_1_with_the_reason_when_not_ready_or_nobody_answers(self):
        with TempDir() as d:
            with open(os.path.join(d, "broken.py"), "w") as f:
                f.write("def init_context(context):\n    raise RuntimeError('no sensor attached')\n\n"
                        "def handler(context, event):\n    return 'never'\n")
            config = write_function(d, """\
                metadata:
                  name: broken
                spec:
                  runtime: python
                  handler: broken:handler
                """)
            with Processor(config, expect_ready=False) as proc:
                r = health("--management-address", f"127.0.0.1:{proc.management_port}")
                self.assertEqual(r.returncode, 1, r)
                self.assertIn("answered 503: not ready: starting", r.stderr)
                # Alive all the same: a liveness probe must not restart it.
                r = health("--live", "--management-address", f"127.0.0.1:{proc.management_port}")
                self.assertEqual(r.returncode, 0, r)
        r = health("--management-address", f"127.0.0.1:{closed_port()}")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("cannot connect to 127.0.0.1:", r.stderr)

    def test_no_token_needed_where_the_management_api_requires_one(self):
        token = "t0ken-for-the-health-test-0123456789"
        with TempDir() as d, Processor(self.native(d), env={"EDGEFN_MANAGEMENT_TOKEN": token}) as proc:
            self.assertEqual(proc.get_management("/status")[0], 401)
            r = health("--management-address", f"127.0.0.1:{proc.management_port}")
            self.assertEqual(r.returncode, 0, r)

    def test_bad_usage_exits_2(self):
        for args in (("--management-address", "gateway:8082"), ("--management-address", "127.0.0.1:0"),
                     ("--timeout", "-1"), ("--no-such-flag",)):
            r = health(*args)
            self.assertEqual(r.returncode, 2, (args, r))


class StateDirectoryTest(unittest.TestCase):
    def test_the_cron_example_writes_into_state_directory_when_systemd_gives_one(self):
        with TempDir() as d:
            function_dir = os.path.join(d, "cron-shell")
            shutil.copytree(os.path.join(BUILD_DIR, "examples", "cron-shell"), function_dir)
            config = os.path.join(function_dir, "function.yaml")
            with open(config) as f:
                text, count = re.subn(r"(?m)^(\s+interval:) 10s$", r"\1 100ms", f.read())
            self.assertEqual(count, 1)
            with open(config, "w") as f:
                f.write(text)
            state = os.path.join(d, "state")
            os.mkdir(state)
            # As under ProtectSystem=strict (where the tests run as root, the
            # mode alone would not stop a write: the assertion below does).
            os.chmod(function_dir, 0o555)
            try:
                # No HTTP trigger: no port to wait for.
                with Processor(config, env={"STATE_DIRECTORY": state}, expect_ready=False) as proc:
                    report = os.path.join(state, "report.log")
                    wait_for(lambda: os.path.exists(report) and open(report).read().count("\n") >= 2, 20,
                             what="two lines in $STATE_DIRECTORY/report.log")
                    self.assertFalse(os.path.exists(os.path.join(function_dir, "report.log")))
                    self.assertNotIn("Permission denied", proc.log())
                    self.assertEqual(proc.terminate(), 0)
            finally:
                os.chmod(function_dir, 0o755)


if __name__ == "__main__":
    unittest.main()
