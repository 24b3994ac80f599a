"""`accelscope sensitivity`: what limits a workload, as elasticities of its metrics to hardware parameters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .app_options import HwOpt, JsonOpt, LevelOpt, SetOpt, named, spec_from
from .errors import check_dtypes, check_level, refuse_given, refuse_repeats, require_positive


def sensitivity_command(
    spec_file: Annotated[str | None, typer.Argument(help="A sweep spec YAML: elasticities of its objectives around "
                                                         "its base design. Without it: a serving scenario from the "
                                                         "options below.")] = None,
    hw: HwOpt = "h100-sxm",
    sets: SetOpt = None,
    model: Annotated[str, typer.Option(help="Model preset or config.json (without SPEC_FILE).")] = "llama-3.1-70b",
    tp: Annotated[int, typer.Option(help="Tensor parallel degree.")] = 8,
    batch: Annotated[int, typer.Option(help="Concurrent sequences.")] = 64,
    input_len: Annotated[int, typer.Option(help="Prompt tokens.")] = 2048,
    output_len: Annotated[int, typer.Option(help="Generated tokens.")] = 256,
    dtype: Annotated[str, typer.Option(help="Weights and activations dtype.")] = "bf16",
    level: LevelOpt = "analytical",
    metric: Annotated[str, typer.Option(help="Metric of the serving scenario (without SPEC_FILE).")] = "tokens_per_s",
    param: Annotated[list[str] | None, typer.Option("--param", help="Dotted spec path to vary (repeatable; "
                                                                     "default: the usual co-design levers).")] = None,
    step: Annotated[float, typer.Option(help="Relative step of the central difference.", min=1e-4, max=0.5)] = 0.1,
    plot: Annotated[str | None, typer.Option(help="Write tornado charts into this folder (PNG + figures.html).")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Elasticities d log(metric) / d log(parameter): +1 % of a parameter gives +e % of the metric; 0 = not a limit."""
    from ..explore.sensitivity import sweep_elasticities
    from ..explore.space import SweepSpec, load_sweep

    if spec_file is not None:
        refuse_given(("model", "tp", "batch", "input_len", "output_len", "dtype", "metric", "level"),
                     "sets the serving scenario, which SPEC_FILE replaces; edit the spec's workload and level")
        spec, base = load_sweep(spec_file), None
        if sets:
            raise ValueError("sensitivity: --set applies to the serving scenario; with a SPEC_FILE edit its base")
    else:
        from ..explore.space import KIND_METRICS

        require_positive(tp=tp, batch=batch, input_len=input_len, output_len=output_len)
        check_dtypes(dtype=dtype)
        check_level(level)
        if metric not in KIND_METRICS["infer"]:
            raise ValueError(f"sensitivity --metric: {metric!r} is not a serving metric; use one of "
                             f"{', '.join(KIND_METRICS['infer'])} (or a sweep spec for other workloads)")
        spec = SweepSpec.model_validate({
            "base": hw, "level": level, "objectives": [f"max {metric}"],
            "workload": {"kind": "infer", "model": model, "tp": tp, "batch": batch, "input_len": input_len,
                         "output_len": output_len, "dtype": dtype, "kv_dtype": dtype}})
        base = spec_from(hw, sets)
    refuse_repeats("--param", param or [])
    if param:  # named under the option, before the base design is evaluated
        from ..explore.sensitivity import check_parameters
        from ..hardware import load_hardware

        check_parameters(base if base is not None else load_hardware(spec.base), param, option="--param")
    values = sweep_elasticities(spec, parameters=param, step=step, base=base)
    if plot:
        from ..report.sweep_figures import plotly_tornado, png_tornado, write_html

        out = Path(plot)
        out.mkdir(parents=True, exist_ok=True)
        paths = [png_tornado(v, m, out / f"tornado_{m.replace('.', '_')}.png") for m, v in values.items() if v]
        write_html([plotly_tornado(v, m) for m, v in values.items() if v], "sensitivity", out / "figures.html")
    if as_json:
        record = {"base": spec.base, "level": spec.level, "step": step, "elasticity": values}
        print(json.dumps(named(record, base) if base is not None else record, indent=2))
        return
    console = Console()
    for name, table_values in values.items():
        table = Table(title=escape(f"elasticity of {name} on {base.label if base is not None else spec.base} ({spec.level})"),
                      header_style="bold")
        table.add_column("parameter")
        table.add_column("elasticity", justify="right")
        table.add_column("meaning")
        for path, value in sorted(table_values.items(), key=lambda kv: -abs(kv[1])):
            table.add_row(escape(path), f"{value:+.3f}", _meaning(value))
        console.print(table)
    if plot:
        console.print(escape(f"wrote {', '.join(str(p) for p in paths)} and {Path(plot) / 'figures.html'}"))


def _meaning(value: float) -> str:
    if abs(value) < 0.02:
        return "not a limit here"
    return f"+10 % → {value * 10:+.1f} %"
