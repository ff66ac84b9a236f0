"""Nuclio's Python SDK (the public API of nuclio-sdk-py 0.5), bundled with edgefn.

Existing Nuclio functions `import nuclio_sdk` and run unchanged: edgefn's
Python worker puts this package first on the module path, so it is the one
handlers get even when the function's environment has `nuclio-sdk` installed.
Written for edgefn from the SDK's documented behaviour; standard library only
(`msgpack` is used when installed, for Event.deserialize of msgpack bytes).

Submodules as in nuclio-sdk: context, event, exceptions, helpers,
json_encoder, logger, platform, qualified_offset, response, and test (a
stand-in platform for calling handlers from unit tests).
"""
from nuclio_sdk.logger import Logger
from nuclio_sdk.context import Context
from nuclio_sdk.event import Event, TriggerInfo, EventDeserializerKinds
from nuclio_sdk.platform import Platform
from nuclio_sdk.response import Response
from nuclio_sdk.exceptions import ExceptionWithResponse, PublishError
from nuclio_sdk.qualified_offset import QualifiedOffset

__all__ = ["Logger", "Context", "Event", "TriggerInfo", "EventDeserializerKinds", "Platform", "Response",
           "ExceptionWithResponse", "PublishError", "QualifiedOffset"]
