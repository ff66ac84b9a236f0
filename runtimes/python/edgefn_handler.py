"""Loads a Nuclio-style Python handler and runs events through it.

Transport-agnostic: the worker (edgefn_worker.py) feeds it decoded events
and sends back what it returns. Behaviour follows Nuclio's Python SDK: the
return-value table, init_context, context.logger, async handlers, and
exceptions turned into 500 responses.
"""
import asyncio
import base64
import datetime
import functools
import importlib
import importlib.machinery
import inspect
import json
import os
import re
import sys
import traceback

import nuclio_sdk
import nuclio_sdk.response

_DROPPED_RESPONSE_HEADERS = {"content-length", "transfer-encoding", "connection"}


class HandlerLoadError(Exception):
    """The handler module or its entry point could not be loaded."""


class _SourceOnlyLoader(importlib.machinery.SourceFileLoader):
    """Compiles the function's own modules from their source every time.

    A .pyc is trusted when the source's mtime (whole seconds) and size match
    the ones it records, so an edit of the same size within the same second
    (an editor's quick fix, a reload right after a deploy) would run the old
    code. Workers start rarely; compiling the handler's few modules is cheap.
    """

    def get_code(self, fullname):
        source = self.get_data(self.path)
        return compile(source, self.path, "exec", dont_inherit=True)


def _compile_from_source_under(directory):
    """Makes imports from `directory` and below (but not from its `.edgefn`
    environment, made by `processor build`) go through _SourceOnlyLoader,
    never reading or writing __pycache__ there."""
    root = os.path.realpath(directory)
    environment = os.path.join(root, ".edgefn")
    loaders = [(importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES),
               (_SourceOnlyLoader, importlib.machinery.SOURCE_SUFFIXES)]

    def hook(path):
        real = os.path.realpath(path or os.getcwd())
        inside = real == root or real.startswith(root + os.sep)
        if not inside or real == environment or real.startswith(environment + os.sep):
            raise ImportError("not the function's directory")
        return importlib.machinery.FileFinder(path, *loaders)

    sys.path_hooks.insert(0, hook)
    sys.path_importer_cache.clear()


def load_entrypoint(handler_spec, directory):
    """Imports `module:function` (module may be dotted) from `directory`."""
    module_name, sep, entry_name = handler_spec.partition(":")
    if not sep or not module_name or not entry_name:
        raise HandlerLoadError(f"spec.handler '{handler_spec}' must be 'module:function'")
    _compile_from_source_under(directory)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    module = importlib.import_module(module_name)
    entrypoint = getattr(module, entry_name, None)
    if entrypoint is None or not callable(entrypoint):
        raise HandlerLoadError(f"module '{module_name}' has no function '{entry_name}' (spec.handler)")
    return module, entrypoint


def _header_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def _json_bytes(value):
    return json.dumps(value, default=str).encode()


def _body_bytes(body):
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    return str(body).encode()


def to_response(output):
    """Handler output -> (status, content_type, [(name, value)], body bytes)."""
    if isinstance(output, nuclio_sdk.Response):
        headers = [(_header_text(k), _header_text(v)) for k, v in (output.headers or {}).items()
                   if _header_text(k).lower() not in _DROPPED_RESPONSE_HEADERS]
        if isinstance(output.body, (dict, list)):
            return int(output.status_code), "application/json", headers, _json_bytes(output.body)
        return int(output.status_code), output.content_type or "text/plain", headers, _body_bytes(output.body)
    if isinstance(output, (str, bytes)):
        return 200, "text/plain", [], _body_bytes(output)
    if isinstance(output, (dict, list)):
        return 200, "application/json", [], _json_bytes(output)
    if isinstance(output, tuple) and len(output) == 2 and isinstance(output[0], int):
        status, body = output
        if isinstance(body, str):
            return status, "text/plain", [], body.encode()
        return status, "application/json", [], _json_bytes(body)
    if output is None:
        return 200, "text/plain", [], b""
    return 200, "text/plain", [], str(output).encode()


_PLAIN_OUTPUTS = frozenset((str, bytes, dict, list, tuple, type(None), nuclio_sdk.Response))


