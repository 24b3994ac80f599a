"""`accelscope bench`: microbenchmarks on the local device, written as measured rows with provenance.

One suite, two devices. Every case is plain PyTorch (plus numpy on the CPU); the device decides the timer and
which cases exist:
- CPU: torch/numpy GEMM, copy/triad/read bandwidth from DRAM, SDPA attention (math backend), softmax, layer and
  RMS norm, SiLU-and-mul. Timer: time.perf_counter around synchronous calls.
- CUDA: the same plus fp16/tf32 GEMMs, FP8 GEMMs through torch._scaled_mm, SDPA with the flash and cuDNN backends
  (fwd and fwd+bwd, causal or not, decode), and the CUPTI durations of residual adds (kernel_durations). Timer:
  CUDA events, with an L2 flush (a write over twice the L2 size) before every timed call, except the
  cache-resident bandwidth cases, which measure the L2 (the last-level cache on a CPU) by leaving their operands
  in it.
Timing rules everywhere: warm-up calls, the median of many timed calls, fresh random data (never zeros), rotating
buffers so a call does not reuse the previous call's cache lines.
"""

from __future__ import annotations

import datetime as dt
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..hardware import load_hardware
from .dataset import MeasuredRow

QUICK_GEMMS = [(1024, 1024, 1024), (1, 4096, 4096), (2048, 2048, 2048), (1000, 1000, 1000)]
FULL_GEMMS = [*QUICK_GEMMS, (512, 512, 512), (16, 4096, 4096), (4096, 4096, 1024), (128, 11008, 4096),
              (3000, 2000, 1000), (8192, 8192, 8192), (4096, 14336, 4096), (32, 8192, 28672)]
# GEMMs the public measurements disagree on, or the analytical model misses (docs/validation.md, GEMM rows): the
# full CUDA suite measures them on one machine so the next validation can tell model error from source error.
# (M, N, K, dtype, dev-set rows it answers)
DISPUTED_GEMMS = [
    (802816, 192, 768, "fp16", "AZ-008: skinny, matrix unit, L2 and HBM all near saturation"),
    (802816, 192, 768, "fp8_e4m3", "AZ-032/AZ-057: the same on Hopper in FP8"),
    (1024, 2145, 1024, "fp16", "AZ-006: N not a multiple of 8"),
    (1024, 9216, 14336, "fp8_e4m3", "ME-016: MAMF best FP8 shape, 2.2 waves of 128x256 tiles on 132 SMs"),
    (1280, 4096, 12032, "fp8_e4m3", "ME-014: MAMF best FP8 shape on H200"),
    (2048, 2048, 13312, "bf16", "ME-004: MAMF best BF16 shape on H100"),
    (512, 12288, 4096, "fp16", "VD-006: Vidur QKV projection, M=512"),
    (4096, 1280, 8192, "fp16", "VD-014: Vidur 70B TP8 QKV projection"),
    (16384, 12288, 12288, "fp16", "LC-005: LLMCompass's largest GEMM"),
]
# Wave quantization, measured: M and K fixed, N stepped by 256 so the count of 128x256 output tiles crosses whole
# waves of cores. A data-parallel schedule shows a sawtooth in throughput; stream-K (no tail wave) a smooth curve.
WAVE_SWEEP = [(2048, n, 8192) for n in range(1024, 8192 + 1, 256)]
ROTATE = 3  # buffers per case
# Kernel durations as CUPTI records them (torch.profiler / kineto), the quantity the kernel-timed sources report
# (vidur's traces, cudnn-frontend's norm benchmark): fp16 residual adds of [tokens, 8192], the second operand
# written by the kernel just before (vidur's `residual + hidden_states` after down_proj), and a one-element add,
# whose duration is the device-side floor of any kernel. They settle what the small-op rows cannot separate:
# measure/rows_elementwise.py KERNEL_DEVICE_LAUNCH against the DRAM and L2 latencies (docs/validation.md, "vLLM's
# per-token kernels"). 0 tokens: the one-element add.
KERNEL_DURATION_TOKENS = (0, 1, 16, 64, 256, 1024, 4096)
KERNEL_DURATION_HIDDEN = 8192


@dataclass(frozen=True, slots=True)
class BenchConfig:
    quick: bool = True
    warmup: int = 2
    repeats: int = 7
    budget_s: float = 2.0  # per case: stop repeating after this long once 3 samples exist


