"""What a handler gets as its first argument."""
import contextvars

import nuclio_sdk


class _UserData:
    """context.user_data: an object to hang attributes on."""

    def __repr__(self):
        return f"UserData({vars(self)!r})"


class Context:
    def __init__(self, logger=None, platform=None, worker_id=None, trigger=None, logger_per_async_task=False):
        self.platform = platform or nuclio_sdk.Platform("test")
        self._logger_per_async_tasks = logger_per_async_task
        # With logger_per_async_task, each asyncio task may set its own
        # context.logger; tasks that did not see the shared one.
        self._shared_logger = logger
        self._logger = contextvars.ContextVar("logger", default=None) if logger_per_async_task else logger
        self.user_data = _UserData()
        self.Response = nuclio_sdk.Response
        self.worker_id = worker_id
        self.trigger = trigger
        self.trigger_name = trigger.name if trigger is not None else None

    @property
    def logger(self):
        if self._logger_per_async_tasks:
            return self._logger.get() or self._shared_logger
        return self._logger

    @logger.setter
    def logger(self, logger):
        if self._logger_per_async_tasks:
            self._logger.set(logger)
        else:
            self._logger = logger
