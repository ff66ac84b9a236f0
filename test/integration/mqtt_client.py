"""A small MQTT 3.1.1 / 5 client for the tests, on sockets and struct only.

One I/O thread owns the socket (TCP, TLS or WebSocket): it writes what
the caller queued, reads packets, answers PUBREL/PUBREC and, unless the
client was made with auto_ack=False, acknowledges incoming QoS 1/2
messages as soon as they arrive. Calls from the test thread (publish,
subscribe) queue a packet and wait, bounded, for its acknowledgement, so
publish() returning means the broker took the message: a publisher that
returns has never under-delivered.

    with MqttClient(port, client_id="t1", version=5) as c:
        c.subscribe([("a/#", 1)])
        c.publish("a/b", b"x", qos=1)
        msg = c.receive(timeout=5)

Everything that waits takes a timeout and raises MqttTimeout past it;
a refused CONNECT, SUBSCRIBE or PUBLISH raises MqttError with the reason.
"""
import collections
import queue
import select
import socket
import struct
import threading
import time

from mqtt_websocket import WebSocketStream

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = range(1, 8)
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = range(8, 16)

# MQTT 5 property identifiers -> (name, wire type).
_PROPERTIES = {
    0x01: ("payload_format", "byte"), 0x02: ("message_expiry", "u32"), 0x03: ("content_type", "str"),
    0x08: ("response_topic", "str"), 0x09: ("correlation_data", "bin"), 0x0B: ("subscription_id", "varint"),
    0x11: ("session_expiry", "u32"), 0x12: ("assigned_client_id", "str"), 0x13: ("server_keep_alive", "u16"),
    0x15: ("auth_method", "str"), 0x16: ("auth_data", "bin"), 0x17: ("request_problem_info", "byte"),
    0x18: ("will_delay", "u32"), 0x19: ("request_response_info", "byte"), 0x1A: ("response_info", "str"),
    0x1C: ("server_reference", "str"), 0x1F: ("reason_string", "str"), 0x21: ("receive_maximum", "u16"),
    0x22: ("topic_alias_maximum", "u16"), 0x23: ("topic_alias", "u16"), 0x24: ("maximum_qos", "byte"),
    0x25: ("retain_available", "byte"), 0x26: ("user_property", "pair"), 0x27: ("maximum_packet_size", "u32"),
    0x28: ("wildcard_available", "byte"), 0x29: ("subscription_id_available", "byte"),
    0x2A: ("shared_available", "byte"),
}
_PROPERTY_IDS = {name: (pid, kind) for pid, (name, kind) in _PROPERTIES.items()}

# 3.1.1 CONNACK return codes, for error messages.
_CONNACK_311 = {1: "unacceptable protocol version", 2: "identifier rejected", 3: "server unavailable",
                4: "bad user name or password", 5: "not authorized"}


class MqttError(Exception):
    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class MqttTimeout(MqttError):
    pass


class _Pending:
    """One of our packets waiting for its acknowledgement."""

    def __init__(self, publish, detached):
        self.publish = publish    # a QoS 1/2 PUBLISH (counts against the window)
        self.detached = detached  # nobody waits: dropped when done, errors kept for flush()
        self.done = False
        self.result = None


class Message:
    """An incoming PUBLISH. `user_properties` is a list of (name, value)."""

    def __init__(self, topic, payload, qos, retain, dup, packet_id, properties):
        self.topic, self.payload, self.qos, self.retain, self.dup = topic, payload, qos, retain, dup
        self.packet_id = packet_id
        self.properties = properties
        self.user_properties = properties.get("user_property", [])

    def __repr__(self):
        return f"Message({self.topic!r}, {len(self.payload)} bytes, qos={self.qos}, dup={self.dup})"


# --- encoding -----------------------------------------------------------

def _varint(n):
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s):
    data = s.encode() if isinstance(s, str) else bytes(s)
    return struct.pack("!H", len(data)) + data


