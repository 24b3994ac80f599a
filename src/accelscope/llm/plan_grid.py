"""(hardware x mapping) grids for the planner: every training layout (or serving layout x batch) of a model on a
cluster, priced once, against every chip memory capacity of a hardware axis at once.

A layout's step time does not read the chip's memory capacity: `train` compares the layout's memory with the
capacity only at the end (`check_memory`). So each layout surviving the exact pruning (at the largest capacity)
is priced once by `train(check_memory=False)` (the per-point path, its building blocks memoized inside
`shared_estimates()`: perf/memo.py), and whether it fits each capacity is one numpy comparison over the
capacity axis, `memory.total <= capacity`, the same test as train's check. The best layout per capacity is a
masked argmax. `workers` > 1 prices groups of layouts in forked processes (each with its own memo).
Serving (`serve_grid`) is the same over (tp, pp, dtype, kv dtype) x a list of batch sizes with
`infer.serve_metrics` (infer's TTFT, TPOT, tokens/s and memory as the same floats, without building its graphs and
estimates) and infer's own check, `memory.total <= memory_fraction x capacity`.

Anything else about the chip (bandwidths, clocks, the scale-up domain) changes the op estimates: another spec,
another grid (`plan` per hardware point, as a sweep with `plan: auto` runs it).
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..hardware import HardwareSpec, load_hardware
from ..perf.estimate import check_level, shared_estimates
from ..workload.model_config import ModelConfig, load_model
from .infer import DEFAULT_MEMORY_FRACTION, serve_metrics
from .plan import (
    SERVE_SPACE,
    TrainSpace,
    checked_sizes,
    network_reach,
    price_layout,
    scale_up_domain,
    serve_layout_reason,
)

METRICS = ("step_s", "tokens_per_s_per_device", "mfu", "memory_per_device_bytes")


@dataclass(frozen=True)
class PlanGrid:
    model: str
    hw: str
    devices: int
    level: str
    capacities: np.ndarray  # bytes per device, one per hardware point
    layouts: list[dict[str, Any]]  # the priced layouts (surviving the exact pruning at the largest capacity)
    metrics: dict[str, np.ndarray]  # METRICS -> one value per priced layout
    fits: np.ndarray  # (layouts, capacities): memory per device <= capacity
    candidates: int  # layouts in the space, per hardware point
    pruned: dict[str, int]  # exact pruning at the largest capacity, and layouts train refuses
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process and its workers
    extra: dict[str, Any] = field(default_factory=dict)
    worker_cpu_seconds: tuple[float, ...] = ()  # each worker's pricing CPU time (workers > 1): the busiest bounds
    # the wall time on that many otherwise idle cores (less the pool's start)

    @property
    def points(self) -> int:
        """(hardware x mapping) points answered: every candidate layout at every capacity."""
        return self.candidates * len(self.capacities)

    @property
    def priced_points(self) -> int:
        """(hardware x mapping) points with a priced step (a layout surviving the pruning, at each capacity)."""
        return len(self.layouts) * len(self.capacities)

    def best(self) -> list[int | None]:
        """Per capacity, the index (into `layouts`) of the layout with the most tokens/s per device that fits."""
        if not self.layouts:
            return [None] * len(self.capacities)
        score = np.where(self.fits, self.metrics["tokens_per_s_per_device"][:, None], -np.inf)
        best = np.argmax(score, axis=0)
        return [int(i) if self.fits[i, c] else None for c, i in enumerate(best)]


def train_grid(model: str | dict | ModelConfig, hw: HardwareSpec | str, devices: int,
               capacities: Any = None, level: str = "analytical", workers: int = 1,
               **workload: Any) -> PlanGrid:
    """Every training layout of `model` on `devices` devices of `hw`, at each chip memory capacity in
    `capacities` (bytes; default: the chip's own). Workload keys as `plan(goal="train")`: seq_len,
    global_batch, dtype and pins or tuples for the SPACE fields."""
    started, cpu = time.perf_counter(), time.process_time()
    config, spec = load_model(model), load_hardware(hw)
    caps = _capacities(spec, capacities)
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: expected an integer >= 1 (got {workers!r})")
    _check_devices(devices)
    check_level(level)  # price_layout turns train's ValueErrors into refusals: a bad level would refuse them all
    space = TrainSpace.of(config, spec, devices, dict(workload))
    layouts = list(space.layouts(float(caps.max())))
    chunks = _deal(layouts, workers, ("tp", "cp"))
    if len(chunks) > 1:
        with multiprocessing.get_context("fork").Pool(len(chunks)) as pool:
            parts = pool.starmap(_price_many, [(config, spec, level, space, chunk) for chunk in chunks])
    else:
        parts = [_price_many(config, spec, level, space, layouts)]
    priced: list[dict[str, Any]] = []
    rows: list[tuple[float, ...]] = []
    child_cpu = 0.0
    for part_layouts, part_rows, refused, part_cpu in parts:
        priced += part_layouts
        rows += part_rows
        child_cpu += part_cpu if len(chunks) > 1 else 0.0
        for reason, count in refused.items():
            space.prune(reason, count)
    table = np.asarray(rows, dtype=float).reshape(len(rows), len(METRICS))
    metrics = {name: table[:, i] for i, name in enumerate(METRICS)}
    fits = metrics["memory_per_device_bytes"][:, None] <= caps[None, :]
    return PlanGrid(model=config.name, hw=spec.id, devices=devices, level=level, capacities=caps, layouts=priced,
                     metrics=metrics, fits=fits, candidates=space.candidates, pruned=space.pruned,
                     seconds=time.perf_counter() - started, cpu_seconds=time.process_time() - cpu + child_cpu,
                     worker_cpu_seconds=tuple(part[-1] for part in parts) if len(chunks) > 1 else ())


def _deal(layouts: list[dict[str, Any]], workers: int, keys: tuple[str, ...]) -> list[list[dict[str, Any]]]:
    """Layouts dealt to workers by group (the `keys` fields), so the op estimates a group shares stay in one
    process (the layers' GEMMs are the same shapes under every PP and ZeRO stage at one TP and CP, under every
    PP and KV dtype at one TP and weight dtype); the largest groups first, each to the least loaded worker."""
    if workers == 1 or len(layouts) < 2:
        return [layouts]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for layout in layouts:
        groups.setdefault(tuple(layout[k] for k in keys), []).append(layout)
    chunks: list[list[dict[str, Any]]] = [[] for _ in range(workers)]
    for group in sorted(groups.values(), key=len, reverse=True):
        min(chunks, key=len).extend(group)
    return [chunk for chunk in chunks if chunk]


def _price_many(config: ModelConfig, spec: HardwareSpec, level: str, space: TrainSpace,
                layouts: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple[float, ...]],
                                                        dict[str, int], float]:
    cpu = time.process_time()
    priced, rows, refused = [], [], {}
    with shared_estimates():
        for layout in layouts:
            result = price_layout(config, spec, level, space, layout)
            if isinstance(result, str):
                refused[result] = refused.get(result, 0) + 1
                continue
            priced.append(layout)
            rows.append((result.step_s, result.tokens_per_s_per_device, result.mfu, result.memory_per_device_bytes))
    return priced, rows, refused, time.process_time() - cpu


SERVE_METRICS = ("ttft_s", "tpot_s", "output_tokens_per_s_per_device", "memory_per_device_bytes")
DEFAULT_BATCHES = (1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def serve_grid(model: str | dict | ModelConfig, hw: HardwareSpec | str, devices: int, capacities: Any = None,
               level: str = "analytical", batches: Any = DEFAULT_BATCHES, input_len: int = 2048,
               output_len: int = 256, dtypes: Any = ("bf16",), kv_dtypes: Any = ("bf16",), tp: Any = None,
               pp: Any = None, memory_fraction: float = DEFAULT_MEMORY_FRACTION, workers: int = 1) -> PlanGrid:
    """Every serving replica layout (tp x pp x weight dtype x KV dtype) of `model` on `devices` devices of `hw`
    at each batch in `batches`, against each chip memory capacity in `capacities` (bytes; default the chip's).
    `layouts` holds one entry per (layout, batch); `metrics` SERVE_METRICS; `fits` as infer's memory check."""
    started, cpu = time.perf_counter(), time.process_time()
    config, spec = load_model(model), load_hardware(hw)
    caps = _capacities(spec, capacities)
    sizes = _batch_sizes(batches)
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: expected an integer >= 1 (got {workers!r})")
    _check_devices(devices)
    for name, names in (("dtypes", dtypes), ("kv_dtypes", kv_dtypes)):
        if isinstance(names, str):  # a bare "bf16" would be read letter by letter
            raise ValueError(f"{name}: expected a tuple of dtypes, e.g. (\"{names}\",) (got {names!r})")
    domain = scale_up_domain(spec)
    pruned: dict[str, int] = {}
    layouts: list[dict[str, Any]] = []
    candidates = 0
    for t in _values("tp", tp):
        for p in _values("pp", pp):
            for dtype in tuple(dtypes):
                for kv_dtype in tuple(kv_dtypes):
                    candidates += len(sizes)
                    reason = serve_layout_reason(config, devices, domain, t, p, dtype, float(caps.max()),
                                                 network_reach(spec))
                    if reason:
                        pruned[reason] = pruned.get(reason, 0) + len(sizes)
                        continue
                    layouts += [{"tp": t, "pp": p, "replicas": devices // (t * p), "dtype": dtype,
                                 "kv_dtype": kv_dtype, "batch": batch} for batch in sizes]
    options = dict(input_len=input_len, output_len=output_len, level=level, memory_fraction=memory_fraction)
    # by TP when there are enough TPs: every op of a TP (GEMMs of each weight dtype, attention of each KV dtype,
    # norms) then stays in one worker; else by TP and weight dtype (the GEMMs stay, the rest is priced twice)
    tps = {layout["tp"] for layout in layouts}
    chunks = _deal(layouts, workers, ("tp",) if len(tps) >= workers else ("tp", "dtype"))
    if len(chunks) > 1:
        with multiprocessing.get_context("fork").Pool(len(chunks)) as pool:
            parts = pool.starmap(_serve_many, [(config, spec, options, chunk) for chunk in chunks])
    else:
        parts = [_serve_many(config, spec, options, layouts)]
    layouts = [layout for part in parts for layout in part[0]]
    rows = [row for part in parts for row in part[1]]
    child_cpu = sum(part[2] for part in parts) if len(chunks) > 1 else 0.0
    table = np.asarray(rows, dtype=float).reshape(len(rows), len(SERVE_METRICS))
    metrics = {name: table[:, i] for i, name in enumerate(SERVE_METRICS)}
    # infer's check: memory.total > memory.capacity, that capacity being capacity x memory_fraction
    fits = metrics["memory_per_device_bytes"][:, None] <= caps[None, :] * memory_fraction
    metrics["tokens_per_s_per_device"] = metrics["output_tokens_per_s_per_device"]  # what best() ranks
    return PlanGrid(model=config.name, hw=spec.id, devices=devices, level=level, capacities=caps, layouts=layouts,
                     metrics=metrics, fits=fits, candidates=candidates, pruned=pruned,
                     seconds=time.perf_counter() - started, cpu_seconds=time.process_time() - cpu + child_cpu,
                     worker_cpu_seconds=tuple(part[-1] for part in parts) if len(chunks) > 1 else ())


def _values(key: str, value: Any) -> tuple:
    """A pinned tp / pp, a tuple of them, or the whole SERVE_SPACE axis (as plan's own choices)."""
    if value is None:
        return SERVE_SPACE[key]
    return checked_sizes(key, tuple(value) if isinstance(value, list | tuple) else (value,))


def _serve_many(config: ModelConfig, spec: HardwareSpec, options: dict[str, Any], layouts: list[dict[str, Any]]
                ) -> tuple[list[dict[str, Any]], list[tuple[float, ...]], float]:
    cpu = time.process_time()
    rows = []
    with shared_estimates():
        for layout in layouts:
            rows.append(serve_metrics(config, spec, layout["tp"], layout["pp"], layout["batch"], layout["dtype"],
                                      layout["kv_dtype"], **options))
    return layouts, rows, time.process_time() - cpu


def _check_devices(devices: Any) -> None:
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise ValueError(f"devices: expected an integer >= 1 (got {devices!r})")


def _batch_sizes(batches: Any) -> tuple[int, ...]:
    """Positive integer batch sizes; a string, a fraction or a bool is refused (int() would take them silently)."""
    sizes = () if isinstance(batches, str) else tuple(batches)
    if not sizes or any(isinstance(b, bool) or not isinstance(b, int | np.integer) or b < 1 for b in sizes):
        raise ValueError(f"batches: expected positive batch sizes (got {batches!r})")
    return tuple(int(b) for b in sizes)


def _capacities(spec: HardwareSpec, capacities: Any) -> np.ndarray:
    caps = np.asarray([spec.main_memory.capacity] if capacities is None else capacities, dtype=float).ravel()
    if caps.size == 0 or not np.all(np.isfinite(caps)) or np.any(caps <= 0):
        raise ValueError(f"capacities: expected positive byte counts (got {capacities!r})")
    return caps
