"""`accelscope sweep SPEC --out DIR` and `accelscope sweep pareto DIR`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .errors import refuse_given, require_positive

MAX_WORKERS = 1024  # parallel workers of one sweep: a guard against a typo starting a million processes


def sweep_command(
    target: Annotated[str, typer.Argument(help="A sweep spec YAML, or 'pareto' / 'plot' followed by a results "
                                                 "folder.")],
    folder: Annotated[str | None, typer.Argument(help="With 'pareto' or 'plot': the sweep's --out folder.")] = None,
    out: Annotated[str | None, typer.Option("--out", help="Results folder (re-run to resume); with 'plot': the "
                                                          "figures folder (default FOLDER/figures).")] = None,
    sensitivity: Annotated[bool, typer.Option(help="With 'plot': add tornado charts of the objectives' "
                                                   "elasticities around the base design.")] = True,
    limit: Annotated[int | None, typer.Option(help="Evaluate at most this many new points.")] = None,
    workers: Annotated[int, typer.Option(help="Parallel workers (processes, or Ray tasks).")] = 1,
    executor: Annotated[str, typer.Option(help="local (processes) or ray.")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: start a local Ray).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Sweep hardware parameters over an LLM scenario; results are stored incrementally and resume after a crash."""
    from ..explore.space import load_sweep
    from ..explore.sweep import load_results, pareto_front, run_sweep

    if target in ("pareto", "plot"):
        if folder is None:
            raise ValueError(f"sweep {target}: give the results folder, e.g. accelscope sweep {target} sweep-70b")
        # reading a finished sweep runs nothing: options of a run (and --out for pareto) would have no effect
        refuse_given(("limit", "workers", "executor", "address"), f"sweep {target} reads a finished sweep and runs "
                     "nothing; drop this option")
        if target == "pareto":
            refuse_given(("out", "sensitivity"), "sweep pareto prints the front (--json for a file's worth); this "
                         "option is for sweep plot")
        saved = Path(folder) / "spec.json"
        if not saved.is_file():
            raise ValueError(f"{folder}: not a sweep folder (no spec.json); run accelscope sweep SPEC --out {folder}")
        spec = json.loads(saved.read_text())
        table = load_results(folder)
        _require_metrics(table, folder, spec["objectives"])
        front = pareto_front(table, spec["objectives"])
        if target == "plot":
            _plot(table, front, spec, Path(out) if out else Path(folder) / "figures", sensitivity, as_json)
            return
        if as_json:
            print(front.to_json(orient="records", indent=2))
        else:
            _print_front(table, front, spec)
        return
    if out is None:
        raise ValueError("sweep: --out DIR is required (where results are written and resumed from)")
    require_positive(workers=workers)
    if workers > MAX_WORKERS:
        raise ValueError(f"--workers: at most {MAX_WORKERS} processes or Ray tasks at a time (got {workers})")
    if limit is not None and limit < 0:
        raise ValueError(f"--limit: must be >= 0 new points (got {limit})")
    if executor not in ("local", "ray"):
        raise ValueError(f"sweep --executor: expected local or ray (got {executor!r})")
    if executor != "ray":  # the local executor ran without a word about the cluster it was given
        refuse_given(("address",), "a Ray cluster address; add --executor ray (the local executor ignores it)")

    spec = load_sweep(target)
    _check_results_folder(out)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]:.1f} points/s"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), disable=as_json) as bar:
        task = bar.add_task(escape(spec.name), total=None, rate=0.0)

        def progress(done: int, total: int) -> None:
            elapsed = bar.tasks[0].elapsed or 1e-9
            bar.update(task, completed=done, total=total, rate=done / elapsed)

        summary = run_sweep(spec, out, limit=limit, progress=progress, workers=workers, executor=executor,
                            address=address)
    if as_json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        Console().print(escape(f"{summary.evaluated} points evaluated ({summary.resumed} already done, {summary.failed} "
                        f"failed) of {summary.points} in {summary.seconds:.1f} s; results in {summary.out}/results; "
                        f"next: accelscope sweep pareto {summary.out}"))


