#!/usr/bin/env python3
"""Writes the mqtt fuzz target's seed corpus (test/fuzz/corpus/mqtt/seed-*):
one valid packet of each kind, MQTT 3.1, 3.1.1 and 5, laid out by hand from
the spec so that the seeds do not depend on the codec they test. Run from
anywhere; existing seeds are overwritten, other corpus files left alone."""
import pathlib
import struct

OUT = pathlib.Path(__file__).resolve().parent / "corpus" / "mqtt"


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(text):
    data = text.encode() if isinstance(text, str) else text
    return struct.pack(">H", len(data)) + data


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


def props(*items):
    body = b"".join(items)
    return varint(len(body)) + body


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


SEEDS = {
    "connect-31": packet(0x10, s("MQIsdp") + b"\x03\x02" + u16(60) + s("gw")),
    "connect-311-login": packet(0x10, s("MQTT") + b"\x04\xC2" + u16(60) + s("edgefn") + s("user") + s(b"\x00pw")),
    "connect-5-will": packet(
        0x10,
        s("MQTT") + b"\x05\x2C" + u16(30)
        + props(b"\x11" + u32(86400), b"\x21" + u16(16), b"\x27" + u32(1 << 20))
        + s("gw-1")
        + props(b"\x18" + u32(5), b"\x01\x01", b"\x03" + s("text/plain"))
        + s("status/gw-1") + s(b"offline"),
    ),
    "connack-311": packet(0x20, b"\x01\x00"),
    "connack-5-props": packet(
        0x20,
        b"\x00\x00"
        + props(b"\x12" + s("auto-7"), b"\x21" + u16(20), b"\x22" + u16(10), b"\x24\x01", b"\x13" + u16(30),
                b"\x2A\x00", b"\x1F" + s("welcome")),
    ),
    "publish-qos0": packet(0x30, s("sensors/t1") + b"21.5"),
    "publish-qos1-5": packet(
        0x3B,
        s("sensors/\u00e4/1") + u16(7)
        + props(b"\x08" + s("replies/1"), b"\x09" + s(b"\x00\xff"), b"\x26" + s("k") + s("v"), b"\x0B\x01",
                b"\x0B\x80\x01", b"\x02" + u32(60))
        + b"\x00payload\x00",
    ),
    "publish-qos2-alias-5": packet(0x34, s("") + u16(9) + props(b"\x23" + u16(3)) + b"x"),
    "acks-5": packet(0x40, u16(7)) + packet(0x50, u16(8) + b"\x10") + packet(0x62, u16(8) + b"\x92" + props(b"\x1F" + s("gone")))
    + packet(0x70, u16(8) + b"\x00" + props()),
    "acks-311": packet(0x40, u16(1)) + packet(0x50, u16(2)) + packet(0x62, u16(2)) + packet(0x70, u16(2)),
    "subscribe-311": packet(0x82, u16(1) + s("a/+/c") + b"\x01" + s("$share/g/#") + b"\x02"),
    "subscribe-5": packet(0x82, u16(2) + props(b"\x0B\x2A", b"\x26" + s("a") + s("b")) + s("x/#") + b"\x2E" + s("$SYS/+") + b"\x00"),
    "suback-311": packet(0x90, u16(1) + b"\x01\x80"),
    "suback-5": packet(0x90, u16(2) + props(b"\x1F" + s("no")) + b"\x00\x01\x02\x97"),
    "unsubscribe": packet(0xA2, u16(3) + s("a/+/c") + s("$share/g/#")),
    "unsuback-311": packet(0xB0, u16(3)),
    "unsuback-5": packet(0xB0, u16(3) + props() + b"\x00\x11"),
    "ping-disconnect": packet(0xC0, b"") + packet(0xD0, b"") + packet(0xE0, b""),
    "disconnect-5": packet(0xE0, b"\x8E" + props(b"\x1C" + s("other:1883"), b"\x11" + u32(0))),
    "auth-5": packet(0xF0, b"\x18" + props(b"\x15" + s("SCRAM-SHA-1"), b"\x16" + s(b"\x01\x02"))),
}

OUT.mkdir(parents=True, exist_ok=True)
for name, data in SEEDS.items():
    (OUT / f"seed-{name}").write_bytes(data)
print(f"{len(SEEDS)} seeds in {OUT}")
