"""The analytical level, op by op. Every parameter is a named spec field (see spec.py) or a constant below
with its reason; nothing is keyed by shape.

GEMM / grouped GEMM: tile search (gemm.py).
Attention (FlashAttention): Q blocks x KV blocks per (batch, head), causal block skipping, matrix work on the
  matrix unit, exp on the SFU, online-softmax arithmetic on the vector unit. fa2 runs softmax after each block's
  matmuls; fa3 (needs matrix.async_overlap) overlaps them (ping-pong). Decode splits the KV sequence across
  cores (split-KV) and is bound by reading the cache.
Memory-bound ops: one kernel streams its bytes from main memory (or the chip-wide cache, `cached=True` when the
  working set fits): launch + first-access latency + the longest of bytes / achievable bandwidth, its Little's-law
  bound (bytes in flight per thread x resident threads / latency) and its vector and SFU time. The kernel that
  runs (`StreamingKernel`) sets the bytes in flight, how often a row is re-read (from L2 when the rows in flight
  fit, else from DRAM), and for a phased kernel (PyTorch's eager softmax) phases whose times add up.
Collectives: alpha-beta model of ring, double-binary-tree and in-switch (NVLS) all-reduce; NCCL picks the
  fastest, and so do we. Hierarchical beyond a scale-up domain (the stages added), or, where the switch reduces,
  NCCL's NVLS_TREE (NVLS in each domain, a tree between domains, pipelined: the slower stage plus both latencies).
"""

from __future__ import annotations

import math

from ...hardware import HardwareSpec
from ...hardware.dtypes import canonical_dtype, dtype_bytes, element_format
from ...hardware.spec import ScaleUp
from ...workload.ops import (
    ATTENTION_BWD_VECTOR_FLOPS,
    FMA_FLOPS,
    ONLINE_SOFTMAX_VECTOR_FLOPS,
    Attention,
    Collective,
    Elementwise,
    Gemm,
    GroupedGemm,
    Norm,
    Op,
    OpCost,
    Softmax,
    StreamingKernel,
    _out_dtype,
    streaming_kernel,
)
from ..collectives import group_bandwidth, wire_factor
from ..estimate import RESOURCES, Estimate
from ..nccl import nccl_seconds, restrict
from ..roofline import SFU_POLYNOMIAL_FLOPS
from .gemm import BlockScaling, gemm_mapping, gemm_seconds, grouped_rows

# FlashAttention block sizes: 128 query rows x 128 keys for head_dim <= 128, 64 keys above (FA2/FA3 defaults
# for these head dims, flash-attention/hopper/tile_size.py and csrc/flash_attn/src/flash_fwd_launch_template.h).
Q_BLOCK = 128


def _kv_block(head_dim: int) -> int:
    return 128 if head_dim <= 128 else 64


def _estimate(op: Op, hw: HardwareSpec, busy: dict[str, float], seconds: float, cost: OpCost,
              details: dict[str, object], bound: str | None = None) -> Estimate:
    """`bound`: the limiting resource when the model knows it (a GEMM's mapping: MMAs and conversions issued by
    the same warps add up); else the busiest one."""
    launch = hw.runtime.launch_latency
    busy = {**dict.fromkeys(RESOURCES, 0.0), **busy, "launch": launch}
    core = {k: v for k, v in busy.items() if k != "launch"}
    bound = bound or max(core, key=lambda k: core[k])
    if launch >= seconds:
        bound = "launch"
    attribution = dict.fromkeys(RESOURCES, 0.0)
    attribution[bound] += seconds
    attribution["launch"] += launch
    return Estimate(seconds=seconds + launch, flops=cost.flops, bytes=cost.bytes, bound=bound, breakdown=busy,
                    level="analytical", op=op.name, hw=hw.id, attribution=attribution, details=details)


# ----- GEMM -----------------------------------------------------------------------------------------------------
# Block formats: elements per shared scale (OCP MX v1.0: 32; NVIDIA NVFP4: 16).
SCALE_BLOCK = {"mxfp8": 32, "mxfp6": 32, "mxfp4": 32, "nvfp4": 16}


