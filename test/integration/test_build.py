"""`processor build` and the Python interpreter a function runs, against the
real processor, a real python3 and its venv module, offline: the package
the function needs is a wheel this test writes itself, installed with
`pip install --no-index --find-links`."""
import json
import os
import signal
import stat
import sys
import textwrap
import unittest
import zipfile

from support import Processor, TempDir, run_cli, wait_for, write_function
from test_python import worker_pids

PACKAGE = "edgefn_buildtest"
BUILD_TIMEOUT = 240  # a venv with pip, then an install: seconds on an idle machine


def write_wheel(directory):
    """A pure-Python wheel as pip 23 reads one: the package, then its
    dist-info (METADATA, WHEEL, RECORD). No build tool needed."""
    dist_info = f"{PACKAGE}-1.0.dist-info"
    files = {
        f"{PACKAGE}/__init__.py": 'VALUE = "installed by processor build"\n',
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 1.0\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: edgefn-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{dist_info}/RECORD,,\n"
    path = os.path.join(directory, f"{PACKAGE}-1.0-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
        wheel.writestr(f"{dist_info}/RECORD", record)
    return path


HANDLER = textwrap.dedent(f'''
    import os
    import sys

    import {PACKAGE}


    def handler(context, event):
        return "%s|%s|%s" % ({PACKAGE}.VALUE, sys.prefix, os.environ.get("VIRTUAL_ENV", ""))
''')


def python_function(directory, commands, runtime="python"):
    with open(os.path.join(directory, "main.py"), "w") as f:
        f.write(HANDLER)
    listed = "".join(f"\n              - {c!r}" for c in commands) if commands else " []"
    return write_function(directory, f"""
        metadata:
          name: needs-a-package
        spec:
          runtime: {runtime}
          handler: main:handler
          build:
            commands:{listed}
        """)


class BuildTest(unittest.TestCase):
    def test_build_installs_what_the_handler_imports_and_the_start_uses_it(self):
        with TempDir() as d:
            wheels = os.path.join(d, "wheels")
            os.mkdir(wheels)
            write_wheel(wheels)
            config = python_function(d, [f"pip install --no-index --find-links {wheels} {PACKAGE}"])
            venv = os.path.join(d, ".edgefn", "venv")

            # Before the build: a warning naming `processor build`, and the
            # worker's import error names the missing module and the fix.
            with Processor(config, expect_ready=False) as proc:
                proc.wait_log(r"spec\.build\.commands \(1\) have not been run")
                proc.wait_log(rf"module '{PACKAGE}' is missing: spec\.build\.commands have not been run; "
                              rf"`processor build --config [^`]+` installs")
                self.assertIn("processor build --config", proc.log())
                self.assertEqual(proc.log().count("have not been run for this function"), 1, proc.log())

            built = run_cli("build", "--config", config, timeout=BUILD_TIMEOUT)
            self.assertEqual(built.returncode, 0, built.stdout + built.stderr)
            self.assertIn("[1/1] pip install", built.stdout)
            self.assertIn(f"Successfully installed {PACKAGE}", built.stdout)  # pip's own output, streamed
            self.assertTrue(os.access(os.path.join(venv, "bin", "pip"), os.X_OK), "pip is inside the venv")

            with Processor(config) as proc:
                status, _, body = proc.request("GET", "/")
                self.assertEqual(status, 200, proc.log())
                value, prefix, virtual_env = body.decode().split("|")
                self.assertEqual(value, "installed by processor build")
                self.assertEqual(os.path.realpath(prefix), os.path.realpath(venv))
                self.assertEqual(virtual_env, venv)
                self.assertNotIn("have not been run", proc.log())

            # Again: the environment is reused, the commands run again.
            again = run_cli("build", "--config", config, timeout=BUILD_TIMEOUT)
            self.assertEqual(again.returncode, 0, again.stdout + again.stderr)
            self.assertIn("reusing the Python environment", again.stdout)
            self.assertIn("already satisfied", again.stdout)

    def test_a_failing_command_stops_the_build_with_its_status_and_name(self):
        with TempDir() as d:
            config = python_function(d, ["true", "echo to-stdout; exit 3", "touch should-not-exist"])
            built = run_cli("build", "--config", config, timeout=BUILD_TIMEOUT)
            self.assertEqual(built.returncode, 3, built.stdout + built.stderr)
            self.assertIn("to-stdout", built.stdout)
            self.assertIn("build command 2 of 3 failed with exit status 3: echo to-stdout; exit 3", built.stdout)
            self.assertFalse(os.path.exists(os.path.join(d, "should-not-exist")))
            self.assertFalse(os.path.exists(os.path.join(d, ".edgefn", "built-commands")))
            # The commands ran in the function's directory, inside the venv.
            self.assertTrue(os.access(os.path.join(d, ".edgefn", "venv", "bin", "python"), os.X_OK))


class InterpreterTest(unittest.TestCase):
    def test_a_python_version_that_is_not_installed_is_named_with_what_runs_instead(self):
        with TempDir() as d:
            config = python_function(d, [], runtime="python:3.99")
            checked = run_cli("validate", "--config", config)
            self.assertEqual(checked.returncode, 0, checked.stderr)
            self.assertIn("python3.99 not found on PATH; running ", checked.stdout)
            self.assertIn("instead", checked.stdout)

    def test_an_interpreter_that_cannot_start_fails_the_start_once_and_clearly(self):
        with TempDir() as d:
            # A wrapper whose interpreter is gone: exit status 127.
            wrapper = os.path.join(d, "python-wrapper")
            with open(wrapper, "w") as f:
                f.write("#!/bin/sh\nexec /nonexistent/python3 \"$@\"\n")
            os.chmod(wrapper, os.stat(wrapper).st_mode | stat.S_IXUSR)
            with open(os.path.join(d, "main.py"), "w") as f:
                f.write("def handler(context, event):\n    return 'ok'\n")
            config = write_function(d, f"""
                spec:
                  runtime: python
                  handler: main:handler
                  env:
                    - name: NUCLIO_PYTHON_EXE_PATH
                      value: {wrapper}
                """)
            started = run_cli("--config", config, "--http-listen", "127.0.0.1:0", "--management-address",
                              "127.0.0.1:0", timeout=60)
            log = started.stdout + started.stderr
            self.assertEqual(started.returncode, 1, log)
            self.assertIn(f"the Python interpreter {wrapper} (NUCLIO_PYTHON_EXE_PATH) cannot start", log)
            self.assertIn("exit status 127", log)
            self.assertEqual(log.count("cannot start"), 1, log)

    def test_an_interpreter_removed_after_the_start_is_reported_once_while_retried(self):
        with TempDir() as d:
            bin_dir = os.path.join(d, "py")
            os.mkdir(bin_dir)
            interpreter = os.path.join(bin_dir, "python3")
            os.symlink(os.path.realpath(sys.executable), interpreter)
            with open(os.path.join(d, "main.py"), "w") as f:
                f.write("def handler(context, event):\n    return 'ok'\n")
            config = write_function(d, f"""
                spec:
                  runtime: python
                  handler: main:handler
                  env:
                    - name: NUCLIO_PYTHON_EXE_PATH
                      value: {interpreter}
                """)
            with Processor(config) as proc:
                os.remove(interpreter)
                pids = worker_pids(proc.proc.pid)
                self.assertTrue(pids)
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                # Two failed starts: the second backs off for 2 s.
                wait_for(lambda: "next attempt in 2 s" in json.dumps(proc.status()), 60,
                         what="a second failed start in /status")
                self.assertEqual(proc.log().count("cannot start the Python worker"), 1, proc.log())
                self.assertIn(interpreter, proc.log())


if __name__ == "__main__":
    unittest.main()
