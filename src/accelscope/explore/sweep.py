"""Run a sweep into a folder, incrementally and resumably, and extract its Pareto front.

Store: DIR/spec.json (the validated spec; a re-run with a different spec is refused) and DIR/results/part-*.parquet,
one file per finished chunk of points, written atomically (temporary name, then rename). A re-run after a crash
or `kill -9` reads the parts, skips the points they hold and evaluates the rest; the final table is the same as an
uninterrupted run. A point that fails (an invalid spec value, a model that does not fit) is recorded with its
error and the sweep goes on.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..hardware import load_hardware
from ..llm.plan import shared_plans
from .point import _si, evaluate_point, evaluate_workload
from .search import run_search
from .space import SweepSpec
from .store import SweepSummary, check_spec, done_points, load_results, write_part, write_table

__all__ = ["SweepSummary", "evaluate_chunk", "evaluate_point", "evaluate_workload", "load_results", "pareto_front",
           "run_sweep"]

CHUNK = 64  # points per Parquet part: small enough that a crash loses little work


def evaluate_chunk(spec_json: dict[str, Any], indices: list[int]) -> list[dict[str, Any]]:
    """Evaluate a chunk of points by index (top-level and picklable, for process pools and Ray)."""
    spec = SweepSpec.model_validate(spec_json)
    points = spec.design_points()
    base = load_hardware(spec.base)  # once per chunk: a spec file is not re-read for every point
    with shared_plans():  # plan: auto points that differ only in HBM capacity price each layout once
        return [evaluate_point(spec, i, points[i], base) for i in indices]


def run_sweep(spec: SweepSpec, out_dir: str | Path, limit: int | None = None,
              progress: Callable[[int, int], None] | None = None, workers: int = 1,
              executor: str = "local", address: str | None = None) -> SweepSummary:
    """Evaluate the points not yet in `out_dir` (at most `limit` of them this call).

    `workers` > 1 evaluates chunks in parallel: local processes (`executor="local"`) or Ray tasks
    (`executor="ray"`, on the cluster at `address` or a local Ray instance). The main process writes every
    finished chunk, so resuming works the same whatever ran the points."""
    if spec.sample == "optuna":
        return run_search(spec, out_dir)
    start = time.perf_counter()
    if not spec.axes and not spec.coupled:
        raise ValueError("axes: a sweep needs at least one axis (or a coupled: group)")
    out = Path(out_dir)
    results_dir = out / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    check_spec(out, spec)
    points = spec.design_points()
    done = done_points(results_dir)
    todo = [i for i in range(len(points)) if i not in done]
    if limit is not None:
        todo = todo[:limit]
    from .vectorized import supported

    if supported(spec, load_hardware(spec.base)):
        failed = _run_vectorized(spec, points, todo, results_dir, progress)
        return SweepSummary(points=len(points), evaluated=len(todo), resumed=len(done), failed=failed,
                            seconds=time.perf_counter() - start, out=str(out))
    if workers > 1 or executor == "ray":
        failed = _run_parallel(spec, todo, results_dir, progress, workers, executor, address)
        return SweepSummary(points=len(points), evaluated=len(todo), resumed=len(done), failed=failed,
                            seconds=time.perf_counter() - start, out=str(out))
    chunk: list[dict[str, Any]] = []
    failed = 0
    base = load_hardware(spec.base)
    with shared_plans():  # plan: auto points that differ only in HBM capacity price each layout once
        records = (evaluate_point(spec, index, points[index], base) for index in todo)
        for count, record in enumerate(records, start=1):
            failed, chunk = _keep(record, failed, chunk, results_dir)
            if progress:
                progress(count, len(todo))
    if chunk:
        write_part(results_dir, chunk)
    return SweepSummary(points=len(points), evaluated=len(todo), resumed=len(done), failed=failed,
                        seconds=time.perf_counter() - start, out=str(out))


def _keep(record: dict[str, Any], failed: int, chunk: list[dict[str, Any]],
          results_dir: Path) -> tuple[int, list[dict[str, Any]]]:
    """Count a failed point, add the record to the chunk and write the chunk out when it is full."""
    failed += record["error"] is not None
    chunk.append(record)
    if len(chunk) == CHUNK:
        write_part(results_dir, chunk)
        chunk = []
    return failed, chunk


def _run_parallel(spec: SweepSpec, todo: list[int], results_dir: Path, progress: Callable[[int, int], None] | None,
                  workers: int, executor: str, address: str | None) -> int:
    chunks = [todo[i:i + CHUNK] for i in range(0, len(todo), CHUNK)]
    spec_json = spec.model_dump(mode="json")
    failed = done = 0
    for records in _map_chunks(spec_json, chunks, workers, executor, address):
        failed += sum(r["error"] is not None for r in records)
        write_part(results_dir, records)
        done += len(records)
        if progress:
            progress(done, len(todo))
    return failed


def _map_chunks(spec_json: dict[str, Any], chunks: list[list[int]], workers: int, executor: str,
                address: str | None) -> Any:
    """Yield each chunk's records as it finishes."""
    if executor == "ray":
        import ray

        ray.init(address=address, num_cpus=None if address else workers, ignore_reinit_error=True,
                 include_dashboard=False, log_to_driver=False)
        remote = ray.remote(evaluate_chunk)
        pending = [remote.remote(spec_json, chunk) for chunk in chunks]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])
        return
    if executor != "local":
        raise ValueError(f"executor: expected local or ray (got {executor!r})")
    from concurrent.futures import ProcessPoolExecutor, as_completed

    on_main_thread = threading.current_thread() is threading.main_thread()
    # no more processes than chunks to run: `--workers 64` on a 6-point sweep starts one
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(chunks))), initializer=exit_with_parent,
                             initargs=(os.getpid(), on_main_thread)) as pool:
        futures = [pool.submit(evaluate_chunk, spec_json, chunk) for chunk in chunks]
        for future in as_completed(futures):
            yield future.result()


