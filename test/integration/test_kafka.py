"""The Kafka trigger through the real binary and kafka-mock, librdkafka's
mock cluster (kafka_support.py): a keyed stream over several partitions
handled completely and in order per key, the event's key, headers and
offsets in native, Python and shell handlers, a restart that resumes from
the committed offsets, a kill -9 mid-stream, two processors sharing a
consumer group, explicit acknowledgements, and the configuration and
connection errors a user meets first. Broker faults and the failure
policy are test_kafka_faults.py's.

Handlers that must outlive a processor record what they handled in a file
(one O_APPEND write per event, so a SIGKILL cannot cut a line); the
others answer on a responseTopic that the test reads with kcat."""
import json
import os
import re
import textwrap
import unittest

from kafka_support import FAST_RECONNECT, KafkaMock, kcat_consume
from stream_verifier import StreamVerifier
from support import Processor, TempDir, run_cli, wait_for, write_stream_function

TIMEOUT = 60.0
# The mock assigns a new group's partitions about 3 s after the first join
# and moves a dead member's partitions once its session (6 s) expires.
GROUP_TIMEOUT = 45.0
# librdkafka's backoff defaults (up to 10 s) would only slow the tests down.
HANDLERS = textwrap.dedent('''
    import json
    import os
    import time

    import nuclio_sdk


    def _text(value):
        return value.decode("latin-1") if isinstance(value, bytes) else str(value)


    def _append(line):
        fd = os.open(os.environ["RECORD_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


    def init_context(context):
        # Nuclio calls it when the processor drains and when a rebalance
        # takes partitions away.
        context.platform.set_drain_callback(lambda: context.logger.info("drain callback ran"))


    def record(context, event):
        """Sleeps SLEEP_MS, then records "<body> <partition> <offset> <who>"."""
        time.sleep(int(os.environ.get("SLEEP_MS", "0")) / 1000)
        _append(f"{_text(event.body)} {event.shard_id} {event.offset} {os.environ.get('WHO', '-')}\\n")
        return ""


    def describe(context, event):
        """Answers with what the handler saw."""
        key = getattr(event, "key", None)
        return json.dumps({"topic": event.topic, "path": event.path, "url": event.url,
                           "shard_id": event.shard_id, "offset": event.offset,
                           "key": None if key is None else _text(key), "content_type": event.content_type,
                           "headers": {_text(k): _text(v) for k, v in dict(event.headers or {}).items()},
                           "body": _text(event.body)})


    def ack_some(context, event):
        """Records the event; acknowledges it only when its body starts with "ack"."""
        body = _text(event.body)
        _append(f"{body} {event.shard_id} {event.offset} -\\n")
        if body.startswith("ack"):
            context.platform.explicit_ack(nuclio_sdk.QualifiedOffset.from_event(event))
        return ""
''')

# NUCLIO_EVENT_KEY comes with the shell runtime's stream variables; "<unset>"
# tells a missing variable from an empty key.
SHELL_HANDLER = ('printf "topic=%s shard=%s offset=%s key=%s path=%s|" "$NUCLIO_EVENT_TOPIC" '
                 '"$NUCLIO_EVENT_SHARD_ID" "$NUCLIO_EVENT_OFFSET" "${NUCLIO_EVENT_KEY-<unset>}" "$NUCLIO_EVENT_PATH"\n'
                 'cat\n')


def function_yaml(directory, brokers, attributes, runtime="python", handler="handlers:record", workers=2,
                  env=None, trigger_extra=None, name="kafkafn"):
    """Writes handlers.py, reply.sh and function.yaml (one kafka-cluster
    trigger named "stream", no HTTP trigger) into `directory`; returns the
    path."""
    with open(os.path.join(directory, "handlers.py"), "w") as f:
        f.write(HANDLERS)
    with open(os.path.join(directory, "reply.sh"), "w") as f:
        f.write(SHELL_HANDLER)
    env = {"RECORD_FILE": os.path.join(directory, "records.txt"), **(env or {})}
    attributes = {"sessionTimeout": "6s", "heartbeatInterval": "1s", "librdkafka": FAST_RECONNECT, **attributes}
    trigger = {"kind": "kafka-cluster", "url": brokers, "numWorkers": workers, "attributes": attributes,
               **(trigger_extra or {})}
    return write_stream_function(directory, name, runtime, handler, env, "stream", trigger)


