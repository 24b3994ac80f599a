"""Memory-bound ops: one kernel streams its bytes from main memory (or the chip-wide cache, `cached=True` when the
working set fits): launch + first-access latency + the longest of bytes / achievable bandwidth, its Little's-law
bound (bytes in flight per thread x resident threads / latency) and its vector and SFU time. The kernel that
runs (`StreamingKernel`) sets the bytes in flight, how often a row is re-read (from L2 when the rows in flight
fit, else from DRAM), and for a phased kernel (PyTorch's eager softmax) phases whose times add up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...hardware import HardwareSpec
from ...hardware.dtypes import dtype_bytes
from ...hardware.identity import IdentityCache
from ...hardware.spec import MemoryLevel
from ...workload.ops import (
    FMA_FLOPS,
    Elementwise,
    Norm,
    Op,
    OpCost,
    Softmax,
    StreamingKernel,
    streaming_kernel,
)
from ..estimate import Estimate
from ..roofline import warm_read_bytes
from .common import _estimate, _sfu_seconds


def chip_cache_level(hw: HardwareSpec) -> tuple[str, MemoryLevel] | None:
    """(name, level) of the first chip-wide cache, or None if the chip has none."""
    return next(((name, level) for name, level in hw.memory.items()
                 if level.kind == "cache" and level.scope == "chip"), None)


def _chip_cache(hw: HardwareSpec) -> tuple[float, float]:
    """(achievable bandwidth B/s, latency s) of the first chip-wide cache; zeros if the chip has none."""
    return _chip_cache_figures(hw)


def _find_chip_cache(hw: HardwareSpec) -> tuple[float, float]:
    found = chip_cache_level(hw)
    if found is None:
        return 0.0, 0.0
    name, level = found
    return hw.level_total(name)[1] * level.efficiency, level.latency or 0.0


# read two or three times by every streaming estimate: found once per spec (a spec is frozen: identity.py)
_chip_cache_figures: IdentityCache[HardwareSpec, tuple[float, float]] = IdentityCache(_find_chip_cache)


# ----- memory-bound ops -----------------------------------------------------------------------------------------
def streaming(op: Op, hw: HardwareSpec) -> Estimate:
    """One streaming kernel: first-access latency + the longest of its traffic, its latency bound, its arithmetic,
    then the write-back of its last results (_write_tail).

    Inputs come from main memory, unless the op says they are cached (`cached=True`: the previous kernel wrote
    them, or a benchmark loop re-runs on the same buffers) and the working set, read + written, fits the chip-wide
    cache (`HardwareSpec.resident_cache`); then every byte moves at that cache's achievable bandwidth and latency,
    and the results stay there. NB: not assumed by default, because the measured PyTorch softmax/layernorm
    throughputs on A100 (LLMCompass's data) show no such gain between dependent kernels.

    Latency bound (Little's law): a chip keeps at most cores x max_threads_per_core threads resident, each with
    the kernel's loads in flight (`StreamingKernel`), so reads cannot arrive faster than bytes in flight / DRAM
    latency. A tuned kernel (16-B loads, 4 outstanding) clears this on today's GPUs; a scalar one does not, and
    neither would a tuned one on a chip whose bandwidth outgrew its threads. A row reduction that re-reads its
    row (row_passes > 1) serves the re-reads from L2, at L2 latency and bandwidth, when its rows in flight fit
    there (`rereads_hit_cache`), else from DRAM again."""
    cost = op.cost()
    kernel = streaming_kernel(op)
    source, memory, latency = _stream_source(cost, hw)
    if not cost.bytes_read:  # a fill reads nothing: no load waits on memory, its stores end with the write tail
        latency = 0.0
    warm = warm_read_bytes(op, hw) if source == hw.main_memory_name else 0.0
    if warm:  # the warm inputs come from L2: main memory moves the rest, L2 every byte (whichever is longer)
        l2_bw = _chip_cache(hw)[0]
        memory = max(_transfer_seconds(hw, source, cost.bytes_read - warm, cost.bytes_written, cost.bytes),
                     cost.bytes / l2_bw)
    reread_dram, reread_l2, latency_bound = _latency_bound(op, kernel, cost.bytes_read, hw, latency)
    details: dict[str, object] = {"source": source, "kernel": f"{getattr(op, 'kernel', 'vectorized')} ({kernel.note})"}
    if warm:
        details["warm_read_bytes"] = warm
    if source != hw.main_memory_name:
        details["cached"] = f"{cost.bytes / 1e6:.4g} MB read + written stay in {source}"
    if latency_bound:
        details["latency_bound_seconds"] = latency_bound
    if kernel.phases and isinstance(op, Softmax):
        return _phased(op, kernel, hw, source, latency, latency_bound, details)
    vector_rate = hw.vector_peak(cost.vector_dtype) * hw.compute.clock_ratio
    vector = cost.vector_flops / vector_rate
    sfu = 0.0
    for function, count in cost.sfu_ops:
        t_sfu, extra = _sfu_seconds(function, count, hw, vector_rate)
        sfu += t_sfu
        vector += extra
    # a re-read pass adds to DRAM's time when the row left L2, else to L2's, which every byte crosses anyway
    l2_bw = _chip_cache(hw)[0] if reread_l2 else 0.0
    memory = max(memory + reread_dram, cost.bytes / l2_bw + reread_l2 if l2_bw else memory + reread_l2)
    # the Little's-law time counts whole round trips from the first one: it contains the first-access latency.
    # While reads are latency-bound the results still have to be written, and the DRAM bus turned around for
    # them: reads queue behind each write drain, so a latency-bound kernel's writes add their bus time to it.
    if latency_bound and source == hw.main_memory_name and not writes_behind_reads(op, kernel, hw, reread_dram):
        drain = hw.main_memory.transfer_seconds(0.0, cost.bytes_written)
        details["write_drain_seconds"] = drain
        latency_bound += drain
    seconds = max(latency + max(memory, vector, sfu), latency_bound) + _write_tail(hw, cost.bytes_written)
    busy = {"memory": max(memory, latency_bound), "vector": vector, "sfu": sfu}
    return _estimate(op, hw, busy, seconds, cost, details)


def _phased(op: Softmax, kernel: StreamingKernel, hw: HardwareSpec, source: str, latency: float,
            latency_bound: float, details: dict[str, object]) -> Estimate:
    """A kernel whose blocks all run the same phases in step (`StreamingKernel.phases`, PyTorch's eager softmax):
    each phase is bound by its own resource (its reads, its writes, its FP32 instructions, its special-function
    calls) and the phases add up, after one first-access latency:
        time = latency + sum over phases of max(memory, FP32 instructions, SFU)
    The first read comes from `source`; re-reads from L2 if the rows in flight fit it, else from DRAM again."""
    elements = op.rows * op.cols
    size = elements * dtype_bytes(op.dtype)  # the whole input (and output) matrix
    l2_bw, _ = _chip_cache(hw)
    first_read, write = (_transfer_seconds(hw, source, size, 0.0, 2 * size),
                         _transfer_seconds(hw, source, 0.0, size, 2 * size))
    reread = size / l2_bw if (l2_bw and rereads_hit_cache(op, kernel, hw)) else _transfer_seconds(
        hw, hw.main_memory_name, size, 0.0, 2 * size)
    instruction_rate = hw.vector_peak("fp32") * hw.compute.clock_ratio / FMA_FLOPS  # FP32 instructions per second
    phases, busy, seen = [], {"memory": 0.0, "vector": 0.0, "sfu": 0.0}, False
    for phase in kernel.phases:
        memory = (reread if seen else first_read) if phase.reads else 0.0
        seen = seen or phase.reads
        memory += write if phase.writes else 0.0
        vector = elements * phase.fp32_ops / instruction_rate
        sfu = 0.0
        for function, count in phase.sfu:
            t_sfu, extra = _sfu_seconds(function, elements * count, hw, instruction_rate * FMA_FLOPS)
            sfu, vector = sfu + t_sfu, vector + extra
        phases.append(max(memory, vector, sfu))
        busy = {"memory": busy["memory"] + memory, "vector": busy["vector"] + vector, "sfu": busy["sfu"] + sfu}
    seconds = latency + max(sum(phases), latency_bound)
    return _estimate(op, hw, busy, seconds, op.cost(), {**details, "phase_seconds": phases})


def _write_tail(hw: HardwareSpec, bytes_written: float) -> float:
    """The last results are written after the last reads return: the kernel ends when those stores reach the
    chip-wide cache (the point of coherence a grid's completion waits for), one cache latency after its last
    load; the first-access latency covers only the loads. 0 for a kernel that writes nothing."""
    return _chip_cache(hw)[1] if bytes_written else 0.0


def _transfer_seconds(hw: HardwareSpec, level_name: str, read: float, written: float,
                      working_set: float | None = None) -> float:
    """Seconds to move these bytes through a memory level: main memory at its read efficiency and write cost (and
    a chip scratchpad's share of the working set, default read + written: HardwareSpec.memory_seconds), a cache
    at its achievable bandwidth for both."""
    if level_name == hw.main_memory_name:
        return hw.memory_seconds(read, written, read + written if working_set is None else working_set)
    return (read + written) / (hw.level_total(level_name)[1] * hw.memory[level_name].efficiency)


def _stream_source(cost: OpCost, hw: HardwareSpec) -> tuple[str, float, float]:
    """(level the bytes move through, its transfer seconds, its latency): main memory, or the cache holding a
    cached op's working set."""
    cache = hw.resident_cache(cost.bytes) if cost.cached else None
    name = cache or hw.main_memory_name
    return (name, _transfer_seconds(hw, name, cost.bytes_read, cost.bytes_written, cost.bytes),
            hw.memory[name].latency or 0.0)


def _latency_bound(op: Op, kernel: StreamingKernel, bytes_read: float, hw: HardwareSpec,
                   read_latency: float) -> tuple[float, float, float]:
    """(DRAM seconds of re-read passes, L2 seconds of re-read passes, Little's-law seconds for all reads (0 if
    the spec lacks the facts)). `read_latency`: of the level the first reads come from (DRAM, or the cache
    holding a cached op)."""
    width = dtype_bytes(getattr(op, "dtype", "bf16"))
    if isinstance(op, (Norm, Softmax)):
        streams, row_bytes = 1, op.rows * (op.hidden if isinstance(op, Norm) else op.cols) * width
        reread_bytes = (kernel.row_passes - 1) * row_bytes
        # the weight (and bias) vector is loaded alongside the row by the same threads, not after it: only the
        # rows' bytes queue behind the loads in flight
        bytes_read = min(bytes_read, row_bytes)
    else:  # a pointwise kernel has a load of each input array in flight per thread
        streams = max(op.input_arrays, 1) if isinstance(op, Elementwise) else 1
        reread_bytes = 0.0
    l2_bw, l2_latency = _chip_cache(hw) if reread_bytes else (0.0, 0.0)
    reread_dram = reread_l2 = 0.0
    if reread_bytes and not rereads_hit_cache(op, kernel, hw):  # the row left L2 before its second pass
        l2_latency = read_latency
        reread_dram = hw.memory_seconds(reread_bytes, 0.0, bytes_read)
    elif l2_bw:
        reread_l2 = reread_bytes / l2_bw
    threads = hw.compute.max_threads_per_core
    if not threads or not read_latency:
        return reread_dram, reread_l2, 0.0
    blocks = row_blocks(op, kernel, hw)
    if blocks is not None:  # a row kernel: whole waves of blocks, each a chain of whole load rounds per pass
        passes = kernel.row_passes if reread_bytes else 1
        per_wave = blocks.rounds * (read_latency + (passes - 1) * (l2_latency or read_latency))
        return reread_dram, reread_l2, blocks.waves * (per_wave + max(kernel.dependent_loads - 1, 0) * read_latency)
    per_thread = streams * (kernel.load_bytes or width) * kernel.outstanding  # bytes one thread has in flight
    resident = hw.compute.cores * threads
    # (a flat grid is a pointwise op's: `bytes_read` is still its cost's, not capped to a row as above)
    in_flight = min(resident, launched_threads(op, kernel, per_thread, bytes_read)) * per_thread
    first = bytes_read * read_latency / in_flight
    bound = max(first, read_latency) + reread_bytes * (l2_latency or read_latency) / in_flight
    # a gather in front of the stream (StreamingKernel.dependent_loads): its chain of loads, less the one the
    # stream's first round trip already overlaps (the streaming loads of the first round wait on the last link)
    bound += max(kernel.dependent_loads - 1, 0) * read_latency
    return reread_dram, reread_l2, bound


def round_trips_bind(op: Op, hw: HardwareSpec) -> bool:
    """Whether the kernel's reads are latency-bound over several round trips, as `streaming` decides it: its
    Little's-law bound from DRAM (with the write drains its reads queue behind, unless writes_behind_reads)
    exceeds one first access plus its transfer at the achievable bandwidth. Such a kernel's threads load, store,
    then load again; a kernel whose loads are all in flight at once (one round), or that streams at the
    bandwidth, does not."""
    latency = hw.main_memory.latency or 0.0
    if not latency:
        return False
    cost, kernel = op.cost(), streaming_kernel(op)
    reread_dram, _, bound = _latency_bound(op, kernel, cost.bytes_read, hw, latency)
    if not writes_behind_reads(op, kernel, hw, reread_dram):
        bound += hw.main_memory.transfer_seconds(0.0, cost.bytes_written)
    return bound > latency + hw.memory_seconds(cost.bytes_read, cost.bytes_written, cost.bytes)


@dataclass(frozen=True, slots=True)
class RowBlocks:
    """A row kernel's grid (one thread block per row): the block's threads, the rows one wave holds (every core
    full of blocks), the waves the rows take, and the load rounds one pass over a row costs its threads."""

    threads: int
    rows_per_wave: int
    waves: int
    rounds: int


def writes_behind_reads(op: Op, kernel: StreamingKernel, hw: HardwareSpec, reread_dram: float) -> bool:
    """Whether a latency-bound row kernel's writes drain behind its DRAM reads instead of adding their bus time:
    - one wave (every block resident from the start): no read waits for a block to finish, and the rows' writes
      drain while the other blocks' reads are outstanding;
    - a row reduction whose last pass re-reads its row from L2 (vLLM's RMSNorm): a block writes only in that
      pass, when it has no DRAM read outstanding, so its stores use the bus the latency-bound reads leave idle.
    A single-pass kernel over several waves (an activation, the in-place rotary) interleaves each round's
    stores with the next round's loads in the same threads: those reads queue behind the write drains."""
    blocks = row_blocks(op, kernel, hw)
    if blocks is None:
        return False
    rereads = isinstance(op, (Norm, Softmax)) and kernel.row_passes > 1
    return blocks.waves == 1 or (rereads and not reread_dram)


def row_blocks(op: Op, kernel: StreamingKernel, hw: HardwareSpec) -> RowBlocks | None:
    """The whole waves and whole load rounds of a kernel that runs one block per row (a norm or softmax whose
    kernel sets threads_per_row, an Elementwise with `rows` on such a kernel); None for a flat grid, or when the
    spec lacks compute.max_threads_per_core.

    Each block's threads walk the row in rounds of one load group each (threads x elements per load x loads in
    flight), waiting a round trip per round; a block of a later wave starts when one of the first wave ends, so
    partial waves and partial rounds cost whole ones. A kernel that loops over the row several times
    (Elementwise.row_loops: vLLM's rotary loops over the query heads, then the key heads) pays each loop's
    rounds in turn, with the block sized from the longest loop."""
    resident = hw.compute.max_threads_per_core
    width = dtype_bytes(getattr(op, "dtype", "bf16"))
    per_round = max((kernel.load_bytes or width) // width, 1) * kernel.outstanding  # elements per thread a round
    if isinstance(op, (Norm, Softmax)):
        cols = op.hidden if isinstance(op, Norm) else op.cols
        wanted, loops = kernel.row_threads(cols * width), (cols,)
    elif isinstance(op, Elementwise) and op.rows and kernel.threads_per_row:
        wanted = kernel.threads_per_row
        loops = op.row_loops or (math.ceil(op.elements / op.rows),)
    else:
        return None
    if not (resident and wanted):
        return None
    threads = max(1, min(wanted, max(loops)))
    rows_per_wave = hw.compute.cores * max(resident // threads, 1)
    rows = op.rows
    return RowBlocks(threads, rows_per_wave, math.ceil(rows / rows_per_wave),
                     sum(math.ceil(n / (threads * per_round)) for n in loops))


def launched_threads(op: Op, kernel: StreamingKernel, per_thread_bytes: float,
                     bytes_read: float | None = None) -> float:
    """Threads the kernel's grid launches: a row kernel (a norm, or an Elementwise with `rows`) one block of
    `row_threads` per row, at most one thread per element of the row; a flat grid one thread per `per_thread_bytes`
    of its input (all of it in flight in one round). Only the resident ones have loads in flight (the caller caps).
    `bytes_read`: the op's `cost().bytes_read` where the caller has it (a flat grid reads it)."""
    width = dtype_bytes(getattr(op, "dtype", "bf16"))
    if isinstance(op, (Norm, Softmax)):
        cols = op.hidden if isinstance(op, Norm) else op.cols
        per_row = kernel.row_threads(cols * width)
        return op.rows * min(per_row, cols) if per_row else float("inf")
    if isinstance(op, Elementwise) and op.rows and kernel.threads_per_row:
        cols = op.elements / op.rows
        return op.rows * min(kernel.threads_per_row, cols)
    if bytes_read is None:
        bytes_read = op.cost().bytes_read
    return max(1.0, bytes_read / max(per_thread_bytes, 1.0))


def rereads_hit_cache(op: Norm | Softmax, kernel: StreamingKernel, hw: HardwareSpec) -> bool:
    """Whether a row reduction's later passes find their row in the chip-wide cache: the rows in flight (resident
    threads per core / threads per row, on every core) must fit CACHE_RESIDENT_FRACTION of it, since every row
    in flight streams through between a row's first read and its re-read (LRU reuse distance). Unknown thread
    counts: assume they fit."""
    threads = hw.compute.max_threads_per_core
    row_bytes = (op.hidden if isinstance(op, Norm) else op.cols) * dtype_bytes(op.dtype)
    per_row = kernel.row_threads(row_bytes)
    if not (threads and per_row):
        return True
    rows_in_flight = min(op.rows, hw.compute.cores * max(threads // per_row, 1))
    return hw.resident_cache(rows_in_flight * row_bytes) is not None


# ----- collectives ----------------------------------------------------------------------------------------------
# vLLM's custom all-reduce handles buffers up to 8 MiB (custom_all_reduce.py, max_size = 8192 * 1024); larger
# ones go to NCCL.