def _properties(props):
    """{name: value}; user_property is a list of pairs."""
    out = bytearray()
    for name, value in (props or {}).items():
        pid, kind = _PROPERTY_IDS[name]
        values = value if kind == "pair" else [value]
        for v in values:
            out.append(pid)
            out += {"byte": lambda: struct.pack("!B", v), "u16": lambda: struct.pack("!H", v),
                    "u32": lambda: struct.pack("!I", v), "varint": lambda: _varint(v),
                    "str": lambda: _str(v), "bin": lambda: _str(v),
                    "pair": lambda: _str(v[0]) + _str(v[1])}[kind]()
    return _varint(len(out)) + bytes(out)


def _packet(kind, flags, body):
    return bytes([kind << 4 | flags]) + _varint(len(body)) + body


# --- decoding -----------------------------------------------------------

class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise MqttError("malformed packet from the broker: truncated")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("!H", self.take(2))[0]

    def u32(self):
        return struct.unpack("!I", self.take(4))[0]

    def varint(self):
        value, shift = 0, 0
        for _ in range(4):
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
        raise MqttError("malformed packet from the broker: variable integer too long")

    def binary(self):
        return bytes(self.take(self.u16()))

    def string(self):
        return self.binary().decode()

    def rest(self):
        return bytes(self.take(len(self.data) - self.pos))

    def left(self):
        return len(self.data) - self.pos

    def properties(self):
        end = self.varint() + self.pos
        props = {}
        while self.pos < end:
            name, kind = _PROPERTIES.get(self.u8(), (None, None))
            if name is None:
                raise MqttError("malformed packet from the broker: unknown property")
            value = {"byte": self.u8, "u16": self.u16, "u32": self.u32, "varint": self.varint,
                     "str": self.string, "bin": self.binary,
                     "pair": lambda: (self.string(), self.string())}[kind]()
            if kind == "pair":
                props.setdefault(name, []).append(value)
            else:
                props[name] = value
        return props


def _split_packet(buffer):
    """(type, flags, body, length consumed) of the first whole packet in
    `buffer`, or None while it is incomplete."""
    if len(buffer) < 2:
        return None
    length, shift, i = 0, 0, 1
    while True:
        if i >= len(buffer):
            return None
        byte = buffer[i]
        length |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            break
        shift += 7
        if i > 4:
            raise MqttError("malformed packet from the broker: remaining length too long")
    if len(buffer) < i + length:
        return None
    return buffer[0] >> 4, buffer[0] & 0x0F, bytes(buffer[i:i + length]), i + length


# --- the client ---------------------------------------------------------

