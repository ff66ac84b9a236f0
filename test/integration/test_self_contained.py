"""The processor binary alone runs functions: copied into an empty
directory, away from the build tree (no share/, no lib/ beside it), started
with the clean environment systemd gives (`env -i PATH=/usr/bin:/bin`) from
a directory outside the build tree. The Python worker's files and the ring
helper are embedded in it and reach python3 as memfds, so a SIGKILLed
daemon leaves nothing in /tmp or /dev/shm."""
import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
import unittest

from support import BUILD_DIR, PROCESSOR, SOURCE_DIR, Processor, wait_for, write_function
from test_python import pid_alive, worker_pids

CLEAN_PATH = "PATH=/usr/bin:/bin"

PYTHON_HANDLER = textwrap.dedent('''
    import os
    import sys

    import nuclio_sdk


    def init_context(context):
        context.logger.info_with("initialised", worker=context.worker_id)
        context.user_data.greeting = "hello from python"


    def handler(context, event):
        context.logger.info("handling %s", event.path)
        if event.path == "/touch":  # the leftover check's control
            open("/tmp/edgefn-control", "w").close()
        return context.Response(body={"greeting": context.user_data.greeting,
                                      "sdk": os.path.dirname(nuclio_sdk.__file__),
                                      "main": sys.argv[0], "pid": os.getpid()},
                                status_code=201)
''')

SHELL_HANDLER = 'printf "hello from sh: %s" "$(cat)"\n'


def _outside_tmp_directory():
    """A scratch directory neither under /tmp nor in the build tree: the
    leftover check lays fresh directories over /tmp and /dev/shm for the
    daemon, which must still see its files."""
    for parent in ("/var/tmp", os.path.expanduser("~")):
        if os.path.isdir(parent) and os.access(parent, os.W_OK) and not parent.startswith("/tmp"):
            return tempfile.mkdtemp(prefix="edgefn-test-", dir=parent)
    return None


