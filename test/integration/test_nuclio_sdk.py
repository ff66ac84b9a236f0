"""The bundled nuclio_sdk and the worker's event building, in this interpreter.

The Python runtime's files are imported straight from runtimes/python/; the
end-to-end behaviour (through the daemon) is in test_python.py.
"""
import asyncio
import datetime
import importlib
import io
import json
import logging
import os
import sys
import unittest

RUNTIME_DIR = os.path.join(os.environ.get("EDGEFN_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", ".."),
                           "runtimes", "python")
sys.path.insert(0, os.path.abspath(RUNTIME_DIR))

import edgefn_handler  # noqa: E402
import nuclio_sdk  # noqa: E402
import nuclio_sdk.test  # noqa: E402

# The public names of nuclio-sdk-py 0.5, module by module.
PUBLIC_API = {
    "nuclio_sdk": ["Logger", "Context", "Event", "TriggerInfo", "EventDeserializerKinds", "Platform", "Response",
                   "ExceptionWithResponse", "QualifiedOffset"],
    "nuclio_sdk.context": ["Context"],
    "nuclio_sdk.event": ["Event", "TriggerInfo", "EventDeserializerKinds"],
    "nuclio_sdk.exceptions": ["ExceptionWithResponse"],
    "nuclio_sdk.helpers": ["PYTHON2", "PYTHON3"],
    "nuclio_sdk.json_encoder": ["Encoder"],
    "nuclio_sdk.logger": ["Logger", "JSONFormatter", "HumanReadableFormatter"],
    "nuclio_sdk.platform": ["Platform"],
    "nuclio_sdk.qualified_offset": ["QualifiedOffset"],
    "nuclio_sdk.response": ["Response"],
    "nuclio_sdk.test": ["Platform", "TestCase"],
    "nuclio_sdk.test.mock_platform": ["Platform"],
    "nuclio_sdk.test.test_case": ["TestCase"],
}


def wire_event(**overrides):
    """An event as edgefn_channel.decode_event returns it."""
    fields = {"timestamp_ns": 1_700_000_000_987_654_321, "offset": -1, "shard_id": -1, "num_shards": 0,
              "last_in_batch": False, "id": "0123", "trigger_kind": "http", "trigger_name": "web",
              "method": "POST", "path": "/p", "url": "http://127.0.0.1:1/p?x=1", "content_type": "", "topic": "",
              "key": "", "type": "", "type_version": "", "version": "", "headers": [], "fields": [("x", "1")],
              "body": b""}
    fields.update(overrides)
    return fields


def make_event(decode_strings=True, **overrides):
    fields = wire_event(**overrides)
    trigger = nuclio_sdk.TriggerInfo(fields["trigger_kind"], fields["trigger_name"])
    return edgefn_handler.make_event(fields, trigger, decode_strings)


class ApiSurfaceTest(unittest.TestCase):
    def test_every_public_name_of_nuclio_sdk_is_there(self):
        for module_name, names in PUBLIC_API.items():
            module = importlib.import_module(module_name)
            for name in names:
                with self.subTest(name=f"{module_name}.{name}"):
                    self.assertTrue(hasattr(module, name))

    def test_the_bundled_package_is_the_one_imported(self):
        self.assertEqual(os.path.dirname(nuclio_sdk.__file__), os.path.join(os.path.abspath(RUNTIME_DIR), "nuclio_sdk"))


class ResponseTest(unittest.TestCase):
    def test_event_id_and_no_ack(self):
        response = nuclio_sdk.Response(body="b", event_id="e1")
        self.assertEqual((response.event_id, response.headers, response.content_type), ("e1", {}, "text/plain"))
        response.ensure_no_ack()
        self.assertIs(response.headers["x-nuclio-stream-no-ack"], True)
        self.assertIn("event_id='e1'", repr(response))

    def test_from_entrypoint_output_shapes_what_nuclio_sends(self):
        encode = json.dumps
        convert = nuclio_sdk.Response.from_entrypoint_output
        self.assertEqual(convert(encode, "s")["body"], "s")
        self.assertEqual(convert(encode, (201, {"a": 1}))["status_code"], 201)
        self.assertEqual(convert(encode, [1])["content_type"], "application/json")
        got = convert(encode, b"\x00")
        self.assertEqual((got["body"], got["body_encoding"]), ("AA==", "base64"))
        got = convert(encode, nuclio_sdk.Response(body={"k": 1}, status_code=202, event_id="e"))
        self.assertEqual((got["body"], got["status_code"], got["event_id"]), ('{"k": 1}', 202, "e"))

    def test_exception_with_response(self):
        error = nuclio_sdk.ExceptionWithResponse(404, body="gone", content_type="text/x")
        self.assertIsInstance(error, IOError)
        self.assertEqual((error.status_code, error.body, error.content_type), (404, "gone", "text/x"))