@dataclass
class Device:
    """What differs between devices: the torch device, the timer, the L2 flush, the capabilities."""

    name: str  # "cpu" | "cuda"
    spec_name: str
    l2_bytes: float
    hardware: str  # the `hardware` column of the rows
    flush_buffer: Any = None
    capabilities: set[str] = field(default_factory=set)

    def time(self, fn: Callable[[int], object], config: BenchConfig, flush: bool = True) -> float:
        """Median seconds of fn; `flush=False` keeps the operands cache-resident (for L2-bandwidth cases)."""
        if self.name == "cpu":
            return median_seconds(fn, config.warmup, config.repeats, config.budget_s)
        return _cuda_median(fn, config, self, flush)


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


def _cuda_median(fn: Callable[[int], object], config: BenchConfig, device: Device, flush: bool = True) -> float:
    import torch

    for i in range(config.warmup):
        fn(i)
    torch.cuda.synchronize()
    times: list[float] = []
    start = time.perf_counter()
    for i in range(config.repeats):
        if flush and device.flush_buffer is not None:
            device.flush_buffer.zero_()  # evict the operands from L2: the timed call reads from HBM
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        fn(i)
        end.record()
        end.synchronize()
        times.append(begin.elapsed_time(end) / 1e3)
        if time.perf_counter() - start > config.budget_s and len(times) >= 5:
            break
    return statistics.median(times)


# A DRAM-sized stream case's buffers (ROTATE inputs and one output) take at most this share of the memory available
# when the suite starts: a VM that reports its host's whole last-level cache (480 MiB seen on a 24 GiB, 2-core
# machine) would otherwise ask for 16 x 480 MiB x 4 buffers = 30 GiB and be killed by the OOM killer. At 0.4 the
# smallest DRAM case there (2 x 480 MiB x 4 buffers = 3.75 GiB) still fits when 9.4 GiB are available.
STREAM_MEMORY_SHARE = 0.4  # fraction of the available memory
# The smallest buffer, in multiples of the last-level cache, still taken as a DRAM stream (ROTATE of them rotate
# through it, so each call reads data the previous calls evicted).
MIN_DRAM_MULTIPLE = 2.0
FP32_BYTES = 4  # bytes per element of the stream buffers (fp32)
MEMINFO = "/proc/meminfo"


def _free_memory_bytes() -> float:
    """Physical memory available now (bytes), from the OS (a GPU's free memory is read in _stream_elements_cap).
    Linux's MemAvailable counts the page cache the kernel would drop for us; the free pages alone (SC_AVPHYS_PAGES)
    are a few GiB right after a pip install fills the page cache, which left no DRAM-sized case on a CI machine."""
    import os

    try:
        with open(MEMINFO) as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024  # kB -> bytes
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30  # platforms without sysconf: a conservative 4 GiB


def _stream_elements_cap(device: Device) -> int:
    """The most fp32 elements per buffer a DRAM-sized stream case may take (STREAM_MEMORY_SHARE)."""
    if device.name == "cuda":
        import torch

        free = float(torch.cuda.mem_get_info()[0])
    else:
        free = _free_memory_bytes()
    return int(STREAM_MEMORY_SHARE * free / FP32_BYTES / (ROTATE + 1))


def detect_device(requested: str) -> Device:
    import torch

    if requested == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("bench --device cuda: torch.cuda.is_available() is False on this machine; "
                             "use --device cpu")
        props = torch.cuda.get_device_properties(0)
        l2 = float(getattr(props, "L2_cache_size", 50 * 2**20))
        caps = {"fp16", "tf32", "flash", "cudnn"}
        if props.major >= 9 or (props.major == 8 and props.minor >= 9):
            caps.add("fp8")
        flush = torch.empty(int(2 * l2), dtype=torch.uint8, device="cuda")
        return Device("cuda", props.name, l2, f"cuda: {props.name}", flush, caps)
    if requested != "cpu":
        raise ValueError(f"bench --device: expected cpu or cuda (got {requested!r})")
    spec = load_hardware("local-cpu")
    l2 = max((lv.capacity for lv in spec.memory.values() if lv.kind in ("cache", "sram")), default=32e6)
    return Device("cpu", spec.name, l2, "local-cpu", None, {"numpy"})


