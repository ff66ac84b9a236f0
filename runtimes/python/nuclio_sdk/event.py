"""One event, as Nuclio's SDK shapes it, and the decoders of Nuclio's
processor-to-wrapper messages (Event.deserialize)."""
import base64
import datetime
import enum
import json
import sys

import nuclio_sdk


def _utc_naive(seconds):
    """Seconds since the epoch -> naive UTC datetime, as Nuclio's wrapper gives."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).replace(tzinfo=None)


class _EventDeserializer:
    def deserialize(self, event_message):
        raise NotImplementedError

    @staticmethod
    def _try_deserialize_json(body):
        try:
            return json.loads(body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body)
        except Exception as exc:  # noqa: BLE001 - the body stays as it came
            sys.stderr.write("Failed deserializing json body, error message: {0}\n".format(exc))
        return body

    @staticmethod
    def _from_parsed_data(parsed, body, raw=False):
        """`parsed`: one event message; with `raw`, its keys are bytes."""
        def get(name, default=None):
            return parsed.get(name.encode() if raw else name, default)

        trigger = get("trigger")
        kind, name = ("kind", "name") if not raw else (b"kind", b"name")
        timestamp = get("timestamp")
        return Event(body=body, content_type=get("content_type"), trigger=TriggerInfo(trigger[kind], trigger[name]),
                     fields=get("fields"), headers=get("headers"), _id=get("id"), method=get("method"),
                     path=get("path"), size=get("size"),
                     timestamp=_utc_naive(timestamp) if timestamp is not None else None, url=get("url"),
                     shard_id=get("shard_id"), num_shards=get("num_shards"), _type=get("type"),
                     type_version=get("type_version"), version=get("version"), offset=get("offset", 0),
                     topic=get("topic"))

    @staticmethod
    def decode_single_or_list_event(parsed_data, decode_single_event_function):
        """A batch arrives as a list of event messages; each becomes an Event."""
        if isinstance(parsed_data, list):
            return [decode_single_event_function(one) for one in parsed_data]
        return decode_single_event_function(parsed_data)


class _EventDeserializerMsgPack(_EventDeserializer):
    """Takes the unpacked message (a dict, or a list for a batch) as
    Nuclio's wrapper passes it, or msgpack bytes, which need the msgpack
    module. `raw`: strings stay bytes (NUCLIO_PYTHON_DECODE_EVENT_STRINGS
    disabled)."""

    def __init__(self, raw=False):
        self._raw = raw

    def deserialize(self, event_message):
        if isinstance(event_message, (bytes, bytearray, memoryview)):
            event_message = self._unpack(bytes(event_message))
        return self.decode_single_or_list_event(event_message, self._decode_single_event)

    def _unpack(self, data):
        try:
            import msgpack
        except ImportError:
            raise ImportError("Event.deserialize of msgpack bytes needs the 'msgpack' module, which is not "
                              "installed (pip install msgpack); pass the unpacked message (a dict) instead, "
                              "or use EventDeserializerKinds.json") from None
        return msgpack.unpackb(data, raw=self._raw)

    def _decode_single_event(self, data):
        key = (lambda name: name.encode()) if self._raw else (lambda name: name)
        body = data[key("body")]
        json_type = b"application/json" if self._raw else "application/json"
        if data[key("content_type")] == json_type and not isinstance(body, dict):
            body = self._try_deserialize_json(body)
        return self._from_parsed_data(data, body, raw=self._raw)


class _EventDeserializerJSON(_EventDeserializer):
    """Takes a JSON document (str or bytes): one event message or a list."""

    def deserialize(self, event_message):
        def decode_single_event(data):
            body = data["body"]
            if data["content_type"] == "application/json" and not isinstance(body, dict):
                body = self._try_deserialize_json(body)
            return self._from_parsed_data(data, body)

        return self.decode_single_or_list_event(json.loads(event_message), decode_single_event)


class EventDeserializerKinds(enum.Enum):
    msgpack = _EventDeserializerMsgPack(raw=False)
    msgpack_raw = _EventDeserializerMsgPack(raw=True)
    json = _EventDeserializerJSON()


class TriggerInfo:
    def __init__(self, kind="", name=""):
        self.kind = kind
        self.name = name

    def __repr__(self):
        return f"TriggerInfo(kind={self.kind!r}, name={self.name!r})"


class Event:
    # Positional order as in nuclio-sdk: handlers and tests build events
    # with positional arguments.
    def __init__(self, body=None, content_type=None, trigger=None, fields=None, headers=None, _id=None,
                 method=None, path=None, size=None, timestamp=None, url=None, shard_id=None, num_shards=None,
                 _type=None, type_version=None, version=None, last_in_batch=None, offset=None, topic=None,
                 key=None):
        self.body = body
        self.content_type = content_type
        self.trigger = trigger or TriggerInfo()
        self.fields = fields or {}
        self.headers = headers or {}
        self.id = _id
        self.method = method
        self.path = path or "/"
        self.size = size
        self.timestamp = timestamp or 0
        self.url = url
        self.shard_id = shard_id
        self.num_shards = num_shards
        self.type = _type
        self.type_version = type_version
        self.version = version
        self.last_in_batch = last_in_batch or False
        self.offset = offset or 0
        self.topic = topic
        # edgefn's own: a stream message's key (a Kafka key), which
        # nuclio-sdk's Event has no name for. Last, so that Nuclio's
        # positional order stays as it is.
        self.key = key

    def get_header(self, header_key):
        """The header's value, matching the name case-insensitively; None if
        absent. Names may be str or, with strings left undecoded, bytes."""
        wanted = header_key.lower()
        wanted_other = wanted.encode("utf-8", "surrogateescape") if isinstance(wanted, str) else \
            wanted.decode("utf-8", "surrogateescape")
        for key, value in self.headers.items():
            lowered = key.lower()
            if lowered == wanted or lowered == wanted_other:
                return value
        return None

    def to_json(self):
        obj = {name: value for name, value in vars(self).items() if not name.startswith("_")}
        obj["trigger"] = {"kind": self.trigger.kind, "name": self.trigger.name}
        if isinstance(self.timestamp, datetime.datetime):
            obj["timestamp"] = str(self.timestamp)
        if isinstance(obj["body"], bytes):
            obj["body"] = base64.b64encode(obj["body"]).decode("ascii")
        return json.dumps(obj, default=str)

    @staticmethod
    def from_msgpack(data):
        """Deprecated in nuclio-sdk: Event.deserialize(data, kind=EventDeserializerKinds.msgpack)."""
        return Event.deserialize(data, kind=EventDeserializerKinds.msgpack)

    @staticmethod
    def from_json(data):
        """Deprecated in nuclio-sdk: Event.deserialize(data, kind=EventDeserializerKinds.json)."""
        return Event.deserialize(data, kind=EventDeserializerKinds.json)

    @classmethod
    def deserialize(cls, data, kind=EventDeserializerKinds.msgpack_raw):
        """An Event (a list of them for a batch) from a processor message."""
        return kind.value.deserialize(data)

    def compile_explicit_ack_message(self):
        """The control message that acknowledges this event's offset."""
        return nuclio_sdk.QualifiedOffset.from_event(self).compile_explicit_ack_message()

    def __repr__(self):
        return self.to_json()
