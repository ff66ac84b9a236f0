"""The shm channel between the C++ daemon side and a real python3 worker.

shm_echo_driver (test/support/) creates the channel and spawns
shm_echo_worker.py, which uses runtimes/python/edgefn_channel.py and the
libedgefn_ring.so helper; the driver checks every echo. The codec tests run
edgefn_channel.py in this process.
"""
import os
import subprocess
import sys
import unittest

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
