"""`accelscope demo --out DIR`: the main job, a report a hardware vendor can read."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape


def demo_command(
    out: Annotated[str, typer.Option("--out", help="Folder for index.html, figures/ and results.json.")] = "report",
) -> None:
    """Evaluate LLM serving, training and critical kernels on current and hypothetical chips; write the report."""
    from ..report import write_demo_report

    start = time.perf_counter()
    path, results = write_demo_report(out)
    console = Console()
    console.print(f"evaluated {len(results.chips)} chips, {len(results.kernels)} kernel estimates, "
                  f"{len(results.serving)} serving and {len(results.training)} training scenarios "
                  f"in {time.perf_counter() - start:.1f} s")
    console.print(f"report: [bold]{escape(str(path.resolve()))}[/]")


def report_command(
    scenario: Annotated[str, typer.Argument(help="Scenario YAML: title, hardware, level, serving, training, "
                                                 "kernels, elasticity_hw, tradeoff_hw, validation.")],
    out: Annotated[str, typer.Option("--out", help="Folder for index.html, figures/ and results.json.")] = "report",
) -> None:
    """Write a report for your own scenario (models x hardware x dtypes x level)."""
    from ..report import write_report
    from ..report.scenario import load_scenario

    spec = load_scenario(scenario)
    start = time.perf_counter()
    path, results = write_report(spec, out)
    Console().print(f"evaluated {len(results.chips)} chips in {time.perf_counter() - start:.1f} s; "
                    f"report: [bold]{escape(str(path.resolve()))}[/]")
