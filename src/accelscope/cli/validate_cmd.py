"""`accelscope validate FILE|--dataset NAME [--levels ...] [--json]`."""

from __future__ import annotations

import json
from collections import Counter
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..measure import markdown_table, summarize, validate
from ..measure.validate import to_json
from .app_options import JsonOpt

console = Console()


def validate_command(
    file: Annotated[str | None, typer.Argument(help="CSV/Parquet of measured rows (accelscope schema).")] = None,
    dataset: Annotated[str | None, typer.Option(help="A named dataset instead of a file: 'dev'.")] = None,
    levels: Annotated[str, typer.Option(help="Comma-separated levels: roofline,analytical,sim")] = "roofline",
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the summary as a Markdown table.")] = False,
    plots: Annotated[str | None, typer.Option(help="Write predicted-vs-measured and error-vs-intensity figures "
                                                   "(PNG + SVG) to this folder.")] = None,
    loco: Annotated[bool, typer.Option("--loco", help="Leave one chip out: refit the cross-chip constants "
                                       "(DRAM efficiency and write cost, matrix efficiency) without each chip and "
                                       "report that chip's error with them (measure/globalfit.py).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Predict every measured row at each level and print the error per category."""
    source = dataset or file
    if source is None:
        raise ValueError("validate: give a FILE or --dataset NAME (e.g. --dataset dev)")
    wanted = [level.strip() for level in levels.split(",") if level.strip()]
    if loco:
        _print_loco(source, wanted)
        return
    try:
        results = validate(source, wanted)
    except ValueError as exc:  # a row the mappers cannot read: name the file as well as the row and field
        message = str(exc)
        raise ValueError(message if message.startswith(str(source)) else f"{source}: {message}") from None
    summary = summarize(results)
    if plots:
        from ..measure.plots import write_validation_plots

        written = write_validation_plots(results, plots)
        if not as_json:
            console.print(f"[dim]figures: {escape(', '.join(str(p) for p in written))}[/]")
    if as_json:
        print(json.dumps(to_json(results, summary), indent=2))
        return
    if markdown:
        print(markdown_table(summary))
        return
    table = Table(title=escape(f"Prediction error vs measured ({source})"), header_style="bold")
    for col in ("category", "level", "rows", "mean |err|", "median |err|", "mean signed", "worst rows"):
        table.add_column(col, justify="left" if col in ("category", "level", "worst rows") else "right")
    for c in summary:
        table.add_row(escape(c.category), escape(c.level), str(c.rows), f"{c.mean_abs:.1%}", f"{c.median_abs:.1%}",
                      f"{c.mean_signed:+.1%}", escape(", ".join(f"{i} ({e:+.0%})" for i, e in c.worst)))
    console.print(table)
    skipped = Counter(r.skip.split(":")[0] for r in results if r.skip)
    if skipped:
        console.print(f"[dim]skipped {sum(skipped.values())} row-levels: "
                      + escape("; ".join(f"{n} x {reason}" for reason, n in skipped.most_common(6))) + "[/]")


def _print_loco(source: str, levels: list[str]) -> None:
    from ..measure.dataset import load_rows
    from ..measure.globalfit import fit_constants, leave_one_chip_out, loco_markdown

    rows = load_rows(source)
    for level in levels:
        if level == "roofline":
            continue  # the roofline uses nominal peaks: nothing to fit
        print(f"### {level}: each chip predicted with constants fitted on the other chips\n")
        print(loco_markdown(leave_one_chip_out(rows, level), fit_constants(rows, level=level)) + "\n")
