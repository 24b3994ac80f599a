"""Tile-level GEMM model with a vectorized mapping search (what a kernel autotuner would pick).

For every candidate mapping (CTA tile BM x BN x BK, pipeline stages, split-K factor) that fits one core's SRAM:
  tiles        = ceil(M/BM) · ceil(N/BN) · batch · splitK          (partial tiles cost full tiles)
  waves        = ceil(tiles / cores)                                (wave quantization, tail wave included)
  t_mma(tile)  = 2·BM·BN·Kc / (per-core matrix peak · sustained clock ratio)       Kc = K / splitK, padded
  t_l2(tile)   = (BM + BN)·Kc·bytes / (L2 bandwidth / active cores)                 operand loads from L2
  t_sram(tile) = (slabs written in + operands read by the MMAs) / SRAM bandwidth of one core      (_smem_bytes)
  t_tile       = max(t_mma, t_l2, t_sram)             (multi-stage pipelining overlaps loads and MMAs)
  HBM bytes    = waves · (rows·BM + cols·BN) · K · bytes, a wave covering a rows x cols block of tiles
                 (wave_block: near-square for a persistent kernel's rasterized walk, down M first for a
                 non-persistent grid), but no less than A + B once, and exactly A + B once when both fit in L2
  t_dram       = DRAM latency + operand bytes / min(HBM bw · efficiency, bytes in flight / DRAM latency)
                 + C bytes · write cost / (HBM bw · efficiency)
                 bytes in flight = active CTAs x (stages - 1) slabs (Little's law: binds when few CTAs stream a
                 skinny GEMM's weights); the first bytes arrive one DRAM latency after the first request
  time         = max(waves · t_tile + prologue, t_dram) + epilogue + split-K reduction + launch
The prologue fills the pipeline (one HBM latency plus stages-1 slabs); the epilogue writes C (overlapped with
the next wave except the last) and waits for the last stores to land (L2 latency; DRAM latency on a chip without
L2). Split-K without stream-K reduces the partial sums in a second kernel (cuBLAS's splitKreduce_kernel, CUTLASS's
parallel split-K): its traffic plus one launch. Tiles narrower than the instruction's widest N (wgmma and tcgen05
take N = 64-256) are offered when one row of tiles covers M: a skinny GEMM spread over the SMs, as the sim's
skinny tiles. Candidates are numpy arrays, so one search costs well under a millisecond: ~60-80 µs on the fast
path (`gemm_mapping`: the figures that do not depend on the shape computed once per chip and dtype), ~0.1-0.2
ms exhaustively (`gemm_mapping_exhaustive`, the reference it is tested against bit for bit). A whole-model
estimate's GEMMs are searched together (`gemm_mappings`: one (GEMMs x candidates) array per figure, the figures
the pipeline depth does not enter computed once per tile): 15 GEMMs of a 405B training step in ~0.3-0.4 ms, not
~1 ms.

Systolic arrays (`matrix.systolic`, weight stationary): a tile is BM streamed rows x (C x arrays) columns x R of K,
and its MMA time is its folds in closed form (`fold_seconds`, SCALE-Sim's count: 2R + C - 2 cycles of fill and
drain plus one cycle per streamed row, per fold; a partly filled fold costs a whole one; with double-buffered
weights, `matrix.weight_double_buffer`, max(rows, R) per fold and one fill and drain per tile); row blocks up to 2048,
as the sim picks. With no chip-level cache nothing is shared between cores: each tile loads its B panel and a
core keeps its A panel resident across its run of tiles (`_uncached_bytes`).

With `stream_k` (Gemm.schedule="stream-k"), stream-K (Osama et al., PPoPP 2023; CUTLASS's persistent kernels,
hipBLASLt's StreamK) is a second schedule for every split-K = 1 candidate: one persistent CTA per core walks an
even share of all the tiles' K iterations, so there is no tail wave:
  t_stream     = ceil(tiles · iters / cores) · t_tile / iters + fixup         iters = Kc / BK
  fixup        = one partial tile (BM·BN fp32 accumulators) written and read back through L2, plus one L2
                 latency for the flag the owning CTA waits on; none when the shares end on tile boundaries
The search takes whichever schedule is faster. It is not the default: on the dev set the measured cuBLAS rows
show the tail waves a data-parallel schedule predicts (Vidur's H100 projections, Azure's A100 GEMMs), and adding
stream-K to the default search raises the dev GEMM error from 9.4 % to 9.7 % (scripts/model_what_ifs.py).

Block-scaled or converted operands add vector work per tile (`BlockScaling`): promoting the partial sums to FP32
and scaling them every `promote_every` of K (DeepSeek-V3's FP8 recipe; MX/NVFP4 on a chip without native
block-scaled MMA), and converting each element of an operand stored in another format than the matrix path's as
it is loaded (weight-only quantization: W4A16 / W8A16 dequantize B; a format the chip has no matrix rate for).
With asynchronous matrix instructions (`matrix.async_overlap`, warp specialization as in DeepGEMM) it overlaps the
MMAs; without, the warps that issue the MMAs issue it too, so it adds to the MMA time of each tile (the operand
loads still overlap both: cp.async multi-stage pipelining): t_tile = max(t_mma + t_vector, t_l2, t_sram).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from ...hardware import HardwareSpec
from ...hardware.identity import IdentityCache
from ...hardware.spec import CACHE_RESIDENT_FRACTION

# Candidate tile edges and pipeline depths. These are the shapes production GEMM libraries ship (CUTLASS 3
# Hopper kernels: 64-256 in M and N, K slabs of 32-128 bytes-per-element-scaled, 2-7 stages).
TILE_EDGES = (16, 32, 64, 128, 256)
K_SLAB_BYTES = (64, 128)  # BK x element bytes: 32..128 elements per slab
STAGES = (2, 3, 4, 5, 6)
SPLIT_K = (1, 2, 3, 4, 6, 8, 12, 16)
CLUSTERS = (1, 2, 4)  # CTAs sharing an operand tile by multicast, capped by matrix.cluster_multicast
ACC_BYTES = 4  # fp32 accumulators
DEFAULT_INSTRUCTION_TILE = (64, 64, 16)


@dataclass(frozen=True, slots=True)
class GemmMapping:
    block_m: int
    block_n: int
    block_k: int
    stages: int
    split_k: int
    cluster: int
    tiles: int
    waves: int
    tail_tiles: int
    tile_seconds: float
    mma_seconds: float
    l2_seconds: float
    hbm_bytes: float
    l2_bytes: float
    hbm_seconds: float
    prologue_seconds: float
    epilogue_seconds: float
    reduction_seconds: float
    bound: str
    vector_seconds: float = 0.0  # block-scaling work on the vector unit (BlockScaling)
    schedule: str = "data-parallel"  # or "stream-k": persistent CTAs over an even share of all K iterations
    compute_seconds: float = 0.0  # the cores' busy time, prologue included (waves x tile, or the stream-K share)
    sram_seconds: float = 0.0  # the busiest core's SRAM busy time: operand slabs written in and read by the MMAs
    sram_bytes: float = 0.0  # through one core's SRAM per tile

    def as_dict(self) -> dict[str, object]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class BlockScaling:
    """Vector work a block-scaled or converted GEMM adds to each tile (FP32 FLOPs on the vector unit).

    promote_every    K elements between promotions of the partial sums (0: none)
    promote_flops    FLOPs per output element per promotion
    a_convert_flops  FLOPs per A element loaded into a tile (0: A enters the MMA as stored)
    b_convert_flops  FLOPs per B element loaded into a tile (weight-only quantization dequantizes B)
    """

    promote_every: int = 0
    promote_flops: float = 0.0
    a_convert_flops: float = 0.0
    b_convert_flops: float = 0.0


@dataclass(frozen=True, slots=True)
class GemmKernel:
    """A fixed library kernel's CTA tile: rows and columns of C per SM (a 2-SM MMA's pair covers 2 x block_m rows),
    K elements per pipeline stage, CTAs per thread-block cluster (along M: they share each B tile by TMA multicast)
    and whether its MMA spans the pair of SMs (tcgen05 cta_group::2, each SM holding half the B tile)."""

    name: str
    block_m: int
    block_n: int
    block_k: int
    cluster: int = 1
    paired: bool = False
    # the order its persistent tile scheduler walks the output tiles in (wave_block): "square" (a rasterized walk,
    # taken as a near-square block), "m" (down the Gemm's M first, one N column after another: CUTLASS's grouped
    # scheduler, PersistentTileSchedulerSm90Group, whose Arguments fix RasterOrderOptions::AlongM "since largest
    # dimension can change per group"), or "n" (along the Gemm's N first: the same scheduler on a kernel that
    # computes the transposed problem, C^T = B^T A^T, so its M is the Gemm's N)
    raster: str = "square"

    @property
    def block_scaled(self) -> bool:
        """Whether each stage also carries MX block scales (FBGEMM's mx8mx8bf16 kernels)."""
        return self.name in BLOCK_SCALED_KERNELS


def library_kernel(name: str, m: int, n: int, k: int, hw: HardwareSpec) -> GemmKernel | None:
    """The tile a fixed library kernel (Gemm.kernel) runs an m x n x k group with on `hw`, as its source dispatches
    (None: the library has no such kernel for this chip; the tile is then searched).

    torch-grouped-mm, torch._grouped_mm (pytorch/pytorch aten/src/ATen/native/cuda/GroupMM.cu,
    dispatch_bf16_grouped_kernel_on_tile_size): cluster 2x1x1 always; on Blackwell (sm10x) a 1-SM tcgen05 kernel
    with a 64 x 128 x 128 tile for every shape (KernelPtrArrayTmaWarpSpecialized1SmSm100); on Hopper 64 x 128 x 128
    ping-pong when M <= 128 or N <= 128, else 128 x 256 x 64 cooperative.
    fbgemm-mx8-grouped, FBGEMM / MSLK mx8mx8bf16_grouped_mm (csrc/gemm/cutlass/mx8mx8bf16_grouped.cu,
    get_kernel_via_heuristics; Blackwell only): 2-SM kernels of 256 x 128 x 256 (per SM 128 x 128) for most shapes,
    256 x 256 x 256 where K <= 512 (and M <= 1024 with N <= 2048 and K <= 1024); for M <= 128 with N <= 1024 the
    2-SM 256 x 64 x 256 when N <= 512 or K <= 4096, else the 1-SM 128 x 64 x 256. m is the rows of one group (the
    heuristic's M / G)."""
    blackwell = bool(hw.matrix.paired_cores and hw.matrix.async_overlap)
    hopper = hw.matrix.async_overlap and not hw.matrix.paired_cores and not hw.matrix.systolic
    if name == "torch-grouped-mm":
        if blackwell:
            return GemmKernel(name, 64, 128, 128, cluster=2, raster="m")
        if hopper:
            small = m <= 128 or n <= 128
            return (GemmKernel(name, 64, 128, 128, cluster=2, raster="m") if small
                    else GemmKernel(name, 128, 256, 64, cluster=2, raster="m"))
        return None
    if name == "fbgemm-mx8-grouped" and blackwell:
        # FBGEMM hands CUTLASS the problem transposed (set_stacked_kernel_args_kernel: ProblemShape(N, M, K), the
        # weights as A): the grouped scheduler's walk down its M runs along the Gemm's N
        if m <= 128 and n <= 1024:
            wide = n <= 512 or k <= 4096
            return (GemmKernel(name, 128, 64, 256, cluster=2, paired=True, raster="n") if wide
                    else GemmKernel(name, 128, 64, 256, raster="n"))
        if k <= 512 or (m <= 1024 and n <= 2048 and k <= 1024):
            return GemmKernel(name, 128, 256, 256, cluster=2, paired=True, raster="n")
        return GemmKernel(name, 128, 128, 256, cluster=2, paired=True, raster="n")
    return None


# A fixed kernel's pipeline depth. Both library kernels build their mainloop with CUTLASS's
# StageCountAutoCarveout<sizeof(epilogue SharedStorage)> (pytorch GroupMM.cu; FBGEMM mx8mx8bf16_grouped_common.cuh),
# which CUTLASS turns into (shared memory - carveout) // bytes per stage, a stage holding the A and B slabs (each SM
# of a 2-SM pair half of B), their MX block scales and the stage's pipeline barrier (cutlass
# sm100_blockscaled_umma_builder.inl, sm100_compute_stage_count_or_override_blockscaled; sm90_gmma_builder.inl).
BLOCK_SCALED_KERNELS = ("fbgemm-mx8-grouped",)
PIPELINE_BARRIER_BYTES = 128  # round_up(sizeof(PipelineTmaUmmaAsync<1>::SharedStorage), 128), bytes per stage
# The epilogue's carveout, bytes: CUTLASS's sm100 epilogue builder (EpilogueTileAuto, bf16 source C and output D,
# CTA tile N <= 128) takes 128 x 32 subtiles and StagesC = max(min(subtiles, 4), StagesD + 1) = 3 source buffers
# that D's stores reuse (ReuseSmem for a 16-bit C): 3 x 128 x 32 x 2 B = 24 KiB. Taken for every fixed kernel.
EPILOGUE_SMEM_BYTES = 3 * 128 * 32 * 2
MX_SCALE_BLOCK = 32  # K elements per one-byte E8M0 scale (OCP MX v1.0)
SCALE_ROW_BLOCK = 128  # scale factors are laid out for 128 rows at a time (Sm1xxBlockScaledConfig::Blk_MN)


def library_stages(kernel: GemmKernel, elem_bytes: float, smem: float) -> int:
    """Pipeline stages of a fixed library kernel on a core with `smem` bytes (StageCountAutoCarveout, above); at
    least 2. B200, FBGEMM 256 x 64 x 256 on 2 SMs, fp8: A 128 x 256 + half of B 32 x 256 = 40,960 B, scales
    (128 + 128) x 8 = 2,048 B, barrier 128 B: 43,136 B a stage; (233,472 - 24,576) // 43,136 = 4."""
    b_rows = kernel.block_n / (2 if kernel.paired else 1)
    per_stage = (kernel.block_m + b_rows) * kernel.block_k * elem_bytes + PIPELINE_BARRIER_BYTES
    if kernel.block_scaled:  # one scale byte per MX_SCALE_BLOCK of K for each A row and each row of the MMA's B
        padded = sum(math.ceil(rows / SCALE_ROW_BLOCK) * SCALE_ROW_BLOCK for rows in (kernel.block_m, kernel.block_n))
        per_stage += padded * kernel.block_k / MX_SCALE_BLOCK
    return max(2, int((smem - EPILOGUE_SMEM_BYTES) // per_stage))


def _kernel_candidates(kernel: GemmKernel, elem_bytes: float, smem: float) -> tuple[np.ndarray, ...]:
    """The fixed kernel's one candidate: its tile with its library_stages, no split-K."""
    stages = library_stages(kernel, elem_bytes, smem)
    table = np.array([(kernel.block_m, kernel.block_n, kernel.block_k, stages, 1, kernel.cluster)], dtype=np.float64)
    return tuple(table[:, i] for i in range(6))


@lru_cache(maxsize=64)
def _candidates(instr_m: int, instr_n: int, elem_bytes: float, smem: float, acc_limit: float,
                max_cluster: int, variable_n: bool = False) -> tuple[np.ndarray, ...]:
    """Tile candidates that fit: stages x (BM + BN) x BK x bytes <= SRAM, accumulators <= the register budget.
    Edges are whole instructions: multiples of the instruction's M and N. `variable_n`: the instruction's N is a
    maximum, not a fixed width (Hopper wgmma.m64nNk16: N = 8..256 in steps of 8; Blackwell tcgen05.mma: N = 16..256
    in steps of 16; PTX ISA), so narrower tiles of 64 and 128 columns are whole instructions too."""
    clusters = [c for c in CLUSTERS if c <= max_cluster]
    edges_m = [e for e in TILE_EDGES if e % instr_m == 0] or [instr_m]
    edges_n = [e for e in TILE_EDGES if e % instr_n == 0 or (variable_n and e >= 64 and instr_n % e == 0)] or [instr_n]
    rows = []
    for bm in edges_m:
        for bn in edges_n:
            if bm * bn * ACC_BYTES > acc_limit:
                continue
            for slab in K_SLAB_BYTES:
                bk = max(int(slab / elem_bytes), 16)
                for stages in STAGES:
                    if stages * (bm + bn) * bk * elem_bytes <= smem:
                        rows.extend((bm, bn, bk, stages, s, c) for s in SPLIT_K for c in clusters)
    if not rows:  # a tiny SRAM: the smallest tile, double-buffered
        bk = max(int(K_SLAB_BYTES[0] / elem_bytes), 16)
        rows = [(edges_m[0], edges_n[0], bk, 2, s, 1) for s in SPLIT_K]
    table = np.array(rows, dtype=np.float64)
    return tuple(table[:, i] for i in range(6))


# Row blocks a weight-stationary array streams per fold (the sim's SYSTOLIC_ROWS): taller blocks amortize each
# fold's fill and drain, shorter ones spread the folds over more cores.
SYSTOLIC_ROWS = (8, 16, 32, 64, 128, 256, 512, 1024, 2048)


@lru_cache(maxsize=16)
def _systolic_candidates(rows: int, cols: int, units: int, elem_bytes: float, smem: float) -> tuple[np.ndarray, ...]:
    """Weight-stationary tiles: a K slab of `rows` (one fold deep), N of `cols` x arrays per core, a block of BM
    streamed A rows; double-buffered A and B slabs plus the BM x BN fp32 accumulators fit the core's SRAM (the
    sim's rule, compiler._systolic_tile)."""
    bn, bk = cols * units, rows
    edges = [bm for bm in SYSTOLIC_ROWS if 2 * (bm * bk + bk * bn) * elem_bytes + bm * bn * ACC_BYTES <= smem]
    table = np.array([(bm, bn, bk, 2, s, 1) for bm in edges or [SYSTOLIC_ROWS[0]] for s in SPLIT_K], dtype=np.float64)
    return tuple(table[:, i] for i in range(6))


def fold_seconds(m_rows: np.ndarray, n: np.ndarray, k: np.ndarray, array: tuple[int, int], units: int,
                 core_peak: float, clock: float, double_buffer: bool = False) -> np.ndarray:
    """Seconds one core's systolic arrays take for an m_rows x n x k product, weight stationary, in closed form
    (SCALE-Sim's fold model, Samajdar et al. arXiv 1811.02883; the sim's core.mma_cycles):

      folds    = ceil(k / R) x ceil(n / C)          an R x C block of B is held by the array per fold
      per fold = 2R + C - 2 cycles                  fill (load the weights, skew the first row in) and drain
                 + m_rows x (2·R·C·units / core_peak) seconds    the A rows stream through, one per cycle at peak
      time     = ceil(folds / units) x per fold     folds spread over the core's arrays

    A fold that only partly fills the array (an edge of n or k not a multiple of C or R) costs a whole fold: its
    utilization is the filled fraction. `clock` is the sustained clock (Hz).

    `double_buffer` (Matrix.weight_double_buffer): the next fold's R x C weights shift in, one row a cycle, while
    the current fold streams, so the folds of a tile follow one another at max(streamed rows, R) cycles each and
    the fill and drain are paid once for the run:
      time     = ceil(folds / units) x max(m_rows x 2·R·C·units / core_peak, R / clock) + (2R + C - 2) / clock"""
    rows, cols = array
    folds = np.ceil(k / rows) * np.ceil(n / cols)
    per_array = np.ceil(folds / units)
    stream = m_rows * (2.0 * rows * cols * units) / core_peak
    if double_buffer:
        return per_array * np.maximum(stream, rows / clock) + (2 * rows + cols - 2) / clock
    return per_array * ((2 * rows + cols - 2) / clock + stream)


def _smem_bytes(bm: np.ndarray, bn: np.ndarray, k_chunk: np.ndarray, a_bytes: float, b_bytes: float,
                instr: tuple[int, ...], asynchronous: bool, b_share: np.ndarray | float = 1.0) -> np.ndarray:
    """Bytes through one core's SRAM per tile: the operand slabs written in, and read out by the matrix unit.

    Every group of threads that issues matrix instructions reads its own rows of A and columns of B from SRAM.
    Asynchronous MMAs (Hopper wgmma, Blackwell tcgen05) are issued per warpgroup on instr_m rows and the whole BN:
    B is read once per instr_m rows. Synchronous ones (mma.sync, MFMA) are issued per warp on a warp tile, 64x64
    at most, four warps per CTA up to 128x128 tiles and eight beyond (2x2, or 2x4 along the longer edge: CUTLASS's
    default warp shapes): A is read once per warp column, B once per warp row. `b_share`: the fraction of the B
    tile this core's SRAM holds (1/2 for a pair of cores sharing one instruction, Matrix.paired_cores)."""
    written, read = _smem_per_k(bm, bn, a_bytes, b_bytes, instr, asynchronous, b_share)
    return written * k_chunk + read * k_chunk


def _smem_per_k(bm: np.ndarray, bn: np.ndarray, a_bytes: float, b_bytes: float, instr: tuple[int, ...],
                asynchronous: bool, b_share: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """`_smem_bytes` per element of K: (bytes written in, bytes read by the MMAs); each times K is its term."""
    b_bytes = b_bytes * b_share
    written = bm * a_bytes + bn * b_bytes
    if asynchronous:
        return written, bm * a_bytes + np.ceil(bm / instr[0]) * bn * b_bytes
    warps = np.where(bm * bn > 128 * 128, 8, 4)
    long_n = bn >= bm
    warps_n = np.where(warps == 8, np.where(long_n, 4, 2), 2)
    warps_m = warps / warps_n
    return written, bm * a_bytes * warps_n + bn * b_bytes * warps_m


def _on_chip(hw: HardwareSpec) -> tuple[float, float, float, float, float, float]:
    """(SRAM per core B, its bandwidth B/s (0: not in the spec), accumulator budget B, L2 capacity B,
    L2 bandwidth B/s, L2 latency s)."""
    smem = acc = None
    smem_bw = 0.0
    l2_cap, l2_bw, l2_lat = 0.0, 0.0, 0.0
    for name, level in hw.memory.items():
        if level.kind == "sram" and level.scope == "core" and smem is None:
            smem, smem_bw = level.capacity, level.bandwidth * level.efficiency
        elif level.kind == "registers" and level.scope == "core" and acc is None:
            acc = level.capacity / 2  # half the register file for accumulators
        elif level.kind == "cache" and level.scope == "chip" and not l2_cap:
            l2_cap, l2_bw = hw.level_total(name)
            l2_bw *= level.efficiency
            l2_lat = level.latency or 0.0
    if smem is None and hw.core_sram():  # no core SRAM: each core works out of its share of a chip scratchpad
        smem, smem_bw = hw.core_sram()  # type: ignore[misc]
    smem = smem or float(hw.assumed_core_sram())
    return smem, smem_bw, acc or smem, l2_cap, l2_bw, l2_lat


def gemm_mapping_exhaustive(m: int, n: int, k: int, batch: int, a_bytes: float, b_bytes: float, c_bytes: float,
                            matrix_peak: float, hw: HardwareSpec, shared_b: bool = False,
                            scaling: BlockScaling | None = None, stream_k: bool = False,
                            tile_bytes: float | None = None, kernel: GemmKernel | None = None,
                            k_group_share: float | None = None) -> GemmMapping:
    """`gemm_mapping` by the reference search: every candidate as one flat array (the fast path's oracle)."""
    return _exhaustive(m, n, k, batch, a_bytes, b_bytes, c_bytes, matrix_peak, hw, shared_b, scaling, stream_k,
                       tile_bytes, kernel, k_group_share)[0]


def _exhaustive(m: int, n: int, k: int, batch: int, a_bytes: float, b_bytes: float, c_bytes: float,
                matrix_peak: float, hw: HardwareSpec, shared_b: bool = False,
                scaling: BlockScaling | None = None, stream_k: bool = False,
                tile_bytes: float | None = None, kernel: GemmKernel | None = None,
                k_group_share: float | None = None) -> tuple[GemmMapping, np.ndarray]:
    """Best mapping of one GEMM (or `batch` independent GEMMs) on `hw`.

    `kernel`: a fixed library kernel (library_kernel): its tile and cluster, not searched. Its MMA may be shorter
    than the matrix instruction's full-rate M (torch._grouped_mm's 64-row tcgen05 MMA on Blackwell, whose full rate
    needs M = 128 per SM): it takes the issue time of a full-M instruction (PTX ISA 8.7, tcgen05.mma shapes and
    data-path layouts: an M = 64 MMA uses half of the tensor memory's 128 lanes, i.e. half the datapath).

    `tile_bytes`: the element bytes K slabs are sized by (a block-scaled format's element width: mxfp8 tiles as
    fp8, its scales, 1/32 of the operand bytes, ride along and are moved at every level); default max(a, b).

    `k_group_share`: the `batch` GEMMs are groups of one contraction split unevenly (Gemm.k_group_share): a
    tile's time scales with its group's K, and the busiest core's tiles are counted by `jagged_waves`."""
    cores = hw.compute.cores
    instr = hw.matrix.tile or ((*hw.matrix.systolic, 16) if hw.matrix.systolic else DEFAULT_INSTRUCTION_TILE)
    elem = tile_bytes or max(a_bytes, b_bytes)
    smem, smem_bw, acc_limit, l2_cap, l2_bw, l2_lat = _on_chip(hw)
    systolic = hw.matrix.systolic
    if kernel is not None:
        bm, bn, bk, stages, split, cluster = _kernel_candidates(kernel, float(elem), float(smem))
    elif systolic:
        bm, bn, bk, stages, split, cluster = _systolic_candidates(int(systolic[0]), int(systolic[1]),
                                                                  hw.matrix.units_per_core, float(elem), float(smem))
    else:
        bm, bn, bk, stages, split, cluster = _candidates(int(instr[0]), int(instr[1]), float(elem), float(smem),
                                                         float(acc_limit), hw.matrix.cluster_multicast,
                                                         hw.matrix.async_overlap)
    hbm = hw.main_memory
    hbm_bw = hbm.bandwidth * hbm.efficiency
    clock_ratio = hw.compute.clock_ratio
    core_peak = matrix_peak * clock_ratio / cores  # matrix_peak: the sustained one (x efficiency)
    # clusters co-reside within a GPC: a size that does not divide a GPC's SMs leaves some idle (cluster_limit)
    slots = _candidate_slots(hw, cluster)

    if not systolic and kernel is None:
        # tiles narrower than the instruction's widest N only when one row of them covers M (a skinny GEMM spread
        # over the SMs, as the sim's SKINNY_TILES)
        bm, bn, bk, stages, split, cluster, slots = _skinny_filter(m, int(instr[1]),
                                                                   (bm, bn, bk, stages, split, cluster, slots))
    tiles_m, tiles_n = np.ceil(m / bm), np.ceil(n / bn)
    k_chunk = np.ceil(np.ceil(k / split) / bk) * bk  # each split's K, padded to whole slabs
    valid = split <= np.maximum(np.ceil(k / bk), 1)  # no split finer than one slab
    valid &= cluster <= np.maximum(tiles_m, tiles_n)  # a cluster needs that many tiles along one edge
    tiles = tiles_m * tiles_n * batch * split
    waves = np.ceil(tiles / slots)
    active = np.minimum(tiles, slots)
    # a fixed kernel's MMA shorter than the instruction's full-rate M costs a full-M instruction
    mma_m = np.maximum(bm, instr[0]) if kernel is not None and overlap_mma(hw) else bm
    mma = 2.0 * mma_m * bn * k_chunk / core_peak
    if systolic:
        mma = fold_seconds(np.minimum(bm, m), bn, k_chunk, systolic, hw.matrix.units_per_core, core_peak,
                           hw.compute.clock * clock_ratio, hw.matrix.weight_double_buffer)
    # a cluster of c CTAs along M shares the B tile (or along N the A tile): one of them is loaded once per c
    operand_bytes = np.minimum(bm * a_bytes + bn * b_bytes / cluster, bm * a_bytes / cluster + bn * b_bytes) * k_chunk
    l2 = operand_bytes / (l2_bw / active) if l2_bw else np.zeros_like(mma)
    # the core's SRAM serves the operand slabs twice, written in from L2 and read out by the matrix unit
    overlap = hw.matrix.async_overlap
    paired = hw.matrix.paired_cores if kernel is None else kernel.paired
    b_share = np.where(cluster >= 2, 0.5, 1.0) if paired else 1.0
    sram_bytes = _smem_bytes(bm, bn, k_chunk, a_bytes, b_bytes, tuple(instr), overlap, b_share)
    # a systolic array is fed by its own operand shift registers, not by threads reading SRAM per warp tile: the
    # roof applies to tile-instruction (SIMT) matrix units only; the sim models a systolic array's fill and drain
    sram_rate = 0.0 if hw.matrix.systolic else smem_bw * clock_ratio
    sram = sram_bytes / sram_rate if sram_rate else np.zeros_like(mma)
    feed = np.maximum(l2, sram)  # operand delivery: L2 to the core, then SRAM to the matrix unit
    vector = _scaling_seconds(scaling, bm, bn, k_chunk, hw)
    tile_time = np.maximum(np.maximum(mma, feed), vector) if overlap else np.maximum(mma + vector, feed)

    # HBM traffic: a wave covers a block of tiles (near-square, or down M first for a non-persistent grid:
    # wave_block); each reads its A row-panels and B column-panels.
    a_total = batch * m * k * a_bytes
    b_total = (1 if shared_b else batch) * k * n * b_bytes
    if kernel is not None and kernel.raster != "square":
        streamed = raster_stream_bytes(kernel.raster, m, n, k, batch, a_bytes, b_bytes, tiles_m, tiles_n, active,
                                       l2_cap)
    else:
        rows, cols = wave_block(active, tiles_m, tiles_n, grid_order=grid_ordered(hw, kernel))
        per_wave = (rows * bm * a_bytes + cols * bn * b_bytes) * k_chunk
        streamed = np.maximum(waves * per_wave, a_total + b_total)
    fits_l2 = (a_total + b_total) <= CACHE_RESIDENT_FRACTION * l2_cap  # both operands stay resident
    hbm_bytes = np.where(fits_l2, a_total + b_total, streamed)
    if not l2_cap:
        hbm_bytes = _uncached_bytes(tiles, waves, active, tiles_n, bm, bn, bk, stages, k_chunk, a_bytes, b_bytes, smem,
                                    a_total + b_total)
    c_total = batch * m * n * c_bytes
    # main memory, and a chip scratchpad's share of the working set streaming at once (HardwareSpec.memory_seconds).
    # A stream's first bytes arrive one DRAM latency after the first request (the pipeline's fill): a kernel bound
    # by DRAM pays it once on top of its bytes, as a compute-bound one pays it in its prologue. Little's law: the
    # reads cannot arrive faster than the bytes in flight (each active CTA's stages - 1 slabs issued ahead of the
    # one its MMAs consume) per DRAM latency, which binds when few CTAs stream a skinny GEMM's weights: the reads
    # then take that much longer than at the achievable bandwidth
    dram_latency = hbm.latency or 0.0
    in_flight = active * (stages - 1) * (bm * a_bytes + bn * b_bytes) * bk
    read_rate = np.minimum(hbm_bw, in_flight / dram_latency) if dram_latency else hbm_bw
    little = hbm_bytes / read_rate - hbm_bytes / hbm_bw
    hbm_time = hw.memory_seconds(hbm_bytes, c_total, a_total + b_total + c_total) + little + dram_latency

    slab_time = (bm * a_bytes + bn * b_bytes) * bk / (hbm_bw / active)
    prologue = (hbm.latency or 0.0) + l2_lat + (stages - 1) * slab_time
    # the last wave's C tiles, and the time their stores take to land: in L2 (write-back) where there is one, else
    # in DRAM; the kernel ends when they have
    write_latency = l2_lat if l2_cap else (hbm.latency or 0.0)
    epilogue = (bm * bn * c_bytes * hbm.write_cost) / (hbm_bw / active) + write_latency
    # split-K without stream-K (cuBLAS's splitKreduce_kernel, CUTLASS's parallel split-K): the partial sums go to
    # DRAM and a second kernel reduces them, with its own launch. Weight-only kernels (Marlin) reduce in the kernel
    # through L2, with no second launch
    second_kernel = 0.0 if scaling is not None and scaling.b_convert_flops else hw.runtime.launch_latency
    reduction = np.where(split > 1, (split * ACC_BYTES + c_bytes) * batch * m * n / hbm_bw + second_kernel, 0.0)
    # the busiest core's tiles, in tiles of the mean K: whole waves, or with groups of uneven K its share of them
    busy_waves = (waves if k_group_share is None
                  else jagged_waves(tiles_m * tiles_n * split, slots, batch, k_group_share))
    share, use_stream_k, compute_time = _schedule(stream_k, busy_waves, tile_time, prologue, split, tiles,
                                                  k_chunk / bk, slots, bm * bn * ACC_BYTES, l2_bw, l2_lat)
    if use_stream_k is None:
        use_stream_k = np.zeros_like(waves, dtype=bool)
    total = np.maximum(compute_time, hbm_time) + epilogue + reduction
    total = np.where(valid, total, np.inf)
    best = int(np.argmin(total))
    # the matrix-unit and L2 busy time of the busiest core: whole tiles per wave, or its stream-K share of tiles
    tiles_per_core = share[best] if use_stream_k[best] else busy_waves[best]
    bound = "matrix" if mma[best] >= feed[best] else ("sram" if sram[best] > l2[best] else "l2")
    if vector[best] > max(mma[best], feed[best]) or (not overlap and vector[best] > 0.5 * tile_time[best]):
        bound = "vector"
    if hbm_time[best] > compute_time[best]:
        bound = "memory"
    return (GemmMapping(
        block_m=int(bm[best]), block_n=int(bn[best]), block_k=int(bk[best]), stages=int(stages[best]),
        split_k=int(split[best]), cluster=int(cluster[best]), tiles=int(tiles[best]), waves=int(waves[best]),
        tail_tiles=int(tiles[best] - (waves[best] - 1) * slots[best]), tile_seconds=float(tile_time[best]),
        mma_seconds=float(tiles_per_core * mma[best]), l2_seconds=float(tiles_per_core * l2[best]),
        hbm_bytes=float(hbm_bytes[best] + c_total), l2_bytes=float(tiles[best] * operand_bytes[best]),
        hbm_seconds=float(hbm_time[best]), prologue_seconds=float(prologue[best]),
        epilogue_seconds=float(epilogue[best]), reduction_seconds=float(reduction[best]), bound=bound,
        vector_seconds=float(tiles_per_core * vector[best]), sram_seconds=float(tiles_per_core * sram[best]),
        sram_bytes=float(sram_bytes[best]),
        schedule="stream-k" if use_stream_k[best] else "data-parallel", compute_seconds=float(compute_time[best]),
    ), total)


def gemm_mapping(m: int, n: int, k: int, batch: int, a_bytes: float, b_bytes: float, c_bytes: float,
                 matrix_peak: float, hw: HardwareSpec, shared_b: bool = False,
                 scaling: BlockScaling | None = None, stream_k: bool = False,
                 tile_bytes: float | None = None, kernel: GemmKernel | None = None,
                 k_group_share: float | None = None) -> GemmMapping:
    """Best mapping of one GEMM (or `batch` independent GEMMs) on `hw`: the search `_exhaustive` describes.

    A searched tile on a chip with a chip-level cache takes the fast path (`_grid_rows`): the same formulas,
    operation for operation, evaluated on the candidates as a (tile, split-K, cluster) grid whose figures that
    only depend on the chip, the dtypes and the tile are computed once, so the mapping and every figure of it are
    bit-identical to the exhaustive search (tests/test_gemm_fast.py); the rest (a fixed kernel, a systolic array,
    a chip without a cache, a degenerate shape, groups of uneven K) takes the exhaustive search."""
    return mapping_of(GemmArgs(m, n, k, batch, a_bytes, b_bytes, c_bytes, matrix_peak, shared_b, scaling,
                               stream_k, tile_bytes, kernel, k_group_share), hw)


def mapping_of(request: GemmArgs, hw: HardwareSpec) -> GemmMapping:
    """`gemm_mapping` of its arguments as one `GemmArgs`."""
    fig = _grid_figures(request, hw) if request.kernel is None and request.k_group_share is None else None
    if fig is not None:
        return _grid_rows([request], fig, hw)[0]
    return _exhaustive(*request[:8], hw, *request[8:])[0]


class _Grid:
    """One candidate set (`_candidates`' columns, in its row order) with, for the instruction's N, the subsets
    `_skinny_filter` keeps of it at each position of M among its block_m sizes (`kept`), all built up front (a
    handful: a later cold estimate of a new batch size finds them)."""

    __slots__ = ("base", "bk", "bm", "bn", "cluster", "parent", "sizes", "split", "spread", "stages", "subsets",
                 "top")

    def __init__(self, columns: tuple[np.ndarray, ...], instr_n: int | None = None,
                 parent: _Grid | None = None) -> None:
        self.bm, self.bn, self.bk, self.stages, self.split, self.cluster = columns
        self.top = tuple(float(c.max()) for c in columns)  # the largest of each column
        # the candidates' distinct tiles without their pipeline depth (bm, bn, bk, split, cluster columns, in order
        # of first appearance) and each candidate's tile: most figures do not depend on the depth, so the search
        # computes them once per tile (4 to 5 depths each) and spreads them over the candidates (`_grid_rows`)
        tiles: dict[tuple[float, ...], int] = {}
        spread = [tiles.setdefault(t, len(tiles)) for t in zip(*(c.tolist() for c in (
            self.bm, self.bn, self.bk, self.split, self.cluster)), strict=True)]
        self.spread = np.array(spread, dtype=np.intp)
        firsts = np.unique(self.spread, return_index=True)[1]  # the first candidate of each tile
        self.base = tuple(c[firsts] for c in (self.bm, self.bn, self.bk, self.split, self.cluster))
        self.sizes = sorted(set(self.bm.tolist()))
        self.parent = parent or self
        self.subsets: list[_Grid] = []
        if instr_n is None:
            return
        made: dict[bytes, _Grid] = {}
        for position in range(len(self.sizes) + 1):
            # M at this position (bisect_left) is <= bm exactly for the sizes from it on; past the last, for none
            covers = self.bm >= self.sizes[position] if position < len(self.sizes) else np.zeros_like(self.bm, bool)
            keep = (self.bn >= instr_n) | covers
            if not keep.any() or keep.all():
                self.subsets.append(self)
                continue
            if keep.tobytes() not in made:
                made[keep.tobytes()] = _Grid(tuple(c[keep] for c in columns), parent=self)
            self.subsets.append(made[keep.tobytes()])

    def kept(self, m: float) -> _Grid:
        """`_skinny_filter`: the rows where `(bn >= instr_n) | (m <= bm)`, all of them when none or every one is."""
        return self.subsets[bisect_left(self.sizes, m)]


@lru_cache(maxsize=64)
def _candidate_grid(instr_m: int, instr_n: int, elem_bytes: float, smem: float, acc_limit: float,
                    max_cluster: int, variable_n: bool = False) -> _Grid:
    return _Grid(_candidates(instr_m, instr_n, elem_bytes, smem, acc_limit, max_cluster, variable_n), instr_n)


class _Chip:
    """What the GEMM search reads of one spec, read once (`_chip`)."""

    __slots__ = ("acc_limit", "clock_ratio", "cores", "dram_latency", "hbm_bw", "hw", "instr", "l2_bw", "l2_cap",
                 "l2_lat", "launch", "max_cluster", "overlap", "paired", "smem", "smem_bw", "write_cost")

    def __init__(self, hw: HardwareSpec) -> None:
        self.hw = hw
        self.cores = hw.compute.cores
        self.instr = hw.matrix.tile or DEFAULT_INSTRUCTION_TILE
        self.smem, self.smem_bw, self.acc_limit, self.l2_cap, self.l2_bw, self.l2_lat = _on_chip(hw)
        hbm = hw.main_memory
        self.hbm_bw = hbm.bandwidth * hbm.efficiency
        self.dram_latency = hbm.latency or 0.0
        self.write_cost = hbm.write_cost
        self.clock_ratio = hw.compute.clock_ratio
        self.overlap = hw.matrix.async_overlap
        self.paired = hw.matrix.paired_cores
        self.max_cluster = hw.matrix.cluster_multicast
        self.launch = hw.runtime.launch_latency


# one _Chip per spec: the search reads these figures for every shape
_chip: IdentityCache[HardwareSpec, _Chip] = IdentityCache(_Chip, limit=64)


class _Figures:
    """A candidate set's figures that depend on the chip and the operand bytes, not on the shape: each computed
    by the same operations as in `_exhaustive` (the leading factors of a product, left to right)."""

    __slots__ = ("columns", "epilogue", "head", "keep", "mma", "operand", "read", "reduce", "slab", "slab_bk",
                 "slots", "split_k", "spread", "sram_rate", "stages_1", "tiled", "written")

    def __init__(self, grid: _Grid, chip: _Chip, a_bytes: float, b_bytes: float, c_bytes: float,
                 per_tile: bool = False) -> None:
        """Per candidate; `per_tile`: per tile (`_Grid.base`, each candidate's at `spread`), but `stages_1` and `slab`
        (what the pipeline depth enters: per candidate). `tiled`: the per-tile figures of the same set."""
        self.keep = (grid, chip)
        self.columns = grid.base if per_tile else (grid.bm, grid.bn, grid.bk, grid.split, grid.cluster)
        self.spread = grid.spread if per_tile else None
        bm, bn, bk, split, cluster = self.columns
        slots = cluster_limit(chip.hw, cluster)
        self.slots = float(slots[0]) if (slots == slots[0]).all() else slots  # one figure: a number
        self.mma = 2.0 * bm * bn  # 2.0 * mma_m * bn, mma_m = bm for a searched tile
        self.operand = np.minimum(bm * a_bytes + bn * b_bytes / cluster, bm * a_bytes / cluster + bn * b_bytes)
        b_share = np.where(cluster >= 2, 0.5, 1.0) if chip.paired else 1.0
        self.written, self.read = _smem_per_k(bm, bn, a_bytes, b_bytes, tuple(chip.instr), chip.overlap, b_share)
        self.sram_rate = chip.smem_bw * chip.clock_ratio
        self.stages_1 = grid.stages - 1
        slab = bm * a_bytes + bn * b_bytes
        self.slab = slab.take(grid.spread) if per_tile else slab
        self.slab_bk = slab * bk
        self.epilogue = bm * bn * c_bytes * chip.write_cost
        self.head = chip.dram_latency + chip.l2_lat  # (hbm.latency or 0.0) + l2_lat, the prologue's first terms
        self.reduce = split * ACC_BYTES + c_bytes
        self.split_k = split > 1
        self.tiled = None if per_tile else _Figures(grid, chip, a_bytes, b_bytes, c_bytes, per_tile=True)


# (id(candidate set), id(spec), operand bytes) -> _Figures (holding both)
_FIGURES: dict[tuple[int, int, float, float, float], _Figures] = {}


def _figures(grid: _Grid, chip: _Chip, a_bytes: float, b_bytes: float, c_bytes: float) -> _Figures:
    """The figures of `grid` (a candidate set or one of its `kept` subsets); on the first call for a chip and
    operand bytes, those of every subset of the set, so no later shape pays for them."""
    key = (id(grid), id(chip.hw), a_bytes, b_bytes, c_bytes)
    found = _FIGURES.get(key)
    if found is None or found.keep[0] is not grid or found.keep[1] is not chip:
        if len(_FIGURES) > 512:
            _FIGURES.clear()
        for sub in {id(g): g for g in (grid, grid.parent, *grid.parent.subsets)}.values():
            _FIGURES[(id(sub), id(chip.hw), a_bytes, b_bytes, c_bytes)] = _Figures(sub, chip, a_bytes, b_bytes,
                                                                                   c_bytes)
        found = _FIGURES[key]
    return found


class GemmArgs(NamedTuple):
    """`gemm_mapping`'s arguments but the chip, in its order: one GEMM of a batched search (`gemm_mappings`)."""

    m: int
    n: int
    k: int
    batch: int
    a_bytes: float
    b_bytes: float
    c_bytes: float
    matrix_peak: float
    shared_b: bool = False
    scaling: BlockScaling | None = None
    stream_k: bool = False
    tile_bytes: float | None = None
    kernel: GemmKernel | None = None
    k_group_share: float | None = None


def gemm_mappings(requests: Sequence[GemmArgs], hw: HardwareSpec) -> list[GemmMapping]:
    """`gemm_mapping` of each request on `hw`, bit for bit what one call each returns. The requests that take the
    fast path with the same candidate set, operand bytes, block scaling and schedule are searched together: each
    array operation of `_grid_rows` runs once over all of their candidates (a (GEMMs x candidates) array), so a
    whole-model estimate's GEMMs cost one search's numpy calls rather than one per GEMM; numpy's per-call overhead
    (~1 µs on a few hundred candidates) is most of a search's time. The rest take `gemm_mapping`, one by one."""
    found: list[GemmMapping | None] = [None] * len(requests)
    groups: dict[tuple[int, BlockScaling | None, bool], tuple[_Figures, list[int]]] = {}
    for i, request in enumerate(requests):
        fig = _grid_figures(request, hw) if request.kernel is None and request.k_group_share is None else None
        if fig is None:
            found[i] = _exhaustive(*request[:8], hw, *request[8:])[0]
            continue
        groups.setdefault((id(fig), request.scaling, request.stream_k), (fig, []))[1].append(i)
    for fig, members in groups.values():
        for i, mapping in zip(members, _grid_rows([requests[i] for i in members], fig, hw), strict=True):
            found[i] = mapping
    return found  # type: ignore[return-value]


def _grid_figures(request: GemmArgs, hw: HardwareSpec) -> _Figures | None:
    """The candidate set's figures `_grid_rows` searches `request` over (kept for its M), or None where the fast
    path does not apply: a systolic array, a chip with no chip-level cache, a degenerate shape (the exhaustive
    search's own handling)."""
    if hw.matrix.systolic:
        return None
    chip = _chip(hw)
    if not chip.l2_cap:
        return None
    for x in request[:4]:  # m, n, k, batch
        if not (isinstance(x, (int, float, np.integer, np.floating)) and 1 <= x < 2.0 ** 52):
            return None
    instr = chip.instr
    elem = request.tile_bytes or max(request.a_bytes, request.b_bytes)
    grid = _candidate_grid(int(instr[0]), int(instr[1]), float(elem), float(chip.smem), float(chip.acc_limit),
                           chip.max_cluster, chip.overlap).kept(request.m)
    return _figures(grid, chip, request.a_bytes, request.b_bytes, request.c_bytes)


def _column(values: list[Any]) -> Any:
    """One value per GEMM as a (GEMMs x 1) float64 column: it broadcasts against the candidates' (candidates,)
    figures into (GEMMs x candidates), each element the float the one-GEMM search computes from that number (the
    shape checks keep integers below 2^52, so they convert exactly). One GEMM: the number itself, so its arrays
    stay (candidates,) (a broadcast costs numpy more than a plain elementwise operation)."""
    return values[0] if len(values) == 1 else np.array(values, dtype=np.float64).reshape(-1, 1)


def _picked(arrays: tuple[Any, ...], bests: list[int]) -> Iterable[Sequence[Any]]:
    """Each GEMM's elements of `arrays` at its best candidate, one sequence per GEMM. An array is a (GEMMs x
    candidates) array, a (GEMMs x 1) column, a (candidates,) shape-free figure (or any array of one GEMM), or a
    number that stands for all of them. Several GEMMs: one fancy-indexing call per array (Python floats: the same
    IEEE doubles as numpy's scalars)."""
    if len(bests) == 1:
        best = bests[0]
        return [[x[best] if type(x) is np.ndarray and x.ndim else x for x in arrays]]
    rows = np.arange(len(bests))
    columns = []
    for x in arrays:
        if type(x) is not np.ndarray or not x.ndim:
            columns.append([x] * len(bests))
        elif x.ndim == 1:
            columns.append(x[bests].tolist())
        else:
            columns.append(x[:, 0].tolist() if x.shape[1] == 1 else x[rows, bests].tolist())
    return zip(*columns, strict=True)


def _grid_rows(rows: Sequence[GemmArgs], fig: _Figures, hw: HardwareSpec) -> list[GemmMapping]:
    """The fast path's search of GEMMs that share the candidate set and figures `fig`, operand bytes, scaling and
    schedule (`gemm_mappings`' groups), as one (GEMMs x candidates) array per figure. Every element is the
    exhaustive search's, element for element: the same IEEE operations on the same operands in the same order
    (the shape-free leading factors come from `_Figures`; a GEMM's own numbers are columns, computed in Python as
    the exhaustive search computes them; an array that is one value throughout is that number), so each row has
    the same minimum, the first of equal ones in the same candidate order (argmin along the row), and the same
    figures. A condition the one-GEMM search takes per shape (operands resident in L2, candidates all valid) is a
    per-row choice here (np.where) between the same two values.

    The figures the pipeline depth does not enter (all but the in-flight bytes, the prologue and what adds them)
    are computed once per tile (`_Grid.base`) and spread over the candidates by index (`_Grid.spread`): the same
    numbers, a quarter of the arithmetic."""
    grid, chip = fig.keep
    if len(rows) > 1 and fig.tiled is not None:  # one GEMM: per candidate (numpy's per-call cost dominates there)
        fig = fig.tiled
    first = rows[0]
    a_bytes, b_bytes, scaling, stream_k = first.a_bytes, first.b_bytes, first.scaling, first.stream_k
    bm, bn, bk, split, cluster = fig.columns
    tiles_count, to_tile = len(bm), fig.spread

    def spread(x: Any) -> Any:  # a per-tile array per candidate (columns and numbers as they are)
        if to_tile is None or not isinstance(x, np.ndarray) or not x.ndim or x.shape[-1] != tiles_count:
            return x
        return x.take(to_tile, axis=-1)

    slots = fig.slots
    hbm_bw = chip.hbm_bw
    l2_bw, l2_lat = chip.l2_bw, chip.l2_lat
    m, n, k, batch = (_column(list(values)) for values in zip(*(r[:4] for r in rows), strict=True))
    core_peak = _column([r.matrix_peak * chip.clock_ratio / chip.cores for r in rows])

    tiles_m, tiles_n = np.ceil(m / bm), np.ceil(n / bn)
    k_chunk = np.ceil(np.ceil(k / split) / bk) * bk
    valid = None  # every candidate: K has a slab for the finest split and M or N a tile for the largest cluster
    top_m, top_n, top_k, _, top_split, top_cluster = grid.top
    if not all([math.ceil(r.k / top_k) >= top_split and max(math.ceil(r.m / top_m), math.ceil(r.n / top_n))
                >= top_cluster for r in rows]):  # (a GEMM that passes this check has every candidate valid below)
        valid = split <= np.maximum(np.ceil(k / bk), 1)
        valid &= cluster <= np.maximum(tiles_m, tiles_n)
    tiles = tiles_m * tiles_n * batch * split
    waves = np.ceil(tiles / slots)
    active = np.minimum(tiles, slots)
    mma = fig.mma * k_chunk / core_peak
    operand_bytes = fig.operand * k_chunk
    l2 = operand_bytes / (l2_bw / active) if l2_bw else 0.0
    sram_bytes = fig.written * k_chunk + fig.read * k_chunk
    sram = sram_bytes / fig.sram_rate if fig.sram_rate else 0.0
    feed = np.maximum(l2, sram)
    overlap = chip.overlap
    if scaling is None or not (scaling.promote_every or scaling.a_convert_flops or scaling.b_convert_flops):
        vector = 0.0  # max(x, 0) and x + 0 are x for the non-negative times here
        tile_time = np.maximum(mma, feed)
    else:
        vector = _scaling_seconds(scaling, bm, bn, k_chunk, hw)
        tile_time = np.maximum(np.maximum(mma, feed), vector) if overlap else np.maximum(mma + vector, feed)

    operands, c_totals, resident = [], [], []  # A + B and C bytes of each GEMM, whether A and B stay in L2
    fits = CACHE_RESIDENT_FRACTION * chip.l2_cap
    for r in rows:
        operand = r.batch * r.m * r.k * r.a_bytes + (1 if r.shared_b else r.batch) * r.k * r.n * r.b_bytes
        operands.append(operand)
        c_totals.append(r.batch * r.m * r.n * r.c_bytes)
        resident.append(operand <= fits)
    hbm_bytes = _column(operands)
    if not all(resident):
        block_rows, block_cols = wave_block(active, tiles_m, tiles_n, grid_order=grid_ordered(hw))
        per_wave = (block_rows * bm * a_bytes + block_cols * bn * b_bytes) * k_chunk
        streamed = np.maximum(waves * per_wave, hbm_bytes)
        hbm_bytes = np.where(_column(resident), hbm_bytes, streamed) if any(resident) else streamed
    dram_latency = chip.dram_latency
    in_flight = spread(active) * fig.stages_1 * fig.slab * grid.bk
    read_rate = np.minimum(hbm_bw, in_flight / dram_latency) if dram_latency else hbm_bw
    streamed_bytes = spread(hbm_bytes)
    little = streamed_bytes / read_rate - streamed_bytes / hbm_bw
    working = [x + c for x, c in zip(operands, c_totals, strict=True)]
    if len(rows) == 1 or hw.scratchpad_name is None:  # main memory alone: elementwise over the columns
        memory = hw.memory_seconds(hbm_bytes, _column(c_totals), _column(working))
    else:  # the scratchpad's share depends on each GEMM's working set: one call per GEMM, as the one-GEMM search
        memory = np.array([hw.memory_seconds(hbm_bytes[i], c_totals[i], working[i]) for i in range(len(rows))])
    hbm_time = spread(memory) + little + dram_latency

    per_core_bw = hbm_bw / active
    slab_time = fig.slab_bk / per_core_bw
    prologue = fig.head + fig.stages_1 * spread(slab_time)
    epilogue = fig.epilogue / per_core_bw + l2_lat  # the stores land in L2
    second_kernel = 0.0 if scaling is not None and scaling.b_convert_flops else chip.launch
    reduction = np.where(fig.split_k, fig.reduce * batch * m * n / hbm_bw + second_kernel, 0.0)
    share, use_stream_k, compute_time = _schedule(stream_k, waves, tile_time, prologue, split, tiles,
                                                  k_chunk / bk, slots, bm * bn * ACC_BYTES, l2_bw, l2_lat, spread)
    total = np.maximum(compute_time, hbm_time) + spread(epilogue) + spread(reduction)
    masked = total if valid is None else np.where(spread(valid), total, np.inf)
    bests = [int(np.argmin(masked))] if len(rows) == 1 else np.argmin(masked, axis=1).tolist()
    tile_bests = bests if to_tile is None else to_tile[bests].tolist()  # each best candidate's tile

    per_tile = _picked((waves, tile_time, mma, feed, vector, sram, l2, tiles, slots, hbm_bytes, operand_bytes,
                        epilogue, reduction, sram_bytes, share), tile_bests)
    per_candidate = _picked((grid.bm, grid.bn, grid.bk, grid.stages, grid.split, grid.cluster, compute_time,
                             hbm_time, prologue, use_stream_k), bests)
    mappings = []
    for c_total, (w, t_tile, t_mma, t_feed, t_vec, t_sram, t_l2, n_tiles, n_slots, hbm, operand, t_epilogue,
                  t_reduction, sram_tile, t_share), (block_m, block_n, block_k, stages, split_k, n_cluster, t_compute,
                                                     t_hbm, t_prologue, stream) in zip(
            c_totals, per_tile, per_candidate, strict=True):
        stream_best = use_stream_k is not None and bool(stream)
        tiles_per_core = t_share if stream_best else w
        bound = "matrix" if t_mma >= t_feed else ("sram" if t_sram > t_l2 else "l2")
        if t_vec > max(t_mma, t_feed) or (not overlap and t_vec > 0.5 * t_tile):
            bound = "vector"
        if t_hbm > t_compute:
            bound = "memory"
        mappings.append(GemmMapping(
            block_m=int(block_m), block_n=int(block_n), block_k=int(block_k), stages=int(stages),
            split_k=int(split_k), cluster=int(n_cluster), tiles=int(n_tiles), waves=int(w),
            tail_tiles=int(n_tiles - (w - 1) * n_slots), tile_seconds=float(t_tile),
            mma_seconds=float(tiles_per_core * t_mma), l2_seconds=float(tiles_per_core * t_l2),
            hbm_bytes=float(hbm + c_total), l2_bytes=float(n_tiles * operand),
            hbm_seconds=float(t_hbm), prologue_seconds=float(t_prologue),
            epilogue_seconds=float(t_epilogue), reduction_seconds=float(t_reduction), bound=bound,
            vector_seconds=float(tiles_per_core * t_vec), sram_seconds=float(tiles_per_core * t_sram),
            sram_bytes=float(sram_tile),
            schedule="stream-k" if stream_best else "data-parallel", compute_seconds=float(t_compute),
        ))
    return mappings


# The candidates `_skinny_filter` keeps for one candidate set, narrowest instruction N and M: (the input arrays, kept
# alive so their ids are not reused, the kept arrays), keyed by the arrays' ids, that N and where M falls among the
# set's block_m sizes (all `keep` reads of M)
_SKINNY: dict[tuple[int, int, int], tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]] = {}
_BLOCK_M_SIZES: dict[int, tuple[np.ndarray, list[float]]] = {}


def _skinny_filter(m: float, instr_n: int, arrays: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """`arrays` (bm, bn, ... as columns of one candidate set) kept where `keep = (bn >= instr_n) | (m <= bm)`: tiles
    narrower than the instruction's widest N only when one row of them covers M; all of them when none or every
    candidate is kept (when only narrow tiles fit the SRAM, they are all there is). Computed once per candidate set
    and position of M among its block_m sizes (the same arrays)."""
    bm, bn = arrays[0], arrays[1]
    sizes = _BLOCK_M_SIZES.get(id(bm))
    if sizes is None or sizes[0] is not bm:
        sizes = _BLOCK_M_SIZES[id(bm)] = (bm, sorted(set(bm.tolist())))
    key = (id(bm), instr_n, bisect_left(sizes[1], m))  # m <= bm exactly for the sizes from that position on
    found = _SKINNY.get(key)
    if found is None or any(a is not b for a, b in zip(found[0], arrays, strict=True)):
        if len(_SKINNY) > 1024:
            _SKINNY.clear()
            _BLOCK_M_SIZES.clear()
            _BLOCK_M_SIZES[id(bm)] = sizes
        keep = (bn >= instr_n) | (m <= bm)
        kept = tuple(a[keep] for a in arrays) if keep.any() and not keep.all() else arrays
        found = _SKINNY[key] = (arrays, kept)
    return found[1]


# cluster_limit of a cached candidate array (the same array object on every call with that tile search), per chip
# cluster table: (cluster array kept alive so its id is not reused, slots)
_SLOTS: dict[tuple[int, int, tuple[tuple[int, int], ...]], tuple[np.ndarray, np.ndarray]] = {}


def _candidate_slots(hw: HardwareSpec, cluster: np.ndarray) -> np.ndarray:
    """`cluster_limit(hw, cluster)`, computed once per candidate array and chip cluster table (the same values)."""
    table = tuple(sorted((hw.compute.cluster_cores or {}).items()))
    key = (id(cluster), hw.compute.cores, table)
    found = _SLOTS.get(key)
    if found is None or found[0] is not cluster:
        if len(_SLOTS) > 256:
            _SLOTS.clear()
        found = _SLOTS[key] = (cluster, cluster_limit(hw, cluster))
    return found[1]


def cluster_limit(hw: HardwareSpec, cluster: np.ndarray) -> np.ndarray:
    """CTAs that run at once for each candidate's cluster size: every CTA of a thread-block cluster is placed in one
    GPC (CUDA C++ Programming Guide, "Thread Block Clusters"), so on a chip whose GPCs hold uneven SM counts
    clusters of 4 or 8 leave SMs idle and a wave holds fewer tiles (compute.cluster_cores)."""
    slots = np.full_like(cluster, float(hw.compute.cores))
    for size in hw.compute.cluster_cores or {}:
        slots = np.where(cluster == size, float(hw.compute.cluster_capacity(size)), slots)
    return slots


def _schedule(stream_k: bool, waves: Any, tile_time: Any, prologue: Any, split: Any, tiles: Any, k_iters: Any,
              slots: Any, acc_tile_bytes: Any, l2_bw: float, l2_lat: float,
              spread: Callable[[Any], Any] | None = None) -> tuple[Any, Any, Any]:
    """(tiles per core, stream-K chosen per candidate or None, busy time) of the data-parallel schedule (whole waves
    of tiles, then the prologue) or, with `stream_k`, of stream-K where it is shorter and the K is not split.
    `spread`: the figures but the prologue are per tile, the prologue per candidate (`_grid_rows`); the tiles per
    core stay per tile."""
    spread = spread or (lambda x: x)
    data_parallel = spread(waves * tile_time) + prologue
    if not stream_k:
        return waves, None, data_parallel
    stream, share = _stream_k(tiles, k_iters, slots, tile_time, acc_tile_bytes, l2_bw, l2_lat)
    stream = spread(stream)
    use_stream_k = (spread(split) == 1) & (stream + prologue < data_parallel)
    return share, use_stream_k, np.where(use_stream_k, stream + prologue, data_parallel)


def grid_ordered(hw: HardwareSpec, kernel: GemmKernel | None = None) -> bool:
    """Whether the chip's library GEMMs are non-persistent grids launched in blockIdx order (wave_block): NVIDIA
    chips whose matrix instructions are synchronous (sm80 and older: cuBLAS's and CUTLASS 2.x's kernels), unless a
    persistent library kernel is named. Hopper and Blackwell kernels are persistent and rasterized; AMD's Tensile
    kernels launch one workgroup per tile but group them (WorkGroupMapping), so they keep the near-square block."""
    return (kernel is None and hw.vendor == "NVIDIA" and not hw.matrix.async_overlap
            and not hw.matrix.systolic)


def wave_block(active: np.ndarray | float, tiles_m: np.ndarray | float, tiles_n: np.ndarray | float,
               grid_order: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Rows x columns of output tiles one wave of `active` CTAs covers.

    Persistent kernels (CUTLASS 3 / cuBLAS sm90+ tile schedulers, the default) walk the tiles in a rasterized order
    (PersistentTileSchedulerSm90Params::get_rasterization_order: along N when M has at least as many tiles), which
    the model takes as a near-square block of sqrt(active) x sqrt(active) tiles. `grid_order`: a non-persistent grid, one CTA
    per tile launched in blockIdx order (CUTLASS 2.x / cuBLAS sm80 kernels: GemmIdentityThreadblockSwizzle maps
    blockIdx.x to the M tile, and the hardware launches x fastest), whose wave runs down M first: `active`
    consecutive M tiles of one N column, or every M tile of as many columns as it spans. A then returns from DRAM
    once per N column when a column holds more than one wave of M tiles and A does not fit in L2. A fixed kernel
    whose scheduler walks in a set order (GemmKernel.raster) is counted by raster_stream_bytes instead."""
    rows = np.minimum(active, tiles_m) if grid_order else np.minimum(np.ceil(np.sqrt(active)), tiles_m)
    return rows, np.minimum(np.ceil(active / rows), tiles_n)


def jagged_waves(tiles_per_group: np.ndarray, slots: np.ndarray, groups: int, largest_share: float) -> np.ndarray:
    """The busiest core's work, in tiles of the mean group's K, when `groups` groups of `tiles_per_group` tiles each
    split one contraction unevenly (the largest holding `largest_share` of it) and a static persistent scheduler
    deals the tiles out in turn (CUTLASS's PersistentTileSchedulerSm90Group: tile t to CTA t mod grid, linearized
    across the groups). Each core gets floor(tiles_per_group / slots) tiles of every group, whose K sum to the
    total: `groups` x that many mean tiles. The remainder of each group goes to the next `extra` cores, shifted by
    `extra` from one group to the next, so while groups x extra <= slots no core gets two of them and the busiest
    holds one tile of the largest group (groups x largest_share mean tiles); beyond that it holds
    ceil(groups x extra / slots) of them, counted as one of the largest and the rest of mean K. Never less than the
    whole waves equal groups take. FBGEMM's MXFP8 weight gradient (TA-063): 896 tiles per group on 148 SMs,
    floor 6, extra 8, 8 groups with the largest holding 0.34: 8 x 6 + 8 x 0.34 = 50.7 against 49 waves."""
    full = np.floor(tiles_per_group / slots)
    extra = tiles_per_group - full * slots
    held = np.ceil(groups * extra / slots)  # remainder tiles the busiest core holds
    busiest = groups * full + np.where(held > 0, groups * largest_share + held - 1, 0.0)
    return np.maximum(busiest, np.ceil(groups * tiles_per_group / slots))


def raster_stream_bytes(raster: str, m: int, n: int, k: int, batch: int, a_bytes: float, b_bytes: float,
                        tiles_m: np.ndarray, tiles_n: np.ndarray, active: np.ndarray, l2_cap: float) -> np.ndarray:
    """Operand bytes from DRAM of a grouped GEMM whose persistent scheduler walks each group's tiles in a set order
    (GemmKernel.raster), one group after another (CUTLASS's PersistentTileSchedulerSm90Group linearizes the tiles
    across the groups):

      raster "m" (down M first, one N column after another): a column's tiles read every A row panel of the group
                 and one B column panel. A wave of `active` CTAs covers max(active, tiles_m) / tiles_m columns, so A
                 is walked again tiles_m x tiles_n / max(active, tiles_m) times; the re-walks come from L2 when the
                 group's A fits in it (CACHE_RESIDENT_FRACTION), else from DRAM each time. Each B panel is read by
                 the CTAs of one column, within a wave: once.
      raster "n" (along N first): the same with A and B exchanged.

    Per group (m x k A, k x n B), times `batch`. On B200, FBGEMM's MXFP8 weight gradient (2D-2D: 2048 x 16384 A,
    16384 x 7168 B per group, 128 x 128 tiles per SM, 148 active, raster "n"): tiles 16 x 56, B (117 MB) does not
    fit half of the 126 MiB L2 and is walked 16 x 56 / 148 = 6.05 times: 8 x (33.5 + 6.05 x 117.4) MB = 6.0 GB,
    against 1.2 GB once. Its forward (16384 x 7168 A, 7168 x 2048 B): B (14.7 MB) stays in L2, read once."""
    a_group, b_group = m * k * a_bytes, k * n * b_bytes
    fits = CACHE_RESIDENT_FRACTION * l2_cap
    if raster == "m":
        walks = np.where(a_group <= fits, 1.0, np.maximum(tiles_m * tiles_n / np.maximum(active, tiles_m), 1.0))
        return batch * (walks * a_group + b_group)
    walks = np.where(b_group <= fits, 1.0, np.maximum(tiles_m * tiles_n / np.maximum(active, tiles_n), 1.0))
    return batch * (a_group + walks * b_group)


def overlap_mma(hw: HardwareSpec) -> bool:
    """Whether the chip's matrix instruction has a fixed full-rate M per core (asynchronous wgmma / tcgen05 tiles)."""
    return bool(hw.matrix.async_overlap and hw.matrix.tile and not hw.matrix.systolic)


def _uncached_bytes(tiles: np.ndarray, waves: np.ndarray, active: np.ndarray, tiles_n: np.ndarray, bm: np.ndarray,
                    bn: np.ndarray, bk: np.ndarray, stages: np.ndarray, k_chunk: np.ndarray, a_bytes: float,
                    b_bytes: float, smem: float, once: float) -> np.ndarray:
    """Operand bytes from DRAM on a chip with no chip-level cache (TPU-like, systolic-128): no read is shared
    between cores. Every tile loads its B column panel; a core walks a contiguous run of tiles along N and keeps its
    A row panel resident in SRAM across them when two panels and the B slabs fit (the sim's a_resident rule), so A
    is read once per row of tiles the core visits; otherwise every tile loads it too. Never less than A + B once."""
    b_reads = tiles * bn * k_chunk * b_bytes
    panel = bm * k_chunk * a_bytes
    resident = 2 * panel + stages * bk * bn * b_bytes <= smem
    # core c walks tiles c·waves .. c·waves + waves - 1 in N-fastest order: the rows of tiles it visits
    core = np.arange(int(np.max(active)))[None, :]
    first = np.floor(core * waves[:, None] / tiles_n[:, None])
    last = np.floor((core * waves[:, None] + waves[:, None] - 1) / tiles_n[:, None])
    visits = np.where(core < active[:, None], last - first + 1, 0.0).sum(axis=1)
    a_reads = np.where(resident, visits * panel, tiles * panel)
    return np.maximum(a_reads + b_reads, once)


def _stream_k(tiles: np.ndarray, iters: np.ndarray, cores: np.ndarray | int, tile_time: np.ndarray, partial_bytes: np.ndarray,
              l2_bw: float, l2_lat: float) -> tuple[np.ndarray, np.ndarray]:
    """Stream-K busy time per core (fixup included) and the share of tiles the busiest core computes."""
    iters_per_core = np.ceil(tiles * iters / cores)
    share = iters_per_core / iters
    # a share that ends inside a tile hands its partial accumulators to the tile's owner through L2
    splits_a_tile = np.mod(iters_per_core, iters) > 0
    fixup = 2.0 * partial_bytes / (l2_bw / cores) + l2_lat if l2_bw else 0.0
    return share * tile_time + np.where(splits_a_tile, fixup, 0.0), share


def _scaling_seconds(scaling: BlockScaling | None, bm: np.ndarray, bn: np.ndarray, k_chunk: np.ndarray,
                     hw: HardwareSpec) -> np.ndarray:
    """Vector-unit seconds per tile for block scaling (zeros without it)."""
    if scaling is None or not (scaling.promote_every or scaling.a_convert_flops or scaling.b_convert_flops):
        return np.zeros_like(bm, dtype=float)
    core_rate = hw.vector_peak("fp32") * hw.compute.clock_ratio / hw.compute.cores
    flops = np.zeros_like(bm, dtype=float)
    if scaling.promote_every:
        flops = flops + scaling.promote_flops * bm * bn * np.ceil(k_chunk / scaling.promote_every)
    # every tile converts the operand slabs it loads: B again for each row of tiles, A for each column
    flops = flops + (scaling.a_convert_flops * bm + scaling.b_convert_flops * bn) * k_chunk
    return flops / core_rate


def gemm_seconds(mapping: GemmMapping) -> float:
    return max(mapping.compute_seconds, mapping.hbm_seconds) + mapping.epilogue_seconds + mapping.reduction_seconds


def grouped_rows(rows: tuple[float, ...]) -> list[tuple[int, int]]:
    """Distinct non-zero group sizes with their multiplicity: (m, count)."""
    counts: dict[int, int] = {}
    for m in rows:
        if m > 0:
            key = math.ceil(m)
            counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items())
