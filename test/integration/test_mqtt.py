"""The MQTT trigger through the real binary and a real mosquitto
(mqtt_support.py): wildcards, QoS 0-2, NUL and 1 MiB payloads, Python,
native and shell handlers, MQTT 3.1.1 and 5, TLS and WebSocket, nothing
lost through a broker restart or a processor SIGKILL, parallel handlers,
keepalives while a handler runs, shared subscriptions, response and
error topics, readiness that follows the broker, wrong credentials.

Handlers that must outlive a restart record what they handled in a file
(one O_APPEND write per event), which the test reads; the others reply
on a response topic that a test client subscribes to."""
import hashlib
import json
import os
import socket
import textwrap
import threading
import time
import unittest

from mqtt_support import Mosquitto, MqttClient, MqttTimeout, StreamVerifier, make_payload, parse_payload
from support import Processor, TempDir, read_json_lines, wait_for, write_stream_function

TIMEOUT = 20.0

HANDLERS = textwrap.dedent('''
    import hashlib
    import json
    import os
    import time


    def _record(event, **extra):
        body = event.body if isinstance(event.body, bytes) else str(event.body).encode()
        line = json.dumps({"topic": event.topic, "path": event.path, "url": event.url,
                           "fields": dict(event.fields or {}), "headers": dict(event.headers or {}),
                           "head": body[:48].decode("latin-1"), "size": len(body),
                           "sha256": hashlib.sha256(body).hexdigest(), "pid": os.getpid(),
                           "who": os.environ.get("WHO", ""), **extra}, default=str) + "\\n"
        fd = os.open(os.environ["RECORD_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


    def record(context, event):
        """Sleeps SLEEP_MS, then records the event with when it ran; echoes the body."""
        start = time.time()
        time.sleep(int(os.environ.get("SLEEP_MS", "0")) / 1000)
        _record(event, start=start, end=time.time())
        return event.body


    def describe(context, event):
        """Replies with what the handler saw."""
        body = event.body if isinstance(event.body, bytes) else str(event.body).encode()
        return json.dumps({"topic": event.topic, "path": event.path, "url": event.url,
                           "fields": {k: str(v) for k, v in dict(event.fields or {}).items()},
                           "headers": {k.lower(): str(v) for k, v in dict(event.headers or {}).items()},
                           "body": body.decode("latin-1")})


    def fail(context, event):
        _record(event)
        return context.Response(body="handler failed on purpose", status_code=500)
''')

SHELL_HANDLER = 'printf "%s|" "$NUCLIO_EVENT_PATH"\ncat\n'


def function_yaml(directory, url, attributes, runtime="python", handler="handlers:record", workers=1,
                  env=None, trigger_extra=None, name="mqttfn"):
    """Writes handlers.py, reply.sh and function.yaml (one mqtt trigger
    named "sensors", no HTTP trigger) into `directory`; returns the path."""
    with open(os.path.join(directory, "handlers.py"), "w") as f:
        f.write(HANDLERS)
    with open(os.path.join(directory, "reply.sh"), "w") as f:
        f.write(SHELL_HANDLER)
    env = {"RECORD_FILE": os.path.join(directory, "records.jsonl"), **(env or {})}
    trigger = {"kind": "mqtt", "url": url, "numWorkers": workers, "attributes": attributes, **(trigger_extra or {})}
    return write_stream_function(directory, name, runtime, handler, env, "sensors", trigger)


def start_processor(config, env=None, ready=True, args=()):
    """A processor with no HTTP trigger; `ready`: wait for /ready 200, which
    follows the broker connection; `args`: more command-line arguments."""
    proc = Processor(config, *args, expect_ready=False, env=env)
    try:
        proc.__enter__()
    except BaseException:
        if hasattr(proc, "proc") and proc.proc.poll() is None:
            proc.__exit__(None, None, None)
        raise
    if ready:
        try:
            wait_for(lambda: proc.get_management("/ready")[0] == 200, TIMEOUT, what="/ready 200")
        except AssertionError:
            proc.__exit__(None, None, None)
            raise AssertionError("processor not ready:\n" + proc.log()) from None
    return proc