def block_scaling(op: Gemm | GroupedGemm, hw: HardwareSpec,
                  cost: OpCost | None = None) -> tuple[BlockScaling | None, str]:
    """The vector work block scaling and operand conversion cost this GEMM on this chip, and why (--explain).

    - an operand stored in another element format than the matrix path the chip runs the product on (W4A16 /
      W8A16 weights into a 16-bit MMA; FP8 or MX on a chip without that rate) is converted as it is loaded:
      HardwareSpec.dequantize_flops(path) per element (isa.dequantize_ops lane slots), a block format's
      scale multiply included;
    - explicit `scale_block` (FP8 with FP32 block scales, DeepSeek-V3): promote every scale_block of K;
    - an MX/NVFP4 dtype with a native block-scaled matrix rate (Blackwell tcgen05, MI355X): scales are applied
      inside the MMA, nothing extra;
    - an MX/NVFP4 dtype on a plain path of its element format: promote at every scale block of K (16 or 32)."""
    cost = cost or op.cost()
    dtype, b_dtype = canonical_dtype(op.dtype), canonical_dtype(op.b_dtype or op.dtype)
    chosen = hw.matrix_dtype(cost.matrix_dtype) or cost.matrix_dtype
    converted = [(name, d) for name, d in (("A", dtype), ("B", b_dtype)) if element_format(d) != element_format(chosen)]
    a_flops = hw.dequantize_flops(chosen) if any(name == "A" for name, _ in converted) else 0.0
    b_flops = hw.dequantize_flops(chosen) if any(name == "B" for name, _ in converted) else 0.0
    reasons = [f"{' and '.join(n for n, d in converted if d == fmt)} ({fmt}) converted to {chosen} on load"
               for fmt in dict.fromkeys(d for _, d in converted)]
    promote_every = 0
    scale_block = getattr(op, "scale_block", None)  # a grouped GEMM has none
    if scale_block:
        promote_every = scale_block
        reasons.append(f"FP32 block scales every {scale_block} of K")
    elif dtype in SCALE_BLOCK and chosen not in SCALE_BLOCK and not a_flops:
        promote_every = SCALE_BLOCK[dtype]
        reasons.append(f"{dtype} on the {chosen} path: partial sums promoted every {promote_every} of K")
    elif dtype in SCALE_BLOCK and chosen in SCALE_BLOCK:
        reasons.append("native")
    if not (promote_every or a_flops or b_flops):
        return None, "; ".join(reasons)
    scaling = BlockScaling(promote_every, Gemm.PROMOTION_FLOPS if promote_every else 0.0, a_flops, b_flops)
    return scaling, "; ".join(reasons)


def gemm(op: Gemm, hw: HardwareSpec) -> Estimate:
    cost = op.cost()
    a_bytes = dtype_bytes(op.dtype)
    b_bytes = dtype_bytes(op.b_dtype or op.dtype)
    c_bytes = dtype_bytes(_out_dtype(op.dtype, op.out_dtype))
    scaling, why = block_scaling(op, hw, cost)
    peak = hw.matrix_peak(cost.matrix_dtype) * hw.matrix_efficiency(cost.matrix_dtype)
    mapping = gemm_mapping(op.m, op.n, op.k, op.batch, a_bytes, b_bytes, c_bytes, peak, hw, shared_b=op.shared_b,
                           scaling=scaling, stream_k=op.schedule == "stream-k")
    seconds = gemm_seconds(mapping)
    busy = {"matrix": mapping.mma_seconds, "memory": max(mapping.hbm_seconds, mapping.l2_seconds,
                                                         mapping.sram_seconds), "vector": mapping.vector_seconds}
    details = {"mapping": mapping.as_dict(), "matrix_dtype": hw.matrix_dtype(cost.matrix_dtype)}
    if why:
        details["block_scaling"] = why
    bound = "memory" if mapping.bound in ("l2", "sram") else mapping.bound
    return _estimate(op, hw, busy, seconds, cost, details, bound)