def _private_mounts_work():
    """Whether `unshare --mount` (root) can give the daemon a /tmp and a
    /dev/shm of the test's own."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True)
    return probe.returncode == 0


class SelfContainedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = _outside_tmp_directory() or tempfile.mkdtemp(prefix="edgefn-test-")
        cls.bin = os.path.join(cls.root, "bin")
        os.mkdir(cls.bin)
        cls.processor = os.path.join(cls.bin, "processor")
        shutil.copy2(PROCESSOR, cls.processor)
        cls.cwd = os.path.join(cls.root, "cwd")
        os.mkdir(cls.cwd)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def function(self, name, yaml_text, files):
        directory = os.path.join(self.root, name)
        os.mkdir(directory)
        for file_name, content in files.items():
            mode = "wb" if isinstance(content, bytes) else "w"
            with open(os.path.join(directory, file_name), mode) as f:
                f.write(content)
        return write_function(directory, yaml_text)

    def clean(self, config, *extra, mounts=(), env=()):
        """The copied binary in a clean environment (plus `env`, NAME=value
        strings), from self.cwd; with `mounts` (host directory, where) laid
        over paths first."""
        wrapper = ["env", "-i", "-C", self.cwd, CLEAN_PATH, *env]
        if mounts:
            script = "".join(f'mount --bind "{source}" "{target}" && ' for source, target in mounts) + 'exec "$@"'
            wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *wrapper]
        return Processor(config, *extra, wrapper=wrapper, env={}, program=self.processor)

    def python_function(self, name="fn-python", workers=1):
        return self.function(name, f"""
            metadata:
              name: alone-python
            spec:
              runtime: python
              handler: main:handler
              triggers:
                web:
                  kind: http
                  numWorkers: {workers}
        """, {"main.py": PYTHON_HANDLER})

    def test_the_copy_stands_alone(self):
        self.assertEqual(os.listdir(self.bin), ["processor"])
        self.assertFalse(os.path.commonpath([self.root, os.path.realpath(BUILD_DIR)]) ==
                         os.path.realpath(BUILD_DIR))
        validate = subprocess.run(["env", "-i", "-C", self.cwd, CLEAN_PATH, self.processor, "validate", "--config",
                                   self.python_function("fn-python-valid")], capture_output=True, text=True, timeout=60)
        self.assertEqual(validate.returncode, 0, validate.stderr)
        self.assertIn("valid", validate.stderr + validate.stdout)

    def test_validate_checks_a_python_handler_with_the_embedded_runtime(self):
        config = self.function("fn-python-missing", """
            spec:
              runtime: python
              handler: main:no_such_function
              triggers: {web: {kind: http}}
        """, {"main.py": PYTHON_HANDLER})
        result = subprocess.run(["env", "-i", "-C", self.cwd, CLEAN_PATH, self.processor, "validate", "--config", config],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("has no function 'no_such_function' at its top level", result.stderr)

    def test_a_python_function_runs_from_the_embedded_runtime(self):
        with self.clean(self.python_function()) as proc:
            status, headers, body = proc.request("POST", "/path", body=b"x", headers={"X-Nuclio-Log-Level": "info"})
            self.assertEqual(status, 201, body)
            got = __import__("json").loads(body)
            self.assertEqual(got["greeting"], "hello from python")
            # Run from the archive the daemon passed as a memfd: no file.
            self.assertRegex(got["main"], r"^/proc/self/fd/\d+$")
            self.assertEqual(got["sdk"], got["main"] + "/nuclio_sdk")
            self.assertIn("handling /path", headers["X-Nuclio-Logs"])
            proc.wait_log(r"initialised")
            with open(f"/proc/{got['pid']}/environ", "rb") as f:
                environment = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
            self.assertEqual(environment[b"PATH"], b"/usr/bin:/bin")
            self.assertRegex(environment[b"EDGEFN_RING_HELPER"].decode(), r"^/proc/self/fd/\d+$")
            self.assertEqual(proc.terminate(), 0, proc.log())

    def test_a_shell_function_runs(self):
        config = self.function("fn-shell", """
            spec:
              runtime: shell
              handler: hello.sh
              triggers: {web: {kind: http}}
        """, {"hello.sh": "#!/bin/sh\n" + SHELL_HANDLER})
        os.chmod(os.path.join(os.path.dirname(config), "hello.sh"), 0o755)
        with self.clean(config) as proc:
            status, _, body = proc.request("POST", "/", body=b"edge")
            self.assertEqual((status, body), (200, b"hello from sh: edge"))
            self.assertEqual(proc.terminate(), 0, proc.log())

    def test_a_native_function_runs(self):
        # The function's own file: the example handler the build made.
        library = os.path.join(BUILD_DIR, "examples", "hello-c", "libhello-c.so")
        with open(library, "rb") as f:
            config = self.function("fn-native", """
                spec:
                  runtime: native
                  handler: libhello-c.so:hello_handle
                  triggers: {web: {kind: http}}
            """, {"libhello-c.so": f.read()})
        with self.clean(config) as proc:
            status, _, body = proc.request()
            self.assertEqual((status, body), (200, b"hello, edge\n"))
            self.assertEqual(proc.terminate(), 0, proc.log())

    def test_edgefn_python_runtime_dir_runs_the_files_on_disk_instead(self):
        # The developers' override: a copy of runtimes/python.
        runtime = os.path.join(self.root, "runtime-copy")
        shutil.copytree(os.path.join(SOURCE_DIR, "runtimes", "python"), runtime,
                        ignore=shutil.ignore_patterns("__pycache__"))
        config = self.python_function("fn-python-override")
        with self.clean(config, env=[f"EDGEFN_PYTHON_RUNTIME_DIR={runtime}"]) as proc:
            status, _, body = proc.request("POST", "/")
            self.assertEqual(status, 201, body)
            got = __import__("json").loads(body)
            self.assertEqual((got["main"], got["sdk"]),
                             (os.path.join(runtime, "edgefn_worker.py"), os.path.join(runtime, "nuclio_sdk")))
        missing = os.path.join(self.root, "no-runtime-here")
        result = subprocess.run(["env", "-i", "-C", self.cwd, CLEAN_PATH, f"EDGEFN_PYTHON_RUNTIME_DIR={missing}",
                                 self.processor, "--config", config, "--http-listen", "127.0.0.1:0",
                                 "--management-address", "127.0.0.1:0"], capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn(f"EDGEFN_PYTHON_RUNTIME_DIR={missing} does not hold the Python runtime's files",
                      result.stdout + result.stderr)

    @unittest.skipUnless(_private_mounts_work(), "needs root and unshare --mount")
    def test_a_sigkilled_daemon_leaves_nothing_in_tmp_or_dev_shm(self):
        # The daemon and its workers see a /tmp and a /dev/shm of their own,
        # empty directories here; whatever they write there stays after them.
        tmp = os.path.join(self.root, "private-tmp")
        shm = os.path.join(self.root, "private-shm")
        os.mkdir(tmp)
        os.mkdir(shm)
        config = self.python_function("fn-python-killed", workers=2)
        with self.clean(config, mounts=[(tmp, "/tmp"), (shm, "/dev/shm")]) as proc:
            wait_for(lambda: proc.status()["pools"][0]["ready"] == 2, 30, what="two ready workers")
            # The control: what a worker writes to /tmp lands here.
            self.assertEqual(proc.request("POST", "/touch")[0], 201)
            self.assertEqual(os.listdir(tmp), ["edgefn-control"])
            os.unlink(os.path.join(tmp, "edgefn-control"))
            workers = worker_pids(proc.proc.pid)
            self.assertEqual(len(workers), 2)
            proc.proc.send_signal(signal.SIGKILL)
            proc.proc.wait(timeout=10)
            for pid in workers:
                wait_for(lambda: not pid_alive(pid), 10, what=f"worker {pid} to die with the daemon")
        self.assertEqual(os.listdir(tmp), [])
        self.assertEqual(os.listdir(shm), [])


if __name__ == "__main__":
    unittest.main()
