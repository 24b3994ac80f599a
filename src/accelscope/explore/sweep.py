"""Run a sweep into a folder, incrementally and resumably, and extract its Pareto front.

Store: DIR/spec.json (the validated spec; a re-run with a different spec is refused) and DIR/results/part-*.parquet,
one file per finished chunk of points, written atomically (temporary name, then rename). A re-run after a crash
or `kill -9` reads the parts, skips the points they hold and evaluates the rest; the final table is the same as an
uninterrupted run. A point that fails (an invalid spec value, a model that does not fit) is recorded with its
error and the sweep goes on.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..hardware import SpecError, load_hardware
from ..llm import infer, train
from ..perf import estimate
from .space import SweepSpec, _number

CHUNK = 64  # points per Parquet part: small enough that a crash loses little work


@dataclass(frozen=True, slots=True)
class SweepSummary:
    points: int
    evaluated: int
    resumed: int
    failed: int
    seconds: float
    out: str

    def to_dict(self) -> dict[str, Any]:
        return {"points": self.points, "evaluated": self.evaluated, "resumed": self.resumed, "failed": self.failed,
                "seconds": self.seconds, "out": self.out}


def evaluate_point(spec: SweepSpec, index: int, point: dict[str, Any], base: Any = None) -> dict[str, Any]:
    """One design point: every workload's metrics, the physical model if asked, constraints, what limits it.

    A failure (an invalid spec value, a model that does not fit) is recorded in `error` and the point marked
    infeasible; the other workloads of the point are still evaluated. `base` replaces the spec's base chip."""
    record: dict[str, Any] = {"point": index, **{f"axis:{k}": _si(v) for k, v in point.items()}}
    errors: list[str] = []
    try:
        hw = load_hardware(base if base is not None else spec.base).with_overrides(point)
    except (SpecError, ValueError) as exc:
        return {**record, "feasible": False, "error": f"{type(exc).__name__}: {exc}"}
    physical = _physical(hw) if spec.needs_physical() else None
    if physical is not None:
        record.update(area_mm2=physical.area_mm2, tdp_w=physical.tdp_w, cost_usd=physical.cost_usd)
    fits = True
    for name, workload in spec.named_workloads().items():
        prefix = f"{name}." if name else ""
        try:
            metrics = evaluate_workload(workload, hw, spec.level, check_memory=False)
        except (SpecError, ValueError) as exc:
            errors.append(f"{prefix}{type(exc).__name__}: {exc}")
            continue
        fits &= metrics.get("memory_headroom_bytes", 0.0) >= 0
        if physical is not None:
            metrics.update(_efficiency(workload.kind, metrics, physical))
        record.update({prefix + key: value for key, value in metrics.items()})
    constraints = spec.parsed_constraints()
    feasible = not errors and all(c.holds(record) if c.op != "fits" else fits for c in constraints)
    if not errors and not fits and any(c.op == "fits" for c in constraints):
        errors.append("DoesNotFit: memory per device exceeds capacity")
    return {**record, "feasible": feasible, "error": "; ".join(errors) or None}


