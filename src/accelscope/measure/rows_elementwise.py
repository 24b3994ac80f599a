"""Rows of the `more` dataset for small memory-bound ops and collectives, as the kernels that were timed run them.

- VP (vidur profiles, Sarathi-Serve layers on H100; kernel durations summed, launch gaps excluded): vLLM's
  custom RMSNorm, SiluAndMul and rotary kernels (one thread block per token, scalar loads: the "scalar" streaming
  kernel with `rows`), PyTorch eager residual adds, GELU and LayerNorm.
- CU (cudnn-frontend benchmark/norms, GB200 / GB300 / H200): RMSNorm and LayerNorm forward and backward with cuDNN,
  PyTorch eager and torch.compile, timed as kernels over 20 iterations.
- TA (pytorch/ao, B200): MXFP8 cast (quantize) kernels and scale-layout rearrangements.
- VP collectives: all-reduce and send/recv through torch.distributed/NCCL, inside and across nodes.

Each mapper returns None for a row that is not its own (predict.py's generic mapper handles it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..hardware import HardwareSpec
from ..perf import estimate
from ..perf.analytical.streaming import _chip_cache
from ..workload import Collective, Elementwise, Norm, Quantize
from .dataset import MeasuredRow, harness_of
from .rows_gemm import group_count, jagged_largest_share

# ----- elementwise --------------------------------------------------------------------------------------------


def _ms(row: MeasuredRow, seconds: float) -> float:
    return seconds / {"ms": 1e-3, "us": 1e-6, "s": 1.0}[row.unit.strip()]


def vidur_ops(row: MeasuredRow) -> list[Any] | str:
    """The ops (each one kernel) a vidur elementwise row timed, or a skip reason."""
    s, op = row.shape, row.op.lower()
    dtype = "fp16"  # vidur profiles in FP16 (README)
    tokens = int(s["num_tokens"])
    if "siluandmul" in op:
        rows_, width = s["output_shape"]
        # vLLM csrc/activation_kernels.cu act_and_mul_kernel: grid = num_tokens, block = min(d, 1024) threads,
        # each thread loops over its share of the token's d outputs with scalar loads of x and y
        return [Elementwise("swiglu", int(rows_) * int(width), dtype, kernel="scalar", rows=int(rows_))]
    if "rmsnorm" in op:
        rows_, hidden = s["input_shape"]
        return [Norm(rows=int(rows_), hidden=int(hidden), norm="rms", dtype=dtype, kernel="scalar")]
    if "rotary" in op:
        q, k = s["q_shape"], s["k_shape"]
        rot = int(s.get("rotary_dim") or s["head_dim"])
        head = int(s["head_dim"])
        width = (int(q[1]) + int(k[1])) * rot // head  # rotated elements per token (q and k heads)
        # vLLM csrc/pos_encoding_kernels.cu rotary_embedding_kernel: grid = num_tokens, block = min(heads *
        # rot_dim / 2, 512); each thread rotates (x, y) pairs in place: 2 loads + 2 stores, 6 FLOPs per pair,
        # cos/sin from the per-position cache (rot_dim values per token, L2-resident)
        # the block loops over the query heads' pairs, then the key heads' (row_loops)
        loops = (int(q[1]) * rot // head // 2, int(k[1]) * rot // head // 2)
        pairs = tokens * sum(loops)
        return [Elementwise("rope", pairs, dtype, inputs=2, outputs=2, flops_per_element=6, kernel="rope",
                            rows=tokens, row_loops=loops)]
    if "residual add" in op:
        rows_, hidden = s["input_shape"]
        n = int(rows_) * int(hidden)
        adds = int(s.get("operands", 2)) - 1  # "a+b+c" in eager PyTorch: two a+b kernels
        # vidur/profiling/mlp/mlp_impl.py GPTBlock: `residual + hidden_states` right after the MLP's down_proj
        # GEMM wrote hidden_states (out of place: reads 2 arrays, writes 1), so that operand is still in L2 as far
        # as it fits; the residual was written before the MLP's weights streamed through L2 and comes from DRAM.
        # phi-2's parallel block, `attn_outputs + feed_forward_hidden_states + residual`: the first add reads the
        # down_proj output, the second the first add's result, each just written.
        return [Elementwise("add", n, dtype, warm_inputs=1) for _ in range(adds)]
    if "gelu" in op:
        rows_, width = s["input_shape"]
        # torch.nn.GELU() default approximate="none": erf form, ATen vectorized elementwise kernel
        return [Elementwise("gelu", int(rows_) * int(width), dtype)]
    if "layernorm" in op:
        rows_, hidden = s["input_shape"]
        # ATen vectorized_layer_norm_kernel: one 128-thread block per row, Welford over the row, then a second
        # pass normalising it (re-read from L2 or DRAM): the "aten_norm" kernel
        return [Norm(rows=int(rows_), hidden=int(hidden), norm="layer", dtype=dtype, kernel="aten_norm")]
    return f"vidur elementwise op not mapped: {row.op.split(' ', 1)[-1][:40]}"


def cudnn_norm_ops(row: MeasuredRow, cores: int = 132) -> list[Any] | str:
    """cudnn-frontend benchmark/norms: N rows x C hidden, bf16, forward or backward (`cores`: the chip's SMs)."""
    from .predict import INDUCTOR_PERSISTENT_MAX

    s = row.shape
    n, c = int(s["N_rows"]), int(s["C_hidden"])
    kind = "layer" if "layer" in str(s.get("norm", "")) else "rms"
    dtype = "bf16"
    if s.get("mode") == "fwd":
        # PyTorch eager: ATen's vectorized_layer_norm_kernel (RMSNorm through its rms_norm flag, PyTorch >= 2.8;
        # the rows are PyTorch 2.9 / 2.10); cuDNN and Inductor: one pass with the row on chip
        kernel = "aten_norm" if s.get("backend") == "pytorch" else "vectorized"
        norm = Norm(rows=n, hidden=c, norm=kind, dtype=dtype, kernel=kernel)
        if s.get("backend") == "torch_compile" and c > INDUCTOR_PERSISTENT_MAX:
            # past the persistent limit Inductor loops over the row twice (row_loops_seconds)
            return [inductor_looped(n, c, arrays=1, stream=norm)]
        return [norm]
    # backward: read x and dy (+ the saved 1/rms, and mean for layer norm), write dx; the weight (and bias)
    # gradient is a column reduction over rows whose partial sums are a second, small pass
    flops = 8 if kind == "rms" else 12
    dx = Elementwise(f"{kind}_norm_bwd", n * c, dtype, inputs=2, outputs=1, flops_per_element=flops)
    if s.get("backend") == "cudnn":
        # one fused kernel writes dx and per-CTA partial sums of the weight gradient (one persistent CTA per SM,
        # fp32), then a finalize kernel reduces the partials: the two-stage scheme of TransformerEngine's
        # ln_bwd_tuned_kernel + ln_bwd_finalize_tuned_kernel and Apex's cuComputePartGradGammaBeta +
        # cuComputeGradGammaBeta (cuDNN does not document its kernels; assumed the same structure)
        # (the partials' cores x C x 4 B of writes are under 5 % of the dx kernel's bytes and left out)
        return [dx, Elementwise("add", cores * c, "fp32", inputs=1, outputs=0)]
    # PyTorch eager and torch.compile: the weight (and bias) gradient is a separate column reduction over the rows
    # (Inductor emits it as its own reduction kernel; ATen's norm backward runs a gamma/beta kernel after the dx
    # kernel), which reads x and dy a second time
    dgamma = Elementwise(f"{kind}_norm_bwd_weight", n * c, dtype, inputs=2, outputs=0, flops_per_element=2)
    if s.get("backend") == "pytorch":
        # ATen's input-gradient kernel walks each row twice (row_loops_seconds); its column-tiled gamma/beta kernel
        # (aten_gamma_beta_seconds) replaces the flat stream unless it splits the rows too
        grad_input = aten_grad_input(n, c, dx)
        return [grad_input, dgamma if aten_gamma_beta_splits_rows(n, c, cores) else AtenGammaBeta(n, c)]
    if s.get("backend") == "torch_compile":
        # Inductor splits a long column reduction in two (torch/_inductor/ir.py Reduction.num_splits: a kernel of
        # partial sums into a temporary buffer, then a reduction of the partials)
        partials = Elementwise("add", cores * c, "fp32", inputs=1, outputs=0)
        split = inductor_outer_splits(n, c, cores)
        # dx: past the persistent limit, the looped reduction over dy and x (row_loops_seconds)
        grad_input = inductor_looped(n, c, arrays=2, stream=dx) if c > INDUCTOR_PERSISTENT_MAX else dx
        if split > 1:
            # its partial-sum loop waits on each iteration's loads: one round trip per iteration, to L2 when the
            # dx kernel left dy and x there (inductor_outer_seconds)
            return [grad_input, InductorOuterReduction(n, c, split), partials]
        return [grad_input, dgamma, partials]
    return [dx, dgamma]  # another backend: dx, then the weight gradient as a stream


# ATen GammaBetaBackwardCUDAKernelTemplate (aten/src/ATen/native/cuda/layer_norm_kernel.cu, PyTorch >= 2.7; RMSNorm
# shares it): block_dim_x = 32 columns per block; LaunchGammaBetaBackwardCUDAKernel takes the partial-sum path
# (blocks over rows too, then a .sum(0)) only when M > 64 * 1024 and N / 32 < sm_count / 2; otherwise one block of
# 32 x block_dim_y threads per 32 columns walks all M rows in tiles of rows_per_block_y, its threads loading
# rows_per_block_y / block_dim_y rows of dY and X each (unrolled) before summing them; the tile loop is not
# pipelined, so each tile waits a full DRAM round trip. ConfigureAndLaunchGammaBetaBackwardKernel's tiles
# (block_dim_y, rows_per_block_y) by M: M < 64: (1, 8); < 128: (8, 64); < 256: (16, 128); else (32, 256).
# Every block of a wave starts together and does the same work, one tile after another, so they stay in step: a
# tile's loads leave all of the wave's blocks at once and the last of them returns one latency plus the wave's
# tile bytes at the sustained bandwidth after they left (the blocks wait for their last load to sum the tile).
GAMMA_BETA_COLS = 32  # columns of gamma/beta one block reduces
# Resident threads per SM when a spec leaves compute.max_threads_per_core unset: 2048, the CUDA C++ Programming
# Guide's "Maximum number of resident threads per SM" for compute capability 8.0, 9.0 and 10.0
DEFAULT_THREADS_PER_CORE = 2048
GAMMA_BETA_SPLIT_ROWS = 64 * 1024  # rows M above which the kernel also splits the rows across blocks


@dataclass(frozen=True, slots=True)
class AtenGammaBeta:
    """ATen's gamma/beta gradient kernel over `rows` x `hidden` (priced by aten_gamma_beta_seconds, not an Op)."""

    rows: int
    hidden: int


# TorchInductor's weight-gradient column reduction (an OUTER reduction: the rows are strided), as
# torch/_inductor/ir.py Reduction.num_splits splits it and triton_heuristics.py's reduction configs run it:
# - no split when the output has at least 2 x 32 x SMs columns (then ReductionHint.DEFAULT, autotuned: not priced
#   here); else outer_reduction_splits: with 256 threads and 4 values per thread assumed, a split size of 32 rows
#   below 32 x SMs x 2048 elements, a divisor of the rows near rows / (4 x target blocks) below 512 x SMs x 2048
#   (target blocks = ceil(SMs x 2048 / 256 / ceil(C / 128))), 512 above; split = ceil(rows / (4 x split size));
# - the first-level kernel reduces each split's rows: programs of XBLOCK = 64 columns x R0_BLOCK = 8 rows, 4 warps
#   (outer_config = triton_config_reduction(size_hints, 64, 8): 512 // 128 warps), num_stages = 1, 32 registers
#   (ptxas -v on the PTX Triton emits for sm_90a and sm_100a), so 16 programs per SM; its loop loads 8 rows x 64
#   columns of dy and x and 8 rstd values, then multiplies and accumulates them. Every iteration waits on its own
#   loads: with 27-32 registers a thread cannot hold a second iteration's loads (one iteration's dy, x and rstd
#   values fill most of them), so the walk is a chain of one round trip per 8-row iteration however the loop is
#   laid out. Read from SASS of the kernel rebuilt as Inductor writes it: Triton 3.5 (a previous round) fully
#   unrolled 16-40 iterations with the loads interleaved with the arithmetic that consumes them, and kept a loop
#   from 45 on (one iteration's loads, then the arithmetic waiting on them); Triton 3.6 (triton.compile for sm_100
#   and sm_90, num_warps 4, num_stages 1, nvdisasm) keeps a loop at 16, 32 and 64 iterations, 27-28 registers,
#   each iteration's dy, x and rstd loads (LDG.64, LDG.64, LDG.128) consumed before the next iteration's issue.
# The chain's round trips go to DRAM, or to L2 when the dx kernel that runs just before it left dy and x there
# (dx_left_in_l2).
INDUCTOR_OUTER_XBLOCK, INDUCTOR_OUTER_RBLOCK, INDUCTOR_OUTER_THREADS = 64, 8, 128


@dataclass(frozen=True, slots=True)
class InductorOuterReduction:
    """Inductor's first-level split column reduction over `rows` x `hidden` in `split` row chunks (priced by
    inductor_outer_seconds, not an Op)."""

    rows: int
    hidden: int
    split: int


def inductor_outer_splits(rows: int, hidden: int, cores: int) -> int:
    """The split Inductor's Reduction.num_splits gives an outer (column) reduction of `rows` into `hidden` columns on
    a chip of `cores` SMs (1: not split)."""
    min_elements, max_elements = 32 * cores * 2048, 512 * cores * 2048
    if rows <= 32 or hidden >= cores * 2 * 32:
        return 1
    rvals_per_thread, threads = 4, 256
    xblocks = math.ceil(hidden / 128)
    if rows * hidden < min_elements:
        split_size = 32
    elif rows * hidden < max_elements:
        target = math.ceil(cores * 2048 // threads / xblocks)
        wanted = math.ceil(rows / (rvals_per_thread * target))
        closest = min(_divisors(rows), key=lambda d: abs(d - wanted))
        split_size = max(closest, 32) if abs(wanted - closest) < 20 else wanted
    else:
        closest = min(_divisors(rows), key=lambda d: abs(d - 512))
        split_size = closest if abs(closest - 512) < 50 else 512
    return math.ceil(rows / (rvals_per_thread * split_size))


def inductor_outer_iterations(rows: int, split: int) -> int:
    """Loop iterations of one first-level program: ceil(rows / split) rows, R0_BLOCK at a time."""
    return math.ceil(math.ceil(rows / split) / INDUCTOR_OUTER_RBLOCK)


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def inductor_outer_seconds(red: InductorOuterReduction, hw: HardwareSpec | str, width: int = 2) -> float:
    """Inductor's first-level split column reduction: split x ceil(hidden / 64) programs of 128 threads, 16 resident
    per SM, the rest in later waves; each program walks its chunk's rows 8 at a time, an iteration loading 8 x 64
    elements of dy and of x (`width` bytes each) and waiting on them before the next. The programs of a wave start
    together and do the same work, so they stay in step and each iteration costs a round trip plus the wave's
    iteration bytes at the sustained bandwidth (as aten_gamma_beta_seconds):
        launch + sum over waves of iterations x (latency + programs in the wave x 2 x 8 x 64 x width / bandwidth)
    from DRAM, or from L2 (its latency and achievable bandwidth) when the dx kernel left dy and x there
    (dx_left_in_l2). A spec without a DRAM latency gets no round trips priced, from either level (as the
    Little's-law bound in perf/analytical/streaming.py): its walk is its bytes at the bandwidth.
    E.g. 16384 x 4096 on GB200: split 32, 2,048 programs (one wave of 2,368 slots), 64 iterations of
    2,048 x 2,048 B = 4 MiB (0.552 us at 7.6 TB/s): 2.5 + 64 x 1.352 = 89.0 us, where its 268 MB at the bandwidth
    take 35 us."""
    spec = _spec(hw)
    programs = red.split * math.ceil(red.hidden / INDUCTOR_OUTER_XBLOCK)
    resident = min(programs, spec.compute.cores * max(1, _resident_threads(spec) // INDUCTOR_OUTER_THREADS))
    iterations = inductor_outer_iterations(red.rows, red.split)
    program_bytes = INDUCTOR_OUTER_RBLOCK * INDUCTOR_OUTER_XBLOCK * width * 2  # dy and x of one iteration
    from_l2 = dx_left_in_l2(red.rows, red.hidden, spec, width)
    walk = 0.0
    for first in range(0, programs, resident):
        wave_bytes = min(resident, programs - first) * program_bytes
        walk += iterations * _round_trip_seconds(spec, wave_bytes, from_l2)
    return _launch(spec) + walk


def _round_trip_seconds(spec: HardwareSpec, wave_bytes: float, from_l2: bool) -> float:
    """One in-step round of a wave's loads: the latency, then `wave_bytes` at the sustained bandwidth, from DRAM
    or from L2 (`from_l2`, where the chip has one). A spec without a DRAM latency gets no latency priced from either
    level (as the Little's-law bound in perf/analytical/streaming.py): the round is its bytes at the bandwidth."""
    l2_bandwidth, l2_latency = _chip_cache(spec)
    dram_latency = _first_access(spec)
    if from_l2 and l2_bandwidth:
        return (l2_latency if dram_latency else 0.0) + wave_bytes / l2_bandwidth
    return dram_latency + spec.memory_seconds(wave_bytes, 0.0, wave_bytes)


def dx_left_in_l2(rows: int, hidden: int, spec: HardwareSpec, width: int = 2) -> bool:
    """Whether the input-gradient kernel that runs just before the weight gradient leaves dy and x in L2: it read
    both and wrote dx, 3 x rows x hidden x `width` bytes, which stay resident when they fit L2's resident share."""
    return spec.resident_cache(3 * rows * hidden * width) is not None


def _resident_threads(spec: HardwareSpec) -> int:
    """Threads one core keeps resident (compute.max_threads_per_core, else DEFAULT_THREADS_PER_CORE)."""
    return spec.compute.max_threads_per_core or DEFAULT_THREADS_PER_CORE


def aten_gamma_beta_splits_rows(rows: int, hidden: int, cores: int) -> bool:
    """Whether ATen takes its partial-sum path (rows split over blocks), as LaunchGammaBetaBackwardCUDAKernel."""
    return rows > GAMMA_BETA_SPLIT_ROWS and hidden // GAMMA_BETA_COLS < cores // 2


def _gamma_beta_tile(rows: int) -> tuple[int, int]:
    """(block_dim_y, rows_per_block_y) ATen picks for M rows."""
    if rows < 64:
        return 1, 8
    if rows < 128:
        return 8, 64
    if rows < 256:
        return 16, 128
    return 32, 256


def aten_gamma_beta_seconds(rows: int, hidden: int, hw: HardwareSpec | str, width: int = 2) -> float:
    """ATen's column-tiled gamma/beta gradient kernel as written (its normal path): ceil(hidden / 32) blocks of
    32 x block_dim_y threads, as many resident per core as its threads allow, the rest in later waves; each block
    walks ceil(rows / rows_per_block_y) tiles one after another, a tile being its loads of rows_per_block_y rows x
    32 columns of dY and X (`width` bytes each). The blocks of a wave run in step, so a tile costs one DRAM round
    trip plus the time the wave's tile bytes take at the sustained bandwidth (they all queue for the DRAM at once):
        launch + sum over waves of tiles x (DRAM latency + blocks in the wave x tile bytes / bandwidth)
    E.g. 8192 x 128 on GB200: 4 blocks, 2.5 us + 32 tiles of 800 + 17 ns = 28.7 us, where a flat stream of its 4 MiB
    takes ~1 us; 16384 x 4096: 128 blocks, 2.5 + 64 tiles of 800 + 552 ns (4 MiB a tile at 7.6 TB/s) = 89.0 us."""
    spec = _spec(hw)
    dim_y, tile_rows = _gamma_beta_tile(rows)
    blocks = math.ceil(hidden / GAMMA_BETA_COLS)
    per_core = max(1, _resident_threads(spec) // (GAMMA_BETA_COLS * dim_y))
    resident = min(blocks, spec.compute.cores * per_core)
    tiles = math.ceil(rows / tile_rows)
    block_bytes = tile_rows * GAMMA_BETA_COLS * width * 2  # one block's tile of dY and X
    walk = 0.0
    for first in range(0, blocks, resident):  # the waves, the last one partial
        wave_bytes = min(resident, blocks - first) * block_bytes
        # a DRAM round trip a tile even where the dx kernel left dY and X in L2: priced from L2 (as
        # inductor_outer_seconds is), the eager rows that fit it read -13..-60 % instead of +14..+22 %
        walk += tiles * _round_trip_seconds(spec, wave_bytes, from_l2=False)
    return _launch(spec) + walk


# TorchInductor's looped inner reduction, the forward of a norm whose row is longer than its persistent limit
# (C > INDUCTOR_PERSISTENT_MAX), as the benchmark's container (NGC PyTorch 25.12, a PyTorch 2.10 pre-release) builds
# it: triton_heuristics.py _reduction_configs gives an INNER reduction one config, XBLOCK = 1 row and R0_BLOCK =
# min(C, 2048) (MAX_R0_BLOCK; Blackwell's 1024 came with pytorch/pytorch#178512, March 2026, after these rows), with
# triton_config_reduction's num_warps = R0_BLOCK / 128 capped at 16: one 512-thread program per row for C >= 2048,
# 4 elements (8 bytes of bf16) per thread per iteration. The kernel rebuilt as Inductor writes it (sum of x^2, then
# rsqrt, then x * rstd * w, y stored) and compiled with Triton 3.6 for sm_100 and sm_90, read with nvdisasm: 21-30
# registers (4 programs, i.e. rows, resident per SM), the first loop unrolled whole with all ceil(C / R0_BLOCK) loads
# issued before the first use (C = 2,048-16,384: one DRAM round trip), the second loop unrolled too but each
# iteration's loads of x and w issued only after the previous iteration's store of y (y may alias x: no noalias),
# so ceil(C / R0_BLOCK) dependent round trips to L2, where the first loop left the row.
INDUCTOR_MAX_R0_BLOCK = 2048  # elements of the row one loop iteration covers (MAX_R0_BLOCK before #178512)
INDUCTOR_MAX_REDUCTION_WARPS = 16  # triton_config_reduction: max_num_warps = 16 for R0_BLOCK <= 8192
INDUCTOR_ELEMENTS_PER_THREAD = 4  # R0_BLOCK / (R0_BLOCK / 128 warps x 32 threads)


# ATen's eager norm input gradient, layer_norm_grad_input_kernel_vectorized (RMSNorm through its rms_norm flag): one
# block of 128 threads per row, aligned_vector<T, 4> loads (8 bytes of bf16); its first loop (the row's two sums)
# and its second (dx) each load gamma, X and dY once per iteration and are not unrolled (nvcc 13.0, sm_90 and
# sm_100: one 8-byte load per array in flight), so both loops are C / 512 dependent round trips.
ATEN_NORM_THREADS = 128  # num_threads(): 4 warps
ATEN_NORM_VECTOR = 4  # vec_size: elements per aligned_vector load


@dataclass(frozen=True, slots=True)
class RowLoops:
    """A row reduction that walks each row twice, one block of `threads` per row: a first loop reading `arrays` bf16
    arrays of the row, `step` elements an iteration (all its loads in flight at once when `hoisted`, else one
    iteration's at a time), then a second loop re-reading them and writing one array, one load-then-store step an
    iteration; `stream`: the same kernel as one stream of its bytes (priced by row_loops_seconds or as `stream`,
    the longer; not an Op)."""

    rows: int
    hidden: int
    arrays: int
    threads: int
    step: int
    hoisted: bool
    stream: Any


def inductor_looped(rows: int, hidden: int, arrays: int, stream: Any) -> RowLoops:
    """Inductor's looped reduction as configured and compiled (XBLOCK 1, R0_BLOCK = min(C, 2048), R0_BLOCK / 128
    warps up to 16; the first loop's loads all in flight)."""
    r0_block = min(hidden, INDUCTOR_MAX_R0_BLOCK)
    warps = min(INDUCTOR_MAX_REDUCTION_WARPS, max(1, r0_block // (32 * INDUCTOR_ELEMENTS_PER_THREAD)))
    return RowLoops(rows, hidden, arrays, 32 * warps, r0_block, hoisted=True, stream=stream)


def aten_grad_input(rows: int, hidden: int, stream: Any) -> RowLoops:
    """ATen's eager norm input gradient: 128 threads per row, 512 elements an iteration of either loop."""
    return RowLoops(rows, hidden, 2, ATEN_NORM_THREADS, ATEN_NORM_THREADS * ATEN_NORM_VECTOR, hoisted=False,
                    stream=stream)


def row_loops_seconds(op: RowLoops, hw: HardwareSpec | str, width: int = 2) -> float:
    """A two-loop row kernel walked in waves: 2048 / threads blocks resident per SM, the rest in later waves. The
    blocks of a wave start together and do the same work, so their first round of first-loop loads leaves at once
    and the last of it returns one DRAM latency plus the round's bytes at the sustained bandwidth later (as
    aten_gamma_beta_seconds); a loop that is not unrolled (`hoisted` False: one round per iteration) then loses
    that step, its warps issuing their next load as their own returns, so each later round costs the longer of a
    DRAM latency and its bytes (Little's law with one load per array in flight). Then each block walks its row
    again, ceil(C / step) load-then-store steps, each one round trip to L2 (to DRAM, with the rows' bytes again,
    when the wave's rows outgrow L2's resident share), while the wave's stores drain to DRAM (the longer of the two):
        launch + sum over waves of (DRAM latency + round bytes / bandwidth
                                    + (rounds - 1) x max(DRAM latency, round bytes / bandwidth)
                                    + max(iterations x L2 latency, rows x C x width / write bandwidth))
    with round bytes = rows x arrays x C x width / rounds.
    E.g. Inductor's RMSNorm forward at 8192 x 4096 bf16 on GB200 (148 SMs, 592 rows a wave: 13.84 waves, 2
    iterations, one round): a full wave moves 4.85 MB each way (0.64 us at 7.6 TB/s) and its walk is 2 x 150 ns, so
    2.5 + 13.84 x (0.8 + 0.64 + 0.64) = 31.3 us (at the nominal bandwidth, no write cost) where the one-pass stream
    of its 134 MB takes ~21 us."""
    spec = _spec(hw)
    rows_per_wave = spec.compute.cores * max(1, _resident_threads(spec) // op.threads)
    iterations = math.ceil(op.hidden / op.step)
    rounds = 1 if op.hoisted else iterations
    row_bytes = op.hidden * width
    in_l2 = spec.resident_cache(min(rows_per_wave, op.rows) * op.arrays * row_bytes) is not None
    walk = 0.0
    for first in range(0, op.rows, rows_per_wave):
        rows = min(rows_per_wave, op.rows - first)
        reads, writes = rows * op.arrays * row_bytes, rows * row_bytes
        round_reads = spec.memory_seconds(reads / rounds, 0.0, reads + writes)
        first_loop = _first_access(spec) + round_reads + (rounds - 1) * max(_first_access(spec), round_reads)
        if in_l2:
            second_loop = max(iterations * _chip_cache(spec)[1], spec.memory_seconds(0.0, writes, reads + writes))
        else:  # the row left L2: each step a DRAM round trip, the rows' bytes read from DRAM again
            second_loop = max(iterations * _first_access(spec), spec.memory_seconds(reads, writes, reads + writes))
        walk += first_loop + second_loop
    return _launch(spec) + walk


@dataclass(frozen=True, slots=True)
class _LoopedWalk:
    """A RowLoops kernel whose walk is longer than its stream: its seconds."""

    seconds: float


def cupti_add_ops(row: MeasuredRow) -> list[Any] | str:
    """The kernel of an `accelscope bench` CUPTI row (bench.kernel_durations): one eager add of two arrays, the
    second (`warm_inputs`) just written by the kernel before it."""
    if not str(row.op).startswith("torch.add"):
        return f"CUPTI kernel-duration row of an unmapped op: {row.op[:40]}"
    from .predict import row_dtype

    elements = math.prod(int(d) for d in row.shape["input_shape"])
    return [Elementwise("add", elements, row_dtype(row.dtype), warm_inputs=int(row.shape.get("warm_inputs", 0)))]


def cupti_timed(row: MeasuredRow) -> bool:
    """Rows whose value is a kernel's own CUPTI duration at nanosecond resolution (bench.kernel_durations)."""
    return row.shape.get("timer") == "cupti"


def _looped_or_stream(op: RowLoops, hw: HardwareSpec | str, level: str, reread: float) -> Any:
    """The looped reduction as its wave walk where that is longer than the stream of its bytes (`reread`: the
    stream's second read of the rows from DRAM, 0 when they stay in L2), else the stream (whose bandwidth,
    instruction and first-access terms the walk does not all hold)."""
    walk = row_loops_seconds(op, hw)
    return _LoopedWalk(walk) if walk > estimate(op.stream, hw, level).seconds + reread else op.stream


_TILE_WALKS = (AtenGammaBeta, InductorOuterReduction, _LoopedWalk)  # kernels priced as their chain of tiles


def elementwise_row(row: MeasuredRow, hw: HardwareSpec | str, level: str) -> tuple[float, str] | str | None:
    """(seconds, bound) of the row's kernels, a skip reason, or None when the row is not one of these sources."""
    source = harness_of(row)
    if source == "VP":
        ops = vidur_ops(row)
    elif source == "CU" and "N_rows" in row.shape:
        ops = cudnn_norm_ops(row, _spec(hw).compute.cores)
    elif cupti_timed(row):
        ops = cupti_add_ops(row)
    else:
        return None
    if isinstance(ops, str):
        return ops
    reread = _grad_input_reread(row, hw, level) if source == "CU" and row.shape.get("mode") != "fwd" else 0.0
    ops = [_looped_or_stream(op, hw, level, reread) if isinstance(op, RowLoops) else op for op in ops]
    if any(isinstance(op, _LoopedWalk) for op in ops):
        reread = 0.0  # the walk holds the dx kernel's second loop
    tiled = [op.seconds if isinstance(op, _LoopedWalk) else aten_gamma_beta_seconds(op.rows, op.hidden, hw)
             if isinstance(op, AtenGammaBeta) else inductor_outer_seconds(op, hw)
             for op in ops if isinstance(op, _TILE_WALKS)]
    ests = [estimate(op, hw, level) for op in ops if not isinstance(op, _TILE_WALKS)]
    seconds = sum(e.seconds for e in ests) + sum(tiled) + reread
    if kernel_timed(row):  # the host launch overhead between kernels is not in a kernel's duration
        seconds = sum(traced_seconds(t - _launch(hw)) for t in [e.seconds for e in ests] + tiled)
    elif cupti_timed(row):  # the same duration, read at nanoseconds instead of kineto's truncated microseconds
        seconds = sum(kernel_seconds(t - _launch(hw)) for t in [e.seconds for e in ests] + tiled)
    # a tiled kernel waits a round trip per tile: latency-bound when it is the longest kernel
    if tiled and (not ests or max(tiled) > max(e.seconds for e in ests)):
        return seconds, "latency"
    return seconds, max(ests, key=lambda e: e.seconds).bound


TRACE_TICK = 1e-6  # s: the chrome trace vidur reads writes kernel "ts" and "dur" in whole microseconds
# s: the part of `runtime.launch_latency` a kernel's own CUPTI duration holds (grid ramp-up on the device), which a
# kernel-duration harness does see. Not a measured figure: chosen in-sample on vidur's H100 rows, the only
# kernel-timed small-op source (0 reads VP 16.9 % instead of 15.5 % in-sample; the vidur GEMM rows, which keep the
# whole launch, read 8.4 % instead of 7.7 % when truncated as these are). A GPU measurement that separates an empty
# kernel's duration from the back-to-back launch interval would replace it (docs/validation.md, "Tiny kernels").
KERNEL_DEVICE_LAUNCH = 0.5e-6


def traced_seconds(seconds: float) -> float:
    """What vidur's median of 20 traced durations reads for a kernel that runs `seconds` after its host launch:
    libkineto writes a CUPTI kernel's duration as nsToUs(end - start), an integer division ("No rounding!",
    libkineto ITraceActivity / CuptiActivity), so a kernel of d us reads floor(d) us, jitter aside. The data agree
    with truncation and jitter rather than with per-sample rounding: every VP time is a multiple of 0.5 us (a median
    of 20 integers), and of the rows up to 20 us 852 read the same integer in all 20 samples (min = max in the
    notes) while 1,010 spread by 1 us or more. The kernel's duration also holds its device-side share of the launch
    (KERNEL_DEVICE_LAUNCH). A kernel that reads 0 is dropped (record_function_tracer.py skips cuda_time == 0), so
    the least a kept value reads is 1 us."""
    ticks = math.floor(kernel_seconds(seconds) / TRACE_TICK)
    return max(ticks, 1) * TRACE_TICK


def kernel_seconds(seconds: float) -> float:
    """A kernel's own CUPTI duration when it runs `seconds` after its host launch: those seconds plus its
    device-side share of the launch (KERNEL_DEVICE_LAUNCH), untruncated."""
    return seconds + KERNEL_DEVICE_LAUNCH


def _grad_input_reread(row: MeasuredRow, hw: HardwareSpec | str, level: str) -> float:
    """The input-gradient kernel of an eager or compiled norm backward reads each row's dy and x twice: a first
    loop for the row's sums, a second for dx. It finds the row in L2 the second time when the rows in flight,
    each 2 x C elements, fit (rereads_hit_cache); else it streams both arrays from DRAM again, inside the same
    kernel (no launch, no first access of its own).
    - PyTorch eager: ATen's layer_norm_grad_input_kernel_vectorized (RMSNorm through its rms_norm flag), one
      num_threads() = 128-thread block per row: the "aten_norm" kernel.
    - torch.compile: Inductor's reduction for dx is a looped one past its persistent limit (C > 1024,
      INDUCTOR_PERSISTENT_MAX): one 256-thread program per row whose epilogue loop re-loads dy and x (the
      "looped" kernel); up to 1024 the row stays in registers and is read once.
    - cuDNN: one pass with the row on chip; nothing is re-read."""
    from ..perf.analytical.streaming import rereads_hit_cache
    from ..workload.ops import streaming_kernel
    from .predict import INDUCTOR_PERSISTENT_MAX

    s = row.shape
    n, c = int(s["N_rows"]), int(s["C_hidden"])
    kernel = {"pytorch": "aten_norm", "torch_compile": "looped"}.get(str(s.get("backend")))
    if kernel is None or (kernel == "looped" and c <= INDUCTOR_PERSISTENT_MAX):
        return 0.0
    spec = _spec(hw)
    rows = Norm(rows=n, hidden=2 * c, norm="rms", dtype="bf16", kernel=kernel)  # dy and x of a row
    if rereads_hit_cache(rows, streaming_kernel(rows), spec):
        return 0.0
    again = estimate(Elementwise("copy", n * c, "bf16", inputs=2, outputs=0), hw, level)
    return max(again.seconds - _launch(spec) - _first_access(spec), 0.0)


def kernel_timed(row: MeasuredRow) -> bool:
    """Rows whose value sums CUDA kernel durations (profiler / CUPTI records), so the launch gaps between kernels
    are not in it: vidur's record_function profiles ("launch gaps excluded", the data's README)."""
    return "vidur" in (row.source + row.hardware).lower() and row.category == "elementwise"


# ----- memory: MXFP8 casts --------------------------------------------------------------------------------------
MX_BLOCK = 32


def _dims(text: object) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", str(text))]


def memory_row(row: MeasuredRow, hw: HardwareSpec | str, level: str) -> tuple[float, str] | str | None:
    """TA's MXFP8 kernels on B200: a cast reads bf16 and writes e4m3 codes plus one e8m0 scale per 32 elements;
    a scale rearrangement copies the 1-byte scales into the layout the grouped GEMM reads."""
    if harness_of(row) != "TA":
        return None
    s, op = row.shape, row.op.lower()
    if "M" in s and "K" in s:
        elements = int(s["M"]) * int(s["K"])
    elif "input_shape" in s:
        elements = math.prod(_dims(s["input_shape"]))
    else:
        return "TA memory row without a shape"
    if "rearrange" in op:  # scales: 1 byte in, 1 byte out
        kind = ("2d_k_groups" if "2d_k_groups" in op else "per_group_3d" if "per_group_3d" in op
                else "2d_m_groups_cuda" if "2d_m_groups_cuda" in op else "copy")
        dims = _dims(s["input_shape"]) if "input_shape" in s else [elements]
        # roofline_unified.py, which times these kernels, splits the tokens with generate_jagged_offs (random
        # groups): the K-groups walk is as long as the largest group's share of the columns
        groups = group_count(s)
        return scale_rearrange_seconds(kind, dims, groups, hw, level, jagged_largest_share(groups))
    if "mxfp8" in op or "quantiz" in op or "cast" in op:
        # one kernel (workload Quantize): read bf16 (2 B), write the code (1 B) and the e8m0 scale (1/32 B per
        # element, dtype mxfp8's 1.03125 B), with the block max, scale and convert (3 FLOPs) per element and one
        # log2 per block. The scale bytes stream with the codes: one launch, one first access and one write tail,
        # at every level alike (a separate write-only "copy" of the scales, less its launch and a first access it
        # never pays, left the sim's cast 0.6 us short of the analytical one)
        cast = estimate(Quantize(elements, fmt="mxfp8", src_dtype="bf16", block=MX_BLOCK), hw, level)
        return cast.seconds, cast.bound
    return f"TA memory kernel not mapped: {row.op[:40]}"


def scale_rearrange_seconds(kind: str, dims: list[int], groups: int, hw: HardwareSpec | str,
                            level: str, largest_share: float | None = None) -> tuple[float, str]:
    """(seconds, bound) of one torchao MXFP8 scale-layout rearrangement of a `dims` tensor of 1-byte e8m0 scales
    into the blocked layout the grouped GEMM reads: a copy of the scales (1 byte in, 1 byte out), or, for the
    Triton kernels that walk their tiles serially, their chain of DRAM latencies where that is longer.
    kind: "2d_k_groups" (triton_mx_block_rearrange_2d_K_groups), "2d_m_groups" (triton_mx_block_rearrange_2d_M_groups,
    the Triton kernel torchao ran before its CUDA replacement), "per_group_3d" (triton_mx_block_rearrange_per_group_3d),
    "2d_m_groups_cuda" (mx_block_rearrange_2d_M_groups_cuda, a copy), anything else a plain copy. `largest_share`:
    the share of the grouped dimension the largest group holds (its program walks the longest chain); None: equal
    groups, 1 / groups. The wrappers that allocate their padded output with `new_zeros` run a fill kernel first, in
    the same call (zero_fill_seconds)."""
    est = estimate(Elementwise("copy", max(1, math.prod(dims)), "fp8_e4m3"), hw, level)
    chain = 0.0
    if kind == "2d_k_groups":
        chain = k_groups_rearrange_seconds(dims, groups, hw, largest_share)
    elif kind == "2d_m_groups":
        chain = m_groups_rearrange_seconds(dims, groups, hw, largest_share)
    elif kind == "per_group_3d":
        chain = per_group_3d_rearrange_seconds(dims, hw)
    fill = zero_fill_seconds(kind, dims, groups, hw, level)
    if chain > est.seconds:
        return fill + chain, "latency"
    return fill + est.seconds, est.bound


def padded_scale_elements(kind: str, dims: list[int], groups: int) -> int:
    """Elements of the blocked-layout output a grouped rearrangement allocates (torchao kernels/mxfp8/quant.py and
    csrc/cuda/mx_kernels/mxfp8_extension.cpp): each group padded by the upper bound of one 128-row block (groups
    along M: rows + groups x 128 by ceil(cols / 4) x 4) or of one 4-column block (groups along K: ceil(rows / 128)
    x 128 by cols + groups x 4), since the groups' sizes live on the device."""
    rows, cols = dims[0], dims[-1]
    if kind == "2d_k_groups":
        return math.ceil(rows / SWIZZLE_ROWS) * SWIZZLE_ROWS * (cols + groups * SWIZZLE_COLS)
    return (rows + groups * SWIZZLE_ROWS) * math.ceil(cols / SWIZZLE_COLS) * SWIZZLE_COLS


# The rearrangements whose wrappers allocate the output with `new_zeros` (torch::stable::new_zeros in the CUDA
# M-groups op; scales_tensor.new_zeros in the Triton M- and K-groups ops), so that the groups' padding reads as
# zero scales: a fill kernel runs before the rearrangement, in the same timed call. The per-group 3D op uses
# new_empty (its groups are whole 128-row blocks: no padding inside the output).
ZERO_FILLED_KINDS = ("2d_m_groups_cuda", "2d_m_groups", "2d_k_groups")


def zero_fill_seconds(kind: str, dims: list[int], groups: int, hw: HardwareSpec | str, level: str) -> float:
    """The fill kernel a `new_zeros` output costs (ZERO_FILLED_KINDS): a write-only stream of the padded output's
    one-byte scales, with its own launch; 0 for the others."""
    if kind not in ZERO_FILLED_KINDS:
        return 0.0
    fill = Elementwise("copy", padded_scale_elements(kind, dims, groups), "fp8_e4m3", inputs=0, outputs=1)
    return estimate(fill, hw, level).seconds


# torchao torchao/prototype/moe_training/kernels/mxfp8 (triton_mx_block_rearrange_2d_K_groups): the scale swizzle
# into cuBLAS's block-scaled layout tiles the scales in 128 rows x 4 columns (512 B, one 128x4 block of
# docs.nvidia.com/cuda/cublas "d-block-scaling-factors-layout")
SWIZZLE_ROWS, SWIZZLE_COLS = 128, 4
TRITON_WARPS = 4  # Triton's default num_warps (the kernel's launch sets none)


def k_groups_rearrange_seconds(dims: list[int], groups: int, hw: HardwareSpec | str,
                               largest_share: float | None = None) -> float:
    """triton_mx_block_rearrange_2d_K_groups as written: the grid is (groups, ceil(rows / 128)) programs, and each
    program walks its group's columns serially, 4 at a time (`while curr_input_start_col < input_group_end_col`):
    one 128x4 tile load, then its swizzled store, per iteration. Nothing overlaps the iterations' loads (no
    software pipelining of a while loop), so each costs one DRAM load-to-use latency; the programs run side by
    side while they fit the SMs' resident threads (Triton's 4 warps each), in waves beyond that. The largest
    group's programs walk the longest chain (`largest_share` of the columns; None: cols / groups)."""
    rows, cols = dims[0], dims[-1]
    return _group_walk_seconds(cols, SWIZZLE_COLS, rows, SWIZZLE_ROWS, groups, hw, largest_share)


def m_groups_rearrange_seconds(dims: list[int], groups: int, hw: HardwareSpec | str,
                               largest_share: float | None = None) -> float:
    """triton_mx_block_rearrange_2d_M_groups as written (torchao kernels/mxfp8 quant.py, the groups-along-M
    rearrangement of x's and dY's scales before the 2D-3D grouped GEMMs until the CUDA kernel of pytorch/ao#3556
    replaced it, Dec 2025): K-groups' kernel transposed. The grid is (groups, ceil(cols / 4)) programs; each walks
    its group's rows serially, 128 at a time (`while current_start_row < input_group_end_row`), one 128x4 tile
    load and its swizzled store per iteration, one DRAM load-to-use latency each. At 128,000 tokens in one group
    that is 1,000 dependent loads whatever the width of the scales: ~0.8 ms on B200, where a copy of the same
    20-33 MB takes ~10 us."""
    rows, cols = dims[0], dims[-1]
    return _group_walk_seconds(rows, SWIZZLE_ROWS, cols, SWIZZLE_COLS, groups, hw, largest_share)


def _group_walk_seconds(walked: int, step: int, across: int, tile: int, groups: int, hw: HardwareSpec | str,
                        largest_share: float | None) -> float:
    """A grouped scale rearrangement whose programs (groups x ceil(across / tile)) each walk their group's share of
    the `walked` dimension serially, `step` at a time; the largest group's share sets the chain (None: equal)."""
    share = largest_share if largest_share is not None else 1 / max(groups, 1)
    return _tile_chain_seconds(groups * math.ceil(across / tile), math.ceil(walked * share / step), hw)


def _tile_chain_seconds(programs: int, iterations: int, hw: HardwareSpec | str) -> float:
    """Launch + waves x iterations DRAM load latencies: each of `programs` Triton programs (4 warps) does
    `iterations` dependent load-then-store steps; the programs run side by side while they fit the SMs' resident
    threads (max_threads_per_core / 128 per SM), in waves beyond that."""
    spec = _spec(hw)
    resident = spec.compute.cores * max(1, _resident_threads(spec) // (TRITON_WARPS * 32))
    return _launch(hw) + math.ceil(programs / resident) * iterations * _first_access(hw)


def per_group_3d_rearrange_seconds(dims: list[int], hw: HardwareSpec | str) -> float:
    """triton_mx_block_rearrange_per_group_3d as written: grid (groups, ceil(rows / 128), ceil(cols / 4)), one
    128x4 scale tile loaded and stored (swizzled) per program; nothing else to hide the load's latency behind."""
    groups, rows, cols = dims[0], dims[1], dims[2]
    programs = groups * math.ceil(rows / SWIZZLE_ROWS) * math.ceil(cols / SWIZZLE_COLS)
    return _tile_chain_seconds(programs, 1, hw)


def _spec(hw: HardwareSpec | str) -> HardwareSpec:
    from ..hardware import load_hardware

    return load_hardware(hw) if isinstance(hw, str) else hw


def _launch(hw: HardwareSpec | str) -> float:
    return _spec(hw).runtime.launch_latency


def _first_access(hw: HardwareSpec | str) -> float:
    return _spec(hw).main_memory.latency or 0.0


# ----- collectives ----------------------------------------------------------------------------------------------


def collective_row(row: MeasuredRow, hw: HardwareSpec | str, level: str) -> tuple[float, str] | str | None:
    """vidur's all_reduce / send_recv rows: the group spans `nodes` nodes of `gpus_per_node` ranks each, placed
    `max_gpus_per_node // gpus_per_node` apart (ranks spread evenly over each node's GPUs)."""
    s = row.shape
    if harness_of(row) != "VP" or "collective" not in s:
        return None
    kind = str(s["collective"])
    if kind not in ("all_reduce", "send_recv"):
        return f"vidur collective {kind!r} not mapped"
    per_node, nodes = int(s["gpus_per_node"]), int(s["nodes"])
    group = per_node * nodes
    stride = max(1, int(s.get("max_gpus_per_node") or per_node) // per_node) if nodes > 1 else 1
    op = Collective(kind, float(s["payload_bytes"]), group, dtype="fp16", stride=stride)
    est = estimate(op, hw, level)
    return est.seconds, est.bound
