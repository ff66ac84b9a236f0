"""Nuclio's function.yaml fields through the real binary: values are kept as
written (no ${VAR} expansion) and valueFrom.envVar is the explicit way to
the processor's environment, spec.disable, trigger batching, and Nuclio
fields edgefn ignores with a notice rather than an "unknown key"."""
import os
import textwrap
import unittest

from support import Processor, TempDir, run_cli, write_function

# Prints two variables, so a request shows what the handler was given.
PRINT_ENV_SH = 'printf "%s|%s" "$LITERAL" "$TOKEN"\n'

ENV_FUNCTION = """
    metadata:
      name: envfn
    spec:
      runtime: shell
      handler: print-env.sh
      env:
        - name: LITERAL
          value: "${HOME}/x"
        - name: TOKEN
          valueFrom:
            envVar: EDGEFN_TEST_TOKEN
      triggers:
        api:
          kind: http
"""


def without(name):
    env = dict(os.environ)
    env.pop(name, None)
    return env


class EnvironmentTest(unittest.TestCase):
    def write(self, d, text=ENV_FUNCTION):
        with open(os.path.join(d, "print-env.sh"), "w") as f:
            f.write(PRINT_ENV_SH)
        return write_function(d, text)

    def test_dollar_braces_stay_literal_and_value_from_env_var_reads_the_processors_environment(self):
        with TempDir() as d:
            path = self.write(d)
            with Processor(path, env={"EDGEFN_TEST_TOKEN": "tok ${HOME} 123"}) as proc:
                status, _, body = proc.request()
                self.assertEqual(status, 200, proc.log())
                self.assertEqual(body.decode(), "${HOME}/x|tok ${HOME} 123")
                self.assertEqual(proc.terminate(), 0)

    def test_an_unset_env_var_is_refused_naming_it(self):
        with TempDir() as d:
            path = self.write(d)
            r = run_cli("validate", "--config", path, env=without("EDGEFN_TEST_TOKEN"))
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("function.yaml:12:17: spec.env[1].valueFrom.envVar: the processor's environment has no "
                          "variable 'EDGEFN_TEST_TOKEN' (for env 'TOKEN')", r.stdout + r.stderr)

    def test_an_unknown_value_from_kind_is_refused_and_kubernetes_kinds_are_skipped_with_a_warning(self):
        with TempDir() as d:
            path = self.write(d, ENV_FUNCTION.replace("envVar: EDGEFN_TEST_TOKEN", "fileRef: /etc/token"))
            r = run_cli("validate", "--config", path)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("function.yaml:12:18: spec.env[1].valueFrom.fileRef: unknown valueFrom kind 'fileRef'",
                          r.stdout + r.stderr)
            path = self.write(d, ENV_FUNCTION.replace("envVar: EDGEFN_TEST_TOKEN", "secretKeyRef: {name: db}"))
            r = run_cli("validate", "--config", path)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("spec.env[1].valueFrom.secretKeyRef: resolved by Nuclio's platform on Kubernetes; 'TOKEN' "
                          "is not set by edgefn", r.stdout)


class DisableTest(unittest.TestCase):
    FUNCTION = """
        metadata:
          name: off
        spec:
          runtime: native
          handler: builtin:hello
          disable: true
    """

    def test_a_disabled_function_is_valid_and_the_processor_exits_0_without_starting_it(self):
        with TempDir() as d:
            path = write_function(d, self.FUNCTION)
            r = run_cli("validate", "--config", path)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("valid, but disabled (spec.disable: true): the processor exits 0 without starting it",
                          r.stdout)
            r = run_cli("--config", path, "--http-listen", "127.0.0.1:0", "--management-address", "127.0.0.1:0")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("function 'off' is disabled (spec.disable: true); not starting it", r.stdout)
            self.assertNotIn("listening on", r.stdout)

    def test_disable_false_starts_the_function(self):
        with TempDir() as d:
            path = write_function(d, self.FUNCTION.replace("disable: true", "disable: false"))
            with Processor(path) as proc:
                self.assertEqual(proc.request()[0], 200)
                self.assertEqual(proc.terminate(), 0)

    def test_disable_must_be_a_bool(self):
        with TempDir() as d:
            path = write_function(d, self.FUNCTION.replace("disable: true", "disable: soon"))
            r = run_cli("validate", "--config", path)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("function.yaml:7:12: spec.disable: expected true or false, got 'soon'",
                          r.stdout + r.stderr)


class BatchTest(unittest.TestCase):
    def function(self, batch):
        return textwrap.dedent("""
            spec:
              runtime: native
              handler: builtin:hello
              triggers:
                api:
                  kind: http
                  batch:
            """) + textwrap.indent(textwrap.dedent(batch), " " * 8)

    def test_batching_disabled_or_absent_is_accepted(self):
        with TempDir() as d:
            path = write_function(d, self.function("mode: disable\nbatchSize: 10\ntimeout: 1s\n"))
            r = run_cli("validate", "--config", path)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertNotIn("batch", r.stdout)
            with Processor(path) as proc:
                self.assertEqual(proc.request()[0], 200)
                self.assertEqual(proc.terminate(), 0)

    def test_batching_enabled_is_refused_naming_it(self):
        with TempDir() as d:
            path = write_function(d, self.function("mode: enable\nbatchSize: 10\n"))
            for args in (("validate", "--config", path),
                         ("--config", path, "--http-listen", "127.0.0.1:0", "--management-address", "127.0.0.1:0")):
                r = run_cli(*args)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn("function.yaml:9:15: spec.triggers.api.batch.mode: batching is not supported",
                              r.stdout + r.stderr)

    def test_a_bad_batch_mode_is_refused(self):
        with TempDir() as d:
            path = write_function(d, self.function("mode: sometimes\n"))
            r = run_cli("validate", "--config", path)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("spec.triggers.api.batch.mode: expected one of enable, disable, got 'sometimes'",
                          r.stdout + r.stderr)


class IgnoredNuclioKeysTest(unittest.TestCase):
    def test_nuclio_fields_are_known_and_ignored_with_a_notice(self):
        with TempDir() as d:
            path = write_function(d, """
                spec:
                  runtime: python
                  handler: main:handler
                  autoScaleMetrics:
                    - sourceType: cpu
                  preemptionMode: prevent
                  runtimeAttributes:
                    arguments: -u
                  triggers:
                    api:
                      kind: http
                      mode: sync
                      waitExplicitAckDuringRebalanceTimeout: 100ms
                      attributes:
                        readBufferSize: 16384
                        reduceMemoryUsage: true
                        disablePortPublishing: true
            """)
            with open(os.path.join(d, "main.py"), "w") as f:
                f.write("def handler(context, event):\n    return 'ok'\n")
            r = run_cli("validate", "--config", path)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertNotIn("unknown key", r.stdout)
            # Read by the kafka-cluster kind; accepted quietly on the others.
            self.assertNotIn("waitExplicitAckDuringRebalanceTimeout", r.stdout)
            for key in ("spec.autoScaleMetrics", "spec.preemptionMode", "spec.runtimeAttributes.arguments",
                        "spec.triggers.api.mode",
                        "spec.triggers.api.attributes.readBufferSize",
                        "spec.triggers.api.attributes.reduceMemoryUsage",
                        "spec.triggers.api.attributes.disablePortPublishing"):
                self.assertRegex(r.stdout, key.replace(".", r"\.") + r": [^\n]*ignored by edgefn")


if __name__ == "__main__":
    unittest.main()
