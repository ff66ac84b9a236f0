"""kafka-mock (test/tools/kafka_mock.cpp) for the Kafka tests: librdkafka's
mock cluster, real Kafka-protocol brokers on 127.0.0.1, driven through the
program's stdin/stdout line protocol (docs/kafka-mock.md). Standard library
only.

    with KafkaMock(brokers=3, topics={"orders": 4}) as kafka:
        kafka.bootstrap                        # "127.0.0.1:P1,127.0.0.1:P2,..."
        kafka.produce_seq("orders", 10000, keys=8)      # -> 10000 delivered
        kafka.broker_down(1); kafka.broker_up(1)
        kafka.push_errors("OffsetCommit", 3, "NOT_COORDINATOR")
        kafka.wait_committed("group", "orders", timeout=60)

Every method sends one command and waits (bounded) for its `ok`; an
`error: ...` answer raises KafkaMockError. Faults go through this process
because rd_kafka_mock_* act only inside the process that owns the cluster.
"""
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

import support

START_TIMEOUT = 15.0
COMMAND_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def kafka_mock_path():
    """build/bin/kafka-mock: beside the processor the tests run."""
    if os.environ.get("EDGEFN_KAFKA_MOCK"):
        return os.environ["EDGEFN_KAFKA_MOCK"]
    if support.BUILD_DIR:
        return os.path.join(support.BUILD_DIR, "bin", "kafka-mock")
    return os.path.join(os.path.dirname(os.path.abspath(support.PROCESSOR)), "kafka-mock")


# Bytes written as they are in a command word; everything else is %XX.
_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/,;@+!*()[]{}<>?^~|$&'`")


def encode_word(data):
    """A key, value or header part as a command word: None is `-`, empty is
    `""`, other bytes are percent-encoded where needed (str is UTF-8)."""
    if data is None:
        return "-"
    if isinstance(data, str):
        data = data.encode()
    if not data:
        return '""'
    word = "".join(chr(b) if b in _PLAIN else f"%{b:02X}" for b in data)
    return "%2D" if word == "-" else word


# librdkafka properties for a trigger under test: reconnect within half a
# second of a broker coming back (the default backs off to 10 s) and learn
# of new topics and leaders within a second.
FAST_RECONNECT = {"reconnect.backoff.max.ms": 500, "topic.metadata.refresh.interval.ms": 1000}


def kcat_consume(bootstrap, topic, fmt, timeout=60.0):
    """Every message of `topic` from the beginning, as kcat formats it (bytes)."""
    r = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", fmt],
                       capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"kcat -C -t {topic} exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    return r.stdout


class KafkaMockError(Exception):
    """kafka-mock answered `error: <why>` (`why`); `lines` are the lines it
    printed before that (produce-seq's `delivered N`, for instance)."""

    def __init__(self, command, why, lines):
        super().__init__(f"kafka-mock: {command!r}: {why}")
        self.command, self.why, self.lines = command, why, lines


