"""YAML a person typed (spec files, overlays, `--set` values), read with limits, so that no input can make a
traceback, a huge message or an unbounded parse.

PyYAML's `safe_load` silently keeps the last of two equal keys, expands aliases without limit when the result is
later walked (a 456-byte "billion laughs" file becomes 10^9 values) and recurses once per nesting level. Here:
- the file is read up to MAX_FILE_BYTES;
- the event stream is checked first, iteratively (no recursion), for nesting depth, for the number of values
  after alias expansion and for an alias that refers to its own enclosing value;
- a mapping with a repeated key is an error naming the key and its line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError, brief, clip

MAX_FILE_BYTES = 1 << 20  # 1 MiB: the largest preset is ~10 kB
MAX_DEPTH = 32  # nesting levels; a spec needs 5 (memory.hbm.sources.capacity)
MAX_VALUES = 100_000  # scalars + collections after alias expansion; a preset has ~300
# libyaml's parser when PyYAML was built with it: 20x faster than the pure-Python one (a preset in 7 ms, not 140)
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml_file(path: Path, origin: str) -> Any:
    """The parsed YAML document in `path`; every failure is a SpecError naming `origin`."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(origin, [("", f"cannot read the file: {clip(str(exc))}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError(origin, [("", f"file is larger than {MAX_FILE_BYTES // 1024} KiB; a spec is a few kB")])
    return load_yaml(text, origin)


def load_yaml(text: str, origin: str, field: str = "", *, lenient: bool = False) -> Any:
    """Parse one YAML document within the limits above; `field` prefixes the location in messages. `lenient`:
    text that is not YAML at all comes back as the string itself (`--set name=a: b`); limits still apply."""
    try:
        _check_events(text, origin, field)
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except SpecError:
        raise
    except yaml.YAMLError as exc:
        if lenient and not isinstance(exc, DuplicateKeyError):
            return text
        raise SpecError(origin, [_yaml_problem(exc, field)]) from None
    except (ValueError, TypeError, OverflowError) as exc:  # a constructor's own error (int beyond 4300 digits)
        if "integer string conversion" in str(exc):  # Python's advice (sys.set_int_max_str_digits) is not the fix
            raise SpecError(origin, [(field, "not valid YAML: a number of more than 4,300 digits; no spec field "
                                             "takes one, write it with an exponent or a unit (e.g. 3.35 TB/s)")]
                            ) from None
        raise SpecError(origin, [(field, f"not valid YAML: {clip(str(exc))}")]) from None


def _yaml_problem(exc: yaml.YAMLError, field: str) -> tuple[str, str]:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
    problem = getattr(exc, "problem", None) or str(exc)
    return (f"{field} ({where})" if field else where), f"not valid YAML: {clip(str(problem))}"


def _check_events(text: str, origin: str, field: str) -> None:
    """Depth, expanded size and self-referring aliases, from the event stream (no recursion, no expansion)."""
    sizes: dict[str, int] = {}  # anchor -> values it expands to
    open_anchors: set[str] = set()
    stack: list[tuple[str | None, int]] = []  # (anchor, values so far) of each open collection
    total = 0
    for event in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                _fail(origin, field, event, f"nested more than {MAX_DEPTH} levels deep; a spec needs about 5")
            stack.append((event.anchor, 1))
            if event.anchor:
                open_anchors.add(event.anchor)
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, size = stack.pop()
            if anchor:
                sizes[anchor] = size
                open_anchors.discard(anchor)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor in open_anchors:
                _fail(origin, field, event, f"alias *{brief(event.anchor, 30)} refers to a value that contains it")
            size = sizes.get(event.anchor, 1)
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
            if event.anchor:
                sizes[event.anchor] = 1
        else:
            continue
        total += size
        if total > MAX_VALUES:
            _fail(origin, field, event, f"expands to more than {MAX_VALUES:,} values (aliases?); a spec has a few "
                                        "hundred")
        if stack:
            anchor, so_far = stack[-1]
            stack[-1] = (anchor, so_far + size)


def _fail(origin: str, field: str, event: yaml.Event, message: str) -> None:
    where = f"line {event.start_mark.line + 1}"
    raise SpecError(origin, [(f"{field} ({where})" if field else where, message)])


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping with the same key twice: PyYAML would keep the last silently."""


class _UniqueKeys:
    """A mapping with the same key twice is an error (keys merged in with `<<:` may be overridden)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the base constructor reports it
            if first is not None:
                raise DuplicateKeyError(
                    None, None, f"key {brief(key, 40)} appears twice (first on line {first}); keep one",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]


class _UniqueKeyLoader(_UniqueKeys, _BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader that refuses a mapping with the same key twice, and reads YAML 1.2 exponent floats (below)."""


class UniqueKeySafeLoader(_UniqueKeys, _BaseLoader):  # type: ignore[misc,valid-type]
    """PyYAML's SafeLoader, except that a mapping with the same key twice is an error: for the YAML files that are
    not specs (sweep specs, report scenarios), where `axes:` given twice kept the second without a word."""


# YAML 1.2 floats with an exponent and no sign or dot ("80.0e9", "1e30"): PyYAML follows YAML 1.1 and reads them
# as strings, which the schema would then refuse as text where a number belongs.
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)
