"""shm_bench's worker over a socketpair (fd 3), with the same codec and
handler as ring_worker.py. Frames: u32 length of the rest, u16 type, u16 0,
u64 request id, u32 head length, head, body."""
import socket
import struct

import edgefn_channel as ec

_PREFIX = struct.Struct("<IHHQI")
_REST = struct.Struct("<HHQI")


def handler(event):
    return 200, "text/plain", (), b""


def recv_exact(sock, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if not k:
            raise EOFError
        got += k
    return buf


def main():
    sock = socket.socket(fileno=3)
    while True:
        try:
            (n,) = struct.unpack("<I", recv_exact(sock, 4))
            frame = recv_exact(sock, n)
        except EOFError:
            return
        _, _, request_id, head_size = _REST.unpack_from(frame, 0)
        head = bytes(frame[16:16 + head_size])
        event = ec.decode_event(head, bytes(frame[16 + head_size:]))
        status, content_type, headers, body = handler(event)
        response_head = ec.encode_response_head(status, content_type, headers)
        sock.sendall(_PREFIX.pack(16 + len(response_head) + len(body), ec.RESPONSE, 0, request_id,
                                  len(response_head)) + response_head + body)


if __name__ == "__main__":
    main()