class KafkaMock:
    """A running kafka-mock; a context manager (quits it, then kills it
    after STOP_TIMEOUT). `topics`: {name: partitions} created at start.
    `message_timeout_ms`: its producer's message.timeout.ms."""

    def __init__(self, brokers=3, topics=None, message_timeout_ms=None):
        self.brokers = brokers
        self.args = [kafka_mock_path(), "--brokers", str(brokers)]
        for name, partitions in (topics or {}).items():
            self.args += ["--topic", f"{name}:{partitions}"]
        if message_timeout_ms is not None:
            self.args += ["--message-timeout-ms", str(message_timeout_ms)]
        self.bootstrap = None
        self.proc = None
        self._lines = queue.Queue()
        self._lock = threading.Lock()
        self._tmp = None

    # -- lifecycle ----------------------------------------------------------

    def __enter__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="edgefn-kafka-mock-")
        self.log_path = os.path.join(self._tmp.name, "kafka-mock.log")
        try:
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                             text=True, encoding="utf-8", errors="replace", bufsize=1)
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
            first = self._next_line(time.monotonic() + START_TIMEOUT, "the bootstrap line")
            if not first.startswith("bootstrap "):
                raise AssertionError(f"kafka-mock's first line is not 'bootstrap ...': {first!r}")
            self.bootstrap = first.split(" ", 1)[1]
        except BaseException:
            self._show_log()
            self.close()
            raise
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            self._show_log()
        self.close()
        return False

    def close(self):
        self.stop()
        if self._tmp:
            self._tmp.cleanup()
            self._tmp = None

    def stop(self, timeout=STOP_TIMEOUT):
        """`quit` (it destroys the cluster and exits 0), then SIGKILL after
        `timeout`. Returns the exit status."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self._reader.join(5)
        return self.proc.returncode

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        """What kafka-mock and librdkafka wrote on stderr."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except (FileNotFoundError, AttributeError, TypeError):
            return ""

    def _show_log(self):
        sys.stderr.write(f"--- kafka-mock stderr, last 3000 characters:\n{self.log()[-3000:]}\n---\n")

    def _read(self):
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _next_line(self, deadline, what):
        try:
            line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"kafka-mock: no answer within the bound waiting for {what}") from None
        if line is None:
            self._lines.put(None)  # every later read sees the end too
            raise AssertionError(f"kafka-mock exited (status {self.proc.poll()}) waiting for {what}")
        return line

    # -- the protocol ---------------------------------------------------------

    def command(self, line, timeout=COMMAND_TIMEOUT):
        """Sends one command line; returns the lines before its `ok`, raises
        KafkaMockError on `error: ...` and AssertionError when no answer
        comes within `timeout` seconds."""
        with self._lock:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            deadline = time.monotonic() + timeout
            lines = []
            while True:
                answer = self._next_line(deadline, f"the answer to {line[:80]!r}")
                if answer == "ok":
                    return lines
                if answer.startswith("error: "):
                    raise KafkaMockError(line[:80], answer[len("error: "):], lines)
                lines.append(answer)

    @staticmethod
    def _offsets(lines):
        return {int(p): int(o) for p, o in (line.split() for line in lines)}

    def create_topic(self, name, partitions, replication=None):
        self.command(f"topic {name} {partitions}" + (f" {replication}" if replication else ""))

    def broker_down(self, broker_id):
        self.command(f"broker-down {broker_id}")

    def broker_up(self, broker_id):
        self.command(f"broker-up {broker_id}")

    def set_leader(self, topic, partition, broker_id):
        self.command(f"leader {topic} {partition} {broker_id}")

    def set_follower(self, topic, partition, broker_id):
        self.command(f"follower {topic} {partition} {broker_id}")

    def set_rtt(self, broker_id, ms):
        self.command(f"rtt {broker_id} {ms}")

    def push_errors(self, api, count, code):
        """The next `count` requests of `api` (Fetch, OffsetCommit, ... or a
        number) fail with `code` (NOT_COORDINATOR, ... or a number)."""
        self.command(f"error {api} {count} {code}")

    def clear_errors(self, api):
        self.command(f"clear-errors {api}")

    def set_topic_error(self, topic, code):
        self.command(f"topic-error {topic} {code}")

    def set_coordinator(self, kind, key, broker_id):
        self.command(f"coordinator {kind} {key} {broker_id}")

    def produce(self, topic, key, value, partition=-1, headers=None, timeout=COMMAND_TIMEOUT):
        """One message, delivery confirmed; returns (partition, offset).
        `headers`: [(name, value)] or {name: value}; bytes or str, None for
        a null key, value or header value."""
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        words = [f"{encode_word(name).replace('=', '%3D')}={encode_word(v)}" for name, v in items]
        lines = self.command(" ".join(["produce", topic, str(partition), encode_word(key), encode_word(value),
                                       *words]), timeout)
        _, p, offset = lines[-1].split()
        return int(p), int(offset)

    def produce_seq(self, topic, count, keys, size=None, timeout=300.0, check=True):
        """`count` messages, key k<i % keys>, value <key>:<seq> (padded to
        `size`), every delivery awaited; returns the delivered count. With
        check=False a partial delivery returns its count instead of raising."""
        line = f"produce-seq {topic} {count} {keys}" + (f" {size}" if size else "")
        try:
            lines = self.command(line, timeout)
        except KafkaMockError as e:
            delivered = [int(s.split()[1]) for s in e.lines if s.startswith("delivered ")]
            if check or not delivered:
                raise
            return delivered[0]
        return int(lines[-1].split()[1])

    def committed(self, group, topic):
        """{partition: committed offset} of `group` (-1: none)."""
        return self._offsets(self.command(f"committed {group} {topic}"))

    def end_offsets(self, topic):
        """{partition: high watermark}."""
        return self._offsets(self.command(f"end {topic}"))

    def start_offsets(self, topic):
        """{partition: low watermark}. The mock keeps at most 5 MiB (or
        100,000 message sets) per partition and drops the oldest beyond
        that: a start above 0 means those messages are gone."""
        return self._offsets(self.command(f"start {topic}"))

    def wait_committed(self, group, topic, timeout=60.0, interval=0.2):
        """Waits until `group` committed the end of every partition of
        `topic` (an empty partition needs no commit); returns the end
        offsets. Errors while brokers are down are retried until `timeout`."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                end = self.end_offsets(topic)
                last = (self.committed(group, topic), end)
                if all(last[0].get(p) == e or e == 0 for p, e in end.items()):
                    return end
            except KafkaMockError as e:
                last = e
            if time.monotonic() > deadline:
                raise AssertionError(f"group {group} did not commit the end of {topic} within {timeout}s; "
                                     f"last (committed, end): {last}")
            time.sleep(interval)
