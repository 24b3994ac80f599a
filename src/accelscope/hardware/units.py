"""Unit strings -> SI floats, with the physical dimension checked per field.

Spec files say "3.35 TB/s", "50 MiB", "1.83 GHz", "989.4 TFLOP/s"; inside accelscope every value is a plain
float in SI base units (B, B/s, FLOP/s, Hz, s, W, mm², USD). Decimal prefixes are powers of 1000 and binary
prefixes (Ki, Mi, Gi, ...) powers of 1024, as in IEC 80000-13. Python callers may pass a bare number, taken as
already in SI; text a person typed (a YAML spec, `--set`) must carry the unit (`require_unit=True`), since
`clock: 1.8` would otherwise be read as 1.8 Hz.

This is deliberately a small parser rather than pint: each field accepts exactly one dimension, the error
message names what was expected, and `import accelscope` stays fast (the CLI starts in well under a second).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import brief

DECIMAL_PREFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
BINARY_PREFIX = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}
SMALL_PREFIX = {"m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12}


@dataclass(frozen=True, slots=True)
class Dimension:
    """One physical dimension: the unit spellings it accepts and an example for error messages."""

    name: str
    units: dict[str, float]  # spelling (without prefix) -> factor to SI
    example: str
    si_unit: str  # the SI spelling, factor 1: what a value is written back with ("1.83e9 Hz")
    # (smallest bare number, unit) pairs, largest first: the unit a bare number most likely meant, for the
    # "has no unit; write 1.8 GHz" message (a clock of 1830 meant MHz, one of 1.8 GHz)
    likely: tuple[tuple[float, str], ...]
    # Plausible range for any field of this dimension, SI: wider than any real or near-future chip, narrow
    # enough that derived figures (ridge points, cycles per byte) stay finite. A field may narrow it.
    low: float
    high: float
    allow_small_prefix: bool = False


def _units(*spellings: str, factor: float = 1.0) -> dict[str, float]:
    return dict.fromkeys(spellings, factor)


DIMENSIONS: dict[str, Dimension] = {
    "bytes": Dimension("a size", {**_units("B", "byte", "bytes"), **_units("b", "bit", "bits", factor=1 / 8)},
                       "'50 MiB' or '80 GB'", "B", ((0, "GB"),), low=1024.0, high=1e16),
    "bandwidth": Dimension(
        "a bandwidth",
        {**_units("B/s", "Bps", "byte/s"), **_units("b/s", "bps", "bit/s", factor=1 / 8)},
        "'3.35 TB/s' or '400 Gb/s'", "B/s", ((0, "GB/s"),), low=1e6, high=1e18,
    ),
    "flops": Dimension(
        "a compute rate",
        _units("FLOP/s", "FLOPS", "FLOPs/s", "flop/s", "OP/s", "OPS", "OPs/s", "op/s", "ops/s", "IOPS"),
        "'989.4 TFLOP/s' or '1979 TOPS'", "FLOP/s", ((0, "TFLOP/s"),), low=1e9, high=1e21,
    ),
    "frequency": Dimension("a frequency", _units("Hz"), "'1.83 GHz'", "Hz", ((100, "MHz"), (0, "GHz")), low=1e6, high=1e11),
    "time": Dimension("a time", _units("s", "sec"), "'2 us' or '500 ns'", "s", ((0, "us"),), low=0.0, high=1.0,
                      allow_small_prefix=True),
    "power": Dimension("a power", _units("W"), "'700 W'", "W", ((0, "W"),), low=1e-3, high=1e7,
                       allow_small_prefix=True),
    "area": Dimension("an area", _units("mm^2", "mm2", "mm²"), "'814 mm^2'", "mm^2", ((0, "mm^2"),), low=1e-3,
                      high=1e6),
    "money": Dimension("a price", _units("USD", "$"), "'30000 USD'", "USD", ((0, "USD"),), low=0.01, high=1e9),
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


def parse_quantity(value: object, dimension: str, *, require_unit: bool = False,
                   bounds: tuple[float, float] | bool = False) -> float:
    """Parse `value` (a number already in SI, or a string with a unit) into a finite SI float.

    `require_unit`: refuse a bare number (text a person typed). `bounds`: refuse values outside (low, high), or
    outside the dimension's plausible range when True; the message gives the range.

    >>> parse_quantity("3.35 TB/s", "bandwidth")
    3350000000000.0
    >>> parse_quantity("50 MiB", "bytes")
    52428800.0
    """
    dim = DIMENSIONS[dimension]
    number = _to_si(value, dimension, require_unit)
    if bounds:
        low, high = (dim.low, dim.high) if bounds is True else bounds
        if not low <= number <= high:
            raise UnitError(f"{brief(value)} is out of range; expected {dim.name} from "
                            f"{range_text(low, high, dimension)}")
    elif not math.isfinite(number):
        raise UnitError(f"expected {dim.name} like {dim.example}, finite (got {brief(value)})")
    return number


def _to_si(value: object, dimension: str, require_unit: bool) -> float:
    """The SI float `value` stands for (not NaN), before the range check."""
    dim = DIMENSIONS[dimension]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UnitError(f"expected {dim.name} like {dim.example} (got {brief(value)})")
    if isinstance(value, int | float):
        if require_unit and value != 0:  # 0 is 0 in every unit
            raise UnitError(_no_unit(value, value, dimension))
        return _finite(value, dim, value)
    match = _PATTERN.match(value) if len(value) < 100 else None
    if match is None:
        raise UnitError(f"expected {dim.name} like {dim.example} (got {brief(value)})")
    unit = (match["unit"] or "").replace(" ", "")
    if match["dollar"]:
        unit = unit or "USD"
    if not unit:
        if require_unit and float(match["num"]) != 0:
            raise UnitError(_no_unit(value, float(match["num"]), dimension))
        return _finite(float(match["num"]), dim, value)
    factor = _unit_factor(unit, dim)
    if factor is None:
        raise UnitError(f"expected {dim.name} like {dim.example}; unit {unit!r} is not one (got {brief(value)})")
    return _finite(float(match["num"]) * factor, dim, value)


def _no_unit(raw: object, number: float, dimension: str) -> str:
    hint = missing_unit_hint(number, dimension)
    if hint is None:
        dim = DIMENSIONS[dimension]
        return (f"{brief(raw)} has no unit, and no unit makes it plausible; write {dim.name} from "
                f"{range_text(dim.low, dim.high, dimension)}, like {dim.example}")
    return f"{brief(raw)} has no unit; write {hint}"


def missing_unit_hint(number: float, dimension: str) -> str | None:
    """What a bare number most likely meant: '1.8 GHz' for a clock of 1.8, '1.98 GHz' for 1.98e9 (already SI);
    None when neither reading is in the dimension's plausible range (5e-324, inf)."""
    dim = DIMENSIONS[dimension]
    as_si = abs(_as_float(number))
    if not math.isfinite(as_si):
        return None
    if dim.low <= as_si <= dim.high and (dimension == "time" or as_si >= 1000):  # plausible as SI: say it so
        return format_quantity(as_si, dimension, digits=6) if dimension not in ("power", "area", "money") \
            else f"{as_si:g} {dim.si_unit}"
    unit = next(unit for smallest, unit in dim.likely if as_si >= smallest)
    factor = _unit_factor(unit, dim)
    if factor is None or not dim.low <= as_si * factor <= dim.high:
        return None
    return f"{as_si:g} {unit}"


def si_text(value: float, dimension: str) -> str:
    """An SI float written back as text with its SI unit, exactly ('1830000000.0 Hz'): parses to the same float."""
    return f"{value!r} {DIMENSIONS[dimension].si_unit}"


def range_text(low: float, high: float, dimension: str) -> str:
    """'1 MHz to 100 GHz': a field's plausible range, for messages and the schema."""
    return f"{_bound(low, dimension)} to {_bound(high, dimension)}"


def _bound(value: float, dimension: str) -> str:
    if value == 0 or value >= 1e18:  # past the largest prefix: '1e+21 FLOP/s', not '1e+06 PFLOP/s'
        return f"{value:g} {DIMENSIONS[dimension].si_unit}"
    return format_quantity(value, dimension, digits=3)


def _as_float(number: float | int) -> float:
    try:
        return float(number)
    except OverflowError:  # an integer beyond float range (a 400-digit clock): out of every range
        return math.inf if number > 0 else -math.inf


def _finite(number: float | int, dim: Dimension, raw: object) -> float:
    """The number as a float; NaN is refused here, infinities by the range check."""
    number = _as_float(number)
    if math.isnan(number):
        raise UnitError(f"expected {dim.name} like {dim.example}, not NaN (got {brief(raw)})")
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