def read_records(directory):
    """The handler's records, as it appended them to records.jsonl."""
    return read_json_lines(os.path.join(directory, "records.jsonl"))


def max_overlap(records):
    """The most handlers seen running at once, from their start/end."""
    edges = sorted([(r["start"], 1) for r in records] + [(r["end"], -1) for r in records],
                   key=lambda e: (e[0], e[1]))
    running = best = 0
    for _, step in edges:
        running += step
        best = max(best, running)
    return best


class MqttTestCase(unittest.TestCase):
    """Each test gets a temp dir and a broker; processors and clients
    started through enter() are stopped at the end, even on failure."""

    broker_options = {}

    def setUp(self):
        self._stack = []
        self.dir = self.enter(TempDir())
        self.broker = self.enter(Mosquitto(**self.broker_options))

    def tearDown(self):
        while self._stack:
            self._stack.pop().__exit__(None, None, None)

    def enter(self, manager):
        value = manager.__enter__()
        self._stack.append(manager)
        return value

    def processor(self, attributes, directory=None, handler_env=None, proc_env=None, ready=True, url=None,
                  args=(), **kwargs):
        """`handler_env`: the function's spec.env; `proc_env`: added to the
        processor's own environment."""
        config = function_yaml(directory or self.dir, url or self.broker.url, attributes, env=handler_env, **kwargs)
        proc = start_processor(config, env=proc_env, ready=ready, args=args)
        self._stack.append(proc)
        self.addCleanup(lambda: self._print_on_failure(proc))
        return proc

    def _print_on_failure(self, proc):
        outcome = getattr(self, "_outcome", None)
        if outcome is not None and not getattr(outcome, "success", True):
            print("--- processor log:\n" + proc.log()[-4000:])

    def client(self, client_id, **kwargs):
        return self.enter(MqttClient(self.broker.port, client_id=client_id, **kwargs))

    def publish_stream(self, topic, key, count, qos=1, size=0, nul=False, verifier=None, start=0):
        with MqttClient(self.broker.port, client_id=f"pub-{key}-{start}") as pub:
            for seq in range(start, start + count):
                pub.publish(topic, make_payload(key, seq, size, nul), qos=qos, wait=False)
                if verifier:
                    verifier.published(key, seq)
            pub.flush(TIMEOUT)

    def wait_records(self, verifier, timeout=TIMEOUT, directory=None):
        """Waits until every published message was recorded at least once."""
        def complete():
            for r in read_records(directory or self.dir)[verifier.received_count():]:
                verifier.received(r["head"].encode("latin-1"))
            return verifier.all_received()
        try:
            wait_for(complete, timeout, interval=0.05, what="every message handled")
        except AssertionError:
            raise AssertionError(f"not every message handled: {verifier.report()}") from None
        return verifier.report()

    def tls_roundtrip(self, proc_attributes, topic):
        """A message through a processor on the broker's TLS listener."""
        replies = self.client(f"replies-{topic}")
        replies.subscribe([(f"{topic}/out", 1)])
        self.processor({"subscriptions": [{"topic": f"{topic}/in", "qos": 1}], "responseTopic": f"{topic}/out",
                        "clientID": f"tls-{topic}", **proc_attributes}, url=self.broker.tls_url,
                       directory=self.enter(TempDir()), runtime="native", handler="builtin:echo")
        with MqttClient(self.broker.port, client_id=f"pub-{topic}") as pub:
            pub.publish(f"{topic}/in", b"secret", qos=1)
        self.assertEqual(replies.receive(TIMEOUT).payload, b"secret")


