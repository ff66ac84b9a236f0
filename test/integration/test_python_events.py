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


if __name__ == "__main__":
    unittest.main()