# ----- provenance ----------------------------------------------------------------------------------------------
def _nvidia_smi() -> dict[str, str]:
    query = "driver_version,clocks.sm,clocks.max.sm,power.limit"
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return {}
    driver, sm, max_sm, power = (part.strip() for part in out.split(","))
    return {"driver": driver, "clock_mhz": f"{sm} (max {max_sm}), power limit {power}"}


def provenance(device: Device, command: str) -> dict[str, str]:
    import numpy
    import torch

    base = {"device": device.spec_name, "torch": torch.__version__, "cuda": torch.version.cuda or "",
            "driver": "", "clock_mhz": "", "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": command}
    if device.name == "cuda":
        base.update(_nvidia_smi())
    else:
        base["clock_mhz"] = f"{load_hardware('local-cpu').compute.clock / 1e6:.0f}"
    base["notes"] = f"python {platform.python_version()}, numpy {numpy.__version__}, {platform.platform()}"
    return base


# ----- cases ---------------------------------------------------------------------------------------------------
class Suite:
    def __init__(self, device: Device, config: BenchConfig, prov: dict[str, str]):
        import torch

        self.torch = torch
        self.device, self.config, self.prov = device, config, prov
        self.rows: list[MeasuredRow] = []
        self.generator = torch.Generator(device=device.name).manual_seed(0)

    def randn(self, *shape: int, dtype: Any = None) -> Any:
        t = self.torch.randn(*shape, generator=self.generator, device=self.device.name)
        return t.to(dtype) if dtype is not None else t

    def add(self, category: str, op: str, dtype: str, shape: dict, metric: str, value: float, unit: str) -> None:
        kind = {"gemm": "GEMM", "memory": "MEM", "attention": "ATTN", "elementwise": "ELT"}[category]
        number = sum(1 for r in self.rows if r.category == category) + 1
        self.rows.append(MeasuredRow(
            id=f"{self.device.name.upper()}-{kind}-{number:03d}", hardware=self.device.hardware, category=category,
            op=op, dtype=dtype, shape=shape, metric=metric, value=value, unit=unit,
            source="accelscope bench (this machine)", **self.prov))

    def time(self, fn: Callable[[int], object], flush: bool = True) -> float:
        return self.device.time(fn, self.config, flush)

    # GEMMs -------------------------------------------------------------------------------------------------
    def gemms(self) -> None:
        torch = self.torch
        shapes = QUICK_GEMMS if self.config.quick else FULL_GEMMS
        dtypes = [("fp32", torch.float32), ("bf16", torch.bfloat16)]
        if "fp16" in self.device.capabilities:
            dtypes.append(("fp16", torch.float16))
        for name, dtype in dtypes:
            label = "tf32" if (name == "fp32" and self.device.name == "cuda"
                               and torch.backends.cuda.matmul.allow_tf32) else name
            for m, n, k in shapes:
                self._torch_gemm(m, n, k, label, dtype)
        if "fp8" in self.device.capabilities:
            self._fp8_gemms(shapes)
        if "numpy" in self.device.capabilities:
            self._numpy_gemms(shapes[:3])
        if self.device.name == "cuda" and not self.config.quick:
            self.gemm_questions()

    def gemm_questions(self) -> None:
        """The disputed dev-set shapes and the wave-quantization sweep (GPU only: the shapes need GBs)."""
        torch = self.torch
        for m, n, k, dtype, why in DISPUTED_GEMMS:
            extra = {"question": why}
            if dtype.startswith("fp8"):
                if "fp8" in self.device.capabilities:
                    self._fp8_gemms([(m, n, k)], extra)
            else:
                self._torch_gemm(m, n, k, dtype, {"fp16": torch.float16, "bf16": torch.bfloat16}[dtype], extra)
        for m, n, k in WAVE_SWEEP:
            self._torch_gemm(m, n, k, "bf16", torch.bfloat16, {"question": "wave sweep"})

    def _torch_gemm(self, m: int, n: int, k: int, name: str, dtype: Any, extra: dict | None = None) -> None:
        torch = self.torch
        a = [self.randn(m, k, dtype=dtype) for _ in range(ROTATE)]
        b = [self.randn(k, n, dtype=dtype) for _ in range(ROTATE)]
        seconds = self.time(lambda i: torch.matmul(a[i % ROTATE], b[i % ROTATE]))
        self.add("gemm", f"torch.matmul ({self.device.name})", name, {"M": m, "N": n, "K": k, **(extra or {})},
                 "throughput", 2 * m * n * k / seconds / 1e12, "TFLOP/s")

    def _fp8_gemms(self, shapes: list[tuple[int, int, int]], extra: dict | None = None) -> None:
        torch = self.torch
        one = torch.ones((), device="cuda")  # unit per-tensor scales
        for m, n, k in shapes:
            if m % 16 or n % 16 or k % 16:
                continue  # _scaled_mm needs multiples of 16
            a = [self.randn(m, k).to(torch.float8_e4m3fn) for _ in range(ROTATE)]
            b = [self.randn(n, k).to(torch.float8_e4m3fn).t() for _ in range(ROTATE)]  # column-major B
            seconds = self.time(lambda i, a=a, b=b: torch._scaled_mm(a[i % ROTATE], b[i % ROTATE], scale_a=one,
                                                                      scale_b=one, out_dtype=torch.bfloat16))
            self.add("gemm", "torch._scaled_mm (cuda)", "fp8_e4m3", {"M": m, "N": n, "K": k, **(extra or {})},
                     "throughput", 2 * m * n * k / seconds / 1e12, "TFLOP/s")

    def _numpy_gemms(self, shapes: list[tuple[int, int, int]]) -> None:
        import numpy as np

        rng = np.random.default_rng(0)
        for m, n, k in shapes:
            a = [rng.standard_normal((m, k), dtype=np.float32) for _ in range(ROTATE)]
            b = [rng.standard_normal((k, n), dtype=np.float32) for _ in range(ROTATE)]
            seconds = self.time(lambda i, a=a, b=b: np.matmul(a[i % ROTATE], b[i % ROTATE]))
            self.add("gemm", "numpy.matmul (cpu)", "fp32", {"M": m, "N": n, "K": k}, "throughput",
                     2 * m * n * k / seconds / 1e12, "TFLOP/s")

    # memory ------------------------------------------------------------------------------------------------
    def memory(self) -> None:
        """Streaming bandwidth from cache-resident sizes (a fraction of the last-level cache, operands left in it:
        on a GPU the L2 bandwidth) to many times the cache (main memory, flushed before every call on a GPU)."""
        multiples = (0.25, 4, 16) if self.config.quick else (0.125, 0.25, 0.5, 2, 4, 8, 16, 64)
        cache = self.device.l2_bytes
        measured: set[int] = set()
        for multiple in multiples:
            resident = multiple < 1  # ROTATE buffers of multiple x cache still fit in it
            elements = int(multiple * cache / FP32_BYTES / (ROTATE if resident else 1))
            if not resident:
                elements = min(elements, _stream_elements_cap(self.device))
                if elements in measured:
                    continue  # the memory cap made this size the same as the previous one
                if elements * FP32_BYTES < MIN_DRAM_MULTIPLE * cache:
                    warnings.warn(f"bench: no DRAM-sized stream case at {multiple:g} x the {cache / 2**20:.0f} MiB "
                                  f"last-level cache: {ROTATE + 1} buffers of {MIN_DRAM_MULTIPLE:g} x it need "
                                  f"{(ROTATE + 1) * MIN_DRAM_MULTIPLE * cache / 2**30:.1f} GiB, more than "
                                  f"{STREAM_MEMORY_SHARE:.0%} of the memory available; free memory and rerun",
                                  stacklevel=2)
                    break  # a larger multiple meets the same cap
                multiple = elements * FP32_BYTES / cache
            measured.add(elements)
            cases = _stream_cases(self.torch, [self.randn(elements) for _ in range(ROTATE)],
                                  self.torch.empty(elements, device=self.device.name))
            for kernel, (fn, arrays) in cases.items():
                seconds = self.time(fn, flush=not resident)
                nbytes = arrays * elements * 4
                self.add("memory", f"torch {kernel} ({self.device.name})", "fp32",
                         {"kernel": kernel, "elements": elements, "bytes": nbytes, "l2_multiple": multiple,
                          "resident": resident},
                         "bandwidth", nbytes / seconds / 1e9, "GB/s")

    # attention and memory-bound ops ------------------------------------------------------------------------
    def attention(self) -> None:
        torch = self.torch
        dtype = torch.bfloat16
        configs = [(4, 16, 128, 1024, 1024, True), (1, 32, 128, 1, 4096, False)]
        if not self.config.quick:
            configs += [(8, 32, 128, 2048, 2048, True), (2, 16, 64, 4096, 4096, False), (16, 32, 128, 1, 8192, False)]
        backends = ["math"] if self.device.name == "cpu" else [b for b in ("flash", "cudnn") if b in
                                                              self.device.capabilities]
        phases = ["fwd"] if self.device.name == "cpu" else ["fwd", "fwd_bwd"]
        for batch, heads, dim, q_len, kv_len, causal in configs:
            for backend in backends:
                for phase in phases:
                    if phase == "fwd_bwd" and q_len == 1:
                        continue
                    seconds = self._sdpa(batch, heads, dim, q_len, kv_len, causal, dtype, backend, phase)
                    fwd_flops = 4 * batch * heads * q_len * kv_len * dim / (2 if causal else 1)
                    flops = fwd_flops * (3.5 if phase == "fwd_bwd" else 1.0)
                    self.add("attention", f"scaled_dot_product_attention {backend} {phase} ({self.device.name})",
                             "bf16", {"batch": batch, "heads": heads, "head_dim": dim, "seqlen_q": q_len,
                                      "seqlen_k": kv_len, "causal": causal, "phase": phase},
                             "throughput_fwd_bwd" if phase == "fwd_bwd" else "throughput_fwd",
                             flops / seconds / 1e12, "TFLOP/s")

    def _sdpa(self, batch: int, heads: int, dim: int, q_len: int, kv_len: int, causal: bool, dtype: Any,
              backend: str, phase: str) -> float:
        torch = self.torch
        from torch.nn.attention import SDPBackend, sdpa_kernel

        kind = {"math": SDPBackend.MATH, "flash": SDPBackend.FLASH_ATTENTION,
                "cudnn": SDPBackend.CUDNN_ATTENTION}[backend]
        grad = phase == "fwd_bwd"
        q = [self.randn(batch, heads, q_len, dim, dtype=dtype).requires_grad_(grad) for _ in range(ROTATE)]
        k = [self.randn(batch, heads, kv_len, dim, dtype=dtype).requires_grad_(grad) for _ in range(ROTATE)]
        v = [self.randn(batch, heads, kv_len, dim, dtype=dtype).requires_grad_(grad) for _ in range(ROTATE)]

        def call(i: int) -> object:
            out = torch.nn.functional.scaled_dot_product_attention(q[i % ROTATE], k[i % ROTATE], v[i % ROTATE],
                                                                   is_causal=causal)
            if grad:
                out.sum().backward()
            return out

        with sdpa_kernel(kind):
            return self.time(call)

    def memory_bound_ops(self) -> None:
        torch = self.torch
        rows = 4096 if self.config.quick else 16384
        for hidden in (1024, 4096):
            x = [self.randn(rows, hidden, dtype=torch.bfloat16) for _ in range(ROTATE)]
            w = torch.ones(hidden, dtype=torch.bfloat16, device=self.device.name)
            cases = {
                "softmax": lambda i, x=x: torch.softmax(x[i % ROTATE], dim=-1),
                "layernorm": lambda i, x=x, w=w: torch.nn.functional.layer_norm(x[i % ROTATE], (x[0].shape[-1],), w),
                "rmsnorm": lambda i, x=x, w=w: torch.nn.functional.rms_norm(x[i % ROTATE], (x[0].shape[-1],), w),
                "siluandmul": lambda i, x=x: torch.nn.functional.silu(x[i % ROTATE]) * x[(i + 1) % ROTATE],
            }
            for name, fn in cases.items():
                seconds = self.time(fn)
                shape = ({"num_tokens": rows, "hidden": hidden} if name == "rmsnorm" else
                         {"output_shape": [rows, hidden]} if name == "siluandmul" else {"M": rows, "N": hidden})
                self.add("elementwise", f"{name} ({self.device.name})", "bf16", shape, "time", seconds * 1e3, "ms")


    def kernel_durations(self) -> None:
        """The CUPTI duration of each residual add (KERNEL_DURATION_TOKENS), the median over the timed calls, in
        microseconds at the profiler's nanosecond resolution (not kineto's whole-microsecond trace). run_suite
        runs it on CUDA; on the CPU it times the ATen op instead (timer "cpu-profiler"), which only the tests do."""
        torch = self.torch
        from torch.profiler import ProfilerActivity

        cuda = self.device.name == "cuda"
        activity, timer = (ProfilerActivity.CUDA, "cupti") if cuda else (ProfilerActivity.CPU, "cpu-profiler")

        for tokens in KERNEL_DURATION_TOKENS:
            shape = (1,) if tokens == 0 else (tokens, KERNEL_DURATION_HIDDEN)
            residual = [self.randn(*shape, dtype=torch.float16) for _ in range(ROTATE)]
            source = [self.randn(*shape, dtype=torch.float16) for _ in range(ROTATE)]
            hidden_states = torch.empty_like(source[0])

            def call(i: int, residual: list = residual, source: list = source, hidden: Any = hidden_states) -> object:
                if self.device.flush_buffer is not None:
                    self.device.flush_buffer.zero_()  # the residual comes from DRAM, as the model prices it
                torch.mul(source[i % ROTATE], 1.0, out=hidden)  # the producer: its output is still in L2
                return torch.add(residual[i % ROTATE], hidden)

            durations = profiled_kernel_us(torch, call, self.config, activity, "add")
            if not durations:
                warnings.warn(f"bench: no add kernel in the profile of the {list(shape)} residual add; "
                              "its kernel-duration row is left out", stacklevel=2)
                continue
            self.add("elementwise", f"torch.add kernel duration ({self.device.name}, {timer})", "fp16",
                     {"input_shape": list(shape), "operands": 2, "timer": timer, "warm_inputs": 1,
                      "samples": len(durations)}, "kernel_time", statistics.median(durations), "us")