def evaluate_workload(workload: Any, hw: Any, level: str, check_memory: bool = False) -> dict[str, Any]:
    """Metrics of one workload on one chip (KIND_METRICS), plus `bound` and `limit.<resource>` shares of time."""
    if workload.kind in ("op", "graph"):
        est = estimate(workload.build(), hw, level=level)
        return {"seconds": est.seconds, "flops_per_s": est.achieved_flops, "bound": est.bound,
                **_limits(est.attribution, est.seconds)}
    if workload.kind == "train":
        w = workload
        t = train(w.model, hw, tp=w.tp, pp=w.pp, dp=w.dp, cp=w.cp, ep=w.ep, vpp=w.vpp, zero=w.zero,
                  seq_len=w.seq_len, global_batch=w.global_batch, micro_batch=w.micro_batch, dtype=w.dtype,
                  recompute=w.recompute, level=level, check_memory=check_memory, attention=w.attention)
        shares = _limits(t.breakdown, t.step_s)
        return {"tokens_per_s": t.tokens_per_s_per_device * t.devices, "tokens_per_s_per_device":
                t.tokens_per_s_per_device, "step_s": t.step_s, "mfu": t.mfu,
                "memory_headroom_bytes": t.memory.headroom, "bound": max(shares, key=shares.__getitem__)
                .removeprefix("limit."), **shares}
    w = workload
    r = infer(w.model, hw, tp=w.tp, pp=w.pp, ep=w.ep, batch=w.batch, input_len=w.input_len,
              output_len=w.output_len, dtype=w.dtype, kv_dtype=w.kv_dtype, level=level, check_memory=check_memory,
              allreduce=w.allreduce, decode_attention=w.decode_attention)
    return {"tokens_per_s": r.output_tokens_per_s, "tokens_per_s_per_device": r.output_tokens_per_s / r.devices,
            "tpot_s": r.tpot_s, "ttft_s": r.ttft_s, "memory_headroom_bytes": r.memory.headroom,
            "bound": r.decode.bound, **_limits(r.decode.attribution, r.decode.seconds)}


def _limits(seconds_by_cause: Any, total: float) -> dict[str, float]:
    """What limits the workload: the share of its time charged to each cause (adds up to 1)."""
    return {f"limit.{cause}": (value / total if total > 0 else 0.0) for cause, value in seconds_by_cause.items()}


def _efficiency(kind: str, metrics: dict[str, Any], physical: Any) -> dict[str, float]:
    """Throughput of one device per W (modelled TDP), per USD (modelled build cost) and per mm² (silicon)."""
    per_device = metrics["flops_per_s"] if kind in ("op", "graph") else metrics["tokens_per_s_per_device"]
    unit = "flops_per_s" if kind in ("op", "graph") else "tokens_per_s"
    return {f"{unit}_per_w": per_device / physical.tdp_w, f"{unit}_per_usd": per_device / physical.cost_usd,
            f"{unit}_per_mm2": per_device / physical.area_mm2}


def _physical(hw: Any) -> Any:
    from .physical import estimate_physical

    return estimate_physical(hw)


def _si(value: Any) -> Any:
    """Unit strings as SI numbers, so each axis column has one type."""
    if isinstance(value, str):
        try:
            return _number(value)
        except ValueError:
            return value
    return value


def _done_points(results_dir: Path) -> set[int]:
    import pandas as pd

    done: set[int] = set()
    for part in sorted(results_dir.glob("part-*.parquet")):
        done |= set(pd.read_parquet(part, columns=["point"])["point"].tolist())
    return done


def _write_part(results_dir: Path, records: list[dict[str, Any]]) -> None:
    import pandas as pd

    _write_table(results_dir, pd.DataFrame(records))  # atomic: a killed run leaves whole parts only


def _check_spec(out: Path, spec: SweepSpec) -> None:
    saved = out / "spec.json"
    current = spec.model_dump(mode="json")
    if saved.exists():
        if json.loads(saved.read_text()) != current:
            raise ValueError(f"{out}: holds results of a different sweep spec; use another --out folder")
    else:
        saved.write_text(json.dumps(current, indent=2))


def evaluate_chunk(spec_json: dict[str, Any], indices: list[int]) -> list[dict[str, Any]]:
    """Evaluate a chunk of points by index (top-level and picklable, for process pools and Ray)."""
    spec = SweepSpec.model_validate(spec_json)
    points = spec.design_points()
    base = load_hardware(spec.base)  # once per chunk: a spec file is not re-read for every point
    return [evaluate_point(spec, i, points[i], base) for i in indices]


