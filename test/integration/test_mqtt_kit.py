"""The MQTT test kit (mqtt_support.py, mqtt_client.py) against a real
mosquitto: the client publishes and receives at QoS 0, 1 and 2 over MQTT
3.1.1 and 5, TCP, TLS and WebSocket; the broker keeps a persistent
session's queued messages through SIGKILL and a restart on the same port;
credentials are checked; and the stream verifier counts what it should."""
import socket
import ssl
import unittest

import mqtt_support
from mqtt_support import (Mosquitto, MqttClient, MqttError, MqttTimeout, StreamVerifier, make_payload,
                          parse_payload)

TIMEOUT = 20.0


class StreamVerifierTest(unittest.TestCase):
    def test_payloads_round_trip_with_nul_bytes_and_exact_sizes(self):
        body = make_payload("sensor-1", 42, size=1 << 20, nul=True)
        self.assertEqual(len(body), 1 << 20)
        self.assertIn(b"\x00", body)
        self.assertEqual(parse_payload(body), ("sensor-1", 42))
        self.assertEqual(make_payload("k", 7), b"k:7:")
        self.assertEqual(parse_payload(make_payload("k", 7, nul=True)), ("k", 7))
        with self.assertRaises(ValueError):
            make_payload("a:b", 1)

    def test_complete_stream_with_duplicates_is_complete(self):
        v = StreamVerifier()
        v.publish_range("a", range(5))
        for seq in (0, 1, 2, 1, 3, 4, 4):
            v.received(make_payload("a", seq))
        r = v.assert_complete(allow_reordered=False)
        self.assertEqual((r.n, r.received, r.lost_count, r.duplicated, r.reordered), (5, 7, 0, 2, 0))

    def test_loss_is_reported_per_key_and_fails(self):
        v = StreamVerifier()
        v.publish_range("a", range(3))
        v.publish_range("b", range(3))
        for key, seq in (("a", 0), ("a", 2), ("b", 0), ("b", 1), ("b", 2)):
            v.received(key, seq)
        r = v.report()
        self.assertEqual(r.lost, {"a": [1], "b": []})
        self.assertFalse(r.complete)
        with self.assertRaisesRegex(AssertionError, r"lost=1 .*'a': \[1\]"):
            v.assert_complete()

    def test_reordering_is_counted_per_key_and_fails_only_when_asked(self):
        v = StreamVerifier()
        v.publish_range("a", range(3))
        v.publish_range("b", range(2))
        # b interleaved with a is not reordering; a's 1 after 2 is.
        for key, seq in (("a", 0), ("b", 0), ("a", 2), ("b", 1), ("a", 1), ("a", 2)):
            v.received(key, seq)
        r = v.assert_complete()
        self.assertEqual((r.reordered, r.duplicated), (1, 1))
        with self.assertRaisesRegex(AssertionError, "reordered=1"):
            v.assert_complete(allow_reordered=False)

    def test_a_message_never_published_is_unexpected(self):
        v = StreamVerifier()
        v.publish_range("a", range(1))
        v.received("a", 0)
        v.received("a", 9)
        self.assertEqual(v.report().unexpected, [("a", 9)])
        self.assertFalse(v.all_received())


class PublishSubscribeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Mosquitto(websockets=True).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.broker.__exit__(None, None, None)

    def exchange(self, version, **transport):
        """Client A and B each publish at QoS 0, 1 and 2 to a topic the other
        subscribed with a wildcard; each receives the other's three."""
        port = transport.pop("port", self.broker.port)
        a = MqttClient(port, client_id=f"a{version}{len(transport)}", version=version, **transport)
        b = MqttClient(port, client_id=f"b{version}{len(transport)}", version=version, **transport)
        with a, b:
            self.assertEqual(a.subscribe([("to-a/+/x", 2)]), [2])
            self.assertEqual(b.subscribe([("to-b/#", 2)]), [2])
            for sender, receiver, topic in ((a, b, "to-b/deep/er"), (b, a, "to-a/q/x")):
                v = StreamVerifier()
                for qos in (0, 1, 2):
                    sender.publish(topic, make_payload("s", qos, size=1000, nul=True), qos=qos)
                    v.published("s", qos)
                for msg in receiver.receive_many(3, TIMEOUT):
                    self.assertEqual(msg.topic, topic)
                    self.assertEqual(msg.qos, parse_payload(msg.payload)[1])
                    v.received(msg.payload)
                v.assert_complete(allow_reordered=False)

    def test_mqtt_311_qos_0_1_2_both_ways(self):
        self.exchange(4)

    def test_mqtt_5_qos_0_1_2_both_ways(self):
        self.exchange(5)

    def test_over_websocket(self):
        self.exchange(5, port=self.broker.ws_port, websocket_path="/mqtt")

    def test_mqtt_5_properties_and_retain_reach_the_subscriber(self):
        with MqttClient(self.broker.port, client_id="props-pub", version=5) as pub:
            pub.publish("props/retained", b"kept", qos=1, retain=True)
            with MqttClient(self.broker.port, client_id="props-sub", version=5) as sub:
                sub.subscribe([("props/#", 1)])
                retained = sub.receive(TIMEOUT)
                self.assertEqual((retained.topic, retained.payload, retained.retain), ("props/retained", b"kept", True))
                pub.publish("props/live", b"\x00body", qos=1, user_properties=[("k", "v"), ("k", "w")],
                            response_topic="props/reply", correlation_data=b"\x00\x01")
                live = sub.receive(TIMEOUT)
                self.assertEqual(live.payload, b"\x00body")
                self.assertFalse(live.retain)
                self.assertEqual(live.user_properties, [("k", "v"), ("k", "w")])
                self.assertEqual(live.properties["response_topic"], "props/reply")
                self.assertEqual(live.properties["correlation_data"], b"\x00\x01")
            pub.publish("props/retained", b"", qos=1, retain=True)  # clears it

    def test_unacknowledged_message_is_redelivered_with_dup_after_reconnect(self):
        with MqttClient(self.broker.port, client_id="noack", clean=False, auto_ack=False) as sub:
            sub.subscribe([("noack", 1)])
            with MqttClient(self.broker.port, client_id="noack-pub") as pub:
                pub.publish("noack", b"once", qos=1)
            first = sub.receive(TIMEOUT)
            self.assertFalse(first.dup)
        with MqttClient(self.broker.port, client_id="noack", clean=False) as sub:
            self.assertTrue(sub.session_present)
            again = sub.receive(TIMEOUT)
            self.assertEqual((again.payload, again.dup), (b"once", True))
        with MqttClient(self.broker.port, client_id="noack", clean=True):
            pass

    def test_receive_without_a_message_times_out_within_its_bound(self):
        with MqttClient(self.broker.port, client_id="idle") as c:
            with self.assertRaises(MqttTimeout):
                c.receive(0.2)


