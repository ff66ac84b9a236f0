"""The Python runtime's event loop, CloudEvents, X-Nuclio-Logs records and
the platform's acknowledgement and drain calls, against the real processor
and a real python3."""
import json
import os
import textwrap
import unittest

from support import Processor, TempDir, wait_for, write_function

HANDLERS = textwrap.dedent('''
    import asyncio
    import os

    state = {"ticks": 0, "task": None}


    async def _tick(path):
        while True:
            await asyncio.sleep(0.05)
            state["ticks"] += 1
            with open(path + ".tmp", "w") as f:
                f.write(str(state["ticks"]))
            os.replace(path + ".tmp", path)


    async def background(context, event):
        if event.path == "/start":
            state["task"] = asyncio.get_running_loop().create_task(_tick(event.body.decode()))
        return {"ticks": state["ticks"], "pid": os.getpid()}
''')


CLOUD_HANDLERS = textwrap.dedent('''
    import json
    import sys

    import nuclio_sdk


    def cloud(context, event):
        body = event.body
        if isinstance(body, bytes):
            body = body.decode()
        return {"id": event.id, "trigger_kind": event.trigger.kind, "trigger_name": event.trigger.name,
                "type": event.type, "type_version": event.type_version, "version": event.version,
                "content_type": event.content_type, "timestamp": event.timestamp.isoformat(),
                "headers": dict(event.headers), "body": body, "path": event.path, "method": event.method}


    def logs(context, event):
        context.logger.info_with("msg", a=1, b="x")
        print("printed, not in the header")
        print("stderr, not in the header", file=sys.stderr)
        return "logged"


    async def acks(context, event):
        await context.platform.explicit_ack(nuclio_sdk.QualifiedOffset("orders", 3, 42))
        return "acked"


    async def _note(marker, text):
        with open(marker, "a") as f:
            f.write(text)


    async def async_callbacks(context, event):
        marker = event.body.decode()
        context.platform.set_drain_callback(lambda: _note(marker, "drain,"))

        async def terminated():
            await _note(marker, "termination")

        context.platform.set_termination_callback(terminated)
        return "set"
''')


def function_yaml(handler, extra_spec=""):
    return (f"metadata:\n  name: pyevents\nspec:\n  runtime: python\n  handler: {handler}\n{extra_spec}"
            f"  triggers:\n    web:\n      kind: http\n      numWorkers: 1\n")


class PythonEventLoopTest(unittest.TestCase):
    def enter(self, context_manager):
        value = context_manager.__enter__()
        self.addCleanup(context_manager.__exit__, None, None, None)
        return value

    def run_fn(self, handler, source=HANDLERS, extra_spec=""):
        d = self.enter(TempDir())
        with open(os.path.join(d, "handlers.py"), "w") as f:
            f.write(source)
        return d, self.enter(Processor(write_function(d, function_yaml(handler, extra_spec))))

    def test_a_background_task_keeps_running_while_the_worker_is_idle(self):
        d, proc = self.run_fn("handlers:background")
        ticks_file = os.path.join(d, "ticks")
        status, _, body = proc.request("POST", "/start", body=ticks_file.encode())
        self.assertEqual(status, 200, body)
        started = json.loads(body)

        def ticks():
            try:
                with open(ticks_file) as f:
                    return int(f.read() or 0)
            except FileNotFoundError:
                return 0

        # No event reaches the worker while the task ticks: only its loop
        # can be running it.
        seen = wait_for(lambda: ticks() >= started["ticks"] + 3 and ticks(), timeout=20,
                        what="the background task to tick while no event arrives")
        status, _, body = proc.request("GET", "/read")
        self.assertEqual(status, 200, body)
        read = json.loads(body)
        self.assertGreaterEqual(read["ticks"], seen)
        self.assertEqual(read["pid"], started["pid"])  # the same worker, not a restarted one


