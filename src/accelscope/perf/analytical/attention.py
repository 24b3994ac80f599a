"""Attention (FlashAttention): Q blocks x KV blocks per (batch, head), causal block skipping, matrix work on the
matrix unit, exp on the SFU, online-softmax arithmetic on the vector unit. fa2 runs softmax after each block's
matmuls; fa3 (needs matrix.async_overlap) overlaps them (ping-pong). Decode splits the KV sequence across
cores (split-KV) and is bound by reading the cache. Also unfused (math) attention and TensorRT-LLM's masked MHA.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ...hardware import HardwareSpec
from ...hardware.dtypes import DTYPE_BITS, canonical_dtype, dtype_bytes, element_format
from ...workload.ops import (
    FMA_FLOPS,
    ONLINE_SOFTMAX_VECTOR_FLOPS,
    Attention,
    Elementwise,
    Gemm,
    Reduction,
    Softmax,
)
from ..estimate import Estimate
from ..roofline import SFU_POLYNOMIAL_FLOPS, resource_times
from .common import _estimate, _sfu_seconds
from .matmul import gemm
from .streaming import _chip_cache, chip_cache_level, streaming
from .tinygemm import WARP_SCHEDULERS_PER_SM

# FlashAttention block sizes: 128 query rows per unit unless the kernel picks otherwise (_tile), keys per block by it.
Q_BLOCK = 128
# Tensor memory per SM on tcgen05 chips: 128 lanes x 512 columns of 32-bit cells (PTX ISA 8.7, "Tensor Memory").
# FA4 / cuDNN keep two query tiles' S (Bc columns) and O (Dv columns) accumulators there (two softmax warpgroups
# ping-pong), so a 128-key block fits while 2 (128 + Dv) <= 512 columns.
TMEM_COLUMNS = 512
# Query tiles per forward CTA of FA4 (flash_attn/cute/flash_fwd_sm100.py, q_stage = 2): each CTA owns 2 x 128
# query rows, one per softmax warpgroup, so that one tile's MMAs run while the other's softmax does.
Q_TILES_PER_CTA = 2


def _tile(head_dim: int, dv: int, path: str, causal: bool = False, fp8: bool = False) -> tuple[int, int]:
    """(query rows, keys) per forward block, as each kernel picks them:
    - FA2 (csrc/flash_attn/src/flash_fwd_launch_template.h, A100/H100, no dropout): 128 x 128 for head_dim <= 64,
      128 x 64 above (hd128: 4 warps; hd192/256: 8 warps).
    - FA3 (hopper/tile_size.h tile_size_fwd_sm90, shared-memory limited): 16-bit hd <= 64: 192 x (causal 128, else
      192); <= 96: 192 x 144; <= 128: 128 x (causal 128, else 176); <= 192: 128 x (Dv <= 128: 128, else 112);
      256: 128 x 80. FP8: 192 x 160, 192 x 128, 128 x 224, 128 x 160, 128 x 128.
    - tcgen05 kernels (FA4, cuDNN sm100): 128-row tiles, 128 keys while two tiles' S and O fit tensor memory
      (2 (128 + Dv) <= 512 columns), else 64."""
    if path == "tcgen05":
        return Q_BLOCK, 128 if 2 * (128 + dv) <= TMEM_COLUMNS else 64
    if path == "wgmma":
        if fp8:
            table = ((64, 192, 160), (96, 192, 128), (128, 128, 224), (192, 128, 160))
            return next(((m, n) for hd, m, n in table if head_dim <= hd), (128, 128))
        if head_dim <= 64:
            return 192, 128 if causal else 192
        if head_dim <= 96:
            return 192, 144
        if head_dim <= 128:
            return 128, 128 if causal else 176
        if head_dim <= 192:
            return 128, 128 if dv <= 128 else 112
        return 128, 80
    return Q_BLOCK, 128 if head_dim <= 64 else 64


def _tiles_per_cta(name: str, phase: str, q_blocks: int, packed: bool, splits: int) -> int:
    """Query tiles one forward CTA owns: Q_TILES_PER_CTA for FA4 (flash_fwd_sm100.py: q_stage = 2, a 2 x 128-row
    CTA tile, the two tiles' softmax warpgroups ping-ponging on the one MMA pipe), else 1; 1 too when the query is
    one tile (decode, GQA-packed) or the KV sequence is split. cuDNN's sm100 forward is closed source: it is
    priced with one tile per CTA, the simpler structure, which its measured rows (cudnn-frontend, B200 / GB200 /
    GB300) fit slightly better: in-sample attention error 12.6 % against 13.2 % with two tiles, when this was chosen
    (`accelscope validate all --levels analytical --category attention`). CU is the only source with cuDNN sm100
    rows, so this choice is not a held-out result."""
    if name != "fa4" or phase != "fwd" or packed or splits > 1:
        return 1
    return min(Q_TILES_PER_CTA, q_blocks)


def _longest_cta(pairs_per_head: int, q_blocks: int, kv_blocks: int, tiles: int, op: Attention, kv_block: int,
                 q_block: int, longest_tile: int) -> int:
    """Block pairs of the busiest CTA of `tiles` adjacent query tiles: causal (no window), the last CTA, whose
    tiles end on the diagonal: all pairs less those of the first q_blocks - tiles tiles; else tiles x the
    busiest tile's pairs."""
    if op.causal and op.q_len > 1 and not op.window:
        before = _causal_pairs(q_blocks - tiles, kv_blocks, (op.kv_len - op.q_len) / kv_block, q_block / kv_block)
        return pairs_per_head - before
    return tiles * longest_tile


def _fill_drain(t_matrix_pair: float) -> float:
    """Seconds a tcgen05 forward CTA's pipeline leaves exposed at its two ends: its first S = Q K^T MMA runs before
    any softmax can start, and its last O += P V after the last softmax has ended; in between the MMAs of one tile
    hide under the softmax (of the other tile, or of the next block). `t_matrix_pair`: both MMAs of one pair
    (2 Bc (d + dv) FLOP per row), of which S takes d / (d + dv) and P V dv / (d + dv): one pair's MMA time in
    all, exposed once per CTA."""
    return t_matrix_pair


def _atomic_dq(op: Attention, name: str, path: str) -> bool:
    """Whether the backward reduces its dQ partials into global memory with atomics across the KV-block CTAs.
    Not cuDNN's FP8 / MXFP8 and MLA-shaped (Dqk != Dvo) backward on Blackwell: measured (cudnn-frontend rows,
    GB200 / GB300) they run equally fast deterministic or not (ratio 0.94-1.05), where its 16-bit hd 64 / 128
    backward, which does, slows 12-30 % (_deterministic_handoff)."""
    dv = op.v_head_dim or op.head_dim
    return not (name == "cudnn" and path == "tcgen05" and (low_precision_matrix(op.dtype) or dv != op.head_dim))


def _deterministic_handoff(op: Attention, hw: HardwareSpec, name: str, path: str) -> float:
    """Seconds a deterministic backward adds to every block pair (0 when not deterministic).

    FA3 (hopper/flash_bwd_kernel.h, Deterministic) orders the dQ reduction of each query block across the KV-block
    CTAs with a semaphore in global memory: before its reductions a CTA polls until its predecessor's release is
    visible, after them it fences until L2 holds them, then releases. With one dQ staging buffer the next pair's
    dQ waits for that handoff, so each pair pays DETERMINISTIC_L2_TRIPS round trips to L2, each the mean round
    trip to a line shared chip-wide (_chip_shared_line_latency). Measured cuDNN (cudnn-frontend rows, GB200 /
    GB300) runs its 16-bit backward 12-30 % slower when deterministic at every sequence length (a per-pair cost, not a per-wave one), but its FP8 / MXFP8 backward and
    its MLA-shaped (192 / 128) one on Blackwell equally fast either way (ratio 0.94-1.05): those kernels do not
    reduce dQ with atomics across CTAs, so the flag changes nothing there."""
    if not op.deterministic or op.phase == "fwd" or path == "sync" or op.q_len <= 1 or not _atomic_dq(op, name, path):
        return 0.0
    # the semaphore of a query block is polled and released by the CTAs of every key block, wherever they run
    return DETERMINISTIC_L2_TRIPS * _chip_shared_line_latency(hw)


def _gqa_dkv_reduction(op: Attention, group: int, dv: int, red_core: float) -> float:
    """Seconds a GQA backward CTA spends reducing its dK, dV tiles over the query heads of its group (0 without
    GQA). Each CTA of a query head owns one key block and holds that head's share of dK and dV; the group's heads
    add theirs into fp32 accumulators in global memory (FA3 hopper/epilogue_bwd.hpp CollectiveEpilogueBwdGQA:
    atomic adds into dk_accum / dv_accum, converted by flash_bwd_postprocess; FA4 flash_bwd_sm100.py likewise;
    cuDNN taken to do the same): BWD_KV_BLOCK x (d + dv) fp32 elements go to L2 once per CTA at the core's share
    of the rate the L2 applies reductions (`red_core`, B/s), after its last block pair. The accumulators' zeroing
    and conversion passes are left out (under 1 % of the rows' times)."""
    if group <= 1 or not red_core:
        return 0.0
    return BWD_KV_BLOCK * (op.head_dim + dv) * FP32_BYTES / red_core


def _bwd_rows(d: int, dv: int, path: str) -> int:
    """Query rows per backward iteration: tcgen05 kernels keep S^T and dP^T (2 Br columns) and the dK, dV
    accumulators (d + Dv columns) in tensor memory, so Br = 128 while that fits 512 columns, else 64 (MLA's 192/128
    heads); FA3's backward iterates 64 query rows (hopper/tile_size.py, hd > 64)."""
    if path == "tcgen05":
        return 128 if 2 * 128 + d + dv <= TMEM_COLUMNS else 64
    return 64 if d > 64 else 128


def _bwd_smem_bytes_per_score(br: int, bc: int, d: int, dv: int, width: float) -> float:
    """Shared-memory bytes per score of one backward iteration (Br query rows x Bc keys) of an asynchronous-MMA
    kernel, whose MMAs read their operands from shared memory (tcgen05 / wgmma descriptors; P^T and dS^T come from
    tensor memory or registers): S^T = K Q^T (K, Q), dP^T = V dO^T (V, dO), dV += P^T dO (dO), dK += dS^T Q (Q),
    dQ = dS K (dS, K); plus dS written once and the Q, dO tiles the TMA writes in. The fp32 dQ partial goes to L2
    from registers (red.global.add), not through shared memory: staging it there would make cuDNN's FP8 backward
    on MLA heads shared-memory-bound at 1.4x its measured time (GB200/GB300 rows), where the MMAs and the
    softmax alone match it."""
    operands = (bc + br) * d + (bc + br) * dv + br * dv + br * d + br * bc + bc * d
    writes = br * bc + br * (d + dv)
    return width * (operands + writes) / (br * bc)


def _core_sram(hw: HardwareSpec) -> float:
    """Achievable bandwidth (B/s) of one core's shared memory (0 if the spec has none)."""
    for level in hw.memory.values():
        if level.kind == "sram" and level.scope == "core":
            return level.bandwidth * level.efficiency
    return 0.0


def _chip_reduction_rate(hw: HardwareSpec) -> float:
    """Bytes of fp32 reduction operands per second the chip-wide cache applies (red.global / atomic adds of dQ,
    dK, dV partials): the level's reduction_bandwidth where the spec gives one, else its achievable read bandwidth
    (0 if the chip has no chip-wide cache)."""
    for level in hw.memory.values():
        if level.kind == "cache" and level.scope == "chip":
            return level.reduction_rate()
    return 0.0


def _chip_shared_line_latency(hw: HardwareSpec) -> float:
    """Seconds of one round trip to a line that CTAs on every part of the chip touch (a global lock, a counter,
    a workspace tile they all add into): the chip-wide cache's mean over its partitions
    (MemoryLevel.shared_line_latency), 0 if the chip has no chip-wide cache or it gives no latency."""
    found = chip_cache_level(hw)
    return (found[1].shared_line_latency() or 0.0) if found else 0.0


def _bwd_side_passes(op: Attention, hw: HardwareSpec, dv: int) -> float:
    """The backward's two memory-bound kernels beside the main one (FA2 / FA3 / FA4 flash_bwd preprocess and
    postprocess; cuDNN likewise): delta = rowsum(dO * O) (reads O and dO, writes fp32 delta) with the fp32 dQ
    accumulator zeroed, and dQ converted from that accumulator to the activation dtype afterwards. Each is a
    launch, a DRAM latency and its bytes at the DRAM's achievable bandwidth."""
    if op.phase == "fwd" or op.q_len <= 1:
        return 0.0
    rows = op.batch * op.heads * op.q_len
    width = dtype_bytes(op.dtype if not low_precision_matrix(op.dtype) else "bf16")  # O, dO, dQ in 16 bits
    hbm = hw.main_memory
    pre = hbm.transfer_seconds(2 * rows * dv * width, rows * FP32_BYTES + rows * op.head_dim * FP32_BYTES)
    post = hbm.transfer_seconds(rows * op.head_dim * FP32_BYTES, rows * op.head_dim * width)
    return pre + post + 2 * ((hbm.latency or 0.0) + hw.runtime.launch_latency)


def _fa2_gqa_group_sums(op: Attention, hw: HardwareSpec, name: str, dv: int) -> float:
    """Seconds of the two reductions FlashAttention-2's backward runs after its kernel under GQA / MQA (0 without).

    FA2's kernel writes dK and dV per query head: flash_api.cpp mha_bwd allocates dk_expanded, dv_expanded of
    (batch, seqlen_k, num_heads, head_size) in the input dtype when num_heads_k != num_heads, and then sums each
    over the query heads of a group: `at::sum_out(dk, at::reshape(dk_expanded, {batch, seqlen_k, num_heads_k,
    num_heads / num_heads_k, head_size}), {3})`, the same for dv (csrc/flash_attn/flash_api.cpp; PyTorch's vendored
    copy, aten/src/ATen/native/transformers/cuda/flash_attn/flash_api.cpp, does the same). Each sum is a launch, a
    DRAM latency and its bytes at the DRAM's achievable bandwidth: the expanded tensor read, the KV-head one
    written. The kernel's own writes of the expanded tensors are in its per-unit tile bytes already (one unit per
    query head)."""
    kv_heads = op.kv_heads or op.heads
    if name != "fa2" or op.phase == "fwd" or kv_heads == op.heads or op.q_len <= 1:
        return 0.0
    width = dtype_bytes(op.dtype)
    hbm = hw.main_memory
    seconds = 0.0
    for head_size in (op.head_dim, dv):  # dK, then dV
        expanded = op.batch * op.kv_len * op.heads * head_size * width
        seconds += hbm.transfer_seconds(expanded, expanded * kv_heads / op.heads)
        seconds += (hbm.latency or 0.0) + hw.runtime.launch_latency
    return seconds


def _split_bwd_compute(op: Attention, dkdv_pair: float, dq_pair: float, q_blocks: int, kv_blocks: int,
                       pairs_per_head: int, cores: int, unit_overhead: float) -> float:
    """Seconds of AOTriton's split backward (AOTRITON_BWD_D_GEMMS note), its two kernels one after the other.

    bwd_kernel_dk_dv's grid is (key blocks, KV heads, batch) (ROCm/aotriton v2src/flash/attn_bwd.cc): one program
    per key block of a KV head walks the query blocks of every query head of its group, summing their dK and dV
    in registers (no atomics), so under GQA it has group-times fewer, group-times longer units; the longest is a
    key block that every query block sees (the first, when causal): group x q_blocks pairs. bwd_kernel_dq's grid
    is (query blocks, query heads, batch): one program per query block walks the key blocks it sees, at most
    kv_blocks. Each grid runs in waves of `cores` units, the last wave waiting for its longest unit; every unit
    loads its tiles first (`unit_overhead`)."""
    group = op.heads // (op.kv_heads or op.heads)
    kv_units = op.batch * (op.kv_heads or op.heads) * kv_blocks
    q_units = op.batch * op.heads * q_blocks

    def grid(units: int, mean_pairs: float, longest_pairs: int, pair: float) -> float:
        waves = math.ceil(units / cores)
        return (waves - 1) * (mean_pairs * pair + unit_overhead) + longest_pairs * pair + unit_overhead

    dkdv = grid(kv_units, group * pairs_per_head / kv_blocks, group * q_blocks, dkdv_pair)
    dq = grid(q_units, pairs_per_head / q_blocks, kv_blocks, dq_pair)
    return dkdv + dq


def _memeff_dq_section(rows: int, d: int, l2_core: float, l2_latency: float) -> float:
    """Seconds of one block pair's locked dQ update in the mem-efficient backward (MEMEFF_DQ_L2_TRIPS note): the
    dependent L2 round trips (lock CAS, tile load, fence after the store), each `l2_latency` (s; the mean round
    trip to a line shared chip-wide, _chip_shared_line_latency), plus the rows x d fp32 tile loaded and stored at
    the core's share of the L2 bandwidth (`l2_core`, B/s)."""
    return MEMEFF_DQ_L2_TRIPS * l2_latency + 2 * rows * d * FP32_BYTES / l2_core


def _memeff_workspace_zero(op: Attention, hw: HardwareSpec, q_blocks: int) -> float:
    """Seconds of the one pass beside the mem-efficient backward kernel (0 forward): attention_backward.cu zeroes
    its split-keys workspace (`workspace.zero_()`, one GradQTempStorage per (batch, head, query block): a 16-byte
    lock / counter header and the MEMEFF_BLOCK x head_dim fp32 dQ tile), written at the DRAM's achievable
    bandwidth after a launch and a DRAM latency. Unlike FlashAttention it needs no delta pass (the kernel computes
    delta itself, kernel_backward.h kKernelComputesDelta for 16-bit inputs) and no dQ conversion pass (the last
    CTA to add into a dQ tile writes it in the output dtype)."""
    if op.phase == "fwd" or op.q_len <= 1:
        return 0.0
    tiles = op.batch * op.heads * q_blocks
    workspace = tiles * (MEMEFF_LOCK_HEADER_BYTES + MEMEFF_BLOCK * op.head_dim * FP32_BYTES)
    hbm = hw.main_memory
    return hbm.transfer_seconds(0.0, workspace) + (hbm.latency or 0.0) + hw.runtime.launch_latency


def _causal_pairs(q_blocks: int, kv_blocks: int, offset: float, step: float) -> int:
    """Sum over query blocks i of min(kv_blocks, ceil(offset + (i + 1) step)): the key blocks up to each query
    block's diagonal. Closed form when offset and step are whole (the usual case), else the sum."""
    if offset == int(offset) and step == int(step) and step > 0:
        a, b = int(offset), int(step)
        uncapped = max(0, min(q_blocks, (kv_blocks - a) // b))  # terms a + (i + 1) b <= kv_blocks
        return uncapped * a + b * uncapped * (uncapped + 1) // 2 + (q_blocks - uncapped) * kv_blocks
    import numpy as np

    ends = np.ceil(offset + np.arange(1, q_blocks + 1) * step - 1e-9)
    return int(np.minimum(kv_blocks, ends).sum())


def low_precision_matrix(dtype: str) -> bool:
    return DTYPE_BITS.get(canonical_dtype(dtype), 16) < 9  # 8-bit elements, block scales included (mxfp8: 8.25)


def kernel(op: Attention, hw: HardwareSpec) -> str:
    """The kernel that runs: the op's variant, else the chip's default (fa4 where the chip has tensor-memory MMAs,
    fa3 where it has asynchronous warpgroup MMAs, fa2 elsewhere)."""
    if op.variant == "fa3" and not hw.matrix.async_overlap:
        raise ValueError(f"Attention.variant='fa3' needs asynchronous matrix instructions; {hw.id} has "
                         "matrix.async_overlap: false (use variant='fa2')")
    if op.variant == "fa4" and not (hw.matrix.async_overlap and hw.matrix.paired_cores):
        raise ValueError(f"Attention.variant='fa4' needs tensor-memory MMAs (tcgen05: matrix.async_overlap and "
                         f"matrix.paired_cores); {hw.id} has not (use "
                         f"{'fa3 or fa2' if hw.matrix.async_overlap else 'fa2'})")  # fa3 needs wgmma too
    if op.variant:
        return op.variant
    return _native(hw)


def _native(hw: HardwareSpec) -> str:
    if hw.matrix.async_overlap and hw.matrix.paired_cores:
        return "fa4"
    return "fa3" if hw.matrix.async_overlap else "fa2"


def matrix_path(name: str, hw: HardwareSpec) -> str:
    """The matrix instruction a kernel issues: "sync" (mma.sync, FA2), "wgmma" (FA3; cuDNN on Hopper), "tcgen05"
    (FA4; cuDNN on Blackwell)."""
    if name == "cudnn":
        name = _native(hw)
    return {"fa2": "sync", "fa3": "wgmma", "fa4": "tcgen05", "triton": "sync", "aotriton": "sync",
            "mem_efficient": "sync"}[name]


# PyTorch SDPA's EFFICIENT_ATTENTION backend on CUDA (aten/src/ATen/native/transformers/cuda/mem_eff_attention/,
# the xformers CUTLASS kernels; PyTorch 2.7). Every kernel is a `cutlass::arch::Sm80` template (kernels/cutlassF_*,
# cutlassB_*: `..._sm80`, built for sm80 up to the newest arch), so its MMAs are mma.sync on Hopper and Blackwell
# too. For a 16-bit head of <= 64 the forward is `fmha_cutlassF_bf16_aligned_64x64_rf_sm80` (64 queries x 64 keys
# per block) and the backward `fmha_cutlassB_bf16_aligned_64x64_k64_sm80` (kBlockSizeI = kBlockSizeJ = 64).
MEMEFF_BLOCK = 64
# Its backward (kernel_backward.h, attention_backward.cu): the "Keys splitting heuristic" sets num_splits_key to
# the number of key blocks (unless the keys fit 2 blocks with >= 256 CTAs already), one CTA per key block, each
# walking the query blocks at and after its diagonal. dQ of a query block is summed across those CTAs in an fp32
# workspace tile (GradQTempStorage) under a lock, per block pair:
# - `AtomicLock::acquire`: thread 0 loops `while (atomicCAS(lock, 0, set_val) != set_val) __nanosleep(40);`.
#   atomicCAS returns the old value, so the CAS that takes a free lock returns 0 and the loop runs once more: the
#   second CAS returns set_val. Two dependent atomic round trips to L2, then __syncthreads and __threadfence;
# - the 64 x head_dim fp32 tile loaded from global memory (one round trip), dQ += dS K;
# - thread 0's `atomicAdd(&counter, 1)`, whose returned count every thread waits for (__syncthreads_or) to learn
#   whether it is the last contributor (isLast holds on every pair when each CTA owns one key block): one more;
# - the tile stored, `__threadfence()` until the stores are visible (one more), __syncthreads, the release store.
# Five dependent round trips to L2 per pair with the tile's load and store between them, all serial with the
# pair's MMAs in the CTA's warps. (The last contributor to a query block writes dQ out instead of the fp32 tile:
# one pair in q_blocks per key block, left out.)
MEMEFF_DQ_L2_TRIPS = 5
# GradQTempStorage's header before each dQ tile: int32 lock, int32 counter, two int32 of padding (kernel_backward.h)
MEMEFF_LOCK_HEADER_BYTES = 16


# AOTriton (ROCm/aotriton), the Triton kernels PyTorch's SDPA flash / efficient backends run on ROCm. Up to 0.10b
# (PyTorch 2.8 and the nightlies before pytorch/pytorch #161754, 29 Aug 2025, which moved to 0.11b and its AITER
# assembly backward) the backward of a large problem is split in two kernels (the fused one is for small workloads,
# #148433): bwd_kernel_dk_dv, one program per key block, recomputes S = Q K^T, P = exp2(.), dP = dO V^T, dS and
# accumulates dV += P^T dO, dK += dS^T Q; bwd_kernel_dq, one program per query block, recomputes S, P, dP, dS again
# and accumulates dQ += dS K (tritonsrc/bwd_inner_dq.py). Seven matmuls per score instead of FlashAttention-2's
# five, the softmax recomputation twice, and no dQ atomics (each dQ tile has one owner).
# Matmuls per score of the split backward, by the head dimension they reduce over / produce: S twice, dK and dQ
# over d; dP twice and dV over dv.
AOTRITON_BWD_D_GEMMS, AOTRITON_BWD_DV_GEMMS = 4, 3


# The Triton FlashAttention of flash-attention's flash_attn/flash_attn_triton.py (Tri Dao, tested with
# triton==2.0.0.dev20221202), which llm-foundry copied as llmfoundry/models/layers/flash_attn_triton.py and ran as
# MPT's attn_impl "triton" with the pre-MLIR Triton compiler (setup.py: triton-pre-mlir, a fork patched to build
# for sm_90). As its source writes it:
# - forward: BLOCK = 128 query rows x 128 keys (BLOCK_M = BLOCK_N), num_warps 4 (d <= 64) or 8, num_stages=1;
#   backward: the autotune configs 128 x 128, 8 warps, num_stages=1 (the others are disabled as buggy);
# - BLOCK_HEADDIM = max(next_power_of_2(d), 16): the head is padded, so the MMAs of d = 80 or 112 run at 128;
# - num_stages=1: no cp.async multi-stage pipeline, so each block pair's tl.load (K, V forward; Q, dO and the
#   dQ tile backward) completes before the tl.dot that uses it: the load is serial with the MMAs, at the
#   core's share of the L2 bandwidth after an L2 latency (the blocks are shared by the head's other units);
# - tl.dot lowers to mma.sync (no wgmma before Triton's MLIR Hopper backend): matrix.sync_fraction on Hopper;
# - backward: SEQUENCE_PARALLEL False runs one program per (batch, head) over all its key blocks, reading,
#   adding and storing the fp32 dQ tile per pair; True one program per key block, dQ by tl.atomic_add;
#   the autotuner keeps the faster (priced both ways here, the shorter kept).
TRITON_BLOCK = 128
TRITON_FWD_ROUND_TRIPS, TRITON_BWD_ROUND_TRIPS = 3, 4
# How MPT calls it: llm-foundry's MPTModel._attn_bias (attn_impl "torch" / "triton") turns the batch's
# attention_mask into a (batch, 1, 1, seq) fp32 bias (zeros, masked_fill with the dtype's min), which
# flash_attn_triton.py runs as BIAS_TYPE "vector" (bias.shape[2:] == (1, seqlen_k)). Per block pair, forward and
# backward, that adds the bias load (BLOCK_N fp32, consumed by `qk * softmax_scale + bias` before the row max /
# the exp: one more dependent L2 round trip) and that FFMA per score, after which the max (forward) or the LSE
# (backward) is subtracted on its own instead of inside the scale's FFMA: one more FMA-pipe slot per score. (The
# backward's `tl.debug_barrier()` before the bias load, a CTA barrier, is not priced.) The variant prices the
# kernel as MPT ran it (its only caller here is the LF mapper, MPT_ATTENTION), so the bias is part of the variant,
# a fixed property of the kernel priced, not a switch: one more dependent L2 round trip per block pair and one more
# FMA-pipe slot per score, forward and backward.
TRITON_BIAS_ROUND_TRIPS, TRITON_BIAS_SLOTS = 1, 1.0


def triton_smem_bytes(phase: str, d: int, dv: int, warps: int, block: int = TRITON_BLOCK,
                      width: float = 2.0) -> float:
    """Shared-memory bytes one block pair of flash_attn_triton.py moves (phase "fwd" or "bwd").

    Triton lowers tl.dot to mma.sync (no wgmma before its MLIR Hopper backend): every operand is converted from
    its load layout through shared memory (one store) and read back with ldmatrix. Its legacy MMA layout puts a
    128-row dot's warps along M (warpsPerTile doubles M first while M / (16 x warps) > 1), so each warp reads its
    own rows of the A operand but the WHOLE B operand: B is read `warps` times per dot.
    Forward (`num_warps` 8 for d > 64, else 4): S = Q K^T (A = Q, B = K^T), O += P V (A = P, B = V); stored: the
    K, V and P tiles (Q is loop-invariant). Backward (8 warps, one program per key block): S = Q K^T, dV += P^T
    dO, dP = dO V^T, dK += dS^T Q, dQ = dS K: A operands Q, P^T, dO, dS^T, dS; B operands K, dO, V, Q, K;
    stored per pair: Q, dO, P, dS (K and V are loop-invariant). Bytes of 16-bit operands (`width`)."""
    n = block * block
    if phase == "fwd":
        a_reads = block * d + n
        b_reads = warps * (block * d + block * dv)
        stores = block * d + block * dv + n
    else:
        a_reads = block * d + n + block * dv + 2 * n
        b_reads = warps * block * (3 * d + 2 * dv)
        stores = block * d + block * dv + 2 * n
    return width * (a_reads + b_reads + stores)


# 32-bit registers one thread may hold (CUDA C++ Programming Guide, "Technical Specifications per Compute
# Capability": 255 for compute capability 5.0 through 10.x; above it ptxas spills to local memory).
MAX_THREAD_REGISTERS = 255
# mma.sync.m16n8k16 operand fragments (PTX ISA, "Matrix Fragments for mma.m16n8k16" with .bf16 / .f16): per k16
# step a warp holds A, 16 rows x 16 of 16-bit values per 16-row tile (4 registers a lane), and B, 16 x 8 per
# n8 tile (2 registers a lane).
MMA_K = 16


def triton_live_registers(phase: str, d: int, dv: int, warps: int, block: int = TRITON_BLOCK) -> float:
    """32-bit registers per thread that the fp32 tiles of flash_attn_triton.py keep live across a block pair.

    Forward: the O accumulator acc_o (block x dv) and the scores qk / p (block x block). Backward
    (`_bwd_kernel_one_col_block`): the dK and dV accumulators (block x d, block x dv: BLOCK_N rows) and, while
    dp = dot(do, trans(v)) runs, p (kept in fp32 for ds = p * (dp - Di)) and the dp accumulator (block x block
    each); K and V are loop-invariant dot operands (shared memory), ds is converted to 16 bits at once (the
    source: "Converting ds to q.dtype here reduces register pressure")."""
    n = block * block
    live = block * dv + n if phase == "fwd" else block * (d + dv) + 2 * n
    return live / (32 * warps)


def triton_fragment_registers(warps: int, block: int = TRITON_BLOCK) -> float:
    """Registers per lane of one k16 step's mma.sync operands in a block x block dot with the warps along M:
    the A tiles of the warp's block / warps rows (4 a lane per 16 rows) and the B fragment of all `block`
    columns (2 a lane per n8 tile: the whole B, triton_smem_bytes)."""
    return 4 * max(1, block // (16 * warps)) + 2 * (block // 8)


def triton_operands_overlap(phase: str, d: int, dv: int, warps: int, block: int = TRITON_BLOCK) -> bool:
    """Whether the next k16 step's ldmatrix can run beside this step's mma.sync: that needs a second set of
    operand fragments in registers next to the live fp32 tiles (MAX_THREAD_REGISTERS). Without it each
    fragment's ldmatrix completes before its MMAs issue and the pair pays its shared-memory reads and its MMAs
    one after the other (1 CTA of 8 warps per SM at this register use: no other block's MMAs fill the gap).
    d = 128 backward: 128 x 256 + 2 x 16,384 = 65,536 fp32 / 256 threads = 256 registers, over 255 alone;
    d = 128 forward (8 warps): 128 registers + 2 x 36 = 200, fits."""
    return triton_live_registers(phase, d, dv, warps, block) + 2 * triton_fragment_registers(warps, block) \
        <= MAX_THREAD_REGISTERS


# Lane slots (one FP32-pipe instruction per thread) per score element of the online softmax, as the FlashAttention
# kernels issue it; an FMA and a max or an add each take one slot, so FLOP counts undercount non-FMA work.
# Forward: scale-and-subtract-max (FFMA), row max (FMNMX), row sum (FADD), P to 16 bits (F2FP packs two: 0.5),
# plus rescaling the O accumulator (Dv multiplies per row per KV block = Dv / Bc per score): FA2 / FA3 rescale
# after every block, FA4 only when the row max grew past a threshold (FA4 write-up: ~90 % of rescales skipped).
# Backward: P recomputed (FFMA), dS = P * (dP - delta) (FADD + FMUL), P and dS to 16 bits (2 x 0.5).
SOFTMAX_FWD_FMA, SOFTMAX_FWD_ALU = 2.0, 1.5  # FFMA + FADD (+ the O rescale, below) | FMNMX + F2FP/2
SOFTMAX_BWD_FMA, SOFTMAX_BWD_ALU = 3.0, 1.0  # FFMA + FADD + FMUL | 2 x F2FP/2
# The F2FP / 2 above: one packed convert narrows two fp32 elements (HardwareSpec.narrow_slots' default)
NATIVE_NARROW_SLOTS = 0.5  # ALU instruction slots per fp32 element narrowed to 16 bits
# The non-FMA softmax instructions (FMNMX, FSEL, ISETP, F2FP, PRMT) issue to the ALU pipe, which runs beside the
# FMA pipe: 64 results per clock per SM on compute capability 8.0-10.0 (CUDA C++ Programming Guide, arithmetic
# instruction throughput: compare / minimum / maximum, conversions), against 64 (A100) or 128 (Hopper, Blackwell)
# FP32 FMA lanes.
ALU_LANES = 64
FA4_RESCALE_SHARE = 0.1
MASK_SLOTS = 2.0
# A sliding window's mask keeps a score only between two bounds: FA2 csrc/flash_attn/src/mask.h apply_mask_local
# (`col_idx >= col_idx_limit_right || col_idx < col_idx_limit_left` -> -inf) compares each column index against
# both, one more compare per score than the causal mask's single bound (apply_mask_causal); cuDNN and FA4 mask a
# window the same way.
LOCAL_MASK_SLOTS = 1.0  # ALU instruction slots (compares) per score, beyond the causal mask's
# dQ reductions (red.global.add.f32 / TMA reduce-add) carry each fp32 element to its L2 slice once; the slice does
# the read-modify-write itself, so the SM-to-L2 traffic is one pass of the rows x head_dim tile per block pair.
ATOMIC_PASSES = 1
FP32_BYTES = 4  # bytes per fp32 element: the dQ / dK / dV partials and accumulators, the softmax statistics
# Deterministic backward: L2 round trips per dQ handoff between consecutive KV-block CTAs of a head, each pair:
# the poll of the per-query-block semaphore that sees the predecessor's release, the fence after this CTA's dQ
# reductions (until L2 has them), and the release store the successor's poll must see. FA3
# hopper/flash_bwd_kernel.h (Deterministic) and hopper/named_barrier / Barrier::wait_eq, arrive_inc.
DETERMINISTIC_L2_TRIPS = 3
# Keys per backward CTA of the warp-specialized kernels (FA3 hopper/tile_size.py, hd 128: kBlockN = 128; FA4
# flash_bwd_sm100.py n_block_size = 128): the dK, dV tile one CTA holds is BWD_KV_BLOCK x head_dim.
BWD_KV_BLOCK = 128
# FP8 attention (FA3 sec. 3.3, cuDNN FP8 SDPA): P (and dS in the backward) is multiplied by its quantization scale
# before the E4M3 convert (one FMUL per score; the pack is counted above), and on Hopper the FP8 wgmma's register
# operand needs P's bytes permuted into its layout (PRMT, about one per two scores).
FP8_SCALE_SLOTS = 1.0
# Block-scaled FP8 (MXFP8, OCP MX v1.0: one E8M0 scale per 32 elements): P (and dS) also need the amax of every
# 32-score block before the scale is known (one FMNMX per score; the butterfly and the exponent are per block).
MX_AMAX_SLOTS = 1.0
# Block-scaled FP8 backward: an MX block scale runs along the reduction dimension of the MMA that reads the operand
# (OCP MX v1.0; tcgen05.mma kind::mxf8f6f4 scale factors per 32 elements of K), and dS feeds two MMAs that reduce
# over different dimensions, dQ = dS K (over keys) and dK = dS^T Q (over queries): dS is quantized a second time,
# with blocks along the other dimension, its own amax (FMNMX), scale multiply (FMUL) and convert (F2FP, two per
# instruction). A per-tensor FP8 scale serves both orientations, so plain FP8 pays this once.
MX_REQUANT_FMA, MX_REQUANT_ALU = 1.0, 1.5
# Share of the shorter of the MMA and softmax streams per block pair that a warp-specialized ping-pong schedule
# (FA3, FA4, cuDNN) leaves exposed: named-barrier / mbarrier handoffs between the MMA issuer and the softmax
# warps. One constant for every warp-specialized kernel on every chip, fitted to the cudnn-frontend forward rows
# (docs/validation.md, with its leave-one-source-out check).
PINGPONG_LOSS = 0.2
FP8_PERMUTE_SLOTS = 0.5


def _softmax_exp(scores: float, fma_slots: float, alu_slots: float, lane_rate: float, alu_rate: float,
                 sfu_core_rate: float, emulate: bool, alu_pipe: bool = True) -> tuple[float, float, float]:
    """(SFU seconds, FP32-pipe seconds, share of exps emulated) for `scores` exps plus, per score, `fma_slots`
    instructions on the FMA pipe (`lane_rate` a second) and `alu_slots` on the ALU pipe (compare, min/max, select,
    convert, permute; `alu_rate` a second), which issue side by side where the chip has an ALU pipe beside the
    FMA pipe (`alu_pipe`, vector.alu_pipe), and one after the other on a single VALU (AMD CDNA).

    FA4 (and cuDNN on Blackwell) computes part of the exps as a polynomial on the FMA pipes (Cody-Waite range
    reduction + a degree-3 polynomial, SFU_POLYNOMIAL_FLOPS["exp2"] / 2 lane slots each), so that the MUFU and the
    FMA pipes finish together: e emulated exps with (scores - e) / S = (scores x fma_slots + e P) / V."""
    poly = SFU_POLYNOMIAL_FLOPS["exp2"] / FMA_FLOPS
    alu = scores * alu_slots / alu_rate
    fma = scores * fma_slots / lane_rate
    if sfu_core_rate <= 0:  # no SFU exp: every exp is a polynomial
        return 0.0, max(fma + scores * poly / lane_rate, alu), 1.0
    sfu = scores / sfu_core_rate
    if not alu_pipe:  # one VALU runs both kinds (no emulation: FA4 is a Blackwell kernel)
        return sfu, fma + alu, 0.0
    if not emulate or sfu <= max(fma, alu):
        return sfu, max(fma, alu), 0.0
    e = max(0.0, (sfu - fma) / (1 / sfu_core_rate + poly / lane_rate))
    return (scores - e) / sfu_core_rate, max(fma + e * poly / lane_rate, alu), e / scores


def _triton_mma_time(phase: str, t_mma: float, t_smem: float, d: int, dv: int, warps: int) -> float:
    """A Triton block pair's matrix time: its mma.sync and its ldmatrix reads overlap (the longer of the two) when
    the registers hold a second set of operand fragments (triton_operands_overlap), else they add up."""
    return max(t_mma, t_smem) if triton_operands_overlap(phase, d, dv, warps) else t_mma + t_smem


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


# PyTorch SDPA's math backend (aten/src/ATen/native/transformers/attention.cpp, _scaled_dot_product_attention_math,
# PyTorch >= 2.5): fp16 / bf16 query, key and value are converted to fp32 first unless
# torch.backends.cuda.allow_fp16_bf16_reduction_math_sdp(True) was called (default False: "Keep query, key, value in
# high precision for accuracy"), so every kernel of the graph runs on fp32 tensors: the two matmuls, the causal
# mask's in-place add, _safe_softmax, and the fp32 score matrix converted back to the input dtype as the op's second
# output (`attn.to(origin_dtype)`). _safe_softmax (same file) is softmax, then `self.eq(-inf)` (a bool per score),
# `all(masked, dim)` over each row and `where(masked_rows, 0, out)` (reads and writes the probabilities again).
SDPA_MATH_ACC = "fp32"
BOOL_DTYPE = "int8"  # torch.bool: one byte per element


def _sdpa_math_parts(op: Attention) -> tuple[list[Gemm], list[Softmax | Elementwise | Reduction]]:
    """(matmuls, streaming kernels) of torch SDPA's math graph for op.phase, on the fp32 tensors it upcasts to.

    Forward: S = Q K^T (fp32 out), S += causal mask (in place: one read and one write of S), P = _safe_softmax(S)
    (softmax, isneginf, the rows' all(), where), O = P V, P.to(input dtype). Backward (autograd over the same fp32
    graph): dP = dO V^T, dV = P^T dO, dS = P * (dP - rowsum(P * dP)) (reads P and dP, writes dS), dQ = dS K,
    dK = dS^T Q; the mask add passes the gradient through."""
    heads, sq, sk, d = op.batch * op.heads, op.q_len, op.kv_len, op.head_dim
    dv = op.v_head_dim or d
    acc = SDPA_MATH_ACC if dtype_bytes(op.dtype) < dtype_bytes(SDPA_MATH_ACC) else canonical_dtype(op.dtype)
    scores = heads * sq * sk
    fwd_mm = [Gemm(m=sq, n=sk, k=d, batch=heads, dtype=acc), Gemm(m=sq, n=dv, k=sk, batch=heads, dtype=acc)]
    fwd_st: list[Softmax | Elementwise | Reduction] = [
        Softmax(rows=heads * sq, cols=sk, dtype=acc),
        Elementwise(op="isneginf", elements=scores, dtype=acc, out_dtype=BOOL_DTYPE, flops_per_element=1),
        Reduction(rows=heads * sq, cols=sk, dtype=BOOL_DTYPE, op="max"),  # all(): a row's AND, like a max
        Elementwise(op="where", elements=scores, dtype=acc, flops_per_element=1)]
    if op.causal:
        fwd_st.append(Elementwise(op="add", elements=scores, dtype=acc, inputs=1))
    if acc != canonical_dtype(op.dtype):
        fwd_st.append(Elementwise(op="cast", elements=scores, dtype=acc, out_dtype=op.dtype))
    bwd_mm = [Gemm(m=sq, n=sk, k=dv, batch=heads, dtype=acc), Gemm(m=sk, n=dv, k=sq, batch=heads, dtype=acc),
              Gemm(m=sq, n=d, k=sk, batch=heads, dtype=acc), Gemm(m=sk, n=d, k=sq, batch=heads, dtype=acc)]
    bwd_st: list[Softmax | Elementwise | Reduction] = [Elementwise(op="softmax_bwd", elements=scores, dtype=acc, inputs=2,
                                                       flops_per_element=3)]
    mm = {"fwd": fwd_mm, "bwd": bwd_mm, "fwd_bwd": fwd_mm + bwd_mm}[op.phase]
    st = {"fwd": fwd_st, "bwd": bwd_st, "fwd_bwd": fwd_st + bwd_st}[op.phase]
    return mm, st


def sdpa_math_attention(op: Attention, hw: HardwareSpec) -> Estimate:
    """torch SDPA's math backend: the unfused graph of _sdpa_math_parts, one kernel after another, each priced by
    its own model (gemm, streaming); the full Sq x Skv score matrix is computed and stored even when causal."""
    mm, st = _sdpa_math_parts(op)
    estimates = [gemm(g, hw) for g in mm] + [streaming(k, hw) for k in st]
    seconds = sum(e.seconds for e in estimates) - hw.runtime.launch_latency  # _estimate adds one launch back
    busy = {r: sum(e.breakdown.get(r, 0.0) for e in estimates) for r in ("matrix", "vector", "sfu", "memory")}
    return _estimate(op, hw, busy, seconds, op.cost(), {"variant": "sdpa_math", "kernels": len(estimates),
                                                        "accumulate_dtype": mm[0].dtype})


# The masked-MHA kernel's instruction stream, read from TensorRT-LLM's
# cpp/tensorrt_llm/kernels/decoderMaskedMultiheadAttention/decoderMaskedMultiheadAttentionTemplate.h at the commit
# of the v0.6.1 performance tables (138f96d): the kernel computes in fp16 (the attention plugin's type) and gives
# each thread one 16-byte vector of T per key and per value ("The size of the LDGs is always 16bytes (8 bytes for
# 8bit cache)"), so THREADS_PER_KEY = THREADS_PER_VALUE = head_dim x 2 B / 16 B threads (16 at head_dim 128) of 8
# elements each; the query is converted to fp32 once, before the key loop (q_vec as K_vec_accum), and an fp8 cache's
# scale is applied to Q and P instead of K and V (MMHA_FP8_SCALE_Q_INSTEAD_OF_K / _P_INSTEAD_OF_V).
MMHA_COMPUTE_BYTES = 2  # fp16 compute type T: K_VEC_SIZE = 16 / sizeof(T) elements per thread
MMHA_VECTOR_BYTES = 16  # bytes of T per thread per key / value
# Thread instructions per key or value element: its conversion to fp32 (cvt.f32.f16, which ptxas emits as
# HADD2.F32 on sm_80 and sm_90) and the FFMA into the fp32 accumulator (MMHA_USE_FP32_ACCUM_FOR_FMA / _FOR_OUT).
MMHA_ELEMENT_INSTRUCTIONS = 2
# An fp8 cache is first unpacked to fp16 pairs: one F2FP.F16.E4M3.UNPACK_B and one shift bringing the next pair
# down per 2 elements.
MMHA_DEQUANT_ELEMENT_INSTRUCTIONS = 1
# Thread instructions per key and per value outside the elements (estimates, checked against SASS: the key and
# value loops re-written from that source's structure, K_LOOP_UNROLL 4 / V_LOOP_UNROLL 8, compiled by nvcc 13 for
# sm_80 and sm_90: 46 (fp16) and 51.5 (fp8) instructions per key, 34 and 40.5 per value, per thread, elements
# included):
# - per key: the 8 fp32 lanes summed (7 FADD), log2(16) = 4 SHFL.BFLY + FADD pairs across the key's threads, the
#   1/sqrt(d) scale and the ALiBi term every thread adds, the leader's max and shared-memory store, the load with
#   its bounds clamp and 64-bit address: 28.
# - per value: the logit's shared-memory load and conversion, the load with its clamp, address and bounds
#   predicate: 18.
MMHA_KEY_OVERHEAD_INSTRUCTIONS = 28
MMHA_VALUE_OVERHEAD_INSTRUCTIONS = 18
# Thread instructions an SM issues per clock: its warp schedulers (tinygemm.WARP_SCHEDULERS_PER_SM, with the
# whitepaper source) x 32 threads of the warp instruction each issues per clock.
MMHA_THREAD_INSTRUCTIONS_PER_CLOCK = WARP_SCHEDULERS_PER_SM * 32


def masked_mha_instructions(op: Attention) -> float:
    """Thread instructions the masked-MHA kernel issues per score (one query head x one key): its key and value
    threads' element work and per-key overhead (module constants above). head_dim 128 (16 threads of 8 elements):
    fp16 cache 16 x (8 x 2 + 28 + 8 x 2 + 18) = 1,248; 8-bit cache 16 x (8 x 3 + 28 + 8 x 3 + 18) = 1,504."""
    dv = op.v_head_dim or op.head_dim
    per_thread = MMHA_VECTOR_BYTES // MMHA_COMPUTE_BYTES
    element = MMHA_ELEMENT_INSTRUCTIONS + (
        MMHA_DEQUANT_ELEMENT_INSTRUCTIONS if dtype_bytes(op.kv_dtype or op.dtype) == 1 else 0)
    keys = math.ceil(op.head_dim / per_thread) * (per_thread * element + MMHA_KEY_OVERHEAD_INSTRUCTIONS)
    values = math.ceil(dv / per_thread) * (per_thread * element + MMHA_VALUE_OVERHEAD_INSTRUCTIONS)
    return float(keys + values)


def masked_mha(op: Attention, hw: HardwareSpec) -> Estimate:
    """Decode attention as FasterTransformer's and TensorRT-LLM <= 0.7's decoderMaskedMultiheadAttention runs it:
    one thread block per (sequence, query head), dot products and the softmax on the vector units.

    Every block reads its KV head itself, so the q heads of a GQA group read their shared K and V `group` times:
    once from DRAM, the rest from L2 (the group's blocks are adjacent in the grid and run side by side), and an
    8-bit cache is converted element by element once per query head. TensorRT-LLM's XQA kernel (v0.8) shares the
    loads across the group on tensor cores; NVIDIA measured 2.4x Llama-70B output throughput from it at
    128/2048 tokens on one H200 (TensorRT-LLM docs/source/blogs/XQA-kernel.md).
    On NVIDIA chips the kernel's scalar instruction stream (masked_mha_instructions: per key and value element a
    conversion to fp32 and an FMA, an 8-bit cache's unpack, the per-key reduction and addressing) issues at 4 warp
    schedulers x 32 threads per clock per SM, about 10-12 clocks per score on an SM; it binds where the group's L2
    re-reads are cheap per score (GQA), not where each score reads its own K/V from DRAM.
        time = DRAM latency + max(bytes / DRAM bandwidth, group x K/V bytes / L2 bandwidth, vector, SFU, issue)"""
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
    issue = _masked_mha_issue_seconds(op, hw, scores)
    seconds = (hbm.latency or 0.0) + max(dram, l2, vector, sfu, issue)
    busy = {"memory": max(dram, l2), "vector": max(vector, issue), "sfu": sfu}
    details = {"variant": "mmha", "group_rereads": group, "l2_seconds": l2, "dram_seconds": dram,
               "issue_seconds": issue}
    return _estimate(op, hw, busy, seconds, cost, details)


def _masked_mha_issue_seconds(op: Attention, hw: HardwareSpec, scores: float) -> float:
    """Seconds to issue the masked-MHA kernel's thread instructions for `scores` scores over every SM at the chip's
    clock (under its power limit, compute.clock_ratio); 0 off NVIDIA, whose SM the counts are for."""
    if hw.vendor.upper() != "NVIDIA":
        return 0.0
    rate = hw.compute.cores * MMHA_THREAD_INSTRUCTIONS_PER_CLOCK * hw.compute.clock * hw.compute.clock_ratio
    return scores * masked_mha_instructions(op) / rate


def attention(op: Attention, hw: HardwareSpec) -> Estimate:
    """FlashAttention-style fused attention, as the named kernel (`kernel`) issues it on this chip.

    Per (query block, KV block) pair on one core: the matrix time of S = QK^T and O += PV at the rate of the
    kernel's matrix instruction (mma.sync: matrix.sync_fraction of the peak on chips whose full rate needs wgmma /
    tcgen05), the softmax (exp on the SFU, FA4 / cuDNN-on-Blackwell moving part of it to the FMA pipes), and how
    the kernel overlaps them: FA2 serially in each warp, FA3 (ping-pong warpgroups) and tcgen05 kernels (softmax
    warpgroups beside a single-thread MMA issuer) overlapped. Backward: 2.5x the matrix work, P recomputed, dS on
    the vector unit and dQ reduced into L2 with fp32 atomics after every pair (FA2 serial, FA3/FA4 overlapped).
    Deterministic mode orders the dQ reduction across the KV-block CTAs of a head (_deterministic_handoff).
    Decode splits the KV sequence across cores (split-KV)."""
    if op.variant == "math":
        return unfused_attention(op, hw)
    if op.variant == "sdpa_math":
        return sdpa_math_attention(op, hw)
    if op.variant == "mmha":
        return masked_mha(op, hw)
    cost = op.cost()
    name = kernel(op, hw)
    path = matrix_path(name, hw)
    ratio = hw.compute.clock_ratio
    cores = hw.compute.cores
    dv = op.v_head_dim or op.head_dim
    q_block, kv_block = _tile(op.head_dim, dv, path, op.causal, low_precision_matrix(op.dtype))
    if name == "mem_efficient":  # MEMEFF_BLOCK note
        q_block = kv_block = MEMEFF_BLOCK
    triton = name == "triton"
    if name in ("triton", "aotriton") and op.phase == "fwd_bwd":  # separate launches, each its own grid
        fwd = attention(replace(op, phase="fwd"), hw)
        bwd = attention(replace(op, phase="bwd"), hw)
        busy = {r: fwd.breakdown.get(r, 0.0) + bwd.breakdown.get(r, 0.0) for r in ("matrix", "vector", "sfu",
                                                                                   "memory")}
        return _estimate(op, hw, busy, fwd.seconds + bwd.seconds - hw.runtime.launch_latency, cost,
                         {"variant": name, "fwd_seconds": fwd.seconds, "bwd_seconds": bwd.seconds})
    # the MMAs' head dimensions: the Triton kernel pads them to a power of two (BLOCK_HEADDIM)
    mma_d, mma_dv = op.head_dim, dv
    if triton:
        q_block = kv_block = TRITON_BLOCK
        mma_d, mma_dv = max(1 << (op.head_dim - 1).bit_length(), 16), max(1 << (dv - 1).bit_length(), 16)
    q_blocks = math.ceil(op.q_len / q_block)
    window = op.window if op.window and op.window < op.kv_len and op.q_len > 1 else None
    mask_every_pair = False
    if window and name == "cudnn" and op.phase != "fwd" and low_precision_matrix(op.dtype):
        # cuDNN's FP8 backward (9.17-9.22) masks the window instead of skipping the blocks outside it: measured it
        # takes 7-15x its BF16 time on GPT-OSS's 128-key window (cudnn-frontend rows CU-0200..0207), about the
        # whole causal triangle, every block pair of it masked element by element (the window's compare and select)
        window = None
        mask_every_pair = True
    kv_blocks = math.ceil(min(op.kv_len, op.window or op.kv_len) / kv_block)
    diagonal = math.ceil(q_block / kv_block)  # key blocks a query block's diagonal crosses
    # causal: a query block sees the key blocks up to the diagonal (the whole prefix of kv_len - q_len first);
    # a sliding window of W keys: a query block touches ceil((W - 1) / kv_block) blocks behind its own
    if window:
        kv_blocks = min(math.ceil(op.kv_len / kv_block), math.ceil((window - 1) / kv_block) + diagonal)
    elif op.window and op.q_len > 1:
        kv_blocks = math.ceil(op.kv_len / kv_block)
    if op.causal and op.q_len > 1:
        pairs_per_head = _causal_pairs(q_blocks, kv_blocks, (op.kv_len - op.q_len) / kv_block, q_block / kv_block)
    else:
        pairs_per_head = q_blocks * kv_blocks
    # block pairs that apply a mask element by element (the diagonal ones when causal, the window's far edge):
    # a column-index compare and a select to -inf per score (FA2 csrc mask.h apply_mask), MASK_SLOTS lane slots;
    # a sliding window's mask tests both bounds (LOCAL_MASK_SLOTS more)
    masked = q_blocks * ((diagonal if op.causal and op.q_len > 1 else 0) + (1 if window else 0))
    local = bool(op.window and op.window < op.kv_len and op.q_len > 1)
    per_masked_pair = MASK_SLOTS + (LOCAL_MASK_SLOTS if local else 0.0)
    mask_slots = per_masked_pair * (1.0 if mask_every_pair else min(1.0, masked / max(pairs_per_head, 1)))
    exp_slots = 0.0
    if triton:
        # the Triton kernel masks every block pair of a causal head (`if IS_CAUSAL: qk += tl.where(...)` inside
        # the loop: compare, select, and the forward's add), not only the diagonal ones, and calls tl.exp, which
        # lowers to ex2.approx after a multiply by log2(e): one more FMA-pipe slot per score each pass
        mask_slots = (MASK_SLOTS + 1.0) if op.causal and op.q_len > 1 else 0.0
        exp_slots = 1.0 + TRITON_BIAS_SLOTS  # and MPT's key-padding bias FFMA (TRITON_BIAS_SLOTS)
    # GQA packing (FA3 pack_gqa, FlashDecoding): when the query heads sharing a KV head fit one query block
    # together (decode, short queries), one unit computes them all and loads (and converts) its KV blocks once
    group = op.heads // (op.kv_heads or op.heads)
    packed = group > 1 and op.q_len * group <= Q_BLOCK
    heads = op.batch * (op.kv_heads or op.heads) if packed else op.batch * op.heads
    if packed:
        q_blocks = 1
    rows = op.q_len * group if packed else min(op.q_len, q_block)
    sync = hw.matrix.sync_fraction if path == "sync" and hw.matrix.sync_fraction else 1.0
    core_peak = hw.matrix_peak(op.dtype) * ratio * hw.matrix_efficiency(op.dtype) * sync / cores
    vector_core = hw.vector_peak("fp32") * ratio / cores
    scores = rows * kv_block
    sfu_rate = hw.sfu_rate("exp2")
    sfu_core_rate = sfu_rate * ratio / cores if sfu_rate else 0.0
    emulate = name == "fa4"  # FA4's exp2 emulation; cuDNN's kernels are not documented to do it
    t_matrix_fwd = 2.0 * scores * (mma_d + mma_dv) / core_peak
    # a KV cache stored in another format than the matrix path's (fp8 KV into a bf16 kernel; any fp8 attention on
    # a chip without an fp8 rate) is dequantized block by block as it is loaded, on the vector unit
    mpath = hw.matrix_dtype(op.dtype) or canonical_dtype(op.dtype)
    kv_converted = element_format(canonical_dtype(op.kv_dtype or op.dtype)) != element_format(mpath)
    t_convert = kv_block * (op.head_dim + dv) * hw.dequantize_flops(mpath) / vector_core if kv_converted else 0.0
    lane_rate = vector_core / FMA_FLOPS  # FP32-pipe instructions per second per core
    width = dtype_bytes(op.dtype)
    fp8 = low_precision_matrix(op.dtype)
    fp8_fma = FP8_SCALE_SLOTS if fp8 else 0.0
    fp8_alu = ((FP8_PERMUTE_SLOTS if path == "wgmma" else 0.0)
               + (MX_AMAX_SLOTS if canonical_dtype(op.dtype).startswith("mx") else 0.0)) if fp8 else 0.0
    rescale = (FA4_RESCALE_SHARE if path == "tcgen05" else 1.0) * mma_dv / kv_block  # the O accumulator's columns
    # P (and dS) narrowed to the 16-bit MMA operand: the F2FP / 2 of SOFTMAX_*_ALU on a chip with a packed convert;
    # where the ISA has none for the format (gfx942 to bf16: isa.narrow_ops) the rounding sequence's extra slots
    narrow = 0.0 if fp8 else hw.narrow_slots(mpath) - NATIVE_NARROW_SLOTS
    alu_rate = lane_rate * min(1.0, ALU_LANES / hw.vector.lanes_per_core)
    sfu_fwd, vec_fwd, emulated = _softmax_exp(scores, SOFTMAX_FWD_FMA + rescale + fp8_fma + exp_slots,
                                              SOFTMAX_FWD_ALU + mask_slots + fp8_alu + narrow, lane_rate, alu_rate,
                                              sfu_core_rate, emulate, hw.vector.alu_pipe)
    t_softmax_fwd = sfu_fwd + vec_fwd + t_convert
    # backward per block pair: 2.5x the matmuls, P recomputed (exp again), dS on the vector unit, and dQ
    # reduced in fp32 into L2 with atomics (a rows x head_dim fp32 tile sent to L2) after every pair
    t_matrix_bwd = 2.5 * t_matrix_fwd
    split_bwd = name == "aotriton" and op.phase == "bwd"
    if split_bwd:  # the dK/dV and the dQ kernels each recompute S and dP (AOTRITON_BWD_D_GEMMS note)
        t_matrix_bwd = 2.0 * scores * (AOTRITON_BWD_D_GEMMS * mma_d + AOTRITON_BWD_DV_GEMMS * mma_dv) / core_peak
    if fp8 and path == "wgmma":
        # FP8 wgmma takes both operands K-major only (PTX ISA: imm-trans-a/-b exist for .f16/.bf16 alone), and
        # three of the five backward GEMMs reduce over the sequence (dV = P^T dO, dK = dS^T Q, dQ = dS K): their
        # operands are transposed and run as 16-bit wgmma; S = Q K^T and dP = dO V^T keep the FP8 rate.
        wide = hw.matrix_peak("bf16") * ratio * hw.matrix_efficiency("bf16") / cores
        t_matrix_bwd = (2.0 * scores * (op.head_dim + dv) / core_peak
                        + 2.0 * scores * (dv + 2 * op.head_dim) / wide)
    mx = fp8 and canonical_dtype(op.dtype).startswith("mx")
    sfu_bwd, vec_bwd, _ = _softmax_exp(scores, SOFTMAX_BWD_FMA + 2 * fp8_fma + exp_slots
                                       + (MX_REQUANT_FMA if mx else 0.0),
                                       SOFTMAX_BWD_ALU + mask_slots - (1.0 if triton and mask_slots else 0.0)
                                       + 2 * fp8_alu + (MX_REQUANT_ALU if mx else 0.0) + 2 * narrow, lane_rate,
                                       alu_rate, sfu_core_rate, emulate, hw.vector.alu_pipe)
    t_softmax_kernel = sfu_bwd + vec_bwd  # P = exp2(.) and dS = P (dP - delta), once per kernel that needs them
    if split_bwd:  # once in each of the two kernels
        sfu_bwd, vec_bwd = 2 * sfu_bwd, 2 * vec_bwd
    t_softmax_bwd = sfu_bwd + vec_bwd
    l2_core = _chip_cache(hw)[0] / cores
    # dQ partials reduced into L2 at the core's share of the rate the L2 applies reductions (_chip_reduction_rate)
    red_core = _chip_reduction_rate(hw) / cores
    t_atomic = (ATOMIC_PASSES * rows * op.head_dim * FP32_BYTES / red_core
                if red_core and _atomic_dq(op, name, path) and not split_bwd else 0.0)
    if name == "mem_efficient" and l2_core:  # dQ read-added-written under a lock (MEMEFF_DQ_L2_TRIPS note)
        # the lock, the counter and the dQ tile are shared by the CTAs of every key block, wherever they run
        t_atomic = _memeff_dq_section(rows, op.head_dim, l2_core, _chip_shared_line_latency(hw))
    t_load_fwd = t_load_bwd = t_dq_serial = sram = 0.0
    if triton:  # num_stages=1: each pair's tiles arrive from L2 before its MMAs start (TRITON_BLOCK note)
        # one L2 round trip per dependent global access of a pair, as the source orders them: forward the K load,
        # the rescale's store-and-reload through TMP ("BUG: have to store and immediately load") and the V load
        # after the softmax; backward the Q, LSE, dO and D loads (each consumed before the next is issued)
        l2_latency = _chip_cache(hw)[1]
        # (plus MPT's key-padding bias load: TRITON_BIAS_ROUND_TRIPS)
        trips_fwd = TRITON_FWD_ROUND_TRIPS + TRITON_BIAS_ROUND_TRIPS
        trips_bwd = TRITON_BWD_ROUND_TRIPS + TRITON_BIAS_ROUND_TRIPS
        t_load_fwd = trips_fwd * l2_latency + (kv_block * (mma_d + mma_dv) * width / l2_core if l2_core else 0.0)
        t_load_bwd = trips_bwd * l2_latency + (rows * (mma_d + mma_dv) * width / l2_core
                                               if l2_core else 0.0)  # Q, dO
        t_atomic = ATOMIC_PASSES * rows * mma_d * FP32_BYTES / red_core if red_core else 0.0  # tl.atomic_add of dQ
        t_dq_serial = l2_latency + 2 * rows * mma_d * FP32_BYTES / l2_core if l2_core else 0.0  # dQ load + store
        # the mma.sync operands come through shared memory (triton_smem_bytes): the MMAs cannot issue faster
        # than ldmatrix feeds them, so a pair takes the longer of the two
        sram = _core_sram(hw) * ratio
        if sram:
            fwd_warps = 8 if op.head_dim > 64 else 4
            t_matrix_fwd_smem = triton_smem_bytes("fwd", mma_d, mma_dv, fwd_warps, kv_block, width) / sram
            t_matrix_bwd_smem = triton_smem_bytes("bwd", mma_d, mma_dv, 8, kv_block, width) / sram
            t_matrix_fwd_eff = _triton_mma_time("fwd", t_matrix_fwd, t_matrix_fwd_smem, mma_d, mma_dv, fwd_warps)
            t_matrix_bwd_eff = _triton_mma_time("bwd", t_matrix_bwd, t_matrix_bwd_smem, mma_d, mma_dv, 8)
    if path == "sync":  # FA2: each warp runs its MMAs, then its softmax
        mma_fwd, mma_bwd = (t_matrix_fwd_eff, t_matrix_bwd_eff) if triton and sram else (t_matrix_fwd, t_matrix_bwd)
        fwd_pair = t_load_fwd + mma_fwd + t_softmax_fwd
        bwd_pair = t_load_bwd + mma_bwd + t_softmax_bwd + t_atomic
        sfu_share = sfu_fwd
    else:  # warp-specialized: the softmax (and the dQ writer) run beside the MMAs
        # Hopper (FA3, cuDNN sm90): the consumer warpgroups that issue the wgmmas also run the softmax on S in their
        # registers, and each exp feeds the next instructions (row sum, convert): MUFU and FP32-pipe time add up.
        # Blackwell (FA4, cuDNN sm100): softmax warpgroups of their own read S from tensor memory, many rows each,
        # so MUFU and FP32 pipes run side by side (max); FA4 also moves part of the exps to the FMA pipes.
        # The other query tile's MMAs (ping-pong) hide the softmax up to the handoffs between the MMA issuer and
        # the softmax warps: PINGPONG_LOSS of the shorter stream stays exposed.
        soft_fwd = max(sfu_fwd, vec_fwd) + t_convert if path == "tcgen05" else t_softmax_fwd
        # backward: dS = P * (dP - delta) consumes each exp at once and there is no second tile: MUFU + FP32 add up
        soft_bwd = t_softmax_bwd if not emulate else max(sfu_bwd, vec_bwd)
        fwd_pair = max(t_matrix_fwd, soft_fwd) + PINGPONG_LOSS * min(t_matrix_fwd, soft_fwd)
        # Backward has no second query tile to ping-pong with: dS = P * (dP - delta) needs this pair's dP MMA and
        # the dK / dQ MMAs need dS, so the MMAs and the softmax work of a pair add up; a dedicated warp (FA3, FA4)
        # reduces dQ into L2 beside them.
        # The MMAs read their operands from shared memory: at Br = Bc = 128 (tcgen05) that is about the port's 128
        # B/clock at the full MMA rate (FA4 write-up: the backward is bound by shared-memory bandwidth), more for
        # the 64-row iterations MLA heads need.
        br = _bwd_rows(op.head_dim, dv, path)
        sram = _core_sram(hw) * ratio
        t_smem_bwd = scores * _bwd_smem_bytes_per_score(br, 128, op.head_dim, dv, width) / sram if sram else 0.0
        bwd_pair = max(max(t_matrix_bwd, t_smem_bwd) + soft_bwd, t_atomic)
        sfu_share = sfu_fwd
    bwd_pair += _deterministic_handoff(op, hw, name, path)
    pair_time = {"fwd": fwd_pair, "bwd": bwd_pair, "fwd_bwd": fwd_pair + bwd_pair}[op.phase]
    t_matrix = {"fwd": t_matrix_fwd, "bwd": t_matrix_bwd, "fwd_bwd": t_matrix_fwd + t_matrix_bwd}[op.phase]
    t_softmax = {"fwd": t_softmax_fwd, "bwd": t_softmax_bwd, "fwd_bwd": t_softmax_fwd + t_softmax_bwd}[op.phase]
    sfu_core = {"fwd": sfu_share, "bwd": sfu_bwd, "fwd_bwd": sfu_share + sfu_bwd}[op.phase]

    # Work units: one (batch, head, query block); decode splits the KV sequence to use every core (split-KV).
    units = heads * q_blocks
    splits = max(1, min(kv_blocks, cores // max(units, 1))) if op.q_len <= Q_BLOCK else 1
    units *= splits
    longest = math.ceil(pairs_per_head / q_blocks / splits) if not op.causal else math.ceil(kv_blocks / splits)
    mean = pairs_per_head / q_blocks / splits
    # tcgen05 forward: one CTA per Q_TILES_PER_CTA adjacent query tiles (FA4's two softmax warpgroups ping-pong
    # on them, sharing each K / V block), so a unit is a CTA: its pairs, its wave slot, its pipeline ends
    tiles = _tiles_per_cta(name, op.phase, q_blocks, packed, splits)
    if tiles > 1:
        ctas = math.ceil(q_blocks / tiles)
        units = heads * ctas
        mean = pairs_per_head / ctas
        longest = _longest_cta(pairs_per_head, q_blocks, kv_blocks, tiles, op, kv_block, q_block, longest)
    waves = math.ceil(units / cores)
    # Each unit also loads its own tiles from HBM (its share of the bandwidth) before its first block pair and
    # writes its outputs after the last: Q in and O out forward; backward also K, V in and dK, dV out (FA2 runs
    # the backward per KV block). A DRAM latency fills the pipeline.
    hbm = hw.main_memory
    tile_bytes = {"fwd": rows * (op.head_dim + dv), "bwd": 2 * kv_block * (op.head_dim + dv) + rows * op.head_dim,
                  "fwd_bwd": rows * (op.head_dim + dv) + 2 * kv_block * (op.head_dim + dv) + rows * op.head_dim}
    active = min(units, cores)
    unit_overhead = (hbm.latency or 0.0) + tiles * tile_bytes[op.phase] * width / (hbm.bandwidth * hbm.efficiency
                                                                                    / active)
    if path == "tcgen05" and op.phase == "fwd":
        unit_overhead += _fill_drain(t_matrix_fwd)
    if op.phase != "fwd" and path != "sync" and not packed:
        unit_overhead += _gqa_dkv_reduction(op, group, dv, red_core)
    # waves of units; the last wave waits for its longest unit (causal: the query block on the diagonal)
    compute = (waves - 1) * (mean * pair_time + unit_overhead) + longest * pair_time + unit_overhead
    sequence_parallel = True
    if triton and op.phase == "bwd":
        # SEQUENCE_PARALLEL False: one program per (batch, head) walks all its pairs, dQ read-added-stored in place
        serial_pair = pair_time - t_atomic + t_dq_serial
        serial_waves = math.ceil(heads / cores)
        serial = serial_waves * (pairs_per_head * serial_pair + unit_overhead)
        if serial < compute:
            compute, sequence_parallel, pair_time = serial, False, serial_pair
            units, waves, mean = heads, serial_waves, pairs_per_head
    memory = hw.memory_seconds(cost.bytes_read, cost.bytes_written, cost.bytes) + (hbm.latency or 0.0)
    combine = (op.batch * op.heads * op.q_len * dv * FP32_BYTES * splits / (hbm.bandwidth * hbm.efficiency)
               if splits > 1 else 0)
    if split_bwd and not packed:  # two kernels, two grids (_split_bwd_compute)
        per_width = 2.0 * scores / core_peak  # one matmul per score of width 1 (a head dimension of 1)
        dkdv_pair = per_width * 2 * (mma_d + mma_dv) + t_softmax_kernel  # S, dP; dV, dK
        dq_pair = per_width * (2 * mma_d + mma_dv) + t_softmax_kernel  # S, dP; dQ
        compute = _split_bwd_compute(op, dkdv_pair, dq_pair, q_blocks, kv_blocks, pairs_per_head, cores,
                                     unit_overhead) + hw.runtime.launch_latency
    side = _memeff_workspace_zero(op, hw, q_blocks) if name == "mem_efficient" else _bwd_side_passes(op, hw, dv)
    seconds = max(compute, memory) + combine + side + _fa2_gqa_group_sums(op, hw, name, dv)
    busy = {"matrix": waves * mean * t_matrix, "sfu": waves * mean * sfu_core,
            "vector": waves * mean * max(t_softmax - sfu_core, 0.0), "memory": memory}
    details = {"variant": name, "matrix_instruction": {"sync": "mma.sync", "wgmma": "wgmma", "tcgen05": "tcgen05.mma"}[path],
               "q_block": q_block, "kv_block": kv_block, "block_pairs": pairs_per_head * heads,
               "units": units, "gqa_packed": packed, "waves": waves, "split_kv": splits, "pair_seconds": pair_time,
               "unit_overhead_seconds": unit_overhead, "q_tiles_per_cta": tiles}
    if sync < 1.0:
        details["mma_sync_fraction"] = sync
    if triton:
        details.update(block_headdim=mma_d, serial_load_seconds=t_load_fwd if op.phase == "fwd" else t_load_bwd)
        if sram:
            details["smem_seconds_per_pair"] = t_matrix_fwd_smem if op.phase == "fwd" else t_matrix_bwd_smem
        if op.phase == "bwd":
            details["sequence_parallel"] = sequence_parallel
    if emulated:
        details["exp2_emulated_share"] = round(emulated, 3)
        # the roofline prices every exp on the SFU, which FA4's polynomial exps get around; the roofline stays the
        # lower bound of every level (DESIGN.md), as the sim's guard keeps it
        floor = max(resource_times(cost, hw).values())
        if seconds < floor:
            seconds = floor
            details["floored_at_roofline"] = True
    if kv_converted:
        details["kv_conversion"] = f"K and V ({canonical_dtype(op.kv_dtype or op.dtype)}) converted to {mpath} on load"
    return _estimate(op, hw, busy, seconds, cost, details)
