"""Attention (FlashAttention): Q blocks x KV blocks per (batch, head), causal block skipping, matrix work on the
matrix unit, exp on the SFU, online-softmax arithmetic on the vector unit. fa2 runs softmax after each block's
matmuls; fa3 (needs matrix.async_overlap) overlaps them (ping-pong). Decode splits the KV sequence across
cores (split-KV) and is bound by reading the cache. Also unfused (math) attention and TensorRT-LLM's masked MHA.
"""

from __future__ import annotations

import math

from ...hardware import HardwareSpec
from ...hardware.dtypes import canonical_dtype, dtype_bytes, element_format
from ...workload.ops import (
    ATTENTION_BWD_VECTOR_FLOPS,
    FMA_FLOPS,
    ONLINE_SOFTMAX_VECTOR_FLOPS,
    Attention,
    Gemm,
    Softmax,
)
from ..estimate import Estimate
from .common import _estimate, _sfu_seconds
from .matmul import gemm
from .streaming import _chip_cache, streaming

# FlashAttention block sizes: 128 query rows x 128 keys for head_dim <= 128, 64 keys above (FA2/FA3 defaults
# for these head dims, flash-attention/hopper/tile_size.py and csrc/flash_attn/src/flash_fwd_launch_template.h).
Q_BLOCK = 128


def _kv_block(head_dim: int) -> int:
    return 128 if head_dim <= 128 else 64




def _variant(op: Attention, hw: HardwareSpec) -> str:
    if op.variant == "fa3" and not hw.matrix.async_overlap:
        raise ValueError(f"Attention.variant='fa3' needs asynchronous matrix instructions; {hw.id} has "
                         "matrix.async_overlap: false (use variant='fa2')")
    return op.variant or ("fa3" if hw.matrix.async_overlap else "fa2")


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
    dram = hw.memory_seconds(cost.bytes_read, cost.bytes_written, cost.bytes)  # a chip scratchpad's share too
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
    memory = hw.memory_seconds(cost.bytes_read, cost.bytes_written, cost.bytes) + (hbm.latency or 0.0)
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