class MqttClient:
    def __init__(self, port, client_id="", version=4, clean=True, session_expiry=None, username=None,
                 password=None, keepalive=60, host="127.0.0.1", tls=None, websocket_path=None,
                 auto_ack=True, timeout=10.0, will=None):
        """`tls`: an ssl.SSLContext; `websocket_path`: "/mqtt" for MQTT over
        WebSocket; `session_expiry`: seconds (MQTT 5; 0xFFFFFFFF never);
        `will`: (topic, payload, qos, retain)."""
        self.port, self.host, self.version = port, host, version
        self.client_id, self.clean, self.session_expiry = client_id, clean, session_expiry
        self.username, self.password, self.keepalive = username, password, keepalive
        self.tls, self.websocket_path, self.auto_ack, self.timeout = tls, websocket_path, auto_ack, timeout
        self.will = will
        self.session_present = None
        self.connack_properties = {}
        self.disconnect_reason = None  # why the connection ended, once it has
        self.messages = queue.Queue()
        self._cond = threading.Condition()
        self._pending = {}  # packet id -> _Pending, for our PUBLISH/SUBSCRIBE/UNSUBSCRIBE
        self._failed = []  # errors of publishes nobody waits for (wait=False), for flush()
        self._next_id = 0
        self._outgoing = collections.deque()
        self._wake_r = self._wake_w = None  # wakes the I/O thread for outgoing packets
        self._sock = self._stream = None
        self._leftover = b""  # bytes read after CONNACK in the same recv
        self._thread = None
        self._closed = threading.Event()
        self._inflight_limit = 20

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- connection ---------------------------------------------------------

    def connect(self):
        """Connects and waits for CONNACK; raises MqttError if refused."""
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            stream = WebSocketStream(sock, self.host, self.port, self.websocket_path, self.timeout) \
                if self.websocket_path else sock
            self._sock, self._stream = sock, stream
            stream.sendall(self._connect_packet())
            kind, body = self._read_connack(time.monotonic() + self.timeout)
        except BaseException:
            sock.close()
            raise
        if kind != CONNACK:
            sock.close()
            raise MqttError(f"expected CONNACK, got packet type {kind}")
        r = _Reader(body)
        self.session_present = bool(r.u8() & 1)
        code = r.u8()
        if self.version == 5:
            self.connack_properties = r.properties()
            self._inflight_limit = self.connack_properties.get("receive_maximum", 65535)
        if code != 0:
            sock.close()
            text = _CONNACK_311.get(code, "") if self.version != 5 else \
                self.connack_properties.get("reason_string", "")
            raise MqttError(f"connection refused: code 0x{code:02x} {text}".strip(), code)
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"mqtt-{self.client_id}")
        self._thread.start()
        return self

    def _connect_packet(self):
        flags = (0x02 if self.clean else 0) | (0x80 if self.username is not None else 0) | \
                (0x40 if self.password is not None else 0)
        body = _str("MQTT") + bytes([self.version])
        props = {}
        if self.version == 5 and self.session_expiry is not None:
            props["session_expiry"] = self.session_expiry
        payload = _str(self.client_id)
        if self.will:
            topic, message, qos, retain = self.will
            flags |= 0x04 | qos << 3 | (0x20 if retain else 0)
            payload += (_properties({}) if self.version == 5 else b"") + _str(topic) + _str(message)
        if self.username is not None:
            payload += _str(self.username)
        if self.password is not None:
            payload += _str(self.password)
        body += bytes([flags]) + struct.pack("!H", self.keepalive)
        if self.version == 5:
            body += _properties(props)
        return _packet(CONNECT, 0, body + payload)

    def _read_connack(self, deadline):
        buffer = bytearray()
        while True:
            split = _split_packet(buffer)
            if split:
                self._leftover = bytes(buffer[split[3]:])
                return split[0], split[2]
            if time.monotonic() > deadline:
                raise MqttTimeout("no CONNACK in time")
            self._sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self._stream.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise MqttError("the broker closed the connection before CONNACK")
            buffer += chunk

    def disconnect(self, reason=0):
        """Sends DISCONNECT (normal: no will) and closes."""
        if not self._closed.is_set():
            body = bytes([reason]) if self.version == 5 else b""
            self._send(_packet(DISCONNECT, 0, body))
            self._flush_outgoing(self.timeout)
        self.close()

    def close(self):
        """Closes the socket without DISCONNECT (the will is published)."""
        self._closed.set()
        self._wake()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(self.timeout)
        for s in (self._wake_r, self._wake_w, self._sock):
            if s is not None:
                s.close()

    def wait_closed(self, timeout):
        """Waits until the broker ended the connection (or close())."""
        if not self._closed.wait(timeout):
            raise MqttTimeout(f"the connection still open after {timeout}s")
        return self.disconnect_reason

    @property
    def connected(self):
        return self._stream is not None and not self._closed.is_set()

    # -- operations ---------------------------------------------------------

    def subscribe(self, topics, timeout=None):
        """topics: [(filter, qos)]; returns the granted QoS (or reason codes)."""
        pid = self._allocate_id()
        body = struct.pack("!H", pid) + (_properties({}) if self.version == 5 else b"")
        for topic, qos in topics:
            body += _str(topic) + bytes([qos])
        self._send(_packet(SUBSCRIBE, 2, body))
        return self._wait(pid, timeout, "SUBACK")

    def unsubscribe(self, topics, timeout=None):
        pid = self._allocate_id()
        body = struct.pack("!H", pid) + (_properties({}) if self.version == 5 else b"")
        body += b"".join(_str(t) for t in topics)
        self._send(_packet(UNSUBSCRIBE, 2, body))
        return self._wait(pid, timeout, "UNSUBACK")

    def publish(self, topic, payload, qos=0, retain=False, user_properties=None, response_topic=None,
                correlation_data=None, timeout=None, wait=True):
        """Publishes and, for QoS 1/2, waits until the broker acknowledged it
        (PUBACK / PUBCOMP) unless wait=False; then call flush() later."""
        if isinstance(payload, str):
            payload = payload.encode()
        props = {}
        if user_properties:
            props["user_property"] = list(user_properties)
        if response_topic is not None:
            props["response_topic"] = response_topic
        if correlation_data is not None:
            props["correlation_data"] = correlation_data
        if props and self.version != 5:
            raise ValueError("properties need MQTT 5")
        pid = self._allocate_id(publish=True, detached=not wait) if qos else 0
        body = _str(topic) + (struct.pack("!H", pid) if qos else b"")
        if self.version == 5:
            body += _properties(props)
        self._send(_packet(PUBLISH, qos << 1 | (1 if retain else 0), body + payload))
        if qos and wait:
            return self._wait(pid, timeout, "PUBACK" if qos == 1 else "PUBCOMP")
        if not qos:
            self._flush_outgoing(timeout or self.timeout)
        return pid

    def flush(self, timeout=None):
        """Waits until every QoS 1/2 publish so far was acknowledged; raises
        the first refusal of a publish made with wait=False."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._publishes_in_flight():
                self._check_open()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise MqttTimeout(f"{self._publishes_in_flight()} publish(es) not acknowledged "
                                      f"after {timeout}s")
                self._cond.wait(min(left, 0.25))
            failed, self._failed = self._failed, []
        if failed:
            raise failed[0]

    def receive(self, timeout=None):
        """The next incoming message, or MqttTimeout."""
        try:
            return self.messages.get(timeout=self.timeout if timeout is None else timeout)
        except queue.Empty:
            raise MqttTimeout(f"no message within {self.timeout if timeout is None else timeout}s") from None

    def receive_many(self, n, timeout=None):
        """n messages, all within `timeout` seconds in total."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        out = []
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise MqttTimeout(f"received {len(out)} of {n} messages")
            try:
                out.append(self.messages.get(timeout=left))
            except queue.Empty:
                pass
        return out

    def ack(self, message):
        """Acknowledges a message received with auto_ack=False."""
        if message.qos:
            self._send(_packet(PUBACK if message.qos == 1 else PUBREC, 0, struct.pack("!H", message.packet_id)))

    # -- internals ----------------------------------------------------------

    def _check_open(self):
        if self._closed.is_set():
            raise MqttError(f"connection closed: {self.disconnect_reason or 'closed'}")

    def _publishes_in_flight(self):
        return sum(1 for p in self._pending.values() if p.publish and not p.done)

    def _allocate_id(self, publish=False, detached=False):
        """A free packet id; a publish first waits for room in the broker's
        receive window (Receive Maximum; 20 for 3.1.1, mosquitto's default)."""
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while publish and self._publishes_in_flight() >= self._inflight_limit:
                self._check_open()
                if time.monotonic() > deadline:
                    raise MqttTimeout("publish window full: no acknowledgement from the broker")
                self._cond.wait(0.1)
            for _ in range(65535):
                self._next_id = self._next_id % 65535 + 1
                if self._next_id not in self._pending:
                    self._pending[self._next_id] = _Pending(publish, detached)
                    return self._next_id
        raise MqttError("no free packet identifier")

    def _wait(self, pid, timeout, what):
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._pending[pid].done:
                self._check_open()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise MqttTimeout(f"no {what} for packet {pid} within {timeout}s")
                self._cond.wait(min(left, 0.25))
            result = self._pending.pop(pid).result
        if isinstance(result, MqttError):
            raise result
        return result

    def _complete(self, pid, result):
        with self._cond:
            pending = self._pending.get(pid)
            if pending is None:
                return
            if pending.detached:
                del self._pending[pid]
                if isinstance(result, MqttError):
                    self._failed.append(result)
            else:
                pending.done, pending.result = True, result
            self._cond.notify_all()

    def _send(self, data):
        self._check_open()
        self._outgoing.append(data)
        self._wake()

    def _wake(self):
        try:
            self._wake_w.send(b"x")
        except (OSError, AttributeError):  # closed, or never connected
            pass

    def _flush_outgoing(self, timeout):
        deadline = time.monotonic() + timeout
        while self._outgoing and not self._closed.is_set():
            if time.monotonic() > deadline:
                raise MqttTimeout("outgoing packets not written in time")
            time.sleep(0.005)

    def _run(self):
        """The I/O thread: writes queued packets, reads and answers."""
        buffer = bytearray(self._leftover)
        last_sent = time.monotonic()
        self._sock.settimeout(self.timeout * 3)
        try:
            while not self._closed.is_set():
                while True:
                    split = _split_packet(buffer)
                    if not split:
                        break
                    kind, flags, body, used = split
                    del buffer[:used]
                    self._handle(kind, flags, body)
                while self._outgoing:
                    self._stream.sendall(self._outgoing.popleft())
                    last_sent = time.monotonic()
                if self.keepalive and time.monotonic() - last_sent > self.keepalive / 2:
                    self._outgoing.append(_packet(PINGREQ, 0, b""))
                    continue
                # pending(): bytes already decrypted (TLS) or unframed
                # (WebSocket), which select() cannot see.
                if not (hasattr(self._stream, "pending") and self._stream.pending()):
                    readable, _, _ = select.select([self._sock, self._wake_r], [], [], 0.25)
                    if self._wake_r in readable:
                        self._wake_r.recv(4096)
                    if self._sock not in readable:
                        continue
                chunk = self._stream.recv(1 << 20)
                if not chunk:
                    self.disconnect_reason = self.disconnect_reason or "the broker closed the connection"
                    break
                buffer += chunk
        except (OSError, MqttError) as e:
            if not self._closed.is_set():
                self.disconnect_reason = self.disconnect_reason or f"connection lost: {e}"
        finally:
            self._closed.set()
            with self._cond:
                self._cond.notify_all()

    def _handle(self, kind, flags, body):
        r = _Reader(body)
        if kind == PUBLISH:
            qos, retain, dup = (flags >> 1) & 3, bool(flags & 1), bool(flags & 8)
            topic = r.string()
            pid = r.u16() if qos else 0
            props = r.properties() if self.version == 5 else {}
            msg = Message(topic, r.rest(), qos, retain, dup, pid, props)
            if qos and self.auto_ack:
                self._outgoing.append(_packet(PUBACK if qos == 1 else PUBREC, 0, struct.pack("!H", pid)))
            self.messages.put(msg)
        elif kind in (PUBACK, PUBCOMP, PUBREC):
            pid = r.u16()
            code = r.u8() if r.left() else 0
            if kind == PUBREC and code < 0x80:
                self._outgoing.append(_packet(PUBREL, 2, struct.pack("!H", pid)))
            elif code >= 0x80:
                self._complete(pid, MqttError(f"publish {pid} refused: reason 0x{code:02x}", code))
            else:
                self._complete(pid, code)
        elif kind == PUBREL:
            self._outgoing.append(_packet(PUBCOMP, 0, body[:2]))
        elif kind in (SUBACK, UNSUBACK):
            pid = r.u16()
            if self.version == 5:
                r.properties()
            codes = list(r.rest())
            self._complete(pid, codes)
        elif kind == DISCONNECT:
            code = r.u8() if r.left() else 0
            props = r.properties() if r.left() else {}
            self.disconnect_reason = f"DISCONNECT from the broker: reason 0x{code:02x} " + \
                props.get("reason_string", "")
        elif kind != PINGRESP:
            raise MqttError(f"unexpected packet type {kind} from the broker")
