"""How edgefn's Python worker receives and serves messages (edgefn_worker.py
runs main()): the Mailbox that shares the channel's receiving between the
main loop and threads waiting for PUBLISH answers, what both main loops do
with a message, and the asyncio main loop that waits for events on the
worker's bell, so that tasks an async handler or init_context started keep
running between events.
"""
import asyncio
import collections
import inspect
import sys
import threading
import traceback


def _traceback_text():
    return traceback.format_exc().rstrip("\n")

class Mailbox:
    """One receiver at a time on the channel, for several threads.

    The main loop waits for events; a handler (or a thread it started)
    waiting for the answer to a PUBLISH may run while the main loop is not
    receiving (the handler runs on the main thread) or while it is (a
    background thread). Whoever receives routes what arrives: answers to
    the thread waiting for them, everything else to the main loop.
    """

    def __init__(self, channel, ec):
        self._channel = channel
        self._ec = ec
        # The lock is taken directly (a C-level `with`): Condition's own
        # __enter__ and notify_all are Python calls, several per event.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._sleepers = 0
        self._receiving = False
        self._replies = {}
        self._inbox = collections.deque()
        self._next_id = 1
        # Called when a blocking receive ends; the asyncio main loop, which
        # may be waiting on its bell meanwhile, rings it to look again.
        self.after_receive = None

    def poll_message(self):
        """For the asyncio main loop, which must not sleep here: the next
        message for it if one is queued or in the ring, else None with the
        bell armed (or another thread receiving: that one rings the bell
        when done)."""
        with self._lock:
            if self._inbox:
                return self._inbox.popleft()
            if self._receiving:
                return None
            self._receiving = True
        message = None
        try:
            if self._channel.arm_bell():
                message = self._channel.recv()
        finally:
            with self._lock:
                self._receiving = False
                if message is not None and message[0] == self._ec.PUBLISH_RESULT:
                    self._replies[message[1]] = message
                    message = None
                self._wake_locked()
        return message

    def _wake_locked(self):
        if self._sleepers:
            self._cond.notify_all()

    def next_message(self):
        """The next message for the main loop: (type, request_id, head, body)."""
        return self._wait(lambda: self._inbox.popleft() if self._inbox else None)

    def request(self, kind, head, body, reply_kind):
        """Sends `kind` with a fresh request id and waits for its `reply_kind`."""
        with self._lock:
            request_id = self._next_id
            self._next_id += 1
        self._channel.send(kind, request_id, head, body)

        def reply():
            message = self._replies.pop(request_id, None)
            if message is not None and message[0] != reply_kind:
                raise self._ec.ProtocolError("expected message type %d, got %d" % (reply_kind, message[0]))
            return message

        return self._wait(reply)

    def _wait(self, take):
        while True:
            with self._lock:
                while True:
                    found = take()
                    if found is not None:
                        return found
                    if not self._receiving:
                        break
                    self._sleepers += 1
                    try:
                        self._cond.wait()
                    finally:
                        self._sleepers -= 1
                self._receiving = True
            message = None
            try:
                message = self._channel.recv()
            finally:
                with self._lock:
                    self._receiving = False
                    if message is not None:
                        if message[0] == self._ec.PUBLISH_RESULT:
                            self._replies[message[1]] = message
                        else:
                            self._inbox.append(message)
                    self._wake_locked()
                if self.after_receive is not None:
                    self.after_receive()


async def _awaited(awaitable):
    return await awaitable


async def _run_callback_in_loop(callback, what, context):
    """run_callback on the worker's running loop, beside the tasks there."""
    if callback is None:
        return
    try:
        result = callback()
        if inspect.isawaitable(result):
            await result
    except Exception:  # noqa: BLE001 - a failing callback must not stop the worker
        context.logger.error_with("the %s callback raised an exception" % what, traceback=_traceback_text())


class InitFailed(Exception):
    """init_context failed inside the asyncio loop; the traceback's text."""


class Server:
    """What both main loops do with a message."""

    def __init__(self, channel, ec, mailbox, host, state):
        import nuclio_sdk

        self._channel = channel
        self._ec = ec
        self._host = host
        self._state = state
        self._trigger_info = nuclio_sdk.TriggerInfo

    def control(self, kind):
        """A message other than EVENT; True for STOP."""
        if kind == self._ec.STOP:
            return True
        context = self._host.context
        if kind == self._ec.DRAIN:
            run_callback(context.platform._drain_callback, "drain", context)
        else:
            context.logger.warn("unexpected message type %d from the daemon" % kind)
        return False

    def begin(self, message):
        """The event to hand to the handler, or None when it was answered
        400 here (edgefn_handler.BadEvent)."""
        import edgefn_handler

        _, request_id, head, body = message
        fields = self._ec.decode_event(head, body)
        self._state.request_id = request_id
        try:
            return edgefn_handler.make_event(fields, self._trigger_info(fields["trigger_kind"],
                                                                        fields["trigger_name"]))
        except edgefn_handler.BadEvent as e:
            self.respond(request_id, (400, "text/plain", [], (str(e) + "\n").encode(), False))
            return None

    def respond(self, request_id, result):
        sys.stdout.flush()
        sys.stderr.flush()
        self._state.request_id = 0
        status, content_type, headers, body, no_ack = result
        try:
            self._channel.send_response(request_id, body, status, content_type, headers, no_ack)
        except self._ec.MessageTooLarge:
            self._host.context.logger.error("the response (%d bytes) is over the channel's limit" % len(body))
            self._channel.send_response(request_id, b"response too large\n", 500, "text/plain")


def serve_in_loop(server, channel, mailbox, host):
    """The main loop for an async handler or init_context: waits for events
    on the bell inside an asyncio loop, so that tasks they start run while
    the worker is idle. Returns True after STOP."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    bell = channel.bell_fd
    rang = asyncio.Event()

    async def serve():
        try:
            await host.init_async()
        except (Exception, SystemExit):
            raise InitFailed(_traceback_text()) from None
        channel.send(server._ec.READY, 0, b"")
        loop.add_reader(bell, rang.set)
        mailbox.after_receive = channel.ring_bell
        try:
            while True:
                message = mailbox.poll_message()
                if message is None:
                    await rang.wait()
                    rang.clear()
                    channel.clear_bell()
                elif message[0] == server._ec.EVENT:
                    event = server.begin(message)
                    if event is not None:
                        server.respond(message[1], await host.invoke_async(event))
                elif message[0] in (server._ec.DRAIN, server._ec.STOP):
                    platform = host.context.platform
                    stop = message[0] == server._ec.STOP
                    await _run_callback_in_loop(platform._termination_callback if stop else platform._drain_callback,
                                                "termination" if stop else "drain", host.context)
                    if stop:
                        return True
                else:
                    server.control(message[0])
        finally:
            mailbox.after_receive = None
            loop.remove_reader(bell)

    try:
        return loop.run_until_complete(serve())
    finally:
        _cancel_tasks(loop)
        asyncio.set_event_loop(None)
        loop.close()


def _cancel_tasks(loop, grace=1.0):
    """Cancels what the handler left running, waiting at most `grace` s."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.wait(tasks, timeout=grace))


def run_callback(callback, what, context):
    """Runs a drain or termination callback; an awaitable it returns (a
    coroutine function's) runs to completion."""
    if callback is None:
        return
    try:
        result = callback()
        if inspect.isawaitable(result):
            asyncio.run(_awaited(result))
    except Exception:  # noqa: BLE001 - a failing callback must not stop the worker
        context.logger.error_with("the %s callback raised an exception" % what, traceback=_traceback_text())
