"""Zero-downtime reload against the real processor and a real python3:
SIGHUP, POST /reload and --watch swap in a new version under load without
a failed request; a reload that fails keeps the old version serving and
says why; numWorkers and triggers change live; stale bytecode never runs."""
import http.client
import json
import os
import py_compile
import shutil
import signal
import subprocess
import textwrap
import threading
import time
import unittest

from support import SOURCE_DIR, Processor, TempDir, wait_for

HANDLER = textwrap.dedent('''
    VERSION = "{version}"


    def init_context(context):
        {init}


    def handler(context, event):
        return VERSION
''')


def write_handler(directory, version, init="pass"):
    path = os.path.join(directory, "main.py")
    with open(path, "w") as f:
        f.write(HANDLER.format(version=version, init=init))
    return path


def write_yaml(directory, num_workers=2, extra_triggers="", readiness=20):
    path = os.path.join(directory, "function.yaml")
    with open(path, "w") as f:
        f.write(textwrap.dedent(f'''\
            metadata:
              name: reloaded
            spec:
              runtime: python
              handler: main:handler
              readinessTimeoutSeconds: {readiness}
              triggers:
                api:
                  kind: http
                  numWorkers: {num_workers}
            ''') + extra_triggers)
    return path


def make_function(directory, version="v1", **yaml):
    write_handler(directory, version)
    return write_yaml(directory, **yaml)


def wait_all_workers_ready(proc):
    """Every worker of generation 1 has imported the handler: one still
    starting when the test edits main.py would import the new version."""
    wait_for(lambda: all(p["ready"] == p["size"] for p in proc.status()["pools"]), 60,
             what="every worker ready")