class LoggerTest(unittest.TestCase):
    def test_level_set_handler_and_bind(self):
        out = io.StringIO()
        logger = nuclio_sdk.Logger(logging.INFO, "test_nuclio_sdk.level")
        logger.set_handler("default", out, nuclio_sdk.logger.JSONFormatter())
        logger.debug("hidden")
        logger.bind(request="r1")
        logger.info_with("shown %s", "here", a=1)
        logger.error("plain")
        records = [json.loads(line) for line in out.getvalue().splitlines()]
        self.assertEqual([(r["level"], r["message"], r["with"]) for r in records],
                         [("info", "shown here", {"a": 1, "request": "r1"}), ("error", "plain", {"request": "r1"})])
        # A handler of the same name replaces the first.
        human = io.StringIO()
        logger.set_handler("default", human, nuclio_sdk.logger.HumanReadableFormatter())
        logger.warn("w")
        self.assertEqual(len(out.getvalue().splitlines()), 2)
        self.assertRegex(human.getvalue(), r"^Python> .* \[warning\] w: \{'request': 'r1'\}\n$")

    def test_nan_is_written_as_a_string(self):
        out = io.StringIO()
        logger = nuclio_sdk.Logger(logging.DEBUG, "test_nuclio_sdk.nan")
        logger.set_handler("default", out, nuclio_sdk.logger.JSONFormatter())
        logger.info_with("m", x=float("nan"), y=[float("inf")])
        self.assertEqual(json.loads(out.getvalue())["with"], {"x": "NaN", "y": ["Infinity"]})

    def test_sink_logger_feeds_the_worker(self):
        got = []
        logger = nuclio_sdk.logger.sink_logger(lambda *record: got.append(record), name="test_nuclio_sdk.sink")
        logger.bind(worker="w")
        logger.debug("d %d", 1)
        logger.warn_with("x", k=[1])
        logger.error("e %s", "too", "many")
        self.assertEqual(got, [("debug", "d 1", {"worker": "w"}), ("warn", "x", {"k": [1], "worker": "w"}),
                               ("error", "e %s too many", {"worker": "w"})])
        # With a second output, records take the logging module's path: the same for the sink.
        human = io.StringIO()
        logger.set_handler("human", human, nuclio_sdk.logger.HumanReadableFormatter())
        logger.info_with("both %s", "ways", k=2)
        self.assertEqual(got[-1], ("info", "both ways", {"k": 2, "worker": "w"}))
        self.assertRegex(human.getvalue(), r"\[info\] both ways: \{'k': 2, 'worker': 'w'\}\n$")


class EventTest(unittest.TestCase):
    def test_positional_arguments_in_nuclio_order(self):
        event = nuclio_sdk.Event(b"b", "text/plain", None, None, None, "id", "GET", None, 1, None, "u", 3, 4, "t",
                                 "tv", "v", True, 7, "topic")
        self.assertEqual((event.shard_id, event.num_shards, event.type, event.type_version, event.version),
                         (3, 4, "t", "tv", "v"))
        self.assertEqual((event.last_in_batch, event.offset, event.topic, event.path), (True, 7, "topic", "/"))
        self.assertIsNone(event.key)  # edgefn's own attribute, after Nuclio's
        self.assertEqual(nuclio_sdk.Event(topic="orders", key="k").key, "k")
        self.assertEqual(event.compile_explicit_ack_message(),
                         {"kind": "streamMessageAck", "attributes": {"topic": "topic", "partition": 3, "offset": 7}})

    def test_qualified_offset_falls_back_to_the_path(self):
        event = nuclio_sdk.Event(path="/stream", shard_id=1, offset=2)
        self.assertEqual(vars(nuclio_sdk.QualifiedOffset.from_event(event)),
                         {"topic": "/stream", "partition": 1, "offset": 2})

    def message(self, **overrides):
        message = {"body": b'{"a": 1}', "content_type": "application/json", "trigger": {"kind": "k", "name": "n"},
                   "fields": {}, "headers": {"H": "v"}, "id": "i", "method": "POST", "path": "/p", "size": 8,
                   "timestamp": 1_700_000_000, "url": "", "shard_id": -1, "num_shards": 0, "type": "",
                   "type_version": "", "version": "", "offset": 0, "topic": ""}
        message.update(overrides)
        return message

    def test_deserialize_unpacked_msgpack_messages(self):
        event = nuclio_sdk.Event.deserialize(self.message(), kind=nuclio_sdk.EventDeserializerKinds.msgpack)
        self.assertEqual((event.body, event.trigger.kind, event.get_header("h")), ({"a": 1}, "k", "v"))
        self.assertEqual(event.timestamp, datetime.datetime(2023, 11, 14, 22, 13, 20))
        raw = {key.encode(): value.encode() if isinstance(value, str) else value for key, value in self.message(
            trigger={b"kind": b"k", b"name": b"n"}, headers={b"H": b"v"}).items()}
        event = nuclio_sdk.Event.deserialize(raw)  # msgpack_raw by default, as in nuclio-sdk
        self.assertEqual((event.body, event.path, event.get_header("h")), ({"a": 1}, b"/p", b"v"))
        batch = nuclio_sdk.Event.from_msgpack([self.message(id="1"), self.message(id="2")])
        self.assertEqual([e.id for e in batch], ["1", "2"])

    def test_msgpack_bytes_need_the_msgpack_module(self):
        try:
            import msgpack
        except ImportError:
            msgpack = None
        if msgpack is not None:
            event = nuclio_sdk.Event.from_msgpack(msgpack.packb(self.message()))
            self.assertEqual(event.body, {"a": 1})
        saved = sys.modules.get("msgpack")
        sys.modules["msgpack"] = None  # makes `import msgpack` fail, installed or not
        try:
            with self.assertRaisesRegex(ImportError, "needs the 'msgpack' module"):
                nuclio_sdk.Event.from_msgpack(b"\x80")
        finally:
            if saved is None:
                del sys.modules["msgpack"]
            else:
                sys.modules["msgpack"] = saved

    def test_deserialize_json(self):
        text = json.dumps([self.message(body='{"b": 2}'), self.message(body="x", content_type="text/plain")])
        first, second = nuclio_sdk.Event.from_json(text)
        self.assertEqual((first.body, second.body), ({"b": 2}, "x"))
        self.assertEqual(first.to_json(), repr(first))
        self.assertEqual(json.loads(first.to_json())["timestamp"], "2023-11-14 22:13:20")


