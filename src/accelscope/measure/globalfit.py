"""Fit the model's chip-independent constants across chips, and check them on each chip left out of the fit.

Two groups of constants in hardware/spec.py are not properties of one chip but of a kind of part, and are used
for every chip whose spec does not give its own value:

- DRAM_EFFICIENCY, DRAM_WRITE_COST: what a DRAM level sustains for streaming reads, and what a written byte costs
  relative to a read (bus turnaround). Fitted to the `memory` rows (STREAM-type kernels).
- MATRIX_EFFICIENCY_WIDE / _NARROW: the fraction of the quoted matrix peak vendor-library GEMMs sustain with
  16-bit (and wider) / 8-bit (and narrower) operands. Fitted to the `gemm` rows of each width, with the DRAM pair
  fixed first (small GEMMs are memory-bound).

Leave-one-chip-out (LOCO): for each chip, the constants are fitted on the other chips' rows only and that chip's
rows are predicted with them; pooled over chips this is the error on chips the model was not tuned on. The fit is
a grid search minimising the mean absolute relative error, the metric `accelscope validate` reports.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..hardware import HardwareSpec, list_hardware, load_hardware
from ..hardware.spec import narrow_operands
from .dataset import MeasuredRow
from .predict import Prediction, hardware_id, predict, row_dtype

DRAM_EFFICIENCY_GRID = tuple(np.round(np.arange(0.70, 1.0001, 0.01), 2))
DRAM_WRITE_COST_GRID = tuple(np.round(np.arange(1.0, 1.6001, 0.02), 2))
MATRIX_EFFICIENCY_GRID = tuple(np.round(np.arange(0.50, 1.0001, 0.01), 2))
# categories each group is fitted on, and the ones reported held-out
DRAM_CATEGORIES = ("memory",)
MATRIX_CATEGORIES = ("gemm",)
REPORTED = ("gemm", "attention", "memory", "elementwise")


@dataclass(frozen=True, slots=True)
class Constants:
    dram_efficiency: float
    dram_write_cost: float
    matrix_wide: float  # 16-bit and wider operands
    matrix_narrow: float  # 8-bit and narrower


@dataclass(slots=True)
class HeldOut:
    chip: str
    constants: Constants
    errors: dict[str, list[float]] = field(default_factory=dict)  # category -> |relative error| per row


def with_constants(hw: HardwareSpec, c: Constants) -> HardwareSpec:
    """`hw` with the constants applied to its main memory (if DRAM) and to each matrix dtype the spec gives no
    sourced fraction of its own (a chip's published clock under load is kept, as in normal use)."""
    memory = dict(hw.memory)
    main = hw.main_memory_name
    if memory[main].kind == "dram":
        memory[main] = memory[main].model_copy(update={"efficiency": c.dram_efficiency,
                                                       "write_cost": c.dram_write_cost})
    default = {d: c.matrix_narrow if narrow_operands(d) else c.matrix_wide for d in hw.matrix.peak}
    efficiency = {**default, **hw.matrix.efficiency}
    return hw.model_copy(update={"memory": memory, "matrix": hw.matrix.model_copy(update={"efficiency": efficiency})})


def _chip_rows(rows: Iterable[MeasuredRow], categories: Sequence[str]) -> dict[str, list[MeasuredRow]]:
    by_chip: dict[str, list[MeasuredRow]] = {}
    for row in rows:
        chip = hardware_id(row.hardware)
        if row.category in categories and chip in list_hardware():
            by_chip.setdefault(chip, []).append(row)
    return by_chip


def _errors(rows: Sequence[MeasuredRow], spec: HardwareSpec, level: str) -> list[float]:
    out = []
    for row in rows:
        outcome = predict(row, level, spec=spec)
        if isinstance(outcome, Prediction) and row.value:
            out.append(abs(outcome.value - row.value) / row.value)
    return out


def _fit(by_chip: dict[str, list[MeasuredRow]], chips: Sequence[str], grid: list[Constants], level: str) -> Constants:
    """The grid point with the least mean |relative error| over the rows of `chips`."""
    specs = {chip: load_hardware(chip) for chip in chips}
    best, best_err = grid[0], float("inf")
    for c in grid:
        errs = [e for chip in chips for e in _errors(by_chip[chip], with_constants(specs[chip], c), level)]
        if errs and (err := statistics.fmean(errs)) < best_err:
            best, best_err = c, err
    return best


def fit_constants(rows: Sequence[MeasuredRow], chips: Sequence[str] | None = None,
                  level: str = "analytical") -> Constants:
    """Fit the DRAM pair on the memory rows, then the matrix efficiencies on the GEMM rows of each operand width,
    of `chips` (all chips if None)."""
    dram_rows = _chip_rows(rows, DRAM_CATEGORIES)
    dram_chips = [c for c in (chips or dram_rows) if c in dram_rows]
    d = _fit(dram_rows, dram_chips, [Constants(e, w, 1.0, 1.0) for e in DRAM_EFFICIENCY_GRID
                                     for w in DRAM_WRITE_COST_GRID], level)
    fitted = {}
    for narrow in (False, True):
        gemm_rows = _chip_rows([r for r in rows if narrow_operands(row_dtype(r.dtype)) == narrow], MATRIX_CATEGORIES)
        gemm_chips = [c for c in (chips or gemm_rows) if c in gemm_rows]
        best = _fit(gemm_rows, gemm_chips, [Constants(d.dram_efficiency, d.dram_write_cost, m, m)
                                            for m in MATRIX_EFFICIENCY_GRID], level)
        fitted[narrow] = best.matrix_wide
    return Constants(d.dram_efficiency, d.dram_write_cost, fitted[False], fitted[True])


def leave_one_chip_out(rows: Sequence[MeasuredRow], level: str = "analytical") -> list[HeldOut]:
    """For every chip with rows in a reported category: fit on the others, score that chip's rows."""
    reported = _chip_rows(rows, REPORTED)
    out = []
    for chip in sorted(reported):
        others = sorted({c for c in _chip_rows(rows, DRAM_CATEGORIES + MATRIX_CATEGORIES) if c != chip})
        constants = fit_constants(rows, others, level)
        spec = with_constants(load_hardware(chip), constants)
        held = HeldOut(chip, constants)
        for category in REPORTED:
            errs = _errors([r for r in reported[chip] if r.category == category], spec, level)
            if errs:
                held.errors[category] = errs
        out.append(held)
    return out


def loco_markdown(results: Sequence[HeldOut], fitted_on_all: Constants) -> str:
    """Per held-out chip and pooled: the constants fitted without it and its mean |error| per category."""
    head = "| held-out chip | DRAM eff. | write cost | matrix eff. 16/8-bit | " + " | ".join(REPORTED) + " |"
    lines = [head, "|" + "---|" * (4 + len(REPORTED))]
    for h in results:
        cells = [f"{100 * statistics.fmean(h.errors[c]):.1f}% ({len(h.errors[c])})" if c in h.errors else "-"
                 for c in REPORTED]
        k = h.constants
        lines.append(f"| {h.chip} | {k.dram_efficiency:.2f} | {k.dram_write_cost:.2f} | {k.matrix_wide:.2f} / "
                     f"{k.matrix_narrow:.2f} | " + " | ".join(cells) + " |")
    pooled = []
    for c in REPORTED:
        errs = [e for h in results for e in h.errors.get(c, [])]
        pooled.append(f"**{100 * statistics.fmean(errs):.1f}%** ({len(errs)})" if errs else "-")
    k = fitted_on_all
    lines.append(f"| all chips held out in turn | fit on all: {k.dram_efficiency:.2f} | {k.dram_write_cost:.2f} | "
                 f"{k.matrix_wide:.2f} / {k.matrix_narrow:.2f} | " + " | ".join(pooled) + " |")
    return "\n".join(lines)
