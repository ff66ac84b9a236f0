"""What a handler may return to set status, headers and content type."""
import base64
import json

# The response header Nuclio's stream triggers read: true means the handler
# acknowledges the event itself later (explicitAckMode: enable).
STREAM_NO_ACK_HEADER = "x-nuclio-stream-no-ack"


class Response:
    def __init__(self, headers=None, body=None, content_type=None, status_code=200, event_id=None):
        self.headers = headers or {}
        self.body = body
        self.status_code = status_code
        self.content_type = content_type or "text/plain"
        # The event this answers, for functions that answer a batch of events.
        self.event_id = event_id

    def __repr__(self):
        fields = ", ".join("{}={!r}".format(key, value) for key, value in vars(self).items())
        return "{}({})".format(type(self).__name__, fields)

    def ensure_no_ack(self):
        """With explicitAckMode enabled, the event is not acknowledged when
        the handler returns: the handler calls platform.explicit_ack() later."""
        self.headers[STREAM_NO_ACK_HEADER] = True

    @staticmethod
    def from_entrypoint_output(json_encoder, handler_output):
        """The dict Nuclio's wrapper sends to its processor for a handler's
        return value: body, body_encoding (text or base64), content_type,
        headers, status_code and, when set, event_id. edgefn's worker does
        not use it (see edgefn_handler.to_response); it is here for code
        that does."""
        response = Response.empty_response()
        if isinstance(handler_output, str):
            response["body"] = handler_output
        elif isinstance(handler_output, tuple) and len(handler_output) == 2:
            response["status_code"] = handler_output[0]
            if isinstance(handler_output[1], str):
                response["body"] = handler_output[1]
            else:
                response["body"] = json_encoder(handler_output[1])
                response["content_type"] = "application/json"
        elif isinstance(handler_output, (dict, list)):
            response["content_type"] = "application/json"
            response["body"] = json_encoder(handler_output)
        elif isinstance(handler_output, Response):
            if isinstance(handler_output.body, dict):
                response["body"] = json.dumps(handler_output.body)
                response["content_type"] = "application/json"
            else:
                response["body"] = handler_output.body
                response["content_type"] = handler_output.content_type
            if handler_output.event_id:
                response["event_id"] = handler_output.event_id
            response["headers"] = handler_output.headers
            response["status_code"] = handler_output.status_code
        else:
            response["body"] = handler_output
        Response._ensure_str_body(response)
        return response

    @staticmethod
    def empty_response():
        return {"body": "", "content_type": "text/plain", "headers": {}, "status_code": 200, "body_encoding": "text"}

    @staticmethod
    def _ensure_str_body(response):
        if isinstance(response["body"], bytes):
            response["body"] = base64.b64encode(response["body"]).decode("ascii")
            response["body_encoding"] = "base64"
        if response["body_encoding"] == "text":
            response["body"] = str(response["body"])