# ----- workers that die with the sweep -----------------------------------------------------------------------------
PARENT_POLL_S = 0.5  # how often a worker checks that the sweep's process is still its parent


def exit_with_parent(parent: int, death_signal: bool = True) -> None:
    """Pool initializer: the worker exits when the sweep's process dies, even by `kill -9` (which runs no cleanup
    and would leave the pool's processes evaluating points for nobody).

    On Linux the kernel kills the worker (prctl PR_SET_PDEATHSIG) when the thread that started it ends, so only when
    the pool was started on the main thread (`death_signal`); everywhere a watchdog thread also exits once the
    parent pid changes (the worker was re-parented to init or a subreaper)."""
    if death_signal and sys.platform.startswith("linux"):
        _linux_death_signal()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="sweep-parent-watchdog", daemon=True).start()


def _linux_death_signal() -> None:
    import ctypes
    from contextlib import suppress

    pr_set_pdeathsig = 1  # <linux/prctl.h>
    with suppress(OSError, AttributeError):  # no libc prctl: the watchdog thread still ends the worker
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


VECTOR_BLOCK = 250_000  # points per vectorized block (and Parquet part)


def _run_vectorized(spec: SweepSpec, points: list[dict[str, Any]], todo: list[int], results_dir: Path,
                    progress: Callable[[int, int], None] | None) -> int:
    """Roofline sweeps over supported parameters: numpy over whole blocks of points (explore/vectorized.py)."""
    import pandas as pd

    from .vectorized import evaluate_vectorized

    failed = 0
    for begin in range(0, len(todo), VECTOR_BLOCK):
        block = todo[begin:begin + VECTOR_BLOCK]
        block_points = [points[i] for i in block]
        metrics = evaluate_vectorized(spec, block_points)
        table = pd.DataFrame({"point": block})
        for name in spec.axis_paths():
            table[f"axis:{name}"] = [_si(pt[name]) for pt in block_points]
        for name, values in metrics.items():
            if name != "feasible":
                table[name] = values
        table["feasible"] = metrics["feasible"]
        table["error"] = [None if ok else "DoesNotFit: memory per device exceeds capacity" for ok in metrics["feasible"]]
        failed += int((~metrics["feasible"]).sum())
        write_table(results_dir, table)
        if progress:
            progress(begin + len(block), len(todo))
    return failed


def pareto_front(table: Any, objectives: list[str]) -> Any:
    """Feasible points no other feasible point beats on every objective ('max X' / 'min Y')."""
    feasible = table[table["feasible"]].copy()
    senses = [(o.split(" ", 1)[1], 1.0 if o.startswith("max") else -1.0) for o in objectives]
    values = feasible[[m for m, _ in senses]].to_numpy() * [s for _, s in senses]  # larger is better on every column
    keep = []
    for i in range(len(values)):
        dominated = ((values >= values[i]).all(axis=1) & (values > values[i]).any(axis=1)).any()
        keep.append(not dominated)
    return feasible[keep]
