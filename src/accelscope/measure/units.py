"""The unit a measured row's value is written in, as sources spell it: a time ("ms", "usec", "µs", "ns") or a rate
("TFLOP/s", "TFLOPS", "GB/s", "GiB/s", "400 Gb/s" bits, "G elements/s", "tokens/s/GPU"), as its factor to SI.

Times, FLOP rates and bandwidths are read by the spec parser (hardware/units.py `parse_quantity`: decimal and
binary prefixes, bits as 1/8 byte), after the spellings benchmark tables use and spec files do not are put in its
terms: lower-case "tflops", "TFLOPs", "seconds", the Greek mu of "μs". Elements and tokens per second are
counts, not a spec dimension, and are read here. A unit that names no time or rate stays refused by the caller
with the row and the field (predict._time_or_rate).
"""

from __future__ import annotations

import re

from ..hardware.units import DECIMAL_PREFIX, UnitError, parse_quantity

# word forms of a time unit -> the spec parser's spelling
_TIME_WORDS = {"second": "s", "seconds": "s", "secs": "s", "millisecond": "ms", "milliseconds": "ms",
               "microsecond": "us", "microseconds": "us", "nanosecond": "ns", "nanoseconds": "ns"}
# a FLOP rate in any case: "tflops", "TFLOPs", "GFLOP/sec", with an optional per-GPU suffix
_FLOPS = re.compile(r"^([kmgtpe]?)flops?(?:/s)?$")
_PER_DEVICE = re.compile(r"/(?:gpu|device)$", re.IGNORECASE)
# elements per second ("G elements/s", "Gelem/s") and tokens per second ("tokens/s", "tok/s", "tokens/s/GPU")
_ELEMENTS = re.compile(r"^([kmgtpe]?)(?:elements|elem)(?:/s|ps)$")
_TOKENS = re.compile(r"^(?:tokens|tok)(?:/s|ps)")


def _parsed(unit: str, dimension: str) -> float | None:
    try:
        return parse_quantity(f"1 {unit}", dimension)
    except UnitError:
        return None


def time_scale(unit: str) -> float | None:
    """Seconds per one of `unit` (a time), or None."""
    text = unit.strip().replace("μ", "µ")  # Greek mu (U+03BC) -> the micro sign the parser reads
    return _parsed(_TIME_WORDS.get(text.lower(), text), "time") if text else None


def rate_scale(unit: str) -> float | None:
    """Work per second per one of `unit` (TFLOP/s -> 1e12, GiB/s -> 2^30, Gb/s -> 1.25e8, tokens/s -> 1), or None
    when `unit` is no rate these rows are given in."""
    text = _PER_DEVICE.sub("", re.sub(r"\s+", "", unit.strip()).replace("/sec", "/s"))
    if not text:
        return None
    if flops := _FLOPS.match(text.lower()):  # the parser's prefixes are upper-case ("T"), its FLOP/s spelled so
        return _parsed(f"{flops.group(1).upper()}FLOP/s", "flops")
    if (bandwidth := _parsed(text, "bandwidth")) is not None:
        return bandwidth
    if elements := _ELEMENTS.match(text.lower()):
        return DECIMAL_PREFIX[elements.group(1).upper()]
    return 1.0 if _TOKENS.match(text.lower()) else None