class DeliveryTest(MqttTestCase):
    def test_wildcards_and_qos_0_1_2_reach_the_handler_and_the_response_topic(self):
        replies = self.client("replies")
        replies.subscribe([("replies/#", 1)])
        self.processor({"subscriptions": [{"topic": "sensors/+/temp", "qos": 0}, {"topic": "alarms/#", "qos": 1},
                                          {"topic": "exact/two", "qos": 2}],
                        "responseTopic": "replies/echo", "responseQos": 1},
                       runtime="native", handler="builtin:echo")
        with MqttClient(self.broker.port, client_id="pub") as pub:
            pub.publish("sensors/a/humidity", b"not subscribed", qos=1)
            pub.publish("sensors/a/temp", b"qos0", qos=0)
            pub.publish("alarms/x/y/z", b"qos1", qos=1)
            pub.publish("exact/two", b"qos2", qos=2)
        got = sorted(m.payload for m in replies.receive_many(3, TIMEOUT))
        self.assertEqual(got, [b"qos0", b"qos1", b"qos2"])
        with self.assertRaises(MqttTimeout):
            print("unexpected:", replies.receive(0.5))

    def test_nul_bytes_and_one_mib_payloads_round_trip_through_native_and_python(self):
        for runtime, handler in (("native", "builtin:echo"), ("python", "handlers:record")):
            with self.subTest(runtime=runtime):
                directory = self.enter(TempDir())
                replies = self.client(f"replies-{runtime}")
                replies.subscribe([(f"out/{runtime}", 1)])
                self.processor({"subscriptions": [{"topic": f"in/{runtime}", "qos": 1}],
                                "responseTopic": f"out/{runtime}", "clientID": f"big-{runtime}"},
                               directory=directory, runtime=runtime, handler=handler)
                payloads = [b"\x00", b"a\x00b\x00\xff", make_payload("big", 1, size=1 << 20, nul=True)]
                with MqttClient(self.broker.port, client_id=f"pub-{runtime}") as pub:
                    for p in payloads:
                        pub.publish(f"in/{runtime}", p, qos=1)
                got = [m.payload for m in replies.receive_many(3, TIMEOUT)]
                self.assertEqual(sorted(hashlib.sha256(g).hexdigest() for g in got),
                                 sorted(hashlib.sha256(p).hexdigest() for p in payloads))

    def test_shell_handler_sees_the_topic_and_the_body(self):
        replies = self.client("replies")
        replies.subscribe([("shell/out", 1)])
        self.processor({"subscriptions": [{"topic": "shell/in/#", "qos": 1}], "responseTopic": "shell/out"},
                       runtime="shell", handler="reply.sh:main")
        with MqttClient(self.broker.port, client_id="pub") as pub:
            pub.publish("shell/in/a", b"line one\nline two", qos=1)
        self.assertEqual(replies.receive(TIMEOUT).payload, b"shell/in/a|line one\nline two")

    def event_seen(self, version):
        """A Python handler's view of one message published with MQTT 5
        user properties (3.1.1 has none) and one retained before it started."""
        replies = self.client("replies", version=5)
        replies.subscribe([("seen/#", 1)])
        with MqttClient(self.broker.port, client_id="retainer") as pub:
            pub.publish("ev/retained", b"old", qos=1, retain=True)
        self.processor({"subscriptions": [{"topic": "ev/#", "qos": 1}], "responseTopic": "seen/it",
                        "protocolVersion": version}, handler="handlers:describe")
        retained = json.loads(replies.receive(TIMEOUT).payload)
        self.assertEqual(retained["body"], "old")
        self.assertIn(retained["fields"]["retain"].lower(), ("true", "1"))
        with MqttClient(self.broker.port, client_id="pub", version=5) as pub:
            pub.publish("ev/live/1", b"\x00now", qos=1, user_properties=[("X-Sensor", "kitchen")])
        seen = json.loads(replies.receive(TIMEOUT).payload)
        self.assertEqual((seen["topic"], seen["path"], seen["body"]), ("ev/live/1", "ev/live/1", "\x00now"))
        self.assertEqual(seen["url"], self.broker.url)
        self.assertEqual(seen["fields"]["qos"], "1")
        self.assertIn(seen["fields"]["retain"].lower(), ("false", "0"))
        self.assertIn(seen["fields"]["dup"].lower(), ("false", "0"))
        with MqttClient(self.broker.port, client_id="cleaner") as pub:
            pub.publish("ev/retained", b"", qos=1, retain=True)
        return seen

    def test_mqtt_311_event_has_topic_url_and_flags(self):
        seen = self.event_seen(4)
        self.assertNotIn("x-sensor", seen["headers"])

    def test_mqtt_5_event_has_user_properties_as_headers(self):
        seen = self.event_seen(5)
        self.assertEqual(seen["headers"].get("x-sensor"), "kitchen")

    def test_mqtt_5_message_response_topic_and_correlation_data_win(self):
        own = self.client("own", version=5)
        own.subscribe([("own/reply", 1)])
        self.processor({"subscriptions": [{"topic": "req", "qos": 1}], "responseTopic": "default/reply",
                        "protocolVersion": 5}, runtime="native", handler="builtin:echo")
        with MqttClient(self.broker.port, client_id="requester", version=5) as pub:
            pub.publish("req", b"ping", qos=1, response_topic="own/reply", correlation_data=b"\x00id-7")
        reply = own.receive(TIMEOUT)
        self.assertEqual(reply.payload, b"ping")
        self.assertEqual(reply.properties.get("correlation_data"), b"\x00id-7")


