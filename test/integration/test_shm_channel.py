"""The shm channel between the C++ daemon side and a real python3 worker.

shm_echo_driver (test/support/) creates the channel and spawns
shm_echo_worker.py, which uses runtimes/python/edgefn_channel.py and the
libedgefn_ring.so helper; the driver checks every echo. The codec tests and
the Channel.close() race test run edgefn_channel.py in this process.
"""
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from unittest import mock

BUILD_DIR = os.environ.get("EDGEFN_BUILD_DIR", "")
SOURCE_DIR = os.environ.get("EDGEFN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
PYTHON_DIR = os.path.join(SOURCE_DIR, "runtimes", "python")
DRIVER = os.path.join(BUILD_DIR, "test", "shm_echo_driver")
HELPER = os.path.join(BUILD_DIR, "lib", "libedgefn_ring.so")
WORKER = os.path.join(SOURCE_DIR, "test", "support", "shm_echo_worker.py")

sys.path.insert(0, PYTHON_DIR)
import edgefn_channel as ec  # noqa: E402


def run_driver(*args):
    return subprocess.run([DRIVER, "--python", sys.executable, "--worker", WORKER, "--pythonpath", PYTHON_DIR,
                           "--helper", HELPER, *args], capture_output=True, text=True, timeout=120)


def shm_entries():
    return sorted(n for n in os.listdir("/dev/shm") if "edgefn" in n)


class ShmChannelTest(unittest.TestCase):
    def test_python_worker_echoes_events_including_4_mib_binary_bodies(self):
        before = shm_entries()
        result = run_driver("--events", "24")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("24 events echoed, 0 failures", result.stdout)
        # The segment is an anonymous memfd: nothing ever appears in /dev/shm.
        self.assertEqual(shm_entries(), before)

    def test_an_idle_worker_sleeps_instead_of_spinning(self):
        # The driver fails the run at 1% of a CPU or more.
        result = run_driver("--events", "3", "--idle-seconds", "3")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("idle worker CPU over 3 s", result.stdout)

    def test_worker_refuses_a_segment_of_another_protocol_version(self):
        result = run_driver("--mode", "bad-version")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


RING_MAGIC = int.from_bytes(b"EDGERING", "little")  # ring.c
CONTROL = struct.Struct("<QIIQQQQQQII")  # edgefn_shm_control in ring.h


def make_segment(path, capacity=4096, max_message=1 << 16):
    """Writes a segment as edgefn_shm_format lays it out (ring.h) into a file,
    with the daemon's HELLO already in the D->W ring: enough for Channel's
    handshake with no daemon. Nobody reads the W->D ring, so it fills up."""
    ring = 1024 + capacity
    size = 4096 + 2 * ring
    data = bytearray(size)
    CONTROL.pack_into(data, 0, ec.MAGIC, ec.PROTOCOL_VERSION, 4096, size, 4096, ring, 4096 + ring, ring,
                      max_message, os.getpid(), 0)
    for at in (4096, 4096 + ring):
        struct.pack_into("<QQ", data, at, RING_MAGIC, capacity)
    hello_head = struct.pack("<II", ec.PROTOCOL_VERSION, os.getpid())
    payload = struct.pack("<QII", len(hello_head), len(hello_head), 0) + hello_head
    frame_at = 4096 + 1024
    struct.pack_into("<IHHQ", data, frame_at, len(payload), ec.HELLO, 3, 0)  # FIRST | LAST
    data[frame_at + 16:frame_at + 16 + len(payload)] = payload
    struct.pack_into("<Q", data, 4096 + 128, 48)  # the D->W tail: one 48-byte frame
    with open(path, "wb") as f:
        f.write(data)


class CountingHelper:
    """The real helper library, counting the calls that are inside it with an
    endpoint (until they have the GIL back). Records as violations a detach
    while any such call is inside, and any call on a detached endpoint (which
    it then does not pass on)."""

    COUNTED = {"edgefn_py_send": "send", "edgefn_py_send_resume": "send",
               "edgefn_py_recv_begin": "recv", "edgefn_py_recv_finish": "recv"}

    def __init__(self, lib):
        self._lib = lib
        self.cond = threading.Condition()
        self.inside = {"send": 0, "recv": 0}
        self.sent = 0
        self.detached = set()
        self.detaches = 0
        self.violations = []
        for name, kind in self.COUNTED.items():
            setattr(self, name, self._counted(getattr(lib, name), name, kind))

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def _counted(self, fn, name, kind):
        def call(ep, *args):
            with self.cond:
                if ep in self.detached:
                    self.violations.append("%s on a detached endpoint" % name)
                    return ec.CLOSED
                self.inside[kind] += 1
                self.cond.notify_all()
            rc = ec.SYSTEM
            try:
                rc = fn(ep, *args)
                return rc
            finally:
                with self.cond:
                    self.inside[kind] -= 1
                    if name == "edgefn_py_send" and rc == ec.OK:
                        self.sent += 1
                    self.cond.notify_all()
        return call

    def edgefn_py_close(self, ep):
        with self.cond:
            if ep in self.detached:
                self.violations.append("edgefn_py_close on a detached endpoint")
                return
        self._lib.edgefn_py_close(ep)

    def edgefn_py_detach(self, ep):
        with self.cond:
            self.detaches += 1
            self.detached.add(ep)
            if self.inside["send"] or self.inside["recv"]:
                # Leaked rather than freed, so that the test reports the
                # race instead of crashing in the call still inside.
                self.violations.append("edgefn_py_detach with calls inside: %s" % self.inside)
                return
        self._lib.edgefn_py_detach(ep)


class ChannelCloseTest(unittest.TestCase):
    ROUNDS = 25
    SENDERS = 3

    def test_close_during_recv_and_blocked_sends_frees_the_endpoint_only_after_the_last_call(self):
        # Each round: a thread blocked in recv, sender threads logging into a
        # ring nobody reads (so one of them is blocked inside the helper),
        # then close() from this thread. Without the user count, the
        # receiver's exit freed the endpoint while a send was still inside.
        lib = ec.load_helper(HELPER)
        give_up = time.monotonic() + 120
        for round_ in range(self.ROUNDS):
            self.assertLess(time.monotonic(), give_up, "too slow: stopped at round %d" % round_)
            with self.subTest(round=round_), tempfile.TemporaryDirectory() as tmp:
                self._close_while_busy(CountingHelper(lib), os.path.join(tmp, "segment"))

    def _close_while_busy(self, helper, path):
        make_segment(path)
        with mock.patch.object(ec, "load_helper", lambda path=None: helper):
            # The daemon hands the worker a memfd; a file's descriptor maps the same.
            channel = ec.Channel(os.open(path, os.O_RDWR), spin_us=0, handshake_timeout=10)
        outcomes = []

        def receive():
            try:
                outcomes.append(("recv", repr(channel.recv(timeout=30))))
            except ec.ChannelError as e:
                outcomes.append(("recv", type(e).__name__))

        def send():
            try:
                for _ in range(10000):  # the ring holds 4; the 5th blocks until close()
                    channel.send_log(0, ec.INFO, "x" * 900)
                outcomes.append(("send", "never blocked"))
            except ec.ChannelError as e:
                outcomes.append(("send", type(e).__name__))

        threads = [threading.Thread(target=receive, daemon=True)]
        threads += [threading.Thread(target=send, daemon=True) for _ in range(self.SENDERS)]
        for t in threads:
            t.start()
        with helper.cond:
            busy = helper.cond.wait_for(lambda: helper.inside["recv"] and helper.inside["send"] and helper.sent >= 4,
                                        timeout=10)
        channel.close()
        for t in threads:
            t.join(timeout=10)
        self.assertTrue(busy, "recv and a blocked send never were inside the helper together")
        self.assertEqual([t for t in threads if t.is_alive()], [], "threads still blocked after close()")
        self.assertEqual(helper.violations, [])
        self.assertEqual(helper.detaches, 1)
        self.assertEqual(sorted(outcomes), [("recv", "ChannelClosed")] + [("send", "ChannelClosed")] * self.SENDERS)
        with self.assertRaises(ec.ChannelClosed):
            channel.send_log(0, ec.INFO, "after close")
        with self.assertRaises(ec.ChannelClosed):
            channel.recv(timeout=0)
        channel.close()  # idempotent
        self.assertEqual(helper.detaches, 1)


class PythonCodecTest(unittest.TestCase):
    def test_event_round_trip_keeps_every_field(self):
        event = {"id": "e1", "trigger_kind": "mqtt", "trigger_name": "sensors", "method": "", "path": "a/b",
                 "url": "tcp://broker:1883", "content_type": "application/json", "topic": "a/b", "key": "",
                 "type": "t", "type_version": "1", "version": "2", "timestamp_ns": 1700000000123456789,
                 "offset": 77, "shard_id": 2, "num_shards": 4, "last_in_batch": True,
                 "headers": [("A", "1"), ("a", "2"), ("Bin", "\udcff")], "fields": [("k", "v")]}
        head = ec.encode_event_head(event)
        decoded = ec.decode_event(head, b"\x00body")
        self.assertEqual(decoded.pop("body"), b"\x00body")
        self.assertEqual(decoded, event)
        self.assertEqual(len(ec.encode_event_head({})), 84)

    def test_malformed_heads_raise_protocol_error(self):
        head = ec.encode_event_head({"id": "x", "headers": [("a", "b")]})
        for cut in (0, 10, len(head) - 1):
            with self.assertRaises(ec.ProtocolError):
                ec.decode_event(head[:cut], b"")
        with self.assertRaises(ec.ProtocolError):
            ec.decode_event(head + b"!", b"")

    def test_response_head_sends_header_values_as_text(self):
        head = ec.encode_response_head(201, "text/csv", {"X-Count": 3, "X-Ok": True})
        decoded = ec.decode_response(head, b"a,b")
        self.assertEqual(decoded, {"status": 201, "content_type": "text/csv",
                                   "headers": [("X-Count", "3"), ("X-Ok", "True")], "body": b"a,b",
                                   "no_ack": False})
        self.assertTrue(ec.decode_response(ec.encode_response_head(200, no_ack=True), b"")["no_ack"])


if __name__ == "__main__":
    unittest.main()
