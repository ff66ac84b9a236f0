"""context.logger: Nuclio's structured logger, on top of the logging module.

Logger(level, name) wraps logging.getLogger(name) as nuclio-sdk does, so two
Loggers of one name share their handlers and level. set_handler() names its
outputs; edgefn's worker installs one named "default" that hands each record
to the daemon (sink_logger()), as Nuclio's wrapper installs one that writes
to the processor's socket.
"""
import logging

import nuclio_sdk.json_encoder


def _format(message, args):
    """printf-style, as logging does; arguments that do not fit the format
    are appended rather than raising from a log call."""
    if not args:
        return message
    try:
        return str(message) % args
    except (TypeError, ValueError):
        return " ".join([str(message), *map(str, args)])


def level_name(levelno):
    """The level's name in Nuclio's records: debug, info, warn or error."""
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


class JSONFormatter(logging.Formatter):
    """One JSON object per record: datetime, level, message, with."""

    def __init__(self):
        super().__init__()
        self._json_encoder = nuclio_sdk.json_encoder.Encoder()

    def format(self, record):
        return self._json_encoder.encode(self._get_formatted_record_dict(record))

    def format_to_log_control_message(self, record):
        return self._json_encoder.encode({"kind": "log", "attributes": self._get_formatted_record_dict(record)})

    def _get_formatted_record_dict(self, record):
        return {"datetime": self.formatTime(record, self.datefmt), "level": record.levelname.lower(),
                "message": record.getMessage(), "with": getattr(record, "with", {})}


class HumanReadableFormatter(logging.Formatter):
    """`Python> <time> [<level>] <message>: <with>`, for a terminal."""

    def format(self, record):
        fields = getattr(record, "with", {})
        more = ": {0}".format(fields) if fields else ""
        return "Python> {0} [{1}] {2}{3}".format(self.formatTime(record, self.datefmt), record.levelname.lower(),
                                                 record.getMessage(), more)


class SinkHandler(logging.Handler):
    """edgefn: hands each record to `sink(level, message, fields or None)`."""

    def __init__(self, sink):
        super().__init__()
        self._sink = sink

    def emit(self, record):
        try:
            self._sink(level_name(record.levelno), record.getMessage(), getattr(record, "with", None) or None)
        except Exception:  # noqa: BLE001 - logging must not fail the caller
            self.handleError(record)

    def accepts_directly(self, levelno):
        """Whether a record may skip the logging machinery (a LogRecord, the
        caller's frame, locks: 15 us a record against 1 us) and go straight
        to the sink: nothing else of this handler would look at it."""
        return not self.filters and levelno >= self.level


class Logger:
    def __init__(self, level, name="nuclio_sdk"):
        self._logger = logging.getLogger(name)
        self._logger.setLevel(level)
        self._bound_variables = {}

    def set_handler(self, handler_name, file, formatter):
        """Writes records to `file` (a stream) through `formatter`, replacing
        the output of the same name if there is one."""
        for handler in self._logger.handlers:
            if handler.name == handler_name:
                self._logger.removeHandler(handler)
                break
        handler = logging.StreamHandler(file)
        handler.name = handler_name
        handler.setFormatter(formatter)
        self._logger.addHandler(handler)

    def bind(self, **kw_args):
        """Adds these fields to every later record of this logger."""
        self._bound_variables.update(kw_args)

    def debug(self, message, *args):
        self._log(logging.DEBUG, message, args, {})

    def info(self, message, *args):
        self._log(logging.INFO, message, args, {})

    def warn(self, message, *args):
        self._log(logging.WARNING, message, args, {})

    def error(self, message, *args):
        self._log(logging.ERROR, message, args, {})

    def debug_with(self, message, *args, **kw_args):
        self._log(logging.DEBUG, message, args, kw_args)

    def info_with(self, message, *args, **kw_args):
        self._log(logging.INFO, message, args, kw_args)

    def warn_with(self, message, *args, **kw_args):
        self._log(logging.WARNING, message, args, kw_args)

    def error_with(self, message, *args, **kw_args):
        self._log(logging.ERROR, message, args, kw_args)

    # Not in nuclio-sdk; kept for handlers written against earlier edgefn.
    warning = warn
    warning_with = warn_with

    def _log(self, level, message, args, kw_args):
        if not self._logger.isEnabledFor(level):
            return
        # Bound fields win over the call's, as in nuclio-sdk.
        kw_args.update(self._bound_variables)
        handlers = self._logger.handlers
        if (len(handlers) == 1 and type(handlers[0]) is SinkHandler and not self._logger.propagate
                and not self._logger.filters and handlers[0].accepts_directly(level)):
            try:
                handlers[0]._sink(level_name(level), str(_format(message, args)), kw_args or None)
            except Exception:  # noqa: BLE001 - as SinkHandler.emit: logging must not fail the caller
                pass
            return
        self._logger.log(level, _format(message, args), extra={"with": kw_args} if kw_args else None)


def sink_logger(sink, level=logging.DEBUG, name="nuclio_sdk"):
    """edgefn: a Logger whose "default" output is `sink` and whose records
    go nowhere else (a handler that configures the root logger does not get
    them twice)."""
    logger = Logger(level, name)
    for handler in list(logger._logger.handlers):
        if handler.name == "default":
            logger._logger.removeHandler(handler)
    handler = SinkHandler(sink)
    handler.name = "default"
    logger._logger.addHandler(handler)
    logger._logger.propagate = False
    return logger
