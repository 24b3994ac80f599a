"""The units a measured row's value is written in, as sources spell them: a time ("ms", "usec", "µs", "ns") or a
rate ("TFLOP/s", "TFLOPS", "GB/s", "TiB/s", "G elements/s", "tokens/s/GPU"), each as its factor to SI.

A row says its unit once; sources spell the same unit many ways (DeepGEMM's "TFLOPS", nccl-tests' "GB/s", a
profiler's "us" or "µs"). Only the spellings of a unit are widened here: a unit that names no time or rate is still
refused with the row and the field (predict._time_or_rate).
"""

from __future__ import annotations

import re

# seconds per unit; keys compared lower-case ("µs" is the micro sign U+00B5, "μs" the Greek mu U+03BC)
TIME_UNITS: dict[str, float] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("ms", "msec", "millisecond", "milliseconds"), 1e-3),
    **dict.fromkeys(("us", "µs", "μs", "usec", "microsecond", "microseconds"), 1e-6),
    **dict.fromkeys(("ns", "nsec", "nanosecond", "nanoseconds"), 1e-9),
}
SI_PREFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15, "e": 1e18}
BINARY_PREFIX = {"ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
# FLOP/s in any spelling: TFLOP/s, TFLOPS, TFLOPs, tflops/s, PFLOP/s, GFLOPS
_FLOPS = re.compile(r"^([kmgtpe]?)flop(?:s|/s|s/s)(?:/gpu|/device)?$")
# bytes per second: GB/s, TB/s, GiB/s, GBps (a capital B: "Gb/s" and "Gbps" are bits, refused)
_BYTES = re.compile(r"^([kKMGTPE]i?|)B(?:/s|ps)$")
# elements per second: "G elements/s", "Gelem/s"
_ELEMENTS = re.compile(r"^([kmgtpe]?)(?:elements|elem)(?:/s|ps)$")
# tokens per second, per GPU or in all ("tokens/s/GPU" keeps its suffix: the mapper reads it)
_TOKENS = re.compile(r"^(?:tokens|tok)(?:/s|/sec|ps)")


def time_scale(unit: str) -> float | None:
    """Seconds per one of `unit` (a time), or None."""
    return TIME_UNITS.get(unit.strip().lower())


def rate_scale(unit: str) -> float | None:
    """Work per second per one of `unit` (TFLOP/s -> 1e12, GiB/s -> 2^30, tokens/s -> 1), or None when `unit` is no
    rate these rows are given in."""
    exact = re.sub(r"\s+", "", unit.strip()).replace("/sec", "/s")
    text = exact.lower().replace("persecond", "/s")
    for pattern, spelled in ((_FLOPS, text), (_BYTES, exact), (_ELEMENTS, text)):
        if match := pattern.match(spelled):
            prefix = match.group(1).lower()
            return BINARY_PREFIX[prefix] if prefix in BINARY_PREFIX else SI_PREFIX[prefix]
    return 1.0 if _TOKENS.match(text) else None
