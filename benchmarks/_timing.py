"""Shared by the benchmark scripts: mean seconds per call after one warm-up call."""

from __future__ import annotations

import time
from collections.abc import Callable


def per_call(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm caches (preset and model loads)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat
