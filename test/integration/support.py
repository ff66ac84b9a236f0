"""Starts the real processor binary for integration tests.

Ports: the processor binds port 0 for both the HTTP trigger and the
management server and logs what it got; tests read the addresses from
its log, so parallel tests never race for a port.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import textwrap
import threading
import time

PROCESSOR = os.environ.get("EDGEFN_PROCESSOR", "processor")
BUILD_DIR = os.environ.get("EDGEFN_BUILD_DIR", "")
SOURCE_DIR = os.environ.get("EDGEFN_SOURCE_DIR", "")
TEST_HANDLER = os.environ.get("EDGEFN_TEST_HANDLER", "")

START_TIMEOUT = 20.0

# "address" or "thread" when the processor was built with sanitizers (the
# asan and tsan presets, CMakePresets.json), else empty. Memory bounds and
# how fast something happens are not asserted then: the sanitizer's
# allocator, shadow memory and slowdown are what they would measure.
SANITIZER = os.environ.get("EDGEFN_SANITIZE", "")

# Text ("trigger.http.web: listening on ...") or JSON ("logger":"trigger.http.web","message":"listening on ...").
_LISTEN = re.compile(r"trigger\.http\.([^\s\"]+)(?:: |\",\"message\":\")listening on ([\d.]+):(\d+)")
_MANAGEMENT = re.compile(r"management server on ([\d.]+):(\d+)")


def wait_for(predicate, timeout=10.0, interval=0.01, what="condition"):
    """Polls `predicate` until it returns a truthy value or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def write_function(directory, yaml_text):
    path = os.path.join(directory, "function.yaml")
    with open(path, "w") as f:
        f.write(textwrap.dedent(yaml_text))
    return path


def write_stream_function(directory, name, runtime, handler, env, trigger_name, trigger):
    """Writes a stream test's function.yaml: no HTTP trigger, `env` as
    spec.env, and one trigger, a dict written as JSON (which is YAML), so
    the file says exactly what the test built; returns its path."""
    text = (f"metadata:\n  name: {name}\nspec:\n  runtime: {runtime}\n  handler: {json.dumps(handler)}\n"
            "  disableDefaultHTTPTrigger: true\n"
            "  env:\n" + "".join(f"    - name: {k}\n      value: {json.dumps(str(v))}\n" for k, v in env.items()) +
            f"  triggers:\n    {trigger_name}: {json.dumps(trigger)}\n")
    path = os.path.join(directory, "function.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def read_json_lines(path):
    """The JSON lines a handler appended to `path` (each one write() to an
    O_APPEND file, which a SIGKILL cannot cut); a line that does not parse
    is skipped, a missing file is no lines."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except FileNotFoundError:
        pass
    return out


class Processor:
    """A running processor; use as a context manager."""

    def __init__(self, config_path, *extra_args, expect_ready=True, wrapper=(), env=None, io_threads=2,
                 program=PROCESSOR):
        """`wrapper`: a command that execs the processor (setpriv, ...);
        `env`: variables added to the processor's environment; `program`:
        the processor binary (a copy of it)."""
        self.config_path = config_path
        self.env = {**os.environ, **env} if env else None
        self.args = [*wrapper, program, "--config", config_path, "--http-listen", "127.0.0.1:0",
                     "--management-address", "127.0.0.1:0", "--io-threads", str(io_threads), *extra_args]
        self.expect_ready = expect_ready
        self.lines = []
        self._lock = threading.Lock()
        self.http_port = None
        self.management_port = None

    def __enter__(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, errors="replace", env=self.env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for(lambda: self.management_port or self.proc.poll() is not None, START_TIMEOUT,
                 what="the management server address in the log")
        if self.proc.poll() is not None and not self.management_port:
            raise AssertionError("processor exited early:\n" + self.log())
        if self.expect_ready:
            wait_for(lambda: self.get_management("/ready")[0] == 200, START_TIMEOUT, what="/ready")
            wait_for(lambda: self.http_port, START_TIMEOUT, what="the HTTP address in the log")
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        self.proc.stdout.close()
        return False

    def _read(self):
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line)
            m = _LISTEN.search(line)
            if m:
                self.http_port = int(m.group(3))
            m = _MANAGEMENT.search(line)
            if m:
                self.management_port = int(m.group(2))

    def log(self):
        with self._lock:
            return "".join(self.lines)

    def wait_log(self, pattern, timeout=10.0):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log()), timeout, what=f"log line /{pattern}/")

    def get_management(self, path):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.management_port, timeout=5)
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            conn.close()
            return r.status, body
        except OSError:
            return None, b""

    def status(self):
        code, body = self.get_management("/status")
        assert code == 200, code
        return json.loads(body)

    def connect(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)

    def request(self, method="GET", path="/", body=None, headers=None, timeout=10):
        conn = self.connect(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def raw(self, data, timeout=10):
        """Sends raw bytes; returns everything read until the server closes."""
        with socket.create_connection(("127.0.0.1", self.http_port), timeout=timeout) as s:
            s.sendall(data)
            chunks = []
            while True:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)

    def terminate(self, timeout=30):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def run_cli(*args, timeout=30, env=None):
    return subprocess.run([PROCESSOR, *args], capture_output=True, text=True, timeout=timeout, env=env)


class TempDir:
    def __enter__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="edgefn-test-")
        return self._dir.name

    def __exit__(self, *exc):
        self._dir.cleanup()
        return False
