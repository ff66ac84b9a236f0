"""MQTT over WebSocket (RFC 6455) for the test client (mqtt_client.py):
a socket-like stream of the frames' payload. Binary frames, client frames
masked, subprotocol "mqtt"; pings answered, a close frame ends the stream.
Handshake failures raise ConnectionError or TimeoutError (both OSError,
which the client reports as a lost connection)."""
import base64
import hashlib
import os
import struct
import time


class WebSocketStream:
    """What the client's I/O thread calls: sendall, recv, pending."""

    def __init__(self, sock, host, port, path, timeout):
        self.sock = sock
        self._raw = bytearray()   # bytes read, not yet parsed into frames
        self._data = bytearray()  # frame payload, not yet handed out
        self._closed = False      # a close frame came
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Protocol: mqtt\r\n\r\n").encode())
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self._raw:
            if time.monotonic() > deadline:
                raise TimeoutError("WebSocket handshake timed out")
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("WebSocket handshake: the server closed the connection")
            self._raw += chunk
        head, _, rest = bytes(self._raw).partition(b"\r\n\r\n")
        self._raw = bytearray(rest)
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode())
                                  .digest()).decode()
        if not head.startswith(b"HTTP/1.1 101") or accept.encode() not in head:
            raise ConnectionError("WebSocket handshake refused: " + head.decode(errors="replace"))

    def sendall(self, data, opcode=0x2):
        mask = os.urandom(4)
        n = len(data)
        header = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else
                                           bytes([0x80 | 126]) + struct.pack("!H", n) if n < 65536 else
                                           bytes([0x80 | 127]) + struct.pack("!Q", n))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data)) if n < 4096 else _mask_fast(data, mask)
        self.sock.sendall(header + mask + masked)

    def pending(self):
        return bool(self._data)

    def recv(self, size):
        """Payload bytes, b"" at the end; reads the socket only when no
        whole frame is buffered, so pending() tells select() the truth."""
        while not self._data:
            if not self._take_frames():
                chunk = self.sock.recv(65536)
                if not chunk:
                    return b""
                self._raw += chunk
            if self._closed:
                return b""
        self._take_frames()
        out = bytes(self._data[:size])
        del self._data[:size]
        return out

    def _take_frames(self):
        """Moves every whole buffered frame's payload to _data; False if
        there was none."""
        took = False
        while (frame := self._next_frame()) is not None:
            took = True
            opcode, payload = frame
            if opcode == 0x8:
                self._closed = True
            elif opcode == 0x9:
                self.sendall(payload, opcode=0xA)
            elif opcode in (0x0, 0x2):
                self._data += payload
        return took

    def _next_frame(self):
        raw = self._raw
        if len(raw) < 2:
            return None
        n, pos = raw[1] & 0x7F, 2
        if n == 126:
            if len(raw) < 4:
                return None
            n, pos = struct.unpack("!H", raw[2:4])[0], 4
        elif n == 127:
            if len(raw) < 10:
                return None
            n, pos = struct.unpack("!Q", raw[2:10])[0], 10
        if len(raw) < pos + n:
            return None
        frame = raw[0] & 0x0F, bytes(raw[pos:pos + n])
        del raw[:pos + n]
        return frame


def _mask_fast(data, mask):
    """XOR with the 4-byte mask, through one big-integer operation."""
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
