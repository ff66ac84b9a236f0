"""Loads a Nuclio-style Python handler and runs events through it.

Transport-agnostic: the worker (edgefn_worker.py) feeds it decoded events
and sends back what it returns. Behaviour follows Nuclio's Python SDK: the
return-value table, init_context, context.logger, async handlers, and
exceptions turned into 500 responses.
"""
import asyncio
import datetime
import importlib
import inspect
import json
import sys
import traceback

import nuclio_sdk

_DROPPED_RESPONSE_HEADERS = {"content-length", "transfer-encoding", "connection"}


class HandlerLoadError(Exception):
    """The handler module or its entry point could not be loaded."""


def load_entrypoint(handler_spec, directory):
    """Imports `module:function` (module may be dotted) from `directory`."""
    module_name, sep, entry_name = handler_spec.partition(":")
    if not sep or not module_name or not entry_name:
        raise HandlerLoadError(f"spec.handler '{handler_spec}' must be 'module:function'")
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
        headers = [(str(k), _header_text(v)) for k, v in (output.headers or {}).items()
                   if str(k).lower() not in _DROPPED_RESPONSE_HEADERS]
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


def make_event(fields, trigger):
    """Builds nuclio_sdk.Event from the decoded wire fields (a dict)."""
    body = fields["body"]
    content_type = fields.get("content_type") or ""
    if content_type.split(";")[0].strip().lower() == "application/json" and body:
        try:
            body = json.loads(body)
        except ValueError:
            pass
    timestamp_ns = fields.get("timestamp_ns", 0)
    timestamp = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=timestamp_ns // 1000)
    return nuclio_sdk.Event(
        body=body, content_type=content_type, trigger=trigger, fields=dict(fields.get("fields", ())),
        headers=dict(fields.get("headers", ())), _id=fields.get("id"), method=fields.get("method"),
        path=fields.get("path"), size=len(fields["body"]), timestamp=timestamp, url=fields.get("url"),
        _type=fields.get("type") or None, type_version=fields.get("type_version") or None,
        version=fields.get("version") or None, last_in_batch=fields.get("last_in_batch", False),
        # Nuclio gives events of non-stream triggers 0 for these, not None.
        offset=max(fields.get("offset", 0), 0), topic=fields.get("topic") or None,
        shard_id=max(fields.get("shard_id", 0), 0), num_shards=fields.get("num_shards", 0))


class HandlerHost:
    """One worker's handler: its context, init_context, and invocation."""

    def __init__(self, entrypoint, module, context, dev_mode=False):
        self._entrypoint = entrypoint
        self._module = module
        self.context = context
        self._dev_mode = dev_mode
        self._loop = None

    def _run(self, value):
        if inspect.isawaitable(value):
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(value)
        return value

    def init(self):
        init_context = getattr(self._module, "init_context", None)
        if init_context is not None:
            self._run(init_context(self.context))

    def invoke(self, event):
        """Runs the handler; never raises. Returns the to_response() tuple
        and whether the handler defers the event's acknowledgement
        (Response.ensure_no_ack())."""
        try:
            output = self._run(self._entrypoint(self.context, event))
            no_ack = isinstance(output, nuclio_sdk.Response) and output.no_ack
            return (*to_response(output), no_ack)
        except Exception as e:  # noqa: BLE001 - every handler error becomes a 500
            trace = traceback.format_exc()
            self.context.logger.error_with("handler raised an exception:\n" + trace.rstrip("\n"),
                                           exception=type(e).__name__)
            body = trace if self._dev_mode else f"{type(e).__name__}: {e}"
            return 500, "text/plain", [], body.encode(), False

    def close(self):
        if self._loop is not None:
            self._loop.close()
