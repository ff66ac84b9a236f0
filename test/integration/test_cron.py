"""The cron trigger through the real binary: interval and schedule ticks
reach the handler, a slow handler makes ticks missed rather than queued,
and bad attributes fail `processor validate` with file:line:col."""
import contextlib
import re
import textwrap
import unittest

from support import Processor, TempDir, run_cli, wait_for, write_function

TICK_TIMEOUT = 20.0


def function_yaml(handler, attributes):
    """A function whose only trigger is the cron trigger 'tick' (the default
    http trigger is turned off); its attributes start on line 10, indented
    by 8 spaces."""
    attrs = textwrap.indent(textwrap.dedent(attributes).strip("\n"), " " * 8)
    return ("metadata:\n  name: ticker\nspec:\n  runtime: native\n  handler: " + handler +
            "\n  triggers:\n    tick:\n      kind: cron\n      attributes:\n" + attrs +
            "\n  disableDefaultHTTPTrigger: true\n")


@contextlib.contextmanager
def running(directory, yaml_text):
    """A processor with no HTTP trigger: ready means /ready, not a listen line."""
    with Processor(write_function(directory, yaml_text), expect_ready=False) as proc:
        wait_for(lambda: proc.get_management("/ready")[0] == 200, 20.0, what="/ready")
        yield proc


def trigger_status(proc):
    status = proc.status()
    (tick,) = [t for t in status["triggers"] if t["name"] == "tick"]
    (pool,) = [p for p in status["pools"] if p["name"] == "tick"]
    return tick, pool


class IntervalTest(unittest.TestCase):
    def test_interval_ticks_reach_the_handler_with_fresh_increasing_timestamps(self):
        with TempDir() as d:
            with running(d, function_yaml("builtin:echo", """
                    interval: 100ms
                    event:
                      body: tick
                      headers:
                        X-Source: edgefn-test
            """)) as proc:
                stamps = []  # each distinct lastTick, in the order observed

                def five_ticks():
                    tick, _ = trigger_status(proc)
                    last = tick["lastTick"]
                    if last is not None and (not stamps or last != stamps[-1]):
                        stamps.append(last)
                    return len(stamps) >= 5 and tick["ticks"] >= 5

                wait_for(five_ticks, TICK_TIMEOUT, interval=0.02, what="five ticks")
                # ISO-8601 UTC with milliseconds sorts as text: every tick
                # carried a later timestamp than the one before.
                self.assertEqual(stamps, sorted(stamps))

                tick, pool = trigger_status(proc)
                self.assertEqual(tick["kind"], "cron")
                self.assertEqual(tick["interval"], "100ms")
                self.assertIsNotNone(tick["nextTick"])
                self.assertEqual(set(tick["lateness"]), {"p50Seconds", "p99Seconds", "maxSeconds"})
                self.assertEqual(tick["failed"], 0)
                wait_for(lambda: sum(w["events"] for w in trigger_status(proc)[1]["workers"]) >= 5,
                         TICK_TIMEOUT, what="five events in the pool")

                code, body = proc.get_management("/metrics")
                self.assertEqual(code, 200)
                text = body.decode()
                m = re.search(r'^edgefn_cron_ticks_total\{trigger="tick"\} (\d+)$', text, re.M)
                self.assertTrue(m, text)
                self.assertGreaterEqual(int(m.group(1)), 5)
                self.assertRegex(text, r'edgefn_cron_lateness_seconds_count\{trigger="tick"\} \d+')
                self.assertRegex(text, r'edgefn_events_total\{result="success",trigger="tick"\} \d+|'
                                       r'edgefn_events_total\{trigger="tick",result="success"\} \d+')

                self.assertEqual(proc.terminate(), 0, proc.log())

    def test_slow_handler_makes_ticks_missed_not_queued(self):
        with TempDir() as d:
            # builtin:sleep sleeps for the body's milliseconds: each tick
            # outlives several intervals.
            with running(d, function_yaml("builtin:sleep", """
                    interval: 100ms
                    event:
                      body: "350"
            """)) as proc:
                def missed_twice():
                    tick, pool = trigger_status(proc)
                    # Serialised: never more than one tick out, never a queue.
                    self.assertLessEqual(tick["inFlight"], 1)
                    self.assertEqual(pool["waiting"], 0)
                    return tick["missed"] >= 2 and tick["ticks"] >= 2

                wait_for(missed_twice, TICK_TIMEOUT, interval=0.02, what="missed ticks")
                proc.wait_log(r"trigger\.cron\.tick.*missed \d+ tick\(s\)")
                code, body = proc.get_management("/metrics")
                self.assertRegex(body.decode(), r'edgefn_cron_missed_ticks_total\{trigger="tick"\} [1-9]')


class ScheduleTest(unittest.TestCase):
    def test_six_field_schedule_ticks_on_the_wall_clock(self):
        with TempDir() as d:
            with running(d, function_yaml("builtin:echo", """
                    schedule: "CRON_TZ=UTC */1 * * * * *"
            """)) as proc:
                wait_for(lambda: trigger_status(proc)[0]["ticks"] >= 2, TICK_TIMEOUT, what="two ticks")
                # nextTick is null while a tick is being handled.
                tick = wait_for(lambda: (lambda t: t if t["nextTick"] else None)(trigger_status(proc)[0]),
                                TICK_TIMEOUT, what="a planned next tick")
                self.assertEqual(tick["schedule"], "CRON_TZ=UTC */1 * * * * *")
                self.assertEqual(tick["timezone"], "UTC")
                # Scheduled instants are whole seconds.
                self.assertRegex(tick["nextTick"], r"T\d\d:\d\d:\d\d\.000Z$")


class ValidateTest(unittest.TestCase):
    def validate(self, attributes):
        with TempDir() as d:
            path = write_function(d, function_yaml("builtin:echo", attributes))
            r = run_cli("validate", "--config", path)
            return r.returncode, r.stdout + r.stderr

    def test_bad_schedule_names_the_field_at_file_line_col(self):
        code, out = self.validate("""
                    schedule: "*/5 61 * * *"
        """)
        self.assertEqual(code, 2, out)
        self.assertIn("function.yaml:10:19: spec.triggers.tick.attributes.schedule: invalid schedule "
                      "'*/5 61 * * *': hour field '61': 61 is above the maximum 23", out)

    def test_interval_and_schedule_together_are_an_error(self):
        code, out = self.validate("""
                    interval: 10s
                    schedule: "@hourly"
        """)
        self.assertEqual(code, 2, out)
        self.assertIn("function.yaml:11:19: spec.triggers.tick.attributes.schedule: interval (line 10) and "
                      "schedule are mutually exclusive", out)

    def test_neither_interval_nor_schedule_is_an_error(self):
        code, out = self.validate("""
                    event:
                      body: x
        """)
        self.assertEqual(code, 2, out)
        self.assertIn("function.yaml:10:9: spec.triggers.tick.attributes: cron trigger 'tick' needs "
                      "attributes.interval", out)

    def test_good_schedule_validates(self):
        code, out = self.validate("""
                    schedule: "0 9 * * MON-FRI"
                    timezone: Europe/Berlin
        """)
        self.assertEqual(code, 0, out)


if __name__ == "__main__":
    unittest.main()
