"""The stream verifier every stream trigger's tests use (MQTT, Kafka),
modelled on librdkafka's test msgver: each message carries a key and a
sequence number counting per key from 0; the verifier records what was
published and what arrived and reports n, lost, duplicated and reordered
(per key). Standard library only.

Payload formats it reads: make_payload()'s b"key:seq:<padding>" and
kafka-mock's produce-seq values b"key:seq" (b"key:seq:xxx" when padded).

    v = StreamVerifier()
    v.published_seq(10000, 8)            # what `produce-seq T 10000 8` wrote
    v.received(value) ...                # or v.received(key, seq)
    report = v.assert_complete(allow_reordered=False)
"""
import threading


def make_payload(key, seq, size=0, nul=False):
    """b"key:seq:" then padding up to `size` bytes in total. With nul the
    padding holds NUL and 0xFF bytes (and a NUL right after the header), so
    anything that treats the body as a C string or as text breaks it."""
    head = f"{key}:{seq}:".encode()
    if ":" in key:
        raise ValueError("a stream key cannot contain ':'")
    fill = b"\x00\xff\x00edgefn" if nul else b"edgefn-"
    pad = max(size - len(head), 1 if nul else 0)
    return head + (fill * (pad // len(fill) + 1))[:pad]


def parse_payload(body):
    """(key, seq) from a make_payload() body or a kafka-mock produce-seq
    value (b"key:seq", padded as b"key:seq:xxx"); ValueError if it is
    neither."""
    if isinstance(body, str):
        body = body.encode()
    parts = bytes(body).split(b":", 2)
    if len(parts) < 2:
        raise ValueError(f"not a stream payload: {bytes(body)[:40]!r}")
    return parts[0].decode(), int(parts[1])


def seq_messages(count, keys, prefix="k"):
    """The (key, seq) pairs of kafka-mock's `produce-seq TOPIC count keys`,
    in the order it produced them: message i has key k<i % keys> and seq
    i // keys."""
    return [(f"{prefix}{i % keys}", i // keys) for i in range(count)]


class StreamReport:
    def __init__(self, n, received, lost, duplicated, reordered, unexpected, reordered_by_key=None):
        self.n, self.received = n, received
        self.lost = lost              # {key: [seq, ...]} published, never received
        self.duplicated = duplicated  # arrivals of a (key, seq) already received
        self.reordered = reordered    # first arrivals after a higher seq of the same key
        self.unexpected = unexpected  # [(key, seq)] received, never published
        self.reordered_by_key = reordered_by_key or {}  # {key: count} of those reordered

    @property
    def lost_count(self):
        return sum(len(v) for v in self.lost.values())

    @property
    def complete(self):
        """Nothing lost and nothing made up (duplicates are allowed)."""
        return not self.lost_count and not self.unexpected

    def __str__(self):
        lost = {k: (v[:10] + ["..."] if len(v) > 10 else v) for k, v in self.lost.items() if v}
        return (f"n={self.n} received={self.received} lost={self.lost_count} duplicated={self.duplicated} "
                f"reordered={self.reordered} unexpected={len(self.unexpected)}" +
                (f" lost seqs={lost}" if lost else "") +
                (f" reordered by key={dict(list(self.reordered_by_key.items())[:10])}"
                 if self.reordered_by_key else "") +
                (f" unexpected={self.unexpected[:10]}" if self.unexpected else ""))


class StreamVerifier:
    """Records what was published and what arrived, per key; thread-safe.

        v = StreamVerifier()
        v.published("k", 0) ...; v.received(msg.payload) ...
        v.assert_complete()   # raises AssertionError with the report
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._published = {}  # key -> set of seq
        self._arrivals = []   # (key, seq) in arrival order

    def published(self, key, seq):
        with self._lock:
            self._published.setdefault(key, set()).add(seq)

    def publish_range(self, key, seqs):
        with self._lock:
            self._published.setdefault(key, set()).update(seqs)

    def published_seq(self, count, keys, prefix="k"):
        """Records what kafka-mock's `produce-seq TOPIC count keys` produced
        (after it answered `delivered count`)."""
        for k in range(min(count, keys)):
            self.publish_range(f"{prefix}{k}", range((count - k + keys - 1) // keys))

    def received(self, payload_or_key, seq=None):
        key, seq = parse_payload(payload_or_key) if seq is None else (payload_or_key, seq)
        with self._lock:
            self._arrivals.append((key, seq))

    def received_count(self):
        with self._lock:
            return len(self._arrivals)

    def distinct_received(self):
        with self._lock:
            return len(set(self._arrivals))

    def report(self):
        with self._lock:
            published = {k: set(v) for k, v in self._published.items()}
            arrivals = list(self._arrivals)
        seen, highest, reordered_by_key = set(), {}, {}
        duplicated = reordered = 0
        unexpected = []
        for key, seq in arrivals:
            if (key, seq) in seen:
                duplicated += 1
                continue
            seen.add((key, seq))
            if seq not in published.get(key, ()):
                unexpected.append((key, seq))
            if seq < highest.get(key, -1):
                reordered += 1
                reordered_by_key[key] = reordered_by_key.get(key, 0) + 1
            highest[key] = max(highest.get(key, -1), seq)
        lost = {k: sorted(s for s in seqs if (k, s) not in seen) for k, seqs in published.items()}
        return StreamReport(sum(len(v) for v in published.values()), len(arrivals), lost, duplicated,
                            reordered, unexpected, reordered_by_key)

    def all_received(self):
        """True once every published message arrived at least once."""
        return self.report().complete

    def assert_complete(self, allow_reordered=True):
        report = self.report()
        if not report.complete or (not allow_reordered and report.reordered):
            raise AssertionError(f"stream incomplete: {report}")
        return report