def run_sweep(spec: SweepSpec, out_dir: str | Path, limit: int | None = None,
              progress: Callable[[int, int], None] | None = None, workers: int = 1,
              executor: str = "local", address: str | None = None) -> SweepSummary:
    """Evaluate the points not yet in `out_dir` (at most `limit` of them this call).

    `workers` > 1 evaluates chunks in parallel: local processes (`executor="local"`) or Ray tasks
    (`executor="ray"`, on the cluster at `address` or a local Ray instance). The main process writes every
    finished chunk, so resuming works the same whatever ran the points."""
    if spec.sample == "optuna":
        from .search import run_search

        return run_search(spec, out_dir)
    start = time.perf_counter()
    if not spec.axes and not spec.coupled:
        raise ValueError("axes: a sweep needs at least one axis (or a coupled: group)")
    out = Path(out_dir)
    results_dir = out / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    _check_spec(out, spec)
    points = spec.design_points()
    done = _done_points(results_dir)
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
    for count, index in enumerate(todo, start=1):
        record = evaluate_point(spec, index, points[index], base)
        failed += record["error"] is not None
        chunk.append(record)
        if len(chunk) == CHUNK:
            _write_part(results_dir, chunk)
            chunk = []
        if progress:
            progress(count, len(todo))
    if chunk:
        _write_part(results_dir, chunk)
    return SweepSummary(points=len(points), evaluated=len(todo), resumed=len(done), failed=failed,
                        seconds=time.perf_counter() - start, out=str(out))


def _run_parallel(spec: SweepSpec, todo: list[int], results_dir: Path, progress: Callable[[int, int], None] | None,
                  workers: int, executor: str, address: str | None) -> int:
    chunks = [todo[i:i + CHUNK] for i in range(0, len(todo), CHUNK)]
    spec_json = spec.model_dump(mode="json")
    failed = done = 0
    for records in _map_chunks(spec_json, chunks, workers, executor, address):
        failed += sum(r["error"] is not None for r in records)
        _write_part(results_dir, records)
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

    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(evaluate_chunk, spec_json, chunk) for chunk in chunks]
        for future in as_completed(futures):
            yield future.result()


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
        _write_table(results_dir, table)
        if progress:
            progress(begin + len(block), len(todo))
    return failed


def _write_table(results_dir: Path, table: Any) -> None:
    number = len(list(results_dir.glob("part-*.parquet")))
    final = results_dir / f"part-{number:05d}.parquet"
    temporary = final.with_suffix(".tmp")
    table.to_parquet(temporary, index=False)
    os.replace(temporary, final)


def load_results(out_dir: str | Path) -> Any:
    """All finished points as one DataFrame, ordered by point id."""
    import pandas as pd

    parts = sorted((Path(out_dir) / "results").glob("part-*.parquet"))
    if not parts:
        raise ValueError(f"{out_dir}: no sweep results (run accelscope sweep SPEC --out {out_dir} first)")
    table = pd.concat([pd.read_parquet(p) for p in parts]).sort_values("point").reset_index(drop=True)
    return table[_column_order(list(table.columns))]


def _column_order(columns: list[str]) -> list[str]:
    """point, the axes, physical metrics, then per workload its metrics, bound and limits, feasible, error: the
    same order whatever wrote the parts."""
    from .space import METRICS, PHYSICAL_METRICS

    rank = {m: i for i, m in enumerate((*METRICS, "bound"))}

    def key(column: str) -> tuple[str, int, str]:
        prefix, _, metric = column.rpartition(".") if not column.startswith("limit.") else ("", "", column)
        if ".limit." in column:
            prefix, metric = column.split(".limit.", 1)[0], "limit." + column.split(".limit.", 1)[1]
        return prefix, rank.get(metric, len(rank)), metric

    axes = sorted(c for c in columns if c.startswith("axis:"))
    physical = [m for m in PHYSICAL_METRICS if m in columns]
    special = {"point", "error", "feasible", *axes, *physical}
    metrics = sorted((c for c in columns if c not in special), key=key)
    tail = [c for c in ("feasible", "error") if c in columns]
    return ["point", *axes, *physical, *metrics, *tail]


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
