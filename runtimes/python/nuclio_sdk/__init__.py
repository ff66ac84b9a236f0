"""The parts of Nuclio's Python SDK (nuclio-sdk-py 0.5) that handlers use.

Existing Nuclio functions do `import nuclio_sdk` and build
`nuclio_sdk.Response`; edgefn's Python worker puts this package on the
module path so they run unchanged. Standard library only.
"""
import base64
import datetime
import json

__all__ = ["Response", "Event", "TriggerInfo", "QualifiedOffset", "Context", "Logger", "Platform", "PublishError"]


class PublishError(Exception):
    """context.platform.publish() could not hand the message to its output."""


class Response:
    """What a handler may return to set status, headers and content type."""

    def __init__(self, headers=None, body=None, content_type=None, status_code=200):
        self.headers = headers if headers is not None else {}
        self.body = body
        self.status_code = status_code
        self.content_type = content_type or "text/plain"
        self.no_ack = False

    def ensure_no_ack(self):
        """With explicitAckMode enabled, the event is not acknowledged when
        the handler returns: the handler calls platform.explicit_ack() later."""
        self.no_ack = True

    def __repr__(self):
        return (f"Response(status_code={self.status_code!r}, content_type={self.content_type!r}, "
                f"headers={self.headers!r}, body={self.body!r})")


class TriggerInfo:
    def __init__(self, kind="", name=""):
        self.kind = kind
        self.name = name

    def __repr__(self):
        return f"TriggerInfo(kind={self.kind!r}, name={self.name!r})"


class QualifiedOffset:
    """A stream position, for context.platform.explicit_ack()."""

    def __init__(self, topic, partition, offset):
        self.topic = topic
        self.partition = partition
        self.offset = offset

    @classmethod
    def from_event(cls, event):
        return cls(event.topic, event.shard_id, event.offset)

    def __repr__(self):
        return f"QualifiedOffset(topic={self.topic!r}, partition={self.partition!r}, offset={self.offset!r})"


class Event:
    """One event, as Nuclio's SDK shapes it."""

    def __init__(self, body=None, content_type=None, trigger=None, fields=None, headers=None, _id=None,
                 method=None, path=None, size=None, timestamp=None, url=None, _type=None, type_version=None,
                 version=None, last_in_batch=None, offset=None, topic=None, shard_id=None, num_shards=None):
        self.body = body
        self.content_type = content_type
        self.trigger = trigger or TriggerInfo()
        self.fields = fields if fields is not None else {}
        self.headers = headers if headers is not None else {}
        self.id = _id
        self.method = method
        self.path = path
        self.size = size if size is not None else (len(body) if isinstance(body, (bytes, str)) else 0)
        self.timestamp = timestamp
        self.url = url
        self.type = _type
        self.type_version = type_version
        self.version = version
        self.last_in_batch = last_in_batch
        self.offset = offset
        self.topic = topic
        self.shard_id = shard_id
        self.num_shards = num_shards

    def get_header(self, header_key):
        """The header's value, matching the name case-insensitively; None if absent."""
        wanted = header_key.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    def to_json(self):
        body = self.body
        if isinstance(body, (bytes, bytearray)):
            body = base64.b64encode(body).decode("ascii")
        timestamp = self.timestamp.isoformat() if isinstance(self.timestamp, datetime.datetime) else self.timestamp
        return json.dumps({
            "body": body, "content_type": self.content_type,
            "trigger": {"kind": self.trigger.kind, "name": self.trigger.name},
            "fields": self.fields, "headers": self.headers, "id": self.id, "method": self.method,
            "path": self.path, "size": self.size, "timestamp": timestamp, "url": self.url,
            "type": self.type, "type_version": self.type_version, "version": self.version,
            "last_in_batch": self.last_in_batch, "offset": self.offset, "topic": self.topic,
            "shard_id": self.shard_id, "num_shards": self.num_shards,
        }, default=str)

    def __repr__(self):
        return f"Event(id={self.id!r}, trigger={self.trigger!r}, method={self.method!r}, path={self.path!r})"


class Logger:
    """context.logger. `sink(level, message, fields)` delivers each record."""

    def __init__(self, sink):
        self._sink = sink

    @staticmethod
    def _format(message, args):
        message = str(message)
        if args:
            try:
                return message % args
            except (TypeError, ValueError):
                return " ".join([message, *map(str, args)])
        return message

    def debug(self, message, *args):
        self._sink("debug", self._format(message, args), None)

    def info(self, message, *args):
        self._sink("info", self._format(message, args), None)

    def warn(self, message, *args):
        self._sink("warn", self._format(message, args), None)

    warning = warn

    def error(self, message, *args):
        self._sink("error", self._format(message, args), None)

    def debug_with(self, message, *args, **kw_args):
        self._sink("debug", self._format(message, args), kw_args)

    def info_with(self, message, *args, **kw_args):
        self._sink("info", self._format(message, args), kw_args)

    def warn_with(self, message, *args, **kw_args):
        self._sink("warn", self._format(message, args), kw_args)

    warning_with = warn_with

    def error_with(self, message, *args, **kw_args):
        self._sink("error", self._format(message, args), kw_args)


class Platform:
    """context.platform: the processor's services to a handler."""

    def __init__(self, kind="local", namespace="default", call_function=None, explicit_ack=None, publish=None):
        self.kind = kind
        self.namespace = namespace
        self._call_function = call_function
        self._explicit_ack = explicit_ack
        self._publish = publish
        self._termination_callback = None
        self._drain_callback = None

    def call_function(self, function_name, event, node=None, timeout=None, service_name_override=None):
        if self._call_function is None:
            raise RuntimeError("call_function is not available in this worker")
        return self._call_function(function_name, event, timeout)

    def set_termination_callback(self, callback):
        self._termination_callback = callback

    def set_drain_callback(self, callback):
        self._drain_callback = callback

    def explicit_ack(self, qualified_offset):
        """Acknowledges a stream event whose handler deferred it. Sent at
        once; the returned object may be awaited, as Nuclio's is."""
        if self._explicit_ack is None:
            raise RuntimeError("explicit_ack is only available for stream triggers with explicitAckMode enabled")
        self._explicit_ack(qualified_offset)
        return _Done()

    def publish(self, output, body, topic=None, key=None, headers=None):
        """edgefn: publishes `body` to the output named `output` (a stream
        trigger's connection) and returns once the output took it; raises
        PublishError when it cannot. Bodies that are dicts or lists are sent
        as JSON."""
        if self._publish is None:
            raise RuntimeError("publish is not available in this worker")
        self._publish(output, body, topic, key, headers)


class _Done:
    """An awaitable that is already complete."""

    def __await__(self):
        return iter(())


class _UserData:
    """context.user_data: an object to hang attributes on."""

    def __repr__(self):
        return f"UserData({vars(self)!r})"


class Context:
    def __init__(self, logger, worker_id=0, trigger=None, platform=None):
        self.logger = logger
        self.user_data = _UserData()
        self.worker_id = worker_id
        self.trigger = trigger or TriggerInfo()
        self.trigger_name = self.trigger.name
        self.platform = platform or Platform()
        self.Response = Response
