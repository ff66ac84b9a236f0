"""edgefn's Python worker: runs one Nuclio-style handler for the daemon.

Started by the daemon (src/runtime/python/python_runtime.hpp) in the
function's directory as `python3 /proc/self/fd/7`, the runtime's archive
embedded in the daemon, whose __main__.py calls main() (or as `python3
edgefn_worker.py` with EDGEFN_PYTHON_RUNTIME_DIR), with SIGTERM and
SIGINT ignored (the daemon decides when a worker stops) and:
  EDGEFN_SHM_FD, EDGEFN_SHM_NOTIFY_FD,      the channel (edgefn_channel.py)
  EDGEFN_SHM_BELL_FD
  EDGEFN_RING_HELPER                        libedgefn_ring.so (/proc/self/fd/8)
  EDGEFN_HANDLER                            module:entrypoint
  EDGEFN_FUNCTION_DIR                       where the module is found
  EDGEFN_SOURCE_FD                          functionSourceCode, when given:
                                            the module's source, a memfd
  EDGEFN_WORKER_ID, EDGEFN_TRIGGER_KIND, EDGEFN_TRIGGER_NAME,
  EDGEFN_FUNCTION_NAMESPACE, EDGEFN_DEV (1: tracebacks in 500 bodies),
  EDGEFN_FUNCTION_URLS                      JSON {name: url}, call_function
plus the daemon's environment, spec.env and NUCLIO_FUNCTION_*.

Sequence: attach (HELLO), import the handler, run init_context, send READY;
or send INIT_FAILED with the traceback and wait to be killed. Then events,
one at a time, until STOP (the termination callback runs, exit 0) or until
the channel closes. Each DRAIN (the processor drains, or a stream trigger's
partitions are revoked in a rebalance) runs the drain callback, and events
go on. With an async handler or init_context the worker waits for events
inside its asyncio loop, on the bell (edgefn_serving.py), so that tasks
they started keep running.

sys.stdout and sys.stderr become log frames (print() -> info, stderr ->
warn), tagged with the event being handled and marked as output (kept out
of X-Nuclio-Logs, as in Nuclio), one per line, a line cut into pieces of
at most MAX_LINE bytes; the real fds 1 and 2 stay on pipes the
daemon logs line by line with the same bound, for C extensions and the
interpreter's own fatal errors.
"""
import ctypes
import importlib.abc
import importlib.util
import io
import json
import os
import signal
import sys
import threading
import traceback

_LEVELS = {"debug": 0, "info": 1, "warn": 2, "error": 3}
_PR_SET_DUMPABLE = 4