class ClientIdTest(MqttTestCase):
    def test_the_default_client_id_is_function_trigger_host_and_instance(self):
        expected = f"mqttfn-sensors-{socket.gethostname()}-blue"
        proc = self.processor({"subscriptions": [{"topic": "id/in", "qos": 1}]}, args=("--instance", "blue"))
        self.assertEqual(proc.status()["triggers"][0]["clientId"], expected)
        # The broker saw that ID: a restart resumes this session, not another.
        wait_for(lambda: f"as {expected}" in self.broker.log(), TIMEOUT, what="the client ID in the broker's log")


class WebSocketTest(MqttTestCase):
    broker_options = {"websockets": True}

    def test_websocket_transport(self):
        replies = self.client("replies")
        replies.subscribe([("ws/out", 1)])
        self.processor({"subscriptions": [{"topic": "ws/in", "qos": 1}], "responseTopic": "ws/out"},
                       url=self.broker.ws_url, runtime="native", handler="builtin:echo")
        with MqttClient(self.broker.port, client_id="pub") as pub:
            pub.publish("ws/in", b"over websocket", qos=1)
        self.assertEqual(replies.receive(TIMEOUT).payload, b"over websocket")


class AtLeastOnceTest(MqttTestCase):
    def test_broker_restart_mid_stream_loses_nothing(self):
        v = StreamVerifier()
        proc = self.processor({"subscriptions": [{"topic": "stream/#", "qos": 1}], "clientID": "edge-restart",
                               "reconnectMinBackoff": "200ms", "reconnectMaxBackoff": "1s"},
                              workers=2, handler_env={"SLEEP_MS": "20"})
        self.publish_stream("stream/a", "s", 100, verifier=v)
        # Mid-stream: the handlers are still working through the first 100.
        wait_for(lambda: len(read_records(self.dir)) >= 20, TIMEOUT, what="20 messages handled")
        self.broker.stop()
        wait_for(lambda: proc.get_management("/ready")[0] == 503, TIMEOUT, what="/ready 503 without the broker")
        self.broker.start()
        # Published the moment the broker is back: most before the processor
        # reconnected, all kept in its persistent session.
        self.publish_stream("stream/b", "s", 100, verifier=v, start=100)
        report = self.wait_records(v)
        wait_for(lambda: proc.get_management("/ready")[0] == 200, TIMEOUT, what="/ready 200 again")
        self.assertGreaterEqual(self.broker.log().count("as edge-restart ("), 2, self.broker.log())
        print("broker restart:", report)

    def test_processor_sigkill_during_a_qos1_stream_then_restart_handles_every_message(self):
        v = StreamVerifier()
        attributes = {"subscriptions": [{"topic": "kill/#", "qos": 1}], "protocolVersion": 5}
        # No clientID: the default must be stable across restarts for the
        # session (and the messages in it) to be resumed.
        proc = self.processor(attributes, workers=2, handler_env={"SLEEP_MS": "5"})
        publisher = threading.Thread(target=self.publish_stream, args=("kill/k", "k", 300),
                                     kwargs={"verifier": v})
        publisher.start()
        try:
            wait_for(lambda: len(read_records(self.dir)) >= 50, TIMEOUT, what="50 messages handled")
            proc.proc.kill()
            proc.proc.wait(10)
        finally:
            publisher.join(TIMEOUT)
        self.assertFalse(publisher.is_alive())
        self.assertEqual(v.report().n, 300, "the publisher did not finish")
        self.processor(attributes, workers=2, handler_env={"SLEEP_MS": "5"})
        report = self.wait_records(v)
        print("processor SIGKILL:", report)

    def test_two_processors_on_one_shared_subscription_split_the_messages(self):
        v = StreamVerifier()
        attributes = {"subscriptions": [{"topic": "$share/g/shared/#", "qos": 1}]}
        for who in ("a", "b"):
            # Two functions, both recording into this test's file.
            self.processor({**attributes, "clientID": f"shared-{who}"}, directory=self.enter(TempDir()),
                           workers=2, handler_env={"WHO": who, "RECORD_FILE": os.path.join(self.dir, "records.jsonl")})
        self.publish_stream("shared/x", "sh", 200, verifier=v)
        report = self.wait_records(v)
        whos = {r["who"] for r in read_records(self.dir)}
        self.assertEqual(whos, {"a", "b"}, report)

    def test_slow_handler_drops_nothing_at_qos_0_or_1(self):
        v = StreamVerifier()
        proc = self.processor({"subscriptions": [{"topic": "slow/q0", "qos": 0}, {"topic": "slow/q1", "qos": 1}],
                               "receiveWindow": 4}, workers=2, handler_env={"SLEEP_MS": "20"})
        self.publish_stream("slow/q0", "q0", 100, qos=0, verifier=v)
        self.publish_stream("slow/q1", "q1", 100, qos=1, verifier=v)
        report = self.wait_records(v, timeout=40)
        self.assertLessEqual(max_overlap(read_records(self.dir)), 2)
        self.assertEqual(report.duplicated, 0, report)
        self.assertTrue(proc.proc.poll() is None)


    def test_responses_of_a_backlog_past_the_read_cap_all_come(self):
        # 300 messages of 10 KiB arrive faster than two slow workers take
        # them: more than the 1 MiB the session holds before it stops
        # reading. Each message is acknowledged after its response's PUBACK,
        # which comes behind that backlog; a reader that stopped there
        # waited forever (found by bench/mqtt).
        v = StreamVerifier()
        replies = self.client("replies-backlog")
        replies.subscribe([("backlog/out", 1)])
        self.processor({"subscriptions": [{"topic": "backlog/in", "qos": 1}], "responseTopic": "backlog/out",
                        "receiveWindow": 4}, workers=2, handler_env={"SLEEP_MS": "10"})
        self.publish_stream("backlog/in", "b", 300, size=10 * 1024, verifier=v)
        deadline = time.monotonic() + 60
        while not v.all_received() and time.monotonic() < deadline:
            try:
                v.received(replies.receive(timeout=deadline - time.monotonic()).payload)
            except MqttTimeout:
                break
        report = v.report()
        self.assertTrue(report.complete, report)
        self.assertEqual(report.lost_count, 0, report)


