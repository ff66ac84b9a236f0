"""/metrics and /status after known traffic, through the real daemon and a
real Python worker: counters move by exactly what was sent, every result
(success, handler error, timeout, crash) is counted under its name, worker
restarts are counted by reason, and promtool accepts the exposition."""
import os
import re
import shutil
import socket
import subprocess
import time
import unittest

from kafka_support import KafkaMock
from mqtt_client import MqttClient
from mqtt_support import Mosquitto
from support import Processor, TempDir, wait_for, write_function

FUNCTION = """\
    metadata: {name: metered}
    spec:
      runtime: python
      handler: main:handler
      eventTimeout: 1s
      triggers:
        api: {kind: http, numWorkers: 2}
"""

HANDLER = """\
import os
import time

def handler(context, event):
    path = event.path
    if path == "/error":
        return context.Response(body="no", status_code=500)
    if path == "/slow":
        time.sleep(30)
    if path == "/crash":
        os._exit(3)
    if path == "/missing":
        return context.Response(body="not here", status_code=404)
    return "hello"
"""

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels.items())): value} from the text exposition."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"unparsable exposition line: {line!r}"
        labels = frozenset(_LABEL.findall(m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def raw_request(port, path):
    """One request on a fresh connection; returns (bytes sent, status, bytes read)."""
    request = f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=40) as s:
        s.sendall(request)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    answer = b"".join(chunks)
    status = int(answer.split(b" ", 2)[1]) if answer else 0
    return len(request), status, len(answer)


class MetricsTest(unittest.TestCase):
    def setUp(self):
        self._tmp = TempDir()
        self.dir = self._tmp.__enter__()
        self.addCleanup(self._tmp.__exit__, None, None, None)
        with open(os.path.join(self.dir, "main.py"), "w") as f:
            f.write(HANDLER)
        self.config = write_function(self.dir, FUNCTION)

    def scrape(self, p):
        code, body = p.get_management("/metrics")
        self.assertEqual(code, 200)
        return body.decode()

    def all_ready(self, p):
        return p.status()["pools"][0]["ready"] == 2

    def check_promtool(self, text):
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool not installed (Debian package prometheus; scripts/install.sh installs it)")
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, f"promtool check metrics:\n{r.stdout}{r.stderr}")

    def test_counters_move_by_the_traffic_sent(self):
        n = 20
        with Processor(self.config) as p:
            wait_for(lambda: self.all_ready(p), 20, what="both workers ready")
            before = parse(self.scrape(p))
            sent = 0
            for _ in range(n):
                out, status, _ = raw_request(p.http_port, "/")
                self.assertEqual(status, 200)
                sent += out
            out, status, _ = raw_request(p.http_port, "/missing")
            self.assertEqual(status, 404)
            sent += out
            after = parse(self.scrape(p))

            def delta(name, **labels):
                return value(after, name, **labels) - value(before, name, **labels)

            # The handler's 404 is a success as far as dispatch goes.
            self.assertEqual(delta("edgefn_events_total", trigger="api", result="success"), n + 1)
            self.assertEqual(delta("edgefn_event_duration_seconds_count", trigger="api"), n + 1)
            self.assertEqual(delta("edgefn_worker_allocation_wait_seconds_count", pool="api"), n + 1)
            self.assertEqual(delta("edgefn_http_responses_total", trigger="api", code="2xx"), n)
            self.assertEqual(delta("edgefn_http_responses_total", trigger="api", code="4xx"), 1)
            # Every byte the clients sent was read; the answers are bigger
            # than nothing.
            self.assertEqual(delta("edgefn_http_received_bytes_total", trigger="api"), sent)
            self.assertGreater(delta("edgefn_http_sent_bytes_total", trigger="api"), (n + 1) * 40)
            self.assertEqual(value(after, "edgefn_pool_workers", pool="api"), 2)
            self.assertEqual(value(after, "edgefn_pool_ready_workers", pool="api"), 2)
            self.assertEqual(value(after, "edgefn_trigger_ready", trigger="api", kind="http"), 1)
            # Process families, read from /proc.
            self.assertGreater(value(after, "process_resident_memory_bytes"), 1e6)
            self.assertGreater(value(after, "process_open_fds"), 3)
            self.assertLess(abs(value(after, "process_start_time_seconds") - time.time()), 120)
            self.assertGreaterEqual(value(after, "process_cpu_seconds_total"), 0)
            self.assertTrue(any(name == "edgefn_build_info" and v == 1 for (name, _), v in after.items()))

    def test_refusals_are_counted_by_reason(self):
        with Processor(self.config) as p:
            before = parse(self.scrape(p))
            answer = p.raw(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
            self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:60])
            after = parse(self.scrape(p))
            self.assertEqual(value(after, "edgefn_http_rejected_total", trigger="api", reason="framing") -
                             value(before, "edgefn_http_rejected_total", trigger="api", reason="framing"), 1)
            self.assertEqual(value(after, "edgefn_http_responses_total", trigger="api", code="4xx") -
                             value(before, "edgefn_http_responses_total", trigger="api", code="4xx"), 1)

    def test_each_failure_is_counted_under_its_result_and_promtool_accepts_it(self):
        with Processor(self.config) as p:
            _, status, _ = raw_request(p.http_port, "/")
            self.assertEqual(status, 200)
            _, status, _ = raw_request(p.http_port, "/error")
            self.assertEqual(status, 500)
            _, status, _ = raw_request(p.http_port, "/slow")
            self.assertEqual(status, 408)
            wait_for(lambda: self.all_ready(p), 20, what="the timed-out worker's replacement")
            _, status, _ = raw_request(p.http_port, "/crash")
            self.assertEqual(status, 500)
            wait_for(lambda: self.all_ready(p), 20, what="the crashed worker's replacement")

            def restarts(reason):
                return value(parse(self.scrape(p)), "edgefn_worker_restarts_total", pool="api", reason=reason)

            wait_for(lambda: restarts("timeout") == 1 and restarts("crashed") == 1, 10,
                     what="restarts counted by reason")
            text = self.scrape(p)
            m = parse(text)
            for result in ("success", "handler_error", "timeout", "crashed"):
                self.assertEqual(value(m, "edgefn_events_total", trigger="api", result=result), 1, result)
            self.assertEqual(value(m, "edgefn_events_total", trigger="api", result="overloaded"), 0)
            self.assertEqual(value(m, "edgefn_worker_restarts_total", pool="api", reason="init_failed"), 0)
            self.assertEqual(value(m, "edgefn_worker_init_failures_total", runtime="python"), 0)
            for family in ("edgefn_event_duration_seconds", "edgefn_worker_allocation_wait_seconds"):
                self.assertIn(f"# TYPE {family} histogram", text)
            self.check_promtool(text)

    def test_status_shows_workers_after_traffic_and_after_a_crash(self):
        with Processor(self.config) as p:
            # /ready needs one ready worker; these assertions need both.
            wait_for(lambda: self.all_ready(p), 20, what="both workers ready")
            for _ in range(4):
                self.assertEqual(raw_request(p.http_port, "/")[1], 200)
            status = p.status()
            workers = status["pools"][0]["workers"]
            self.assertEqual(len(workers), 2)
            self.assertEqual(sum(w["events"] for w in workers), 4)
            for w in workers:
                self.assertIsInstance(w["pid"], int)
                self.assertGreaterEqual(w["uptimeSeconds"], 0)
                self.assertEqual(w["restarts"], 0)
                self.assertIsNone(w["lastError"])
            trigger = status["triggers"][0]
            self.assertEqual((trigger["name"], trigger["kind"], trigger["ready"]), ("api", "http", True))
            old_pids = {w["pid"] for w in workers}

            self.assertEqual(raw_request(p.http_port, "/crash")[1], 500)
            wait_for(lambda: self.all_ready(p), 20, what="the crashed worker's replacement")
            workers = p.status()["pools"][0]["workers"]
            crashed = [w for w in workers if w["restarts"] == 1]
            self.assertEqual(len(crashed), 1, workers)
            self.assertRegex(crashed[0]["lastError"], "ended with")
            self.assertNotIn(crashed[0]["pid"], old_pids)
            self.assertEqual(sum(w["restarts"] for w in workers), 1)

    def test_metrics_off_records_no_traffic_but_still_answers(self):
        with Processor(self.config, "--metrics", "off") as p:
            for _ in range(3):
                self.assertEqual(raw_request(p.http_port, "/")[1], 200)
            text = self.scrape(p)
            m = parse(text)
            self.assertEqual(value(m, "edgefn_events_total", trigger="api", result="success"), 0)
            self.assertEqual(value(m, "edgefn_http_received_bytes_total", trigger="api"), 0)
            # Read at scrape time, so still there.
            self.assertEqual(value(m, "edgefn_pool_workers", pool="api"), 2)
            self.assertEqual(sum(w["events"] for w in p.status()["pools"][0]["workers"]), 3)
            self.check_promtool(text)

    def test_cron_and_mqtt_families_after_traffic_pass_promtool(self):
        with Mosquitto() as broker:
            config = write_function(self.dir, FUNCTION.replace("        api: {kind: http, numWorkers: 2}\n", f"""\
        api: {{kind: http, numWorkers: 2}}
        tick: {{kind: cron, attributes: {{interval: 100ms}}}}
        sensors: {{kind: mqtt, url: "{broker.url}", attributes: {{subscriptions: [{{topic: "m/in", qos: 1}}]}}}}
"""))
            with Processor(config) as p:
                with MqttClient(broker.port, client_id="metrics-test") as client:
                    for i in range(3):
                        client.publish("m/in", f"reading {i}", qos=1)

                def settled():
                    m = parse(self.scrape(p))
                    return (value(m, "edgefn_events_total", trigger="sensors", result="success") == 3 and
                            value(m, "edgefn_cron_ticks_total", trigger="tick") >= 3)

                wait_for(settled, 20, what="three MQTT events and three cron ticks")
                text = self.scrape(p)
                m = parse(text)
                self.assertEqual(value(m, "edgefn_mqtt_connected", trigger="sensors"), 1)
                self.assertEqual(value(m, "edgefn_mqtt_connects_total", trigger="sensors"), 1)
                self.assertEqual(value(m, "edgefn_mqtt_reconnects_total", trigger="sensors"), 0)
                self.assertEqual(value(m, "edgefn_trigger_ready", trigger="sensors", kind="mqtt"), 1)
                self.assertGreaterEqual(value(m, "edgefn_cron_lateness_seconds_count", trigger="tick"), 3)
                self.assertIn("edgefn_cron_missed_ticks_total", text)
                self.check_promtool(text)
                self.assertEqual({t["kind"] for t in p.status()["triggers"]}, {"http", "cron", "mqtt"})

    def test_kafka_families_after_traffic_pass_promtool(self):
        with KafkaMock(brokers=1, topics={"orders": 2}) as kafka:
            config = write_function(self.dir, FUNCTION.replace("        api: {kind: http, numWorkers: 2}\n", f"""\
        api: {{kind: http, numWorkers: 2}}
        stream:
          kind: kafka-cluster
          url: "{kafka.bootstrap}"
          attributes: {{topics: [orders], consumerGroup: metrics, sessionTimeout: 6s, heartbeatInterval: 1s}}
"""))
            with Processor(config) as p:
                for i in range(3):
                    kafka.produce("orders", f"k{i}", f"order {i}")

                def handled():
                    m = parse(self.scrape(p))
                    return value(m, "edgefn_events_total", trigger="stream", result="success") == 3

                wait_for(handled, 60, what="three Kafka events")
                text = self.scrape(p)
                m = parse(text)
                self.assertEqual(value(m, "edgefn_trigger_ready", trigger="stream", kind="kafka-cluster"), 1)
                self.assertEqual(value(m, "edgefn_kafka_assigned_partitions", trigger="stream"), 2)
                self.assertGreaterEqual(value(m, "edgefn_kafka_rebalances_total", trigger="stream", change="assigned"), 1)
                for partition in ("0", "1"):
                    self.assertIn(("edgefn_kafka_consumer_lag",
                                   frozenset({("trigger", "stream"), ("topic", "orders"),
                                              ("partition", partition)})), m)
                self.check_promtool(text)


if __name__ == "__main__":
    unittest.main()