def post_reload(proc, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", proc.management_port, timeout=timeout)
    try:
        conn.request("POST", "/reload")
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def get(port, path="/", timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


class Load:
    """A bounded client loop: `clients` keep-alive connections sending GET /
    one request after another until stopped, `limit` requests each, or
    `seconds`; every answer (status, body) or error is kept."""

    def __init__(self, port, clients=2, limit=50_000, seconds=90):
        self.port, self.limit, self.deadline = port, limit, time.monotonic() + seconds
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.answers = []
        self.errors = []
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        for t in self.threads:
            t.join(timeout=30)
        return False

    def _client(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        for _ in range(self.limit):
            if self.stopped.is_set() or time.monotonic() > self.deadline:
                break
            try:
                conn.request("GET", "/")
                r = conn.getresponse()
                answer = (r.status, r.read())
                with self.lock:
                    self.answers.append(answer)
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.errors.append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.close()

    def bodies(self):
        with self.lock:
            return [body for _, body in self.answers]

    def seen(self, body, after=0):
        return body in self.bodies()[after:]

    def count(self):
        with self.lock:
            return len(self.answers)


class ReloadTest(unittest.TestCase):
    def assert_all_ok(self, load):
        with load.lock:
            statuses = [status for status, _ in load.answers]
            bad = [s for s in statuses if s != 200]
            self.assertEqual(load.errors, [])
        self.assertEqual(bad, [], f"{len(bad)} of {len(statuses)} requests failed")

    def reload_under_load(self, trigger):
        """Swaps v1 for v2 while two clients send requests back to back;
        `trigger(proc)` asks for the reload."""
        with TempDir() as d:
            config = make_function(d, "v1")
            with Processor(config) as proc:
                port = proc.http_port
                wait_all_workers_ready(proc)
                with Load(port) as load:
                    wait_for(lambda: load.count() >= 20, 30, what="requests before the reload")
                    write_handler(d, "v2")
                    trigger(proc)
                    wait_for(lambda: load.seen(b"v2"), 60, what="v2 answering")
                    wait_for(lambda: proc.status()["generation"] == 2, 60, what="generation 2 in /status")
                    mark = load.count()
                    wait_for(lambda: load.count() >= mark + 20, 30, what="requests after the reload")
                self.assert_all_ok(load)
                bodies = load.bodies()
                self.assertEqual(bodies[0], b"v1")
                self.assertEqual(bodies[-1], b"v2")
                # One listener, the same port throughout.
                self.assertEqual(len([l for l in proc.log().splitlines() if "listening on" in l
                                      and "trigger.http" in l]), 1)
                self.assertEqual(get(port), (200, b"v2"))
                status = proc.status()
                self.assertEqual(status["generation"], 2)
                self.assertTrue(status["reload"]["ok"], status["reload"])
                self.assertEqual(status["reload"]["triggers"], {"api": "kept"})
                self.assertEqual(proc.terminate(), 0)
                return proc

    def test_post_reload_under_load_fails_no_request(self):
        answers = []

        def post(proc):
            answers.append(post_reload(proc))

        self.reload_under_load(post)
        code, report = answers[0]
        self.assertEqual(code, 200, report)
        self.assertTrue(report["ok"])
        self.assertEqual(report["cause"], "POST /reload")
        self.assertEqual(report["generation"], 2)
        self.assertEqual(report["pools"], {"api": 2})

    def test_sighup_reloads_under_load_instead_of_ending_the_daemon(self):
        proc = self.reload_under_load(lambda p: p.proc.send_signal(signal.SIGHUP))
        self.assertIn("reload (SIGHUP) done", proc.log())

    def test_watch_reloads_on_an_editor_save(self):
        with TempDir() as d:
            config = make_function(d, "v1")
            with Processor(config, "--watch") as proc:
                wait_all_workers_ready(proc)
                with Load(proc.http_port) as load:
                    wait_for(lambda: load.count() >= 20, 30, what="requests before the change")
                    # An editor's save: a new file renamed over the old one.
                    os.makedirs(os.path.join(d, "__pycache__"), exist_ok=True)
                    write_handler(d, "v2")
                    os.replace(os.path.join(d, "main.py"), os.path.join(d, ".main.py.swp"))
                    os.replace(os.path.join(d, ".main.py.swp"), os.path.join(d, "main.py"))
                    wait_for(lambda: load.seen(b"v2"), 60, what="v2 answering after the save")
                self.assert_all_ok(load)
                wait_for(lambda: proc.status()["reload"], 10, what="the reload in /status")
                self.assertEqual(proc.status()["reload"]["cause"], "--watch")
                # Files the daemon ignores do not reload it.
                before = proc.status()["generation"]
                with open(os.path.join(d, ".hidden"), "w") as f:
                    f.write("x")
                with open(os.path.join(d, "__pycache__", "junk.pyc"), "w") as f:
                    f.write("x")
                # A visible file then does: exactly one more reload, so the
                # ignored ones before it made none.
                with open(os.path.join(d, "notes.txt"), "w") as f:
                    f.write("x")
                wait_for(lambda: proc.status()["generation"] > before, 30, what="the reload for notes.txt")
                self.assertEqual(proc.status()["generation"], before + 1)

    def test_changed_num_workers_resizes_the_pool(self):
        with TempDir() as d:
            config = make_function(d, "v1", num_workers=1)
            with Processor(config) as proc:
                self.assertEqual(proc.status()["pools"][0]["size"], 1)
                write_yaml(d, num_workers=3)
                code, report = post_reload(proc)
                self.assertEqual(code, 200, report)
                self.assertEqual(report["pools"], {"api": 3})
                status = proc.status()
                self.assertEqual(status["pools"][0]["size"], 3)
                self.assertEqual(status["pools"][0]["ready"] >= 1, True)
                self.assertEqual(get(proc.http_port), (200, b"v1"))

    def check_broken_reload(self, d, proc, expected):
        code, report = post_reload(proc)
        self.assertEqual(code, 422, report)
        self.assertFalse(report["ok"])
        self.assertEqual(report["generation"], 1)
        self.assertIn(expected, report["message"])
        status = proc.status()
        self.assertEqual(status["generation"], 1)
        self.assertFalse(status["reload"]["ok"])
        self.assertIn(expected, status["reload"]["message"])
        self.assertEqual(get(proc.http_port), (200, b"v1"))
        self.assertTrue(status["ready"])

    def test_broken_reloads_keep_the_old_version_serving(self):
        with TempDir() as d:
            config = make_function(d, "v1")
            with Processor(config) as proc:
                wait_all_workers_ready(proc)
                with open(os.path.join(d, "main.py"), "w") as f:
                    f.write("def handler(context, event):\n    return 'v2'\n  oops(\n")
                self.check_broken_reload(d, proc, "main.py")

                write_handler(d, "v2")
                write_yaml(d, num_workers="many")
                self.check_broken_reload(d, proc, "function.yaml:")

                write_yaml(d, readiness=3)
                write_handler(d, "v2", init='raise RuntimeError("init refuses")')
                self.check_broken_reload(d, proc, "not ready within")
                self.assertIn("reload (POST /reload) failed", proc.log())
                metrics = proc.get_management("/metrics")[1].decode()
                self.assertIn('edgefn_reloads_total{result="failed"} 3', metrics)
                self.assertIn('edgefn_reloads_total{result="ok"} 0', metrics)

                # And a good one still goes through afterwards.
                write_yaml(d)
                write_handler(d, "v3")
                code, report = post_reload(proc)
                self.assertEqual(code, 200, report)
                self.assertEqual(get(proc.http_port), (200, b"v3"))
                self.assertEqual(proc.terminate(), 0)

    def test_a_reload_fixes_a_function_that_never_became_ready(self):
        with TempDir() as d:
            write_handler(d, "v1", init='raise RuntimeError("broken start")')
            config = write_yaml(d)
            with Processor(config, expect_ready=False) as proc:
                wait_for(lambda: "broken start" in proc.log(), 30, what="the init error in the log")
                self.assertEqual(proc.get_management("/ready")[0], 503)
                write_handler(d, "v2")
                code, report = post_reload(proc)
                self.assertEqual(code, 200, report)
                self.assertEqual(proc.get_management("/ready")[0], 200)
                wait_for(lambda: proc.http_port, 10, what="the HTTP address in the log")
                self.assertEqual(get(proc.http_port), (200, b"v2"))

    def test_same_size_edit_in_the_same_second_runs_the_new_source(self):
        with TempDir() as d:
            config = make_function(d, "v1")
            path = os.path.join(d, "main.py")
            # A .pyc of v1 that records v1's mtime and size, as the first
            # import leaves it.
            py_compile.compile(path, doraise=True)
            before = os.stat(path)
            with Processor(config) as proc:
                wait_all_workers_ready(proc)
                self.assertEqual(get(proc.http_port), (200, b"v1"))
                write_handler(d, "v2")
                os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
                after = os.stat(path)
                self.assertEqual((after.st_size, int(after.st_mtime)), (before.st_size, int(before.st_mtime)))
                code, report = post_reload(proc)
                self.assertEqual(code, 200, report)
                self.assertEqual(get(proc.http_port), (200, b"v2"))

    def test_triggers_added_replaced_and_removed(self):
        def cron(interval):
            return f"    tick:\n      kind: cron\n      numWorkers: 1\n      attributes:\n        interval: {interval}\n"

        def tick_status(proc):
            return [t for t in proc.status()["triggers"] if t["name"] == "tick"]

        with TempDir() as d:
            config = make_function(d, "v1")
            with Processor(config) as proc:
                port = proc.http_port
                write_yaml(d, extra_triggers=cron("1h"))
                code, report = post_reload(proc)
                self.assertEqual(code, 200, report)
                self.assertEqual(report["triggers"], {"api": "kept", "tick": "added"})
                self.assertEqual(report["pools"], {"api": 2, "tick": 1})
                self.assertEqual(len(tick_status(proc)), 1)

                write_yaml(d, extra_triggers=cron("2h"))
                code, report = post_reload(proc)
                self.assertEqual(code, 200, report)
                self.assertEqual(report["triggers"], {"api": "kept", "tick": "replaced"})

                write_yaml(d)
                code, report = post_reload(proc)
                self.assertEqual(code, 200, report)
                self.assertEqual(report["triggers"], {"api": "kept", "tick": "removed"})
                self.assertEqual(tick_status(proc), [])
                self.assertEqual([p["name"] for p in proc.status()["pools"]], ["api"])
                # The HTTP trigger kept its listener through all three.
                self.assertEqual(proc.http_port, port)
                self.assertEqual(get(port), (200, b"v1"))
                self.assertEqual(proc.terminate(), 0)

    def test_sigterm_during_a_reload_drains_cleanly(self):
        with TempDir() as d:
            config = make_function(d, "v1")
            marker = os.path.join(d, "init-started")
            with Processor(config) as proc:
                wait_all_workers_ready(proc)
                write_handler(d, "v2", init=f'open({marker!r}, "w").close(); import time; time.sleep(30)')
                answers = []
                poster = threading.Thread(target=lambda: answers.append(post_reload(proc)), daemon=True)
                poster.start()
                wait_for(lambda: os.path.exists(marker), 30, what="the new worker's init_context")
                self.assertEqual(get(proc.http_port), (200, b"v1"))
                self.assertTrue(proc.status()["reloading"])
                code, report = post_reload(proc)
                self.assertEqual(code, 409, report)
                self.assertIn("already in progress", report["message"])
                self.assertEqual(proc.terminate(), 0)
                poster.join(timeout=30)
                self.assertFalse(poster.is_alive())
                if answers:  # else the connection closed with the daemon
                    self.assertEqual(answers[0][0], 503, answers)

    @unittest.skipUnless(shutil.which("cc") and SOURCE_DIR, "needs a C compiler and the source tree")
    def test_a_native_library_rebuilt_in_place_is_loaded_anew(self):
        source = textwrap.dedent('''
            #include <edgefn/handler.h>
            EDGEFN_DECLARE_ABI();
            __attribute__((visibility("default"))) int handle(const edgefn_call *call, const edgefn_event *event) {
              static const char body[] = "%s";
              (void)event;
              return edgefn_set_body(call, body, sizeof body - 1);
            }
        ''')

        def build(d, version):
            with open(os.path.join(d, "h.c"), "w") as f:
                f.write(source % version)
            # Written in place, as `make` does: same path, same inode.
            subprocess.run(["cc", "-shared", "-fPIC", "-I", os.path.join(SOURCE_DIR, "include"), "-o",
                            os.path.join(d, "libh.so"), os.path.join(d, "h.c")], check=True, timeout=60)

        with TempDir() as d:
            build(d, "v1")
            config = os.path.join(d, "function.yaml")
            with open(config, "w") as f:
                f.write("metadata:\n  name: native\nspec:\n  runtime: native\n  handler: libh.so:handle\n"
                        "  triggers:\n    api:\n      kind: http\n")
            with Processor(config) as proc:
                self.assertEqual(get(proc.http_port), (200, b"v1"))
                build(d, "v2")
                code, report = post_reload(proc)
                self.assertEqual(code, 200, report)
                self.assertEqual(get(proc.http_port), (200, b"v2"))
                build(d, "v3")
                proc.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: get(proc.http_port) == (200, b"v3"), 30, what="v3 answering")
                self.assertEqual(proc.terminate(), 0)


if __name__ == "__main__":
    unittest.main()
