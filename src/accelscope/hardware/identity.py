"""Values derived once per object, for objects that never change: a HardwareSpec is frozen (a variant is a new
object, `with_overrides`), so what is read from it on every estimate (its content hash, its memory levels' names,
the GEMM search's view of the chip) is computed on first use and looked up by identity after that."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class IdentityCache(Generic[K, V]):
    """`make(obj)` computed once per object. Keyed by id(obj), holding the object itself so its id is not reused
    by another object while the entry lives; cleared whole when it holds `limit` entries (a sweep makes one spec
    per point, and the entries of past points are not read again)."""

    __slots__ = ("_limit", "_make", "_table")

    def __init__(self, make: Callable[[K], V], limit: int = 256) -> None:
        self._make = make
        self._limit = limit
        self._table: dict[int, tuple[K, V]] = {}

    def __call__(self, obj: K) -> V:
        found = self._table.get(id(obj))
        if found is None or found[0] is not obj:
            if len(self._table) >= self._limit:
                self._table.clear()
            found = self._table[id(obj)] = (obj, self._make(obj))
        return found[1]
