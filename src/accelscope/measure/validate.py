"""Predict every measured row at every level and summarise the error per category.

Error of a row = (predicted - measured) / measured, in the row's own metric. For a time, positive means the
model is too slow; for a rate (TFLOP/s, GB/s, tokens/s), positive means the model is too fast.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dataset import CATEGORIES, MeasuredRow, load_rows
from .predict import Prediction, Skip, predict

# printed under every error table (CLI, Markdown): what the sign of a signed error means
SIGN_NOTE = ("signed error = (predicted - measured) / measured in the row's own metric: + = predicted higher than "
             "measured, i.e. the model is too slow for a time and too fast for a rate (TFLOP/s, GB/s, tokens/s); "
             "- = the opposite")


@dataclass(frozen=True, slots=True)
class RowResult:
    row: MeasuredRow
    level: str
    predicted: float | None
    bound: str = ""
    skip: str | None = None

    @property
    def time_ratio(self) -> float | None:
        """Predicted time / measured time (> 1: the model is too slow), whatever the row's metric."""
        if self.predicted is None or self.predicted <= 0 or self.row.value <= 0:
            return None
        ratio = self.predicted / self.row.value
        return 1 / ratio if "/s" in self.row.unit else ratio

    @property
    def error(self) -> float | None:
        if self.predicted is None or self.row.value == 0:
            return None
        return (self.predicted - self.row.value) / self.row.value


@dataclass(frozen=True, slots=True)
class CategoryError:
    category: str
    level: str
    rows: int
    mean_abs: float
    median_abs: float
    mean_signed: float
    worst: list[tuple[str, float]] = field(default_factory=list)


def validate(source: str | Path | list[MeasuredRow], levels: list[str]) -> list[RowResult]:
    rows = source if isinstance(source, list) else load_rows(source)
    results = []
    for level in levels:
        for row in rows:
            outcome = predict(row, level)
            if isinstance(outcome, Skip):
                results.append(RowResult(row, level, None, skip=outcome.reason))
            else:
                assert isinstance(outcome, Prediction)
                results.append(RowResult(row, level, outcome.value, bound=outcome.bound))
    return results


def summarize(results: list[RowResult]) -> list[CategoryError]:
    table = []
    levels = list(dict.fromkeys(r.level for r in results))
    for level in levels:
        for category in CATEGORIES:
            scored = [r for r in results if r.level == level and r.row.category == category and r.error is not None]
            if not scored:
                continue
            errors = [abs(r.error) for r in scored]  # type: ignore[arg-type]
            worst = sorted(scored, key=lambda r: -abs(r.error))[:3]  # type: ignore[arg-type]
            table.append(CategoryError(
                category=category, level=level, rows=len(scored), mean_abs=statistics.fmean(errors),
                median_abs=statistics.median(errors), mean_signed=statistics.fmean(r.error for r in scored),  # type: ignore[misc]
                worst=[(r.row.id, r.error) for r in worst],  # type: ignore[misc]
            ))
    return table


def to_json(results: list[RowResult], summary: list[CategoryError]) -> dict[str, Any]:
    return {
        "error_definition": SIGN_NOTE,
        "summary": [{"category": c.category, "level": c.level, "rows": c.rows, "mean_abs_error": c.mean_abs,
                     "median_abs_error": c.median_abs, "mean_signed_error": c.mean_signed,
                     "worst": [{"id": i, "error": e} for i, e in c.worst]} for c in summary],
        "rows": [{"id": r.row.id, "level": r.level, "category": r.row.category, "hardware": r.row.hardware,
                  "metric": r.row.metric, "unit": r.row.unit, "measured": r.row.value, "predicted": r.predicted,
                  "error": r.error, "bound": r.bound, "skipped": r.skip} for r in results],
    }


def markdown_table(summary: list[CategoryError]) -> str:
    lines = ["| category | level | rows | mean abs error | median abs error | mean signed | worst rows |",
             "|---|---|---|---|---|---|---|"]
    for c in summary:
        worst = ", ".join(f"{i} ({e:+.0%})" for i, e in c.worst)
        lines.append(f"| {c.category} | {c.level} | {c.rows} | {c.mean_abs:.1%} | {c.median_abs:.1%} | "
                     f"{c.mean_signed:+.1%} | {worst} |")
    return "\n".join([*lines, "", f"*{SIGN_NOTE}.*"])