class CloudEventsTest(unittest.TestCase):
    """Nuclio unwraps CloudEvents in its triggers (its CloudEvents 0.1 names);
    the Python event carries their attributes."""

    @classmethod
    def setUpClass(cls):
        cls._dir = TempDir()
        d = cls._dir.__enter__()
        with open(os.path.join(d, "handlers.py"), "w") as f:
            f.write(CLOUD_HANDLERS)
        cls.proc = Processor(write_function(d, function_yaml("handlers:cloud")))
        try:
            cls.proc.__enter__()
        except BaseException:
            cls._dir.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.proc.__exit__(None, None, None)
        cls._dir.__exit__(None, None, None)

    def post(self, body, headers):
        status, _, reply = self.proc.request("POST", "/ce/path", body=body, headers=headers)
        return status, reply

    def test_a_structured_event_becomes_the_event(self):
        ce = {"eventType": "com.example.order", "eventTypeVersion": "v2", "cloudEventsVersion": "0.1",
              "source": "/orders", "eventID": "A-234", "eventTime": "2018-04-05T17:31:00Z",
              "contentType": "text/plain", "extensions": {"region": "eu", "n": 2}, "data": "payload text"}
        status, reply = self.post(json.dumps(ce).encode(), {"Content-Type": "application/cloudevents+json"})
        self.assertEqual(status, 200, reply)
        got = json.loads(reply)
        self.assertEqual(got, {"id": "A-234", "trigger_kind": "/orders", "trigger_name": "web",
                               "type": "com.example.order", "type_version": "v2", "version": "0.1",
                               "content_type": "text/plain", "timestamp": "2018-04-05T17:31:00",
                               "headers": {"region": "eu", "n": 2}, "body": "payload text",
                               "path": "/ce/path", "method": "POST"})

    def test_structured_json_data_is_decoded_for_application_json(self):
        ce = {"cloudEventsVersion": "0.1", "eventID": "j1", "source": "s", "eventType": "t",
              "contentType": "application/json", "data": {"a": "b", "c": 1}}
        status, reply = self.post(json.dumps(ce).encode(), {"Content-Type": "application/cloudevents+json"})
        self.assertEqual(status, 200, reply)
        got = json.loads(reply)
        self.assertEqual((got["body"], got["content_type"], got["timestamp"]),
                         ({"a": "b", "c": 1}, "application/json", "0001-01-01T00:00:00"))

    def test_a_cloudevents_1_0_structured_event_maps_the_same_way(self):
        ce = {"specversion": "1.0", "id": "x-1", "source": "/sensors/7", "type": "reading",
              "time": "2024-01-02T03:04:05.678+01:00", "datacontenttype": "text/plain", "data": "21.5",
              "site": "north"}
        status, reply = self.post(json.dumps(ce).encode(), {"Content-Type": "application/cloudevents+json"})
        self.assertEqual(status, 200, reply)
        got = json.loads(reply)
        self.assertEqual({k: got[k] for k in ("id", "trigger_kind", "type", "version", "timestamp", "body",
                                              "headers")},
                         {"id": "x-1", "trigger_kind": "/sensors/7", "type": "reading", "version": "1.0",
                          "timestamp": "2024-01-02T02:04:05", "body": "21.5", "headers": {"site": "north"}})

    def test_a_malformed_structured_event_is_a_bad_request(self):
        for body in (b"{not json", b"[1, 2]", json.dumps({"eventTime": "yesterday"}).encode()):
            with self.subTest(body=body):
                status, reply = self.post(body, {"Content-Type": "application/cloudevents+json"})
                self.assertEqual(status, 400, reply)
                self.assertIn(b"CloudEvent", reply)
        self.assertEqual(self.post(b"plain", {"Content-Type": "text/plain"})[0], 200)  # the worker lives on

    def test_a_binary_event_takes_its_attributes_from_ce_headers(self):
        status, reply = self.post(b"the body", {
            "Content-Type": "text/plain", "CE-CloudEventsVersion": "0.1", "CE-EventID": "b-7",
            "CE-Source": "/cameras", "CE-Name": "cam-trigger", "CE-EventType": "motion",
            "CE-EventTypeVersion": "3", "CE-EventTime": "2020-06-01T10:00:00Z", "X-Other": "kept"})
        self.assertEqual(status, 200, reply)
        got = json.loads(reply)
        self.assertEqual({k: got[k] for k in ("id", "trigger_kind", "trigger_name", "type", "type_version",
                                              "version", "timestamp", "body", "content_type")},
                         {"id": "b-7", "trigger_kind": "/cameras", "trigger_name": "cam-trigger", "type": "motion",
                          "type_version": "3", "version": "0.1", "timestamp": "2020-06-01T10:00:00",
                          "body": "the body", "content_type": "text/plain"})
        self.assertEqual((got["headers"]["X-Other"], got["headers"]["Ce-Eventid"]), ("kept", "b-7"))

    def test_a_binary_event_with_a_bad_time_gets_the_zero_time_and_1_0_headers_are_read(self):
        status, reply = self.post(b"x", {"CE-CloudEventsVersion": "0.1", "CE-EventTime": "soon"})
        self.assertEqual((status, json.loads(reply)["timestamp"]), (200, "0001-01-01T00:00:00"))
        status, reply = self.post(b"x", {"ce-specversion": "1.0", "ce-id": "n-1", "ce-source": "/s",
                                         "ce-type": "t1", "ce-time": "2021-01-01T00:00:00Z"})
        got = json.loads(reply)
        self.assertEqual((status, got["id"], got["trigger_kind"], got["type"], got["version"], got["timestamp"]),
                         (200, "n-1", "/s", "t1", "1.0", "2021-01-01T00:00:00"))

    def test_an_ordinary_request_keeps_its_own_fields(self):
        status, reply = self.post(b"hi", {"Content-Type": "text/plain", "Ce": "not a cloud event"})
        got = json.loads(reply)
        self.assertEqual((status, got["trigger_kind"], got["type"], got["version"]), (200, "http", "", ""))


