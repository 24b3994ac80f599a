"""Fit a chip's physically meaningful spec fields to measured rows, with cross-validation.

Only named numeric fields of the spec can be fitted (clock under load, achievable bandwidth fractions, link
latency, launch latency, an unpublished cache bandwidth); anything else is refused. The objective is the mean
absolute log error over the chip's rows at one model level, minimised with scipy's bounded Powell method. The
reported error is the k-fold held-out error (fit on k-1 folds, score the held-out fold), not the training error.
The result is an overlay spec (`base:` + `overrides:` + `provenance:`) that `load_hardware` reads.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..hardware import HardwareSpec, load_hardware
from ..hardware.validate import overrides_as_text
from .dataset import MeasuredRow
from .predict import Prediction, Skip, hardware_id, predict

# field -> (low, high) as multiples of the preset value, or absolute bounds for fractions; log-scaled if "log"
DEFAULT_FIELDS = ("compute.sustained_clock", "memory.{main}.efficiency", "interconnect.scale_up.efficiency",
                  "interconnect.scale_up.latency", "runtime.launch_latency")
FRACTION_BOUNDS = (0.3, 1.0)
_MISSING = object()
RELATIVE_BOUNDS = (0.2, 5.0)  # for absolute quantities (latencies, bandwidths): 1/5x .. 5x the preset's value
# What a real part reaches (field suffix -> (low, high), SI; fractions of the clock for the clock): a fit outside
# is more likely the model making up for something it does not capture than a fact about the chip.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "runtime.launch_latency": (1e-6, 6e-6),  # CUDA/HIP back-to-back kernel launch + ramp + drain
    "interconnect.scale_up.latency": (0.3e-6, 3e-6),  # NVLink / Infinity Fabric one hop, small message
    "interconnect.scale_up.efficiency": (0.6, 0.95),  # NCCL bus bandwidth / link bandwidth
    "interconnect.scale_up.nvls_efficiency": (0.5, 0.95),
    "compute.sustained_clock": (0.6, 1.0),  # x the boost clock
    ".efficiency": (0.7, 0.97),  # DRAM: STREAM-like kernels reach 80-95 % of the datasheet bandwidth
}
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class CalibrationResult:
    hw: str
    level: str
    overrides: dict[str, float]
    rows: list[str]
    train_error: float  # mean |log(pred / meas)| on all rows with the final fit
    cv_error: float  # mean over folds of the held-out error
    baseline_error: float  # before calibration
    folds: int
    fold_errors: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # fitted values outside a physical range, or at a bound

    def overlay(self, command: str = "") -> dict[str, Any]:
        return {
            "base": self.hw, "id": f"{self.hw}-calibrated", "overrides": self.overrides,
            "provenance": {
                "method": f"scipy Powell on mean |log(pred/meas)|, {self.folds}-fold cross-validation",
                "level": self.level, "rows": self.rows, "baseline_mean_abs_log_error": self.baseline_error,
                "train_mean_abs_log_error": self.train_error, "cv_mean_abs_log_error": self.cv_error,
                "warnings": self.warnings, "date": dt.date.today().isoformat(), "command": command,
            },
        }

    def write(self, path: str | Path, command: str = "") -> Path:
        path = Path(path)
        data = self.overlay(command)
        base = load_hardware(self.hw)
        data["name"] = f"{base.name} (calibrated)"
        data["overrides"] = overrides_as_text(base, self.overrides)  # a file needs units: '1.2e-05 s', not 1.2e-05
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path


def default_fields(hw: HardwareSpec) -> list[str]:
    """DEFAULT_FIELDS as they apply to this chip: a scale-up domain priced by a library cost model (NCCL) has no
    use for the per-hop latency, and one with in-switch reduction gets the NVLS efficiency instead."""
    up = hw.interconnect.scale_up
    out = []
    for field_ in DEFAULT_FIELDS:
        if field_ == "interconnect.scale_up.latency" and up is not None and up.library is not None:
            if up.in_network_reduction:
                out.append("interconnect.scale_up.nvls_efficiency")
            continue
        out.append(field_)
    return out


def resolve_fields(hw: HardwareSpec, fields: list[str] | None) -> list[str]:
    """Expand defaults and check every field is an existing numeric (or unset optional numeric) spec field."""
    defaults = fields is None
    wanted = [f.format(main=hw.main_memory_name) for f in (fields or default_fields(hw))]
    data = hw.model_dump()
    out = []
    for path in wanted:
        node: Any = data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                if defaults:  # a default the spec has no section for (a CPU has no interconnect): skip it
                    node = _MISSING
                    break
                raise ValueError(f"calibrate: {path!r} is not a named field of the {hw.id} spec; only spec fields "
                                 "(efficiencies, clocks, latencies, bandwidths) can be fitted")
            node = node[part]
        if node is _MISSING:
            continue
        if node is not None and (isinstance(node, bool) or not isinstance(node, int | float)):
            raise ValueError(f"calibrate: {path!r} is not numeric ({node!r}); only numeric fields can be fitted")
        if isinstance(node, int):  # a count: the fit's 131.99999999999997 cores failed after the first fold
            raise ValueError(f"calibrate: {path!r} is a whole number ({node}); a fit gives fractions, so only "
                             "continuous fields (efficiencies, clocks, latencies, bandwidths) can be fitted")
        if path in out:
            raise ValueError(f"calibrate: {path!r} is named twice; name each field once")
        out.append(path)
    return out


def plausible_range(hw: HardwareSpec, path: str) -> tuple[float, float] | None:
    """The physical range of a fitted field (SI), or None when there is no rule for it."""
    if path in PLAUSIBLE:
        low, high = PLAUSIBLE[path]
        return (low * hw.compute.clock, high * hw.compute.clock) if path == "compute.sustained_clock" else (low, high)
    if path.startswith("memory.") and path.endswith(".efficiency"):
        return PLAUSIBLE[".efficiency"]
    return None


def fit_warnings(hw: HardwareSpec, overrides: dict[str, float]) -> list[str]:
    """One sentence per fitted value outside its physical range or pinned at the search bound, with the value."""
    from ..hardware.display import format_field

    out = []
    for path, value in overrides.items():
        span = plausible_range(hw, path)
        low, high, _ = _bounds(hw, path)
        shown = format_field(path, value)
        if span and not span[0] <= value <= span[1]:
            out.append(f"{path} = {shown} is outside the plausible {format_field(path, span[0])} to "
                       f"{format_field(path, span[1])} (preset {format_field(path, _get_or_nan(hw, path))}): the fit "
                       "is likely making up for something the model does not capture")
        elif math.isclose(value, low, rel_tol=1e-3) or math.isclose(value, high, rel_tol=1e-3):
            out.append(f"{path} = {shown} sits at the edge of the search range ({format_field(path, low)} to "
                       f"{format_field(path, high)}): the data push it further than the fit allows")
    return out


def _get_or_nan(hw: HardwareSpec, path: str) -> float:
    try:
        return _get(hw, path)
    except (KeyError, TypeError):
        return float("nan")


def _bounds(hw: HardwareSpec, path: str) -> tuple[float, float, bool]:
    """(low, high, log-scale) for a field."""
    if path.endswith("efficiency"):
        return (*FRACTION_BOUNDS, False)
    if path == "compute.sustained_clock":
        return 0.5 * hw.compute.clock, hw.compute.clock, False
    current = _get(hw, path)
    return current * RELATIVE_BOUNDS[0], current * RELATIVE_BOUNDS[1], True


def _get(hw: HardwareSpec, path: str) -> float:
    node: Any = hw.model_dump()
    for part in path.split("."):
        node = node[part]
    return float(node)


def _decode(x: np.ndarray, bounds: list[tuple[float, float, bool]]) -> list[float]:
    values = []
    for xi, (low, high, log) in zip(np.clip(x, 0.0, 1.0), bounds, strict=True):
        values.append(math.exp(math.log(low) + xi * (math.log(high) - math.log(low))) if log else low + xi * (high - low))
    return values


def _error(rows: list[MeasuredRow], hw: HardwareSpec, level: str) -> float:
    errors = []
    for row in rows:
        outcome = predict(row, level, spec=hw)
        if isinstance(outcome, Prediction) and outcome.value > 0:
            errors.append(abs(math.log(outcome.value / row.value)))
    return float(np.mean(errors)) if errors else float("inf")


def _fit(rows: list[MeasuredRow], hw: HardwareSpec, paths: list[str], level: str) -> dict[str, float]:
    from scipy.optimize import minimize

    bounds = [_bounds(hw, p) for p in paths]

    def objective(x: np.ndarray) -> float:
        candidate = hw.with_overrides(dict(zip(paths, _decode(x, bounds), strict=True)))
        return _error(rows, candidate, level)

    start = np.full(len(paths), 0.5)
    result = minimize(objective, start, method="Powell", bounds=[(0.0, 1.0)] * len(paths),
                      options={"xtol": 1e-3, "ftol": 1e-4, "maxfev": 400})
    return dict(zip(paths, _decode(result.x, bounds), strict=True))


def calibrate(rows: list[MeasuredRow], hw: str | HardwareSpec, fields: list[str] | None = None,
              level: str = "analytical", folds: int = 5, seed: int = 0,
              progress: Progress | None = None) -> CalibrationResult:
    """Fit `fields` of `hw` (a preset id, a file, or a spec) to the rows measured on that chip. `progress` is
    called with one line per step (each fold, the final fit)."""
    say = progress or (lambda _line: None)
    spec = load_hardware(hw)
    paths = resolve_fields(spec, fields)
    outcomes = [(r, predict(r, level, spec=spec)) for r in rows if hardware_id(r.hardware) == spec.id]
    mine = [r for r, outcome in outcomes if isinstance(outcome, Prediction)]
    skipped: dict[str, list[str]] = {}  # reason -> ids of this chip's rows the models do not map
    for r, outcome in outcomes:
        if isinstance(outcome, Skip):
            skipped.setdefault(outcome.reason, []).append(r.id)
    left_out = "; ".join(f"{', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''}: {reason}"
                         for reason, ids in skipped.items())
    if len(mine) < 2:
        why = f" ({sum(map(len, skipped.values()))} of its rows not mapped: {left_out})" if skipped else ""
        raise ValueError(f"calibrate: only {len(mine)} usable rows for {spec.id}; need at least 2 measured rows{why}")
    if skipped:
        say(f"left out {sum(map(len, skipped.values()))} {spec.id} rows the models do not map: {left_out}")
    order = list(range(len(mine)))
    random.Random(seed).shuffle(order)
    k = max(2, min(folds, len(mine)))
    fold_errors = []
    for fold in range(k):
        held = [mine[i] for i in order[fold::k]]
        train = [mine[i] for i in order if i not in set(order[fold::k])]
        say(f"fold {fold + 1}/{k}: fitting {len(paths)} fields on {len(train)} rows, scoring {len(held)} held out")
        fitted = spec.with_overrides(_fit(train, spec, paths, level))
        fold_errors.append(_error(held, fitted, level))
        say(f"fold {fold + 1}/{k}: held-out mean |log error| {fold_errors[-1]:.3f}")
    say(f"final fit on all {len(mine)} rows")
    overrides = _fit(mine, spec, paths, level)
    final = spec.with_overrides(overrides)
    return CalibrationResult(
        hw=spec.id, level=level, overrides={p: float(v) for p, v in overrides.items()},
        rows=[r.id for r in mine], train_error=_error(mine, final, level), cv_error=float(np.mean(fold_errors)),
        baseline_error=_error(mine, spec, level), folds=k, fold_errors=fold_errors,
        warnings=fit_warnings(spec, overrides),
    )
