"""Planner speed (issue 24, item 3), analytical level:

1. one whole-model estimate, cold (new shapes in a process already warmed on Llama-3.1-8B: graphs built, every op
   estimated; the median of six, each in its own `shared_estimates()`) and warm (the same estimate again inside
   that scope, its building blocks memoized: perf/memo.py): a Llama-3.1-405B training step (TP8 x PP16 x DP128 on
   16,384 H100; seq_len 1k to 8k) and Llama-3.1-70B serving (TP8; batch 5 to 129);
2. (hardware x mapping) points per minute: the whole training space of 405B on 16,384 H100 (llm/plan.py SPACE)
   and the serving space of 70B on 8 H100 (TP x PP x bf16/fp8 weights x bf16/fp8 KV x 14 batch sizes), each
   against 8 HBM capacities at once (llm/plan_grid.py), with 1 and 2 worker processes; "points" are every
   candidate at every capacity (exact pruning included), "priced" those with an estimated step;
3. a sample of grid points checked against the per-point path (`train` / `infer` on a chip of that capacity):
   identical step time, tokens/s and memory (relative 1e-9) and the same fit;
4. `acs.llm.plan` on one chip: the whole 405B training space (analytical) and the 8B space (roofline).

Rates are given on wall time and on CPU time (this process and its workers): on a shared machine the wall rate
falls with the other jobs' load, the CPU rate does not. With 2 workers the busiest worker's CPU time is printed too:
it bounds the wall time on two otherwise idle cores (pool start excluded).

    .venv/bin/python benchmarks/bench_plan.py
"""

from __future__ import annotations

import random
import time
from statistics import median

from accelscope.hardware import load_hardware
from accelscope.llm import DoesNotFit
from accelscope.llm.infer import infer
from accelscope.llm.plan import plan
from accelscope.llm.plan_grid import PlanGrid, serve_grid, train_grid
from accelscope.llm.train import train
from accelscope.perf.estimate import shared_estimates
from accelscope.workload.model_config import load_model

GB = 1e9
# HBM capacities of shipping parts and round steps between them (bytes): A100/H100 80, H100 NVL 94, H200 141,
# B200 180/192, B300 288 GB (vendors' data sheets), plus 64, 120
CAPACITIES = [64 * GB, 80 * GB, 94 * GB, 120 * GB, 141 * GB, 180 * GB, 192 * GB, 288 * GB]
TRAIN = dict(seq_len=8192, global_batch=2048)
STEP_405B = dict(tp=8, pp=16, dp=128, vpp=1, recompute="full", level="analytical", **TRAIN)
SERVE = dict(dtypes=("bf16", "fp8_e4m3"), kv_dtypes=("bf16", "fp8_e4m3"))
SAMPLE = 24  # grid points checked against the per-point path, per scenario
REPEATS = 3  # each grid is built this many times; the run with the least CPU time is reported (the first in a
# process also pays one-time costs: GEMM tile candidates per dtype, numpy's first calls)


COLD_SEQ_LENS = (1024, 2048, 3072, 4096, 6144, 8192)  # a new shape for each cold estimate
COLD_BATCHES = (5, 9, 17, 33, 65, 129)
WARM_REPEATS = 2000


def single_estimates() -> None:
    """Cold: the median of six estimates of new shapes (seq_len, batch), each the first in its own
    `shared_estimates()` scope, in a process warmed once on Llama-3.1-8B (numpy's first calls, GEMM candidate
    tables, spec figures). Warm: the same estimate again in that scope (memoized)."""
    config, hw = load_model("llama-3.1-405b"), load_hardware("h100-sxm")
    serve_config, small = load_model("llama-3.1-70b"), load_model("llama-3.1-8b")
    with shared_estimates():
        train(small, hw, tp=1, pp=1, dp=8, seq_len=2048, global_batch=64, zero=3, level="analytical")
        infer(small, hw, tp=1, batch=3, level="analytical")
    step = {k: v for k, v in STEP_405B.items() if k != "seq_len"}
    for label, run in (("405B training step (TP8 x PP16 x DP128, 16,384 H100, seq_len 1k-8k)",
                        lambda i: train(config, hw, **step, seq_len=COLD_SEQ_LENS[i])),
                       ("70B serving (TP8, batch 5-129, 2048 in / 256 out)",
                        lambda i: infer(serve_config, hw, tp=8, batch=COLD_BATCHES[i], level="analytical"))):
        cold, cold_cpu, warm, warm_cpu = [], [], [], []
        for i in range(len(COLD_SEQ_LENS)):
            with shared_estimates():
                started, cpu = time.perf_counter(), time.process_time()
                run(i)
                cold.append(time.perf_counter() - started)
                cold_cpu.append(time.process_time() - cpu)
                repeats = WARM_REPEATS // len(COLD_SEQ_LENS)
                started, cpu = time.perf_counter(), time.process_time()
                for _ in range(repeats):
                    run(i)
                warm.append((time.perf_counter() - started) / repeats)
                warm_cpu.append((time.process_time() - cpu) / repeats)
        print(f"  {label}: cold {median(cold) * 1e3:.2f} ms wall ({median(cold_cpu) * 1e3:.2f} ms CPU; "
              f"{min(cold) * 1e3:.2f}-{max(cold) * 1e3:.2f} ms), warm {median(warm) * 1e3:.3f} ms wall "
              f"({median(warm_cpu) * 1e3:.3f} ms CPU); medians of {len(cold)} shapes")