class ConcurrencyTest(MqttTestCase):
    broker_options = {"verbose": True}

    def test_four_workers_handle_messages_of_one_connection_in_parallel(self):
        self.processor({"subscriptions": [{"topic": "par", "qos": 1}]}, workers=4, handler_env={"SLEEP_MS": "100"})
        self.publish_stream("par", "p", 16)
        wait_for(lambda: len(read_records(self.dir)) >= 16, TIMEOUT, what="16 messages handled")
        self.assertGreaterEqual(max_overlap(read_records(self.dir)), 3)

    def test_ordered_handles_one_topic_at_a_time_in_order(self):
        self.processor({"subscriptions": [{"topic": "ord/#", "qos": 1}], "ordered": True}, workers=4,
                       handler_env={"SLEEP_MS": "20"})
        self.publish_stream("ord/one", "o", 20)
        wait_for(lambda: len(read_records(self.dir)) >= 20, TIMEOUT, what="20 messages handled")
        records = read_records(self.dir)
        self.assertEqual(max_overlap(records), 1)
        self.assertEqual([parse_payload(r["head"])[1] for r in records], list(range(20)))

    def test_handler_slower_than_keepalive_keeps_the_connection_and_acks_once(self):
        proc = self.processor({"subscriptions": [{"topic": "ka", "qos": 1}], "keepAlive": "2s",
                               "clientID": "edge-ka"}, handler_env={"SLEEP_MS": "5000"})
        with MqttClient(self.broker.port, client_id="pub") as pub:
            pub.publish("ka", make_payload("ka", 0), qos=1)
        wait_for(lambda: read_records(self.dir), TIMEOUT, what="the slow handler's record")
        wait_for(lambda: "Received PUBACK from edge-ka" in self.broker.log(), TIMEOUT, what="the PUBACK")
        log = self.broker.log()
        self.assertEqual(log.count("Received PUBACK from edge-ka"), 1, log)
        self.assertEqual(log.count("as edge-ka ("), 1, log)  # one connection
        self.assertNotIn("edge-ka has exceeded timeout", log)
        self.assertIn("Received PINGREQ from edge-ka", log)
        self.assertEqual(len(read_records(self.dir)), 1)
        self.assertEqual(proc.get_management("/ready")[0], 200)


