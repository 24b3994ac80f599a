"""`accelscope calibrate --hw ID (FILE | --dataset NAME) [--fields ...] [--out overlay.yaml] [--json]`."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .app_options import JsonOpt
from .errors import check_level, check_output_file

if TYPE_CHECKING:
    from ..measure.calibrate import CalibrationResult

console = Console()


def _fit_table(result: CalibrationResult) -> Table:
    """Each fitted field with its unit, next to the preset's value and the physical range it should be in."""
    from ..hardware import load_hardware
    from ..hardware.display import format_field
    from ..measure.calibrate import plausible_range

    spec = load_hardware(result.hw)
    table = Table(title=f"Calibration of {result.hw} on {len(result.rows)} rows ({result.level} level)",
                  header_style="bold")
    for col in ("field", "preset", "fitted", "plausible range"):
        table.add_column(col, justify="left" if col == "field" else "right")
    for path, value in result.overrides.items():
        preset = spec.model_dump()
        for part in path.split("."):
            preset = preset.get(part) if isinstance(preset, dict) else None
        span = plausible_range(spec, path)
        style = "yellow" if span and not span[0] <= value <= span[1] else ""
        table.add_row(path, "unset" if preset is None else format_field(path, preset),
                      f"[{style}]{format_field(path, value)}[/]" if style else format_field(path, value),
                      f"{format_field(path, span[0])} – {format_field(path, span[1])}" if span else "—")
    return table


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
    from ..measure import load_rows
    from ..measure.calibrate import calibrate

    source = dataset or file
    if source is None:
        raise ValueError("calibrate: give a FILE or --dataset NAME (e.g. --dataset dev)")
    check_level(level)
    if out is not None:  # written after the fit (minutes): refused before it
        check_output_file("--out", out, (".yaml", ".yml"), parents_made=False)
    if fields is not None and not fields.strip(","):  # was read as "no --fields": the default fields, fitted
        raise ValueError("--fields: empty; give comma-separated spec fields (or leave the option out)")
    if folds < 2:
        raise ValueError(f"--folds: cross-validation needs at least 2 folds (got {folds})")
    chosen = [f.strip() for f in fields.split(",")] if fields else None
    if chosen is not None:  # named under the option, before the rows are read and the fit prints its progress
        from ..hardware import load_hardware
        from ..measure.calibrate import resolve_fields

        spec = load_hardware(hw)
        try:
            resolve_fields(spec, chosen)
        except ValueError as exc:
            raise ValueError(f"--fields: {str(exc).removeprefix('calibrate: ')}") from None
    status = Console(stderr=True)
    try:
        result = calibrate(load_rows(source), hw, chosen, level=level, folds=folds,
                           progress=None if as_json else lambda line: status.print(f"[dim]calibrate: {line}[/]"))
    except ValueError as exc:  # a row the mappers cannot read ("ME-001: field 'unit': ..."): name the file too
        message = str(exc)
        if message.startswith("calibrate: only"):  # too few usable rows: in which file
            raise ValueError(f"{source}: {message.removeprefix('calibrate: ')}") from None
        if type(exc) is not ValueError or message.startswith(("calibrate:", "--", str(source))):
            raise
        raise ValueError(f"{source}: {message}") from None
    if out:
        result.write(out, command="accelscope " + " ".join(sys.argv[1:]))
    if as_json:
        print(json.dumps(result.overlay(), indent=2))
        return
    console.print(_fit_table(result))
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    console.print(f"mean |log error|: before {result.baseline_error:.3f}, fitted (train) {result.train_error:.3f}, "
                  f"held-out ({result.folds}-fold CV) [bold]{result.cv_error:.3f}[/]")
    if out:
        console.print(escape(f"overlay written to {out} (use it as --hw {out})"))
