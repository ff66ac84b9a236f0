"""What the daemon logs, through the real binary: the start banner, JSON
lines and their fields, the access log, handler output levels, changing the
level at run time (management API and SIGUSR1), and `validate`'s bare
error lines."""
import http.client
import json
import os
import re
import signal
import textwrap
import unittest

from support import Processor, TempDir, run_cli, wait_for, write_function

NATIVE = """
    metadata:
      name: logged
    spec:
      runtime: native
      handler: builtin:echo
      triggers:
        web:
          kind: http
          numWorkers: 2
          {access}
"""

PYTHON_HANDLER = textwrap.dedent('''
    import sys


    def handler(context, event):
        context.logger.info_with("handled", user="ann", n=[1, 2], time="mine")
        print("printed line")
        sys.stderr.write("stderr line\\n")
        return "ok"
''')

PYTHON = """
    metadata:
      name: pylogged
    spec:
      runtime: python
      handler: main:handler
      triggers:
        web:
          kind: http
          numWorkers: 1
"""


def json_lines(text):
    """Every line of `text` as a parsed object; fails on a line that is not one."""
    out = []
    for line in text.splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def management(proc, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", proc.management_port, timeout=5)
    try:
        conn.request(method, path, body=body)
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def native_function(directory, access=""):
    return write_function(directory, NATIVE.format(access=access))


class BannerTest(unittest.TestCase):
    def test_banner_names_version_function_bound_address_and_pool_once(self):
        with TempDir() as d, Processor(native_function(d)) as proc:
            log = proc.wait_log(r"trigger 'web' \(http\) on 127\.0\.0\.1:(\d+), pool 'web'")
            self.assertEqual(int(log.group(1)), proc.http_port)
            self.assertNotEqual(proc.http_port, 0)
            self.assertRegex(proc.log(), r"edgefn \d+\.\d+\.\d+ \(commit (?:[0-9a-f]+|unknown)\) starting function 'logged'")
            self.assertRegex(proc.log(), r"pool 'web': runtime native, 2 worker\(s\)")
            proc.wait_log(r"function 'logged' ready")
            self.assertEqual(len(re.findall(r"management server on", proc.log())), 1, proc.log())

    def test_http_listen_on_a_function_without_http_trigger_says_it_does_not_apply(self):
        with TempDir() as d:
            path = write_function(d, """
                metadata:
                  name: ticking
                spec:
                  runtime: native
                  handler: builtin:hello
                  disableDefaultHTTPTrigger: true
                  triggers:
                    tick:
                      kind: cron
                      attributes:
                        interval: 1h
            """)
            with Processor(path, expect_ready=False) as proc:
                proc.wait_log(r"--http-listen 127\.0\.0\.1:0 does not apply")

    def test_a_python_worker_that_cannot_import_says_why_it_is_not_ready(self):
        with TempDir() as d:
            with open(os.path.join(d, "main.py"), "w") as f:
                f.write("import no_such_module_here\n\ndef handler(context, event):\n    return 'x'\n")
            with Processor(write_function(d, PYTHON), expect_ready=False) as proc:
                proc.wait_log(r"function 'pylogged' not ready yet: pool 'web' has no ready worker \(worker 0: .*"
                              r"next attempt in \d+ s", timeout=30)
                self.assertNotIn("function 'pylogged' ready", proc.log())
                # The traceback arrives as lines of its own, none with a literal "\n".
                proc.wait_log(r"worker\.web\.0: .*No module named 'no_such_module_here'")
                self.assertNotIn("\\n", proc.log())


class JsonLogTest(unittest.TestCase):
    def test_every_line_is_json_and_the_banner_and_access_log_carry_fields(self):
        with TempDir() as d, Processor(native_function(d), "--log-format", "json", "--access-log") as proc:
            status, _, _ = proc.request("POST", "/some/path?q=1", body=b"hi")
            self.assertEqual(status, 200)
            wait_for(lambda: any(l.get("logger") == "access.web" for l in json_lines(proc.log())),
                     what="the access line")
            lines = json_lines(proc.log())
            for line in lines:
                self.assertEqual(set(line) >= {"time", "level", "logger", "message"}, True, line)
            start = next(l for l in lines if "starting function" in l["message"])
            self.assertEqual(start["function"], "logged")
            self.assertEqual(start["runtime"], "native")
            self.assertIn("commit", start)
            trigger = next(l for l in lines if l.get("trigger") == "web" and "address" in l)
            self.assertEqual(trigger["address"], f"127.0.0.1:{proc.http_port}")
            access = next(l for l in lines if l["logger"] == "access.web")
            self.assertEqual(access["level"], "info")
            self.assertEqual((access["method"], access["status"], access["result"]), ("POST", 200, "ok"))
            self.assertTrue(access["path"].startswith("/some/path"), access)
            self.assertIn(access["worker"], (0, 1))
            self.assertRegex(access["event_id"], r"^[0-9a-f-]{36}$")
            self.assertGreaterEqual(access["duration_ms"], 0)

    def test_info_with_fields_event_and_worker_are_members_and_output_has_its_level(self):
        with TempDir() as d:
            with open(os.path.join(d, "main.py"), "w") as f:
                f.write(PYTHON_HANDLER)
            with Processor(write_function(d, PYTHON), "--log-format", "json") as proc:
                self.assertEqual(proc.request("GET", "/")[0], 200)
                wait_for(lambda: "stderr line" in proc.log(), what="the handler's stderr in the log")
                lines = json_lines(proc.log())
                handled = next(l for l in lines if l["message"] == "handled")
                self.assertEqual(handled["user"], "ann")
                self.assertEqual(handled["n"], [1, 2])
                self.assertEqual(handled["field.time"], "mine")
                self.assertRegex(handled["time"], r"^\d{4}-\d\d-\d\dT")
                self.assertEqual(handled["trigger"], "web")
                self.assertEqual(handled["worker"], 0)
                self.assertRegex(handled["event_id"], r"^[0-9a-f-]{36}$")
                printed = next(l for l in lines if l["message"] == "printed line")
                self.assertEqual(printed["level"], "info")
                self.assertEqual(printed["event_id"], handled["event_id"])
                stderr = next(l for l in lines if l["message"] == "stderr line")
                self.assertEqual(stderr["level"], "warn")


class AccessLogTest(unittest.TestCase):
    def test_the_access_attribute_logs_a_text_line_per_request(self):
        with TempDir() as d, Processor(native_function(d, "accessLog: true")) as proc:
            self.assertEqual(proc.request("GET", "/hello")[0], 200)
            proc.wait_log(r"info +access\.web: http 'web' GET /hello 200 [\d.]+ ms worker \d event [0-9a-f-]{36}")

    def test_no_access_line_by_default(self):
        with TempDir() as d, Processor(native_function(d)) as proc:
            self.assertEqual(proc.request("GET", "/hello")[0], 200)
            # The request was answered and logged nothing; a later line
            # (the SIGTERM's) shows the log was read past it.
            proc.terminate()
            wait_for(lambda: "stopped" in proc.log(), what="the stop line")
            self.assertNotIn("access.web", proc.log())


class LogLevelTest(unittest.TestCase):
    DEBUG_ACCESS = r"debug +access\.web: http 'web' GET /{} 200"

    def test_the_management_api_switches_debug_on_and_off(self):
        with TempDir() as d, Processor(native_function(d)) as proc:
            self.assertEqual(management(proc, "GET", "/log-level"), (200, "info\n"))
            self.assertEqual(management(proc, "PUT", "/log-level", "debug"), (200, "debug\n"))
            proc.wait_log(r"log level debug \(was info\), set by PUT /log-level")
            self.assertEqual(proc.request("GET", "/one")[0], 200)
            proc.wait_log(self.DEBUG_ACCESS.format("one"))
            self.assertEqual(management(proc, "POST", "/log-level?level=info"), (200, "info\n"))
            proc.wait_log(r"log level info \(was debug\), set by POST /log-level")
            self.assertEqual(proc.request("GET", "/two")[0], 200)
            self.assertEqual(management(proc, "PUT", "/log-level", "warn"), (200, "warn\n"))
            self.assertNotRegex(proc.log(), self.DEBUG_ACCESS.format("two"))
            self.assertEqual(management(proc, "PUT", "/log-level", "loud")[0], 400)
            self.assertEqual(management(proc, "DELETE", "/log-level")[0], 405)

    def test_sigusr1_toggles_debug(self):
        with TempDir() as d, Processor(native_function(d)) as proc:
            proc.proc.send_signal(signal.SIGUSR1)
            proc.wait_log(r"SIGUSR1: log level debug \(was info\)")
            self.assertEqual(proc.request("GET", "/one")[0], 200)
            proc.wait_log(self.DEBUG_ACCESS.format("one"))
            proc.proc.send_signal(signal.SIGUSR1)
            proc.wait_log(r"SIGUSR1: log level info \(was debug\)")
            self.assertEqual(proc.request("GET", "/two")[0], 200)
            self.assertEqual(management(proc, "GET", "/log-level"), (200, "info\n"))
            self.assertNotRegex(proc.log(), self.DEBUG_ACCESS.format("two"))


class ValidateTest(unittest.TestCase):
    BAD = """
        spec:
          runtime: native
          handler: builtin:hello
          triggers:
            web:
              kind: http
              numWorkers: lots
    """

    def test_errors_are_bare_file_line_col_lines_on_stderr(self):
        with TempDir() as d:
            path = write_function(d, self.BAD)
            r = run_cli("validate", path)
            self.assertEqual(r.returncode, 2, r)
            self.assertRegex(r.stderr, r"^" + re.escape(path) + r":\d+:\d+: .*numWorkers.*\n$")

    def test_positional_and_option_forms_and_global_flags_after_the_subcommand(self):
        with TempDir() as d:
            path = native_function(d)
            self.assertEqual(run_cli("validate", path).returncode, 0)
            self.assertEqual(run_cli("validate", "--config", path).returncode, 0)
            r = run_cli("validate", path, "--log-format", "json", "--log-level", "info")
            self.assertEqual(r.returncode, 0, r)
            self.assertTrue(all(json_lines(r.stdout)), r.stdout)
            self.assertEqual(run_cli("validate").returncode, 2)


class CliTest(unittest.TestCase):
    def test_drain_timeout_takes_a_bare_number_of_seconds_as_yaml_does(self):
        with TempDir() as d, Processor(native_function(d), "--drain-timeout", "5") as proc:
            self.assertEqual(proc.terminate(), 0)
            self.assertIn("draining (up to 5s)", proc.log())

    def test_help_lists_every_level_and_every_flag_the_readme_documents(self):
        help_text = run_cli("--help").stdout
        for level in ("trace", "debug", "info", "warn", "error", "critical", "off"):
            self.assertIn(level, help_text)
        with open(os.path.join(os.environ["EDGEFN_SOURCE_DIR"], "README.md")) as f:
            readme = f.read()
        documented = set(re.findall(r"^\| `(--[a-z-]+)", readme, re.M))
        self.assertTrue(documented)
        offered = set(re.findall(r"(--[a-z][a-z-]+)", help_text)) - {"--help", "--version"}
        self.assertEqual(documented - offered, set(), "documented but not in --help")
        self.assertEqual(offered - documented, set(), "in --help but not documented in the README")


if __name__ == "__main__":
    unittest.main()
