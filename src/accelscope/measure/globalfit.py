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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import numpy as np

from ..hardware import HardwareSpec, list_hardware, load_hardware
from ..hardware.dtypes import element_format
from ..hardware.spec import DRAM_EFFICIENCY as DRAM_EFFICIENCY_DEFAULT
from ..hardware.spec import DRAM_WRITE_COST as DRAM_WRITE_COST_DEFAULT
from ..hardware.spec import MATRIX_EFFICIENCY_NARROW, MATRIX_EFFICIENCY_WIDE, narrow_operands
from ..llm.train_host import host_op_latency_default
from . import rows_gemm
from .dataset import CATEGORIES, MeasuredRow
from .hostfit import HostFit, host_scored
from .predict import Prediction, gemm_row_dtypes, hardware_id, predict

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
    host_op_latency: float | None = None  # seconds per op of framework host time (measure/hostfit.py); None: shipped


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
    # block-scaled dtypes take their element format's value (HardwareSpec.matrix_efficiency), so they get none here
    default = {d: c.matrix_narrow if narrow_operands(d) else c.matrix_wide for d in hw.matrix.peak
               if element_format(d) == d}
    efficiency = {**default, **hw.matrix.efficiency}
    return hw.model_copy(update={"memory": memory, "matrix": hw.matrix.model_copy(update={"efficiency": efficiency})})


def matrix_operands(row: MeasuredRow) -> str:
    """The dtype a row's matrix path runs on, which decides the matrix efficiency it fits: its activations'
    (a W4A16 / W8A16 row multiplies in 16 bits: predict.gemm_row_dtypes)."""
    return gemm_row_dtypes(row.dtype)[0]


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
        gemm_rows = _chip_rows([r for r in rows if narrow_operands(matrix_operands(r)) == narrow], MATRIX_CATEGORIES)
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


# ----- leave one source out ----------------------------------------------------------------------------------
# A source (the id prefix: VP, CU, MT, ..., and the dev set's AZ, FA, ...) is one harness, software stack and set of
# machines: a constant fitted on it learns that source as much as the hardware. Leave-one-source-out refits every
# cross-chip constant without the source it is scored on.
#
# Speed: a row's error at a grid point does not depend on which source is held out, so each fitting row is
# estimated once per grid point and every fold only re-aggregates those cached errors. The fitting rows are a
# deterministic subsample: at most FIT_ROWS_PER_GROUP per (source, chip, category, operand width), evenly spaced in
# id order (the 2,672 vidur GEMMs would otherwise dominate the fit and the run time); every row of the held-out
# source is scored.
FIT_ROWS_PER_GROUP = 30


@dataclass(slots=True)
class HeldOutSource:
    source: str
    constants: Constants
    errors: dict[str, list[float]] = field(default_factory=dict)  # category -> |relative error| per scored row
    by_chip: dict[str, list[float]] = field(default_factory=dict)  # chip -> |relative error| per scored row
    signed: dict[str, list[float]] = field(default_factory=dict)  # category -> relative error per scored row
    by_row: dict[str, float] = field(default_factory=dict)  # row id -> its relative error (predicted - measured)


def fit_eligible(row: MeasuredRow) -> bool:
    """Rows that measure what a constant is defined as. DRAM pair: STREAM-type kernels (a `kernel` named in the
    shape: BabelStream, accelscope bench), not quantize/cast kernels whose own arithmetic and scale writes are part
    of their time (TA's MXFP8 casts). Matrix efficiencies: vendor-library or production GEMMs, not teaching
    kernels (ThunderKittens' educational levels, "useful as lower-bound anchors" per the data's README), and not
    rows whose time includes other kernels than GEMMs (torchao's MXFP8 forward+backward with its dynamic casts:
    measure/rows_gemm.only_gemms). Never the shipped external checks (dataset.external_sources): they stay blind."""
    from .dataset import external_sources, source_of

    if source_of(row) in external_sources():
        return False
    if row.category in DRAM_CATEGORIES:
        return "kernel" in row.shape
    if row.category in MATRIX_CATEGORIES:
        return "educational" not in row.op.lower() and rows_gemm.only_gemms(row)
    return True


