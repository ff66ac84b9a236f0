"""Command line and start-up: exit codes, validate, start errors."""
import base64
import glob
import os
import random
import re
import socket
import subprocess
import textwrap
import unittest

from support import BUILD_DIR, PROCESSOR, Processor, SOURCE_DIR, TEST_HANDLER, TempDir, run_cli, write_function

FIXTURES = os.path.join(SOURCE_DIR, "test", "fixtures")


class CliTest(unittest.TestCase):
    def test_version_and_help_exit_0(self):
        r = run_cli("--version")
        self.assertEqual(r.returncode, 0)
        self.assertIn("edgefn", r.stdout)
        r = run_cli("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--http-listen", r.stdout)

    def test_usage_errors_exit_2(self):
        self.assertEqual(run_cli("--no-such-flag").returncode, 2)
        config = os.path.join(BUILD_DIR, "examples", "hello-c", "function.yaml")
        for flag, value in (("--io-threads", "zero"), ("--io-threads", "0"), ("--log-format", "xml")):
            with self.subTest(flag=flag, value=value):
                r = run_cli(flag, value, "--config", config)
                self.assertEqual(r.returncode, 2)
                self.assertIn(flag, r.stdout + r.stderr)
        self.assertEqual(run_cli().returncode, 2)
        self.assertEqual(run_cli("validate").returncode, 2)

    def test_missing_config_file_exits_2(self):
        r = run_cli("--config", "/nonexistent/function.yaml")
        self.assertEqual(r.returncode, 2)
        self.assertIn("/nonexistent/function.yaml", r.stdout + r.stderr)

    def test_validate_accepts_the_examples_and_the_sample_config(self):
        # test/fixtures/good/ also names kinds this build lacks (the config
        # unit tests load it with a wider catalog); the files users copy from
        # must validate with the real binary.
        files = sorted(glob.glob(os.path.join(BUILD_DIR, "examples", "*", "function.yaml")))
        files.append(os.path.join(SOURCE_DIR, "config", "function.yaml"))
        self.assertGreaterEqual(len(files), 2)
        for path in files:
            with self.subTest(path=path):
                r = run_cli("validate", "--config", path)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertNotIn("warn", r.stdout)

    def test_validate_rejects_every_bad_fixture_with_file_line_col(self):
        files = sorted(glob.glob(os.path.join(FIXTURES, "bad", "*.yaml")))
        self.assertGreaterEqual(len(files), 20)
        for path in files:
            with self.subTest(path=os.path.basename(path)):
                r = run_cli("validate", "--config", path)
                out = r.stdout + r.stderr
                self.assertEqual(r.returncode, 2, out)
                self.assertRegex(out, re.escape(os.path.basename(path)) + r":\d+:\d+: ")

    def test_busy_port_is_a_start_error(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with TempDir() as d:
                path = write_function(d, """
                    metadata:
                      name: busy
                    spec:
                      runtime: native
                      handler: builtin:hello
                """)
                r = run_cli("--config", path, "--http-listen", f"127.0.0.1:{port}",
                            "--management-address", "127.0.0.1:0")
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertIn(f"127.0.0.1:{port}", r.stdout)

    def test_json_log_format_writes_one_object_per_line(self):
        import json
        with TempDir() as d:
            path = write_function(d, """
                metadata:
                  name: jsonlogs
                spec:
                  runtime: native
                  handler: builtin:hello
            """)
            r = run_cli("--log-format", "json", "validate", "--config", path)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
            self.assertTrue(lines)
            self.assertIn("level", lines[0])
            self.assertIn("message", lines[0])


def start_args(path):
    return ("--config", path, "--http-listen", "127.0.0.1:0", "--management-address", "127.0.0.1:0")


def validate_and_start(path):
    """The (exit code, output) of `processor validate` and of a start, each."""
    results = []
    for args in (("validate", "--config", path), start_args(path)):
        r = run_cli(*args)
        results.append((r.returncode, r.stdout + r.stderr))
    return results


class HostileFileTest(unittest.TestCase):
    """A config costs neither minutes nor gigabytes, whatever it holds."""

    def assert_refused(self, text, message):
        with TempDir() as d:
            path = os.path.join(d, "function.yaml")
            with open(path, "w") as f:
                f.write(text)
            for code, out in validate_and_start(path):
                self.assertEqual(code, 2, out)
                self.assertRegex(out, r"function\.yaml:\d+:\d+: " + message)

    def test_an_alias_bomb_is_refused(self):
        lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        for i in range(1, 9):
            name, previous = chr(ord("a") + i), chr(ord("a") + i - 1)
            lines.append(f"{name}: &{name} [" + ",".join(["*" + previous] * 9) + "]")
        bomb = "\n".join(lines) + "\nspec:\n  runtime: native\n  handler: builtin:echo\n"
        self.assertLess(len(bomb), 500)
        self.assert_refused(bomb, "too many nodes through aliases")

    def test_aliases_within_the_budget_are_read_like_what_they_repeat(self):
        with TempDir() as d:
            path = write_function(d, """
                spec:
                  runtime: native
                  handler: builtin:echo
                  disableDefaultHTTPTrigger: true
                  triggers:
                    first: {kind: cron, attributes: &every {interval: 1h, event: {body: tick, headers: {a: b}}}}
                    second: {kind: cron, attributes: *every}
                    third: {kind: cron, attributes: *every}
            """)
            r = run_cli("validate", "--config", path)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("valid (3 trigger(s), runtime native)", r.stdout)

    def test_an_alias_inside_what_it_names_is_refused_not_a_crash(self):
        # Both used to overflow the stack (SIGSEGV) in the duplicate-key walk.
        for value in ("&loop [a, *loop]", "&loop {a: *loop}"):
            with self.subTest(value=value):
                self.assert_refused(f"spec:\n  runtime: native\n  handler: builtin:echo\n  description: {value}\n",
                                    "this alias names a list or mapping it is inside")

    def test_a_document_nested_100000_deep_is_refused_as_nesting_too_deep(self):
        for deep in ("[" * 100000 + "]" * 100000, "- " * 100000 + "x\n", "a: " + "{a: " * 100000 + "}" * 100000):
            with self.subTest(start=deep[:8]):
                self.assert_refused(deep, "nesting too deep: more than 100 levels")

    def test_a_file_over_4_mib_is_refused_naming_the_limit(self):
        source = base64.b64encode(b"x" * (3 << 20)).decode()
        text = f"spec:\n  runtime: python\n  handler: main:handler\n  build:\n    functionSourceCode: {source}\n"
        self.assertGreater(len(text), 4 << 20)
        self.assert_refused(text, rf"the file is {len(text)} bytes; a function\.yaml may be at most 4 MiB")

    def test_random_bytes_give_an_error_without_raw_control_bytes(self):
        for seed in range(1, 9):
            with self.subTest(seed=seed), TempDir() as d:
                path = os.path.join(d, "function.yaml")
                rng = random.Random(seed)
                with open(path, "wb") as f:
                    f.write(bytes(rng.randrange(256) for _ in range(300)))
                r = subprocess.run([PROCESSOR, "validate", "--config", path], capture_output=True, timeout=30)
                self.assertEqual(r.returncode, 2)
                out = r.stdout + r.stderr
                out.decode("utf-8")  # strictly: invalid UTF-8 is escaped too
                self.assertEqual([b for b in out if b < 0x20 and b != 0x0A or b == 0x7F], [], out)
                self.assertIn(b"function.yaml:", out)

    def test_numworkers_beyond_the_cap_is_refused_before_anything_is_allocated(self):
        for runtime, handler, workers in (("native", "builtin:echo", 2147483647), ("python", "main:handler", 65536)):
            with self.subTest(runtime=runtime):
                self.assert_refused(f"spec:\n  runtime: {runtime}\n  handler: {handler}\n  triggers:\n    api:\n"
                                    f"      kind: http\n      numWorkers: {workers}\n",
                                    rf"spec\.triggers\.api\.numWorkers: expected an integer between 1 and 1024, "
                                    rf"got '{workers}'")

    def test_process_workers_beyond_the_machine_draw_a_warning_not_an_error(self):
        cores = len(os.sched_getaffinity(0))
        workers = 4 * cores + 1
        if workers > 1024:
            self.skipTest("more than 255 cores")
        with TempDir() as d:
            with open(os.path.join(d, "main.py"), "w") as f:
                f.write("def handler(context, event):\n    return 'hi'\n")
            path = write_function(d, f"""
                spec:
                  runtime: python
                  handler: main:handler
                  triggers:
                    api:
                      kind: http
                      numWorkers: {workers}
            """)
            r = run_cli("validate", "--config", path)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertRegex(r.stdout, rf"warn.*function\.yaml:8:19: spec\.triggers\.api\.numWorkers: {workers} "
                                       rf"python workers, each a process, on a machine with {cores} core\(s\)")


HANDLER_AT = r"function\.yaml:5:12: spec\.handler: "


def handler_function(directory, runtime, handler, extra_spec=""):
    """function.yaml with spec.handler's value on line 5, column 12."""
    return write_function(directory, f"metadata:\n  name: checked\nspec:\n  runtime: {runtime}\n"
                                     f"  handler: {handler}\n{extra_spec}  triggers:\n    api: {{kind: http}}\n")


class HandlerCheckTest(unittest.TestCase):
    """A handler that cannot be found or compiled is a bad config: exit 2
    at spec.handler, in `validate` and at start alike (systemd's
    RestartPreventExitStatus=2 then stops restarting in vain)."""

    def assert_bad_handler(self, runtime, handler, message, files=None, extra_spec=""):
        with TempDir() as d:
            for name, text in (files or {}).items():
                with open(os.path.join(d, name), "w") as f:
                    f.write(textwrap.dedent(text))
            path = handler_function(d, runtime, handler, extra_spec)
            for code, out in validate_and_start(path):
                self.assertEqual(code, 2, out)
                self.assertRegex(out, HANDLER_AT + message)

    def test_native_handlers_that_cannot_be_loaded(self):
        handlers = os.path.dirname(TEST_HANDLER)
        for handler, message in (
                ("libnothere.so:handle", r"native handler library .*/libnothere\.so not found"),
                (f"{TEST_HANDLER}:no_such_symbol", r".*libtest_handler\.so has no exported symbol 'no_such_symbol'"),
                (f"{handlers}/libtest_handler_badabi.so:handle", r".* was built for native ABI version 99"),
                ("builtin:hola", r"no such builtin 'hola' \(builtins: echo, hello, sleep\)"),
                ("libgreet.so", r"'libgreet\.so' is not a native handler: write 'libname\.so:symbol'")):
            with self.subTest(handler=handler):
                self.assert_bad_handler("native", handler, message)

    def test_python_handlers_that_cannot_be_found_or_compiled(self):
        main = {"main.py": "import json\n\ndef other(context, event):\n    return 1\n"}
        broken = {"broken.py": "def handler(context, event):\n    return 'unclosed\n"}
        for handler, files, message in (
                ("main", main, r"'main' is not a Python handler: write 'module:function'"),
                ("nothere:handler", main, r"module 'nothere' not found in "),
                ("main:handler", main, r"module 'main' \(.*/main\.py\) has no function 'handler' at its top level"),
                ("broken:handler", broken, r".*/broken\.py:2:12: SyntaxError: unterminated string literal")):
            with self.subTest(handler=handler):
                self.assert_bad_handler("python", handler, message, files)
        source = base64.b64encode(b"def handler(context, event)\n    return 1\n").decode()
        self.assert_bad_handler("python", "inline:handler", r"spec\.build\.functionSourceCode:1:\d+: SyntaxError",
                                extra_spec=f"  build:\n    functionSourceCode: {source}\n")

    def test_a_missing_shell_script(self):
        self.assert_bad_handler("shell", "no-such-script-anywhere.sh",
                                r"no file 'no-such-script-anywhere\.sh' in the function directory .*on PATH")

    def test_failures_that_depend_on_the_moment_stay_runtime_failures(self):
        # A failing import inside the module and a raising init_context pass
        # validation; at start the daemon keeps running and retries.
        for name, source in (
                ("import", "import no_such_module_here\n\ndef handler(context, event):\n    return 1\n"),
                ("init", "def init_context(context):\n    raise RuntimeError('not now')\n\n"
                         "def handler(context, event):\n    return 1\n")):
            with self.subTest(failure=name), TempDir() as d:
                with open(os.path.join(d, "main.py"), "w") as f:
                    f.write(source)
                path = handler_function(d, "python", "main:handler")
                r = run_cli("validate", "--config", path)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                with Processor(path, expect_ready=False) as proc:
                    proc.wait_log(r"failed to start \(handler import or init_context\); retrying")
                    self.assertIsNone(proc.proc.poll())
                    self.assertEqual(proc.get_management("/ready")[0], 503)
                    self.assertEqual(proc.terminate(), 0)


class DefaultTriggerTest(unittest.TestCase):
    def test_function_without_triggers_gets_the_default_http_trigger(self):
        with TempDir() as d:
            path = write_function(d, """
                metadata:
                  name: defaults
                spec:
                  runtime: native
                  handler: builtin:hello
            """)
            with Processor(path) as proc:
                status, _, body = proc.request()
                self.assertEqual((status, body), (200, b"hello, edge\n"))
                self.assertEqual(proc.terminate(), 0)

    CRON_ONLY = """
        metadata:
          name: ticker
        spec:
          runtime: native
          handler: builtin:hello
          triggers:
            tick:
              kind: cron
              attributes:
                interval: 1h
    """

    def test_beside_a_cron_trigger_the_default_http_trigger_listens_on_this_host_only(self):
        with TempDir() as d:
            path = write_function(d, self.CRON_ONLY)
            r = run_cli("validate", "--config", path)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("function.yaml:7:3: spec.triggers: no http trigger declared: added http trigger "
                          "'default-http' on 127.0.0.1:8080 with 1 worker (this host only", r.stdout)
            self.assertIn("valid (2 trigger(s), runtime native)", r.stdout)
            # --http-listen (the Processor helper passes 127.0.0.1:0) moves it.
            with Processor(path) as proc:
                proc.wait_log(r"trigger\.http\.default-http: listening on 127\.0\.0\.1:\d+")
                status, _, body = proc.request()
                self.assertEqual((status, body), (200, b"hello, edge\n"))
                self.assertEqual(proc.terminate(), 0)

    def test_disable_default_http_trigger_leaves_a_cron_function_without_a_port(self):
        with TempDir() as d:
            path = write_function(d, textwrap.dedent(self.CRON_ONLY) + "  disableDefaultHTTPTrigger: true\n")
            r = run_cli("validate", "--config", path)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("valid (1 trigger(s), runtime native)", r.stdout)
            self.assertNotIn("default-http", r.stdout)


def config_key_sections(*args):
    """`processor config-keys` output as {section: (where, table)}."""
    r = run_cli("config-keys", *args)
    if r.returncode != 0:
        raise AssertionError(r.stdout + r.stderr)
    sections = {}
    for chunk in re.split(r"^## ", r.stdout, flags=re.M)[1:]:
        heading, _, table = chunk.partition("\n\n")
        name, _, where = heading.partition(": ")
        sections[name] = (where.strip("`"), table.rstrip("\n"))
    return sections


class ConfigKeysTest(unittest.TestCase):
    # The sections config loading reads itself: their rows in
    # docs/configuration.md say more than one line of help, so only their
    # keys are checked there. Every kind's table is the generated one.
    LOADER_SECTIONS = {"metadata", "spec", "spec.build", "trigger", "trigger.batch"}

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(SOURCE_DIR, "docs", "configuration.md")) as f:
            cls.docs = f.read()
        cls.sections = config_key_sections()

    def test_prints_a_section_with_its_nested_ones_or_names_the_sections(self):
        http = config_key_sections("http")
        self.assertEqual(list(http), ["http", "http.cors"])
        self.assertEqual(http["http"][0], "spec.triggers.<name>.attributes")
        self.assertIn("| `maxRequestBodySize` | integer, 0 to 1099511627776 | `4194304` (4 MiB) |", http["http"][1])
        self.assertEqual(list(config_key_sections("http.cors")), ["http.cors"])
        r = run_cli("config-keys", "htp")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown section 'htp' (did you mean 'http'?); sections: metadata, spec,", r.stderr)

    def test_every_kind_has_a_section(self):
        for name in ("http", "http.cors", "cron", "cron.event", "native", "shell", "python"):
            self.assertIn(name, self.sections)

    def test_docs_show_each_kinds_table_as_generated(self):
        for name, (where, table) in self.sections.items():
            if name in self.LOADER_SECTIONS:
                continue
            with self.subTest(section=name):
                self.assertTrue(table in self.docs,
                                f"docs/configuration.md lacks the table of `processor config-keys {name}`, or "
                                f"it differs: paste the command's output\n{table}")

    def test_docs_name_every_declared_key(self):
        # A key counts when it is in the first cell of a table row, as
        # `key` or within a dotted name (`build.path` names build and path).
        documented = set()
        for row in re.findall(r"^\| ([^|]*) \|", self.docs, flags=re.M):
            for name in re.findall(r"`([^`]+)`", row):
                documented.update(name.split("."))
        for name, (where, table) in self.sections.items():
            for key in re.findall(r"^\| `([^`]+)` \|", table, flags=re.M):
                with self.subTest(section=name, key=key):
                    self.assertTrue(key in documented, f"docs/configuration.md has no row for {where}.{key}")


if __name__ == "__main__":
    unittest.main()
