"""Fit the framework host time per op (llm/train_host.HOST_OP_LATENCY) on the training rows of every source but one.

The host time per op is a cross-chip constant like the DRAM and matrix efficiencies (measure/globalfit.py): a
property of the eager framework path on the reference host core (DGX H100's Xeon Platinum 8480C), used for every
chip whose spec gives no `runtime.host_op_latency`, divided by its system's `runtime.host_speed`
(train_host.system_host_op_latency). It is defined on whole training steps, so it is fitted on the `llm_training` rows
(the same deterministic subsample of at most FIT_ROWS_PER_GROUP rows per source, chip and category as the other
constants), by grid search on the mean |relative error|, with the DRAM and matrix constants fitted on all sources
(they move by at most 0.01 between folds). Leave-one-source-out refits it without the source it scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..hardware import HardwareSpec
from ..llm.train_host import host_op_latency_default
from ..perf.estimate import shared_estimates
from .dataset import MeasuredRow, source_of

# seconds per op: 40 to 300 us in 10 us steps
HOST_GRID = tuple(float(x) for x in np.round(np.arange(40, 300.1, 10) * 1e-6, 9))
HOST_CATEGORIES = ("llm_training",)


class HostFit:
    """Per fitting row, its |relative error| at every HOST_GRID point; `latency(without=source)` re-aggregates."""

    def __init__(self, rows: Sequence[MeasuredRow], level: str, constants: object, per_group: int) -> None:
        from .globalfit import _subsample, fit_eligible, relative_errors

        fit_rows = _subsample([r for r in rows if r.category in HOST_CATEGORIES and fit_eligible(r)], per_group)
        self.source = {r.id: source_of(r) for r in fit_rows}
        specs: dict[str, HardwareSpec] = {}
        errors: dict[str, np.ndarray] = {}
        with shared_estimates():  # a row's kernels do not depend on the host latency: estimate them once
            for i, seconds in enumerate(HOST_GRID):
                with host_op_latency_default(seconds):
                    for row, _, signed in relative_errors(fit_rows, level, constants, specs):  # type: ignore[arg-type]
                        errors.setdefault(row.id, np.full(len(HOST_GRID), np.nan))[i] = abs(signed)
        self.errors = errors

    def latency(self, without: str | None = None) -> float | None:
        """The grid point with the least mean |relative error| over the rows of every source but `without`."""
        stack = [e for i, e in self.errors.items() if self.source[i] != without and not np.isnan(e).all()]
        if not stack:
            return None
        return HOST_GRID[int(np.nanargmin(np.nanmean(np.vstack(stack), axis=0)))]


def host_scored(rows: Sequence[MeasuredRow]) -> bool:
    """Whether any of these rows is scored with the host time (a training step)."""
    return any(r.category in HOST_CATEGORIES for r in rows)