def grouped_gemm(op: GroupedGemm, hw: HardwareSpec) -> Estimate:
    """One persistent launch over all groups: each distinct group size is a batch of same-shape GEMMs."""
    cost = op.cost()
    a_bytes, b_bytes = dtype_bytes(op.dtype), dtype_bytes(op.b_dtype or op.dtype)
    c_bytes = dtype_bytes(_out_dtype(op.dtype, op.out_dtype))
    peak = hw.matrix_peak(cost.matrix_dtype) * hw.matrix_efficiency(cost.matrix_dtype)
    scaling, why = block_scaling(op, hw, cost)
    seconds = mma = memory = vector = 0.0
    parts = []
    for m, count in grouped_rows(op.rows):
        mapping = gemm_mapping(m, op.n, op.k, count, a_bytes, b_bytes, c_bytes, peak, hw, scaling=scaling)
        seconds += gemm_seconds(mapping)
        mma += mapping.mma_seconds
        memory += max(mapping.hbm_seconds, mapping.l2_seconds, mapping.sram_seconds)
        vector += mapping.vector_seconds
        parts.append({"m": m, "groups": count, "tile": (mapping.block_m, mapping.block_n), "waves": mapping.waves})
    details: dict[str, object] = {"groups": parts}
    if why:
        details["block_scaling"] = why
    return _estimate(op, hw, {"matrix": mma, "memory": memory, "vector": vector}, seconds, cost, details)


# ----- attention ------------------------------------------------------------------------------------------------
def _variant(op: Attention, hw: HardwareSpec) -> str:
    if op.variant == "fa3" and not hw.matrix.async_overlap:
        raise ValueError(f"Attention.variant='fa3' needs asynchronous matrix instructions; {hw.id} has "
                         "matrix.async_overlap: false (use variant='fa2')")
    return op.variant or ("fa3" if hw.matrix.async_overlap else "fa2")


def _sfu_seconds(function: str, count: float, hw: HardwareSpec, vector_rate: float) -> tuple[float, float]:
    """(SFU seconds, extra vector seconds) for `count` calls of `function`."""
    rate = hw.sfu_rate(function)
    if rate is None:
        return 0.0, count * SFU_POLYNOMIAL_FLOPS[function] / vector_rate
    return count / (rate * hw.compute.clock_ratio), 0.0


def unfused_attention(op: Attention, hw: HardwareSpec) -> Estimate:
    """PyTorch's math backend / eager attention: S = QK^T written to memory, softmax, then P V, as three kernels.

    The full Sq x Skv score matrix is computed and stored even when causal (the mask is applied to it)."""

    heads = op.batch * op.heads
    dv = op.v_head_dim or op.head_dim
    passes = {"fwd": 1.0, "bwd": 2.0, "fwd_bwd": 3.0}[op.phase]  # backward: two GEMMs per forward GEMM
    parts = [Gemm(m=op.q_len, n=op.kv_len, k=op.head_dim, batch=heads, dtype=op.dtype),
             Softmax(rows=heads * op.q_len, cols=op.kv_len, dtype=op.dtype),
             Gemm(m=op.q_len, n=dv, k=op.kv_len, batch=heads, dtype=op.dtype)]
    estimates = [gemm(parts[0], hw), streaming(parts[1], hw), gemm(parts[2], hw)]
    launch = hw.runtime.launch_latency
    seconds = passes * sum(e.seconds for e in estimates) - launch  # _estimate adds one launch back
    busy = {r: passes * sum(e.breakdown.get(r, 0.0) for e in estimates) for r in ("matrix", "vector", "sfu", "memory")}
    return _estimate(op, hw, busy, seconds, op.cost(), {"variant": "math", "kernels": 3 * passes})


