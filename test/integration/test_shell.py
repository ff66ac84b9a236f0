"""The shell runtime through the real binary: handler resolution (bash for
scripts, #! interpreters, PATH commands), arguments that never reach a
shell, streaming stdin/stdout, limits, exit statuses, stderr, environment,
event timeouts that leave no process behind, and start errors."""
import base64
import glob
import os
import pwd
import re
import shutil
import stat
import tempfile
import unittest
import uuid

from support import SOURCE_DIR, Processor, TempDir, run_cli, wait_for, write_function

# No execute bit, and `==` inside [ ]: dash (Debian's sh) rejects it.
HANDLER_SH = r"""
mode="$1"
if [ "$mode" == "argv" ]; then
  shift
  echo "count=$#"
  for a in "$@"; do printf '[%s]\n' "$a"; done
elif [ "$mode" == "env" ]; then
  for name in GREETING EDGEFN_SHELL_LEAK HOME NUCLIO_FUNCTION_NAME NUCLIO_FUNCTION_HANDLER \
              NUCLIO_EVENT_ID NUCLIO_TRIGGER_KIND NUCLIO_TRIGGER_CLASS NUCLIO_EVENT_METHOD NUCLIO_EVENT_PATH \
              NUCLIO_EVENT_CONTENT_TYPE NUCLIO_EVENT_TIMESTAMP NUCLIO_EVENT_SHARD_ID; do
    echo "$name=${!name-<unset>}"
  done
elif [ "$mode" == "fail" ]; then
  echo "partial output"
  echo "fail-detail-$2" >&2
  exit 3
elif [ "$mode" == "stderr" ]; then
  echo "first stderr line $2" >&2
  echo "second stderr line $2" >&2
  echo done
elif [ "$mode" == "big" ]; then
  # Writes all of stdout before reading stdin: only a daemon that reads
  # while it writes gets to the end.
  head -c 10485760 /dev/zero | tr '\0' 'x'
  echo
  wc -c
else
  echo "args:$*"
  echo -n "stdin:"
  cat
fi
"""

BASH_FUNCTION = """
    metadata:
      name: shellfn
    spec:
      runtime: shell
      handler: handler.sh:main
      env:
        - name: GREETING
          value: hello there
      runtimeAttributes:
        arguments: "default 'two words'"
        allowArgumentsHeader: true
        responseHeaders:
          X-Shell: yes-sir
        contentType: application/x-shell
      triggers:
        api:
          kind: http
          numWorkers: 2
          attributes:
            maxRequestBodySize: 8388608
"""


def make_bash_function(directory):
    with open(os.path.join(directory, "handler.sh"), "w") as f:
        f.write(HANDLER_SH)
    os.chmod(os.path.join(directory, "handler.sh"), 0o644)
    return write_function(directory, BASH_FUNCTION)


def args(value):
    return {"X-Nuclio-Arguments": value}


class BashScriptTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir()
        directory = cls.tmp.__enter__()
        # Set in the daemon's environment; a handler must not see it.
        os.environ["EDGEFN_SHELL_LEAK"] = "secret"
        try:
            cls.proc = Processor(make_bash_function(directory)).__enter__()
        finally:
            del os.environ["EDGEFN_SHELL_LEAK"]

    @classmethod
    def tearDownClass(cls):
        cls.proc.__exit__(None, None, None)
        cls.tmp.__exit__(None, None, None)

    def test_script_without_execute_bit_runs_with_bash_and_default_arguments(self):
        status, headers, body = self.proc.request("POST", "/", body=b"payload")
        self.assertEqual(status, 200, body)
        self.assertEqual(body, b"args:default two words\nstdin:payload")
        self.assertEqual(headers.get("X-Shell"), "yes-sir")
        self.assertEqual(headers.get("Content-Type"), "application/x-shell")

    def test_arguments_header_is_split_without_a_shell(self):
        marker = f"/tmp/edgefn-shell-injected-{uuid.uuid4().hex}"
        try:
            status, _, body = self.proc.request("POST", "/", headers=args(f"argv one '; touch {marker}'"))
            self.assertEqual(status, 200, body)
            self.assertEqual(body.decode(), f"count=2\n[one]\n[; touch {marker}]\n")
            self.assertFalse(os.path.exists(marker))
            status, _, body = self.proc.request(
                "POST", "/", headers=args(f'argv "$(touch {marker})" `touch {marker}` *'))
            self.assertEqual(status, 200, body)
            self.assertEqual(body.decode(), f"count=4\n[$(touch {marker})]\n[`touch]\n[{marker}`]\n[*]\n")
            self.assertFalse(os.path.exists(marker))
        finally:
            if os.path.exists(marker):
                os.unlink(marker)

    def test_allowing_the_header_is_announced_with_a_warning(self):
        self.proc.wait_log(r"warning +worker\.api\.0: runtimeAttributes\.allowArgumentsHeader is true: any client")
        self.assertEqual(self.proc.log().count("allowArgumentsHeader is true"), 1)  # once per pool

    def test_unbalanced_arguments_header_answers_400(self):
        status, _, body = self.proc.request("POST", "/", headers=args("argv 'open"))
        self.assertEqual(status, 400)
        self.assertIn(b"unterminated single quote", body)

    def test_environment_is_spec_env_and_nuclio_variables_only(self):
        status, _, body = self.proc.request("PUT", "/some/path", body=b"{}",
                                            headers={**args("env"), "Content-Type": "application/json"})
        self.assertEqual(status, 200, body)
        env = dict(line.split("=", 1) for line in body.decode().splitlines())
        self.assertEqual(env["GREETING"], "hello there")
        self.assertEqual(env["EDGEFN_SHELL_LEAK"], "<unset>")
        self.assertEqual(env["HOME"], os.environ.get("HOME", "<unset>"))
        self.assertEqual(env["NUCLIO_FUNCTION_NAME"], "shellfn")
        self.assertEqual(env["NUCLIO_FUNCTION_HANDLER"], "handler.sh:main")
        self.assertRegex(env["NUCLIO_EVENT_ID"], r"^[0-9a-f-]{36}$")
        self.assertEqual(env["NUCLIO_TRIGGER_KIND"], "http")
        self.assertEqual(env["NUCLIO_TRIGGER_CLASS"], "sync")
        self.assertEqual(env["NUCLIO_EVENT_METHOD"], "PUT")
        self.assertEqual(env["NUCLIO_EVENT_PATH"], "/some/path")
        self.assertEqual(env["NUCLIO_EVENT_CONTENT_TYPE"], "application/json")
        self.assertRegex(env["NUCLIO_EVENT_TIMESTAMP"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(env["NUCLIO_EVENT_SHARD_ID"], "-1")

    def test_non_zero_exit_answers_500_with_the_exit_and_the_output_as_nuclio(self):
        tag = uuid.uuid4().hex
        status, headers, body = self.proc.request("POST", "/", headers=args(f"fail {tag}"))
        self.assertEqual(status, 500)
        self.assertEqual(body, f"Failed to run shell command.\nError: exit status 3\n"
                               f"Output:partial output\nfail-detail-{tag}\n".encode())
        self.assertEqual(headers["Content-Type"], "text/plain; charset=utf-8")
        self.assertEqual(headers["X-Shell"], "yes-sir")  # responseHeaders, as Nuclio
        self.proc.wait_log("failed with exit status 3")

    def test_stdout_and_stderr_make_the_body_in_the_order_written(self):
        tag = uuid.uuid4().hex
        status, _, body = self.proc.request("POST", "/", headers=args(f"stderr {tag}"))
        self.assertEqual(status, 200)
        self.assertEqual(body, f"first stderr line {tag}\nsecond stderr line {tag}\ndone\n".encode())
        self.assertNotIn(f"first stderr line {tag}", self.proc.log())

    def test_large_output_while_a_large_body_streams_in(self):
        body = b"y" * (4 << 20)
        status, _, out = self.proc.request("POST", "/", body=body, headers=args("big"), timeout=60)
        self.assertEqual(status, 200, out[:200])
        self.assertEqual(len(out), (10 << 20) + 1 + len(b"4194304\n"))
        self.assertTrue(out.startswith(b"xxxx"))
        self.assertTrue(out.endswith(b"x\n4194304\n"), out[-40:])


class LogStderrTest(unittest.TestCase):
    def test_with_log_stderr_stderr_goes_to_the_log_line_by_line_not_the_body(self):
        with TempDir() as directory:
            config = make_bash_function(directory)
            with open(config) as f:
                text = re.sub(r"( *)allowArgumentsHeader: true", r"\g<0>\n\1logStderr: true", f.read())
            with open(config, "w") as f:
                f.write(text)
            with Processor(config) as proc:
                tag = uuid.uuid4().hex
                status, _, body = proc.request("POST", "/", headers=args(f"stderr {tag}"))
                self.assertEqual((status, body), (200, b"done\n"))
                # A handler's stderr is a warning, tagged with its event.
                proc.wait_log(rf"warning +worker\.api\.\d: first stderr line {tag} \(event [0-9a-f-]+\)\n")
                proc.wait_log(rf"worker\.api\.\d: second stderr line {tag} \(event [0-9a-f-]+\)\n")
                status, _, body = proc.request("POST", "/", headers=args(f"fail {tag}"))
                self.assertEqual(status, 500)
                self.assertEqual(body, b"Failed to run shell command.\nError: exit status 3\nOutput:partial output\n")
                proc.wait_log(f"fail-detail-{tag}")


INLINE_SCRIPT = '''echo "inline: $(cat) $1"
echo "from stderr" >&2
'''


class FunctionSourceCodeTest(unittest.TestCase):
    def test_function_source_code_runs_from_a_private_file_removed_at_stop(self):
        encoded = base64.b64encode(INLINE_SCRIPT.encode()).decode()
        with TempDir() as directory:
            config = write_function(directory, f"""
                spec:
                  runtime: shell
                  handler: main.sh:main
                  build:
                    functionSourceCode: {encoded}
                  runtimeAttributes:
                    arguments: first
                  triggers: {{api: {{kind: http}}}}
            """)
            self.assertFalse(os.path.exists(os.path.join(directory, "main.sh")))
            self.assertEqual(run_cli("validate", "--config", config).returncode, 0)
            with Processor(config) as proc:
                status, headers, body = proc.request("POST", "/", body=b"body")
                self.assertEqual((status, body), (200, b"inline: body first\nfrom stderr\n"))
                self.assertEqual(headers["Content-Type"], "text/plain; charset=utf-8")
                scripts = [p for p in glob.glob(os.path.join(tempfile.gettempdir(), "edgefn-shell-*", "main.sh"))
                           if open(p).read() == INLINE_SCRIPT]
                self.assertEqual(len(scripts), 1, scripts)
                private = os.path.dirname(scripts[0])
                self.assertEqual(stat.S_IMODE(os.stat(private).st_mode), 0o700)
                self.assertEqual(proc.terminate(), 0, proc.log())
            self.assertFalse(os.path.exists(private), "the script's directory outlived the processor")


PYTHON_HANDLER = """#!/usr/bin/env python3
import os, sys
data = sys.stdin.buffer.read()
sys.stdout.write("python %d.%d argv=%r body=%r" % (sys.version_info[0], sys.version_info[1], sys.argv[1:],
                                                    data.decode()))
"""


class InterpreterAndCommandTest(unittest.TestCase):
    def test_shebang_script_runs_with_its_interpreter_without_execute_bit(self):
        with TempDir() as directory:
            path = os.path.join(directory, "handler.py")
            with open(path, "w") as f:
                f.write(PYTHON_HANDLER)
            os.chmod(path, 0o644)
            config = write_function(directory, """
                spec:
                  runtime: shell
                  handler: handler.py
                  runtimeAttributes: {allowArgumentsHeader: true}
                  triggers: {api: {kind: http}}
            """)
            with Processor(config) as proc:
                status, _, body = proc.request("POST", "/", body=b"hi", headers=args("a 'b c'"))
                self.assertEqual(status, 200, body)
                self.assertRegex(body.decode(), r"^python 3\.\d+ argv=\['a', 'b c'\] body='hi'$")

    def test_path_command_with_arguments_and_max_output_size(self):
        with TempDir() as directory:
            config = write_function(directory, """
                spec:
                  runtime: shell
                  handler: tr
                  runtimeAttributes:
                    arguments: "'a-z' 'A-Z'"
                    maxOutputSize: 1024
                  triggers: {api: {kind: http}}
            """)
            with Processor(config) as proc:
                status, headers, body = proc.request("POST", "/", body=b"hello, edge")
                self.assertEqual(status, 200, body)
                self.assertEqual(body, b"HELLO, EDGE")
                self.assertEqual(headers.get("Content-Type"), "text/plain; charset=utf-8")

                status, _, body = proc.request("POST", "/", body=b"a" * 5000)
                self.assertEqual(status, 500)
                self.assertIn(b"maxOutputSize (1024 bytes)", body)
                proc.wait_log(r"more than runtimeAttributes\.maxOutputSize \(1024 bytes\)")

                # The worker is free again afterwards.
                status, _, body = proc.request("POST", "/", body=b"ok")
                self.assertEqual((status, body), (200, b"OK"))


def metric(proc, name):
    """The value of one sample in /metrics, or None."""
    status, body = proc.get_management("/metrics")
    assert status == 200, status
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


class ArgumentsHeaderTest(unittest.TestCase):
    """A client must not choose what runs: without allowArgumentsHeader the
    header is refused, whatever the handler is."""

    def test_sed_with_e_id_is_refused_by_default_and_counted(self):
        with TempDir() as directory:
            config = write_function(directory, """
                metadata:
                  name: sedfn
                spec:
                  runtime: shell
                  handler: sed
                  runtimeAttributes:
                    arguments: "s/edge/EDGE/"
                  triggers: {api: {kind: http}}
            """)
            with Processor(config) as proc:
                # GNU sed's `e` runs a command: as the processor's user.
                status, _, body = proc.request("POST", "/", body=b"x\n", headers=args("e id"))
                self.assertEqual(status, 403, body)
                self.assertIn(b"allowArgumentsHeader", body)
                self.assertNotIn(b"uid=", body)
                status, _, body = proc.request("POST", "/", body=b"x\n", headers=args(""))
                self.assertEqual(status, 403, body)
                self.assertEqual(metric(proc, 'edgefn_shell_arguments_refused_total{pool="api"}'), 2)
                self.assertNotIn("allowArgumentsHeader is true", proc.log())

                # The configured arguments still run.
                self.assertEqual(proc.request("POST", "/", body=b"hello edge")[::2], (200, b"hello EDGE"))

    def test_cat_cannot_be_pointed_at_another_file(self):
        with TempDir() as directory:
            secret = os.path.join(directory, "secret")
            with open(secret, "w") as f:
                f.write("do not read")
            config = write_function(directory, """
                spec:
                  runtime: shell
                  handler: cat
                  triggers: {api: {kind: http}}
            """)
            with Processor(config) as proc:
                status, _, body = proc.request("POST", "/", body=b"mine", headers=args(secret))
                self.assertEqual(status, 403, body)
                self.assertNotIn(b"do not read", body)
                self.assertEqual(proc.request("POST", "/", body=b"mine")[::2], (200, b"mine"))

    def test_with_allow_arguments_header_the_header_replaces_the_arguments(self):
        with TempDir() as directory:
            config = write_function(directory, """
                spec:
                  runtime: shell
                  handler: sed
                  runtimeAttributes:
                    arguments: "s/a/b/"
                    allowArgumentsHeader: true
                  triggers: {api: {kind: http}}
            """)
            with Processor(config) as proc:
                proc.wait_log(r"allowArgumentsHeader is true: any client that reaches this function's triggers "
                              r"chooses the arguments of `/\S*sed`")
                self.assertEqual(proc.request("POST", "/", body=b"a", headers=args("s/a/c/"))[::2], (200, b"c"))
                self.assertEqual(proc.request("POST", "/", body=b"a")[::2], (200, b"b"))
                self.assertEqual(metric(proc, 'edgefn_shell_arguments_refused_total{pool="api"}'), 0)


class ExampleTest(unittest.TestCase):
    def test_the_shipped_example_handler_works_as_documented(self):
        with TempDir() as directory:
            shutil.copy(os.path.join(SOURCE_DIR, "runtimes", "shell", "example.sh"), directory)
            config = write_function(directory, """
                metadata:
                  name: words
                spec:
                  runtime: shell
                  handler: example.sh
                  runtimeAttributes:
                    arguments: "words"
                    allowArgumentsHeader: true
                  triggers: {api: {kind: http}}
            """)
            with Processor(config) as proc:
                self.assertEqual(proc.request("POST", "/count", body=b"one two three")[::2], (200, b"3\n"))
                self.assertEqual(proc.request("POST", "/", body=b"shout", headers=args("upper"))[::2],
                                 (200, b"SHOUT"))
                self.assertEqual(proc.request("POST", "/", body=b"b\na\n", headers=args("sort"))[::2],
                                 (200, b"a\nb\n"))
                status, _, body = proc.request("POST", "/", body=b"x", headers=args("nope"))
                self.assertEqual(status, 500)
                self.assertEqual(body, b"Failed to run shell command.\nError: exit status 2\n"
                                       b"Output:unknown mode 'nope': expected words, upper or sort\n")


SLOW_SH = """
if [ "$1" == "fast" ]; then echo fast; exit 0; fi
trap '' TERM
# A child that ignores SIGTERM too, in the same process group.
bash -c 'trap "" TERM; while :; do sleep 0.05; done' "$1" &
while :; do sleep 0.05; done
"""


def living_with_marker(marker):
    """Pids of non-zombie processes whose command line contains `marker`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(pid))
    return found


def cmdline_of(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


class TimeoutTest(unittest.TestCase):
    def test_event_timeout_kills_the_whole_process_group(self):
        with TempDir() as directory:
            with open(os.path.join(directory, "slow.sh"), "w") as f:
                f.write(SLOW_SH)
            config = write_function(directory, """
                spec:
                  runtime: shell
                  handler: slow.sh
                  eventTimeout: 300ms
                  runtimeAttributes: {allowArgumentsHeader: true}
                  triggers:
                    api:
                      kind: http
                      workerTerminationTimeout: 500ms
            """)
            with Processor(config) as proc:
                marker = f"edgefn-marker-{uuid.uuid4().hex}"
                status, _, body = proc.request("POST", "/", headers=args(marker))
                self.assertEqual(status, 408, body)
                self.assertTrue(living_with_marker(marker), "the handler should still be dying")
                proc.wait_log(r"timed out: sending SIGTERM to handler process group")
                proc.wait_log(r"still running 500 ms after SIGTERM \(workerTerminationTimeout\); sending SIGKILL")
                wait_for(lambda: not living_with_marker(marker), 10, what="the handler's processes to be gone")
                # The slot comes back once the process is reaped.
                status, _, body = proc.request("POST", "/", headers=args("fast"))
                self.assertEqual((status, body), (200, b"fast\n"))


class ShutdownTest(unittest.TestCase):
    def make_slow_function(self, directory):
        with open(os.path.join(directory, "slow.sh"), "w") as f:
            f.write(SLOW_SH)
        return write_function(directory, """
            spec:
              runtime: shell
              handler: slow.sh
              runtimeAttributes: {allowArgumentsHeader: true}
              triggers:
                api:
                  kind: http
                  workerTerminationTimeout: 300ms
        """)

    def start_slow_event(self, proc, marker):
        """Sends an event that never ends; returns the socket and the leader's pid."""
        conn = proc.connect(timeout=30)
        conn.request("POST", "/", headers=args(marker))
        leader = wait_for(lambda: [p for p in living_with_marker(marker) if b"slow.sh" in cmdline_of(p)],
                          what="the handler to start")
        return conn, leader[0]

    def test_sigterm_stops_in_flight_handlers_and_exits_0(self):
        with TempDir() as directory:
            config = self.make_slow_function(directory)
            with Processor(config, "--drain-timeout", "200ms") as proc:
                marker = f"edgefn-marker-{uuid.uuid4().hex}"
                conn, _ = self.start_slow_event(proc, marker)
                self.assertEqual(proc.terminate(timeout=20), 0, proc.log())
                conn.close()
                self.assertEqual(living_with_marker(marker), [])
                self.assertRegex(proc.log(), r"still running 300 ms after SIGTERM \(workerTerminationTimeout\); sending SIGKILL")

    def test_handler_dies_with_a_killed_daemon(self):
        with TempDir() as directory:
            config = self.make_slow_function(directory)
            with Processor(config) as proc:
                marker = f"edgefn-marker-{uuid.uuid4().hex}"
                conn, leader = self.start_slow_event(proc, marker)
                try:
                    proc.proc.kill()
                    proc.proc.wait(timeout=10)
                    # The leader gets SIGKILL from the kernel (parent-death
                    # signal); what it started is orphaned, as documented.
                    wait_for(lambda: leader not in living_with_marker(marker), 10, what="the leader to die")
                finally:
                    conn.close()
                    try:
                        os.killpg(leader, 9)
                    except ProcessLookupError:
                        pass


# What a root daemon started by systemd has, out of /root.
SYSTEM_PATH = {"PATH": "/usr/local/bin:/usr/bin:/bin"}


@unittest.skipUnless(os.geteuid() == 0, "changing users needs root")
class WorkerUserTest(unittest.TestCase):
    def test_handlers_of_a_root_processor_run_as_the_worker_user(self):
        nobody = pwd.getpwnam("nobody")
        with TempDir() as directory:
            os.chmod(directory, 0o755)
            with open(os.path.join(directory, "who.sh"), "w") as f:
                f.write('echo "$(id -u):$(id -g):$(cat)"\n')
            config = write_function(directory, """
                spec:
                  runtime: shell
                  handler: who.sh
                  triggers: {api: {kind: http}}
            """)
            with Processor(config, "--worker-user", "nobody", env=SYSTEM_PATH) as proc:
                status, _, body = proc.request("POST", "/", body=b"in")
                self.assertEqual((status, body), (200, f"{nobody.pw_uid}:{nobody.pw_gid}:in\n".encode()))

            # functionSourceCode: its private directory belongs to that user.
            encoded = base64.b64encode(b'echo "inline $(id -u)"\n').decode()
            inline = write_function(directory, f"""
                spec:
                  runtime: shell
                  handler: who.sh
                  build: {{functionSourceCode: {encoded}}}
                  triggers: {{api: {{kind: http}}}}
            """)
            with Processor(inline, "--worker-user", "nobody", env=SYSTEM_PATH) as proc:
                status, _, body = proc.request("POST", "/")
                self.assertEqual((status, body), (200, f"inline {nobody.pw_uid}\n".encode()))
            config = write_function(directory, """
                spec:
                  runtime: shell
                  handler: who.sh
                  triggers: {api: {kind: http}}
            """)

            # A function directory that user cannot enter: each event says so.
            os.chmod(directory, 0o700)
            with Processor(config, "--worker-user", "nobody", env=SYSTEM_PATH) as proc:
                self.assertEqual(proc.request("POST", "/", body=b"in")[0], 500)
                proc.wait_log(r"cannot enter %s as user nobody \(uid %d, gid %d\) \(--worker-user\): "
                              r"Permission denied" % (re.escape(directory), nobody.pw_uid, nobody.pw_gid))


class StartErrorTest(unittest.TestCase):
    def test_a_missing_handler_is_a_config_error_at_spec_handler(self):
        with TempDir() as directory:
            config = write_function(directory, """
                spec:
                  runtime: shell
                  handler: no-such-handler-anywhere.sh
                  triggers: {api: {kind: http}}
            """)
            r = run_cli("--config", config, "--http-listen", "127.0.0.1:0", "--management-address", "127.0.0.1:0")
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("function.yaml:4:12: spec.handler: no file 'no-such-handler-anywhere.sh'", r.stdout + r.stderr)
            self.assertIn("on PATH", r.stdout + r.stderr)

    def test_unbalanced_arguments_are_a_config_error(self):
        with TempDir() as directory:
            config = write_function(directory, """
                spec:
                  runtime: shell
                  handler: tr
                  runtimeAttributes:
                    arguments: "'a-z"
                  triggers: {api: {kind: http}}
            """)
            r = run_cli("validate", "--config", config)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("unterminated single quote", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
