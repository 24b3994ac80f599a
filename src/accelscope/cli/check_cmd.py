"""`accelscope hw check SPEC`: derived consistency checks of a spec, each printed with its numbers.

Exit status 0 whatever the checks find (a hypothetical design may break a rule on purpose); with `--strict`, 1 when
a check warns that no explanation covers (hardware/check.py EXPLAINED), so CI can gate on it. 2: the spec does not
load at all.
"""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .app_options import JsonOpt, SetOpt, named, spec_from

if TYPE_CHECKING:  # the checks load the spec models: imported where a command runs (CLI start-up)
    from ..hardware.check import Finding


def check_command(
    spec: Annotated[str, typer.Argument(help="Preset id or path to a YAML spec.")],
    sets: SetOpt = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when a check warns (for CI).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check that a spec's figures agree with each other: SRAM vs MMA rate, per-core vs chip, clocks, memory
    hierarchy, capacities, peak ratios between dtypes, units. Each check prints its numbers."""
    from ..hardware.check import SpecWarning, check_spec

    with warnings.catch_warnings():  # the table says it all
        warnings.simplefilter("ignore", SpecWarning)
        hw = spec_from(spec, sets)
    findings = check_spec(hw)
    warned = [f for f in findings if not f.ok and not f.explained]
    if as_json:
        rows = [{"check": f.check, "ok": f.ok, "message": f.message, "explained": f.explained} for f in findings]
        print(json.dumps(named({"hw": hw.id, "warnings": len(warned), "checks": rows}, hw), indent=2))
    else:
        console = Console()
        console.print(findings_table(findings, f"hw check {hw.label}"))
        console.print(f"{len(warned)} warning{'s' if len(warned) != 1 else ''}"
                      + (", exit 1 (--strict)" if warned and strict else ""), highlight=False)
    if warned and strict:
        raise typer.Exit(1)


def findings_table(findings: list[Finding], title: str) -> Table:
    table = Table(title=escape(title), header_style="bold", show_lines=False)
    table.add_column("check")
    table.add_column("result")
    table.add_column("numbers")
    for f in findings:
        status = "[green]ok[/]" if f.ok else ("[yellow]explained[/]" if f.explained else "[bold red]warn[/]")
        text = escape(f.message) + (f"\n[dim]{escape(f.explained)}[/]" if f.explained else "")
        table.add_row(f.check, status, text)
    return table


def print_warnings(console: Console, findings: list[Finding]) -> None:
    """`hw show`: the checks that warn, one line each (explained ones dimmed)."""
    for f in findings:
        if not f.ok:
            style = "dim" if f.explained else "yellow"
            note = f" ({escape(f.explained)})" if f.explained else ""
            console.print(f"[{style}]warning:[/] {escape(str(f))}{note}", highlight=False)
