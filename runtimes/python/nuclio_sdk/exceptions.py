"""Exceptions of the SDK."""


class ExceptionWithResponse(IOError):
    """An error that carries the response it stands for. As in Nuclio's
    Python runtime, a handler that raises it still answers 500: nothing
    reads status_code on the way out (see docs/nuclio-compat.md)."""

    def __init__(self, status_code, body=None, content_type=None):
        super().__init__(status_code, body)
        self._status_code = status_code
        self._body = body
        self._content_type = content_type

    @property
    def status_code(self):
        return self._status_code

    @property
    def body(self):
        return self._body

    @property
    def content_type(self):
        return self._content_type


class PublishError(Exception):
    """edgefn: context.platform.publish() could not hand the message to its output."""
