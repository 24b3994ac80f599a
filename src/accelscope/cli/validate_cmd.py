"""`accelscope validate [FILE|FOLDER|DATASET ...] [--dataset NAME] [--levels ...] [--category ...] [--source ...]
[--loso|--loco] [--markdown|--json]`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .app_options import JsonOpt
from .errors import check_level, refuse_repeats

if TYPE_CHECKING:  # the fitting modules load numpy and the datasets: imported where a command needs them
    from ..measure.dataset import MeasuredRow
    from ..measure.globalfit import SourceFit

console = Console()


def _split(text: str | None, option: str = "") -> list[str] | None:
    """A comma-separated filter; None when not given. Given but naming nothing ('', ' , ') is refused: it would
    otherwise read as no filter at all."""
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise ValueError(f"{option}: names nothing (got {text!r}); give one or more, comma-separated, or leave the "
                         "option out for all")
    refuse_repeats(option, names)
    return names


def validate_command(
    files: Annotated[list[str] | None, typer.Argument(
        help="CSV/Parquet files, folders of them, or dataset names (dev, more, all, external), in the accelscope schema.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Named datasets, comma-separated: dev, more, all, external.")] = None,
    levels: Annotated[str, typer.Option(help="Comma-separated levels: roofline,analytical,sim")] = "roofline",
    category: Annotated[str | None, typer.Option(help="Only these categories (comma-separated).")] = None,
    source: Annotated[str | None, typer.Option(help="Only these sources: id prefixes, comma-separated (VP,CU).")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the tables as Markdown: per category, per "
                                           "source, per (source, chip), unmapped rows by reason.")] = False,
    plots: Annotated[str | None, typer.Option(help="Write predicted-vs-measured and error-vs-intensity figures "
                                                   "(PNG + SVG) to this folder.")] = None,
    loco: Annotated[bool, typer.Option("--loco", help="Leave one chip out: refit the cross-chip constants "
                                       "(DRAM efficiency and write cost, matrix efficiency) without each chip and "
                                       "report that chip's error with them (measure/globalfit.py).")] = False,
    loso: Annotated[bool, typer.Option("--loso", help="Leave one source out: refit every cross-chip constant "
                                       "without the source (id prefix) it is scored on; per-source held-out table "
                                       "(measure/globalfit.py).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Predict every measured row at each level and print the error per category and per source."""
    from ..measure.validate import SIGN_NOTE, full_markdown, summarize, to_json, unmapped, validate

    sources_in = list(files or []) + (_split(dataset, "--dataset") or [])
    if not sources_in:
        raise ValueError("validate: give FILEs, FOLDERs or dataset names (dev, more, all, external), or --dataset NAME")
    label = ", ".join(sources_in)
    wanted = _split(levels, "--levels") or []  # '' read as the default roofline level
    for level in wanted:
        check_level(level, "--levels")
    categories, sources = _split(category, "--category"), _split(source, "--source")
    if loco or loso:
        _check_held_out(wanted, loco, loso)
        _print_held_out(sources_in, wanted, categories, sources, loso, as_json)
        return
    try:
        results = validate(sources_in, wanted, categories=categories, sources=sources)
    except ValueError as exc:  # a row the mappers cannot read: name the file as well as the row and field
        message = str(exc)
        known = any(message.startswith(s) for s in sources_in) or "/" in message.split(":")[0]
        raise ValueError(message if known or message.startswith("--") else f"{label}: {message}") from None
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
        print(full_markdown(results))
        return
    for by, title in (("category", "category"), ("source", "source"), ("source_chip", "source / chip")):
        table = Table(title=escape(f"Prediction error vs measured per {title} ({label})"), header_style="bold",
                      caption=SIGN_NOTE, caption_justify="left")
        for col in (title, "level", "rows", "mean |err|", "median |err|", "mean signed", "worst rows"):
            table.add_column(col, justify="left" if col in (title, "level", "worst rows") else "right")
        for c in summarize(results, by):
            table.add_row(escape(c.category), escape(c.level), str(c.rows), f"{c.mean_abs:.1%}", f"{c.median_abs:.1%}",
                          f"{c.mean_signed:+.1%}", escape(", ".join(f"{i} ({e:+.0%})" for i, e in c.worst)))
        console.print(table)
    for level, groups in unmapped(results).items():
        if groups:
            total = sum(len(ids) for _, ids in groups)
            console.print(f"[dim]{level}: {total} rows not mapped:[/]")
            for reason, ids in groups[:12]:
                more = f" ... (+{len(ids) - 5})" if len(ids) > 5 else ""
                console.print(f"[dim]  {len(ids)} x {escape(reason)} \\[{escape(', '.join(ids[:5]))}{more}][/]")
            if len(groups) > 12:
                console.print(f"[dim]  ... {len(groups) - 12} more reasons (--json or --markdown lists all)[/]")


