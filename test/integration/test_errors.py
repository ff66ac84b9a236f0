"""Errors the processor answers itself, through the real binary: an event
that runs past spec.eventTimeout answers Nuclio's 408 with
{"error": "handler timed out"} for every runtime, or 504 when the HTTP
trigger's eventTimeoutStatusCode says so."""
import json
import os
import unittest

from support import Processor, TempDir, run_cli, wait_for, write_function

# Each runtime's handler sleeps for what its body says: milliseconds for
# builtin:sleep, seconds for the others.
NATIVE = """
    spec:
      runtime: native
      handler: builtin:sleep
"""
PYTHON = """
    spec:
      runtime: python
      handler: slow:handler
"""
PYTHON_SOURCE = """
import time

def handler(context, event):
    time.sleep(float(event.body))
    return "done"
"""
SHELL = """
    spec:
      runtime: shell
      handler: slow.sh
"""
SHELL_SOURCE = 'sleep "$(cat)"\necho done\n'

TRIGGER = """
      eventTimeout: 300ms
      triggers:
        api:
          kind: http
          workerTerminationTimeout: 1s
"""


def write_runtime(directory, runtime, status_attribute=None):
    text = {"native": NATIVE, "python": PYTHON, "shell": SHELL}[runtime] + TRIGGER
    if status_attribute is not None:
        text += f"          attributes:\n            eventTimeoutStatusCode: {status_attribute}\n"
    if runtime == "python":
        with open(os.path.join(directory, "slow.py"), "w") as f:
            f.write(PYTHON_SOURCE)
    if runtime == "shell":
        with open(os.path.join(directory, "slow.sh"), "w") as f:
            f.write(SHELL_SOURCE)
    return write_function(directory, text)


class EventTimeoutTest(unittest.TestCase):
    def check(self, runtime, status_attribute, expected_status):
        with TempDir() as d, Processor(write_runtime(d, runtime, status_attribute)) as proc:
            # A native handler cannot be interrupted: keep its overrun short.
            overrun = b"1500" if runtime == "native" else b"30"
            status, headers, body = proc.request("POST", "/", body=overrun, timeout=20)
            self.assertEqual(status, expected_status, body)
            self.assertEqual(headers["Content-Type"], "application/json")
            self.assertEqual(json.loads(body), {"error": "handler timed out"})
            # The worker comes back (restarted, or its handler returned) and answers.
            wait_for(lambda: proc.request("POST", "/", body=b"0", timeout=20)[0] == 200, 20,
                     what="a worker to answer after the timeout")

    def test_native_timeout_answers_408_as_nuclio(self):
        self.check("native", None, 408)

    def test_native_timeout_answers_504_when_the_trigger_asks(self):
        self.check("native", 504, 504)

    def test_python_timeout_answers_408_as_nuclio(self):
        self.check("python", None, 408)

    def test_python_timeout_answers_504_when_the_trigger_asks(self):
        self.check("python", 504, 504)

    def test_shell_timeout_answers_408_as_nuclio(self):
        self.check("shell", 408, 408)

    def test_shell_timeout_answers_504_when_the_trigger_asks(self):
        self.check("shell", 504, 504)

    def test_another_timeout_status_is_a_config_error_at_its_key(self):
        with TempDir() as d:
            config = write_runtime(d, "native", 500)
            r = run_cli("validate", "--config", config)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertRegex(r.stdout + r.stderr, r"function\.yaml:\d+:\d+: .*eventTimeoutStatusCode.*408.*504")

    def test_config_keys_lists_the_timeout_status(self):
        r = run_cli("config-keys", "http")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("eventTimeoutStatusCode", r.stdout)


if __name__ == "__main__":
    unittest.main()
