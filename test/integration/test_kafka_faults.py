"""The Kafka trigger under faults, through the real binary and kafka-mock
(librdkafka's mock cluster, kafka_support.py): a stream keeps every
message in per-key order while a leader's broker goes down and comes
back, leaders move, OffsetCommit and Fetch requests fail and a broker
answers slowly; the onError policies (retry then skip, skip, dead
letter with its headers) and per-partition order during a retry; the
response topic; backpressure with maxInFlight.

Handlers are Python; each records what it handled in a file, one
O_APPEND write per event: partition, offset, attempt time and the head
of the body. Delivery, restarts, kill -9, two processors and bad
configuration are test_kafka.py's.

Two tests guard bugs these tests found: inFlight overshooting maxInFlight
by whole poll batches, and a fatal producer error stopping responses and
dead letters for good."""
import json
import os
import re
import textwrap
import threading
import time
import unittest

from kafka_support import FAST_RECONNECT, KafkaMock, kcat_consume
from stream_verifier import StreamVerifier, parse_payload
from support import SANITIZER, Processor, TempDir, read_json_lines, wait_for, write_stream_function

START_TIMEOUT = 60.0    # the mock assigns a new group's partitions ~3 s after the join
HANDLED_TIMEOUT = 120.0
TRIGGER = "stream"

HANDLERS = textwrap.dedent('''
    import json
    import os
    import time


    def _body(event):
        return event.body if isinstance(event.body, bytes) else str(event.body).encode()


    def _record(event):
        line = json.dumps({"p": event.shard_id, "o": event.offset, "t": event.topic, "at": time.time(),
                           "head": _body(event)[:48].decode("latin-1")}) + "\\n"
        fd = os.open(os.environ["RECORD_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


    def record(context, event):
        """Records the event, sleeps SLEEP_MS; answers nothing."""
        _record(event)
        time.sleep(int(os.environ.get("SLEEP_MS", "0")) / 1000)
        return ""


    def flaky(context, event):
        """Records the event; a body starting with "bad" fails with a 500."""
        _record(event)
        if _body(event).startswith(b"bad"):
            return context.Response(body="marked bad", status_code=500)
        return ""


    def reply(context, event):
        """"empty..." answers nothing, "client..." a 404 without a body,
        anything else "re:" and the body."""
        _record(event)
        body = _body(event)
        if body.startswith(b"empty"):
            return ""
        if body.startswith(b"client"):
            return context.Response(body="", status_code=404)
        return b"re:" + body
''')


def function_yaml(directory, bootstrap, topics, group, handler="record", workers=1, attributes=None, env=None):
    """Writes handlers.py and function.yaml (one kafka-cluster trigger named
    "stream", no HTTP trigger); returns the path of function.yaml."""
    with open(os.path.join(directory, "handlers.py"), "w") as f:
        f.write(HANDLERS)
    attrs = {"topics": topics, "consumerGroup": group, "initialOffset": "earliest", "sessionTimeout": "6s",
             "heartbeatInterval": "1s", "commitInterval": "200ms",
             "librdkafka": FAST_RECONNECT,
             **(attributes or {})}
    env = {"RECORD_FILE": os.path.join(directory, "records.jsonl"), **(env or {})}
    trigger = {"kind": "kafka-cluster", "url": bootstrap, "numWorkers": workers, "attributes": attrs}
    return write_stream_function(directory, "kafkafaults", "python", "handlers:" + handler, env, TRIGGER, trigger)


def read_records(directory):
    """The handler's records, in the order they were written."""
    return read_json_lines(os.path.join(directory, "records.jsonl"))


def metric(text, name, **labels):
    """The value of one Prometheus sample, or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name):line.index("}") + 1]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def all_committed(kafka, group, topic):
    """True once `group` committed the end of every non-empty partition."""
    committed = kafka.committed(group, topic)
    return all(committed.get(p) == end or end == 0 for p, end in kafka.end_offsets(topic).items())


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class KafkaFaultsTest(unittest.TestCase):
    def setUp(self):
        self._stack = []
        self.dir = self.enter(TempDir())

    def tearDown(self):
        while self._stack:
            self._stack.pop().__exit__(None, None, None)

    def enter(self, manager):
        value = manager.__enter__()
        self._stack.append(manager)
        return value

    def cluster(self, topics, brokers=3):
        return self.enter(KafkaMock(brokers=brokers, topics=topics))

    def processor(self, kafka, topics, group, **kwargs):
        """A processor on `kafka`, returned once /ready says it is a member
        of `group` with partitions assigned."""
        config = function_yaml(self.dir, kafka.bootstrap, topics, group, **kwargs)
        proc = Processor(config, expect_ready=False)
        self.enter(proc)
        self.addCleanup(lambda: self._print_on_failure(proc))
        try:
            wait_for(lambda: proc.get_management("/ready")[0] == 200 or proc.proc.poll() is not None,
                     START_TIMEOUT, interval=0.1, what="/ready 200")
        except AssertionError:
            raise AssertionError("processor not ready:\n" + proc.log()[-4000:]) from None
        self.assertIsNone(proc.proc.poll(), proc.log()[-4000:])
        return proc

    def _print_on_failure(self, proc):
        outcome = getattr(self, "_outcome", None)
        if outcome is not None and not getattr(outcome, "success", True):
            print("--- processor log:\n" + proc.log()[-6000:])

    def trigger_status(self, proc):
        return next(t for t in proc.status()["triggers"] if t.get("name") == TRIGGER)

    def wait_handled(self, count, timeout=HANDLED_TIMEOUT):
        """Waits until `count` records are in the file; returns them."""
        return wait_for(lambda: (lambda r: r if len(r) >= count else None)(read_records(self.dir)), timeout,
                        interval=0.05, what=f"{count} records")

    # -- 1. broker faults while a stream runs ---------------------------------------

    def test_broker_faults_mid_stream_lose_and_reorder_nothing(self):
        topic, group, keys, per_round = "orders", "faults", 16, 500
        kafka = self.cluster({topic: 4})
        # Partition 0's leader is broker 1: the broker that goes down.
        kafka.set_leader(topic, 0, 1)
        kafka.set_coordinator("group", group, 1)  # and the group's coordinator
        proc = self.processor(kafka, [topic], group, workers=2)
        verifier = StreamVerifier()
        round_ends = []  # {partition: end offset} after each round

        def produce_round():
            index = len(round_ends)
            self.assertEqual(kafka.produce_seq(topic, per_round, keys), per_round)
            verifier.published_seq(per_round, keys, prefix=f"r{index}k")
            round_ends.append(kafka.end_offsets(topic))

        def handling():
            """Waits until some of the last round was handled (so the next
            fault hits a running stream), within a generous bound."""
            wait_for(lambda: len(read_records(self.dir)) > (len(round_ends) - 1) * per_round, HANDLED_TIMEOUT,
                     interval=0.05, what="the stream being handled")

        for _ in range(5):  # the leader's broker down for 2 s, five times
            produce_round()
            handling()
            kafka.broker_down(1)
            time.sleep(2)  # the fault's length, not a wait for a condition
            kafka.broker_up(1)
        produce_round()
        handling()
        for partition in range(4):  # every leader moves
            kafka.set_leader(topic, partition, 1 + (partition + 1) % 3)
        produce_round()
        handling()
        kafka.push_errors("OffsetCommit", 5, "NOT_COORDINATOR")
        kafka.push_errors("Fetch", 5, "NOT_LEADER_FOR_PARTITION")
        produce_round()
        handling()
        kafka.push_errors("OffsetCommit", 3, "REQUEST_TIMED_OUT")
        kafka.set_rtt(2, 500)
        produce_round()
        handling()
        kafka.set_rtt(2, 0)

        end = kafka.wait_committed(group, topic, timeout=HANDLED_TIMEOUT)
        self.assertEqual(end, round_ends[-1])
        records = read_records(self.dir)
        for r in records:
            key, seq = parse_payload(r["head"])
            index = next(i for i, ends in enumerate(round_ends) if r["o"] < ends[r["p"]])
            verifier.received(f"r{index}{key}", seq)
        report = verifier.assert_complete(allow_reordered=False)
        print(f"broker faults: {report}")
        self.assertEqual((report.lost_count, report.reordered), (0, 0), str(report))
        self.assertIsNone(proc.proc.poll(), "the processor exited")
        status = self.trigger_status(proc)
        print(f"broker faults: commits={status['commits']} commitsFailed={status['commitsFailed']} "
              f"rebalances={status['rebalances']}")
        self.assertEqual(status["state"], "member")
        # The faults reached the consumer: its group coordinator (broker 1) went away.
        self.assertRegex(proc.log(), r"GroupCoordinator: 127\.0\.0\.1:\d+: (Disconnected|Connect to)")
        wait_for(lambda: proc.get_management("/ready")[0] == 200, START_TIMEOUT, interval=0.1, what="/ready 200")

    # -- 2. onError ------------------------------------------------------------------

    def produce_marked(self, kafka, topic):
        """good-0, bad-1 (with headers), good-2..good-5 to partition 0 and
        four good ones to partition 1; returns bad-1's offset."""
        kafka.produce(topic, "k0", "good-0", partition=0)
        _, offset = kafka.produce(topic, "k-bad", "bad-1", partition=0,
                                  headers=[("trace", "t-1"), ("content-type", "text/plain")])
        for i in range(2, 6):
            kafka.produce(topic, f"k{i}", f"good-{i}", partition=0)
        for i in range(4):
            kafka.produce(topic, f"o{i}", f"other-{i}", partition=1)
        return offset

    def assert_given_up(self, proc, kafka, topic, group, outcome, seen):
        """The marked message ran `seen` times, each before good-2; the
        partitions are committed to their end; /status and the metric count
        it once under `outcome`."""
        records = self.wait_handled(10 + seen - 1)
        kafka.wait_committed(group, topic, timeout=HANDLED_TIMEOUT)
        partition0 = [r["head"] for r in records if r["p"] == 0]
        self.assertEqual(partition0, ["good-0"] + ["bad-1"] * seen + [f"good-{i}" for i in range(2, 6)])
        self.assertEqual(sorted(r["head"] for r in records if r["p"] == 1), [f"other-{i}" for i in range(4)])
        status = self.trigger_status(proc)
        field = {"skipped": "skipped", "dead_letter": "deadLettered"}[outcome]
        self.assertEqual(status[field], 1, status)
        self.assertEqual(status["retries"], seen - 1, status)
        _, text = proc.get_management("/metrics")
        self.assertEqual(metric(text.decode(), "edgefn_kafka_failed_events_total", trigger=TRIGGER, outcome=outcome),
                         1.0)
        return records

    def test_retry_then_skip_runs_a_failing_message_three_times_in_partition_order(self):
        topic, group = "orders", "retry"
        kafka = self.cluster({topic: 2})
        proc = self.processor(kafka, [topic], group, handler="flaky", workers=2,
                              attributes={"onError": "retry", "maxRetries": 2, "retryBackoff": "100ms"})
        offset = self.produce_marked(kafka, topic)
        records = self.assert_given_up(proc, kafka, topic, group, "skipped", seen=3)
        # retryBackoff 100ms, doubled per retry: lower bounds only, which a busy machine cannot break.
        attempts = [r["at"] for r in records if r["head"] == "bad-1"]
        gaps = [b - a for a, b in zip(attempts, attempts[1:])]
        self.assertGreaterEqual(gaps[0], 0.1, gaps)
        self.assertGreaterEqual(gaps[1], 0.2, gaps)
        proc.wait_log(rf"gave up on {topic}\[0\] offset {offset} after 3 attempt\(s\).*skipped \(no deadLetterTopic\)",
                      timeout=10)

    def test_skip_runs_a_failing_message_once(self):
        topic, group = "orders", "skip"
        kafka = self.cluster({topic: 2})
        proc = self.processor(kafka, [topic], group, handler="flaky", workers=2,
                              attributes={"onError": "skip", "maxRetries": 5, "retryBackoff": "100ms"})
        offset = self.produce_marked(kafka, topic)
        self.assert_given_up(proc, kafka, topic, group, "skipped", seen=1)
        proc.wait_log(rf"gave up on {topic}\[0\] offset {offset} after 1 attempt\(s\).*skipped", timeout=10)

    def test_dead_letter_keeps_key_value_and_headers_and_adds_the_failure(self):
        topic, group, dead = "orders", "dead", "orders-dead"
        kafka = self.cluster({topic: 2, dead: 1})
        proc = self.processor(kafka, [topic], group, handler="flaky", workers=2,
                              attributes={"onError": "deadLetter", "deadLetterTopic": dead, "retryBackoff": "100ms"})
        offset = self.produce_marked(kafka, topic)
        self.assert_given_up(proc, kafka, topic, group, "dead_letter", seen=1)
        out = kcat_consume(kafka.bootstrap, dead, "%k|%s|%h\n").decode()
        lines = out.splitlines()
        self.assertEqual(len(lines), 1, out)
        key, value, headers = lines[0].split("|", 2)
        self.assertEqual((key, value), ("k-bad", "bad-1"))
        pairs = [h.split("=", 1) for h in headers.split(",")]
        self.assertEqual([p[0] for p in pairs],
                         ["trace", "content-type", "x-edgefn-error", "x-edgefn-topic", "x-edgefn-partition",
                          "x-edgefn-offset", "x-edgefn-attempts", "x-edgefn-trigger"], headers)
        named = dict(pairs)
        self.assertEqual((named["trace"], named["content-type"]), ("t-1", "text/plain"))
        self.assertIn("500", named["x-edgefn-error"])
        self.assertIn("marked bad", named["x-edgefn-error"])
        self.assertEqual((named["x-edgefn-topic"], named["x-edgefn-partition"], named["x-edgefn-offset"],
                          named["x-edgefn-attempts"], named["x-edgefn-trigger"]),
                         (topic, "0", str(offset), "1", TRIGGER))

    # -- 3. responseTopic --------------------------------------------------------------

    def test_response_topic_gets_non_empty_answers_with_the_incoming_key(self):
        topic, group, replies = "orders", "replies", "orders-replies"
        kafka = self.cluster({topic: 2, replies: 1})
        proc = self.processor(kafka, [topic], group, handler="reply", workers=2,
                              attributes={"responseTopic": replies, "retryBackoff": "100ms"})
        sent = [("a", "hello-a", 0), ("b", "empty-b", 0), ("c", "client-c", 0), ("d", "hello-d", 1),
                ("e", "empty-e", 1), ("f", "hello-f", 0)]
        for key, value, partition in sent:
            kafka.produce(topic, key, value, partition=partition)
        self.wait_handled(len(sent))
        kafka.wait_committed(group, topic, timeout=HANDLED_TIMEOUT)
        wait_for(lambda: sum(kafka.end_offsets(replies).values()) >= 3, HANDLED_TIMEOUT, interval=0.1,
                 what="three responses")
        out = kcat_consume(kafka.bootstrap, replies, "%k|%s\n").decode()
        self.assertEqual(sorted(out.splitlines()), ["a|re:hello-a", "d|re:hello-d", "f|re:hello-f"], out)
        # The 404 is an answer: handled once, committed, never retried.
        records = read_records(self.dir)
        self.assertEqual(sorted(r["head"] for r in records), sorted(v for _, v, _ in sent))
        status = self.trigger_status(proc)
        self.assertEqual((status["retries"], status["skipped"], status["deadLettered"]), (0, 0, 0), status)

    # A fatal error of the idempotent producer (here one InitProducerId
    # answered CLUSTER_AUTHORIZATION_FAILED) is final for that librdkafka
    # handle: the trigger must start a new producer rather than retry the
    # response on the dead one for ever.
    def test_responses_go_out_after_a_fatal_producer_error(self):
        topic, group, replies = "orders", "fatal", "orders-replies"
        kafka = self.cluster({topic: 1, replies: 1})
        proc = self.processor(kafka, [topic], group, handler="reply",
                              attributes={"responseTopic": replies, "retryBackoff": "200ms"})
        # kafka-mock's own producer has its producer id now: the next
        # InitProducerId is the trigger's, made for the first response.
        kafka.produce(replies, "warm-up", "x", partition=0)
        kafka.push_errors("InitProducerId", 1, "CLUSTER_AUTHORIZATION_FAILED")
        kafka.produce(topic, "a", "hello-a", partition=0)
        self.wait_handled(1)
        try:
            kafka.wait_committed(group, topic, timeout=10)
        finally:
            print("fatal producer error: " + " | ".join(
                line for line in proc.log().splitlines() if "was not produced" in line)[-300:])
        self.assertEqual(kcat_consume(kafka.bootstrap, replies, "%k|%s\n").decode().splitlines(),
                         ["warm-up|x", "a|re:hello-a"])

    # -- 4. backpressure -----------------------------------------------------------------

    def watch_status(self, proc, stop, observed, rss=False):
        """Polls /status (and the processor's RSS) until `stop` is set or the
        processor stops answering, keeping the largest values seen."""
        deadline = time.monotonic() + HANDLED_TIMEOUT
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                status = self.trigger_status(proc)
                if rss:
                    observed["rss"] = max(observed.get("rss", 0), rss_kib(proc.proc.pid))
            except (AssertionError, OSError, StopIteration):
                return
            observed["samples"] = observed.get("samples", 0) + 1
            observed["paused"] = observed.get("paused", False) or bool(status["paused"])
            observed["in_flight"] = max(observed.get("in_flight", 0), status["inFlight"])
            stop.wait(0.01)

    def test_max_in_flight_pauses_a_slow_handler_and_everything_is_handled_in_order(self):
        topic, group, keys, count = "orders", "slow", 16, 1500
        kafka = self.cluster({topic: 4})
        proc = self.processor(kafka, [topic], group, workers=1, env={"SLEEP_MS": 2}, attributes={"maxInFlight": 20})
        rss_before = rss_kib(proc.proc.pid)
        observed, stop = {}, threading.Event()
        watcher = threading.Thread(target=self.watch_status, args=(proc, stop, observed, True), daemon=True)
        watcher.start()
        try:
            self.assertEqual(kafka.produce_seq(topic, count, keys), count)
            kafka.wait_committed(group, topic, timeout=HANDLED_TIMEOUT)
        finally:
            stop.set()
            watcher.join(10)
        verifier = StreamVerifier()
        verifier.published_seq(count, keys)
        for r in read_records(self.dir):
            verifier.received(r["head"])
        report = verifier.assert_complete(allow_reordered=False)
        print(f"backpressure: {report}; /status samples={observed.get('samples')} "
              f"max inFlight={observed.get('in_flight')} RSS {rss_before} -> max {observed.get('rss')} KiB")
        self.assertEqual((report.lost_count, report.reordered), (0, 0), str(report))
        self.assertTrue(observed.get("paused"), observed)
        self.assertIsNone(proc.proc.poll(), "the processor exited")
        if not SANITIZER:  # a generous bound: 1500 short messages need far less
            self.assertLess(observed["rss"], rss_before + 64 * 1024, observed)

    # The poll thread counts a batch in flight before it hands it to the
    # strand and reads only the room left, so inFlight never passes
    # maxInFlight (it once took whole batches of 256 past it).
    def test_in_flight_stays_within_max_in_flight(self):
        topic, group, count, max_in_flight = "orders", "bounded", 1200, 20
        kafka = self.cluster({topic: 4}, brokers=1)  # one broker: the backlog comes in one fetch
        self.assertEqual(kafka.produce_seq(topic, count, 16), count)
        proc = self.processor(kafka, [topic], group, workers=1, env={"SLEEP_MS": 5},
                              attributes={"maxInFlight": max_in_flight})
        observed, stop = {}, threading.Event()
        watcher = threading.Thread(target=self.watch_status, args=(proc, stop, observed), daemon=True)
        watcher.start()
        try:
            # Until everything is committed, or the bound is broken (no need to wait longer then).
            wait_for(lambda: observed.get("in_flight", 0) > max_in_flight or
                     all_committed(kafka, group, topic), HANDLED_TIMEOUT, interval=0.1, what="everything committed")
        finally:
            stop.set()
            watcher.join(10)
        print(f"in flight: max {observed.get('in_flight')} at maxInFlight {max_in_flight}")
        self.assertLessEqual(observed["in_flight"], max_in_flight, observed)

if __name__ == "__main__":
    unittest.main()
