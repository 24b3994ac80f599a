"""Predict every measured row at every level and summarise the error per category.

Error of a row = (predicted - measured) / measured, in the row's own metric. For a time, positive means the
model is too slow; for a rate (TFLOP/s, GB/s, tokens/s), positive means the model is too fast.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dataset import CATEGORIES, MeasuredRow, load_rows, source_of
from .predict import Prediction, Skip, hardware_id, predict


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
    category: str  # the group: a category, a source (id prefix) or "source / chip"
    level: str
    rows: int
    mean_abs: float
    median_abs: float
    mean_signed: float
    worst: list[tuple[str, float]] = field(default_factory=list)


def chip_of(row: MeasuredRow) -> str:
    """The preset a row's hardware maps to (its own text when none does)."""
    return hardware_id(row.hardware) or row.hardware.split("(")[0].strip()


GROUPINGS: dict[str, Callable[[MeasuredRow], str]] = {
    "category": lambda r: r.category,
    "source": source_of,
    "source_chip": lambda r: f"{source_of(r)} / {chip_of(r)}",
    "source_category": lambda r: f"{source_of(r)} / {r.category}",
}


def select(rows: list[MeasuredRow], categories: Iterable[str] | None = None,
           sources: Iterable[str] | None = None) -> list[MeasuredRow]:
    """Rows of the given categories and sources (id prefixes); None keeps all. Unknown names are an error."""
    wanted_c = {c.strip() for c in categories} if categories else None
    wanted_s = {s.strip().upper() for s in sources} if sources else None
    if wanted_c and (unknown := wanted_c - set(CATEGORIES)):
        raise ValueError(f"--category: unknown {', '.join(sorted(unknown))}; choose from {', '.join(CATEGORIES)}")
    if wanted_s and (unknown := wanted_s - {source_of(r) for r in rows}):
        known = ", ".join(sorted({source_of(r) for r in rows}))
        raise ValueError(f"--source: no rows with id prefix {', '.join(sorted(unknown))}; the data has {known}")
    return [r for r in rows if (wanted_c is None or r.category in wanted_c)
            and (wanted_s is None or source_of(r) in wanted_s)]


def validate(source: str | Path | list[MeasuredRow] | list[str | Path], levels: list[str],
             categories: Iterable[str] | None = None, sources: Iterable[str] | None = None) -> list[RowResult]:
    if isinstance(source, list) and source and isinstance(source[0], MeasuredRow):
        rows = list(source)  # type: ignore[arg-type]
    else:
        rows = load_rows(source)  # type: ignore[arg-type]
    rows = select(rows, categories, sources)
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


def summarize(results: list[RowResult], by: str = "category") -> list[CategoryError]:
    """Error per group (`by`: category, source, source_chip, source_category) and level, groups in a stable
    order (categories as listed in CATEGORIES, others by name)."""
    key = GROUPINGS[by]
    table = []
    levels = list(dict.fromkeys(r.level for r in results))
    present = {key(r.row) for r in results}
    order = [c for c in CATEGORIES if c in present] if by == "category" else sorted(present)
    for level in levels:
        for group in order:
            scored = [r for r in results if r.level == level and key(r.row) == group and r.error is not None]
            if not scored:
                continue
            errors = [abs(r.error) for r in scored]  # type: ignore[arg-type]
            worst = sorted(scored, key=lambda r: -abs(r.error))[:3]  # type: ignore[arg-type]
            table.append(CategoryError(
                category=group, level=level, rows=len(scored), mean_abs=statistics.fmean(errors),
                median_abs=statistics.median(errors), mean_signed=statistics.fmean(r.error for r in scored),  # type: ignore[misc]
                worst=[(r.row.id, r.error) for r in worst],  # type: ignore[misc]
            ))
    return table


def skip_reason(reason: str) -> str:
    """A skip reason as a group key: the per-row detail after 'does not fit:' is dropped."""
    return reason.split(":", 1)[0] if reason.startswith("does not fit") else reason


def unmapped(results: list[RowResult]) -> dict[str, list[tuple[str, list[str]]]]:
    """level -> [(reason, row ids)], most frequent reason first."""
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for level in dict.fromkeys(r.level for r in results):
        groups: dict[str, list[str]] = {}
        for r in results:
            if r.level == level and r.skip:
                groups.setdefault(skip_reason(r.skip), []).append(r.row.id)
        out[level] = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return out


def _summary_json(summary: list[CategoryError], name: str = "category") -> list[dict[str, Any]]:
    return [{name: c.category, "level": c.level, "rows": c.rows, "mean_abs_error": c.mean_abs,
             "median_abs_error": c.median_abs, "mean_signed_error": c.mean_signed,
             "worst": [{"id": i, "error": e} for i, e in c.worst]} for c in summary]


def to_json(results: list[RowResult], summary: list[CategoryError]) -> dict[str, Any]:
    return {
        "summary": _summary_json(summary),
        "by_source": _summary_json(summarize(results, "source"), "source"),
        "by_source_chip": _summary_json(summarize(results, "source_chip"), "source_chip"),
        "unmapped": {level: [{"reason": reason, "count": len(ids), "ids": ids} for reason, ids in groups]
                     for level, groups in unmapped(results).items()},
        "rows": [{"id": r.row.id, "source": source_of(r.row), "level": r.level, "category": r.row.category,
                  "hardware": r.row.hardware, "metric": r.row.metric, "unit": r.row.unit, "measured": r.row.value,
                  "predicted": r.predicted, "error": r.error, "bound": r.bound, "skipped": r.skip}
                 for r in results],
    }


def markdown_table(summary: list[CategoryError], header: str = "category") -> str:
    lines = [f"| {header} | level | rows | mean abs error | median abs error | mean signed | worst rows |",
             "|---|---|---|---|---|---|---|"]
    for c in summary:
        worst = ", ".join(f"{i} ({e:+.0%})" for i, e in c.worst)
        lines.append(f"| {c.category} | {c.level} | {c.rows} | {c.mean_abs:.1%} | {c.median_abs:.1%} | "
                     f"{c.mean_signed:+.1%} | {worst} |")
    return "\n".join(lines)


def unmapped_markdown(results: list[RowResult], max_ids: int = 8) -> str:
    """Unmapped rows per level, grouped by reason: count and (the first `max_ids`) ids."""
    lines = ["| level | reason | rows | ids |", "|---|---|---|---|"]
    for level, groups in unmapped(results).items():
        for reason, ids in groups:
            shown = ", ".join(ids[:max_ids]) + (f", ... (+{len(ids) - max_ids})" if len(ids) > max_ids else "")
            lines.append(f"| {level} | {reason.replace('|', '/')} | {len(ids)} | {shown} |")
    return "\n".join(lines)


def full_markdown(results: list[RowResult]) -> str:
    """Per category, per source, per (source, chip), then the unmapped rows by reason."""
    parts = ["### Per category", markdown_table(summarize(results, "category")),
             "### Per source (id prefix)", markdown_table(summarize(results, "source"), "source"),
             "### Per source and chip", markdown_table(summarize(results, "source_chip"), "source / chip"),
             "### Unmapped rows by reason", unmapped_markdown(results)]
    return "\n\n".join(parts)
