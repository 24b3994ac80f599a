"""Which GEMM schedule does the measured library run? Data-parallel waves or stream-K, read from measured rows.

The analytical GEMM search defaults to data-parallel tiles in waves (with split-K); `Gemm(schedule="stream-k")`
adds persistent stream-K kernels, which have no tail wave (perf/analytical/gemm.py). The public rows disagree on
which one cuBLAS runs (docs/validation.md), and the answer decides the default. This module predicts each GEMM
row under both schedules and scores them on the *shape* of the measured curve, not its level: each schedule's
predictions are first rescaled by the one factor that best matches the rows (the median of measured / predicted
time), so a wrong matrix efficiency cannot decide the verdict; what is left is how well the wave pattern fits.
The bench's wave sweep (`accelscope bench --device cuda --full`, WAVE_SWEEP) is built for exactly this.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass

from ..hardware import list_hardware
from ..workload.ops import Gemm
from .dataset import MeasuredRow
from .predict import _device_seconds, hardware_id, row_dtype
from .units import rate_scale, time_scale

SCHEDULES = ("data-parallel", "stream-k")


@dataclass(frozen=True, slots=True)
class ScheduleFit:
    schedule: str
    rows: int
    scale: float  # measured / predicted time, the median over the rows: the level, set aside
    shape_error: float  # mean |error| after the rescale: how well the pattern across shapes fits


def measured_seconds(row: MeasuredRow) -> float:
    """The row's time in seconds, from a time or a TFLOP/s rate (2·M·N·K·batch FLOPs)."""
    s = row.shape
    flops = 2.0 * float(s["M"]) * float(s["N"]) * float(s["K"]) * float(s.get("batch", 1))
    if (per_second := time_scale(row.unit)) is not None:
        return row.value * per_second
    if re.match(r"^[kmgtpe]?flop", row.unit.strip().lower()) and (scale := rate_scale(row.unit)) is not None:
        return flops / (row.value * scale)  # TFLOP/s, TFLOPS, PFLOP/s (measure/units.py)
    raise ValueError(f"{row.id}: unit {row.unit!r} is neither a time (s, ms, us) nor a FLOP rate (TFLOP/s)")


def predicted_seconds(row: MeasuredRow, schedule: str) -> float:
    """The analytical level's time for the row under `schedule`, as the row's harness saw it (host floor too)."""
    preset = preset_id(row)
    if preset is None:
        raise ValueError(f"{row.id}: no preset for hardware {row.hardware!r} (accelscope hw list)")
    s, dtype = row.shape, row_dtype(row.dtype)
    op = Gemm(m=int(s["M"]), n=int(s["N"]), k=int(s["K"]), dtype=dtype, batch=int(s.get("batch", 1)),
              schedule=schedule)
    return _device_seconds(row, op, Gemm(m=1, n=1, k=1, dtype=dtype), preset, "analytical")[0]


def preset_id(row: MeasuredRow) -> str | None:
    """The preset the row's hardware name maps to, if it exists (as `predict` maps it)."""
    preset = hardware_id(row.hardware)
    return preset if preset in (*list_hardware(), "local-cpu") else None


def schedule_fits(rows: list[MeasuredRow]) -> list[ScheduleFit]:
    """Both schedules scored on the GEMM rows whose hardware has a preset; best fit first."""
    usable = [r for r in rows if r.category == "gemm" and {"M", "N", "K"} <= set(r.shape) and preset_id(r)]
    if not usable:
        raise ValueError("schedule_fits: no GEMM rows with M/N/K on a chip with a preset")
    measured = [measured_seconds(r) for r in usable]
    fits = []
    for schedule in SCHEDULES:
        predicted = [predicted_seconds(r, schedule) for r in usable]
        ratios = [m / p for m, p in zip(measured, predicted, strict=True)]
        scale = math.exp(statistics.median(math.log(x) for x in ratios))
        shape_error = statistics.fmean(abs(p * scale / m - 1) for m, p in zip(measured, predicted, strict=True))
        fits.append(ScheduleFit(schedule, len(usable), scale, shape_error))
    return sorted(fits, key=lambda f: f.shape_error)
