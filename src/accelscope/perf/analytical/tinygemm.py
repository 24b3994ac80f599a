"""tinygemm: PyTorch's int4 weight-only GEMM (`torch.ops.aten._weight_int4pack_mm`, Jeff Johnson's kernel), as
gpt-fast's `WeightOnlyInt4Linear` runs it (quantize.py: groupsize 32-256, inner_k_tiles=8).

Read from pytorch/pytorch aten/src/ATen/native/cuda/int4mm.cu (`tinygemm_m16n8k16_chunk_kernel`,
`_weight_int4pack_mm_cuda`: `HANDLE_Q_GROUP(8, 8, KReductionType::None)`):
- grid (1, n / 8, ceil(m / 16)): one block per 8 output columns (one m16n8k16 N tile) and 16 rows of A. A
  batch-1 GEMV is padded to the 16-row tile: the MMAs multiply 15 rows of zeros (rows past m are predicated
  loads of 0, `m0InBounds` / `m1InBounds`).
- 8 warps a block, no split-K across blocks ("we loop"): warp w takes the block's k-tiles (16 of K) 8 at a time,
  starting at w x 8 and striding 64, and the remainder chunk of 8 k-tiles goes to one warp each; the warps' sums
  meet in shared memory at the end. A block is ceil(ceil(k / 16) / 8) warp-iterations of work.
- each iteration loads at its top what it consumes in the same iteration: A (8 k-tiles x 4 predicated 32-bit
  loads, row-major bf16), B (one 16-byte load per lane: 8 n x 128 k int4 = 512 B a warp), the group scales and
  zeros (one bf16x2 per q-group the 128 K span, `kNumQGroups`); then dequantizes in registers
  (`convert_i4x8_to_bf16x2x4`: per 32-bit word of 8 int4, 4 lop3 + 3 shifts + 4 bf16x2 FMAs, then 4 `__hfma2`
  with scale and zero) and runs 8 `mma.sync.m16n8k16` plus 8 float4 accumulations. No cp.async, no shared-memory
  stage, no prefetch of the next iteration: a warp's loads and its instructions follow one another.

Priced for a whole wave of blocks that start together (a decode GEMV is a few iterations per block: 4 at
K = 4096): every warp waits for its loads, then every warp issues its iteration's instructions on its SM's warp
schedulers, and the two phases add up instead of overlapping:
    seconds = DRAM time of the bytes (weights, scales, A, C) + the busiest SM's issue time
where the issue time is blocks on that SM x iterations per block x instructions per iteration / (4 warp
schedulers x clock), or the SM's tensor-core time for the padded MMAs if that is longer. It is the most the
kernel can lose to the missing overlap; warps that drift out of step hide part of it.
"""

from __future__ import annotations

import math

from ...hardware import HardwareSpec
from ...workload.ops import Gemm

KERNEL = "tinygemm"
# int4mm.cu tile and launch constants
M_TILE, N_TILE, K_TILE = 16, 8, 16  # mma.sync.aligned.m16n8k16 (kMTileSize, kNTileSize, kKTileSize)
WARPS = 8  # HANDLE_Q_GROUP(8, 8, ...): warps per block
K_TILES_PER_ITERATION = 8  # ... and k-tiles per warp iteration; gpt-fast packs inner_k_tiles=8 (16-byte B loads)
MMA_FLOPS = 2 * M_TILE * N_TILE * K_TILE  # one m16n8k16 MMA, FLOPs
# Warp schedulers per SM, each issuing one warp instruction per clock: NVIDIA A100 Tensor Core GPU Architecture
# whitepaper (2020), "four processing blocks (partitions) per SM", each with "a warp scheduler, and dispatch unit
# (32 thread/clk)" (the same four-partition SM from Volta to Blackwell).
WARP_SCHEDULERS_PER_SM = 4