def read_records(path):
    """The handler's records as (body, partition, offset, who); a line cut
    short (none should be) is skipped."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if line.endswith("\n") and len(parts) == 4:
                    out.append((parts[0], int(parts[1]), int(parts[2]), parts[3]))
    except FileNotFoundError:
        pass
    return out


def trigger_status(proc):
    (trigger,) = [t for t in proc.status()["triggers"] if t["name"] == "stream"]
    return trigger


class KafkaTestCase(unittest.TestCase):
    """Each test gets a temp dir and its own mock cluster; processors
    started through processor() are stopped at the end, even on failure,
    and their logs printed when the test failed."""

    topics = {}

    def setUp(self):
        self._stack = []
        self._procs = []
        self.dir = self.enter(TempDir())
        self.kafka = self.enter(KafkaMock(brokers=3, topics=self.topics))
        self.records_path = os.path.join(self.dir, "records.txt")

    def tearDown(self):
        result = self._outcome.result
        if any(test is self for test, _ in result.failures + result.errors):
            for proc in self._procs:
                print(f"--- processor log ({proc.config_path}), last 4000 characters:\n{proc.log()[-4000:]}")
        while self._stack:
            self._stack.pop().__exit__(None, None, None)

    def enter(self, manager):
        value = manager.__enter__()
        self._stack.append(manager)
        return value

    def processor(self, attributes, directory=None, ready=True, brokers=None, args=(), **kwargs):
        """A processor for the function function_yaml() writes; `ready`:
        wait for /ready 200, which needs the group's assignment; `args`:
        more command-line arguments."""
        config = function_yaml(directory or self.dir, brokers or self.kafka.bootstrap, attributes, **kwargs)
        proc = Processor(config, *args, expect_ready=False)
        self._stack.append(proc)
        self._procs.append(proc)
        proc.__enter__()
        if ready:
            self.wait_ready(proc)
        return proc

    def wait_ready(self, proc):
        try:
            wait_for(lambda: proc.get_management("/ready")[0] == 200, GROUP_TIMEOUT, interval=0.1,
                     what="/ready 200 (a group member)")
        except AssertionError:
            raise AssertionError("processor not ready:\n" + proc.log()[-4000:]) from None

    def wait_handled(self, verifier, timeout=TIMEOUT):
        """Feeds the records to `verifier` until every published message
        was handled at least once; returns the records and the report."""
        def complete():
            for body, *_ in read_records(self.records_path)[verifier.received_count():]:
                verifier.received(body)
            return verifier.all_received()
        try:
            wait_for(complete, timeout, interval=0.1, what="every message handled")
        except AssertionError:
            raise AssertionError(f"not every message handled: {verifier.report()}") from None
        return read_records(self.records_path), verifier.report()

    def wait_replies(self, topic, count):
        """Waits until `topic` holds `count` messages; returns them as
        (partition, key, headers, value) from kcat."""
        wait_for(lambda: sum(self.kafka.end_offsets(topic).values()) >= count, TIMEOUT, interval=0.1,
                 what=f"{count} replies on {topic}")
        # \x1e ends a message: a value may hold newlines.
        out = kcat_consume(self.kafka.bootstrap, topic, "%p\t%k\t%h\t%s\x1e").decode("latin-1")
        return [tuple(message.split("\t", 3)) for message in out.split("\x1e")[:-1]]


def offsets_by_partition(records):
    by = {}
    for _, partition, offset, _ in records:
        by.setdefault(partition, []).append(offset)
    return by


class DeliveryTest(KafkaTestCase):
    topics = {"orders": 4}

    def test_a_keyed_stream_over_four_partitions_is_handled_once_in_order_and_committed(self):
        count, keys = 2000, 8
        self.assertEqual(self.kafka.produce_seq("orders", count, keys), count)
        v = StreamVerifier()
        v.published_seq(count, keys)
        proc = self.processor({"topics": ["orders"], "consumerGroup": "all"})
        records, report = self.wait_handled(v)
        print("2000 over 4 partitions:", report)
        self.assertEqual((report.n, report.received, report.lost_count, report.duplicated, report.reordered),
                         (count, count, 0, 0, 0), report)
        by = offsets_by_partition(records)
        end = self.kafka.end_offsets("orders")
        # Every partition got some keys; each was handled in offset order, every offset once.
        self.assertEqual(sorted(by), [0, 1, 2, 3], end)
        for partition, offsets in by.items():
            self.assertEqual(offsets, list(range(end[partition])), f"partition {partition}")
        self.assertEqual(self.kafka.wait_committed("all", "orders", timeout=TIMEOUT), end)
        # /status refreshes the partitions' figures every second.
        status = wait_for(lambda: (lambda s: s if {p["partition"]: p["committable"] for p in s["partitions"]} == end
                                   else None)(trigger_status(proc)), TIMEOUT, interval=0.2,
                          what=f"/status committable {end}")
        self.assertEqual((status["state"], status["assignedPartitions"], status["inFlight"]), ("member", 4, 0))
        self.assertGreater(status["commits"], 0)
        self.assertEqual(status["rebalances"]["lost"], 0)


class EventFieldsTest(KafkaTestCase):
    topics = {"events": 4}

    def test_key_headers_topic_partition_and_offset_reach_native_python_and_shell_handlers(self):
        # Two messages on partition 3 (offsets 0 and 1), with headers.
        self.assertEqual(self.kafka.produce("events", "sensor-1", "temp=21.5", partition=3,
                                            headers={"trace": "abc 1", "content-type": "text/plain"}), (3, 0))
        self.assertEqual(self.kafka.produce("events", "sensor-2", "line one\nline two", partition=3,
                                            headers=[("trace", "def")]), (3, 1))
        runtimes = {"native": ("native", f"{os.environ['EDGEFN_TEST_HANDLER']}:stream_fields"),
                    "python": ("python", "handlers:describe"),
                    "shell": ("shell", "reply.sh:main")}
        procs = []
        for name, (runtime, handler) in runtimes.items():
            procs.append(self.processor({"topics": ["events"], "consumerGroup": f"fields-{name}",
                                         "responseTopic": f"replies-{name}"},
                                        directory=self.enter(TempDir()), runtime=runtime, handler=handler,
                                        ready=False))
        for proc in procs:
            self.wait_ready(proc)
        replies = {name: sorted(self.wait_replies(f"replies-{name}", 2)) for name in runtimes}

        # Native (the C ABI): topic, key (in hex), partition and offset.
        by_key = {k: v for _, k, _, v in replies["native"]}
        self.assertRegex(by_key["sensor-1"], r"^topic=events key=%s shard=3 offset=0 ts=\d+$" % b"sensor-1".hex())
        self.assertRegex(by_key["sensor-2"], r"^topic=events key=%s shard=3 offset=1 ts=\d+$" % b"sensor-2".hex())

        # Python: Nuclio's names, the headers, the key (event.key).
        seen = {k: json.loads(v) for _, k, _, v in replies["python"]}
        first, second = seen["sensor-1"], seen["sensor-2"]
        self.assertEqual((first["topic"], first["path"], first["shard_id"], first["offset"]),
                         ("events", "events", 3, 0))
        self.assertEqual((second["shard_id"], second["offset"], second["body"]), (3, 1, "line one\nline two"))
        self.assertEqual(first["body"], "temp=21.5")
        self.assertEqual({k.lower(): v for k, v in first["headers"].items()},
                         {"trace": "abc 1", "content-type": "text/plain"})
        self.assertEqual(first["content_type"], "text/plain")
        self.assertEqual(second["headers"], {"trace": "def"})
        self.assertEqual(first["url"], self.kafka.bootstrap)
        self.assertEqual((first["key"], second["key"]), ("sensor-1", "sensor-2"), "event.key")

        # Shell: NUCLIO_EVENT_* variables, the value on stdin.
        shell = {k: v for _, k, _, v in replies["shell"]}
        self.assertEqual(shell["sensor-1"], "topic=events shard=3 offset=0 key=sensor-1 path=events|temp=21.5")
        self.assertEqual(shell["sensor-2"],
                         "topic=events shard=3 offset=1 key=sensor-2 path=events|line one\nline two")

        # Replies keep the input's key, so they land where the key hashes.
        for name, got in replies.items():
            self.assertEqual(sorted(k for _, k, _, _ in got), ["sensor-1", "sensor-2"], name)


class RestartTest(KafkaTestCase):
    topics = {"resume": 4}

    def test_after_a_sigterm_a_restart_handles_only_what_was_produced_since(self):
        attributes = {"topics": ["resume"], "consumerGroup": "resumer"}
        self.assertEqual(self.kafka.produce_seq("resume", 400, 8), 400)
        proc = self.processor(attributes, env={"WHO": "first"})
        end_a = self.kafka.wait_committed("resumer", "resume", timeout=TIMEOUT)
        self.assertEqual(proc.terminate(), 0, proc.log())
        self.assertEqual(self.kafka.committed("resumer", "resume"), end_a)
        self.assertEqual(len(read_records(self.records_path)), 400)

        self.assertEqual(self.kafka.produce_seq("resume", 200, 8), 200)
        end_b = self.kafka.end_offsets("resume")
        expected = sorted((p, o) for p in end_b for o in range(end_a[p], end_b[p]))
        self.assertEqual(len(expected), 200)
        proc = self.processor(attributes, env={"WHO": "second"})
        self.assertEqual(self.kafka.wait_committed("resumer", "resume", timeout=TIMEOUT), end_b)
        second = [(p, o) for _, p, o, who in read_records(self.records_path) if who == "second"]
        # Nothing committed came back; everything new came once.
        self.assertEqual(sorted(second), expected)
        self.assertEqual(proc.terminate(), 0, proc.log())


class KillTest(KafkaTestCase):
    topics = {"crash": 4}

    def test_kill_9_mid_stream_then_a_restart_handles_every_message_at_least_once(self):
        count, keys = 600, 8
        attributes = {"topics": ["crash"], "consumerGroup": "crasher"}
        self.assertEqual(self.kafka.produce_seq("crash", count, keys), count)
        v = StreamVerifier()
        v.published_seq(count, keys)
        proc = self.processor(attributes, env={"WHO": "first", "SLEEP_MS": "10"})
        wait_for(lambda: len(read_records(self.records_path)) >= 150, TIMEOUT, interval=0.05,
                 what="150 messages handled")
        proc.proc.kill()
        proc.proc.wait(10)
        handled_first = len(read_records(self.records_path))
        self.assertLess(handled_first, count, "the stream was over before the kill")
        # The dead member's partitions move once its session expires.
        self.processor(attributes, env={"WHO": "second"})
        records, report = self.wait_handled(v)
        print(f"kill -9 after {handled_first} handled, restart:", report)
        self.assertEqual(report.lost_count, 0, report)
        self.assertTrue(any(who == "second" for *_, who in records))
        self.assertEqual(self.kafka.wait_committed("crasher", "crash", timeout=TIMEOUT),
                         self.kafka.end_offsets("crash"))


class GroupTest(KafkaTestCase):
    topics = {"shared": 4}

    def test_two_processors_split_the_partitions_and_one_takes_all_over_when_the_other_stops(self):
        attributes = {"topics": ["shared"], "consumerGroup": "pair"}
        procs = {who: self.processor(attributes, directory=self.enter(TempDir()), ready=False,
                                     env={"WHO": who, "RECORD_FILE": self.records_path, "SLEEP_MS": "10"})
                 for who in ("a", "b")}

        def split():
            counts = {who: trigger_status(p)["assignedPartitions"] for who, p in procs.items()}
            return counts if min(counts.values()) > 0 and sum(counts.values()) == 4 else None
        counts = wait_for(split, GROUP_TIMEOUT, interval=0.2, what="the partitions split between a and b")
        for proc in procs.values():
            self.wait_ready(proc)

        v = StreamVerifier()
        self.assertEqual(self.kafka.produce_seq("shared", 400, 8), 400)
        v.published_seq(400, 8)

        def handled_by(who):
            return [r for r in read_records(self.records_path) if r[3] == who]
        # Mid-stream, both handling their own partitions: a stops.
        wait_for(lambda: len(handled_by("a")) >= 20 and len(handled_by("b")) >= 20, TIMEOUT, interval=0.05,
                 what="a and b each handled 20")
        partitions = {who: {r[1] for r in handled_by(who)} for who in procs}
        self.assertFalse(partitions["a"] & partitions["b"], f"a and b handled the same partition: {partitions}")
        drains_before = procs["b"].log().count("drain callback ran")
        self.assertEqual(procs["a"].terminate(), 0, procs["a"].log())
        wait_for(lambda: trigger_status(procs["b"])["assignedPartitions"] == 4, GROUP_TIMEOUT, interval=0.2,
                 what="b took all 4 partitions")
        # The rebalance took b's own partitions away before it gave them all
        # back: its handler's drain callback ran then.
        wait_for(lambda: procs["b"].log().count("drain callback ran") > drains_before, TIMEOUT, interval=0.1,
                 what="b's drain callback ran in the rebalance")

        # After: keyed messages of their own, partitioned by key.
        for i in range(200):
            key = f"after{i % 8}"
            self.kafka.produce("shared", key, f"{key}:{i // 8}")
            v.published(key, i // 8)
        records, report = self.wait_handled(v)
        print(f"two processors (split {counts}), a stopped mid-stream:", report)
        self.assertEqual(report.lost_count, 0, report)
        self.assertEqual(self.kafka.wait_committed("pair", "shared", timeout=TIMEOUT),
                         self.kafka.end_offsets("shared"))
        after_by = {r[3] for r in records if r[0].startswith("after")}
        self.assertEqual(after_by, {"b"})


class ExplicitAckTest(KafkaTestCase):
    topics = {"acks": 2}

    def test_explicit_only_commits_through_the_last_acknowledged_offset(self):
        bodies = {0: ["ack-0", "ack-1", "hold-2", "ack-3", "hold-4", "hold-5"], 1: ["hold-0", "hold-1"]}
        for partition, values in bodies.items():
            for value in values:
                self.kafka.produce("acks", "k", value, partition=partition)
        attributes = {"topics": ["acks"], "consumerGroup": "ackers"}
        # Held events never get their ack: SIGTERM's drain waits for them
        # until its deadline, then commits what was acknowledged.
        run = dict(handler="handlers:ack_some", trigger_extra={"explicitAckMode": "explicitOnly"},
                   args=("--drain-timeout", "1s"))
        proc = self.processor(attributes, **run)
        wait_for(lambda: len(read_records(self.records_path)) >= 8, TIMEOUT, interval=0.05, what="8 events handled")

        def committable():
            return {p["partition"]: p["committable"] for p in trigger_status(proc)["partitions"]}
        # An ack covers the offsets before it (as a Kafka commit does): offset 3's covers hold-2.
        wait_for(lambda: committable() == {0: 4, 1: -1}, TIMEOUT, interval=0.2,
                 what="committable {0: 4, 1: -1} in /status")
        self.assertEqual(proc.terminate(), 0, proc.log())
        self.assertEqual(self.kafka.committed("ackers", "acks"), {0: 4, 1: -1})

        # What was never acknowledged comes again, and only that.
        proc = self.processor(attributes, **run)
        wait_for(lambda: len(read_records(self.records_path)) >= 12, TIMEOUT, interval=0.05,
                 what="the 4 unacknowledged events again")
        again = sorted(r[:3] for r in read_records(self.records_path)[8:])
        self.assertEqual(again, [("hold-0", 1, 0), ("hold-1", 1, 1), ("hold-4", 0, 4), ("hold-5", 0, 5)])
        self.assertEqual(proc.terminate(), 0, proc.log())
        self.assertEqual(self.kafka.committed("ackers", "acks"), {0: 4, 1: -1})
        self.assertEqual(len(read_records(self.records_path)), 12)


BAD_CONFIG = """\
metadata:
  name: badkafka