def _check_held_out(levels: list[str], loco: bool, loso: bool) -> None:
    """Both flags, or only the roofline (which fits nothing), printed nothing and exited 0."""
    if loco and loso:
        raise ValueError("--loso / --loco: choose one (leave one source out, or leave one chip out)")
    if not any(level != "roofline" for level in levels):
        flag = "--loso" if loso else "--loco"
        raise ValueError(f"{flag}: the roofline level fits no constants, so nothing is held out; add --levels "
                         "analytical (or sim)")


def _print_held_out(sources_in: list[str], levels: list[str], categories: list[str] | None,
                    sources: list[str] | None, loso: bool, as_json: bool = False) -> None:
    from ..measure.dataset import load_rows
    from ..measure.globalfit import (
        fit_constants,
        leave_one_chip_out,
        leave_one_source_out,
        loco_markdown,
        loso_markdown,
    )
    from ..measure.hostfit import host_scored
    from ..measure.validate import select

    rows = load_rows(sources_in)
    scored = select(rows, categories, sources)
    if as_json:
        print(json.dumps(_held_out_json(rows, scored, levels, loso), indent=2))
        return
    fitters: dict[str, SourceFit] = {}
    for level in levels:
        if level == "roofline":
            continue  # the roofline uses nominal peaks: nothing to fit
        if loso:
            print(f"### {level}: each source predicted with constants fitted on the other sources\n")
            fitter = _source_fit(fitters, rows, level)
            held = leave_one_source_out(rows, level, scored=scored, fitter=fitter,
                                        fallback_fitter=_source_fit(fitters, rows, "analytical") if level == "sim"
                                        else None)
            print(loso_markdown(held, fitter.constants(with_host=host_scored(scored))) + "\n")
        else:
            print(f"### {level}: each chip predicted with constants fitted on the other chips\n")
            print(loco_markdown(leave_one_chip_out(scored, level), fit_constants(scored, level=level)) + "\n")


def _source_fit(fitters: dict[str, SourceFit], rows: list[MeasuredRow], level: str) -> SourceFit:
    """The level's SourceFit, built once per command (the sim level's scoring also needs the analytical one)."""
    from ..measure.globalfit import SourceFit

    if level not in fitters:
        fitters[level] = SourceFit(rows, level)
    return fitters[level]


def _held_out_json(rows: list, scored: list, levels: list[str], loso: bool) -> dict:
    """Per level: each held-out source (or chip), the constants fitted without it, and its errors per category."""
    import statistics
    from dataclasses import asdict

    from ..measure.globalfit import fit_constants, leave_one_chip_out, leave_one_source_out
    from ..measure.hostfit import host_scored

    out: dict = {}
    fitters: dict[str, SourceFit] = {}
    for level in (lv for lv in levels if lv != "roofline"):
        if loso:
            fitter = _source_fit(fitters, rows, level)
            held: list = leave_one_source_out(rows, level, scored=scored, fitter=fitter,
                                              fallback_fitter=_source_fit(fitters, rows, "analytical")
                                              if level == "sim" else None)
            on_all = fitter.constants(with_host=host_scored(scored))
        else:
            held, on_all = leave_one_chip_out(scored, level), fit_constants(scored, level=level)
        out[level] = {
            "fitted_on_all": asdict(on_all),
            "held_out": [{"held_out": getattr(h, "source", getattr(h, "chip", "")), "constants": asdict(h.constants),
                          "mean_abs_error": {c: statistics.fmean(e) for c, e in h.errors.items()},
                          "rows": {c: len(e) for c, e in h.errors.items()},
                          "mean_abs_error_by_chip": {c: statistics.fmean(e)
                                                     for c, e in getattr(h, "by_chip", {}).items()},
                          # each scored row's relative error (predicted - measured) / measured with these
                          # constants (leave one source out only): what the per-category means are made of
                          **({"row_errors": h.by_row} if loso else {})}
                         for h in held],
        }
    return out
