"""`accelscope bench`: microbenchmarks on the local device, written as measured rows with provenance.

CPU (torch and numpy), so the measure -> validate -> calibrate loop runs for real on any machine:
- GEMM: torch.matmul in fp32 and bf16 and numpy.matmul in fp32 over square, skinny (decode-like) and odd shapes;
- memory: copy, triad (a = b + s*c) and read (sum) over arrays from just above the last-level cache to many
  times it, so they stream from DRAM.
Timing: warm-up calls, then the median of many timed calls (time.perf_counter around a synchronous CPU op), fresh
random data (never zeros), and rotating buffers (each call touches a different copy) so caches do not help.
"""

from __future__ import annotations

import datetime as dt
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..hardware import load_hardware
from .dataset import MeasuredRow

QUICK_GEMMS = [(1024, 1024, 1024), (1, 4096, 4096), (2048, 2048, 2048), (1000, 1000, 1000)]
FULL_GEMMS = [*QUICK_GEMMS, (512, 512, 512), (16, 4096, 4096), (4096, 4096, 1024), (128, 11008, 4096),
              (3000, 2000, 1000)]
MEMORY_KERNELS = ("copy", "triad", "read")


@dataclass(frozen=True, slots=True)
class BenchConfig:
    quick: bool = True
    warmup: int = 2
    repeats: int = 7
    budget_s: float = 2.0  # per case: stop repeating after this long (keeps --quick under a minute)


def median_seconds(fn: Callable[[int], object], warmup: int, repeats: int, budget_s: float) -> float:
    """Median wall time of fn(i) over `repeats` calls after `warmup`; i selects a rotating buffer."""
    for i in range(warmup):
        fn(i)
    times: list[float] = []
    start = time.perf_counter()
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s and len(times) >= 3:
            break
    return statistics.median(times)


def _provenance(command: str) -> dict[str, str]:
    import torch

    spec = load_hardware("local-cpu")
    return {"device": spec.name, "torch": torch.__version__, "cuda": "", "driver": "",
            "clock_mhz": f"{spec.compute.clock / 1e6:.0f}", "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": command,
            "notes": f"{spec.compute.cores} threads, python {platform.python_version()}, numpy "
                     f"{__import__('numpy').__version__}"}


def _row(kind: str, number: int, category: str, op: str, dtype: str, shape: dict, metric: str, value: float,
         unit: str, prov: dict[str, str]) -> MeasuredRow:
    return MeasuredRow(id=f"CPU-{kind}-{number:03d}", hardware="local-cpu", category=category, op=op, dtype=dtype,
                       shape=shape, metric=metric, value=value, unit=unit, source="accelscope bench (this machine)",
                       **prov)


def gemm_rows(config: BenchConfig, prov: dict[str, str]) -> list[MeasuredRow]:
    import numpy as np
    import torch

    rows = []
    shapes = QUICK_GEMMS if config.quick else FULL_GEMMS
    generator = torch.Generator().manual_seed(0)
    for dtype_name, torch_dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        for m, n, k in shapes:
            copies = 2
            a = [torch.randn(m, k, generator=generator).to(torch_dtype) for _ in range(copies)]
            b = [torch.randn(k, n, generator=generator).to(torch_dtype) for _ in range(copies)]
            seconds = median_seconds(lambda i, a=a, b=b, c=copies: torch.matmul(a[i % c], b[i % c]), config.warmup,
                                     config.repeats, config.budget_s)
            rows.append(_row("GEMM", len(rows) + 1, "gemm", "torch.matmul (CPU)", dtype_name,
                             {"M": m, "N": n, "K": k}, "throughput", 2 * m * n * k / seconds / 1e12, "TFLOP/s", prov))
    rng = np.random.default_rng(0)
    for m, n, k in shapes[:3]:
        a = [rng.standard_normal((m, k), dtype=np.float32) for _ in range(2)]
        b = [rng.standard_normal((k, n), dtype=np.float32) for _ in range(2)]
        seconds = median_seconds(lambda i, a=a, b=b: np.matmul(a[i % 2], b[i % 2]), config.warmup, config.repeats,
                                 config.budget_s)
        rows.append(_row("GEMM", len(rows) + 1, "gemm", "numpy.matmul (CPU)", "fp32", {"M": m, "N": n, "K": k},
                         "throughput", 2 * m * n * k / seconds / 1e12, "TFLOP/s", prov))
    return rows


def memory_rows(config: BenchConfig, prov: dict[str, str]) -> list[MeasuredRow]:
    import torch

    spec = load_hardware("local-cpu")
    llc = max((level.capacity for level in spec.memory.values() if level.kind in ("cache", "sram")), default=32e6)
    multiples = (4, 16) if config.quick else (2, 4, 8, 16, 32)
    rows = []
    for multiple in multiples:
        elements = int(multiple * llc / 4)  # fp32 arrays of `multiple` x the last-level cache
        cases = _stream_cases([torch.rand(elements) for _ in range(3)], torch.empty(elements))
        for kernel, (fn, arrays) in cases.items():
            seconds = median_seconds(fn, config.warmup, config.repeats, config.budget_s)
            nbytes = arrays * elements * 4
            rows.append(_row("MEM", len(rows) + 1, "memory", f"torch {kernel} (CPU)", "fp32",
                             {"kernel": kernel, "elements": elements, "bytes": nbytes, "llc_multiple": multiple},
                             "bandwidth", nbytes / seconds / 1e9, "GB/s", prov))
    return rows


def _stream_cases(bufs: list, out: object) -> dict[str, tuple[Callable[[int], object], int]]:
    """kernel -> (call on rotating buffer i, arrays moved per call)."""
    import torch

    return {
        "copy": (lambda i: out.copy_(bufs[i % 3]), 2),  # type: ignore[attr-defined]  read + write
        "triad": (lambda i: torch.add(bufs[i % 3], bufs[(i + 1) % 3], alpha=1.5, out=out), 3),
        "read": (lambda i: bufs[i % 3].sum(), 1),
    }


def run_cpu_suite(quick: bool = True, command: str | None = None, config: BenchConfig | None = None) -> list[MeasuredRow]:
    import torch

    spec = load_hardware("local-cpu")
    torch.set_num_threads(spec.compute.cores)
    config = config or BenchConfig(quick=quick, repeats=7 if quick else 25, budget_s=2.0 if quick else 10.0)
    prov = _provenance(command or "accelscope " + " ".join(sys.argv[1:]))
    return gemm_rows(config, prov) + memory_rows(config, prov)
