"""`accelscope` command line: rich tables for people, `--json` for tools, one-line errors with exit code 2."""

from __future__ import annotations

import warnings
from typing import Annotated, Any

import typer

from .errors import USER_ERRORS
from .lazy import LazyCommand, LazyRoot

app = typer.Typer(
    name="accelscope", help="Hardware/software co-design workbench for AI accelerators.",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False, cls=LazyRoot,
)

# Every sub-command, in the order `--help` lists them, with the short help it shows (tests/test_cli_startup.py
# checks each against the loaded command's own); a module loads when its command runs (cli/lazy.py).
LazyRoot.lazy = {c.name: c for c in (
    LazyCommand("hw", "hw_cmd:hw_app", "Hardware specs: list presets, show one."),
    LazyCommand("estimate", "estimate_cmd:est_app", "Estimate one operator on a chip."),
    LazyCommand("llm", "llm_cmd:llm_app", "LLM serving and training estimates.", also=("plan_cmd", "serve_cmd")),
    LazyCommand("sim", "sim_cmd:sim_app", "Cycle-level simulation: tile programs on a core model, traces, ISA studies."),
    LazyCommand("numerics", "numerics_cmd:numerics_app",
                "Low-precision formats: list them (formats), quantize numbers (quantize), accuracy vs speed per format "
                "(tradeoff), accuracy studies (study gemm|lm)."),
    LazyCommand("validate", "validate_cmd:validate_command",
                "Predict every measured row at each level and print the error per category and per source."),
    LazyCommand("calibrate", "calibrate_cmd:calibrate_command",
                "Fit named spec fields of one chip to measured rows; report held-out (cross-validated) error."),
    LazyCommand("bench", "bench_cmd:bench_command",
                "Run the microbenchmark suite on this machine and write measured rows with provenance."),
    LazyCommand("sweep", "sweep_cmd:sweep_command",
                "Sweep hardware parameters over an LLM scenario; results are stored incrementally and resume after a "
                "crash."),
    LazyCommand("sensitivity", "sensitivity_cmd:sensitivity_command",
                "Elasticities d log(metric) / d log(parameter): +1 % of a parameter gives +e % of the metric; 0 = not "
                "a limit."),
    LazyCommand("demo", "demo_cmd:demo_command",
                "Evaluate LLM serving, training and critical kernels on current and hypothetical chips; write the "
                "report."),
    LazyCommand("report", "demo_cmd:report_command",
                "Write a report for your own scenario (models x hardware x dtypes x level)."),
)}


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        print(f"accelscope {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                 help="Print the version and exit.")] = False) -> None:
    """Hardware/software co-design workbench for AI accelerators."""
    warnings.showwarning = _show_warning  # one `warning:` line each, however the app is invoked


__all__ = ["USER_ERRORS", "app", "main"]


def main(argv: list[str] | None = None) -> Any:
    """Entry point: user errors print one message and exit 2, never a traceback (cli/errors.py); spec warnings
    print one line."""
    warnings.showwarning = _show_warning
    return app(args=argv, standalone_mode=True)


def _show_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    from rich.console import Console
    from rich.markup import escape

    from ..hardware.check import SpecWarning

    label = "warning" if issubclass(category, SpecWarning) else category.__name__

    Console(stderr=True).print(f"[yellow]{label}:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


if __name__ == "__main__":
    main()
