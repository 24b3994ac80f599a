"""Memoized building blocks of the whole-model estimates (`llm.train`), inside a scope.

A planner or a sweep prices thousands of layouts of one model on one chip: most of their building blocks (a
micro-batch's stage graphs and their estimates, the data-parallel collectives, the optimizer pass, the memory
terms) repeat across layouts that differ only in fields those blocks do not read. Inside `memo_scope()` (which
`perf.estimate.shared_estimates()` opens) a function decorated with `@memoized` runs once per distinct argument
tuple; outside any scope it runs every time, so a lone call, a test that patches a module constant, or a refit
between calls never sees a stale value.

Keys are the function's own arguments (exactly the inputs it reads): frozen dataclasses (ModelConfig,
Parallelism, Precision, Step, MemoryOptions, ops, graphs) hash by value; a HardwareSpec is keyed by a hash of its
full content and overrides (`spec_key`), so two equal specs share entries and a `with_overrides` variant does
not; an Estimate (another memoized result, e.g. a micro-batch's forward) by identity, kept alive by the scope.
Memoized functions must be pure functions of their arguments and return values the caller does not mutate.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..hardware.identity import IdentityCache

F = TypeVar("F", bound=Callable[..., Any])


class _Scope:
    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, Any]] = {}
        self.kept: dict[int, Any] = {}  # estimates used as keys by identity, kept alive so no id is reused
        self.hits = 0
        self.misses = 0


_SCOPES: list[_Scope] = []


@contextmanager
def memo_scope() -> Iterator[None]:
    """Within the block, `@memoized` functions reuse their results; nested scopes share the outermost one."""
    if _SCOPES:
        yield
        return
    _SCOPES.append(_Scope())
    try:
        yield
    finally:
        _SCOPES.pop()


def memo_active() -> bool:
    return bool(_SCOPES)


def memo_stats() -> dict[str, int]:
    """Hits, misses and entries of the current scope (zeros outside any scope)."""
    if not _SCOPES:
        return {"hits": 0, "misses": 0, "entries": 0}
    scope = _SCOPES[-1]
    return {"hits": scope.hits, "misses": scope.misses, "entries": sum(len(t) for t in scope.tables.values())}


def spec_key(spec: Any) -> str:
    """A stable hash of a HardwareSpec's content and overrides (computed once per spec object)."""
    return _spec_keys(spec)


def _content_hash(spec: Any) -> str:
    text = spec.model_dump_json() + json.dumps(spec.overrides, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


# a HardwareSpec is frozen (a variant is a new object, `with_overrides`), so its hash is computed once per spec
# object, not once per scope (it serializes the whole spec: ~0.15 ms, as much as the rest of a cold whole-model
# estimate's bookkeeping)
_spec_keys: IdentityCache[Any, str] = IdentityCache(_content_hash)


_TYPES: list[type] = []  # HardwareSpec, Estimate (imported on first use: this module loads before them)
# types whose values are their own key part (hashable by value: numbers, strings, frozen dataclasses, tuples),
# learned on first sight so that a config or a graph is not run past the spec, estimate and container checks on
# every call (the check depends on the type alone)
_AS_IS: set[type] = {int, float, str, bool, type(None)}


def _key_part(value: Any) -> Any:
    cls = type(value)
    if cls in _AS_IS:
        return value
    if not _TYPES:
        from ..hardware import HardwareSpec
        from .estimate import Estimate

        _TYPES.extend((HardwareSpec, Estimate))
    if isinstance(value, _TYPES[0]):
        return ("hw", spec_key(value))
    if cls is _TYPES[1]:  # an Estimate: frozen but not hashable (mapping fields): keyed by identity, kept alive
        _SCOPES[-1].kept[id(value)] = value
        return ("estimate", id(value))
    if cls is list:
        return ("list", tuple(_key_part(v) for v in value))
    if cls is dict:
        return ("dict", tuple(sorted((k, _key_part(v)) for k, v in value.items())))
    _AS_IS.add(cls)
    return value


def memoized(fn: F) -> F:
    """`fn` memoized on its arguments inside `memo_scope()`; a plain call outside one."""
    name = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _SCOPES:
            return fn(*args, **kwargs)
        scope = _SCOPES[-1]
        key = (tuple([_key_part(a) for a in args]),
               tuple(sorted((k, _key_part(v)) for k, v in kwargs.items())) if kwargs else ())
        table = scope.tables.setdefault(name, {})
        try:
            value = table[key]
        except KeyError:
            scope.misses += 1
            value = table[key] = fn(*args, **kwargs)
            return value
        scope.hits += 1
        return value

    return wrapper  # type: ignore[return-value]

