"""The management server's access rules, through the real daemon: an
address other hosts can reach needs a bearer token, probes stay open, and
the token does not leak into workers."""
import http.client
import os
import unittest

from support import Processor, TempDir, run_cli, write_function

TOKEN = "edgefn-test-token-0123456789"

PYTHON_FUNCTION = """\
    metadata: {name: token-check}
    spec:
      runtime: python
      handler: main:handler
      triggers:
        http: {kind: http, numWorkers: 1}
"""

HANDLER = """\
import os

def handler(context, event):
    return os.environ.get("EDGEFN_MANAGEMENT_TOKEN", "absent")
"""


def get(port, path, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def listening_on(processor, address):
    """Points the processor's management server at `address`."""
    i = processor.args.index("--management-address")
    processor.args[i + 1] = address
    return processor


class ManagementAccessTest(unittest.TestCase):
    def setUp(self):
        self._tmp = TempDir()
        self.dir = self._tmp.__enter__()
        self.addCleanup(self._tmp.__exit__, None, None, None)
        with open(os.path.join(self.dir, "main.py"), "w") as f:
            f.write(HANDLER)
        self.config = write_function(self.dir, PYTHON_FUNCTION)

    def test_all_interfaces_without_a_token_is_a_config_error(self):
        p = listening_on(Processor(self.config), "0.0.0.0:0")
        env = {k: v for k, v in os.environ.items() if k != "EDGEFN_MANAGEMENT_TOKEN"}
        r = run_cli(*p.args[1:], env=env)
        self.assertEqual(r.returncode, 2, r.stderr + r.stdout)
        self.assertIn("EDGEFN_MANAGEMENT_TOKEN", r.stderr + r.stdout)

    def test_token_from_the_environment_guards_status_and_metrics_only(self):
        p = listening_on(Processor(self.config, env={"EDGEFN_MANAGEMENT_TOKEN": TOKEN}), "0.0.0.0:0")
        with p:
            port = p.management_port
            self.assertEqual(get(port, "/live")[0], 200)
            self.assertEqual(get(port, "/ready")[0], 200)
            self.assertEqual(get(port, "/status")[0], 401)
            self.assertEqual(get(port, "/metrics", "not-the-token")[0], 401)
            self.assertEqual(get(port, "/status", TOKEN)[0], 200)
            status, metrics = get(port, "/metrics", TOKEN)
            self.assertEqual(status, 200)
            self.assertIn(b'edgefn_management_rejected_total{reason="unauthorized"} 2', metrics)
            self.assertIn("need a bearer token", p.log())
            # Handlers run in workers that inherit the environment: the token is gone from it.
            status, _, body = p.request()
            self.assertEqual((status, body), (200, b"absent"))
            self.assertNotIn(TOKEN, p.log())

    def test_token_from_a_file(self):
        token_file = os.path.join(self.dir, "token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(token_file, 0o600)
        with Processor(self.config, "--management-token-file", token_file) as p:
            self.assertEqual(get(p.management_port, "/status")[0], 401)
            self.assertEqual(get(p.management_port, "/status", TOKEN)[0], 200)

    def test_a_short_token_is_refused(self):
        p = Processor(self.config, env={"EDGEFN_MANAGEMENT_TOKEN": "short"})
        r = run_cli(*p.args[1:], env=p.env)
        self.assertEqual(r.returncode, 2, r.stderr + r.stdout)
        self.assertIn("shorter than 16", r.stderr + r.stdout)


if __name__ == "__main__":
    unittest.main()
