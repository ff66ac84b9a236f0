"""The messages of the edgefn worker protocol (version 3, edgefn_channel.py
has the transport): their types, the layouts of their heads, and the codec.
The channel's errors live here too, since decoding raises ProtocolError.

Messages (src/runtime/python/worker_protocol.hpp has the same list; fixed
part first, then variable bytes in order; strings are UTF-8, decoded here
with surrogateescape so that no byte is lost; pairs are u32 lengths
[name, value] * count, then the bytes):
  HELLO (1), both ways:  u32 protocol version, u32 pid.
  EVENT (2), D->W, body = event body:
    i64 timestamp_ns, i64 offset, i32 shard_id, i32 num_shards,
    u8 last_in_batch, 3 zero bytes, u32 header count, u32 field count,
    u32 lengths of 12 strings (id, trigger_kind, trigger_name, method, path,
    url, content_type, topic, key, type, type_version, version), their bytes;
    headers, then fields, as pairs.
  RESPONSE (3), W->D, the event's request id, body = response body:
    i32 status, u32 flags (bit 0: no_ack), u32 content type length,
    u32 header count, content type, headers as pairs.
  LOG (4), W->D, the event's request id or 0:
    u8 level (0 debug, 1 info, 2 warn, 3 error), u8 flags (bit 0: print()
    or stderr output, kept out of X-Nuclio-Logs), 2 zero bytes,
    u32 message length, u32 fields length, message, fields (a JSON object or
    empty).
  READY (16), W->D: init_context returned.  INIT_FAILED (17), W->D: head =
    the traceback.  STOP (18), D->W: run the termination callback, exit 0.
    DRAIN (19), D->W: run the drain callback.
  PUBLISH (20), W->D, request id chosen by the worker, body = payload:
    u32 output length, u32 topic length, u32 key length, u32 header count,
    output, topic, key, headers as pairs.
  PUBLISH_RESULT (21), D->W, the PUBLISH's request id:
    i32 code (0 = taken), u32 message length, message.
  EXPLICIT_ACK (22), W->D: i32 partition, i64 offset, u32 topic length,
    topic.
"""

import functools
import json
import struct

HELLO, EVENT, RESPONSE, LOG = 1, 2, 3, 4
READY, INIT_FAILED, STOP, DRAIN = 16, 17, 18, 19
PUBLISH, PUBLISH_RESULT, EXPLICIT_ACK = 20, 21, 22
DEBUG, INFO, WARN, ERROR = 0, 1, 2, 3

_EVENT_FIXED = struct.Struct("<qqiiB3xII12I")
_RESPONSE_FIXED = struct.Struct("<iIII")
_NO_ACK = 1
_PUBLISH_FIXED = struct.Struct("<IIII")
_PUBLISH_RESULT_FIXED = struct.Struct("<iI")
_EXPLICIT_ACK_FIXED = struct.Struct("<iqI")
_LOG_FIXED = struct.Struct("<BB2xII")
_LOG_FROM_OUTPUT = 1
_EVENT_STRINGS = ("id", "trigger_kind", "trigger_name", "method", "path", "url", "content_type",
                  "topic", "key", "type", "type_version", "version")


class ChannelError(Exception):
    """The channel failed; the message says how."""


class ChannelClosed(ChannelError):
    """The daemon closed the channel (it is stopping, or gave up on us)."""


class ProtocolError(ChannelError):
    """The other side does not speak this protocol version, or broke it."""


class MessageTooLarge(ChannelError):
    """A message over the segment's max message size: refused or skipped."""


# ---- Codec (also used by bench/shm/socket_worker.py, through edgefn_channel) --

@functools.lru_cache(maxsize=64)
def _lengths_struct(count):
    return struct.Struct("<%dI" % count)


def _text(data):
    return data.decode("utf-8", "surrogateescape")


def _utf8(text):
    return text.encode("utf-8", "surrogateescape") if type(text) is str else bytes(text)


def _decode_pairs(head, pos, count):
    if not count:
        return [], pos
    lengths = _lengths_struct(2 * count).unpack_from(head, pos)
    pos += 8 * count
    pairs = []
    for i in range(0, 2 * count, 2):
        n, m = lengths[i], lengths[i + 1]
        name = _text(head[pos:pos + n])
        pos += n
        pairs.append((name, _text(head[pos:pos + m])))
        pos += m
    return pairs, pos


def _encode_pairs(pairs):
    encoded = [(_utf8(n), _utf8(v)) for n, v in pairs]
    lengths = [x for n, v in encoded for x in (len(n), len(v))]
    return _lengths_struct(len(lengths)).pack(*lengths) + b"".join(n + v for n, v in encoded)