def masked_mha(op: Attention, hw: HardwareSpec) -> Estimate:
    """Decode attention as FasterTransformer's and TensorRT-LLM <= 0.7's decoderMaskedMultiheadAttention runs it:
    one thread block per (sequence, query head), dot products and the softmax on the vector units.

    Every block reads its KV head itself, so the q heads of a GQA group read their shared K and V `group` times:
    once from DRAM, the rest from L2 (the group's blocks are adjacent in the grid and run side by side), and an
    8-bit cache is converted element by element once per query head. TensorRT-LLM's XQA kernel (v0.8) shares the
    loads across the group on tensor cores; NVIDIA measured 2.4x Llama-70B output throughput from it at
    128/2048 tokens on one H200 (TensorRT-LLM docs/source/blogs/XQA-kernel.md).
        time = DRAM latency + max(bytes / DRAM bandwidth, group x K/V bytes / L2 bandwidth, vector, SFU)"""
    cost = op.cost()
    kv_heads = op.kv_heads or op.heads
    group = op.heads // kv_heads
    dv = op.v_head_dim or op.head_dim
    keys = min(op.kv_len, op.window or op.kv_len)
    kv_width = dtype_bytes(op.kv_dtype or op.dtype)
    kv_bytes = op.batch * kv_heads * keys * (op.head_dim + dv) * kv_width
    hbm = hw.main_memory
    dram = hbm.transfer_seconds(cost.bytes_read, cost.bytes_written)
    l2_bw, _ = _chip_cache(hw)
    l2 = group * kv_bytes / l2_bw if l2_bw else group * dram
    scores = op.batch * op.heads * keys
    convert = (op.head_dim + dv) if kv_width < dtype_bytes(op.dtype) else 0  # dequantize per element per q head
    vector_rate = hw.vector_peak("fp32") * hw.compute.clock_ratio
    vector = scores * (FMA_FLOPS * (op.head_dim + dv) + ONLINE_SOFTMAX_VECTOR_FLOPS + convert) / vector_rate
    sfu, extra = _sfu_seconds("exp2", scores, hw, vector_rate)
    vector += extra
    seconds = (hbm.latency or 0.0) + max(dram, l2, vector, sfu)
    busy = {"memory": max(dram, l2), "vector": vector, "sfu": sfu}
    details = {"variant": "mmha", "group_rereads": group, "l2_seconds": l2, "dram_seconds": dram}
    return _estimate(op, hw, busy, seconds, cost, details)