class PersistenceTest(unittest.TestCase):
    def queued_messages_survive(self, version, stop):
        """A persistent session subscribes at QoS 1 and goes away; 300
        messages are published; the broker goes down (`stop`) and comes back
        on the same port; the session gets all 300."""
        # MQTT 5: mosquitto 2.0.11 restores no session created with Clean
        # Start set, whatever its expiry interval (measured), so the session
        # is made with Clean Start 0 from the first connect.
        session = dict(client_id=f"persistent-{version}", version=version, clean=False)
        if version == 5:
            session.update(session_expiry=3600)
        with Mosquitto() as broker:
            port = broker.port
            with MqttClient(port, **session) as sub:
                sub.subscribe([("stream/#", 1)])
            v = StreamVerifier()
            with MqttClient(port, client_id="publisher", version=version) as pub:
                for seq in range(300):
                    pub.publish(f"stream/{seq % 3}", make_payload("p", seq, 64), qos=1, wait=False)
                    v.published("p", seq)
                pub.flush(TIMEOUT)
            stop(broker)
            self.assertFalse(broker.running)
            broker.start()
            self.assertEqual(broker.port, port)
            with MqttClient(port, **session) as sub:
                self.assertTrue(sub.session_present)
                for msg in sub.receive_many(300, TIMEOUT):
                    v.received(msg.payload)
            v.assert_complete()

    def test_sigkill_after_sync_keeps_queued_qos1_messages_of_a_311_session(self):
        def sync_then_kill(broker):
            broker.sync()
            broker.kill()
        self.queued_messages_survive(4, sync_then_kill)

    def test_sigterm_keeps_queued_qos1_messages_of_an_mqtt5_session(self):
        self.queued_messages_survive(5, Mosquitto.stop)

    def test_a_client_sees_the_broker_go_away(self):
        with Mosquitto() as broker:
            with MqttClient(broker.port, client_id="watcher") as c:
                broker.kill()
                self.assertIn("closed", c.wait_closed(TIMEOUT))
                with self.assertRaisesRegex(MqttError, "connection closed"):
                    c.publish("x", b"y", qos=1)

    def test_first_start_moves_to_another_port_when_its_port_is_taken(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = [taken.getsockname()[1]]
        real = mqtt_support.free_port
        mqtt_support.free_port = lambda: ports.pop() if ports else real()
        try:
            with Mosquitto() as broker:
                self.assertNotEqual(broker.port, taken.getsockname()[1])
                self.assertIn("Address already in use", broker.log())
                with MqttClient(broker.port, client_id="moved"):
                    pass
        finally:
            mqtt_support.free_port = real
            taken.close()


class TlsTest(unittest.TestCase):
    def test_tls_with_the_generated_ca(self):
        with Mosquitto(tls=True) as broker:
            with MqttClient(broker.tls_port, client_id="tls", version=5,
                            tls=broker.certs.client_context()) as c:
                c.subscribe([("secure", 1)])
                c.publish("secure", b"\x00tls", qos=1)
                self.assertEqual(c.receive(TIMEOUT).payload, b"\x00tls")
            # The system trust store does not know the test CA.
            with self.assertRaises(ssl.SSLCertVerificationError):
                MqttClient(broker.tls_port, client_id="untrusted", tls=ssl.create_default_context()).connect()

    def test_mutual_tls_refuses_a_client_without_a_certificate(self):
        with Mosquitto(tls=True, require_client_cert=True) as broker:
            with MqttClient(broker.tls_port, client_id="mutual", tls=broker.certs.client_context(True)) as c:
                c.publish("m", b"x", qos=1)
            # TLS 1.3: the refusal shows once the client reads.
            with self.assertRaises((ssl.SSLError, MqttError, OSError)):
                MqttClient(broker.tls_port, client_id="anon", tls=broker.certs.client_context()).connect()


class CredentialsTest(unittest.TestCase):
    def test_wrong_or_missing_password_is_refused_and_the_right_one_accepted(self):
        with Mosquitto(users={"edge": "s3cret", "other": "x"}) as broker:
            for version in (4, 5):
                for creds in ({"username": "edge", "password": "wrong"}, {"username": "nobody", "password": "x"},
                              {}):
                    with self.assertRaisesRegex(MqttError, "connection refused") as ctx:
                        MqttClient(broker.port, client_id="c", version=version, **creds).connect()
                    # 3.1.1: 4 bad user name or password, 5 not authorized;
                    # 5: 0x86 / 0x87.
                    self.assertIn(ctx.exception.code, (4, 5) if version == 4 else (0x86, 0x87))
                with MqttClient(broker.port, client_id="ok", version=version, username="edge",
                                password="s3cret") as c:
                    c.publish("auth", b"x", qos=1)


if __name__ == "__main__":
    unittest.main()