def decode_event(head, body):
    """EVENT head + body -> dict; headers and fields as lists of (name, value)."""
    try:
        fixed = _EVENT_FIXED.unpack_from(head, 0)
        event = {"timestamp_ns": fixed[0], "offset": fixed[1], "shard_id": fixed[2],
                 "num_shards": fixed[3], "last_in_batch": fixed[4] != 0}
        pos = _EVENT_FIXED.size
        for name, n in zip(_EVENT_STRINGS, fixed[7:]):
            if n:
                end = pos + n
                event[name] = head[pos:end].decode("utf-8", "surrogateescape")
                pos = end
            else:
                event[name] = ""
        event["headers"], pos = _decode_pairs(head, pos, fixed[5])
        event["fields"], pos = _decode_pairs(head, pos, fixed[6])
    except (struct.error, UnicodeError) as e:
        raise ProtocolError("malformed event head: %s" % e) from None
    if pos != len(head):
        raise ProtocolError("event head is %d bytes, its fields say %d" % (len(head), pos))
    event["body"] = body
    return event


def encode_event_head(event):
    """dict (as decode_event returns, keys optional) -> EVENT head bytes."""
    strings = [_utf8(event.get(name, "")) for name in _EVENT_STRINGS]
    headers = event.get("headers", ())
    fields = event.get("fields", ())
    fixed = _EVENT_FIXED.pack(event.get("timestamp_ns", 0), event.get("offset", -1), event.get("shard_id", -1),
                              event.get("num_shards", 0), 1 if event.get("last_in_batch") else 0,
                              len(headers), len(fields), *map(len, strings))
    return b"".join([fixed, *strings, _encode_pairs(headers), _encode_pairs(fields)])


def encode_response_head(status=200, content_type="text/plain", headers=(), no_ack=False):
    """headers: (name, value) pairs or a dict; values are sent as text."""
    content_type = _utf8(content_type)
    flags = _NO_ACK if no_ack else 0
    if not headers:
        return _RESPONSE_FIXED.pack(status, flags, len(content_type), 0) + content_type
    if isinstance(headers, dict):
        headers = headers.items()
    pairs = [(n, v if isinstance(v, (str, bytes)) else str(v)) for n, v in headers]
    return (_RESPONSE_FIXED.pack(status, flags, len(content_type), len(pairs)) + content_type
            + _encode_pairs(pairs))


def decode_response(head, body):
    try:
        status, flags, n, count = _RESPONSE_FIXED.unpack_from(head, 0)
        pos = _RESPONSE_FIXED.size
        content_type = _text(head[pos:pos + n])
        headers, pos = _decode_pairs(head, pos + n, count)
    except (struct.error, UnicodeError) as e:
        raise ProtocolError("malformed response head: %s" % e) from None
    if pos != len(head):
        raise ProtocolError("response head is %d bytes, its fields say %d" % (len(head), pos))
    return {"status": status, "content_type": content_type, "headers": headers, "body": body,
            "no_ack": bool(flags & _NO_ACK)}


def encode_publish_head(output, topic="", key="", headers=()):
    output, topic, key = _utf8(output), _utf8(topic or ""), _utf8(key or "")
    if isinstance(headers, dict):
        headers = headers.items()
    pairs = [(n, v if isinstance(v, (str, bytes)) else str(v)) for n, v in (headers or ())]
    return (_PUBLISH_FIXED.pack(len(output), len(topic), len(key), len(pairs)) + output + topic + key
            + _encode_pairs(pairs))


def decode_publish_result(head):
    """PUBLISH_RESULT head -> (code, message)."""
    try:
        code, n = _PUBLISH_RESULT_FIXED.unpack_from(head, 0)
        pos = _PUBLISH_RESULT_FIXED.size
        message = _text(head[pos:pos + n])
    except (struct.error, UnicodeError) as e:
        raise ProtocolError("malformed publish result: %s" % e) from None
    if pos + n != len(head):
        raise ProtocolError("publish result head is %d bytes, its fields say %d" % (len(head), pos + n))
    return code, message


def encode_explicit_ack_head(topic, partition, offset):
    topic = _utf8(topic or "")
    return _EXPLICIT_ACK_FIXED.pack(int(partition), int(offset), len(topic)) + topic


def encode_log_head(level, message, fields=None, output=False):
    """fields: a dict (sent as a JSON object), a JSON string, or None.
    output: the line is print() or stderr output, not a logger call."""
    message = _utf8(message)
    if fields is None:
        fields = b""
    elif isinstance(fields, dict):
        fields = json.dumps(fields, default=str, separators=(",", ":")).encode()
    else:
        fields = _utf8(fields)
    return _LOG_FIXED.pack(level, _LOG_FROM_OUTPUT if output else 0, len(message), len(fields)) + message + fields
