"""Collective microbenchmarks with torch.distributed: NCCL across the local GPUs, gloo across CPU processes.

One process per rank (torch.multiprocessing.spawn, a rendezvous on a free localhost port). For each collective and
payload: warm-up calls, then timed calls each preceded by a barrier, timed on rank 0 (CUDA events on GPUs,
perf_counter on the CPU); the median is reported as nccl-tests does, as bus bandwidth:
    algbw = payload / time;  busbw = algbw x 2(n-1)/n (all-reduce), x (n-1)/n (all-gather, reduce-scatter)
so a perfect ring on any n reads as the link bandwidth. Payloads are fresh random data; all-gather and
reduce-scatter use the payload as the full (gathered) buffer, like nccl-tests.
"""

from __future__ import annotations

import socket
import statistics
import time
from typing import Any

from .dataset import MeasuredRow

COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter")
QUICK_PAYLOADS = (1 << 16, 1 << 22)  # 64 KiB (latency-bound), 4 MiB
FULL_PAYLOADS = (1 << 12, 1 << 16, 1 << 20, 1 << 24, 1 << 28, 1 << 30)


def bus_factor(collective: str, ranks: int) -> float:
    """nccl-tests' bus-bandwidth factor, what each rank's links carry per byte of payload (nccl-tests
    doc/PERFORMANCE.md): 2(n-1)/n for all-reduce, (n-1)/n for all-gather, reduce-scatter and all-to-all, 1 for
    broadcast and send/recv."""
    if collective == "all_reduce":
        return 2 * (ranks - 1) / ranks
    return (ranks - 1) / ranks if collective in ("all_gather", "reduce_scatter", "all_to_all") else 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _time_collective(torch: Any, dist: Any, collective: str, nbytes: int, ranks: int, device: str, warmup: int,
                     repeats: int) -> float:
    elements = max(nbytes // 4, ranks) // ranks * ranks  # fp32, divisible by the rank count
    full = torch.randn(elements, device=device)
    shard = torch.empty(elements // ranks, device=device)
    calls = {
        "all_reduce": lambda: dist.all_reduce(full),
        "all_gather": lambda: dist.all_gather_into_tensor(full, shard),
        "reduce_scatter": lambda: dist.reduce_scatter_tensor(shard, full),
    }
    call = calls[collective]
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        dist.barrier()
        if device == "cuda":
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            call()
            end.record()
            end.synchronize()
            times.append(begin.elapsed_time(end) / 1e3)
        else:
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _worker(rank: int, ranks: int, port: int, device: str, payloads: tuple[int, ...], warmup: int, repeats: int,
            results: Any) -> None:
    import torch
    import torch.distributed as dist

    backend = "nccl" if device == "cuda" else "gloo"
    if device == "cuda":
        torch.cuda.set_device(rank)
    else:
        torch.set_num_threads(1)  # one core per rank process
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=ranks)
    try:
        for collective in COLLECTIVES:
            for nbytes in payloads:
                seconds = _time_collective(torch, dist, collective, nbytes, ranks, device, warmup, repeats)
                if rank == 0:
                    results.put((collective, nbytes, seconds))
    finally:
        dist.destroy_process_group()


def run_collectives(device: str, prov: dict[str, str], hardware: str, ranks: int | None = None, quick: bool = True,
                    warmup: int = 3, repeats: int = 10) -> list[MeasuredRow]:
    """Measured rows (category `collective`, metric `busbw` in GB/s) for every collective and payload.

    `ranks` defaults to every local GPU on CUDA (nothing to measure with fewer than two) and 2 processes on the
    CPU. On the CPU the gloo transport goes through the kernel's loopback, so those rows measure this machine's
    inter-process path, not an accelerator link."""
    import torch
    import torch.multiprocessing as mp

    ranks = ranks or (torch.cuda.device_count() if device == "cuda" else 2)
    if ranks < 2:
        return []
    payloads = QUICK_PAYLOADS if quick else FULL_PAYLOADS
    context = mp.get_context("spawn")
    results = context.SimpleQueue()
    mp.start_processes(_worker, args=(ranks, _free_port(), device, payloads, warmup, repeats, results),
                       nprocs=ranks, join=True, start_method="spawn")
    rows = []
    backend = "nccl" if device == "cuda" else "gloo"
    while not results.empty():
        collective, nbytes, seconds = results.get()
        busbw = nbytes / seconds * bus_factor(collective, ranks) / 1e9
        rows.append(MeasuredRow(
            id=f"{device.upper()}-COLL-{len(rows) + 1:03d}", hardware=hardware, category="collective",
            op=f"{collective} (torch.distributed {backend})", dtype="fp32",
            shape={"payload_bytes": nbytes, "gpus" if device == "cuda" else "ranks": ranks, "backend": backend},
            metric="busbw", value=busbw, unit="GB/s", source="accelscope bench (this machine)", **prov))
    return rows