def profiled_kernel_us(torch: Any, fn: Callable[[int], object], config: BenchConfig, activity: Any,
                       match: str) -> list[float]:
    """Durations (us, float) of the profiled events of `activity` whose name contains `match` and not "mul"
    (the producer), over config.repeats calls of fn after config.warmup: on CUDA the kernels CUPTI records
    (e.g. "...vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<c10::Half>..."), on the CPU the ATen
    ops ("aten::add"), which is how this runs in the tests."""
    from torch.autograd import DeviceType
    from torch.profiler import profile

    for i in range(config.warmup):
        fn(i)
    if activity.name == "CUDA":
        torch.cuda.synchronize()
    with profile(activities=[activity]) as prof:
        for i in range(config.repeats):
            fn(i)
        if activity.name == "CUDA":
            torch.cuda.synchronize()
    device = DeviceType.CUDA if activity.name == "CUDA" else DeviceType.CPU
    return [event.time_range.elapsed_us() for event in prof.events()
            if event.device_type == device and match in event.name.lower() and "mul" not in event.name.lower()]


def _stream_cases(torch: Any, bufs: list, out: Any) -> dict[str, tuple[Callable[[int], object], int]]:
    """kernel -> (call on rotating buffer i, arrays moved per call)."""
    return {
        "copy": (lambda i: out.copy_(bufs[i % ROTATE]), 2),  # read + write
        "triad": (lambda i: torch.add(bufs[i % ROTATE], bufs[(i + 1) % ROTATE], alpha=1.5, out=out), 3),
        "read": (lambda i: bufs[i % ROTATE].sum(), 1),
        "write": (lambda i: out.fill_(float(i)), 1),  # a new value each call: no write-elision
    }


