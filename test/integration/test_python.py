"""The Python runtime against the real processor and a real python3."""
import base64
import json
import os
import shutil
import re
import signal
import subprocess
import textwrap
import time
import unittest

from support import Processor, TempDir, run_cli, wait_for, write_function

HANDLERS = textwrap.dedent('''
    import asyncio
    import json
    import os
    import sys

    import nuclio_sdk


    def init_context(context):
        context.user_data.pid = os.getpid()
        context.user_data.inits = int(os.environ.get("INITS_SEEN", "0")) + 1
        marker = os.environ.get("INIT_MARKER")
        if marker:
            with open(marker + ".count", "a") as f:
                f.write("x")
        context.logger.info_with("init done", worker_id=context.worker_id)


    def ret(context, event):
        kind = event.path.strip("/")
        return {
            "str": lambda: "text",
            "bytes": lambda: b"\\x00\\x01raw",
            "dict": lambda: {"a": 1},
            "list": lambda: [1, "two"],
            "tuple_str": lambda: (201, "created"),
            "tuple_other": lambda: (202, {"k": "v"}),
            "response_dict": lambda: nuclio_sdk.Response(body={"x": 1}, status_code=203, headers={"X-A": "b"}),
            "response": lambda: context.Response(body="teapot", status_code=418, content_type="text/x-tea",
                                                 headers={"X-Int": 7, "X-Bool": True, "X-Float": 1.5,
                                                          "Content-Length": "999"}),
            "other": lambda: 42,
            "none": lambda: None,
        }[kind]()


    def fields(context, event):
        return {
            "id": event.id, "body": event.body if isinstance(event.body, (dict, list)) else event.body.decode(),
            "body_type": type(event.body).__name__, "content_type": event.content_type,
            "trigger": [event.trigger.kind, event.trigger.name], "fields": event.fields,
            "headers_type": type(event.headers).__name__, "x_custom": event.get_header("x-CUSTOM"),
            "method": event.method, "path": event.path, "size": event.size,
            "timestamp": event.timestamp.isoformat(), "tz": str(event.timestamp.tzinfo), "url": event.url,
            "type": event.type, "type_version": event.type_version, "version": event.version,
            "shard_id": event.shard_id, "num_shards": event.num_shards, "offset": event.offset,
            "topic": event.topic, "last_in_batch": event.last_in_batch, "to_json": json.loads(event.to_json())["path"],
            "worker_id": context.worker_id, "ctx_trigger": [context.trigger.kind, context.trigger.name],
            "trigger_name": context.trigger_name, "platform": [context.platform.kind, context.platform.namespace],
            "user_data_pid": context.user_data.pid, "pid": os.getpid(),
            "env": [os.environ.get("MY_VAR"), os.environ.get("NUCLIO_FUNCTION_NAME"),
                    os.environ.get("NUCLIO_FUNCTION_HANDLER"), os.environ.get("DAEMON_VAR")],
            "sdk": [nuclio_sdk.Response.__name__, nuclio_sdk.Event.__name__, nuclio_sdk.QualifiedOffset.__name__],
        }


    def logs(context, event):
        context.logger.debug("debug %s", "arg")
        context.logger.info("info plain")
        context.logger.warn("warn plain")
        context.logger.error("error plain")
        context.logger.debug_with("debug with", a=1)
        context.logger.info_with("info with", b="two")
        context.logger.warn_with("warn with", c=[3])
        context.logger.error_with("error with", d={"e": 4})
        print("printed line")
        print("to stderr", file=sys.stderr)
        os.write(1, b"raw fd one\\n")
        return "logged"


    def boom(context, event):
        raise ValueError("kaboom")


    async def async_handler(context, event):
        await asyncio.sleep(0.01)
        return {"async": True, "body": event.body.decode()}


    def echo(context, event):
        return context.Response(body=event.body, content_type="application/octet-stream",
                                headers={"X-Size": len(event.body)})


    def pid(context, event):
        return str(os.getpid())


    def sleepy(context, event):
        import time
        time.sleep(float(event.fields.get("s", "0")))
        return "woke " + str(os.getpid())


    def inits(context, event):
        return {"pid": os.getpid(), "inits": context.user_data.inits}


    def caller(context, event):
        reply = context.platform.call_function("other", nuclio_sdk.Event(body=b"ping", method="POST",
                                                                         path="/called", headers={"X-Hop": "1"}))
        return {"status": reply.status_code, "body": reply.body.decode()}


    def caller_unknown(context, event):
        try:
            context.platform.call_function("nope", nuclio_sdk.Event(body=b""))
        except Exception as e:
            return {"error": str(e)}
        return "no error"


    def nuclio_headers(context, event):
        got = {"names": list(event.headers), "lower": event.get_header("x-LOWER-case"),
               "body_type": type(event.body).__name__}
        return context.Response(body=json.dumps(got), headers={"x-lower": "a", "X-MiXeD-case": "b"})


    def undecoded(context, event):
        return {"types": sorted({type(v).__name__ for v in (event.path, event.method, event.id, event.content_type,
                                                            event.url, event.trigger.kind, *event.headers,
                                                            *event.headers.values(), *event.fields)}),
                "path": event.path.decode(), "body": event.body if isinstance(event.body, list) else None,
                "header": event.get_header("x-h").decode()}


    def batch_style(context, event):
        # A Nuclio batch function, here called with one event.
        events = event if isinstance(event, list) else [event]
        return [nuclio_sdk.Response(body="answered " + e.id, event_id=e.id) for e in events]


    def whole_sdk(context, event):
        import nuclio_sdk.json_encoder
        import nuclio_sdk.test
        context.logger.bind(tenant="t1")
        context.logger.info_with("bound", n=1)
        platform = nuclio_sdk.test.Platform()
        reply = platform.call_handler(lambda ctx, ev: ctx.Response(body=ev.body, event_id=ev.id),
                                      nuclio_sdk.Event(b"inner", "text/plain", None, None, None, "i1"))
        return nuclio_sdk.json_encoder.Encoder().encode({
            "nan": float("nan"), "kinds": [kind.name for kind in nuclio_sdk.EventDeserializerKinds],
            "inner": [reply.body.decode(), reply.event_id], "error": nuclio_sdk.ExceptionWithResponse(418).status_code,
            "sdk_dir": os.path.dirname(nuclio_sdk.__file__)})


    def cron_fields(context, event):
        with open(os.environ["CRON_OUT"], "a") as f:
            f.write(json.dumps({"path": event.path, "method": event.method, "url": event.url,
                                "shard_id": event.shard_id, "headers": event.headers,
                                "kind": event.trigger.kind}) + "\\n")
        return "ticked"


    def termination(context, event):
        marker = event.body.decode()
        context.platform.set_termination_callback(lambda: open(marker, "w").write("terminated"))
        return "set"
''')