def decode_event_strings(environ=os.environ):
    """NUCLIO_PYTHON_DECODE_EVENT_STRINGS, read as Nuclio's Python runtime
    reads it: strings are decoded to str unless it says no, false, disable
    or disabled (any case); then they stay bytes."""
    return environ.get("NUCLIO_PYTHON_DECODE_EVENT_STRINGS", "").lower() not in ("no", "false", "disable", "disabled")


DECODE_EVENT_STRINGS = decode_event_strings()


@functools.lru_cache(maxsize=1024)  # clients send the same few names over and over
def canonical_header_name(name):
    """The name as Go's net/http (and so Nuclio's HTTP trigger) hands it on:
    the first letter and each letter after a hyphen upper-case, the rest
    lower-case; a name with a byte that is not a token character is left
    as it is."""
    if not name or not all(c in _TOKEN_CHARS for c in name):
        return name
    out, upper = [], True
    for c in name:
        out.append(c.upper() if upper else c.lower())
        upper = c == "-"
    return "".join(out)


_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _raw(text):
    # The channel decoded with surrogateescape: this gives back the bytes sent.
    return text.encode("utf-8", "surrogateescape")


class BadEvent(ValueError):
    """The request cannot become an event (a malformed structured
    CloudEvent): answered 400 without calling the handler."""


_ZERO_TIME = datetime.datetime(1, 1, 1)  # Go's zero time, as Nuclio's wrapper receives it


_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:([Zz])|([+-])(\d\d):(\d\d))\Z")


def _cloud_time(text, strict):
    """An RFC 3339 time (as Go's time.RFC3339 reads it) as a naive UTC
    datetime in whole seconds; the zero time when it is not one, or
    BadEvent when `strict`."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    try:
        if match is None:
            raise ValueError(text)
        y, mo, d, h, mi, sec = (int(g) for g in match.groups()[:6])
        moment = datetime.datetime(y, mo, d, h, mi, sec)
        if match.group(8):
            offset = datetime.timedelta(hours=int(match.group(9)), minutes=int(match.group(10)))
            moment = moment - offset if match.group(8) == "+" else moment + offset
        return moment
    except (ValueError, OverflowError):
        if strict:
            raise BadEvent("the CloudEvent's time %r is not an RFC 3339 time" % (text,)) from None
        return _ZERO_TIME


def _structured_cloud_event(body):
    """A structured CloudEvent (content type application/cloudevents...)
    -> the event's fields. Nuclio reads the CloudEvents 0.1 attribute
    names; the 1.0 names are read as well."""
    try:
        ce = json.loads(body)
    except ValueError as e:
        raise BadEvent("a structured CloudEvent must be a JSON object: %s" % e) from None
    if not isinstance(ce, dict):
        raise BadEvent("a structured CloudEvent must be a JSON object, not %s" % type(ce).__name__)

    def text(*names):
        for name in names:
            value = ce.get(name)
            if value is not None:
                if not isinstance(value, str):
                    raise BadEvent("the CloudEvent's %s must be a string" % name)
                return value
        return ""

    data = ce.get("data")
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    elif data is not None:
        data = json.dumps(data, separators=(",", ":")).encode()  # Nuclio's GetBody gives nothing here
    elif isinstance(ce.get("data_base64"), str):
        try:
            data = base64.b64decode(ce["data_base64"], validate=True)
        except ValueError:
            raise BadEvent("the CloudEvent's data_base64 is not base64") from None
    time_text = text("eventTime", "time")
    extensions = ce.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise BadEvent("the CloudEvent's extensions must be a JSON object")
    if extensions is None and "specversion" in ce:
        # CloudEvents 1.0: extension attributes sit beside the others.
        extensions = {k: v for k, v in ce.items() if k not in _CE1_ATTRIBUTES}
    return {"id": text("eventID", "id"), "source": text("source"), "type": text("eventType", "type"),
            "type_version": text("eventTypeVersion"), "version": text("cloudEventsVersion", "specversion"),
            "content_type": text("contentType", "datacontenttype"), "body": data or b"",
            "headers": extensions or {}, "time": _cloud_time(time_text, True) if time_text else _ZERO_TIME}


_CE1_ATTRIBUTES = frozenset(("specversion", "id", "source", "type", "time", "datacontenttype", "dataschema",
                             "subject", "data", "data_base64"))


def _binary_cloud_event(headers):
    """A binary CloudEvent (CE-* headers) -> the fields it sets, or None
    when the request is not one. Nuclio's names (CloudEvents 0.1) first,
    then 1.0's ce-specversion, ce-id, ce-type, ce-time."""
    lower = {name.lower(): value for name, value in headers}
    if lower.get("ce-cloudeventsversion"):
        get = lambda name: lower.get("ce-" + name.lower(), "")  # noqa: E731
        return {"id": get("EventID"), "source": get("Source"), "name": get("Name"), "type": get("EventType"),
                "type_version": get("EventTypeVersion"), "version": get("CloudEventsVersion"),
                "time": _cloud_time(get("EventTime"), False)}
    if lower.get("ce-specversion"):
        return {"id": lower.get("ce-id", ""), "source": lower.get("ce-source", ""), "type": lower.get("ce-type", ""),
                "type_version": "", "version": lower["ce-specversion"],
                "time": _cloud_time(lower.get("ce-time", ""), False)}
    return None