spec:
  runtime: native
  handler: builtin:echo
  disableDefaultHTTPTrigger: true
  triggers:
    stream:
      kind: kafka-cluster
      url: 127.0.0.1:9092
      attributes:
        topics: [orders]
        consumerGroup: g1
        {line14}
"""


class ErrorsTest(KafkaTestCase):
    topics = {"present": 2}

    def test_an_unreachable_broker_keeps_the_daemon_up_and_not_ready_with_the_reason(self):
        proc = self.processor({"topics": ["orders"], "consumerGroup": "nobody"}, brokers="127.0.0.1:1",
                              runtime="native", handler="builtin:echo", ready=False)
        proc.wait_log(r"trigger\.kafka\.stream: no broker of 127\.0\.0\.1:1 is reachable", timeout=TIMEOUT)
        status = wait_for(lambda: (lambda s: s if "no broker is reachable" in s["reason"] else None)(
            trigger_status(proc)), TIMEOUT, interval=0.2, what="/status reason: no broker is reachable")
        self.assertFalse(status["ready"])
        self.assertEqual(status["assignedPartitions"], 0)
        for _ in range(3):
            self.assertEqual(proc.get_management("/ready")[0], 503)
        code, body = proc.get_management("/live")
        self.assertEqual(code, 200, body)
        self.assertIsNone(proc.proc.poll())

    def absent_topic_processor(self):
        """A processor subscribed to "present" and "absent", a topic the
        brokers answer UNKNOWN_TOPIC_OR_PART for (the mock would otherwise
        create any topic a consumer asks about)."""
        self.kafka.set_topic_error("absent", "UNKNOWN_TOPIC_OR_PART")
        proc = self.processor({"topics": ["present", "absent"], "consumerGroup": "seeker"},
                              runtime="native", handler="builtin:echo", ready=False)
        proc.wait_log(r"trigger\.kafka\.stream: topic 'absent': .*UNKNOWN_TOPIC_OR_PART.*waiting for it",
                      timeout=GROUP_TIMEOUT)
        # Member of the group, with present's partitions, and still not ready.
        wait_for(lambda: trigger_status(proc)["assignedPartitions"] == 2, GROUP_TIMEOUT, interval=0.2,
                 what="present's 2 partitions assigned")
        return proc

    def test_a_topic_that_does_not_exist_is_logged_and_not_ready_until_it_does(self):
        proc = self.absent_topic_processor()
        for _ in range(3):
            self.assertEqual(proc.get_management("/ready")[0], 503)
        self.assertFalse(trigger_status(proc)["ready"])
        self.assertIsNone(proc.proc.poll())
        # The topic comes into being: its partitions are assigned, and the trigger is ready.
        self.kafka.set_topic_error("absent", "0")
        self.wait_ready(proc)
        self.assertEqual(trigger_status(proc)["assignedPartitions"], 6)

    def test_the_status_reason_names_a_topic_that_does_not_exist_after_the_assignment(self):
        # An assignment of the other topic's partitions once cleared the
        # reason while the unknown topic kept /ready at 503.
        proc = self.absent_topic_processor()
        status = trigger_status(proc)
        self.assertFalse(status["ready"])
        self.assertIn("absent", status["reason"])

    def assert_refused(self, line, at, pattern):
        """With `line` as line 14 of BAD_CONFIG, `processor validate` and a
        start both exit 2 naming file:14:<column of `at` in it> and
        `pattern`."""
        path = os.path.join(self.dir, "function.yaml")
        with open(path, "w") as f:
            f.write(BAD_CONFIG.format(line14=line))
        column = len("        ") + line.index(at) + 1
        for args in (("validate", "--config", path), ("--config", path, "--management-address", "127.0.0.1:0")):
            r = run_cli(*args)
            out = r.stdout + r.stderr
            self.assertEqual(r.returncode, 2, out)
            self.assertRegex(out, re.escape(f"{path}:14:{column}: ") + ".*" + pattern)

    def test_an_unknown_librdkafka_property_is_refused_with_librdkafkas_message(self):
        self.assert_refused("librdkafka: {fetch.wait.max.ms: 50, no.such.property: 1}", "1}",
                            r"librdkafka refuses no\.such\.property=1: "
                            r'No such configuration property: "no\.such\.property"')

    def test_an_invalid_librdkafka_value_is_refused_with_librdkafkas_message(self):
        self.assert_refused("librdkafka: {fetch.wait.max.ms: lots}", "lots",
                            r'librdkafka refuses fetch\.wait\.max\.ms=lots: Invalid value for configuration property')

    def test_cooperative_sticky_is_refused_before_librdkafka_2_3_0(self):
        self.assert_refused("balanceStrategy: cooperative-sticky", "cooperative",
                            r"cooperative-sticky needs librdkafka 2\.3\.0 or later; this is 2\.\d+\.\d+.*"
                            r"range or roundrobin")
        self.assert_refused("librdkafka: {partition.assignment.strategy: cooperative-sticky}", "{",
                            r"cooperative-sticky needs librdkafka 2\.3\.0 or later")

    def test_sticky_is_refused_naming_the_alternatives(self):
        self.assert_refused("balanceStrategy: sticky", "sticky", r"no eager sticky strategy; use range, roundrobin or "
                            r"cooperative-sticky")


if __name__ == "__main__":
    unittest.main()
