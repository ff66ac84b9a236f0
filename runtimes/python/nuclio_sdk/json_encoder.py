"""The JSON encoder Nuclio's wrapper and logger use.

Unlike json.JSONEncoder it writes NaN and the infinities as the strings
"NaN", "Infinity" and "-Infinity" (valid JSON), and encodes any other object
as its __log__(), else its repr(), else its str().
"""
import json
import math

_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


class Encoder(json.JSONEncoder):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.nan_str = "NaN"

    def iterencode(self, o, _one_shot=False):
        return super().iterencode(self._finite(o, set()), _one_shot)

    def _finite(self, o, seen):
        """A copy of `o` with non-finite floats replaced by their strings;
        containers without such floats are returned as they are."""
        if isinstance(o, float):
            if math.isfinite(o):
                return o
            if not self.allow_nan:
                raise ValueError("Out of range float values are not JSON compliant: " + repr(o))
            return self.nan_str if o != o else _NON_FINITE[repr(o)]
        if isinstance(o, (dict, list, tuple)):
            if id(o) in seen:
                raise ValueError("Circular reference detected")
            seen.add(id(o))
            try:
                if isinstance(o, dict):
                    items = {key: self._finite(value, seen) for key, value in o.items()}
                    changed = any(items[key] is not value for key, value in o.items())
                else:
                    items = [self._finite(value, seen) for value in o]
                    changed = any(new is not old for new, old in zip(items, o))
            finally:
                seen.discard(id(o))
            return items if changed else o
        return o

    def default(self, obj):
        for render in (lambda: obj.__log__(), lambda: repr(obj), lambda: str(obj)):
            try:
                return self._finite(render(), set())
            except Exception:  # noqa: BLE001 - any rendering may fail; try the next
                continue
        return "Unable to serialize object of type %s" % type(obj).__name__
