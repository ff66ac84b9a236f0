"""kafka-mock (test/tools/kafka_mock.cpp) and its fixture (kafka_support.py):
the mock cluster listens on 127.0.0.1, every command answers ok or error,
what produce and produce-seq write is what kcat reads back (checked with
the stream verifier), committed offsets are those a real consumer group
committed, and broker faults, pushed errors and RTT take effect."""
import socket
import subprocess
import time
import unittest

from kafka_support import KafkaMock, KafkaMockError, encode_word, kafka_mock_path
from stream_verifier import StreamVerifier, parse_payload

KCAT_TIMEOUT = 120.0


def port_accepts(port, timeout=2.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def kcat(*args, timeout=KCAT_TIMEOUT):
    r = subprocess.run(["kcat", *args], capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"kcat {' '.join(args)} exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    return r.stdout


def consume_all(bootstrap, topic, fmt="%k %s\\n"):
    """Every message of `topic` from the beginning, as kcat formats it."""
    return kcat("-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", fmt.replace("\\n", "\n"))


class KafkaMockTest(unittest.TestCase):
    def test_starts_brokers_on_loopback_and_prints_their_bootstrap_list(self):
        with KafkaMock(brokers=2, topics={"pre": 3}) as kafka:
            addresses = kafka.bootstrap.split(",")
            self.assertEqual(len(addresses), 2)
            for address in addresses:
                host, port = address.rsplit(":", 1)
                self.assertEqual(host, "127.0.0.1")
                self.assertTrue(port_accepts(int(port)), address)
            self.assertEqual(kafka.command("bootstrap"), [f"bootstrap {kafka.bootstrap}"])
            # --topic pre:3 made the topic at start.
            self.assertEqual(kafka.end_offsets("pre"), {0: 0, 1: 0, 2: 0})

    def test_produce_answers_partition_and_offset_and_kcat_reads_key_value_and_headers(self):
        with KafkaMock(brokers=1) as kafka:
            kafka.create_topic("t", 2)
            value = b"two words\x00%25 and a NUL"
            self.assertEqual(kafka.produce("t", "key one", value, partition=1, headers={"h": "v=1 2", "n": None}),
                             (1, 0))
            self.assertEqual(kafka.produce("t", None, b"", partition=1), (1, 1))
            self.assertEqual(kafka.produce("t", "-", "x", partition=0), (0, 0))
            self.assertEqual(kafka.end_offsets("t"), {0: 1, 1: 2})
            # -Z: NULL for a null key; kcat prints an empty value so too.
            out = kcat("-C", "-b", kafka.bootstrap, "-t", "t", "-p", "1", "-o", "beginning", "-e", "-q", "-Z",
                       "-f", "%k|%S|%s|%h|%o\n")
            self.assertEqual(out, b"key one|%d|%s|h=v=1 2,n=NULL|0\nNULL|0|NULL||1\n" % (len(value), value))
            self.assertEqual(kcat("-C", "-b", kafka.bootstrap, "-t", "t", "-p", "0", "-o", "beginning", "-e", "-q",
                                  "-f", "%k\n"), b"-\n")

    def test_produce_seq_delivers_every_message_in_order_per_key(self):
        count, keys = 20000, 16
        with KafkaMock() as kafka:
            kafka.create_topic("seq", 4)
            self.assertEqual(kafka.produce_seq("seq", count, keys), count)
            self.assertEqual(sum(kafka.end_offsets("seq").values()), count)
            v = StreamVerifier()
            v.published_seq(count, keys)
            for line in consume_all(kafka.bootstrap, "seq").splitlines():
                key, value = line.split(b" ", 1)
                self.assertEqual(parse_payload(value)[0], key.decode(), line)
                v.received(value)
            r = v.assert_complete(allow_reordered=False)
            self.assertEqual((r.n, r.received, r.lost_count, r.duplicated, r.reordered), (count, count, 0, 0, 0))

    def test_produce_seq_pads_values_to_the_size_asked(self):
        with KafkaMock(brokers=1) as kafka:
            self.assertEqual(kafka.produce_seq("padded", 10, 3, size=64), 10)
            values = consume_all(kafka.bootstrap, "padded", "%s\\n").splitlines()
            self.assertEqual(len(values), 10)
            for value in values:
                self.assertEqual(len(value), 64, value)
            self.assertEqual(sorted(parse_payload(v) for v in values),
                             sorted((f"k{i % 3}", i // 3) for i in range(10)))

    def test_start_shows_that_the_mock_drops_the_oldest_messages_beyond_5_mib_per_partition(self):
        with KafkaMock(brokers=1) as kafka:
            kafka.create_topic("small", 1)
            kafka.produce_seq("small", 1000, 10, size=64)
            self.assertEqual(kafka.start_offsets("small"), {0: 0})
            # 20,000 values of 1 KiB: 20 MiB, beyond what one partition keeps.
            kafka.create_topic("big", 1)
            self.assertEqual(kafka.produce_seq("big", 20000, 10, size=1024), 20000)
            start, end = kafka.start_offsets("big")[0], kafka.end_offsets("big")[0]
            self.assertGreater(start, 0)
            self.assertEqual(end, 20000)
            out = consume_all(kafka.bootstrap, "big", "%o\\n").split()
            self.assertEqual((len(out), int(out[0])), (end - start, start))

    def test_committed_shows_what_a_consumer_group_committed(self):
        with KafkaMock() as kafka:
            kafka.create_topic("c", 3)
            self.assertEqual(kafka.committed("nobody", "c"), {0: -1, 1: -1, 2: -1})
            kafka.produce_seq("c", 300, 7)
            # kcat's balanced consumer commits its position when it closes.
            out = kcat("-C", "-b", kafka.bootstrap, "-G", "readers", "-X", "auto.offset.reset=earliest", "-e",
                       "-q", "-f", "%s\n", "c")
            self.assertEqual(len(out.splitlines()), 300)
            end = kafka.wait_committed("readers", "c", timeout=30)
            self.assertEqual(sum(end.values()), 300)
            self.assertEqual(kafka.committed("readers", "c"), end)

    def test_a_broker_set_down_refuses_connections_until_set_up(self):
        with KafkaMock(brokers=2) as kafka:
            kafka.create_topic("d", 1, 2)
            kafka.set_leader("d", 0, 2)
            port = int(kafka.bootstrap.split(",")[1].rsplit(":", 1)[1])
            kafka.broker_down(2)
            self.assertFalse(port_accepts(port))
            kafka.broker_up(2)
            self.assertTrue(port_accepts(port))
            self.assertEqual(kafka.produce("d", "k", "after", partition=0), (0, 0))

    def test_leader_moves_and_messages_still_arrive(self):
        with KafkaMock() as kafka:
            kafka.create_topic("m", 2)
            kafka.produce_seq("m", 100, 4)
            for broker in (2, 3, 1):
                kafka.set_leader("m", 0, broker)
                kafka.set_leader("m", 1, broker)
                self.assertEqual(kafka.produce_seq("m", 100, 4), 100)
            self.assertEqual(sum(kafka.end_offsets("m").values()), 400)
            with self.assertRaisesRegex(KafkaMockError, "UNKNOWN_TOPIC_OR_PART"):
                kafka.set_leader("m", 2, 1)

    def test_pushed_errors_reach_the_clients_and_then_run_out(self):
        with KafkaMock() as kafka:
            kafka.create_topic("e", 2)
            kafka.push_errors("OffsetFetch", 1, "GROUP_AUTHORIZATION_FAILED")
            with self.assertRaisesRegex(KafkaMockError, "GROUP_AUTHORIZATION_FAILED"):
                kafka.committed("g", "e")
            self.assertEqual(kafka.committed("g", "e"), {0: -1, 1: -1})
            # A non-retriable produce error fails that message; the next
            # command's producer starts clean.
            kafka.push_errors("Produce", 1, "TOPIC_AUTHORIZATION_FAILED")
            with self.assertRaisesRegex(KafkaMockError, "not delivered: TOPIC_AUTHORIZATION_FAILED"):
                kafka.produce("e", "k", "v", partition=0)
            self.assertEqual(kafka.produce("e", "k", "v", partition=0), (0, 0))
            # Retriable errors (numeric API 1 is Fetch, code 6 is
            # NOT_LEADER_FOR_PARTITION) are retried: nothing is lost.
            kafka.push_errors(1, 3, 6)
            kafka.push_errors("Produce", 2, "REQUEST_TIMED_OUT")
            self.assertEqual(kafka.produce_seq("e", 1000, 5), 1000)
            lines = consume_all(kafka.bootstrap, "e", "%s\\n").splitlines()
            self.assertEqual(len(lines), 1001)
            kafka.clear_errors("Fetch")

    def test_rtt_delays_every_answer_of_a_broker(self):
        with KafkaMock(brokers=1) as kafka:
            kafka.create_topic("r", 1)
            kafka.end_offsets("r")  # connected and metadata known
            kafka.set_rtt(1, 400)
            started = time.monotonic()
            kafka.end_offsets("r")
            # A lower bound only: the delay is there, however slow the machine.
            self.assertGreaterEqual(time.monotonic() - started, 0.35)
            kafka.set_rtt(1, 0)

    def test_bad_commands_answer_an_error_and_the_program_keeps_serving(self):
        with KafkaMock(brokers=2) as kafka:
            cases = {
                "nonsense": "unknown command",
                "topic": "usage: topic NAME PARTITIONS",
                "topic x 0": "PARTITIONS must be",
                "topic x 1 3": "REPLICATION must be an integer from 1 to 2",
                "broker-down 7": "BROKER_ID must be",
                "error Bogus 1 NOT_COORDINATOR": "unknown API 'Bogus'",
                "error Fetch 1 NO_SUCH_CODE": "unknown error code",
                "produce t 0 a%zz v": "bad percent escape",
                "produce t 0 k v novalue": "is not NAME=VALUE",
                "coordinator cluster g 1": "group or transaction",
            }
            for line, why in cases.items():
                with self.assertRaisesRegex(KafkaMockError, why, msg=line):
                    kafka.command(line)
            kafka.create_topic("x", 1)
            with self.assertRaisesRegex(KafkaMockError, "TOPIC_ALREADY_EXISTS"):
                kafka.create_topic("x", 1)
            self.assertEqual(kafka.command("bootstrap"), [f"bootstrap {kafka.bootstrap}"])
            self.assertIn("produce-seq TOPIC COUNT KEYS [SIZE]  -> delivered N", "\n".join(kafka.command("help")))
            self.assertEqual(kafka.stop(), 0)

    def test_end_of_stdin_destroys_the_cluster_and_exits_0(self):
        proc = subprocess.Popen([kafka_mock_path(), "--brokers", "1"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            out, _ = proc.communicate(b"# a comment gets no answer\n\nbootstrap\n", timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        lines = out.decode().splitlines()
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(len(lines), 3, lines)
        self.assertRegex(lines[0], r"^bootstrap 127\.0\.0\.1:\d+$")
        self.assertEqual(lines[1:], [lines[0], "ok"])

    def test_bad_arguments_exit_2_with_usage(self):
        for args in (["--brokers", "0"], ["--topic", ":4"], ["--topic", "t:x"], ["--nope"], ["--brokers"]):
            r = subprocess.run([kafka_mock_path(), *args], capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("usage: kafka-mock", r.stderr)
            self.assertEqual(r.stdout, "")

    def test_words_are_percent_encoded_where_needed(self):
        self.assertEqual(encode_word(None), "-")
        self.assertEqual(encode_word(b""), '""')
        self.assertEqual(encode_word("-"), "%2D")
        self.assertEqual(encode_word('""'), "%22%22")
        self.assertEqual(encode_word(b"a b%\x00\xff=\n"), "a%20b%25%00%FF%3D%0A")


if __name__ == "__main__":
    unittest.main()
