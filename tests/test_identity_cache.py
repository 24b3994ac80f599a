"""hardware/identity.py: a value derived once per object, looked up by identity."""

from __future__ import annotations

from accelscope.hardware.identity import IdentityCache


def test_made_once_per_object_and_again_for_an_equal_other():
    calls: list[list[int]] = []

    def make(obj: list[int]) -> int:
        calls.append(obj)
        return sum(obj)

    cache: IdentityCache[list[int], int] = IdentityCache(make)
    first, equal = [1, 2], [1, 2]
    assert cache(first) == 3 and cache(first) == 3
    assert len(calls) == 1  # the second call is a lookup
    assert cache(equal) == 3 and len(calls) == 2  # keyed by identity: an equal object is another entry


def test_cleared_whole_at_its_limit():
    made: list[int] = []
    cache: IdentityCache[tuple[int, ...], int] = IdentityCache(lambda t: made.append(t[0]) or t[0], limit=2)
    a, b, c = (1,), (2,), (3,)
    cache(a), cache(b)  # two entries: the limit
    cache(c)  # clears, then holds c only
    cache(a)  # made again
    assert made == [1, 2, 3, 1]
    cache(c)  # still there (the table holds c and a)
    assert made == [1, 2, 3, 1]
