"""Unit strings -> SI floats, with the physical dimension checked per field.

Spec files say "3.35 TB/s", "50 MiB", "1.83 GHz", "989.4 TFLOP/s"; inside accelscope every value is a plain
float in SI base units (B, B/s, FLOP/s, Hz, s, W, mm², USD). Decimal prefixes are powers of 1000 and binary
prefixes (Ki, Mi, Gi, ...) powers of 1024, as in IEC 80000-13. A bare number is taken as already in SI.

This is deliberately a small parser rather than pint: each field accepts exactly one dimension, the error
message names what was expected, and `import accelscope` stays fast (the CLI starts in well under a second).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

DECIMAL_PREFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
BINARY_PREFIX = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}
SMALL_PREFIX = {"m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12}


@dataclass(frozen=True, slots=True)
class Dimension:
    """One physical dimension: the unit spellings it accepts and an example for error messages."""

    name: str
    units: dict[str, float]  # spelling (without prefix) -> factor to SI
    example: str
    allow_small_prefix: bool = False


def _units(*spellings: str, factor: float = 1.0) -> dict[str, float]:
    return dict.fromkeys(spellings, factor)


DIMENSIONS: dict[str, Dimension] = {
    "bytes": Dimension("a size", {**_units("B", "byte", "bytes"), **_units("b", "bit", "bits", factor=1 / 8)},
                       "'50 MiB' or '80 GB'"),
    "bandwidth": Dimension(
        "a bandwidth",
        {**_units("B/s", "Bps", "byte/s"), **_units("b/s", "bps", "bit/s", factor=1 / 8)},
        "'3.35 TB/s' or '400 Gb/s'",
    ),
    "flops": Dimension(
        "a compute rate",
        _units("FLOP/s", "FLOPS", "FLOPs/s", "flop/s", "OP/s", "OPS", "OPs/s", "op/s", "ops/s", "IOPS"),
        "'989.4 TFLOP/s' or '1979 TOPS'",
    ),
    "frequency": Dimension("a frequency", _units("Hz"), "'1.83 GHz'"),
    "time": Dimension("a time", _units("s", "sec"), "'2 us' or '500 ns'", allow_small_prefix=True),
    "power": Dimension("a power", _units("W"), "'700 W'", allow_small_prefix=True),
    "area": Dimension("an area", _units("mm^2", "mm2", "mm²"), "'814 mm^2'"),
    "money": Dimension("a price", _units("USD", "$"), "'30000 USD'"),
}

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PATTERN = re.compile(rf"^\s*(?P<dollar>\$)?\s*(?P<num>{_NUMBER})\s*(?P<unit>[^\s\d].*?)?\s*$")


class UnitError(ValueError):
    """A value that is not a number in the expected dimension."""


def _prefix_factor(prefix: str, dim: Dimension) -> float | None:
    if prefix in BINARY_PREFIX:
        return BINARY_PREFIX[prefix]
    if prefix in DECIMAL_PREFIX:
        return DECIMAL_PREFIX[prefix]
    if dim.allow_small_prefix and prefix in SMALL_PREFIX:
        return SMALL_PREFIX[prefix]
    return None


def _unit_factor(unit: str, dim: Dimension) -> float | None:
    """Factor to SI for `unit` (prefix + spelling), or None when it is not a unit of `dim`."""
    # Try the longest spelling first so that "mm^2" is not read as milli-"m^2".
    for spelling in sorted(dim.units, key=len, reverse=True):
        if unit.endswith(spelling):
            factor = _prefix_factor(unit[: -len(spelling)], dim)
            if factor is not None:
                return factor * dim.units[spelling]
    return None


def parse_quantity(value: object, dimension: str) -> float:
    """Parse `value` (a number already in SI, or a string with a unit) into an SI float.

    >>> parse_quantity("3.35 TB/s", "bandwidth")
    3350000000000.0
    >>> parse_quantity("50 MiB", "bytes")
    52428800.0
    """
    dim = DIMENSIONS[dimension]
    if isinstance(value, bool):
        raise UnitError(f"expected {dim.name} like {dim.example} (got {value!r})")
    if isinstance(value, int | float):
        return _finite(float(value), dim, value)
    if not isinstance(value, str):
        raise UnitError(f"expected {dim.name} like {dim.example} (got {value!r})")
    match = _PATTERN.match(value)
    if match is None:
        raise UnitError(f"expected {dim.name} like {dim.example} (got {value!r})")
    number = float(match["num"])
    unit = (match["unit"] or "").replace(" ", "")
    if match["dollar"]:
        unit = unit or "USD"
    if not unit:
        return _finite(number, dim, value)
    factor = _unit_factor(unit, dim)
    if factor is None:
        raise UnitError(f"expected {dim.name} like {dim.example}; unit {unit!r} is not one (got {value!r})")
    return _finite(number * factor, dim, value)


def _finite(number: float, dim: Dimension, raw: object) -> float:
    if not math.isfinite(number):
        raise UnitError(f"expected a finite {dim.name} like {dim.example} (got {raw!r})")
    return number


def format_quantity(value: float, dimension: str, digits: int = 4) -> str:
    """Human form of an SI value: 3.35e12 B/s -> '3.35 TB/s'. Decimal prefixes for every dimension, sizes
    included (50 MiB of L2 prints as 52.43 MB next to 80 GB of HBM): one convention in every table."""
    unit = {"bytes": "B", "bandwidth": "B/s", "flops": "FLOP/s", "frequency": "Hz", "time": "s",
            "power": "W", "area": "mm²", "money": "USD"}[dimension]
    if dimension in ("area", "money", "power"):
        return f"{value:,.0f} {unit}" if abs(value) >= 100 else f"{value:.{digits - 1}g} {unit}"
    if dimension == "time":
        return _format_time(value, digits)
    steps = [("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)]
    return _format_scaled(value, unit, steps, digits)


def _format_scaled(value: float, unit: str, steps: list[tuple[str, float]], digits: int) -> str:
    for prefix, factor in steps:
        if abs(value) >= factor:
            return f"{value / factor:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}"


def _format_time(seconds: float, digits: int) -> str:
    for unit, factor in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= factor:
            return f"{seconds / factor:.{digits}g} {unit}"
    return f"{seconds:.{digits}g} s"
