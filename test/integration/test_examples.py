"""Every example under examples/ runs as the README says it does."""
import json
import os
import re
import shutil
import subprocess
import unittest

from kafka_support import KafkaMock
from mqtt_support import Mosquitto
from support import BUILD_DIR, Processor, TempDir, wait_for


class ExamplesTest(unittest.TestCase):
    def copy_example(self, name, into, pattern, replacement):
        """Copies the built example `name` into `into` with the one line of
        its function.yaml that `pattern` matches rewritten; returns the
        copy's function.yaml."""
        example = os.path.join(BUILD_DIR, "examples", name)
        self.assertTrue(os.path.exists(os.path.join(example, "function.yaml")), example)
        directory = os.path.join(into, name)
        shutil.copytree(example, directory)
        config = os.path.join(directory, "function.yaml")
        with open(config) as f:
            text, count = re.subn(pattern, replacement, f.read())
        self.assertEqual(count, 1, f"the {name} example no longer has a line matching {pattern!r}")
        with open(config, "w") as f:
            f.write(text)
        return config

    def test_hello_c_answers_from_the_c_handler(self):
        config = os.path.join(BUILD_DIR, "examples", "hello-c", "function.yaml")
        self.assertTrue(os.path.exists(config), config)
        with Processor(config) as proc:
            status, headers, body = proc.request()
            self.assertEqual((status, body), (200, b"hello, edge\n"))
            self.assertEqual(len(proc.status()["pools"][0]["workers"]), 2)
            self.assertEqual(proc.terminate(), 0)

    def test_hello_python_greets_from_init_context_state(self):
        config = os.path.join(BUILD_DIR, "examples", "hello-python", "function.yaml")
        self.assertTrue(os.path.exists(config), config)
        with Processor(config) as proc:
            status, headers, body = proc.request("GET", "/?name=edge")
            self.assertEqual(status, 200)
            self.assertEqual(headers["Content-Type"], "application/json")
            self.assertEqual(json.loads(body), {"greeting": "hello, edge", "count": 1})
            status, _, body = proc.request("POST", "/", body=b'{"name": "json"}',
                                           headers={"Content-Type": "application/json"})
            self.assertEqual(json.loads(body)["greeting"], "hello, json")
            proc.wait_log(r'worker\.http\.[01]: worker initialised \{"worker_id":"[01]"\}')
            proc.wait_log(r'worker\.http\.[01]: greeting \{"name":"edge","count":1\} \(event [0-9a-f-]+\)')
            self.assertEqual(len(proc.status()["pools"][0]["workers"]), 2)
            self.assertEqual(proc.terminate(), 0)

    def test_inline_python_runs_from_its_source_alone(self):
        source = os.path.join(BUILD_DIR, "examples", "inline-python", "handler.py")
        self.assertTrue(os.path.exists(source), source)
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(source), "function.yaml")))
        with Processor(source) as proc:
            status, headers, body = proc.request("POST", "/", body=b"the quick brown fox")
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body), {"words": 4, "longest": "quick"})
            self.assertEqual(proc.status()["function"], "inline-python")
            self.assertEqual(len(proc.status()["pools"][0]["workers"]), 2)
            self.assertEqual(proc.terminate(), 0)

    def test_cron_shell_appends_a_disk_report_line_per_tick(self):
        with TempDir() as d:
            # The example as shipped, ticking every 100 ms instead of 10 s.
            config = self.copy_example("cron-shell", d, r"(?m)^(\s+interval:) 10s$", r"\1 100ms")
            directory = os.path.dirname(config)
            report = os.path.join(directory, "report.log")
            self.assertFalse(os.path.exists(report))

            with Processor(config, expect_ready=False) as proc:
                wait_for(lambda: proc.get_management("/ready")[0] == 200, 20.0, what="/ready")

                def report_lines():
                    try:
                        with open(report) as f:
                            lines = f.read().splitlines()
                    except FileNotFoundError:
                        return None
                    return lines if len(lines) >= 3 else None

                lines = wait_for(report_lines, 20.0, interval=0.02, what="three lines in report.log")
                line = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) disk-report \S+ on /\S*: "
                                  r"\d+% used, \d+ KiB available$")
                stamps = []
                for entry in lines:
                    m = line.match(entry)
                    self.assertTrue(m, entry)
                    stamps.append(m.group(1))
                self.assertEqual(stamps, sorted(stamps))
                proc.wait_log(r"worker\.every-10s\.0: " + re.escape(lines[0]) + r" \(event [0-9a-f-]+\)\n")

                (tick,) = [t for t in proc.status()["triggers"] if t["name"] == "every-10s"]
                self.assertEqual(tick["kind"], "cron")
                self.assertEqual(tick["interval"], "100ms")
                self.assertGreaterEqual(tick["ticks"], 3)
                self.assertEqual(tick["failed"], 0, proc.log())
                self.assertIsNone(proc.http_port, "a cron-only function opens no HTTP port")
                self.assertEqual(proc.terminate(), 0, proc.log())


    def test_mqtt_python_publishes_an_alert_for_a_reading_above_the_threshold(self):
        with TempDir() as d, Mosquitto() as broker:
            # The example as shipped, pointed at the test's broker.
            config = self.copy_example("mqtt-python", d, r"(?m)^(\s+url:) tcp://127\.0\.0\.1:1883$",
                                       rf"\1 {broker.url}")
            with broker.client(client_id="alerts-reader") as reader, broker.client(client_id="sensor") as sensor:
                reader.subscribe([("alerts/#", 1)])
                # No HTTP trigger (disableDefaultHTTPTrigger): ready is the broker connection.
                with Processor(config, expect_ready=False) as proc:
                    wait_for(lambda: proc.get_management("/ready")[0] == 200, 20, what="connected to the broker")
                    for reading in (b"21.5", b"not a number", b"35.2"):
                        sensor.publish("sensors/kitchen/temperature", reading, qos=1)
                    alert = reader.receive(timeout=20)
                    self.assertEqual(alert.topic, "alerts/temperature")
                    self.assertEqual(json.loads(alert.payload),
                                     {"sensor": "kitchen", "celsius": 35.2, "threshold": 30.0})
                    proc.wait_log(r"not a reading")
                    self.assertEqual(proc.terminate(), 0)
                # Only the reading above the threshold became an alert.
                self.assertTrue(reader.messages.empty())

    def test_kafka_python_totals_orders_to_the_response_topic_under_their_keys(self):
        with TempDir() as d, KafkaMock(topics={"orders": 2, "order-totals": 2}) as kafka:
            # The example as shipped, pointed at the test's cluster.
            config = self.copy_example("kafka-python", d, r"(?m)^(\s+url:) 127\.0\.0\.1:9092$",
                                       rf"\1 {kafka.bootstrap}")
            kafka.produce("orders", "order-1", json.dumps({"id": 1, "items": [{"price": 2.5, "quantity": 4}]}))
            kafka.produce("orders", "order-2", "not json")
            kafka.produce("orders", "order-3", json.dumps({"id": 3, "items": [{"price": 1.25, "quantity": 2}]}))
            # No HTTP trigger: ready is being a member of the consumer group.
            with Processor(config, expect_ready=False) as proc:
                wait_for(lambda: proc.get_management("/ready")[0] == 200, 60, what="joined the consumer group")
                kafka.wait_committed("order-totals", "orders", timeout=60)
                proc.wait_log(r"not an order")
                self.assertEqual(proc.terminate(), 0)
            totals = subprocess.run(["kcat", "-C", "-b", kafka.bootstrap, "-t", "order-totals", "-o", "beginning",
                                     "-e", "-q", "-f", "%k %s\\n"], capture_output=True, text=True, timeout=60)
            answers = dict(line.split(" ", 1) for line in totals.stdout.splitlines())
            self.assertEqual(set(answers), {"order-1", "order-3"})  # the malformed order got no answer
            self.assertEqual(json.loads(answers["order-1"])["total"], 10.0)
            self.assertEqual(json.loads(answers["order-3"])["total"], 2.5)


if __name__ == "__main__":
    unittest.main()
