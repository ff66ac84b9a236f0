"""context.platform: the processor's services to a handler."""
import http.client
import inspect
import json

import nuclio_sdk


class _Done:
    """An awaitable that is already complete."""

    def __await__(self):
        return iter(())


class Platform:
    """nuclio-sdk's constructor (kind, namespace, connection_provider,
    on_control_callback) plus edgefn's keyword-only hooks, which its worker
    sets: call_function(name, event, timeout), explicit_ack(qualified_offset)
    and publish(output, body, topic, key, headers)."""

    def __init__(self, kind="local", namespace="default", connection_provider=None, on_control_callback=None, *,
                 call_function=None, explicit_ack=None, publish=None):
        self.kind = kind
        self.namespace = namespace
        self._connection_provider = connection_provider or http.client.HTTPConnection
        self._control_callback = on_control_callback
        self._call_function = call_function
        self._explicit_ack = explicit_ack
        self._publish = publish
        self._termination_callback = None
        self._drain_callback = None

    def call_function(self, function_name, event, node=None, timeout=None, service_name_override=None):
        """Sends `event` to another function and returns its nuclio_sdk.Response.
        In edgefn the function's URL comes from `processor --function-url`."""
        if self._call_function is not None:
            return self._call_function(function_name, event, timeout)
        return self._call_over_http(function_name, event, timeout, service_name_override)

    def explicit_ack(self, qualified_offset):
        """Acknowledges a stream event whose handler deferred it. edgefn sends
        it at once; the returned object may be awaited, as Nuclio's is."""
        if self._explicit_ack is not None:
            self._explicit_ack(qualified_offset)
            return _Done()
        if self._control_callback is None:
            raise RuntimeError("explicit_ack is only available for stream triggers with explicitAckMode enabled")
        result = self._control_callback(qualified_offset.compile_explicit_ack_message())
        return result if inspect.isawaitable(result) else _Done()

    def publish(self, output, body, topic=None, key=None, headers=None):
        """edgefn: publishes `body` to the output named `output` (a stream
        trigger's connection) and returns once the output took it; raises
        PublishError when it cannot. Bodies that are dicts or lists are sent
        as JSON."""
        if self._publish is None:
            raise RuntimeError("publish is not available in this worker")
        self._publish(output, body, topic, key, headers)

    def set_drain_callback(self, callback):
        """`callback()` runs when the processor starts draining; set again, it replaces the last."""
        self._drain_callback = callback

    def set_termination_callback(self, callback):
        """`callback()` runs when the worker is stopped; set again, it replaces the last."""
        self._termination_callback = callback

    def _on_signal(self, callback_type="termination"):
        callback = self._drain_callback if callback_type == "drain" else self._termination_callback
        if callback_type in ("drain", "termination") and callback is not None:
            return callback()
        return None

    def _get_function_url(self, function_name, service_name_override=None):
        # Nuclio's service naming: local platforms prefix the namespace.
        if service_name_override:
            service_name = service_name_override
        elif self.kind == "local":
            service_name = "nuclio-{0}-{1}".format(self.namespace, function_name)
        else:
            service_name = "nuclio-{0}".format(function_name)
        return "{0}:8080".format(service_name)

    def _call_over_http(self, function_name, event, timeout, service_name_override):
        """nuclio-sdk's call_function, for a Platform built without edgefn's hook."""
        connection = self._connection_provider(self._get_function_url(function_name, service_name_override),
                                               timeout=timeout)
        if isinstance(event.body, dict):
            body, content_type = json.dumps(event.body), "application/json"
        else:
            body, content_type = event.body, event.content_type or "text/plain"
        headers = dict(event.headers or {})
        headers["Content-Type"] = content_type
        # Names the target, which wakes a function scaled to zero.
        headers.setdefault("X-Nuclio-Target", function_name)
        headers.pop("Content-Length", None)
        try:
            connection.request(event.method or "POST", event.path or "/", body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        reply_headers = {name.lower(): value for name, value in response.getheaders()}
        reply_type = reply_headers.get("content-type", "text/plain")
        if reply_type == "application/json":
            data = json.loads(data)
        return nuclio_sdk.Response(headers=reply_headers, body=data, content_type=reply_type,
                                   status_code=response.status)
