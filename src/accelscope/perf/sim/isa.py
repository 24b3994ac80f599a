"""The tile ISA: instructions at tile granularity, as frozen Python data.

A program is a tuple of instructions in issue order. Instructions name the SRAM/register buffers they read and
write; the engine derives every dependency from those names (read-after-write, and write-after-read/write when a
buffer slot is reused, which is how multi-buffering shows up). Each core has in-order queues per unit and runs
the queues concurrently (decoupled access/execute, as TPU VLIW slots or warp-specialized Hopper kernels do).

| class     | instruction                | unit            | cost (core.py)                                         |
|-----------|----------------------------|-----------------|--------------------------------------------------------|
| dma       | Load, Store                | dma engine, L2 / HBM share, SRAM port | bytes / min(engine, core's L2/HBM share) + latency |
| matrix    | Mma                        | matrix          | systolic fold model, or tile FLOPs / per-core MMA rate  |
| vector    | VecOp, Reduce              | vector          | elements x ops / lanes per clock + pipeline latency     |
| special   | Special                    | sfu (native) or vector (emulated polynomial) | per `isa` section     |
| convert   | Convert                    | vector          | native packed convert or emulated bit manipulation      |
| sync      | Barrier                    | none            | waits for its buffers                                    |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Instr:
    """Base: `reads`/`writes` are buffer names; `label` is what the trace and --show-program print."""

    cls: ClassVar[str] = "sync"  # the instruction class of the table above

    reads: tuple[str, ...]
    writes: tuple[str, ...]
    label: str


@dataclass(frozen=True, slots=True)
class Load(Instr):
    """DMA a tile into SRAM. `l2_bytes` cross the chip's shared cache, `hbm_bytes` of those miss to main memory;
    `active` cores share those bandwidths while this tile moves (contention)."""

    l2_bytes: float
    hbm_bytes: float
    active: int
    multicast: int = 1  # cores of a cluster receiving this tile from one L2 read (TMA multicast)
    # Bytes the issuing kernel keeps in flight per core when its threads load (not a DMA engine): resident threads
    # x loads in flight x bytes per load (workload.ops.STREAMING_KERNELS). 0: the DMA engines' own limit.
    in_flight: float = 0.0
    # dependent main-memory loads the tile's addresses wait on (a gather through an index: StreamingKernel.
    # dependent_loads less the one this load's own round trip overlaps), each one memory latency in front
    chain: int = 0
    # one round of a thread-issued loop (compiler.round_split): the warps issue it themselves, so it costs its
    # round trip and its transfer, not a DMA engine's descriptor issue (latency / core.dma_outstanding)
    round_trip: bool = False
    # a streaming kernel's load whose reads are not latency-bound (compiler.streaming, ThreadLoads.in_order
    # False): its request reaches DRAM one DRAM latency after it leaves the core (core.Cost.lead), and the DRAM
    # pipe is reserved without holding the core's units (engine.run). Otherwise (a GEMM's or attention's tile
    # loads, a latency-bound kernel's round trips, each charged its latency) it waits for the pipe in order
    defer_dram: bool = False
    # issued by a SIMT kernel's warps (compiler.streaming with a thread in-flight limit): they reach the L2 slices
    # concurrently, so its L2 share is reserved without holding the core's queue (core.Cost.defer_l2)
    simt: bool = False

    cls: ClassVar[str] = "dma"


@dataclass(frozen=True, slots=True)
class Store(Instr):
    """DMA a tile from SRAM to main memory (`to_cache`: into the chip-wide cache, where a cached op's results
    stay)."""

    hbm_bytes: float
    active: int
    to_cache: bool = False
    # issued by the kernel's threads (st.global from registers, a SIMT kernel's StreamingKernel), not by a DMA
    # engine: no thread waits on a store, so it does not hold the core's load queue; it still ends the tile
    # when it reaches the chip-wide cache and still crosses L2 / DRAM
    by_threads: bool = False
    # a streaming kernel's store whose reads are not latency-bound (as Load.defer_dram): its DRAM write is
    # reserved on the pipe without holding the core's queue. Otherwise it holds the queue until the DRAM pipe takes
    # it: a latency-bound kernel's next loads queue behind its write drains (the analytical level's drain term)
    defer_dram: bool = False
    # issued by a SIMT kernel's warps (compiler.streaming with a thread in-flight limit): they reach the L2 slices
    # concurrently, so its L2 share is reserved without holding the core's queue (core.Cost.defer_l2)
    simt: bool = False
    # a `to_cache` store whose lines still leave for main memory (a result that does not stay cached: the
    # threads' stores of a writes-behind kernel, compiler.ThreadLoads.writes_behind): the write-back takes the
    # DRAM pipe at the write cost, reserved behind the reads without holding the core's queue (the analytical
    # level counts these bytes in its memory time; only their latency drains leave its critical path)
    write_back: bool = False

    cls: ClassVar[str] = "dma"


@dataclass(frozen=True, slots=True)
class Mma(Instr):
    """acc[m, n] += a[m, k] @ b[k, n] on the matrix unit, in `dtype`."""

    m: int
    n: int
    k: int
    dtype: str
    issue_m: int = 0  # rows the datapath is busy for, when more than m (a fixed kernel's MMA shorter than full rate)
    # bytes through the core's SRAM port while it runs, when more than its operands once: the slab written in by
    # the DMA plus each warp's (warpgroup's) own reads of A and B (the compiler's gemm_sram_bytes). 0: operands once
    sram_bytes: float = 0.0
    # a weight-stationary array with double-buffered weights pays its fill and drain once per run of folds: on the
    # run's first MMA (a GEMM tile's first K slab); False on the slabs that follow it (core.mma_cycles)
    starts_run: bool = True

    cls: ClassVar[str] = "matrix"


@dataclass(frozen=True, slots=True)
class VecOp(Instr):
    """`ops` vector operations per element over `elements` (add, max, fma, mul, scale: one lane-slot each)."""

    op: str
    elements: float
    ops: float = 1.0

    cls: ClassVar[str] = "vector"


@dataclass(frozen=True, slots=True)
class Reduce(Instr):
    """Row reduction (sum, max, sum of squares) of `elements` into one value per row."""

    op: str
    elements: float

    cls: ClassVar[str] = "vector"


@dataclass(frozen=True, slots=True)
class Special(Instr):
    """A special function (exp2, log2, rcp, rsqrt, ...) per element: SFU when native, else a polynomial."""

    fn: str
    elements: float

    cls: ClassVar[str] = "special"


@dataclass(frozen=True, slots=True)
class Convert(Instr):
    """Round `elements` to `fmt` (FP8/FP4 element codes), `scaled` by a per-block scale already computed."""

    fmt: str
    elements: float
    scaled: bool = False

    cls: ClassVar[str] = "convert"


@dataclass(frozen=True, slots=True)
class BlockScale(Instr):
    """Turn `blocks` block maxima into power-of-two (E8M0) or E4M3 scales (the MX / NVFP4 scale step)."""

    blocks: float

    cls: ClassVar[str] = "convert"


@dataclass(frozen=True, slots=True)
class Barrier(Instr):
    """Wait until every buffer in `reads` is ready; takes no unit time."""


def describe(instr: Instr) -> str:
    """One line of assembly-like text."""
    kind = type(instr).__name__.lower()
    fields = {
        Load: lambda i: (f"{i.l2_bytes / 1024:.1f} KiB (hbm {i.hbm_bytes / 1024:.1f} KiB, {i.active} cores"
                         f"{f', multicast x{i.multicast}' if i.multicast > 1 else ''})"),
        Store: lambda i: f"{i.hbm_bytes / 1024:.1f} KiB ({i.active} cores)",
        Mma: lambda i: f"{i.m}x{i.n}x{i.k} {i.dtype}",
        VecOp: lambda i: f"{i.op} {i.elements:.0f} el x{i.ops:g}",
        Reduce: lambda i: f"{i.op} {i.elements:.0f} el",
        Special: lambda i: f"{i.fn} {i.elements:.0f} el",
        Convert: lambda i: f"-> {i.fmt} {i.elements:.0f} el{' scaled' if i.scaled else ''}",
        BlockScale: lambda i: f"{i.blocks:.0f} blocks",
        Barrier: lambda i: "",
    }[type(instr)](instr)
    deps = f"{','.join(instr.writes) or '-'} <- {','.join(instr.reads) or '-'}"
    return f"{kind:<10} {deps:<28} {fields}  ; {instr.label}"