def _not_dumpable():
    """The shm segment is an inherited memfd: another process of the same
    user could open it through /proc/<pid>/fd unless this process is
    non-dumpable. execve() made it dumpable again, so it is set here."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class _State:
    def __init__(self):
        self.request_id = 0  # the event being handled, for log frames


# A log line's bound in UTF-8 bytes, and what ends each piece of a longer
# one: the same as the daemon's for fds 1 and 2 (OutputLines in
# src/process/output_lines.hpp), so that a print() without a newline cannot
# become one unbounded LOG message and log line.
MAX_LINE = 16 * 1024
CUT_MARKER = " [line cut at 16 KiB; continues]"
_PIECE = MAX_LINE - len(CUT_MARKER)  # a piece's output bytes: with its marker, MAX_LINE
_NOTE_ROOM = 64  # room left for a cut message's note


def _utf8_size(text):
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _fitting_prefix(text, limit):
    """How many of the first characters of `text` fit in `limit` UTF-8
    bytes; at least one, so that cutting always advances."""
    head = text[:limit]
    if _utf8_size(head) <= limit:
        return len(head)
    # Cut the bytes, drop a character left incomplete, count what remains.
    return max(1, len(head.encode("utf-8", "surrogatepass")[:limit].decode("utf-8", "ignore")))


def bounded_message(text):
    """A logger call's message within MAX_LINE bytes, cut once with a note
    of how much was left out (as the daemon's bounded_line does)."""
    if not isinstance(text, str) or len(text) <= MAX_LINE // 4 or _utf8_size(text) <= MAX_LINE:
        return text
    n = _fitting_prefix(text, MAX_LINE - _NOTE_ROOM)
    return "%s [cut: %d more bytes]" % (text[:n], _utf8_size(text) - _utf8_size(text[:n]))


class _LogWriter(io.TextIOBase):
    """sys.stdout / sys.stderr: each line becomes a log frame; a line over
    MAX_LINE bytes becomes several of at most MAX_LINE, each but the last
    ending in CUT_MARKER.
    At most one unfinished line (within the bound) is kept between writes."""

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
            lines = self._take_lines(self._buffer + text if self._buffer else text)
        for line in lines:
            self._send(self._level, line, None)
        return len(text)

    def _take_lines(self, data):
        """The lines `data` completes, cut at the bound; keeps the rest."""
        lines = []
        start, size = 0, len(data)
        while start < size:
            # A line of MAX_LINE bytes has at most MAX_LINE characters: one
            # more tells "whole" from "too long" without looking further.
            window = data[start:start + MAX_LINE + 1]
            newline = window.find("\n")
            line = window if newline < 0 else window[:newline]
            if _utf8_size(line) <= MAX_LINE:
                if newline >= 0:
                    lines.append(line[:-1] if line.endswith("\r") else line)
                    start += newline + 1
                    continue
                if start + len(window) == size:
                    break  # an unfinished line within the bound: kept
            n = _fitting_prefix(line, _PIECE)
            lines.append(line[:n] + CUT_MARKER)
            start += n
        self._buffer = data[start:]
        return lines

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


def _publisher(mailbox, ec):
    import nuclio_sdk

    def publish(output, body, topic=None, key=None, headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        elif body is None:
            body = b""
        head = ec.encode_publish_head(output, topic or "", key or "", headers or ())
        _, _, reply, _ = mailbox.request(ec.PUBLISH, head, bytes(body), ec.PUBLISH_RESULT)
        code, message = ec.decode_publish_result(reply)
        if code != 0:
            raise nuclio_sdk.PublishError(message)

    return publish


def _explicit_acker(channel, ec):
    def explicit_ack(qualified_offset):
        channel.send(ec.EXPLICIT_ACK, 0, ec.encode_explicit_ack_head(
            qualified_offset.topic, qualified_offset.partition, qualified_offset.offset))

    return explicit_ack


class _SourceLoader(importlib.abc.SourceLoader):
    """Imports functionSourceCode from the memfd the daemon passed."""

    def __init__(self, fd):
        self._fd = fd

    def get_filename(self, fullname):
        return "<functionSourceCode>"

    def get_data(self, path):
        # pread: the file offset is shared with every other worker.
        size = os.fstat(self._fd).st_size
        chunks, offset = [], 0
        while offset < size:
            chunk = os.pread(self._fd, size - offset, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks)


def _load_source_module(handler_spec, fd):
    """Makes `module` (possibly dotted) importable from the source in `fd`."""
    module_name = handler_spec.partition(":")[0]
    parts = module_name.split(".")
    for i in range(1, len(parts)):
        parent = ".".join(parts[:i])
        if parent not in sys.modules:
            package = importlib.util.module_from_spec(importlib.util.spec_from_loader(parent, None, is_package=True))
            package.__path__ = []
            sys.modules[parent] = package
    spec = importlib.util.spec_from_loader(module_name, _SourceLoader(fd), origin="<functionSourceCode>")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)


def _fields_json(fields):
    """The keyword arguments of a *_with call as one JSON object (text).

    Python's json writes NaN and Infinity, which are not JSON (the daemon
    would then keep the whole text as a string), and raises on circular data,
    which would fail the handler from a log call. Such a value goes as its
    str() instead, and the other fields keep their types.
    """
    try:
        return json.dumps(fields, default=str, allow_nan=False, separators=(",", ":"))
    except Exception:  # noqa: BLE001 - any value may fail to encode, or its __str__ may raise
        pass
    members = []
    for key, value in fields.items():
        try:
            encoded = json.dumps(value, default=str, allow_nan=False, separators=(",", ":"))
        except Exception:  # noqa: BLE001
            try:
                encoded = json.dumps(str(value))
            except Exception:  # noqa: BLE001
                encoded = json.dumps("<unprintable %s>" % type(value).__name__)
        members.append(json.dumps(str(key)) + ":" + encoded)
    return "{" + ",".join(members) + "}"


def _traceback_text():
    return traceback.format_exc().rstrip("\n")


def main():
    _not_dumpable()
    # Inherited as ignored from the daemon; said again for a worker started
    # by hand.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    import edgefn_channel as ec
    import edgefn_serving

    try:
        channel = ec.Channel.from_environment()
    except Exception as e:  # noqa: BLE001 - any failure here ends the worker
        print("edgefn worker: cannot attach to the shm channel: %s" % e, file=sys.stderr, flush=True)
        return 1

    state = _State()
    mailbox = edgefn_serving.Mailbox(channel, ec)

    def sink(level, message, fields, output=False):
        if isinstance(fields, dict):
            fields = _fields_json(fields)
        message = bounded_message(message)
        try:
            channel.send_log(state.request_id, _LEVELS.get(level, 1), message, fields, output)
        except ec.ChannelError:
            pass

    def output_sink(level, line, _):
        sink(level, line, None, True)

    real_stdout, real_stderr = sys.stdout, sys.stderr
    sys.stdout = _LogWriter(output_sink, "info", 1)
    sys.stderr = _LogWriter(output_sink, "warn", 2)

    import edgefn_handler
    import nuclio_sdk
    import nuclio_sdk.logger

    urls = json.loads(os.environ.get("EDGEFN_FUNCTION_URLS") or "{}")
    platform = nuclio_sdk.Platform(kind="local", namespace=os.environ.get("EDGEFN_FUNCTION_NAMESPACE") or "default",
                                   call_function=_call_function(urls), explicit_ack=_explicit_acker(channel, ec),
                                   publish=_publisher(mailbox, ec))
    trigger = nuclio_sdk.TriggerInfo(os.environ.get("EDGEFN_TRIGGER_KIND", ""),
                                     os.environ.get("EDGEFN_TRIGGER_NAME", ""))
    # worker_id is a str, as Nuclio's wrapper has it from its command line.
    context = nuclio_sdk.Context(nuclio_sdk.logger.sink_logger(sink), worker_id=os.environ.get("EDGEFN_WORKER_ID", "0"),
                                 trigger=trigger, platform=platform)

    host = None
    try:
        directory = os.environ.get("EDGEFN_FUNCTION_DIR") or os.getcwd()
        source_fd = os.environ.get("EDGEFN_SOURCE_FD")
        if source_fd:
            _load_source_module(os.environ["EDGEFN_HANDLER"], int(source_fd))
        module, entrypoint = edgefn_handler.load_entrypoint(os.environ["EDGEFN_HANDLER"], directory)
        host = edgefn_handler.HandlerHost(entrypoint, module, context, os.environ.get("EDGEFN_DEV") == "1")
        serve_in_loop = channel.bell_fd is not None and host.uses_asyncio()
        if not serve_in_loop:
            host.init()
    except (Exception, SystemExit):
        return _init_failed(channel, ec, _traceback_text())

    server = edgefn_serving.Server(channel, ec, mailbox, host, state)
    stopped = False
    try:
        if serve_in_loop:
            stopped = edgefn_serving.serve_in_loop(server, channel, mailbox, host)
        else:
            channel.send(ec.READY, 0, b"")
            while not stopped:
                message = mailbox.next_message()
                if message[0] == ec.EVENT:
                    event = server.begin(message)
                    if event is not None:
                        server.respond(message[1], host.invoke(event))
                else:
                    stopped = server.control(message[0])
    except edgefn_serving.InitFailed as failure:
        return _init_failed(channel, ec, failure.args[0])
    except ec.ChannelClosed:
        pass
    except BaseException:
        # The channel may be what failed: the real stderr reaches the
        # daemon's log whatever happened to it.
        print("edgefn worker: " + _traceback_text(), file=real_stderr, flush=True)
        raise
    finally:
        if stopped and not serve_in_loop:  # the loop ran it already
            edgefn_serving.run_callback(platform._termination_callback, "termination", context)
        if host is not None:
            host.close()
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = real_stdout, real_stderr
        channel.close()
    return 0


def _init_failed(channel, ec, text):
    try:
        channel.send(ec.INIT_FAILED, 0, text.encode("utf-8", "replace"))
        # The daemon kills this process once it has the message (a thread
        # the handler started may keep it alive otherwise); exiting first
        # could lose the message.
        while channel.recv(timeout=10.0) is not None:
            pass
    except ec.ChannelError:
        pass
    finally:
        channel.close()
    return 1


if __name__ == "__main__":
    sys.exit(main())