def attention(op: Attention, hw: HardwareSpec) -> Estimate:
    if op.variant == "math":
        return unfused_attention(op, hw)
    if op.variant == "mmha":
        return masked_mha(op, hw)
    cost = op.cost()
    variant = _variant(op, hw)
    ratio = hw.compute.clock_ratio
    cores = hw.compute.cores
    kv_block = _kv_block(op.head_dim)
    q_blocks = math.ceil(op.q_len / Q_BLOCK)
    kv_blocks = math.ceil(min(op.kv_len, op.window or op.kv_len) / kv_block)
    # causal: a query block sees the key blocks up to the diagonal (the whole prefix of kv_len - q_len first)
    if op.causal and op.q_len > 1:
        offset = (op.kv_len - op.q_len) / kv_block
        pairs_per_head = sum(min(kv_blocks, math.ceil(offset + (i + 1) * Q_BLOCK / kv_block)) for i in range(q_blocks))
    else:
        pairs_per_head = q_blocks * kv_blocks
    # GQA packing (FA3 pack_gqa, FlashDecoding): when the query heads sharing a KV head fit one query block
    # together (decode, short queries), one unit computes them all and loads (and converts) its KV blocks once
    group = op.heads // (op.kv_heads or op.heads)
    packed = group > 1 and op.q_len * group <= Q_BLOCK
    heads = op.batch * (op.kv_heads or op.heads) if packed else op.batch * op.heads
    rows = op.q_len * group if packed else min(op.q_len, Q_BLOCK)
    dv = op.v_head_dim or op.head_dim
    core_peak = hw.matrix_peak(op.dtype) * ratio * hw.matrix_efficiency(op.dtype) / cores
    vector_core = hw.vector_peak("fp32") * ratio / cores
    scores = rows * kv_block
    sfu_chip, extra_vector = _sfu_seconds("exp2", scores, hw, vector_core)
    sfu_core = sfu_chip * cores  # one core's share of the chip's SFU rate
    t_matrix_fwd = 2.0 * scores * (op.head_dim + dv) / core_peak
    # a KV cache stored in another format than the matrix path's (fp8 KV into a bf16 kernel; any fp8 attention on
    # a chip without an fp8 rate) is dequantized block by block as it is loaded, on the vector unit
    path = hw.matrix_dtype(op.dtype) or canonical_dtype(op.dtype)
    kv_converted = element_format(canonical_dtype(op.kv_dtype or op.dtype)) != element_format(path)
    t_convert = kv_block * (op.head_dim + dv) * hw.dequantize_flops(path) / vector_core if kv_converted else 0.0
    t_softmax_fwd = sfu_core + scores * ONLINE_SOFTMAX_VECTOR_FLOPS / vector_core + extra_vector + t_convert
    # backward per block pair: 2.5x the matmuls, P recomputed (exp again), dS on the vector unit, and dQ
    # accumulated in fp32 through L2 with atomics (read + write of a rows x head_dim tile) after every KV block
    # (FlashAttention-2, Algorithm 2); FA3 hides the atomics and the softmax behind a separate warpgroup.
    t_matrix_bwd = 2.5 * t_matrix_fwd
    t_softmax_bwd = sfu_core + scores * ATTENTION_BWD_VECTOR_FLOPS / vector_core + extra_vector
    l2_core = _chip_cache(hw)[0] / cores
    t_atomic = 2 * rows * op.head_dim * 4 / l2_core if l2_core else 0.0
    if variant == "fa3":
        fwd_pair = max(t_matrix_fwd, t_softmax_fwd)
        bwd_pair = max(t_matrix_bwd, t_softmax_bwd + t_atomic)
    else:
        fwd_pair = t_matrix_fwd + t_softmax_fwd
        bwd_pair = t_matrix_bwd + t_softmax_bwd + t_atomic
    pair_time = {"fwd": fwd_pair, "bwd": bwd_pair, "fwd_bwd": fwd_pair + bwd_pair}[op.phase]
    t_matrix = {"fwd": 1.0, "bwd": 2.5, "fwd_bwd": 3.5}[op.phase] * t_matrix_fwd
    t_softmax = {"fwd": t_softmax_fwd, "bwd": t_softmax_bwd, "fwd_bwd": t_softmax_fwd + t_softmax_bwd}[op.phase]
    sfu_core *= 2 if op.phase == "fwd_bwd" else 1

    # Work units: one (batch, head, query block); decode splits the KV sequence to use every core (split-KV).
    units = heads * q_blocks
    splits = max(1, min(kv_blocks, cores // max(units, 1))) if op.q_len <= Q_BLOCK else 1
    units *= splits
    waves = math.ceil(units / cores)
    longest = math.ceil(pairs_per_head / q_blocks / splits) if not op.causal else math.ceil(kv_blocks / splits)
    mean = pairs_per_head / q_blocks / splits
    # Each unit also loads its own tiles from HBM (its share of the bandwidth) before its first block pair and
    # writes its outputs after the last: Q in and O out forward; backward also K, V in and dK, dV out (FA2 runs
    # the backward per KV block). A DRAM latency fills the pipeline.
    hbm = hw.main_memory
    width = dtype_bytes(op.dtype)
    tile_bytes = {"fwd": rows * (op.head_dim + dv), "bwd": 2 * kv_block * (op.head_dim + dv) + rows * op.head_dim,
                  "fwd_bwd": rows * (op.head_dim + dv) + 2 * kv_block * (op.head_dim + dv) + rows * op.head_dim}
    active = min(units, cores)
    unit_overhead = (hbm.latency or 0.0) + tile_bytes[op.phase] * width / (hbm.bandwidth * hbm.efficiency / active)
    # waves of units; the last wave waits for its longest unit (causal: the query block on the diagonal)
    compute = (waves - 1) * (mean * pair_time + unit_overhead) + longest * pair_time + unit_overhead
    memory = hbm.transfer_seconds(cost.bytes_read, cost.bytes_written) + (hbm.latency or 0.0)
    combine = op.batch * op.heads * op.q_len * dv * 4 * splits / (hbm.bandwidth * hbm.efficiency) if splits > 1 else 0
    seconds = max(compute, memory) + combine
    busy = {"matrix": waves * mean * t_matrix, "sfu": waves * mean * sfu_core,
            "vector": waves * mean * (t_softmax - sfu_core), "memory": memory}
    details = {"variant": variant, "q_block": Q_BLOCK, "kv_block": kv_block, "block_pairs": pairs_per_head * heads,
               "units": units, "gqa_packed": packed, "waves": waves, "split_kv": splits, "pair_seconds": pair_time,
               "unit_overhead_seconds": unit_overhead}
    if kv_converted:
        details["kv_conversion"] = f"K and V ({canonical_dtype(op.kv_dtype or op.dtype)}) converted to {path} on load"
    return _estimate(op, hw, busy, seconds, cost, details)


def _chip_cache(hw: HardwareSpec) -> tuple[float, float]:
    """(achievable bandwidth B/s, latency s) of the first chip-wide cache; zeros if the chip has none."""
    for name, level in hw.memory.items():
        if level.kind == "cache" and level.scope == "chip":
            return hw.level_total(name)[1] * level.efficiency, level.latency or 0.0
    return 0.0, 0.0


# ----- memory-bound ops -----------------------------------------------------------------------------------------
def streaming(op: Op, hw: HardwareSpec) -> Estimate:
    """One streaming kernel: first-access latency + the longest of its traffic, its latency bound, its arithmetic.

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
    reread_dram, reread_l2, latency_bound = _latency_bound(op, kernel, cost.bytes_read, hw, latency)
    details: dict[str, object] = {"source": source, "kernel": f"{getattr(op, 'kernel', 'vectorized')} ({kernel.note})"}
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
    seconds = latency + max(memory, latency_bound, vector, sfu)
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
    first_read, write = _transfer_seconds(hw, source, size, 0.0), _transfer_seconds(hw, source, 0.0, size)
    reread = size / l2_bw if (l2_bw and rereads_hit_cache(op, kernel, hw)) else _transfer_seconds(
        hw, hw.main_memory_name, size, 0.0)
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


def _transfer_seconds(hw: HardwareSpec, level_name: str, read: float, written: float) -> float:
    """Seconds to move these bytes through a memory level: main memory at its read efficiency and write cost, a
    cache at its achievable bandwidth for both."""
    if level_name == hw.main_memory_name:
        return hw.main_memory.transfer_seconds(read, written)
    return (read + written) / (hw.level_total(level_name)[1] * hw.memory[level_name].efficiency)


def _stream_source(cost: OpCost, hw: HardwareSpec) -> tuple[str, float, float]:
    """(level the bytes move through, its transfer seconds, its latency): main memory, or the cache holding a
    cached op's working set."""
    cache = hw.resident_cache(cost.bytes) if cost.cached else None
    name = cache or hw.main_memory_name
    return name, _transfer_seconds(hw, name, cost.bytes_read, cost.bytes_written), hw.memory[name].latency or 0.0


def _latency_bound(op: Op, kernel: StreamingKernel, bytes_read: float, hw: HardwareSpec,
                   read_latency: float) -> tuple[float, float, float]:
    """(DRAM seconds of re-read passes, L2 seconds of re-read passes, Little's-law seconds for all reads (0 if
    the spec lacks the facts)). `read_latency`: of the level the first reads come from (DRAM, or the cache
    holding a cached op)."""
    width = dtype_bytes(getattr(op, "dtype", "bf16"))
    if isinstance(op, (Norm, Softmax)):
        streams, row_bytes = 1, op.rows * (op.hidden if isinstance(op, Norm) else op.cols) * width
        reread_bytes = (kernel.row_passes - 1) * row_bytes
    else:  # a pointwise kernel has a load of each input array in flight per thread
        streams = max(op.input_arrays, 1) if isinstance(op, Elementwise) else 1
        reread_bytes = 0.0
    l2_bw, l2_latency = _chip_cache(hw) if reread_bytes else (0.0, 0.0)
    reread_dram = reread_l2 = 0.0
    if reread_bytes and not rereads_hit_cache(op, kernel, hw):  # the row left L2 before its second pass
        l2_latency = read_latency
        reread_dram = hw.main_memory.transfer_seconds(reread_bytes, 0.0)
    elif l2_bw:
        reread_l2 = reread_bytes / l2_bw
    threads = hw.compute.max_threads_per_core
    if not threads or not read_latency:
        return reread_dram, reread_l2, 0.0
    in_flight = hw.compute.cores * threads * streams * (kernel.load_bytes or width) * kernel.outstanding
    bound = (bytes_read * read_latency + reread_bytes * (l2_latency or read_latency)) / in_flight
    return reread_dram, reread_l2, bound


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
CUSTOM_ALLREDUCE_MAX_BYTES = 8 * 2**20


def collective(op: Collective, hw: HardwareSpec) -> Estimate:
    cost = op.cost()
    custom = _custom_allreduce(op, hw)
    link, algorithm = custom if custom else collective_seconds(op.op, op.bytes, op.group, hw, op.stride,
                                                               op.algorithm)
    hbm = hw.main_memory
    memory = hbm.transfer_seconds(cost.bytes_read, cost.bytes_written)  # the buffers are read and written locally too
    return _estimate(op, hw, {"interconnect": link, "memory": memory}, max(link, memory), cost,
                     {"algorithm": algorithm})


def _custom_allreduce(op: Collective, hw: HardwareSpec) -> tuple[float, str] | None:
    """A serving engine's all-reduce over NVLink peer memory, or None where it does not apply (not an all-reduce,
    beyond one switched / fully connected domain, larger than its buffer).

    one-shot: a barrier, every device reads the n-1 peers' buffers and reduces locally, a barrier:
        2 x link latency + (n-1) x bytes / link bandwidth
    two-shot: reduce-scatter then all-gather through peer memory, three barriers:
        3 x link latency + 2 (n-1)/n x bytes / link bandwidth
    whichever is faster (vLLM picks one-shot for small buffers, two-shot above)."""
    up = hw.interconnect.scale_up
    if (op.impl != "custom" or op.op != "all_reduce" or up is None or op.bytes > CUSTOM_ALLREDUCE_MAX_BYTES
            or op.group > max(up.domain_size // op.stride, 1) or up.topology not in ("switch", "fully_connected")):
        return None
    n = op.group
    bandwidth = group_bandwidth(up, n) * up.efficiency
    one_shot = 2 * up.latency + (n - 1) * op.bytes / bandwidth
    two_shot = 3 * up.latency + 2 * (n - 1) / n * op.bytes / bandwidth
    return (one_shot, "custom one-shot") if one_shot <= two_shot else (two_shot, "custom two-shot")


def collective_seconds(kind: str, nbytes: float, group: int, hw: HardwareSpec, stride: int = 1,
                       algorithm: str = "auto") -> tuple[float, str]:
    """`algorithm` pins the library's algorithm inside the domain; across domains the network level keeps ring or
    tree when asked for one and picks the faster of the two otherwise (NVLS exists only inside a switch)."""
    if group <= 1:
        return 0.0, "none"
    up, out = hw.interconnect.scale_up, hw.interconnect.scale_out
    domain = max(up.domain_size // stride, 1) if up else 1
    if up is not None and group <= domain:
        return _in_domain(kind, nbytes, group, up, algorithm)
    if out is None:
        raise ValueError(f"{hw.id}: a collective over {group} devices needs interconnect.scale_out")
    inner = min(domain, group) if up else 1
    outer = max(group // inner, 1)
    inner_t, inner_alg = _in_domain(kind, nbytes, inner, up, algorithm) if (up and inner > 1) else (0.0, "")
    outer_bytes = nbytes / inner if kind in ("all_reduce", "reduce_scatter", "all_gather") else nbytes
    out_bw = out.bandwidth * out.efficiency
    outer_t, outer_alg = _flat(kind, outer_bytes, outer, out_bw, out.latency, False,
                               algorithm=algorithm if algorithm in ("ring", "tree") else "auto")
    options = {f"hierarchical({inner_alg or '-'} x {inner}, {outer_alg} x {outer})": inner_t + outer_t}
    if (up is not None and up.in_network_reduction and inner > 1 and kind == "all_reduce"
            and algorithm in ("auto", "nvls")):
        options[f"nvls-tree(nvls x {inner}, tree x {outer})"] = _nvls_tree(nbytes, inner, outer, up, out_bw,
                                                                           out.latency)
    best = min(options, key=options.__getitem__)
    return options[best], best


def _nvls_tree(nbytes: float, inner: int, outer: int, up: ScaleUp, out_bw: float, out_latency: float) -> float:
    """NCCL's NVLS_TREE all-reduce across domains: NVLS inside each switch domain, each device carrying 1/inner of
    the buffer up and down a tree between domains over its own NIC, the two stages pipelined chunk by chunk
    (NCCL_ALGO_NVLS_TREE, the algorithm NCCL runs across nodes when NVLS is on): the slower stage's transfer time
    plus both latencies (each stage's time for an empty buffer), where the hierarchical estimate adds the two
    stages whole."""
    inner_t, _ = _in_domain("all_reduce", nbytes, inner, up, "nvls")
    inner_lat, _ = _in_domain("all_reduce", 0.0, inner, up, "nvls")
    outer_t, _ = _flat("all_reduce", nbytes / inner, outer, out_bw, out_latency, False, algorithm="tree")
    outer_lat, _ = _flat("all_reduce", 0.0, outer, out_bw, out_latency, False, algorithm="tree")
    return max(inner_t - inner_lat, outer_t - outer_lat) + inner_lat + outer_lat


def _in_domain(kind: str, nbytes: float, group: int, up: ScaleUp, algorithm: str = "auto") -> tuple[float, str]:
    """A collective inside one scale-up domain: the library's cost model if the spec names one, else alpha-beta."""
    bandwidth = group_bandwidth(up, group) * up.efficiency
    if up.library == "nccl":
        return nccl_seconds(kind, nbytes, group, bandwidth, up.in_network_reduction, up.nvls_efficiency, algorithm)
    seconds, chosen = _flat(kind, nbytes, group, bandwidth, up.latency, up.in_network_reduction,
                            up.nvls_efficiency, algorithm)
    return seconds + up.collective_latency, chosen


def _flat(kind: str, nbytes: float, n: int, bandwidth: float, alpha: float, nvls: bool,
          nvls_efficiency: float = 1.0, algorithm: str = "auto") -> tuple[float, str]:
    """Fastest algorithm in one flat group: alpha-beta costs (Thakur et al. 2005; NCCL's algorithms)."""
    if kind != "all_reduce":
        steps = n - 1 if kind != "send_recv" else 1
        restrict({"ring": 0.0}, algorithm, kind)  # alpha-beta prices these as rings only
        return steps * alpha + wire_factor(kind, n) * nbytes / bandwidth, "ring"
    options = {
        "ring": 2 * (n - 1) * alpha + 2 * (n - 1) / n * nbytes / bandwidth,
        # double binary tree: 2 log2(n) latency hops, each byte up and down a tree (pipelined)
        "tree": 2 * math.ceil(math.log2(n)) * alpha + 2 * nbytes / bandwidth,
    }
    if nvls:  # in-switch reduction: each GPU sends its buffer once and receives the result once
        options["nvls"] = 2 * alpha + nbytes / (bandwidth * nvls_efficiency)
    options = restrict(options, algorithm, kind)
    best = min(options, key=lambda k: options[k])
    return options[best], best