_EPOCH = datetime.datetime(1970, 1, 1)


# Events of one second share their timestamp (whole seconds, as Nuclio's):
# building a datetime per event cost more than the rest of the fields.
@functools.lru_cache(maxsize=4)
def _timestamp(seconds):
    return _EPOCH + datetime.timedelta(seconds=seconds)


def make_event(fields, trigger, decode_strings=None):
    """Builds nuclio_sdk.Event from the decoded wire fields (a dict), with
    the values Nuclio's Python wrapper gives: the body decoded from JSON
    only for the content type application/json exactly, HTTP header names
    canonical, no url for HTTP events, the timestamp in whole seconds,
    shard_id -1 and offset 0 outside streams, and `key` (edgefn's own: a
    stream message's key, empty without one). With decode_strings false
    (NUCLIO_PYTHON_DECODE_EVENT_STRINGS disabled) every string is bytes."""
    if decode_strings is None:
        decode_strings = DECODE_EVENT_STRINGS
    body = fields["body"]
    content_type = fields.get("content_type") or ""
    http = trigger.kind == "http"
    strings = {"content_type": content_type, "id": fields.get("id") or "", "method": fields.get("method") or "",
               "path": fields.get("path") or "", "url": fields.get("url") or "",
               "type": fields.get("type") or "", "type_version": fields.get("type_version") or "",
               "version": fields.get("version") or "", "topic": fields.get("topic") or "",
               "key": fields.get("key") or ""}
    headers = fields.get("headers", ())
    timestamp = _timestamp(fields.get("timestamp_ns", 0) // 10**9)
    # A CloudEvent, as Nuclio's triggers unwrap it: structured (the body is
    # the event) or binary (CE-* headers). Its attributes replace the
    # event's id, type, versions, time and trigger kind (the source).
    cloud = None
    if content_type.startswith("application/cloudevents"):
        cloud = _structured_cloud_event(body)
        body, content_type, headers = cloud["body"], cloud["content_type"], list(cloud["headers"].items())
        strings["content_type"] = content_type
    elif any(name[:3].lower() == "ce-" for name, _ in headers):
        cloud = _binary_cloud_event(headers)
    if cloud is not None:
        strings.update(id=cloud["id"], type=cloud["type"], type_version=cloud["type_version"],
                       version=cloud["version"])
        timestamp = cloud["time"]
        trigger = nuclio_sdk.TriggerInfo(cloud["source"], cloud.get("name") or trigger.name)
    if content_type == "application/json" and body:
        try:
            body = json.loads(body)
        except ValueError as e:
            # Nuclio says so on stderr and keeps the bytes.
            sys.stderr.write("Failed deserializing json body, error message: %s\n" % e)
    if http:
        strings["url"] = ""
        if cloud is None or "body" not in cloud:  # a structured event's headers are its extensions
            headers = [(canonical_header_name(name), value) for name, value in headers]
    query = fields.get("fields", ())
    if decode_strings:
        headers, query = dict(headers), dict(query)
    else:
        strings = {key: _raw(value) for key, value in strings.items()}
        headers = {_raw(name): _raw(value) if isinstance(value, str) else value for name, value in headers}
        query = {_raw(name): _raw(value) for name, value in query}
        trigger = nuclio_sdk.TriggerInfo(_raw(trigger.kind), _raw(trigger.name))
    return nuclio_sdk.Event(
        body=body, content_type=strings["content_type"], trigger=trigger, fields=query, headers=headers,
        _id=strings["id"], method=strings["method"], path=strings["path"], size=len(fields["body"]),
        timestamp=timestamp, url=strings["url"],
        shard_id=fields.get("shard_id", -1), num_shards=fields.get("num_shards", 0), _type=strings["type"],
        type_version=strings["type_version"], version=strings["version"],
        last_in_batch=fields.get("last_in_batch", False),
        # Nuclio gives events of non-stream triggers offset 0, not -1.
        offset=max(fields.get("offset", 0), 0), topic=strings["topic"], key=strings["key"])


def _defers_ack(output):
    """Whether the Response carries x-nuclio-stream-no-ack: true
    (Response.ensure_no_ack(), or the header set by hand)."""
    for name, value in (output.headers or {}).items():
        if isinstance(name, str) and name.lower() == nuclio_sdk.response.STREAM_NO_ACK_HEADER:
            return value is True or (isinstance(value, str) and value.lower() == "true")
    return False


def _is_async(function):
    if function is None:
        return False
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(getattr(function, "__call__", None))


class HandlerHost:
    """One worker's handler: its context, init_context, and invocation.

    A handler or init_context that is a coroutine function makes the worker
    serve from an asyncio loop it owns (uses_asyncio, then init_async and
    invoke_async inside it), so that tasks they start keep running between
    events. Otherwise init and invoke run plain calls, and an awaitable a
    plain handler returns runs to completion on a private loop."""

    def __init__(self, entrypoint, module, context, dev_mode=False):
        self._entrypoint = entrypoint
        self._module = module
        self.context = context
        self._dev_mode = dev_mode
        self._loop = None

    def uses_asyncio(self):
        return _is_async(self._entrypoint) or _is_async(getattr(self._module, "init_context", None))

    def _run(self, value):
        # What plain handlers return is checked for awaitability without
        # inspect's isinstance against an ABC (a noticeable share per event).
        if type(value) in _PLAIN_OUTPUTS:
            return value
        if inspect.isawaitable(value):
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(value)
        return value

    def init(self):
        init_context = getattr(self._module, "init_context", None)
        if init_context is not None:
            self._run(init_context(self.context))

    async def init_async(self):
        init_context = getattr(self._module, "init_context", None)
        if init_context is not None:
            result = init_context(self.context)
            if inspect.isawaitable(result):
                await result

    def invoke(self, event):
        """Runs the handler; never raises. Returns the to_response() tuple
        and whether the handler defers the event's acknowledgement
        (Response.ensure_no_ack())."""
        try:
            return self._answer(self._run(self._entrypoint(self.context, event)))
        except Exception as e:  # noqa: BLE001 - every handler error becomes a 500
            return self._failed(e)

    async def invoke_async(self, event):
        """invoke() on the running loop: an awaitable result is awaited there."""
        try:
            output = self._entrypoint(self.context, event)
            if inspect.isawaitable(output):
                output = await output
            return self._answer(output)
        except Exception as e:  # noqa: BLE001 - every handler error becomes a 500
            return self._failed(e)

    def _answer(self, output):
        if isinstance(output, list) and output and all(isinstance(o, nuclio_sdk.Response) for o in output):
            # A batch function's answer to one event: Nuclio's processor
            # takes the first response when the event came unbatched.
            output = output[0]
        no_ack = isinstance(output, nuclio_sdk.Response) and _defers_ack(output)
        return (*to_response(output), no_ack)

    def _failed(self, e):
        trace = traceback.format_exc()
        self.context.logger.error_with("handler raised an exception:\n" + trace.rstrip("\n"),
                                       exception=type(e).__name__)
        body = trace if self._dev_mode else f"{type(e).__name__}: {e}"
        return 500, "text/plain", [], body.encode(), False

    def close(self):
        if self._loop is not None:
            self._loop.close()
