"""A platform for calling handlers from unit tests."""
import logging
import sys
import unittest.mock

import nuclio_sdk
import nuclio_sdk.logger


class Platform:
    def __init__(self):
        self._logger = nuclio_sdk.Logger(logging.DEBUG, "mock_platform")
        self._logger.set_handler("default", sys.stdout, nuclio_sdk.logger.HumanReadableFormatter())
        self._handler_contexts = {}
        # call_function calls are recorded, and answered by whatever the
        # test sets on call_function_mock (return_value, side_effect).
        self._call_function_mock = unittest.mock.MagicMock()
        self._kind = "test"
        self._context = nuclio_sdk.Context(self._logger, self)

    def call_handler(self, handler, event):
        """Calls `handler(context, event)` and returns what it returns."""
        return handler(self._get_handler_context(handler), event)

    def call_handler_with_context_mutation(self, handler, event, context_mutator):
        """As call_handler, with the context `context_mutator(context)` returns."""
        return handler(context_mutator(self._get_handler_context(handler)), event)

    def call_function(self, name, event, node=None, timeout=None, service_name_override=None):
        return self._call_function_mock(name, event, node, timeout, service_name_override)

    def get_call_function_call_args(self, index):
        """The positional arguments of the index-th call_function call:
        (name, event, node, timeout, service_name_override)."""
        return self._call_function_mock.call_args_list[index][0]

    @property
    def context(self):
        return self._context

    @property
    def kind(self):
        return self._kind

    @property
    def call_function_mock(self):
        return self._call_function_mock

    def _get_handler_context(self, handler):
        """The handler's own context; the first time, after its module's init_context ran on it."""
        context = self._handler_contexts.get(handler)
        if context is None:
            context = nuclio_sdk.Context(self._logger, self)
            self._logger.info_with("Calling handler init context", handler=str(handler))
            init_context = getattr(sys.modules[handler.__module__], "init_context", None)
            if init_context is not None:
                init_context(context)
            self._handler_contexts[handler] = context
        return context