def function_yaml(handler, runtime="python", extra_spec="", trigger_attrs="", env=None, workers=1):
    env_lines = ""
    if env:
        env_lines = "  env:\n" + "".join(f"    - name: {k}\n      value: \"{v}\"\n" for k, v in env.items())
    return (f"metadata:\n  name: pyfn\nspec:\n  runtime: \"{runtime}\"\n  handler: {handler}\n{env_lines}"
            f"{extra_spec}"
            f"  triggers:\n    web:\n      kind: http\n      numWorkers: {workers}\n{trigger_attrs}")


def make_function(directory, handler, source=HANDLERS, **kwargs):
    with open(os.path.join(directory, "handlers.py"), "w") as f:
        f.write(source)
    return write_function(directory, function_yaml(handler, **kwargs))


def worker_pids(processor_pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(processor_pid)], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return []
    return [int(p) for p in out.split()]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False
    return True


class PythonHandlerTest(unittest.TestCase):
    """One processor serves many handlers: each test picks one by spec.handler."""

    def enter(self, context_manager):
        value = context_manager.__enter__()
        self.addCleanup(context_manager.__exit__, None, None, None)
        return value

    def run_fn(self, handler, *args, **kwargs):
        d = self.enter(TempDir())
        config = make_function(d, handler, **kwargs)
        return self.enter(Processor(config, *args))

    def test_every_row_of_the_return_value_table(self):
        proc = self.run_fn("handlers:ret")
        expect = {
            "str": (200, "text/plain", b"text"),
            "bytes": (200, "text/plain", b"\x00\x01raw"),
            "dict": (200, "application/json", {"a": 1}),
            "list": (200, "application/json", [1, "two"]),
            "tuple_str": (201, "text/plain", b"created"),
            "tuple_other": (202, "application/json", {"k": "v"}),
            "response_dict": (203, "application/json", {"x": 1}),
            "response": (418, "text/x-tea", b"teapot"),
            "other": (200, "text/plain", b"42"),
            "none": (200, "text/plain", b""),
        }
        for kind, (status, content_type, body) in expect.items():
            with self.subTest(kind=kind):
                got_status, headers, got_body = proc.request("GET", "/" + kind)
                self.assertEqual(got_status, status)
                self.assertEqual(headers["Content-Type"], content_type)
                if isinstance(body, bytes):
                    self.assertEqual(got_body, body)
                else:
                    self.assertEqual(json.loads(got_body), body)
        _, headers, body = proc.request("GET", "/response")
        self.assertEqual((headers["X-Int"], headers["X-Bool"], headers["X-Float"]), ("7", "true", "1.5"))
        self.assertEqual(headers["Content-Length"], "6")
        _, headers, _ = proc.request("GET", "/response_dict")
        self.assertEqual(headers["X-A"], "b")

    def test_every_event_and_context_field(self):
        d = self.enter(TempDir())
        config = make_function(d, "handlers:fields", env={"MY_VAR": "from-spec"})
        os.environ["DAEMON_VAR"] = "inherited"  # the daemon's environment reaches the worker
        try:
            proc = self.enter(Processor(config))
        finally:
            del os.environ["DAEMON_VAR"]
        status, _, body = proc.request("POST", "/some/path?x=1&y=two", body=b"hello",
                                       headers={"X-Custom": "yes", "Content-Type": "text/plain"})
        self.assertEqual(status, 200, body)
        got = json.loads(body)
        self.assertRegex(got["id"], r"^[0-9a-f-]{36}$")
        self.assertEqual(got["body"], "hello")
        self.assertEqual(got["body_type"], "bytes")
        self.assertEqual(got["content_type"], "text/plain")
        self.assertEqual(got["trigger"], ["http", "web"])
        self.assertEqual(got["fields"], {"x": "1", "y": "two"})
        self.assertEqual(got["headers_type"], "dict")
        self.assertEqual(got["x_custom"], "yes")
        self.assertEqual((got["method"], got["path"], got["size"]), ("POST", "/some/path", 5))
        self.assertEqual(got["tz"], "None")
        stamp = time.mktime(time.strptime(got["timestamp"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        self.assertLess(abs(stamp - time.time()), 120)
        # As Nuclio's HTTP trigger and Python wrapper set them.
        self.assertEqual((got["url"], got["type"], got["type_version"], got["version"], got["topic"]), ("",) * 5)
        self.assertEqual((got["shard_id"], got["num_shards"], got["offset"]), (-1, 0, 0))
        self.assertRegex(got["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
        self.assertEqual(got["last_in_batch"], False)
        self.assertEqual(got["to_json"], "/some/path")
        self.assertEqual(got["worker_id"], "0")
        self.assertEqual(got["ctx_trigger"], ["http", "web"])
        self.assertEqual(got["trigger_name"], "web")
        self.assertEqual(got["platform"], ["local", "default"])
        self.assertEqual(got["user_data_pid"], got["pid"])
        self.assertEqual(got["env"], ["from-spec", "pyfn", "handlers:fields", "inherited"])
        self.assertEqual(got["sdk"], ["Response", "Event", "QualifiedOffset"])
        # JSON bodies are decoded.
        status, _, body = proc.request("POST", "/", body=b'{"k": [1, 2]}', headers={"Content-Type": "application/json"})
        got = json.loads(body)
        self.assertEqual((got["body"], got["body_type"]), ({"k": [1, 2]}, "dict"))
        # Ids are fresh per event.
        ids = {json.loads(proc.request("GET", "/")[2])["id"] for _ in range(3)}
        self.assertEqual(len(ids), 3)

    def test_json_bodies_are_decoded_only_for_exactly_application_json(self):
        proc = self.run_fn("handlers:fields")
        for content_type, body_type in [("application/json", "dict"), ("application/json; charset=utf-8", "bytes"),
                                        ("text/plain", "bytes")]:
            with self.subTest(content_type=content_type):
                status, _, body = proc.request("POST", "/", body=b'{"k": 1}', headers={"Content-Type": content_type})
                self.assertEqual((status, json.loads(body)["body_type"]), (200, body_type))

    def test_header_names_canonical_on_the_way_in_and_as_written_on_the_way_out(self):
        proc = self.run_fn("handlers:nuclio_headers")
        reply = proc.raw(b"POST / HTTP/1.1\r\nHost: h\r\nx-lower-case: 1\r\ncontent-type: text/plain\r\n"
                         b"X-UPPER: 2\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        head, _, body = reply.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), reply)
        got = json.loads(body)
        self.assertEqual(set(got["names"]), {"Host", "X-Lower-Case", "Content-Type", "X-Upper", "Content-Length",
                                             "Connection"})
        self.assertEqual((got["lower"], got["body_type"]), ("1", "bytes"))
        lines = head.split(b"\r\n")
        self.assertIn(b"x-lower: a", lines)
        self.assertIn(b"X-MiXeD-case: b", lines)

    def test_nuclio_python_decode_event_strings_disabled_gives_bytes(self):
        proc = self.run_fn("handlers:undecoded", env={"NUCLIO_PYTHON_DECODE_EVENT_STRINGS": "disabled"})
        status, _, body = proc.request("POST", "/a/b?q=1", body=b"[1, 2]",
                                       headers={"Content-Type": "application/json", "X-H": "v"})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"types": ["bytes"], "path": "/a/b", "body": [1, 2], "header": "v"})

    def test_a_batch_style_function_answers_an_unbatched_event(self):
        proc = self.run_fn("handlers:batch_style")
        status, _, body = proc.request("POST", "/", body=b"x")
        self.assertEqual(status, 200, body)
        self.assertRegex(body.decode(), r"^answered [0-9a-f-]{36}$")

    def test_cron_events_have_path_slash_and_headers_as_configured(self):
        d = self.enter(TempDir())
        out = os.path.join(d, "ticks.jsonl")
        with open(os.path.join(d, "handlers.py"), "w") as f:
            f.write(HANDLERS)
        config = write_function(d, (
            "metadata:\n  name: pyfn\nspec:\n  runtime: python\n  handler: handlers:cron_fields\n"
            f"  env:\n    - name: CRON_OUT\n      value: \"{out}\"\n"
            "  disableDefaultHTTPTrigger: true\n"
            "  triggers:\n    tick:\n      kind: cron\n      attributes:\n        interval: 100ms\n"
            "        event:\n          headers:\n            x-from-cron: \"1\"\n"))
        proc = self.enter(Processor(config, expect_ready=False))  # no HTTP trigger to wait for

        def first_tick():
            try:
                with open(out) as f:
                    return json.loads(f.readline())
            except (OSError, ValueError):
                return None

        try:
            tick = wait_for(first_tick, 20, interval=0.05, what="a tick")
        except AssertionError:
            raise AssertionError("no tick; the processor's log:\n" + proc.log()) from None
        self.assertEqual(tick, {"path": "/", "method": "", "url": "", "shard_id": -1, "headers": {"x-from-cron": "1"},
                                "kind": "cron"})

    def test_the_bundled_sdk_shadows_an_installed_one(self):
        d = self.enter(TempDir())
        installed = os.path.join(d, "site", "nuclio_sdk")
        os.makedirs(installed)
        with open(os.path.join(installed, "__init__.py"), "w") as f:
            f.write("raise ImportError('the installed nuclio_sdk was imported')\n")
        config = make_function(d, "handlers:whole_sdk")
        proc = self.enter(Processor(config, env={"PYTHONPATH": os.path.join(d, "site")}))
        status, headers, body = proc.request("GET", "/", headers={"X-Nuclio-Log-Level": "info"})
        self.assertEqual(status, 200, body)
        got = json.loads(body)
        self.assertEqual(got["nan"], "NaN")
        self.assertEqual(got["kinds"], ["msgpack", "msgpack_raw", "json"])
        self.assertEqual((got["inner"], got["error"]), (["inner", "i1"], 418))
        # The copy in the runtime archive embedded in the processor.
        self.assertRegex(got["sdk_dir"], r"^/proc/self/fd/\d+/nuclio_sdk$")
        records = json.loads(headers["X-Nuclio-Logs"])
        self.assertIn({"message": "bound", "n": 1, "tenant": "t1"},
                      [{k: v for k, v in r.items() if k not in ("level", "time")} for r in records])

    def test_logger_methods_reach_the_daemon_log_and_x_nuclio_logs(self):
        proc = self.run_fn("handlers:logs", "--log-level", "debug")
        status, headers, body = proc.request("GET", "/", headers={"X-Nuclio-Log-Level": "debug"})
        self.assertEqual((status, body), (200, b"logged"))
        records = json.loads(headers["X-Nuclio-Logs"])
        # Nuclio's shape: *_with fields at the top level of each record.
        got = [(r["level"], r["message"], {k: v for k, v in r.items() if k not in ("level", "time", "message")})
               for r in records]
        for expected in [("debug", "debug arg", {}), ("info", "info plain", {}), ("warn", "warn plain", {}),
                         ("error", "error plain", {}), ("debug", "debug with", {"a": 1}),
                         ("info", "info with", {"b": "two"}), ("warn", "warn with", {"c": [3]}),
                         ("error", "error with", {"d": {"e": 4}})]:
            self.assertIn(expected, got)
        # As in Nuclio, print() and stderr reach the daemon's log below, not the header.
        self.assertEqual([m for _, m, _ in got if m in ("printed line", "to stderr")], [])
        event_id = re.escape(proc.wait_log(r"info with .* \(event ([0-9a-f-]+)\)").group(1))
        for level, text in [("debug", r'debug with \{"a":1\}'), ("info", r'info with \{"b":"two"\}'),
                            ("warn", r'warn with \{"c":\[3\]\}'), ("error", r'error with \{"d":\{"e":4\}\}'),
                            ("info", "printed line"), ("warn", "to stderr")]:
            level = "warn(?:ing)?" if level == "warn" else level
            proc.wait_log(rf"{level}\s+worker\.web\.0: {text} \(event {event_id}\)")
        proc.wait_log(r"info\s+worker\.web\.0: raw fd one")
        proc.wait_log(r'worker\.web\.0: init done \{"worker_id":"0"\}')
        # Without the header, no X-Nuclio-Logs.
        self.assertNotIn("X-Nuclio-Logs", proc.request("GET", "/")[1])

    def test_exception_answers_500_with_the_traceback_only_in_the_log(self):
        proc = self.run_fn("handlers:boom")
        status, _, body = proc.request("GET", "/")
        self.assertEqual(status, 500)
        self.assertIn(b"ValueError: kaboom", body)
        self.assertNotIn(b"Traceback", body)
        # A traceback is logged a line at a time, each line with the prefix.
        proc.wait_log(r"error\s+worker\.web\.0: handler raised an exception:\n.*error\s+worker\.web\.0: Traceback")
        proc.wait_log(r'raise ValueError\("kaboom"\)')
        # The worker survives its handler's exception.
        self.assertEqual(proc.request("GET", "/")[0], 500)

    def test_dev_mode_puts_the_traceback_in_the_body(self):
        proc = self.run_fn("handlers:boom", "--dev")
        status, _, body = proc.request("GET", "/")
        self.assertEqual(status, 500)
        self.assertIn(b"Traceback (most recent call last)", body)
        self.assertIn(b"ValueError: kaboom", body)

    def test_async_handler(self):
        proc = self.run_fn("handlers:async_handler")
        for i in range(3):
            status, headers, body = proc.request("POST", "/", body=f"n{i}".encode())
            self.assertEqual((status, json.loads(body)), (200, {"async": True, "body": f"n{i}"}))

    def test_4mib_binary_bodies_with_nul_bytes_round_trip(self):
        attrs = "      attributes:\n        maxRequestBodySize: 8388608\n"
        proc = self.run_fn("handlers:echo", trigger_attrs=attrs)
        body = bytes((i * 131 + 7) % 256 for i in range(4 << 20))
        self.assertIn(b"\x00", body)
        for payload in (body, b"\x00\x00a\x00", b""):
            status, headers, got = proc.request("POST", "/", body=payload, timeout=30)
            self.assertEqual(status, 200)
            self.assertEqual(got, payload)
            self.assertEqual(headers["X-Size"], str(len(payload)))

    def test_function_source_code(self):
        with TempDir() as d:
            source = base64.b64encode(b"def handler(context, event):\n    return 'from source'\n").decode()
            config = write_function(d, function_yaml("inline:handler",
                                                     extra_spec=f"  build:\n    functionSourceCode: {source}\n"))
            with Processor(config) as proc:
                self.assertEqual(proc.request()[2], b"from source")
                self.assertEqual(proc.terminate(), 0)
            self.assertFalse(os.path.exists(os.path.join(d, "inline.py")))

    def test_a_missing_module_is_a_config_error_at_spec_handler_in_validate_and_at_start(self):
        with TempDir() as d:
            config = write_function(d, function_yaml("nothere:handler"))
            for args in (("validate", "--config", config),
                         ("--config", config, "--http-listen", "127.0.0.1:0", "--management-address", "127.0.0.1:0")):
                result = run_cli(*args)
                self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
                self.assertIn("function.yaml:5:12: spec.handler: module 'nothere' not found in ",
                              result.stdout + result.stderr)

    def test_python_3_11_runtime_string(self):
        proc = self.run_fn("handlers:pid", runtime="python:3.11")
        status, _, body = proc.request()
        self.assertEqual(status, 200)
        self.assertTrue(body.isdigit())
        # The worker runs python3.11 when it is installed, else python3.
        exe = os.path.basename(os.readlink(f"/proc/{int(body)}/exe"))
        self.assertEqual(exe if shutil.which("python3.11") else "python3.11", "python3.11", exe)

    def test_call_function_posts_to_the_configured_url(self):
        with TempDir() as d1:
            with Processor(make_function(d1, "handlers:echo")) as callee:
                with TempDir() as d2:
                    config = make_function(d2, "handlers:caller")
                    url = f"http://127.0.0.1:{callee.http_port}"
                    with Processor(config, "--function-url", f"other={url}") as proc:
                        status, _, body = proc.request()
                        self.assertEqual(status, 200, body)
                        self.assertEqual(json.loads(body), {"status": 200, "body": "ping"})
                with TempDir() as d3:
                    with Processor(make_function(d3, "handlers:caller_unknown")) as proc:
                        status, _, body = proc.request()
                        self.assertIn("no URL for function 'nope'", json.loads(body)["error"])
                        self.assertIn("--function-url", json.loads(body)["error"])


LOG_HANDLERS = textwrap.dedent('''
    def nuclio_log_with(context, event):
        # Nuclio's own "logs - with" case (pkg/processor/runtime/python/test).
        context.logger.error_with("Error message", source="rabbit", weight=7)
        return 201, "returned logs with"


    def typed(context, event):
        context.logger.debug("below the level")
        context.logger.info_with("typed", number=1, flag=True, nested={"a": [1, 2]}, ratio=0.5, none=None,
                                 text="line\\nbreak \\"quoted\\" ]}", name="kept")
        # ("message" cannot be a keyword here: it is the parameter's name, as in Nuclio's SDK.)
        context.logger.warn_with("collides", level="mine", time=0, **{"with": "w"})
        return "typed"


    def hostile(context, event):
        # What a broken or hostile worker could send as the fields text.
        sink = next(h for h in context.logger._logger.handlers if h.name == "default")._sink
        sink("warn", "closes the array", '"]}],[{"level":"error","message":"injected"')
        sink("warn", "line break", '{"a":1}\\r\\nX-Injected: yes')
        sink("warn", "spaced", '{\\n  "a" : [1,\\n 2]\\n}')
        return "hostile"


    def flood(context, event):
        context.logger.info_with("typed", number=1, flag=True, nested={"a": [1, 2]})
        for i in range(100):
            context.logger.info_with("record %d" % i, i=i, padding="x" * 300)
        context.logger.error("the last one")
        return "flooded"


    def awkward(context, event):
        loop = []
        loop.append(loop)
        context.logger.info_with("awkward", n=1, nan=float("nan"), inf=float("-inf"), loop=loop, ok=[1.5, None])
        return "awkward"


    def handler(context, event):
        return globals()[event.path.strip("/")](context, event)
''')


class XNuclioLogsTest(unittest.TestCase):
    """X-Nuclio-Logs as a client reads it: json.loads, Nuclio's record shape."""

    @classmethod
    def setUpClass(cls):
        cls._dir = TempDir()
        d = cls._dir.__enter__()
        cls.proc = Processor(make_function(d, "handlers:handler", source=LOG_HANDLERS))
        try:
            cls.proc.__enter__()
        except BaseException:
            if hasattr(cls.proc, "proc"):
                cls.proc.__exit__(None, None, None)
            cls._dir.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.proc.__exit__(None, None, None)
        cls._dir.__exit__(None, None, None)

    def logs(self, path, log_level="debug"):
        status, headers, body = self.proc.request("GET", path, headers={"X-Nuclio-Log-Level": log_level})
        self.assertLess(status, 300, body)
        raw = headers["X-Nuclio-Logs"]
        records = json.loads(raw)
        self.assertIsInstance(records, list)
        for record in records:
            self.assertIsInstance(record, dict)
        return raw, records

    def test_nuclio_logs_with_case_reads_the_same(self):
        _, records = self.logs("/nuclio_log_with", "warn")
        self.assertEqual(len(records), 1, records)
        record = records[0]
        self.assertEqual({k: record.get(k) for k in ("level", "message", "source", "weight")},
                         {"level": "error", "message": "Error message", "source": "rabbit", "weight": 7})

    def test_with_fields_keep_their_json_types_at_the_top_level(self):
        _, records = self.logs("/typed", "info")
        self.assertNotIn("below the level", [r["message"] for r in records])
        record = next(r for r in records if r["message"] == "typed")
        self.assertEqual(record["level"], "info")
        self.assertIs(type(record["number"]), int)
        self.assertEqual(record["number"], 1)
        self.assertIs(record["flag"], True)
        self.assertEqual(record["nested"], {"a": [1, 2]})
        self.assertEqual(record["ratio"], 0.5)
        self.assertIn("none", record)
        self.assertIsNone(record["none"])
        self.assertEqual(record["text"], 'line\nbreak "quoted" ]}')
        self.assertEqual(record["name"], "kept")
        self.assertNotIn("with", record)
        self.assertNotIn("datetime", record)
        # Nuclio's "time": epoch milliseconds, a number.
        self.assertIsInstance(record["time"], (int, float))
        self.assertLess(abs(record["time"] - time.time() * 1000), 60_000)

    def test_with_fields_named_like_fixed_keys_go_under_with(self):
        _, records = self.logs("/typed", "warn")
        self.assertEqual(len(records), 1, records)
        record = records[0]
        self.assertEqual((record["level"], record["message"]), ("warn", "collides"))
        self.assertNotEqual(record["time"], 0)
        self.assertEqual(record["with"], {"level": "mine", "time": 0, "with": "w"})

    def test_fields_that_are_not_a_json_object_come_back_as_a_string(self):
        status, headers, _ = self.proc.request("GET", "/hostile", headers={"X-Nuclio-Log-Level": "warn"})
        self.assertEqual(status, 200)
        self.assertNotIn("X-Injected", headers)
        raw, records = self.logs("/hostile", "warn")
        self.assertFalse(set(raw) & {"\r", "\n", "\t"}, raw)
        self.assertEqual([r["message"] for r in records], ["closes the array", "line break", "spaced"])
        self.assertEqual(records[0]["with"], '"]}],[{"level":"error","message":"injected"')
        self.assertEqual(records[1]["with"], '{"a":1}\r\nX-Injected: yes')
        self.assertEqual(records[2]["a"], [1, 2])

    def test_many_large_records_keep_the_header_within_4_kib_with_a_marker(self):
        raw, records = self.logs("/flood", "info")
        # http.client reads header values as Latin-1: one character per byte.
        self.assertLessEqual(len(raw.encode("latin-1")), 4095)
        self.assertEqual((records[0]["message"], records[0]["number"], records[0]["flag"], records[0]["nested"]),
                         ("typed", 1, True, {"a": [1, 2]}))
        kept = records[1:-1]
        self.assertGreater(len(kept), 3)
        self.assertEqual([(r["message"], r["i"]) for r in kept], [(f"record {i}", i) for i in range(len(kept))])
        marker = records[-1]
        left_out = 1 + 100 + 1 - (len(records) - 1)
        self.assertEqual(marker["level"], "warn")
        self.assertEqual(marker["left_out"], left_out)
        self.assertEqual(marker["message"],
                         f"{left_out} more log records were left out: X-Nuclio-Logs is limited to 4 KiB")
        # The processor's log still has every record.
        self.proc.wait_log(r"error\s+worker\.web\.0: the last one")

    def test_values_json_cannot_encode_go_as_text_and_the_others_keep_their_types(self):
        # Python's json writes NaN (not JSON) and raises on a circular list;
        # neither may fail the handler or cost the other fields their types.
        _, records = self.logs("/awkward", "info")
        self.assertEqual(len(records), 1, records)
        record = records[0]
        self.assertEqual((record["message"], record["n"], record["ok"]), ("awkward", 1, [1.5, None]))
        self.assertEqual((record["nan"], record["inf"], record["loop"]), ("nan", "-inf", "[[...]]"))


if __name__ == "__main__":
    unittest.main()
