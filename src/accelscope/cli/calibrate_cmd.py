"""`accelscope calibrate --hw ID (FILE | --dataset NAME) [--fields ...] [--out overlay.yaml] [--json]`."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..measure import load_rows
from ..measure.calibrate import calibrate
from .app_options import JsonOpt

console = Console()


def calibrate_command(
    hw: Annotated[str, typer.Option("--hw", help="Preset id of the chip to calibrate.")],
    file: Annotated[str | None, typer.Argument(help="Measured rows (CSV/Parquet).")] = None,
    dataset: Annotated[str | None, typer.Option(help="A named dataset instead of a file: 'dev'.")] = None,
    fields: Annotated[str | None, typer.Option(help="Comma-separated spec fields to fit (default: clock under "
                                                    "load, memory and link efficiency, link and launch latency).")] = None,
    level: Annotated[str, typer.Option(help="Model level to calibrate.")] = "analytical",
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    out: Annotated[str | None, typer.Option(help="Write the calibrated overlay spec here (YAML).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit named spec fields of one chip to measured rows; report held-out (cross-validated) error."""
    source = dataset or file
    if source is None:
        raise ValueError("calibrate: give a FILE or --dataset NAME (e.g. --dataset dev)")
    if folds < 2:
        raise ValueError(f"--folds: cross-validation needs at least 2 folds (got {folds})")
    chosen = [f.strip() for f in fields.split(",")] if fields else None
    result = calibrate(load_rows(source), hw, chosen, level=level, folds=folds)
    if out:
        result.write(out, command="accelscope " + " ".join(sys.argv[1:]))
    if as_json:
        print(json.dumps(result.overlay(), indent=2))
        return
    table = Table(title=escape(f"Calibration of {result.hw} on {len(result.rows)} rows ({level} level)"),
                  header_style="bold")
    table.add_column("field")
    table.add_column("fitted value", justify="right")
    for path, value in result.overrides.items():
        table.add_row(escape(path), f"{value:.4g}")
    console.print(table)
    console.print(f"mean |log error|: before {result.baseline_error:.3f}, fitted (train) {result.train_error:.3f}, "
                  f"held-out ({result.folds}-fold CV) [bold]{result.cv_error:.3f}[/]")
    if out:
        console.print(escape(f"overlay written to {out} (use it as --hw {out})"))
