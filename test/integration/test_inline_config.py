"""A handler's source as --config, as `nuctl deploy --path handler.py`
takes it: Nuclio's inline @nuclio.configure block, a bare source with
defaults, runtime and handler worked out from the file, and config errors
inside the block named at the source's own line and column."""
import os
import re
import unittest

from support import Processor, TempDir, run_cli, write_function

# Written here from Nuclio's documented syntax: the block opens with
# `@nuclio.configure` and its YAML is the comment text below it.
INLINE_PY = '''\
import os

# @nuclio.configure
#
# function.yaml:
#   metadata:
#     name: inline-greeter
#   spec:
#     env:
#     - name: GREETING
#       value: hello from the block
#     triggers:
#       web:
#         kind: http
#         numWorkers: 2

def handler(context, event):
    return os.environ["GREETING"] + " to " + event.body.decode()
'''

BARE_PY = '''\
def handler(context, event):
    return {"module": __name__, "path": event.path}
'''


def write(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


class InlineConfigTest(unittest.TestCase):
    def test_a_python_source_with_an_inline_block_runs_as_configured(self):
        with TempDir() as d:
            source = write(d, "greeter.py", INLINE_PY)
            with Processor(source) as p:
                status, _, body = p.request("POST", "/", body=b"the edge")
                self.assertEqual((status, body), (200, b"hello from the block to the edge"))
                self.assertEqual(p.status()["function"], "inline-greeter")
                log = p.log()
                self.assertIn("trigger.http.web: listening", log)
                self.assertRegex(log, r"greeter\.py:\d+:\d+: spec\.runtime: not given; 'python' from the extension")
                self.assertRegex(log, r"spec\.handler: not given; 'greeter:handler' from greeter\.py")

    def test_a_bare_python_source_is_a_function_with_defaults(self):
        with TempDir() as d:
            source = write(d, "bare.py", BARE_PY)
            result = run_cli("validate", "--config", source)
            self.assertEqual(result.returncode, 0, result.stderr)
            with Processor(source) as p:
                status, _, body = p.request("GET", "/some/path")
                self.assertEqual(status, 200)
                self.assertEqual(body, b'{"module": "bare", "path": "/some/path"}')
                self.assertIn("trigger.http.default-http: listening", p.log())

    def test_an_error_inside_the_block_names_the_source_line_and_column(self):
        with TempDir() as d:
            # Line 14 is `#         kind: htp`; the value starts at column 17.
            source = write(d, "typo.py", INLINE_PY.replace("kind: http", "kind: htp"))
            expected = re.escape(source) + r":14:17: spec\.triggers\.web\.kind: unknown trigger kind 'htp'"
            result = run_cli("validate", "--config", source)
            self.assertEqual(result.returncode, 2)
            self.assertRegex(result.stderr + result.stdout, expected)
            result = run_cli("--config", source, "--http-listen", "127.0.0.1:0",
                             "--management-address", "127.0.0.1:0")
            self.assertEqual(result.returncode, 2)
            self.assertRegex(result.stderr + result.stdout, expected)

    def test_bad_yaml_inside_the_block_names_the_source_line(self):
        with TempDir() as d:
            source = write(d, "broken.py", "x = 1\n# @nuclio.configure\n# function.yaml:\n#   spec: [unclosed\n\n"
                                           "def handler(context, event):\n    return 1\n")
            result = run_cli("validate", "--config", source)
            self.assertEqual(result.returncode, 2)
            self.assertRegex(result.stderr + result.stdout, re.escape(source) + r":[45]:\d+: ")

    def test_a_function_yaml_naming_a_shell_script_gets_runtime_and_handler_from_it(self):
        with TempDir() as d:
            write(d, "reply.sh", 'echo "shell says: $(cat)"\n')
            config = write_function(d, """
                spec:
                  build:
                    path: reply.sh
                """)
            with Processor(config) as p:
                status, _, body = p.request("POST", "/", body=b"hi")
                self.assertEqual((status, body.strip()), (200, b"shell says: hi"))
                self.assertIn("spec.runtime: not given; 'shell' from the extension of reply.sh", p.log())

    def test_a_source_that_names_no_runtime_edgefn_has_is_refused_by_name(self):
        with TempDir() as d:
            source = write(d, "main.go", "package main\n")
            result = run_cli("validate", "--config", source)
            self.assertEqual(result.returncode, 2)
            self.assertIn("'golang' (from the extension of main.go) exists in Nuclio but is not supported",
                          result.stderr + result.stdout)


if __name__ == "__main__":
    unittest.main()