class ErrorTopicTest(MqttTestCase):
    def test_failed_message_goes_to_the_error_topic_after_retries_then_is_acked(self):
        errors = self.client("errors", version=5)
        errors.subscribe([("errors/#", 1)])
        proc = self.processor({"subscriptions": [{"topic": "work", "qos": 1}], "errorTopic": "errors/work",
                               "maxRetries": 2, "retryBackoff": "50ms", "protocolVersion": 5,
                               "clientID": "edge-err"}, handler="handlers:fail")
        with MqttClient(self.broker.port, client_id="pub") as pub:
            pub.publish("work", b"\x00doomed", qos=1)
        failed = errors.receive(TIMEOUT)
        self.assertEqual(failed.payload, b"\x00doomed")
        self.assertTrue(failed.user_properties, "no error headers on the error topic")
        self.assertIn("500", " ".join(f"{k}={v}" for k, v in failed.user_properties))
        self.assertEqual(len(read_records(self.dir)), 3)  # the first attempt and 2 retries
        proc.wait_log(r"trigger\.mqtt\.sensors.*(fail|error)")
        # Acknowledged: a client taking over the session gets nothing back.
        self.assertEqual(proc.terminate(), 0, proc.log())
        with MqttClient(self.broker.port, client_id="edge-err", version=5, clean=False,
                        session_expiry=3600) as taker:
            with self.assertRaises(MqttTimeout):
                print("redelivered:", taker.receive(1.0))


