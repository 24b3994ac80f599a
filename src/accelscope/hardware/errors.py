"""The one error a bad hardware spec raises, and the helpers that keep its message short and located.

This module imports nothing from the rest of `hardware`, so the schema (spec.py), the validation and override
helpers (validate.py) and the loader can all raise `SpecError` without importing each other in a circle.
"""

from __future__ import annotations

from itertools import islice

MAX_ECHO = 60  # characters of a user value repeated in a message: an alias bomb must not make a 400 MB message
MAX_PROBLEMS = 20  # problems listed in one SpecError; the rest are counted
MAX_MESSAGE = 1000  # characters of one problem's message, a safety net behind MAX_ECHO


class SpecError(ValueError):
    """A hardware spec (file, preset or override) that cannot be used, with where and how to fix it."""

    def __init__(self, origin: str, problems: list[tuple[str, str]]):
        self.origin = origin = printable(origin)
        # user keys reach field paths: a control character (a line break, \x1e) must not split or garble a line
        self.problems = [(clip(printable(path), 200), clip(printable(message), MAX_MESSAGE))
                         for path, message in problems]
        problems = self.problems
        shown = [f"{origin}: {path}: {message}" if path else f"{origin}: {message}"
                 for path, message in problems[:MAX_PROBLEMS]]
        if len(problems) > MAX_PROBLEMS:
            shown.append(f"{origin}: ... and {len(problems) - MAX_PROBLEMS} more problems")
        super().__init__("\n".join(shown))


class FieldProblem(ValueError):
    """Raised inside a model validator to report a cross-field problem at a field below the model (pydantic
    would locate a model validator's error at the model itself, e.g. `compute` rather than
    `compute.sustained_clock`)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def printable(text: str) -> str:
    """`text` with each non-printable character written as its escape (\\n, \\x1e)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def clip(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters with '...'."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def brief(value: object, limit: int = MAX_ECHO, _depth: int = 0) -> str:
    """`repr(value)` cut to `limit` characters with '...': values echoed in messages stay readable, and a YAML
    alias bomb (a list sharing itself a billion times) is never expanded."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        text = f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
    elif isinstance(value, dict | list | tuple):
        text = _brief_container(value, _depth)
    else:
        text = repr(value)
    return clip(text, limit)


def _brief_container(value: dict | list | tuple, depth: int) -> str:
    """The first few items, two levels deep at most."""
    if isinstance(value, dict):
        open_, close = "{", "}"
    else:
        open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
    if depth >= 2:
        return f"{open_}...{close}" if value else open_ + close
    if isinstance(value, dict):
        parts = [f"{brief(k, 20, depth + 1)}: {brief(v, 20, depth + 1)}" for k, v in islice(value.items(), 4)]
    else:
        parts = [brief(item, 20, depth + 1) for item in islice(value, 4)]
    if len(value) > len(parts):
        parts.append("...")
    return open_ + ", ".join(parts) + close