def best_of(build) -> PlanGrid:
    """The grid built REPEATS times (each in a fresh memo scope): the run with the least CPU time."""
    return min((build() for _ in range(REPEATS)), key=lambda grid: grid.cpu_seconds)


def report(label: str, grid: PlanGrid, workers: int) -> None:
    wall, cpu = grid.seconds, grid.cpu_seconds
    print(f"  {label}, {workers} worker{'s' if workers > 1 else ''}, best of {REPEATS}: {grid.candidates:,} candidates x "
          f"{len(grid.capacities)} capacities = {grid.points:,} points, {grid.priced_points:,} priced; "
          f"{wall:.2f} s wall, {cpu:.2f} s CPU")
    print(f"    points/min: {grid.points / wall * 60:,.0f} wall, {grid.points / cpu * 60:,.0f} CPU; "
          f"priced points/min: {grid.priced_points / wall * 60:,.0f} wall, {grid.priced_points / cpu * 60:,.0f} CPU")
    if grid.worker_cpu_seconds:  # the busiest worker's CPU time bounds the wall time on as many idle cores
        busiest = max(grid.worker_cpu_seconds)
        print(f"    workers' CPU {', '.join(f'{s:.2f}' for s in grid.worker_cpu_seconds)} s: on {workers} idle cores "
              f"~{grid.priced_points / busiest * 60:,.0f} priced points/min (busiest worker's CPU time; the pool's "
              f"start and the other jobs' load not counted)")


def check_sample(grid: PlanGrid, per_point, keys: tuple[str, ...]) -> None:
    """Random (layout, capacity) points of the grid against the per-point path on a chip of that capacity."""
    rng = random.Random(24)
    base = load_hardware("h100-sxm")
    worst = 0.0
    mismatches = 0
    points = [(rng.randrange(len(grid.layouts)), rng.randrange(len(grid.capacities))) for _ in range(SAMPLE)]
    for i, c in points:
        chip = base.with_overrides({"memory.hbm.capacity": float(grid.capacities[c])})
        try:
            result = per_point(chip, grid.layouts[i])
        except DoesNotFit:
            mismatches += bool(grid.fits[i, c])
            continue
        mismatches += not grid.fits[i, c]
        for key in keys:
            value = result.memory.total if key == "memory_per_device_bytes" else getattr(result, key)
            worst = max(worst, abs(grid.metrics[key][i] - value) / abs(value))
    verdict = "identical" if mismatches == 0 and worst <= 1e-9 else "MISMATCH"
    print(f"    sample check against the per-point path: {SAMPLE} points, {verdict} (fit disagreements "
          f"{mismatches}, largest relative difference {worst:.1e})")


def main() -> None:
    print("One whole-model estimate, analytical level:")
    single_estimates()
    print("405B training, whole space on 16,384 H100, x 8 HBM capacities:")
    grid = None
    for workers in (1, 2):
        grid = best_of(lambda w=workers: train_grid("llama-3.1-405b", "h100-sxm", 16384, capacities=CAPACITIES,
                                                    workers=w, **TRAIN))
        report("405B training", grid, workers)
    assert grid is not None
    check_sample(grid, lambda chip, layout: train("llama-3.1-405b", chip, level="analytical", **TRAIN, **layout),
                 ("step_s", "tokens_per_s_per_device", "mfu", "memory_per_device_bytes"))
    print("70B serving on 8 H100, x 8 HBM capacities:")
    for workers in (1, 2):
        grid = best_of(lambda w=workers: serve_grid("llama-3.1-70b", "h100-sxm", 8, capacities=CAPACITIES,
                                                    workers=w, **SERVE))
        report("70B serving", grid, workers)

    def serve_point(chip, layout):
        return infer("llama-3.1-70b", chip, tp=layout["tp"], pp=layout["pp"], batch=layout["batch"],
                     dtype=layout["dtype"], kv_dtype=layout["kv_dtype"], level="analytical")

    check_sample(grid, serve_point, ("ttft_s", "tpot_s", "output_tokens_per_s_per_device",
                                     "memory_per_device_bytes"))
    print("acs.llm.plan on one hardware point (each call a fresh memo scope):")
    for label, kwargs in (("405B on 16,384 H100, whole space, analytical",
                           dict(model="llama-3.1-405b", devices=16384, level="analytical", **TRAIN)),
                          ("8B on 8 H100, whole space, roofline",
                           dict(model="llama-3.1-8b", devices=8, seq_len=8192, global_batch=64, level="roofline"))):
        started, cpu = time.perf_counter(), time.process_time()
        result = plan(hw="h100-sxm", **kwargs)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(f"  {label}: {result.candidates:,} candidates, {result.estimated:,} fit, {wall:.2f} s wall, "
              f"{cpu:.2f} s CPU")


if __name__ == "__main__":
    main()