def run_suite(device: str = "cpu", quick: bool = True, command: str | None = None,
              config: BenchConfig | None = None, collectives: bool | None = None) -> list[MeasuredRow]:
    """Every case for the device. `collectives` (default: on CUDA with two or more GPUs) adds NCCL collectives
    across the local GPUs, or gloo collectives across two CPU processes (measure/collectives.py)."""
    import torch

    dev = detect_device(device)
    if dev.name == "cpu":
        torch.set_num_threads(load_hardware("local-cpu").compute.cores)
    config = config or BenchConfig(quick=quick, repeats=7 if quick else 25, budget_s=1.5 if quick else 10.0)
    suite = Suite(dev, config, provenance(dev, command or "accelscope " + " ".join(sys.argv[1:])))
    suite.gemms()
    suite.memory()
    suite.attention()
    suite.memory_bound_ops()
    if dev.name == "cuda":
        suite.kernel_durations()
    if collectives is None:
        collectives = dev.name == "cuda" and torch.cuda.device_count() > 1
    if collectives:
        from .collectives import run_collectives

        suite.rows += run_collectives(dev.name, suite.prov, dev.hardware, quick=quick)
    return suite.rows


def run_cpu_suite(quick: bool = True, command: str | None = None, config: BenchConfig | None = None) -> list[MeasuredRow]:
    return run_suite("cpu", quick, command, config)