# Warp instructions of one iteration (8 k-tiles of one 8-column N tile), counted from int4mm.cu's source:
A_LOADS = K_TILES_PER_ITERATION * 4  # ALayout_RM::load: 4 predicated 32-bit loads per k-tile
B_LOADS = 1  # BLayout_TC_int4<8>: one int4 (16-byte) load per lane
WORDS = K_TILES_PER_ITERATION // 2  # 32-bit words of 8 int4 each a lane dequantizes (InnerKTiles / 2)
DEQUANT_PER_WORD = 4 + 3 + 4 + 4  # convert_i4x8_to_bf16x2x4 (4 lop3, 3 shifts, 4 fma.rn.bf16x2) + 4 __hfma2
MMAS = K_TILES_PER_ITERATION  # 2 per inner pair of k-tiles: KTilesPerIteration mma.sync in all
ACCUMULATE = MMAS * 4  # c += cTmp[k]: 4 FADD per MMA
LOOP = 8  # estimate: pointer arithmetic, the trip test and the branch of the k loop


def q_groups_per_iteration(group: int) -> int:
    """Scale/zero loads of one iteration: q-groups its 128 K span (kNumQGroups, at least 1)."""
    return max(K_TILES_PER_ITERATION * K_TILE // group, 1)


def iteration_instructions(group: int) -> int:
    """Warp instructions one warp issues per iteration: its loads, the scale broadcast (2 per q-group:
    __bfloat162bfloat162 of scale and of zero), the dequantization, the MMAs and the accumulation. Group 32: 32 A
    loads + 1 B load + 4 scale loads + 8 broadcasts + 60 dequant + 8 MMA + 32 FADD + 8 loop = 153."""
    groups = q_groups_per_iteration(group)
    return (A_LOADS + B_LOADS + groups + 2 * groups + WORDS * DEQUANT_PER_WORD + MMAS + ACCUMULATE + LOOP)


def blocks(m: int, n: int) -> int:
    """Blocks of the grid: one per 8 output columns and 16 rows (n / 8 x ceil(m / 16))."""
    return math.ceil(n / N_TILE) * math.ceil(m / M_TILE)


def iterations_per_block(k: int) -> int:
    """Warp iterations a block's 8 warps run between them: its k-tiles in chunks of 8 (the remainder chunks of 8
    too). K = 4096: 256 k-tiles, 32 iterations, 4 per warp."""
    return math.ceil(math.ceil(k / K_TILE) / K_TILES_PER_ITERATION)


def group_size(b_dtype: str) -> int:
    """The q-group of an int4_g<N> weight dtype (int4_g32 -> 32); plain int4 is taken as gpt-fast's default 128."""
    return int(b_dtype.rsplit("_g", 1)[1]) if "_g" in b_dtype else 128


def issue_seconds(op: Gemm, hw: HardwareSpec) -> float:
    """The busiest SM's instruction time for its blocks: max(issue cycles, tensor-core cycles of its padded MMAs)
    at the chip's clock (under its power limit, compute.clock_ratio)."""
    per_sm = math.ceil(blocks(op.m, op.n) * op.batch / hw.compute.cores)
    iterations = per_sm * iterations_per_block(op.k)  # warp iterations on that SM
    # the 8 warps of a block spread over the 4 schedulers, two each
    issue = iterations * iteration_instructions(group_size(op.b_dtype or "int4")) / WARP_SCHEDULERS_PER_SM
    mma_per_clock = hw.matrix_peak("bf16") / (hw.compute.cores * hw.compute.clock)  # FLOPs per clock per SM
    tensor = iterations * MMAS * MMA_FLOPS / mma_per_clock
    return max(issue, tensor) / (hw.compute.clock * hw.compute.clock_ratio)


def runs_tinygemm(op: Gemm, hw: HardwareSpec) -> bool:
    """The op asks for tinygemm on int4 weights and the chip runs its CUDA path (the ROCm build tiles 16 x 16 with
    64-lane wavefronts: not priced here; there, and for other weights, the tile is searched)."""
    int4 = (op.b_dtype or "").startswith("int4")
    return op.kernel == KERNEL and int4 and hw.vendor.upper() == "NVIDIA"
