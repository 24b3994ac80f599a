"""Numbers for people: one unit per table column, spec fields and result metrics in their own units, no `9.9e+14`.

Output uses decimal prefixes everywhere (1 GB = 10^9 B, 1 MB = 10^6 B): HBM is sold in GB, so caches print in MB
too rather than mixing GiB and GB in one table. Inputs accept both (hardware/units.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .units import format_quantity

UNIT = {"bytes": "B", "bandwidth": "B/s", "flops": "FLOP/s", "frequency": "Hz", "power": "W", "area": "mm²",
        "money": "USD"}
PREFIXES = [("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0)]
TIME_UNITS = [("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)]

# last component of a dotted spec path -> dimension (hardware/spec.py's field names)
_FIELD_DIMENSIONS = {
    "clock": "frequency", "sustained_clock": "frequency", "capacity": "bytes", "bandwidth": "bandwidth",
    "latency": "time", "launch_latency": "time", "host_op_latency": "time", "library_latency": "time", "tdp": "power", "die_area": "area",
    "unit_price": "money",
}
_FIELD_PARENTS = {"peak": "flops"}  # matrix.peak.bf16, vector.peak.fp32


def field_dimension(path: str) -> str | None:
    """The dimension of a dotted spec field ("memory.hbm.bandwidth" -> "bandwidth"); None for plain numbers."""
    parts = path.split(".")
    if len(parts) >= 2 and parts[-2] in _FIELD_PARENTS:
        return _FIELD_PARENTS[parts[-2]]
    last = parts[-1]
    if last in _FIELD_DIMENSIONS:
        return _FIELD_DIMENSIONS[last]
    if last.endswith("latency"):
        return "time"
    if last.endswith("bandwidth"):
        return "bandwidth"
    return None


def metric_dimension(name: str) -> str | None:
    """The dimension of a result metric by its name: `tpot_s` a time, `*_bytes` a size, `*_w` a power; a ratio
    (`tokens_per_s_per_usd`) has none."""
    if "_per_" in name:
        return None
    if name.endswith("_s"):
        return "time"
    if name.endswith("_bytes"):
        return "bytes"
    if name.endswith(("_w", "_watts")):
        return "power"
    if name.endswith("_mm2"):
        return "area"
    if name.endswith("_usd"):
        return "money"
    return None


def metric_label(name: str) -> str:
    """A metric's name for a column header: tokens_per_s_per_usd -> 'tokens/s per USD', tpot_s -> 'tpot'."""
    text = name.removesuffix("_bytes")
    if metric_dimension(name) == "time":
        text = text.removesuffix("_s")
    words = text.replace("_per_s", "/s").replace("_per_", " per ").split("_")
    nice = {"usd": "USD", "mm2": "mm²", "w": "W", "tdp": "TDP", "tpot": "TPOT", "ttft": "TTFT", "mfu": "MFU"}
    return " ".join(" ".join(nice.get(w, w) for w in word.split(" ")) for word in words)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def magnitude(value: float, digits: int = 4) -> str:
    """A number format's range figure: an exact power of two as 2⁻¹²⁶, a huge or tiny value as 3.403 × 10³⁸,
    anything else plainly (448, 57,344)."""
    if value == 0 or value != value or math.isinf(value):
        return plain_number(value)
    mantissa, exponent = math.frexp(abs(value))
    sign = "-" if value < 0 else ""
    if mantissa == 0.5 and abs(exponent - 1) >= 4:
        return f"{sign}2{str(exponent - 1).translate(_SUPERSCRIPT)}"
    power = math.floor(math.log10(abs(value)))
    if -4 <= power < 7:
        return plain_number(value, digits)
    return f"{sign}{abs(value) / 10**power:.{digits - 1}f} × 10{str(power).translate(_SUPERSCRIPT)}"


def plain_number(value: float, digits: int = 4) -> str:
    """A number without exponent: thousands separators from 1,000 up, `digits` significant digits below."""
    if value != value or math.isinf(value):
        return str(value)
    if value == 0:
        return "0"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def column_unit(values: Iterable[float], dimension: str | None) -> tuple[str, float]:
    """The one unit for a column of values (label, divisor): the largest prefix that keeps the column's smallest
    value >= 1 (unless that makes its largest value over a million), so a column reads "312, 989, 2,250" under
    "TFLOP/s" rather than mixing T and P."""
    finite = sorted(abs(v) for v in values if v is not None and v == v and not math.isinf(v) and v != 0)
    if dimension is None or not finite:
        return "", 1.0
    low = max(finite[0], finite[-1] / 1e6)
    if dimension == "time":
        return next(((unit, f) for unit, f in TIME_UNITS if low >= f), TIME_UNITS[-1])
    unit = UNIT[dimension]
    if dimension in ("power", "area", "money"):
        return unit, 1.0
    prefix, factor = next(((p, f) for p, f in PREFIXES if low >= f), PREFIXES[-1])
    return f"{prefix}{unit}", factor


def format_in(value: float | None, factor: float, digits: int = 4) -> str:
    """`value` in a column's unit (divided by `factor`); '—' when missing."""
    if value is None or value != value:
        return "—"
    return plain_number(value / factor, digits)


def format_field(path: str, value: object) -> str:
    """A spec field's value with its unit ("1.83 GHz", "12.5 µs"); plain numbers without an exponent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    dimension = field_dimension(path)
    if dimension is None:
        return plain_number(float(value))
    return format_quantity(float(value), dimension)
