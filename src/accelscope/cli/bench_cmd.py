"""`accelscope bench --device cpu [--quick] --out FILE`."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import check_output_file

console = Console()


def bench_command(
    out: Annotated[str, typer.Option("--out", help="Where to write the measured rows (.csv or .parquet).")],
    device: Annotated[str, typer.Option(help="cpu (torch + numpy) or cuda.")] = "cpu",
    quick: Annotated[bool, typer.Option("--quick/--full", help="Quick suite: under a minute on a CPU.")] = True,
    collectives: Annotated[bool | None, typer.Option(
        "--collectives/--no-collectives", help="NCCL collectives across the local GPUs (default when there are two "
        "or more), or gloo across two CPU processes.")] = None,
) -> None:
    """Run the microbenchmark suite on this machine and write measured rows with provenance."""
    from ..hardware.display import plain_number
    from ..measure import write_rows
    from ..measure.bench import run_suite

    if device not in ("cpu", "cuda"):
        raise ValueError(f"--device: expected cpu or cuda (got {device!r})")
    check_output_file("--out", out, (".csv", ".parquet"))  # before the suite's minute, not after it
    start = time.perf_counter()
    rows = run_suite(device, quick=quick, collectives=collectives)
    path = write_rows(rows, out)
    table = Table(title=f"{len(rows)} measurements on {rows[0].device if rows else 'this CPU'}", header_style="bold")
    for col in ("id", "op", "dtype", "shape", "value"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for row in rows:
        table.add_row(escape(row.id), row.op, row.dtype, ", ".join(f"{k}={v}" for k, v in row.shape.items()),
                      f"{plain_number(row.value)} {row.unit}")
    console.print(table)
    console.print(escape(f"wrote {path} in {time.perf_counter() - start:.1f} s; next: accelscope validate {path}"))