def _subsample(rows: Sequence[MeasuredRow], per_group: int) -> list[MeasuredRow]:
    from .dataset import source_of

    groups: dict[tuple[str, str | None, str, bool], list[MeasuredRow]] = {}
    for row in rows:
        key = (source_of(row), hardware_id(row.hardware), row.category, narrow_operands(matrix_operands(row)))
        groups.setdefault(key, []).append(row)
    out = []
    for members in groups.values():
        members = sorted(members, key=lambda r: r.id)
        step = max(1, -(-len(members) // per_group))
        out.extend(members[::step])
    return out


def _row_errors(rows: Sequence[MeasuredRow], grid: Sequence[Constants], level: str) -> dict[str, np.ndarray]:
    """row id -> |relative error| at each grid point (NaN where the row is not predicted)."""
    specs: dict[str, HardwareSpec] = {}
    out = {}
    for row in rows:
        chip = hardware_id(row.hardware)
        if chip not in list_hardware():
            continue
        base = specs.setdefault(chip, load_hardware(chip))
        errs = np.full(len(grid), np.nan)
        for i, c in enumerate(grid):
            outcome = predict(row, level, spec=with_constants(base, c))
            if not isinstance(outcome, Prediction) or not row.value:
                break
            errs[i] = abs(outcome.value - row.value) / row.value
        if not np.isnan(errs).all():
            out[row.id] = errs
    return out


def _argmin(errors: dict[str, np.ndarray], keep: Iterable[str]) -> int | None:
    stack = [errors[i] for i in keep if i in errors]
    if not stack:
        return None
    return int(np.nanargmin(np.nanmean(np.vstack(stack), axis=0)))


class SourceFit:
    """The cross-chip constants fitted on every source but one, from per-row errors cached per grid point."""

    def __init__(self, rows: Sequence[MeasuredRow], level: str = "analytical",
                 per_group: int = FIT_ROWS_PER_GROUP) -> None:
        from .dataset import source_of

        self.level = level
        fit_rows = _subsample([r for r in rows if r.category in DRAM_CATEGORIES + MATRIX_CATEGORIES
                               and fit_eligible(r)], per_group)
        self.source = {r.id: source_of(r) for r in fit_rows}
        self.dram_grid = [Constants(e, w, 1.0, 1.0) for e in DRAM_EFFICIENCY_GRID for w in DRAM_WRITE_COST_GRID]
        self.dram_err = _row_errors([r for r in fit_rows if r.category in DRAM_CATEGORIES], self.dram_grid, level)
        self.gemm_rows = {narrow: [r for r in fit_rows if r.category in MATRIX_CATEGORIES
                                   and narrow_operands(matrix_operands(r)) == narrow] for narrow in (False, True)}
        self.gemm_cache: dict[tuple[float, float, bool], dict[str, np.ndarray]] = {}
        self.rows, self.per_group = rows, per_group
        self._host: HostFit | None = None

    def host_latency(self, without: str | None = None) -> float | None:
        """The host time per op fitted on the training rows of every source but `without` (measure/hostfit.py)."""
        if self._host is None:
            self._host = HostFit(self.rows, self.level, self.constants(), self.per_group)
        return self._host.latency(without)

    def constants(self, without: str | None = None, with_host: bool = False) -> Constants:
        """Fitted on all sources except `without` (None: all); a group with no rows keeps the shipped value.
        `with_host`: also the host time per op (fitted on training rows; slower)."""
        best = _argmin(self.dram_err, [i for i in self.dram_err if self.source[i] != without])
        d = self.dram_grid[best] if best is not None else Constants(DRAM_EFFICIENCY_DEFAULT, DRAM_WRITE_COST_DEFAULT,
                                                                    1.0, 1.0)
        matrix = {}
        for narrow, members in self.gemm_rows.items():
            key = (d.dram_efficiency, d.dram_write_cost, narrow)
            if key not in self.gemm_cache:
                grid = [Constants(d.dram_efficiency, d.dram_write_cost, m, m) for m in MATRIX_EFFICIENCY_GRID]
                self.gemm_cache[key] = _row_errors(members, grid, self.level)
            errs = self.gemm_cache[key]
            best = _argmin(errs, [i for i in errs if self.source[i] != without])
            fallback = MATRIX_EFFICIENCY_NARROW if narrow else MATRIX_EFFICIENCY_WIDE
            matrix[narrow] = float(MATRIX_EFFICIENCY_GRID[best]) if best is not None else fallback
        host = self.host_latency(without) if with_host else None
        return Constants(float(d.dram_efficiency), float(d.dram_write_cost), matrix[False], matrix[True], host)


def leave_one_source_out(rows: Sequence[MeasuredRow], level: str = "analytical",
                         scored: Sequence[MeasuredRow] | None = None, per_group: int = FIT_ROWS_PER_GROUP,
                         fitter: SourceFit | None = None,
                         fallback_fitter: SourceFit | None = None) -> list[HeldOutSource]:
    """For every source with rows in `scored` (default: all rows): fit the DRAM pair on the other sources' memory
    rows, then the 16- and 8-bit matrix efficiencies on their GEMM rows, and score that source's rows with them.

    `fallback_fitter` (level "sim" only: the analytical level's SourceFit): a row the sim does not lower is the
    analytical level's estimate (perf/sim/model.py, details["sim_fallback"]), so it is scored as the analytical
    level scores it, with the analytical constants fitted without the same source; the sim-fitted constants price
    only what the sim itself runs."""
    from .dataset import source_of

    scored = list(rows if scored is None else scored)
    fitter = fitter or SourceFit(rows, level, per_group)
    out = []
    with_host = host_scored(scored)
    for source in sorted({source_of(r) for r in scored}):
        constants = fitter.constants(without=source, with_host=with_host)
        fallback = (fallback_fitter.constants(without=source, with_host=with_host)
                    if fallback_fitter is not None and level == "sim" else None)
        held = HeldOutSource(source, constants)
        with _host_time(constants):
            _score_source(held, [r for r in scored if source_of(r) == source], level, fallback)
        out.append(held)
    return out


def _score_source(held: HeldOutSource, rows: Sequence[MeasuredRow], level: str,
                  fallback: Constants | None = None) -> None:
    """Score `rows` (one source's) with `held.constants`, into `held`'s errors; with `fallback` (level "sim"), the
    rows the sim does not lower with those analytical-level constants instead."""
    for row, chip, signed in relative_errors(rows, level, held.constants, fallback=fallback):
        held.errors.setdefault(row.category, []).append(abs(signed))
        held.signed.setdefault(row.category, []).append(signed)
        held.by_chip.setdefault(chip, []).append(abs(signed))
        held.by_row[row.id] = signed


def _host_time(constants: Constants) -> AbstractContextManager[None]:
    """The context that prices framework host time per op with `constants`' fitted value (none: the shipped one)."""
    return host_op_latency_default(constants.host_op_latency) if constants.host_op_latency else nullcontext()


def _fell_back(row: MeasuredRow, outcome: Prediction, spec: HardwareSpec) -> bool:
    """Whether a sim prediction is the analytical level's (the sim did not lower the row's op): the same value as
    the analytical level gives on the same spec."""
    again = predict(row, "analytical", spec=spec)
    return isinstance(again, Prediction) and again.value == outcome.value


def relative_errors(rows: Iterable[MeasuredRow], level: str, constants: Constants,
                    specs: dict[str, HardwareSpec] | None = None, fallback: Constants | None = None
                    ) -> Iterator[tuple[MeasuredRow, str, float]]:
    """Each row the model predicts on a known chip, with that chip and its signed relative error (predicted -
    measured) / measured, on the chip's spec with `constants` applied; `specs` caches those specs by chip
    across calls (a caller that re-scores the same rows keeps one spec object per chip). With `fallback` (level
    "sim"), a row the sim does not lower is priced at the analytical level with those constants instead."""
    specs = {} if specs is None else specs
    fallback_specs: dict[str, HardwareSpec] = {}
    for row in rows:
        chip = hardware_id(row.hardware)
        if chip not in list_hardware() or not row.value:
            continue
        spec = specs.setdefault(chip, with_constants(load_hardware(chip), constants))
        outcome = predict(row, level, spec=spec)
        if fallback is not None and isinstance(outcome, Prediction) and _fell_back(row, outcome, spec):
            analytical = fallback_specs.setdefault(chip, with_constants(load_hardware(chip), fallback))
            with _host_time(fallback):
                outcome = predict(row, "analytical", spec=analytical)
        if isinstance(outcome, Prediction):
            yield row, chip, (outcome.value - row.value) / row.value


def loso_markdown(results: Sequence[HeldOut | HeldOutSource], fitted_on_all: Constants) -> str:
    """Per held-out source: the constants fitted without it, its mean |error| per category and per chip, then
    pooled per category."""
    categories = [c for c in CATEGORIES if any(c in h.errors for h in results)]
    host = any(getattr(h.constants, "host_op_latency", None) for h in results)
    head = "| held-out source | DRAM eff. | write cost | matrix eff. 16/8-bit | " + ("host us/op | " if host else "") \
        + " | ".join(categories) + " | per chip |"
    lines = [head, "|" + "---|" * (5 + host + len(categories))]
    for h in results:
        cells = [f"{100 * statistics.fmean(h.errors[c]):.1f}% ({len(h.errors[c])})" if c in h.errors else "-"
                 for c in categories]
        chips = ", ".join(f"{chip} {100 * statistics.fmean(e):.1f}% ({len(e)})"
                          for chip, e in sorted(getattr(h, "by_chip", {}).items()))
        k = h.constants
        lines.append(f"| {getattr(h, 'source', getattr(h, 'chip', ''))} | {k.dram_efficiency:.2f} | "
                     f"{k.dram_write_cost:.2f} | {k.matrix_wide:.2f} / {k.matrix_narrow:.2f} | " + _host_cell(k, host)
                     + " | ".join(cells) + f" | {chips or '-'} |")
    pooled = []
    for c in categories:
        errs = [e for h in results for e in h.errors.get(c, [])]
        pooled.append(f"**{100 * statistics.fmean(errs):.1f}%** ({len(errs)})" if errs else "-")
    k = fitted_on_all
    lines.append(f"| all sources held out in turn | fit on all: {k.dram_efficiency:.2f} | {k.dram_write_cost:.2f} | "
                 f"{k.matrix_wide:.2f} / {k.matrix_narrow:.2f} | " + _host_cell(k, host) + " | ".join(pooled) + " | |")
    return "\n".join(lines)


def _host_cell(k: Constants, shown: bool) -> str:
    if not shown:
        return ""
    return f"{k.host_op_latency * 1e6:.0f} | " if k.host_op_latency else "- | "
