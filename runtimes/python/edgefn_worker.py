"""edgefn's Python worker: runs one Nuclio-style handler for the daemon.

Started by the daemon (src/runtime/python/python_runtime.hpp) as
`python3 edgefn_worker.py` in the function's directory, with:
  EDGEFN_SHM_SEGMENT, EDGEFN_SHM_NOTIFY_FD   the channel (edgefn_channel.py)
  EDGEFN_RING_HELPER                        libedgefn_ring.so
  EDGEFN_HANDLER                            module:entrypoint
  EDGEFN_FUNCTION_DIR, EDGEFN_WORKER_SOURCE_DIR  where the module is found
  EDGEFN_WORKER_ID, EDGEFN_TRIGGER_KIND, EDGEFN_TRIGGER_NAME,
  EDGEFN_FUNCTION_NAMESPACE, EDGEFN_DEV (1: tracebacks in 500 bodies),
  EDGEFN_FUNCTION_URLS                      JSON {name: url}, call_function
plus the daemon's environment, spec.env and NUCLIO_FUNCTION_*.

Sequence: attach (HELLO), import the handler, run init_context, send READY
(16); or send INIT_FAILED (17) with the traceback, wait for the daemon to
close the channel, and exit 1. Then one event at a time until the channel
closes. SIGTERM runs the termination callback and exits 0. (No trigger drains
a worker without stopping it yet, so the drain callback is kept but never
called.)

sys.stdout and sys.stderr become log frames (print() -> info, stderr ->
warn), tagged with the event being handled; the real fds 1 and 2 stay on
pipes the daemon logs line by line, for C extensions and the interpreter's
own fatal errors.
"""
import io
import json
import os
import signal
import sys
import threading
import traceback

READY, INIT_FAILED = 16, 17
_LEVELS = {"debug": 0, "info": 1, "warn": 2, "error": 3}


class _Terminate(BaseException):
    """Raised in the main thread by SIGTERM while it waits for an event."""


class _State:
    def __init__(self):
        self.request_id = 0  # the event being handled, for log frames
        self.waiting = False  # the main thread is blocked waiting for an event
        self.terminate = False


class _LogWriter(io.TextIOBase):
    """sys.stdout / sys.stderr: each line becomes a log frame."""

    def __init__(self, send, level, fileno):
        super().__init__()
        self._send = send
        self._level = level
        self._fileno = fileno
        self._buffer = ""
        self._lock = threading.Lock()

    @property
    def encoding(self):
        return "utf-8"

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        return self._fileno

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        with self._lock:
            self._buffer += text
            if "\n" not in self._buffer:
                return len(text)
            *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._send(self._level, line.rstrip("\r"), None)
        return len(text)

    def flush(self):
        with self._lock:
            line, self._buffer = self._buffer, ""
        if line:
            self._send(self._level, line, None)