class TlsTest(MqttTestCase):
    broker_options = {"tls": True}

    def test_tls_with_the_test_ca(self):
        self.tls_roundtrip({"tls": {"caCert": self.broker.ca}}, "ca")

    def test_insecure_skip_verify_connects_without_the_ca(self):
        self.tls_roundtrip({"tls": {"insecureSkipVerify": True}}, "skip")

    def test_unknown_ca_is_refused_with_a_clear_log_line_and_not_ready(self):
        proc = self.processor({"subscriptions": [{"topic": "x", "qos": 1}]}, url=self.broker.tls_url, ready=False)
        proc.wait_log(r"trigger\.mqtt\.sensors.*(certificate|verify)", timeout=TIMEOUT)
        self.assertEqual(proc.get_management("/ready")[0], 503)


class MutualTlsTest(MqttTestCase):
    broker_options = {"tls": True, "require_client_cert": True}

    def test_mutual_tls_with_a_client_certificate(self):
        self.tls_roundtrip({"tls": {"caCert": self.broker.ca, "clientCert": self.broker.certs.client_cert,
                                         "clientKey": self.broker.certs.client_key}}, "mutual")


class BrokerAvailabilityTest(MqttTestCase):
    broker_options = {"start": False}

    def test_unreachable_broker_is_logged_not_ready_then_recovers_when_it_comes_up(self):
        proc = self.processor({"subscriptions": [{"topic": "late/in", "qos": 1}], "responseTopic": "late/out",
                               "reconnectMinBackoff": "100ms", "reconnectMaxBackoff": "1s"},
                              runtime="native", handler="builtin:echo", ready=False)
        proc.wait_log(rf"trigger\.mqtt\.sensors.*127\.0\.0\.1:{self.broker.port}.*(refused|unreachable|failed)",
                      timeout=TIMEOUT)
        for _ in range(3):
            self.assertEqual(proc.get_management("/ready")[0], 503)
        self.assertIsNone(proc.proc.poll())
        self.broker.start()
        wait_for(lambda: proc.get_management("/ready")[0] == 200, TIMEOUT, what="/ready 200 with the broker up")
        replies = self.client("replies")
        replies.subscribe([("late/out", 1)])
        with MqttClient(self.broker.port, client_id="pub") as pub:
            pub.publish("late/in", b"made it", qos=1)
        self.assertEqual(replies.receive(TIMEOUT).payload, b"made it")


class CredentialsTest(MqttTestCase):
    broker_options = {"users": {"edge": "s3cret"}}

    def test_wrong_password_is_logged_and_retried_with_backoff(self):
        proc = self.processor({"subscriptions": [{"topic": "x", "qos": 1}], "username": "edge",
                               "password": "wrong", "clientID": "edge-bad", "reconnectMinBackoff": "100ms",
                               "reconnectMaxBackoff": "500ms"}, ready=False)
        proc.wait_log(r"trigger\.mqtt\.sensors.*(?i:bad user name or password|not authori[sz]ed)", timeout=TIMEOUT)
        # mosquitto logs a refused client without its ID.
        wait_for(lambda: self.broker.log().count("disconnected, not authorised") >= 3, TIMEOUT,
                 what="three refused attempts at the broker")
        self.assertEqual(proc.get_management("/ready")[0], 503)
        self.assertIsNone(proc.proc.poll())

    def test_password_from_an_environment_variable_connects(self):
        replies = self.enter(MqttClient(self.broker.port, client_id="replies", username="edge", password="s3cret"))
        replies.subscribe([("cred/out", 1)])
        self.processor({"subscriptions": [{"topic": "cred/in", "qos": 1}], "responseTopic": "cred/out"},
                       trigger_extra={"username": "edge", "password": {"valueFrom": {"envVar": "MQTT_PASSWORD"}}},
                       proc_env={"MQTT_PASSWORD": "s3cret"}, runtime="native", handler="builtin:echo")
        with MqttClient(self.broker.port, client_id="pub", username="edge", password="s3cret") as pub:
            pub.publish("cred/in", b"authorised", qos=1)
        self.assertEqual(replies.receive(TIMEOUT).payload, b"authorised")


if __name__ == "__main__":
    unittest.main()