class PlatformAndLogsTest(unittest.TestCase):
    def enter(self, context_manager):
        value = context_manager.__enter__()
        self.addCleanup(context_manager.__exit__, None, None, None)
        return value

    def run_fn(self, handler):
        d = self.enter(TempDir())
        with open(os.path.join(d, "handlers.py"), "w") as f:
            f.write(CLOUD_HANDLERS)
        return d, self.enter(Processor(write_function(d, function_yaml(handler))))

    def test_logs_with_fields_sit_at_the_top_level_and_print_stays_out(self):
        # Nuclio's "logs - with" case: info_with('msg', a=1, b='x').
        _, proc = self.run_fn("handlers:logs")
        status, headers, body = proc.request("GET", "/", headers={"X-Nuclio-Log-Level": "debug"})
        self.assertEqual((status, body), (200, b"logged"))
        records = json.loads(headers["X-Nuclio-Logs"])
        self.assertEqual([{k: v for k, v in r.items() if k != "time"} for r in records],
                         [{"level": "info", "message": "msg", "a": 1, "b": "x"}])
        proc.wait_log(r"printed, not in the header")  # still in the daemon's log
        proc.wait_log(r"stderr, not in the header")

    def test_explicit_ack_can_be_awaited(self):
        _, proc = self.run_fn("handlers:acks")
        self.assertEqual(proc.request("POST", "/")[::2], (200, b"acked"))
        # The ack reached the daemon: no stream holds that offset here.
        proc.wait_log(r"explicit_ack\(orders, 3, 42\): no stream of this processor holds that offset")

    def test_coroutine_drain_and_termination_callbacks_run_on_the_worker_loop(self):
        d, proc = self.run_fn("handlers:async_callbacks")
        marker = os.path.join(d, "callbacks")
        self.assertEqual(proc.request("POST", "/", body=marker.encode())[::2], (200, b"set"))
        self.assertEqual(proc.terminate(), 0)
        with open(marker) as f:
            self.assertEqual(f.read(), "drain,termination")


if __name__ == "__main__":
    unittest.main()