def _call_function(urls, timeout_default=60.0):
    import urllib.error
    import urllib.request

    import nuclio_sdk

    def call(function_name, event, timeout=None):
        base = urls.get(function_name)
        if base is None:
            known = ", ".join(sorted(urls)) or "none"
            raise ValueError("call_function: no URL for function '%s' (known: %s); start the processor with "
                             "--function-url %s=http://host:port" % (function_name, known, function_name))
        body = event.body if event is not None else b""
        headers = dict(getattr(event, "headers", None) or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        elif body is None:
            body = b""
        content_type = getattr(event, "content_type", None)
        if content_type and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = content_type
        path = getattr(event, "path", None) or ""
        url = base.rstrip("/") + ("/" + path.lstrip("/") if path and path != "/" else "/")
        method = (getattr(event, "method", None) or "POST").upper()
        request = urllib.request.Request(url, data=body if method not in ("GET", "HEAD") else None,
                                         headers={str(k): str(v) for k, v in headers.items()}, method=method)
        try:
            reply = urllib.request.urlopen(request, timeout=timeout or timeout_default)
        except urllib.error.HTTPError as e:
            reply = e
        with reply:
            data = reply.read()
            reply_headers = dict(reply.headers.items())
            status = reply.status if hasattr(reply, "status") else reply.code
        content_type = reply_headers.get("Content-Type", "text/plain")
        if content_type.split(";")[0].strip() == "application/json":
            try:
                data = json.loads(data)
            except ValueError:
                pass
        return nuclio_sdk.Response(headers=reply_headers, body=data, content_type=content_type, status_code=status)

    return call


def _traceback_text():
    return traceback.format_exc().rstrip("\n")


def main():
    import edgefn_channel as ec

    try:
        channel = ec.Channel.from_environment()
    except Exception as e:  # noqa: BLE001 - any failure here ends the worker
        print("edgefn worker: cannot attach to the shm channel: %s" % e, file=sys.stderr, flush=True)
        return 1

    state = _State()

    def sink(level, message, fields):
        try:
            channel.send_log(state.request_id, _LEVELS.get(level, 1), message, fields)
        except ec.ChannelError:
            pass

    real_stdout, real_stderr = sys.stdout, sys.stderr
    sys.stdout = _LogWriter(sink, "info", 1)
    sys.stderr = _LogWriter(sink, "warn", 2)

    def on_term(signum, frame):
        state.terminate = True
        if state.waiting:
            raise _Terminate()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides when a worker stops

    import edgefn_handler
    import nuclio_sdk

    urls = json.loads(os.environ.get("EDGEFN_FUNCTION_URLS") or "{}")
    platform = nuclio_sdk.Platform(kind="local", namespace=os.environ.get("EDGEFN_FUNCTION_NAMESPACE") or "default",
                                   call_function=_call_function(urls))
    trigger = nuclio_sdk.TriggerInfo(os.environ.get("EDGEFN_TRIGGER_KIND", ""),
                                     os.environ.get("EDGEFN_TRIGGER_NAME", ""))
    context = nuclio_sdk.Context(nuclio_sdk.Logger(sink), worker_id=int(os.environ.get("EDGEFN_WORKER_ID", "0")),
                                 trigger=trigger, platform=platform)

    host = None
    try:
        directory = os.environ.get("EDGEFN_FUNCTION_DIR") or os.getcwd()
        source_dir = os.environ.get("EDGEFN_WORKER_SOURCE_DIR")
        if source_dir:
            sys.path.insert(0, directory)
            directory = source_dir
        module, entrypoint = edgefn_handler.load_entrypoint(os.environ["EDGEFN_HANDLER"], directory)
        host = edgefn_handler.HandlerHost(entrypoint, module, context, os.environ.get("EDGEFN_DEV") == "1")
        host.init()
    except (Exception, SystemExit):
        return _init_failed(channel, ec, _traceback_text())
    except _Terminate:
        return 0
    if state.terminate:
        _run_callback(platform._termination_callback, "termination", context)
        return 0

    try:
        channel.send(READY, 0, b"")
        while not state.terminate:
            state.waiting = True
            try:
                if state.terminate:
                    break
                request_id, fields = channel.recv_event()
            finally:
                state.waiting = False
            event = edgefn_handler.make_event(fields, nuclio_sdk.TriggerInfo(fields["trigger_kind"],
                                                                             fields["trigger_name"]))
            state.request_id = request_id
            try:
                status, content_type, headers, body = host.invoke(event)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                state.request_id = 0
            try:
                channel.send_response(request_id, body, status, content_type, headers)
            except ec.MessageTooLarge:
                context.logger.error("the response (%d bytes) is over the channel's limit" % len(body))
                channel.send_response(request_id, b"response too large\n", 500, "text/plain")
    except (_Terminate, ec.ChannelClosed):
        pass
    finally:
        if state.terminate:
            _run_callback(platform._termination_callback, "termination", context)
        if host is not None:
            host.close()
        sys.stdout, sys.stderr = real_stdout, real_stderr
        channel.close()
    return 0


def _run_callback(callback, what, context):
    if callback is None:
        return
    try:
        callback()
    except Exception:  # noqa: BLE001 - a failing callback must not stop the shutdown
        context.logger.error_with("the %s callback raised an exception" % what, traceback=_traceback_text())


def _init_failed(channel, ec, text):
    try:
        channel.send(INIT_FAILED, 0, text.encode("utf-8", "replace"))
        # The daemon closes the channel once it has the message; exiting
        # before could lose it.
        while channel.recv(timeout=10.0) is not None:
            pass
    except ec.ChannelError:
        pass
    finally:
        channel.close()
    return 1


if __name__ == "__main__":
    sys.exit(main())