class TestPlatformTest(nuclio_sdk.test.TestCase):
    def test_calls_handlers_with_their_own_initialised_context(self):
        module = type(sys)("sdk_test_handlers")
        exec("inits = []\n"
             "def init_context(context):\n"
             "    inits.append(1)\n"
             "    context.user_data.greeting = 'hi'\n"
             "def handler(context, event):\n"
             "    reply = context.platform.call_function('other', event)\n"
             "    return context.Response(body=context.user_data.greeting + ' ' + reply, status_code=201)\n",
             module.__dict__)
        sys.modules[module.__name__] = module
        self.addCleanup(sys.modules.pop, module.__name__)
        self._platform.call_function_mock.return_value = "there"
        event = nuclio_sdk.Event(body=b"x")
        for _ in range(2):
            response = self._platform.call_handler(module.handler, event)
            self.assertEqual((response.body, response.status_code), ("hi there", 201))
        self.assertEqual(module.inits, [1])
        self.assertEqual(self._platform.get_call_function_call_args(1)[:2], ("other", event))
        self.assertEqual(self._platform.kind, "test")
        mutated = self._platform.call_handler_with_context_mutation(
            lambda context, event: context.worker_id, event, lambda context: setattr(context, "worker_id", "9")
            or context)
        self.assertEqual(mutated, "9")