def _plot(table: object, front: object, spec: dict, out: Path, sensitivity: bool, as_json: bool) -> None:
    from ..explore.sensitivity import sweep_elasticities
    from ..explore.space import SweepSpec
    from ..report.sweep_figures import write_sweep_figures

    elasticity = sweep_elasticities(SweepSpec.model_validate(spec)) if sensitivity else None
    paths = write_sweep_figures(table, front, spec, out, elasticity)
    if as_json:
        print(json.dumps({"figures": [str(p) for p in paths], "elasticity": elasticity}, indent=2))
    else:
        Console().print(escape("\n".join(f"wrote {p}" for p in paths)) or "no figures: the sweep needs two objectives or "
                        "two varied axes")


def _print_front(results: Any, front: Any, spec: dict) -> None:
    """The front: one column per independent axis (a coupled group once) and per objective, each in one unit
    named in its header; axes the sweep holds fixed go in the caption."""
    from ..hardware.display import (
        column_unit,
        field_dimension,
        format_field,
        format_in,
        metric_dimension,
        metric_label,
    )
    from ..report.sweep_figures import fixed_axes, independent_axes

    objectives = [o.split(" ", 1)[1] for o in spec["objectives"]]
    fixed = fixed_axes(results)
    table = Table(title=escape(f"Pareto front ({', '.join(spec['objectives'])}): {len(front)} points"), header_style="bold",
                  box=box.SIMPLE_HEAD, pad_edge=False, caption_justify="left",
                  caption="fixed: " + ", ".join(f"{p} = {format_field(p, v)}" for p, v in fixed.items()) if fixed
                  else None)
    table.add_column("point", justify="right", no_wrap=True)
    columns = []
    for label, column in [*independent_axes(results, spec), *((o, o) for o in objectives)]:
        path = column.removeprefix("axis:")
        dimension = field_dimension(path) if column.startswith("axis:") else metric_dimension(column)
        unit, factor = column_unit(front[column], dimension)
        if not column.startswith("axis:"):
            header = metric_label(column)
        elif label == path:
            header = "\n".join(path.split(".")[-2:])
        else:  # a coupled group: its name and the member whose values stand for it
            header = f"{label.split(' ')[0]}\n({'.'.join(path.split('.')[-2:])})"
        table.add_column(f"{header}\n{unit}" if unit else header, justify="right", overflow="fold")
        columns.append((column, factor))
    for _, row in front.iterrows():
        table.add_row(str(row["point"]), *(format_in(row[c], factor) if isinstance(row[c], int | float)
                                           else escape(str(row[c])) for c, factor in columns))
    Console().print(table)


def _require_metrics(table: object, folder: str, objectives: list[str]) -> None:
    """A front needs the objectives' columns: when no point succeeded they do not exist (a KeyError before)."""
    import pandas as pd

    assert isinstance(table, pd.DataFrame)
    metrics = [objective.split(" ", 1)[-1] for objective in objectives]
    if all(metric in table.columns for metric in metrics) and "feasible" in table.columns:
        return
    reasons = table["error"].dropna().astype(str) if "error" in table.columns else pd.Series(dtype=str)
    first = f"; most common reason: {reasons.value_counts().index[0][:300]}" if len(reasons) else ""
    raise ValueError(f"{folder}: none of the {len(table):,} points succeeded, so there is no front{first}; "
                     "fix the sweep spec and run it again with a new --out")


def _check_results_folder(out: str) -> None:
    """An --out that is (or lies under) a file, refused before the progress bar starts: the bar's line on stderr
    came before the error line."""
    path = Path(out)
    blocker = next((p for p in (path, *path.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ValueError(f"--out: {blocker} is a file, not a folder; give the sweep's results folder")