class MakeEventTest(unittest.TestCase):
    def test_json_is_decoded_only_for_exactly_application_json(self):
        self.assertEqual(make_event(content_type="application/json", body=b'{"a": 1}').body, {"a": 1})
        for content_type in ("application/json; charset=utf-8", "Application/JSON", "text/plain"):
            with self.subTest(content_type=content_type):
                self.assertEqual(make_event(content_type=content_type, body=b'{"a": 1}').body, b'{"a": 1}')

    def test_fields_as_nuclio_sets_them(self):
        event = make_event()
        self.assertEqual((event.url, event.type, event.type_version, event.version, event.topic), ("",) * 5)
        self.assertEqual((event.shard_id, event.num_shards, event.offset, event.key), (-1, 0, 0, ""))
        self.assertEqual(event.timestamp, datetime.datetime(2023, 11, 14, 22, 13, 20))
        self.assertIsNone(event.timestamp.tzinfo)
        self.assertEqual(event.fields, {"x": "1"})
        cron = make_event(trigger_kind="cron", trigger_name="tick", path="", method="", url="")
        self.assertEqual((cron.path, cron.method, cron.url), ("/", "", ""))
        stream = make_event(trigger_kind="kafka-cluster", shard_id=3, num_shards=4, offset=9, topic="t",
                            url="kafka://b", path="t", key="customer-7")
        self.assertEqual((stream.shard_id, stream.num_shards, stream.offset, stream.topic, stream.url, stream.key),
                         (3, 4, 9, "t", "kafka://b", "customer-7"))
        self.assertEqual(json.loads(stream.to_json())["key"], "customer-7")

    def test_http_header_names_are_canonical(self):
        event = make_event(headers=[("x-lower-case", "1"), ("CONTENT-TYPE", "text/plain"), ("x_under", "2"),
                                    ("www-authenticate", "3"), ("x-1a", "4")])
        self.assertEqual(list(event.headers), ["X-Lower-Case", "Content-Type", "X_under", "Www-Authenticate", "X-1a"])
        self.assertEqual(event.get_header("x-LOWER-case"), "1")
        self.assertEqual(edgefn_handler.canonical_header_name("bad name"), "bad name")
        self.assertEqual(edgefn_handler.canonical_header_name("x-é"), "x-é")
        # Cron headers are as configured: Nuclio does not touch them.
        self.assertEqual(list(make_event(trigger_kind="cron", headers=[("x-cfg", "1")]).headers), ["x-cfg"])

    def test_undecoded_strings_are_bytes(self):
        event = make_event(False, headers=[("x-h", "v\udcff")], content_type="application/json", body=b"[1]")
        self.assertEqual((event.path, event.method, event.id, event.content_type, event.url),
                         (b"/p", b"POST", b"0123", b"application/json", b""))
        self.assertEqual((event.headers, event.fields), ({b"X-H": b"v\xff"}, {b"x": b"1"}))
        self.assertEqual((event.trigger.kind, event.trigger.name, event.body), (b"http", b"web", [1]))
        self.assertEqual(event.get_header("x-h"), b"v\xff")
        # A key is any bytes; the channel decoded it with surrogateescape.
        stream = make_event(False, trigger_kind="kafka-cluster", topic="t", key="k\udcff\x00", shard_id=1, offset=2)
        self.assertEqual((stream.topic, stream.key, stream.shard_id, stream.offset), (b"t", b"k\xff\x00", 1, 2))
        self.assertEqual(event.key, b"")

    def test_the_environment_variable_as_nuclio_reads_it(self):
        for value, decoded in [("", True), ("true", True), ("enabled", True), ("no", False), ("FALSE", False),
                               ("disable", False), ("Disabled", False)]:
            with self.subTest(value=value):
                environ = {"NUCLIO_PYTHON_DECODE_EVENT_STRINGS": value} if value else {}
                self.assertIs(edgefn_handler.decode_event_strings(environ), decoded)


class InvokeTest(unittest.TestCase):
    def invoke(self, handler):
        context = nuclio_sdk.Context(nuclio_sdk.logger.sink_logger(lambda *r: None, name="test_nuclio_sdk.invoke"),
                                     worker_id="0")
        host = edgefn_handler.HandlerHost(handler, None, context)
        self.addCleanup(host.close)
        return host.invoke(make_event())

    def test_batch_style_answers(self):
        status, _, _, body, _ = self.invoke(lambda c, e: nuclio_sdk.Response(body="one", event_id=e.id))
        self.assertEqual((status, body), (200, b"one"))
        status, _, _, body, _ = self.invoke(lambda c, e: [nuclio_sdk.Response(body="a", event_id=e.id, status_code=201),
                                                          nuclio_sdk.Response(body="b")])
        self.assertEqual((status, body), (201, b"a"))

    def test_no_ack_comes_from_the_response_header(self):
        def ensure(context, event):
            response = context.Response(body="later")
            response.ensure_no_ack()
            return response

        self.assertTrue(self.invoke(ensure)[4])
        self.assertTrue(self.invoke(lambda c, e: c.Response(headers={"X-Nuclio-Stream-No-Ack": "true"}))[4])
        self.assertFalse(self.invoke(lambda c, e: c.Response(headers={"x-nuclio-stream-no-ack": False}))[4])
        self.assertFalse(self.invoke(lambda c, e: "plain")[4])

    def test_exception_with_response_answers_500_as_in_nuclio(self):
        def raises(context, event):
            raise nuclio_sdk.ExceptionWithResponse(404, "gone")

        status, _, _, body, _ = self.invoke(raises)
        self.assertEqual(status, 500)
        self.assertIn(b"ExceptionWithResponse", body)

    def test_async_handler_with_a_logger_per_task(self):
        context = nuclio_sdk.Context(logger="shared", logger_per_async_task=True)

        async def task(name):
            context.logger = name
            await asyncio.sleep(0)
            return context.logger

        async def main():
            return await asyncio.gather(task("a"), task("b")), context.logger

        self.assertEqual(asyncio.run(main()), (["a", "b"], "shared"))


if __name__ == "__main__":
    unittest.main()
