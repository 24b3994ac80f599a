"""The compiler: IR ops -> tile programs for one core of a chip.

Each lowering (1) tiles the op so a tile's buffers fit the core's SRAM with `stages`-deep multi-buffering,
(2) spreads tiles over cores in contiguous blocks (the busiest core sets the time; the cores of one round share
L2/HBM bandwidth, so each Load/Store carries how many cores are active while it runs), (3) selects instructions from
the `isa` section (exp2 on the SFU or as a polynomial on the FMA pipe, native or emulated FP8 converts and MX
scales, dot4 sums of squares), and (4) list-schedules them: loads are issued `stages - 1` steps ahead of the
compute that consumes them (software pipelining); FlashAttention on chips with asynchronous matrix instructions
issues the next block's QK^T before the current block's PV (FA3 ping-pong).

Programs depend only on shapes, dtypes and capacities, never on rates, so the engine's max-plus monotonicity holds
for the whole level. To stay fast on huge ops the busiest core's program is sampled: at most SAMPLE_INSTRUCTIONS
instructions of identical full-round tiles are simulated (plus the tail round), and the sample's time is scaled to
the rest (`Program.extra`); k-loops longer than MAX_K_STEPS slabs are simulated as MAX_K_STEPS macro-slabs.
Both are reported in `details`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ...hardware import HardwareSpec
from ...hardware.dtypes import canonical_dtype, dtype_bytes, element_bits, element_format
from ...workload.ops import (
    ELEMENTWISE_OPS,
    FMA_FLOPS,
    Attention,
    Dequantize,
    Elementwise,
    Gemm,
    GroupedGemm,
    Norm,
    Op,
    Quantize,
    Reduction,
    Softmax,
    default_out_dtype,
    streaming_kernel,
)
from ..analytical.attention import _tile as attention_tile
from ..analytical.gemm import (
    DEFAULT_INSTRUCTION_TILE,
    GemmKernel,
    _smem_bytes,
    grid_ordered,
    grouped_rows,
    library_kernel,
    library_stages,
    overlap_mma,
    wave_block,
)
from ..analytical.matmul import block_scaling
from ..analytical.streaming import (
    launched_threads,
    rereads_hit_cache,
    round_trips_bind,
    row_blocks,
    warm_read_bytes,
    writes_behind_reads,
)
from .core import CoreModel, mma_cycles
from .engine import Program
from .isa import Barrier, BlockScale, Convert, Instr, Load, Mma, Reduce, Special, Store, VecOp

SAMPLE_INSTRUCTIONS = 1200
MAX_K_STEPS = 48
ACC_BYTES = 4
GPU_TILES = ((128, 256), (256, 128), (128, 128), (128, 64), (64, 128), (64, 64))
# More tiles a library ships (CUTLASS 3's Hopper 64x256, its transpose): not the shape heuristic's first pick, but
# candidates the sim times (gemm_tiles): a skinny-M GEMM that streams wide weights runs them (cuBLAS's sm90 64x256)
EXTRA_TILES = ((64, 256), (256, 64))
# Skinny tiles for a few rows (decode GEMMs, GEMV-like; offered when one row of them covers M): usable where the
# instruction is that short in M (A100's mma m16n8k16, CDNA's 32x32 MFMA), as Marlin's 16-row tiles are;
# wgmma/tcgen05 chips pad to 64/128 rows.
SKINNY_TILES = ((32, 128), (16, 128), (16, 256))
# pieces a GEMM's C tile is stored in, one per step of the next tile (Step.drain); None: one per step of the next
# tile's whole main loop, the L2 writing the tile back to DRAM at the loop's pace (write-back cache)
STORE_CHUNKS: int | None = None
TILE_TOLERANCE = 1.25  # padded-work slack a bigger tile may cost (it saves operand traffic)
SYSTOLIC_ROWS = (2048, 1024, 512, 256, 128, 64, 32, 16, 8)
MAX_SYSTOLIC_STAGES = 8
STREAM_TILE_ELEMENTS = 32768  # elements per streaming tile (a CTA's worth: e.g. 8 rows x 4096)
STREAM_STAGES = 6  # buffer sets per core: tiles in flight across the load -> vector -> SFU -> store pipeline
STREAM_AHEAD = 2  # loads issued this many tiles ahead
# elements one block of a flat elementwise grid handles: ATen's vectorized_elementwise_kernel, num_threads() = 128
# threads x thread_work_size() = 4 elements (aten/src/ATen/native/cuda/CUDALoops.cuh, thread_constants.h)
FLAT_BLOCK_ELEMENTS = 512
Q_BLOCK = 128  # FlashAttention query rows per block (FA2/FA3 defaults, as in the analytical level)
# Work bounds of the attention lowering: the units (batch x heads x query blocks) it deals to cores are listed, so
# at most 4 Mi of them (tens of MB; a 128k-token prefill of batch 32 x 64 heads is 2 Mi); a unit longer than
# MAX_KV_STEPS KV blocks (a 128k-key non-causal row) is sampled like a program: its first MAX_KV_STEPS blocks
# simulated, its time scaled (the unit's Q load and O store are scaled with it: a small overstatement).
MAX_ATTENTION_UNITS = 1 << 22
MAX_KV_STEPS = 1024


class NotLowered(Exception):
    """The compiler has no lowering for this op; the sim level falls back to the analytical level."""


@dataclass(frozen=True)
class Step:
    """One pipeline step of a program: its loads (issued ahead) and the work that consumes them; `drain`: stores
    issued one per later step, each after that step's prefetch (a GEMM's C tile leaving while the next tile's
    main loop runs, as an asynchronous TMA store does, instead of holding the memory queue in one block)."""

    loads: tuple[Instr, ...]
    work: tuple[Instr, ...]
    drain: tuple[Instr, ...] = ()


def schedule(steps: list[Step], ahead: int, by_phase: bool = False) -> list[Instr]:
    """List scheduling with rate-independent priorities (so the sim stays monotone in every rate).

    Loads of step j are issued just before step j - ahead's work (prefetch distance). With `by_phase`, a step's
    work is cut into phases where the unit class changes (vector -> SFU -> vector ...) and phase p of step j gets
    priority j + p, older steps first: a modulo schedule with one step per interval, so the in-order unit queues
    overlap consecutive tiles (tile j's exp2 on the SFU while tile j + 1's max runs on the vector unit). Drain
    instruction c of step j is issued with step j + 1 + c, after its loads and before its work."""
    keyed = []
    for j, step in enumerate(steps):
        keyed += [((j - ahead, -1, j, q), ins) for q, ins in enumerate(step.loads)]
        phase, previous = 0, None
        for q, ins in enumerate(step.work):
            unit = "vector" if ins.cls == "convert" else ins.cls
            if by_phase and previous is not None and unit != previous:
                phase += 1
            previous = unit
            keyed.append(((j + phase, j, 0, q), ins))
        keyed += [((j + 1 + c, -0.5, j, c), ins) for c, ins in enumerate(step.drain)]
    keyed.sort(key=lambda item: item[0])
    return [ins for _, ins in keyed]


# ----- spreading work over cores ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spread:
    """The busiest core's work: `full` units while `active` cores run, then `tail` units while `tail_active` do."""

    full: int
    active: int
    tail: int
    tail_active: int


def spread(units: int, cores: int) -> Spread:
    per_core, extra = divmod(units, cores)
    if per_core == 0:
        return Spread(full=0, active=0, tail=1, tail_active=extra)
    return Spread(full=per_core, active=cores, tail=1 if extra else 0, tail_active=extra)


def sampled_program(name: str, spread_: Spread, unit_instrs: Callable[[int, int], list[Step]],
                    per_unit: int, ahead: int, cores: int, notes: dict[str, object], by_phase: bool = False
                    ) -> Program:
    """The busiest core's program: a sample of its full-round units, then its tail unit; `extra` scales the sample.

    unit_instrs(index, active cores) -> the steps of one unit."""
    sample = min(spread_.full, max(1, SAMPLE_INSTRUCTIONS // max(per_unit, 1)))
    steps: list[Step] = []
    for i in range(sample):
        steps += unit_instrs(i, spread_.active)
    mark_steps = len(steps)
    if spread_.tail:
        steps += unit_instrs(sample, spread_.tail_active)
    instrs = schedule(steps, ahead, by_phase)
    mark = None
    extra = 0.0
    if sample and spread_.full > sample:
        mark = _last_index_of(instrs, steps[:mark_steps])
        extra = (spread_.full - sample) / sample
        notes = {**notes, "sampled_units": f"{sample} of {spread_.full} per core simulated, time scaled"}
    return Program(name, tuple(instrs), cores=max(spread_.active, spread_.tail_active), mark=mark, extra=extra,
                   notes=notes)


def _last_index_of(instrs: list[Instr], steps: list[Step]) -> int:
    """Index in the scheduled program of the last instruction that belongs to `steps` (the sample)."""
    members = {id(i) for s in steps for i in (*s.loads, *s.work)}
    return max(k for k, ins in enumerate(instrs) if id(ins) in members)


# ----- GEMM -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GemmPlan:
    block_m: int
    block_n: int
    block_k: int
    k_steps: int
    stages: int
    split_k: int
    tiles: int
    tiles_m: int
    tiles_n: int
    hbm_fraction: float
    a_resident: bool
    dtype: str
    multicast_a: int
    multicast_b: int
    sim_k_slab: int  # the slab the program simulates (a multiple of block_k when the k-loop is coarsened)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def lower_gemm(op: Gemm, core: CoreModel, hw: HardwareSpec, tile: Tile | None = None) -> list[Program]:
    plan = plan_gemm(op, core, hw, tile)
    a_bytes, b_bytes = dtype_bytes(op.dtype), dtype_bytes(op.b_dtype or op.dtype)
    c_dtype = default_out_dtype(canonical_dtype(op.dtype), op.out_dtype)
    c_bytes = dtype_bytes(c_dtype) if plan.split_k == 1 else ACC_BYTES
    sp = spread(plan.tiles, _gemm_slots(plan, core, hw))
    slab_k = plan.sim_k_slab
    order = _tile_order(plan, sp)
    kernel = _library_kernel(op, hw)
    pair = _cta_pair(plan, hw, kernel)  # two CTAs along M share B: one MMA over the pair
    # a fixed kernel's MMA shorter than the instruction's full-rate M occupies the datapath as a full one
    issue_m = hw.matrix.tile[0] if kernel is not None and overlap_mma(hw) and hw.matrix.tile else 0
    pair_share = 2 if pair else 1
    sram_port = gemm_sram_bytes(op, plan, hw, pair)
    # an operand stored in another format than the matrix path's is converted as each slab arrives (W4A16 weights
    # into a bf16 MMA): isa.dequantize_ops lane slots per element on the vector unit, as at the analytical level
    convert_ops = hw.dequantize_flops(plan.dtype) / FMA_FLOPS
    convert_a, convert_b = (element_format(d) != element_format(plan.dtype) for d in (op.dtype, op.b_dtype or op.dtype))
    # block scales applied outside the MMA (MX/NVFP4 on a chip without a block-scaled rate, FP8 with FP32 block
    # scales): each K block's partial sums are scaled into an FP32 master accumulator on the vector unit, as at the
    # analytical level (matmul.block_scaling). Asynchronous MMAs (warp specialization, DeepGEMM) accumulate each
    # slab into one of two fresh accumulators that promotion warps drain while the next slab runs; synchronous ones
    # are promoted by the warps that issue them, between MMAs.
    scaling, _ = block_scaling(op, hw)
    promote = scaling.promote_every if scaling else 0
    split_acc = bool(promote) and hw.matrix.async_overlap

    def promotion(i: int, s: int, acc: str) -> tuple[tuple[str, ...], list[Instr]]:
        """(buffers the slab's MMA reads besides its operands, its promotion instructions)."""
        blocks = math.ceil(slab_k / promote)
        elements, ops = plan.block_m * plan.block_n * blocks, Gemm.PROMOTION_FLOPS / FMA_FLOPS
        if split_acc:
            part = f"t{i % 2}.{s % 2}"
            return (), [VecOp((part, acc) if s else (part,), (acc,), f"promote tile {i} k{s}", "fma", elements, ops)]
        return ((acc,) if s else ()), [VecOp((acc,), (acc,), f"promote tile {i} k{s}", "fma", elements, ops)]

    def unit(i: int, active: int) -> list[Step]:
        mt, first_in_row = order(i)
        acc, c = f"acc{i % 2}", f"c{i % 2}"
        steps = []
        for s in range(plan.k_steps):
            slot = (i * plan.k_steps + s) % plan.stages  # buffers rotate across tiles too (short K)
            a_name = f"A{mt % 2}.{s}" if plan.a_resident else f"a{slot}"
            loads = []
            if not plan.a_resident or first_in_row:
                a_tile = plan.block_m * slab_k * a_bytes
                loads.append(Load((), (a_name,), f"load A[{mt}] k{s}", a_tile, a_tile * plan.hbm_fraction, active,
                                  plan.multicast_a))
            b_tile = slab_k * plan.block_n * b_bytes
            # a CTA pair (tcgen05 cta_group::2) splits B between its two SMs: this core's DMA and SRAM take half,
            # multicast to the other pairs of the cluster (L2 and HBM still serve the whole tile once per cluster)
            loads.append(Load((), (f"b{slot}",), f"load B k{s}" + (" (this SM's half)" if pair else ""),
                              b_tile / pair_share, b_tile * plan.hbm_fraction, active,
                              max(1, plan.multicast_b // pair_share)))
            a_in, b_in = a_name, f"b{slot}"
            work: list[Instr] = []
            if convert_a:
                work.append(VecOp((a_in,), (f"ac{slot}",), f"convert A to {plan.dtype}", "convert",
                                  plan.block_m * slab_k, convert_ops))
                a_in = f"ac{slot}"
            if convert_b:
                work.append(VecOp((b_in,), (f"bc{slot}",), f"convert B to {plan.dtype}", "convert",
                                  slab_k * plan.block_n, convert_ops))
                b_in = f"bc{slot}"
            if promote:
                chained, promoting = promotion(i, s, acc)
                mma_out = f"t{i % 2}.{s % 2}" if split_acc else acc
                work.append(Mma((a_in, b_in, *chained), (mma_out,), f"mma tile {i} k{s}", plan.block_m, plan.block_n,
                                slab_k, plan.dtype, issue_m, sram_port, starts_run=s == 0))
                work.extend(promoting)
            else:
                reads = (a_in, b_in) + ((acc,) if s else ())
                work.append(Mma(reads, (acc,), f"mma tile {i} k{s}", plan.block_m, plan.block_n, slab_k, plan.dtype,
                                issue_m, sram_port, starts_run=s == 0))
            drain: tuple[Instr, ...] = ()
            if s == plan.k_steps - 1:
                elements = plan.block_m * plan.block_n
                work.append(Convert((acc,), (c,), f"epilogue tile {i}", c_dtype, elements))
                drain = tuple(Store((c,), (), f"store C tile {i} ({q + 1}/{chunks})", elements * c_bytes / chunks,
                                    active) for q in range(chunks))
            steps.append(Step(tuple(loads), tuple(work), drain))
        return steps

    # the C tile leaves in pieces over the next tile's main loop (an asynchronous TMA store into L2, which writes it
    # back to DRAM while the next main loop runs): the next slabs' loads share the HBM pipe with it instead of
    # queueing behind it. In 4 pieces a 128x256 tile's write-back share (~800 cycles a piece on B200 with all 148
    # SMs storing) still outlasted a step's MMA (~620 cycles) and the loads behind it starved the matrix unit for
    # 3-4 steps of every tile (Blackwell bf16 and fp8 GEMMs 10-28 % slow); one piece per step drains it
    chunks = min(plan.k_steps, STORE_CHUNKS or plan.k_steps)
    per_unit = plan.k_steps * (3 + convert_a + convert_b + bool(promote)) + 1 + chunks
    notes = {"mapping": {**plan.as_dict(), "cta_pair": pair}}
    programs = [sampled_program("gemm", sp, unit, per_unit, plan.stages - 1, core.cores, notes)]
    if plan.split_k > 1:
        elements = op.batch * op.m * op.n
        reduce_op = Elementwise(op="add", elements=elements, dtype="fp32", inputs=plan.split_k,
                                flops_per_element=plan.split_k - 1, out_dtype=c_dtype)
        programs += lower_elementwise(reduce_op, core, hw, name="split-k reduction")
    return programs


def gemm_sram_bytes(op: Gemm, plan: GemmPlan, hw: HardwareSpec, pair: bool) -> float:
    """Bytes through one core's SRAM port per K slab of a tile (0 on a systolic array, fed by its own shift
    registers): the A and B slabs written in by the DMA, and read out again by every group of threads that issues
    matrix instructions: a warpgroup's wgmma/tcgen05 reads its instr_m rows of A and the whole B slab, a warp's
    mma.sync/MFMA its warp tile's rows of A and columns of B (CUTLASS's 2x2 or 2x4 warp grid), so B is read once
    per warpgroup and A once per warp column. The analytical level's count (_smem_bytes), in the operands' stored
    widths (int4 weights are converted after they leave SRAM); a CTA pair's core holds half of B."""
    if hw.matrix.systolic:
        return 0.0
    instr = tuple(int(d) for d in (hw.matrix.tile or DEFAULT_INSTRUCTION_TILE))
    a_width, b_width = float(dtype_bytes(op.dtype)), float(dtype_bytes(op.b_dtype or op.dtype))
    return float(_smem_bytes(plan.block_m, plan.block_n, plan.sim_k_slab, a_width, b_width, instr,
                             bool(hw.matrix.async_overlap), 0.5 if pair else 1.0))


def _tile_order(plan: GemmPlan, sp: Spread) -> Callable[[int], tuple[int, bool]]:
    """Core 0's i-th tile: its M-tile index and whether it starts a new row of tiles (A panel (re)load).
    Tiles are handed out in contiguous blocks in N-fastest order, so a core walks along rows of C."""

    def order(i: int) -> tuple[int, bool]:
        mt = i // plan.tiles_n
        return mt, i == 0 or i % plan.tiles_n == 0

    return order


Tile = tuple[int, int, int, int]  # block_m, block_n, block_k, stages


@dataclass(frozen=True)
class TileWork:
    """The busiest core's work on one tile choice, in rate-free counts: what lower_gemm's instructions occupy
    each unit with (L2 and HBM bytes x the cores sharing them while they move). Divided by the core's rates it is
    a lower bound on the program's cycles (model.fastest)."""

    mma_flops: float
    sram_bytes: float  # operand bytes the MMAs read (their SRAM-port floor, core._mma)
    l2_bytes: float
    hbm_read: float
    hbm_written: float
    vector_slots: float  # conversions and promotions
    dtype: str  # the matrix path's

    def counts(self) -> tuple[float, ...]:
        return (self.mma_flops, self.sram_bytes, self.l2_bytes, self.hbm_read, self.hbm_written, self.vector_slots)


@dataclass(frozen=True)
class Alternative:
    """One way to run an op: `build()` gives its programs (run one after another); `work`, when known, bounds
    their time from below without building them."""

    build: Callable[[], list[Program]]
    work: TileWork | None = None
    label: str = ""


def gemm_alternatives(op: Gemm, core: CoreModel, hw: HardwareSpec) -> list[Alternative]:
    """The programs of every candidate tile (gemm_tiles), the shape heuristic's first: the sim runs them and keeps
    the fastest (model.fastest), as an autotuner times its kernels. The candidates depend on shapes and
    capacities only, so the fastest of them, each monotone in every rate, is monotone too."""
    return [Alternative(lambda tile=tile: lower_gemm(op, core, hw, tile), work, f"{tile[0]}x{tile[1]}")
            for tile, work in _gemm_candidates(op, core, hw)]


def gemm_tiles(op: Gemm, core: CoreModel, hw: HardwareSpec) -> list[Tile]:
    return [tile for tile, _ in _gemm_candidates(op, core, hw)]


def _gemm_candidates(op: Gemm, core: CoreModel, hw: HardwareSpec) -> list[tuple[Tile, TileWork | None]]:
    """Candidate tiles of a GEMM, from shapes and capacities alone: the shape heuristic's pick (_gpu_tile), then
    the other library tiles (GPU_TILES, EXTRA_TILES, SKINNY_TILES when one row of them covers M) whose accumulators
    fit half the register file and whose double-buffered slabs fit SRAM and that no other candidate dominates:
    one dominates another when its busiest core has no more of any work (_tile_work: MMA FLOPs, bytes through
    SRAM, L2 and HBM, vector work), so it is no slower on any unit at any rates. Least padded work first. A
    systolic array has one candidate (its row block is already the least fill-and-drain cycles, _systolic_tile)."""
    dtype, elem = _gemm_dtype(op, hw)
    kernel = _library_kernel(op, hw)
    if kernel is not None:  # a fixed library kernel: its tile and pipeline depth, as the analytical level's
        stages = library_stages(kernel, elem, core.sram_bytes)
        return [((kernel.block_m, kernel.block_n, kernel.block_k, stages), None)]
    if core.systolic:
        return [(_systolic_tile(op, core, elem, dtype), None)]
    instr_m = hw.matrix.tile[0] if hw.matrix.tile else 16
    first = _gpu_tile(op, core, elem, instr_m, _wide_n(hw))
    bk = first[2]
    ranked = []
    for bm, bn in _fitting_tiles(op, core, elem, bk, instr_m, GPU_TILES + EXTRA_TILES, _wide_n(hw)):
        if (bm, bn) == first[:2]:
            continue
        stages = max(1, min(4, int(core.sram_bytes // ((bm + bn) * bk * elem))))
        ranked.append((bm, bn, bk, stages))
    works = {t: _tile_work(op, core, hw, t) for t in [first, *ranked]}
    ordered = [first, *sorted(ranked, key=lambda t: (works[t].mma_flops, -t[0] * t[1]))]
    counts = [works[t].counts() for t in ordered]
    kept = []
    for i, tile in enumerate(ordered):  # dominated: another has no more of any work (less of some, or is earlier)
        if not any(j != i and all(a <= b for a, b in zip(counts[j], counts[i], strict=True))
                   and (j < i or counts[j] != counts[i]) for j in range(len(ordered))):
            kept.append((tile, works[tile]))
    return kept


def _gemm_slots(plan: GemmPlan, core: CoreModel, hw: HardwareSpec) -> int:
    """Cores the GEMM's CTAs occupy at once: clusters of the plan's multicast size co-reside within one GPC
    (compute.cluster_cores; the analytical level's cluster_limit)."""
    return min(core.cores, hw.compute.cluster_capacity(max(plan.multicast_a, plan.multicast_b)))


def _cta_pair(plan: GemmPlan, hw: HardwareSpec, kernel: GemmKernel | None) -> bool:
    """Whether two CTAs along M share B as one MMA over the pair (tcgen05 `cta_group::2`): the named library
    kernel's choice, else the chip's (matrix.paired_cores), and only when the plan's cluster shares B."""
    paired = kernel.paired if kernel is not None else hw.matrix.paired_cores
    return bool(paired) and plan.multicast_b >= 2


def _library_kernel(op: Gemm, hw: HardwareSpec) -> GemmKernel | None:
    """The fixed library kernel a GEMM names (Gemm.kernel), as the analytical level prices it (library_kernel)."""
    return library_kernel(op.kernel, op.m, op.n, op.k, hw) if op.kernel else None


def _tile_work(op: Gemm, core: CoreModel, hw: HardwareSpec, tile: Tile) -> TileWork:
    """The busiest core's work on `tile` (TileWork), counted as lower_gemm's instructions are."""
    plan = plan_gemm(op, core, hw, tile)
    sp = spread(plan.tiles, _gemm_slots(plan, core, hw))
    a_bytes, b_bytes = dtype_bytes(op.dtype), dtype_bytes(op.b_dtype or op.dtype)
    slab = plan.sim_k_slab
    units = sp.full + sp.tail
    share = sp.full * sp.active + sp.tail * sp.tail_active  # units x cores sharing L2 and HBM while each runs
    a_tile, b_tile = plan.block_m * slab * a_bytes, slab * plan.block_n * b_bytes
    loads = plan.k_steps * (a_tile / plan.multicast_a + b_tile / plan.multicast_b)
    c_tile = plan.block_m * plan.block_n * (dtype_bytes(default_out_dtype(canonical_dtype(op.dtype), op.out_dtype))
                                            if plan.split_k == 1 else ACC_BYTES)
    convert = hw.dequantize_flops(plan.dtype) / FMA_FLOPS
    converted = sum(e for d, e in ((op.dtype, plan.block_m), (op.b_dtype or op.dtype, plan.block_n))
                    if element_format(d) != element_format(plan.dtype))
    scaling, _ = block_scaling(op, hw)
    promote = plan.block_m * plan.block_n * math.ceil(slab / scaling.promote_every) if scaling and \
        scaling.promote_every else 0
    width = dtype_bytes(plan.dtype)  # the MMA reads its operands in the matrix path's format (core._mma)
    pair = _cta_pair(plan, hw, _library_kernel(op, hw))
    port = max((plan.block_m + plan.block_n) * slab * width, gemm_sram_bytes(op, plan, hw, pair))  # as core._mma
    return TileWork(units * plan.k_steps * 2.0 * plan.block_m * plan.block_n * slab,
                    units * plan.k_steps * port,
                    share * loads if core.has_l2 else 0.0,
                    share * plan.k_steps * (a_tile + b_tile) * plan.hbm_fraction if core.has_l2 else 0.0,
                    share * c_tile,
                    units * plan.k_steps * (converted * slab * convert + promote * Gemm.PROMOTION_FLOPS / FMA_FLOPS),
                    plan.dtype)


def _fitting_tiles(op: Gemm, core: CoreModel, elem: float, bk: int, instr_m: int,
                   table: tuple[tuple[int, int], ...], wide_n: int = 0) -> list[tuple[int, int]]:
    """Tiles of `table` (and the skinny ones whose single row covers M) whose accumulators fit half the register
    file and whose double-buffered K slabs fit SRAM. `wide_n` (_wide_n): tiles narrower than it only when one row
    of them covers M (a skinny GEMM spread over the SMs), unless only narrow ones fit, as the analytical level."""
    skinny = tuple(t for t in SKINNY_TILES if t[0] % instr_m == 0 and op.m <= t[0])  # one row of tiles covers M
    fitting = [(bm, bn) for bm, bn in table + skinny
               if bm * bn * ACC_BYTES <= core.register_bytes / 2 and 2 * (bm + bn) * bk * elem <= core.sram_bytes]
    wide = [(bm, bn) for bm, bn in fitting if bn >= wide_n or op.m <= bm]
    return wide or fitting


def _wide_n(hw: HardwareSpec) -> int:
    """The widest N of an asynchronous tile instruction (wgmma, tcgen05: N up to 256), 0 elsewhere. Its kernels
    (cuBLAS's and CUTLASS's sm90/sm100 GEMMs) run a whole instruction width of C per warpgroup: B is read from
    SRAM once per warpgroup (gemm_sram_bytes), so a narrower tile reads more SRAM per FLOP and its kernels are
    offered for skinny GEMMs only (the analytical level's candidate rule, analytical/gemm.py)."""
    if hw.matrix.async_overlap and hw.matrix.tile and not hw.matrix.systolic:
        return int(hw.matrix.tile[1])
    return 0


def _gemm_dtype(op: Gemm, hw: HardwareSpec) -> tuple[str, float]:
    """The matrix path's dtype and the element bytes tiles are sized on (mxfp8 tiles as fp8_e4m3; a block format's
    scales ride along in the loads)."""
    dtype = hw.matrix_dtype(op.cost().matrix_dtype or op.dtype)
    if dtype is None:
        raise ValueError(f"{hw.id}: no matrix peak for {op.dtype} or any wider dtype; add matrix.peak.{op.dtype}")
    return dtype, max(element_bits(op.dtype), element_bits(op.b_dtype or op.dtype)) / 8


def plan_gemm(op: Gemm, core: CoreModel, hw: HardwareSpec, tile: Tile | None = None) -> GemmPlan:
    """The mapping of one GEMM on `tile` (default: the shape heuristic's, _gpu_tile / _systolic_tile)."""
    dtype, elem = _gemm_dtype(op, hw)
    if tile is not None:
        bm, bn, bk, stages = tile
    elif core.systolic:
        bm, bn, bk, stages = _systolic_tile(op, core, elem, dtype)
    else:
        bm, bn, bk, stages = _gpu_tile(op, core, elem, hw.matrix.tile[0] if hw.matrix.tile else 16, _wide_n(hw))
    tiles_m, tiles_n = math.ceil(op.m / bm), math.ceil(op.n / bn)
    tiles = tiles_m * tiles_n * op.batch
    kernel = _library_kernel(op, hw)
    split = 1 if kernel is not None else _split_k(tiles, op.k, bk, core.cores)
    k_chunk = math.ceil(op.k / split)
    k_steps = math.ceil(k_chunk / bk)
    slab = bk
    if k_steps > MAX_K_STEPS:  # macro-slabs: same bytes and FLOPs, fewer instructions
        slab = bk * math.ceil(k_steps / MAX_K_STEPS)
        k_steps = math.ceil(k_chunk / slab)
    panel = bm * k_steps * slab * elem
    a_resident = (not core.has_l2) and 2 * panel + stages * bk * bn * elem <= core.sram_bytes
    grid_order = grid_ordered(hw, kernel)
    fraction = (_hbm_fraction(op, core, bm, bn, k_steps * slab, tiles_m, tiles_n, tiles * split, grid_order)
                if core.has_l2 else 1.0)
    mc_a, mc_b = _multicast(hw, bm * dtype_bytes(op.dtype), bn * dtype_bytes(op.b_dtype or op.dtype), tiles_m,
                            tiles_n, tiles * split)
    if kernel is not None:  # its cluster runs along M: the CTAs share each B tile
        mc_a, mc_b = 1, max(c for c in (1, 2, 4) if c <= kernel.cluster and c <= tiles_m)
    return GemmPlan(bm, bn, bk, k_steps, stages, split, tiles * split, tiles_m, tiles_n, fraction, a_resident,
                    dtype, mc_a, mc_b, slab)


def _multicast(hw: HardwareSpec, a_row: float, b_col: float, tiles_m: int, tiles_n: int,
               tiles: int) -> tuple[int, int]:
    """Thread-block clusters (matrix.cluster_multicast, at most 4 as in the analytical level): the CTAs of a
    cluster along M share each B tile (one L2 read), or along N each A tile; the larger operand is shared. The
    largest cluster that costs no extra wave: clusters co-reside in one GPC (compute.cluster_cores), and a size
    that leaves SMs idle is worth it only when the tiles still run in as many waves (the analytical level searches
    the cluster with the tile)."""
    limit = min(hw.matrix.cluster_multicast, 4)
    waves = math.ceil(tiles / hw.compute.cores)
    # a cluster of 1 is no cluster: always allowed, whatever compute.cluster_cores lists for size 1
    keeps = [1, *(c for c in (2, 4) if c <= limit and math.ceil(tiles / hw.compute.cluster_capacity(c)) == waves)]
    if b_col >= a_row:
        return 1, max(c for c in keeps if c <= tiles_m)
    return max(c for c in keeps if c <= tiles_n), 1


def _gpu_tile(op: Gemm, core: CoreModel, elem: float, instr_m: int, wide_n: int = 0) -> tuple[int, int, int, int]:
    """The tile a heuristic autotuner picks from shapes alone: among tiles whose padded work on the busiest core
    (rounds x tile area) is within 25 % of the least, the largest (fewest operand bytes per FLOP); accumulators in
    half the register file; K slabs of 128 bytes; as many stages (2-4) as SRAM holds."""
    bk = max(16, int(128 // elem))
    options = []
    for bm, bn in _fitting_tiles(op, core, elem, bk, instr_m, GPU_TILES, wide_n):
        tiles = math.ceil(op.m / bm) * math.ceil(op.n / bn) * op.batch
        options.append((math.ceil(tiles / core.cores) * bm * bn, bm, bn))
    if not options:
        options = [(0, 64, 64)]
    least = min(w for w, _, _ in options)
    _, bm, bn = max((o for o in options if o[0] <= TILE_TOLERANCE * least), key=lambda o: (o[1] * o[2], o[2]))
    stages = max(1, min(4, int(core.sram_bytes // ((bm + bn) * bk * elem))))
    return bm, bn, bk, stages


def _systolic_tile(op: Gemm, core: CoreModel, elem: float, dtype: str) -> tuple[int, int, int, int]:
    """Weight-stationary folds: B slabs of R x (C x arrays) stay in the array while a block of A rows streams
    through. The row block is the candidate with the least streamed-plus-fold-overhead cycles on the busiest core
    (long streams amortize each fold's 2R + C - 2 fill and drain; short ones spread work over more cores), among
    those whose buffers fit SRAM; ties go to the taller block. Stages: enough slabs in flight to cover a load's
    latency (DMA descriptor + HBM/L2) and transfer with the folds of the steps before it, as a compiler's software
    pipeline does (2 to MAX_SYSTOLIC_STAGES, as SRAM allows)."""
    rows, cols = core.systolic or (128, 128)
    bn, bk = cols * core.matrix_units, rows
    m_cap = max(SYSTOLIC_ROWS[-1], 2 ** math.ceil(math.log2(max(op.m, 1))))
    best: tuple[tuple[float, int], int] | None = None
    for candidate in SYSTOLIC_ROWS:
        fits = 2 * (candidate * bk + bk * bn) * elem + candidate * bn * ACC_BYTES <= core.sram_bytes
        if candidate > m_cap or not fits:
            continue
        tiles = math.ceil(op.m / candidate) * math.ceil(op.n / bn) * op.batch
        if core.weight_double_buffer:  # a tile: its K folds at max(rows streamed, R) each, one fill and drain
            per_tile = math.ceil(op.k / bk) * max(min(candidate, op.m), rows) + 2 * rows + cols - 2
        else:  # each fold its own fill and drain (the K folds per tile are the same for every candidate)
            per_tile = min(candidate, op.m) + 2 * rows + cols - 2
        key = (math.ceil(tiles / core.cores) * per_tile, -candidate)
        if best is None or key < best[0]:
            best = (key, candidate)
    bm = min(best[1] if best else SYSTOLIC_ROWS[-1], op.m)
    slab = (bm * bk + bk * bn) * elem
    latency = core.dma_latency + (core.l2_latency if core.has_l2 else core.hbm_latency) + slab / core.dma_bytes_per_cycle
    step = mma_cycles(core, bm, bn, bk, dtype, starts_run=False)  # a steady-state K step
    stages = min(MAX_SYSTOLIC_STAGES, 1 + math.ceil(latency / step))
    while stages > 2 and stages * slab + bm * bn * ACC_BYTES > core.sram_bytes:
        stages -= 1
    return bm, bn, bk, max(2, stages)


def _split_k(tiles: int, k: int, bk: int, cores: int) -> int:
    """Split K when the output has too few tiles to occupy half the cores and K is long (>= 8 slabs per split)."""
    if tiles * 2 > cores:
        return 1
    return max(1, min(cores // tiles, k // (8 * bk)))


def _hbm_fraction(op: Gemm, core: CoreModel, bm: int, bn: int, k_chunk: int, tiles_m: int, tiles_n: int,
                  tiles: int, grid_order: bool = False) -> float:
    """Share of operand loads that miss L2: a round of `active` tiles covers a block of C (near-square, or down M
    first for a non-persistent grid, `grid_order`: analytical.gemm.wave_block) and reads its A row panels and B
    column panels once; both operands stay resident when they fit in half of L2 (the analytical level's traffic
    model)."""
    a_bytes, b_bytes = dtype_bytes(op.dtype), dtype_bytes(op.b_dtype or op.dtype)
    a_total = op.batch * op.m * op.k * a_bytes
    b_total = (1 if op.shared_b else op.batch) * op.k * op.n * b_bytes
    active = min(tiles, core.cores)
    rounds = math.ceil(tiles / core.cores)
    rows, cols = (float(x) for x in wave_block(active, tiles_m, tiles_n, grid_order))
    streamed = max(rounds * (rows * bm * a_bytes + cols * bn * b_bytes) * k_chunk, a_total + b_total)
    hbm = a_total + b_total if a_total + b_total <= 0.5 * core.l2_bytes else streamed
    loaded = tiles * (bm * a_bytes + bn * b_bytes) * k_chunk
    return min(1.0, hbm / loaded)


def lower_grouped_gemm(op: GroupedGemm, core: CoreModel, hw: HardwareSpec) -> list[Program]:
    """Each distinct group size runs as a batch of same-shape GEMMs (one persistent launch over all groups)."""
    return [p for segment in grouped_alternatives(op, core, hw) for p in segment[0].build()]


def grouped_alternatives(op: GroupedGemm, core: CoreModel, hw: HardwareSpec) -> list[list[Alternative]]:
    """Per distinct group size (a batch of same-shape GEMMs), the programs of each of its candidate tiles (the named
    library kernel's tile when the op names one: GroupedGemm.kernel, as the analytical level)."""
    return [gemm_alternatives(Gemm(m=m, n=op.n, k=op.k, dtype=op.dtype, batch=count, out_dtype=op.out_dtype,
                                   b_dtype=op.b_dtype, kernel=op.kernel), core, hw)
            for m, count in grouped_rows(op.rows)]


# ----- streaming ops (softmax, norms, elementwise, reductions, (de)quantize) --------------------------------------
Body = Callable[[str, float, float, int], list[Instr]]  # (slot, elements, rows, active) -> compute instructions


@dataclass(frozen=True, slots=True)
class ThreadLoads:
    """A SIMT kernel's loads (`StreamingKernel`): bytes it keeps in flight per core, and how often it reads a row."""

    in_flight: float = 0.0  # 0: DMA-driven, no thread-level limit
    row_passes: int = 1  # reads after the first hit L2
    cached: bool = False  # the working set stays in the chip-wide cache (OpCost.cached and it fits)
    reread_dram: bool = False  # later passes miss L2: the rows in flight outgrow it (rereads_hit_cache)
    loads_from_cache: bool = False  # this program's loads hit the chip-wide cache (a phased kernel's re-read)
    # bytes the whole grid keeps in flight (launched threads x per-thread bytes, as the analytical level's
    # launched_threads): a grid of few row blocks has fewer threads than the cores it lands on hold. 0: no limit
    grid_in_flight: float = 0.0
    dependent_loads: int = 0  # StreamingKernel.dependent_loads: loads, one after another, before the first tile
    # the kernel's stores drain behind its latency-bound reads (analytical writes_behind_reads): they reach L2
    # and leave for DRAM on the bus time the reads leave idle, off the tiles' critical path
    writes_behind: bool = False
    # a row kernel's round trips per pass (analytical row_blocks: whole waves x whole load rounds per row); the
    # busiest core's tiles then deliver their bytes in that many round trips. 0: Little's law on in_flight
    rounds: int = 0
    waves: int = 0  # the row kernel's waves of blocks (analytical row_blocks), 0: not a row kernel
    # share of the read bytes the chip-wide cache still holds (Elementwise.warm_inputs: the operand the previous
    # kernel just wrote, analytical warm_read_bytes); those bytes cross L2 but not DRAM
    warm_fraction: float = 0.0
    # the reads wait on whole round trips, one after another (analytical round_trips_bind): the threads' loads and
    # stores take the DRAM pipe in program order, each round trip charged its latency (isa.Load/Store.defer_dram False)
    in_order: bool = False
    # blocks of a row kernel one core holds at once (analytical row_blocks: rows_per_wave / cores, set by the
    # block's threads against compute.max_threads_per_core), 0: not a row kernel. Their rows are one sim tile:
    # co-resident blocks run concurrently, each thread's data in registers, so SRAM does not cap the tile
    resident_rows: int = 0

    def hbm_share(self, read_bytes: float) -> float:
        """Bytes of a first-pass read of `read_bytes` that come from main memory."""
        return 0.0 if (self.cached or self.loads_from_cache) else read_bytes * (1.0 - self.warm_fraction)


def thread_loads(op: Elementwise | Norm | Softmax, hw: HardwareSpec) -> ThreadLoads:
    """The kernel's resident threads x loads in flight x bytes per load, per core (as the analytical level's
    Little's-law bound); no limit when the spec has no compute.max_threads_per_core."""
    kernel = streaming_kernel(op)
    streams = max(op.input_arrays, 1) if isinstance(op, Elementwise) else 1
    passes = 1 if isinstance(op, Elementwise) else kernel.row_passes
    cost = op.cost()
    cached = bool(cost.cached and hw.resident_cache(cost.bytes))
    dram = passes > 1 and not isinstance(op, Elementwise) and not rereads_hit_cache(op, kernel, hw)
    warm = warm_read_bytes(op, hw) / cost.bytes_read if cost.bytes_read and not cached else 0.0
    threads = hw.compute.max_threads_per_core
    if not threads:
        return ThreadLoads(0.0, passes, cached, dram, warm_fraction=warm)
    load = kernel.load_bytes or dtype_bytes(op.dtype)
    per_thread = streams * load * kernel.outstanding
    launched = launched_threads(op, kernel, per_thread)
    grid = launched * per_thread if launched < hw.compute.cores * threads else 0.0
    blocks = row_blocks(op, kernel, hw)
    # a row kernel runs whole waves of blocks, each a chain of whole load rounds (the analytical level's
    # row_blocks): a pass takes waves x rounds round trips however the tiles land
    rounds = blocks.waves * blocks.rounds if blocks is not None else 0
    behind = writes_behind_reads(op, kernel, hw, 1.0 if dram else 0.0)
    resident = max(blocks.rows_per_wave // hw.compute.cores, 1) if blocks is not None else 0
    return ThreadLoads(threads * per_thread, passes, cached, dram, grid_in_flight=grid,
                       dependent_loads=kernel.dependent_loads, writes_behind=behind, rounds=rounds,
                       waves=blocks.waves if blocks is not None else 0, warm_fraction=warm,
                       in_order=not cached and round_trips_bind(op, hw), resident_rows=resident)


def round_split(loads: ThreadLoads, per_core: int) -> int:
    """Round trips each of a core's tiles takes, when the sim runs them one step each (1: one step per tile).

    A row kernel's block walks its row in whole rounds (`ThreadLoads.rounds`): each thread loads, computes and
    stores one element group, then loops. The warps of a block drift apart by their turn on the SFU and FMA
    pipes, so while the last warps of round r still compute, the first have issued round r + 1's loads: only the
    last round's compute and store are exposed behind the loads (vLLM csrc/activation_kernels.cu
    act_and_mul_kernel's `for (idx = threadIdx.x; idx < d; idx += blockDim.x)` loop). Only single-pass kernels
    whose rounds divide evenly over the core's tiles are split; a norm's passes keep one step per tile."""
    if not loads.rounds or loads.row_passes != 1 or loads.rounds % per_core:
        return 1
    return loads.rounds // per_core


def two_pass_split(loads: ThreadLoads, per_core: int, lockstep: bool = True) -> int:
    """As `round_split`, for a row reduction that reads its row, reduces it over the block, then re-reads it
    from L2 to write (vLLM csrc/layernorm_kernels.cu rms_norm_kernel: a sum-of-squares loop, BlockReduce,
    rsqrtf by thread 0 behind __syncthreads, a normalize-and-store loop): each pass's rounds are steps. Only
    when the stores drain behind the reads from the threads (`writes_behind`), the re-read hits L2, and the
    rounds are run in step on every core (`lockstep`, with the rows in one wave or the waves' tiles the blocks a
    core holds at once). Rounds in step on every core overstate L2 queueing where the cores drift apart, one
    core's pass 2 (L2) under another's pass 1 (DRAM); one step per SRAM-sized tile overstates the serialization
    of co-resident blocks: the sim runs both and keeps the faster (`norm_alternatives`)."""
    if (not loads.rounds or loads.row_passes != 2 or loads.rounds % per_core or not loads.writes_behind
            or loads.reread_dram or loads.cached or not lockstep):
        return 1
    return loads.rounds // per_core


def stream_tile(rows: int, cols: int, bytes_per_element: float, core: CoreModel, loads: ThreadLoads,
                two_pass: bool = False, lockstep: bool = True) -> tuple[int, int, int]:
    """(columns per tile, chunks per row, rows per tile) of a streaming program.

    A DMA-fed tile's STREAM_STAGES buffer sets must fit the core's SRAM, and a tile holds at most
    STREAM_TILE_ELEMENTS: a long row is cut in equal column chunks. A row kernel's threads (`resident_rows` > 0)
    hold their elements in registers and walk the whole row: a tile is the rows of the blocks one core holds at
    once (they run concurrently: round r of both blocks is one round trip, not two), never a chunk of a row,
    when the sim runs that tile round by round (round_split, or two_pass_split with `two_pass` and `lockstep`).
    Otherwise the SRAM-sized tiles stay: one step per whole-row tile would serialize the tile's compute behind
    all its loads, where several smaller tiles overlap them (ATen's LayerNorm at 1024 x 2560 on H100: 5.24 ->
    5.89 us).
    Either way a grid's row blocks spread over the cores before any core takes a second one."""
    if loads.resident_rows and loads.in_flight:
        resident = max(1, min(rows, loads.resident_rows, math.ceil(rows / core.cores)))
        per_core = math.ceil(math.ceil(rows / resident) / core.cores)
        if round_split(loads, per_core) > 1 or (two_pass and two_pass_split(loads, per_core, lockstep) > 1):
            return cols, 1, resident
    budget = core.sram_bytes / (STREAM_STAGES * max(bytes_per_element, 1.0))
    tile_cols = max(1, int(min(cols, STREAM_TILE_ELEMENTS, budget)))
    chunks = math.ceil(cols / tile_cols)
    tile_cols = math.ceil(cols / chunks)  # equal chunks: a row split in two is two half rows, not two full tiles
    rows_per_tile = max(1, min(rows, int(min(STREAM_TILE_ELEMENTS, budget) // tile_cols)))
    if chunks == 1:
        rows_per_tile = min(rows_per_tile, max(1, math.ceil(rows / core.cores)))
    return tile_cols, chunks, rows_per_tile


def streaming(name: str, rows: int, cols: int, in_bytes: float, out_bytes: float, body: Body, core: CoreModel,
              out_per_row: float = 0.0, notes: dict[str, object] | None = None,
              loads: ThreadLoads = ThreadLoads(), reduce_pass: tuple[Body, Body] | None = None,
              lockstep: bool = True) -> Program:
    """Rows x cols elements in tiles of whole rows (or column chunks of one row): load, compute, store, with
    STREAM_STAGES-deep buffering. `in_bytes`/`out_bytes` per element; `out_per_row` extra bytes out per row.
    `loads`: a thread-issued kernel's in-flight limit, and the re-reads (from L2) of a kernel that reads its rows
    more than once. `reduce_pass`: (the reading pass's work per round, the work between the passes) of a
    two-pass row reduction, which the sim then runs round by round (`two_pass_split`, unless `lockstep` is
    False), `body` being the writing pass's."""
    tile_cols, chunks, rows_per_tile = stream_tile(rows, cols, in_bytes + out_bytes, core, loads,
                                                   reduce_pass is not None, lockstep)
    tiles = math.ceil(rows / rows_per_tile) * chunks
    sp = spread(tiles, core.cores)
    elements = rows_per_tile * tile_cols
    in_flight = loads.in_flight
    if loads.grid_in_flight and in_flight:  # the launched threads, shared by the cores the tiles land on
        in_flight = min(in_flight, loads.grid_in_flight / max(sp.active, sp.tail_active, 1))
    per_core = sp.full + sp.tail
    if in_flight and loads.rounds:  # the busiest core's tiles in the kernel's whole round trips (_load's rounds)
        in_flight = per_core * elements * in_bytes * core.dma_engines / loads.rounds
    elif in_flight and per_core < core.dma_engines:
        # core._load splits a core's thread loads over its DMA engines (each tile queues on the next one); a core
        # with fewer tiles than engines has all its threads' loads on the engines it uses
        in_flight *= core.dma_engines / per_core
    # a gather in front of the stream: its chain of loads (the last overlaps the first tile's round trip)
    chain = max(loads.dependent_loads - 1, 0)
    split = round_split(loads, per_core) if in_flight else 1
    # bandwidth-bound reads: their requests reach DRAM a latency before the bus serves them, and the stores'
    # writes take the pipe without holding the core (isa.Load/Store.defer_dram); a latency-bound kernel's round
    # trips and write drains stay in program order
    defer = not loads.in_order
    simt = bool(in_flight)  # the kernel's threads issue its loads and stores (isa.Load/Store.simt)
    whole = rows_per_tile == min(rows, loads.resident_rows, math.ceil(rows / core.cores)) and chunks == 1
    in_step = lockstep and bool(reduce_pass) and loads.resident_rows > 0 and (whole or loads.waves == 1)
    two_pass = two_pass_split(loads, per_core, in_step) if in_flight and reduce_pass else 1
    back = loads.writes_behind and not loads.cached  # the threads' stores still reach DRAM (isa.Store.write_back)

    def tile_store(slot: str, label: str, out: float, active: int) -> Store:
        """A tile's (or round's) store of `out` bytes: to L2 when the result stays cached or the threads' stores
        drain behind the reads (then written back to DRAM unless cached)."""
        return Store((f"y{slot}",), (), label, out, active, to_cache=loads.cached or loads.writes_behind,
                     by_threads=loads.writes_behind, write_back=back, defer_dram=defer, simt=simt)

    def unit(i: int, active: int) -> list[Step]:
        if split > 1:
            return [round_step(i * split + r, i, r, active) for r in range(split)]
        if two_pass > 1:
            return two_pass_steps(i, active)
        slot = str(i % STREAM_STAGES)
        row_count = rows_per_tile / chunks
        tile_bytes = elements * in_bytes
        from_hbm = loads.hbm_share(tile_bytes)
        fetch = [Load((), (f"x{slot}",), f"load tile {i}", tile_bytes, from_hbm, active, in_flight=in_flight,
                      chain=chain if i == 0 else 0, defer_dram=defer, simt=simt)]
        again, where = (tile_bytes, "DRAM") if loads.reread_dram else (0.0, "L2")
        fetch += [Load((), (f"x{slot}",), f"re-read tile {i} (pass {p + 2}, {where})", tile_bytes, again, active,
                       in_flight=in_flight, defer_dram=defer, simt=simt) for p in range(loads.row_passes - 1)]
        work = body(slot, elements, row_count, active)
        out = elements * out_bytes + row_count * out_per_row
        if out > 0:
            work.append(tile_store(slot, f"store tile {i}", out, active))
        return [Step(tuple(fetch), tuple(work))]

    def round_step(g: int, i: int, r: int, active: int) -> Step:
        """Round r of tile i (g-th round trip of the core): the threads' loads of this round wait for the
        previous round's data (each thread's next loop iteration), its compute and store run under the next
        round's loads (the other warps')."""
        slot, e = str(g % STREAM_STAGES), elements / split
        round_bytes = e * in_bytes
        from_hbm = loads.hbm_share(round_bytes)
        # "r": the previous round's arrival, a buffer only loads write (the compute rewrites x in place); the
        # barrier waits for all of it (the engine would hand a DMA result to the next DMA instruction at the end
        # of its occupancy), the gather's chain in front of a tile's first round included: each block gathers
        # its own row's index (as the analytical level's waves x (rounds + chain) latency bound)
        previous = f"r{(g - 1) % STREAM_STAGES}"
        waits = (Barrier((previous,), (f"a{slot}",), "previous round arrived"),) if g else ()
        after = (f"a{slot}",) if g else ()
        fetch = Load(after, (f"x{slot}", f"r{slot}"), f"load tile {i} round {r + 1}", round_bytes, from_hbm, active,
                     in_flight=in_flight, chain=chain if r == 0 else 0, round_trip=True, defer_dram=defer, simt=simt)
        work = body(slot, e, rows_per_tile / chunks / split, active)
        out = e * out_bytes + rows_per_tile / chunks / split * out_per_row
        if out > 0:
            work.append(tile_store(slot, f"store tile {i} round {r + 1}", out, active))
        return Step((*waits, fetch), tuple(work))

    def two_pass_steps(i: int, active: int) -> list[Step]:
        """Tile i of a two-pass row reduction, round by round: pass 1's rounds from memory (each round's loads
        after the previous round's data, its partial reduction under the next round's loads), the block's
        reduction, then pass 2's rounds from L2 (with the row's weight), each normalized and stored by the
        threads under the next round's loads."""
        assert reduce_pass is not None
        first, between = reduce_pass
        e, rows_ = elements / two_pass, rows_per_tile / chunks
        steps: list[Step] = []
        for p in range(2):
            for r in range(two_pass):
                g = (2 * i + p) * two_pass + r
                slot = str(g % STREAM_STAGES)
                # pass 2's first round waits for the block reduction (between) behind __syncthreads
                previous = (f"r{(g - 1) % STREAM_STAGES}",) if g else ()
                if p == 1 and r == 0:
                    previous = (*previous, f"v{i % STREAM_STAGES}")
                waits = (Barrier(previous, (f"a{slot}",), "previous round arrived"),) if previous else ()
                if p == 0:
                    size = e * in_bytes
                    from_hbm = loads.hbm_share(size)
                    label = f"load tile {i} round {r + 1}"
                else:  # the row again from L2; the weight's load rides in the same round trip and hits the
                    # core's L1 (a __restrict__ const load, ld.global.nc: hidden x width bytes, e.g. 16 KiB,
                    # stay resident across the blocks a core runs), so it adds no L2 or DRAM traffic here
                    size, from_hbm = e * in_bytes, 0.0
                    label = f"re-read tile {i} round {r + 1} (pass 2, L2)"
                fetch = Load((f"a{slot}",) if waits else (), (f"x{slot}", f"r{slot}"), label, size, from_hbm,
                             active, in_flight=in_flight, round_trip=True, defer_dram=defer, simt=simt)
                if p == 0:
                    work = first(slot, e, rows_, active)
                    # partial reductions land in the tile's accumulator
                    work = [dataclasses.replace(ins, reads=(*ins.reads, f"v{i % STREAM_STAGES}"),
                                                writes=(f"v{i % STREAM_STAGES}",)) for ins in work]
                    if r == two_pass - 1:
                        work += between(str(i % STREAM_STAGES), e, rows_, active)
                else:
                    work = body(slot, e, rows_ / two_pass, active)
                    # the normalize reads the tile's statistic
                    work = [dataclasses.replace(ins, reads=(*ins.reads, f"v{i % STREAM_STAGES}")) if k == 0
                            else ins for k, ins in enumerate(work)]
                    out = e * out_bytes + rows_ / two_pass * out_per_row
                    # issued behind the next round's loads (Step.drain): the threads store, then loop to their
                    # next loads, which need not wait for this round's L2 crossing
                    store = Store((f"y{slot}",), (), f"store tile {i} round {r + 1}", out, active, to_cache=True,
                                  by_threads=True, simt=simt, write_back=back)
                    steps.append(Step((*waits, fetch), tuple(work), drain=(store,)))
                    continue
                steps.append(Step((*waits, fetch), tuple(work)))
        return steps

    if two_pass > 1:
        per_unit = two_pass * 2 * (2 + len(body("0", elements, 1, 1)) + 2)
        info = {"tile": f"{rows_per_tile} rows x {tile_cols} cols", "tiles": tiles,
                "rounds_per_pass": two_pass, **(notes or {})}
        info["thread_loads_in_flight_bytes_per_core"] = in_flight
        # in program order: each round's loads, then its work (the block reduction must precede pass 2's loads)
        return sampled_program(name, sp, unit, per_unit, 0, core.cores, info)
    per_unit = split * (1 + loads.row_passes + len(body("0", elements, 1, 1)))
    info = {"tile": f"{rows_per_tile} rows x {tile_cols} cols", "tiles": tiles, **(notes or {})}
    if loads.in_flight:
        info["thread_loads_in_flight_bytes_per_core"] = in_flight
    if loads.cached:
        info["cached"] = "operands and results stay in the chip-wide cache"
    return sampled_program(name, sp, unit, per_unit, STREAM_AHEAD, core.cores, info, by_phase=True)


def _convert_out(slot: str, elements: float, dtype: str, src: str) -> Convert:
    return Convert((src,), (f"y{slot}",), f"convert to {dtype}", dtype, elements)


def lower_phased(op: Softmax, core: CoreModel, hw: HardwareSpec) -> list[Program]:
    """A kernel whose blocks run their phases in step (StreamingKernel.phases, PyTorch's eager softmax): one
    program per phase, run one after the other. The first phase reads the rows from memory, later ones re-read
    them from L2 (or DRAM when the rows in flight outgrow it), the phase that writes stores the result; each
    spends its FP32 instructions on the vector unit and its special functions on the SFU."""
    width = dtype_bytes(op.dtype)
    kernel = streaming_kernel(op)
    loads = thread_loads(op, hw)
    programs, seen = [], False
    for i, phase in enumerate(kernel.phases):
        def body(slot: str, e: float, r: float, active: int, phase=phase) -> list[Instr]:
            x, t = f"x{slot}", f"t{slot}"
            out: list[Instr] = [VecOp((x,), (t,), f"{phase.fp32_ops:g} FP32 instructions per element", "fma", e,
                                      phase.fp32_ops)]  # one lane-slot per FP32 instruction
            out += [Special((t,), (t,), fn, fn, e * count) for fn, count in phase.sfu]
            if phase.writes:
                out.append(_convert_out(slot, e, op.dtype, t))
            return out

        # one read per phase that reads: the first from memory, later ones from L2 unless the rows left it
        phase_loads = ThreadLoads(loads.in_flight, 1, loads.cached,
                                  loads_from_cache=seen and phase.reads and not loads.reread_dram)
        in_bytes = width if phase.reads else 0.0
        programs.append(streaming(f"softmax phase {i + 1}", op.rows, op.cols, in_bytes,
                                  width if phase.writes else 0.0, body, core,
                                  notes={"phases": len(kernel.phases), "kernel": op.kernel}, loads=phase_loads))
        seen = seen or phase.reads
    return programs


def lower_softmax(op: Softmax, core: CoreModel, hw: HardwareSpec) -> list[Program]:
    if streaming_kernel(op).phases:
        return lower_phased(op, core, hw)
    width = dtype_bytes(op.dtype)
    row_fits = op.cols * (width * 2 + 4) * STREAM_STAGES <= core.sram_bytes

    def one_pass(slot: str, e: float, r: float, active: int) -> list[Instr]:
        x, t = f"x{slot}", f"t{slot}"
        return [Reduce((x,), (f"m{slot}",), "row max", "max", e),
                VecOp((x, f"m{slot}"), (t,), "x*log2e - max*log2e", "fma", e),
                Special((t,), (t,), "exp2", "exp2", e),
                Reduce((t,), (f"s{slot}",), "row sum", "sum", e),
                Special((f"s{slot}",), (f"s{slot}",), "1/sum", "rcp", r),
                VecOp((t, f"s{slot}"), (t,), "p * (1/sum)", "mul", e),
                _convert_out(slot, e, op.dtype, t)]

    loads = thread_loads(op, hw)
    if row_fits:
        return [streaming("softmax", op.rows, op.cols, width, width, one_pass, core,
                          notes={"passes": loads.row_passes}, loads=loads)]

    def stats_pass(slot: str, e: float, r: float, active: int) -> list[Instr]:  # online max and sum
        x, t = f"x{slot}", f"t{slot}"
        return [Reduce((x,), (f"m{slot}",), "chunk max", "max", e),
                VecOp((x, f"m{slot}"), (t,), "x*log2e - max*log2e", "fma", e),
                Special((t,), (t,), "exp2", "exp2", e),
                Reduce((t,), (f"s{slot}",), "chunk sum (rescaled)", "sum", e)]

    def normalize_pass(slot: str, e: float, r: float, active: int) -> list[Instr]:
        x, t = f"x{slot}", f"t{slot}"
        return [VecOp((x,), (t,), "x*log2e - max*log2e", "fma", e), Special((t,), (t,), "exp2", "exp2", e),
                VecOp((t,), (t,), "p * (1/sum)", "mul", e), _convert_out(slot, e, op.dtype, t)]

    notes = {"passes": 2, "why": "a row does not fit in SRAM: online max/sum pass, then a normalize pass"}
    single = ThreadLoads(loads.in_flight, 1, loads.cached)  # the two passes already read the row twice
    return [streaming("softmax stats", op.rows, op.cols, width, 0.0, stats_pass, core, notes=notes, loads=single),
            streaming("softmax normalize", op.rows, op.cols, width, width, normalize_pass, core, notes=notes,
                      loads=single)]


def norm_alternatives(op: Norm, core: CoreModel, hw: HardwareSpec) -> list[Alternative]:
    """A thread kernel's row reduction two ways when they differ: its rounds in step on every core (whole
    resident-row tiles, two_pass_split) and one step per SRAM-sized tile. Neither is the hardware's schedule: in
    step, every core's pass 2 crosses L2 at once (ATen's RMSNorm at 8192 x 4096 on gb200: 36.3 us, its pass-2
    rounds queued on L2, where the cores' blocks drift apart); one step per tile serializes co-resident blocks
    and exposes a whole tile's compute and stores at the end (vLLM's RMSNorm at 512 x 4096 on H100: 7.53 us
    against 7.28 in step, analytical 7.14). The sim keeps the faster; the pair depends on shapes and capacities
    only, so the minimum of two programs monotone in every rate is monotone too (a rule on rates, e.g. L2 time
    a round against its latency, flipped to the slower program when L2 got faster)."""
    stepped = lower_norm(op, core, hw)
    tiled = lower_norm(op, core, hw, lockstep=False)
    if [p.notes for p in stepped] == [p.notes for p in tiled]:
        return [Alternative(lambda: stepped)]
    return [Alternative(lambda: stepped, label="rounds in step"), Alternative(lambda: tiled, label="SRAM tiles")]


def lower_norm(op: Norm, core: CoreModel, hw: HardwareSpec, lockstep: bool = True) -> list[Program]:
    width = dtype_bytes(op.dtype)

    def body(slot: str, e: float, r: float, active: int) -> list[Instr]:
        x, t = f"x{slot}", f"t{slot}"
        out: list[Instr] = []
        if op.norm == "layer":
            out += [Reduce((x,), (f"mu{slot}",), "row mean", "sum", e),
                    VecOp((x, f"mu{slot}"), (x,), "x - mean", "sub", e)]
        out += [Reduce((x,), (f"v{slot}",), "sum of squares", "sumsq", e),
                Special((f"v{slot}",), (f"v{slot}",), "rstd", "rsqrt", r),
                VecOp((x, f"v{slot}", "w"), (t,), "x * rstd * weight", "fma", e, 2.0)]
        if op.norm == "layer":
            out.append(VecOp((t, "w"), (t,), "+ bias", "add", e))
        out.append(_convert_out(slot, e, op.dtype, t))
        return out

    def sum_of_squares(slot: str, e: float, r: float, active: int) -> list[Instr]:
        return [Reduce((f"x{slot}",), (f"v{slot}",), "sum of squares", "sumsq", e)]

    def rstd(slot: str, e: float, r: float, active: int) -> list[Instr]:
        return [Special((f"v{slot}",), (f"v{slot}",), "rstd", "rsqrt", r)]

    def normalize(slot: str, e: float, r: float, active: int) -> list[Instr]:  # weight loaded with the row
        return [VecOp((f"x{slot}",), (f"t{slot}",), "x * rstd * weight", "fma", e, 2.0),
                _convert_out(slot, e, op.dtype, f"t{slot}")]

    params = op.hidden * width * (2 if op.norm == "layer" else 1)
    rms = op.norm == "rms"
    loads = thread_loads(op, hw)
    program = streaming(op.name, op.rows, op.hidden, width, width, normalize if rms else body, core,
                        loads=loads, reduce_pass=(sum_of_squares, rstd) if rms else None, lockstep=lockstep)
    if "rounds_per_pass" in program.notes or loads.in_flight:
        # a SIMT kernel's threads load the weight with the row (vLLM's rms_norm_kernel in its normalize loop,
        # ATen's and Inductor's kernels alongside x): hidden x width bytes that the first block on a core brings
        # into its L1 and the other cores find in L2, not a whole-weight DMA load per core in front of the first
        # tile (as the analytical level: the weight loads alongside the rows, not after them)
        return [program]
    weights = Load((), ("w",), "load weights", params, params, program.cores)
    return [_prepend(program, weights)]


def _prepend(program: Program, instr: Instr) -> Program:
    mark = None if program.mark is None else program.mark + 1
    return Program(program.name, (instr, *program.instrs), program.cores, mark, program.extra, program.notes)


def lower_elementwise(op: Elementwise, core: CoreModel, hw: HardwareSpec, name: str | None = None) -> list[Program]:
    flops, sfu, n_in, n_out = ELEMENTWISE_OPS.get(op.op, (0, (), 1, 1))
    flops = op.flops_per_element if op.flops_per_element is not None else flops
    n_in = op.inputs if op.inputs is not None else n_in
    n_out = op.outputs if op.outputs is not None else n_out
    w_in, out_dtype = dtype_bytes(op.dtype), canonical_dtype(op.out_dtype or op.dtype)

    def body(slot: str, e: float, r: float, active: int) -> list[Instr]:
        x, t = f"x{slot}", f"t{slot}"
        out: list[Instr] = [Special((x,), (x,), fn, fn, e * count) for fn, count in sfu]
        if flops:
            out.append(VecOp((x,), (t,), op.op, op.op, e, float(flops)))
        if n_out:
            out.append(_convert_out(slot, e * n_out, out_dtype, t if flops else x))
        return out

    # a flat grid's blocks spread over the cores too: a tile per core down to one block's elements
    cols = max(1, min(op.elements, STREAM_TILE_ELEMENTS, max(math.ceil(op.elements / core.cores), FLAT_BLOCK_ELEMENTS)))
    rows = math.ceil(op.elements / cols)
    if op.rows:  # one thread block per row (vLLM's per-token kernels): tiles of whole rows
        rows, cols = op.rows, math.ceil(op.elements / op.rows)
    return [streaming(name or op.op, rows, cols, n_in * w_in, n_out * dtype_bytes(out_dtype), body, core,
                      loads=thread_loads(op, hw))]


def lower_reduction(op: Reduction, core: CoreModel, hw: HardwareSpec) -> list[Program]:
    width = dtype_bytes(op.dtype)

    def body(slot: str, e: float, r: float, active: int) -> list[Instr]:
        return [Reduce((f"x{slot}",), (f"y{slot}",), f"row {op.op}", op.op, e)]

    return [streaming("reduction", op.rows, op.cols, width, 0.0, body, core, out_per_row=width)]


def lower_quantize(op: Quantize, core: CoreModel, hw: HardwareSpec) -> list[Program]:
    """Per block: amax, scale (E8M0 / E4M3: native mx_scale or integer ops), x * (1/scale), round to the format."""
    src, fmt = dtype_bytes(op.src_dtype), canonical_dtype(op.fmt)

    def body(slot: str, e: float, r: float, active: int) -> list[Instr]:
        x, t = f"x{slot}", f"t{slot}"
        blocks = e / op.block
        return [Reduce((x,), (f"a{slot}",), "block amax", "max", e),
                BlockScale((f"a{slot}",), (f"sc{slot}",), "block scale", blocks),
                VecOp((x, f"sc{slot}"), (t,), "x * (1/scale)", "mul", e),
                Convert((t,), (f"y{slot}",), f"round to {fmt}", fmt, e, True)]

    cols = max(op.block, (STREAM_TILE_ELEMENTS // op.block) * op.block)
    rows = math.ceil(op.elements / cols)
    return [streaming("quantize", rows, min(cols, op.elements), src, dtype_bytes(fmt), body, core)]


def lower_dequantize(op: Dequantize, core: CoreModel, hw: HardwareSpec) -> list[Program]:
    fmt, dst = canonical_dtype(op.fmt), canonical_dtype(op.dst_dtype)

    def body(slot: str, e: float, r: float, active: int) -> list[Instr]:
        x = f"x{slot}"
        return [Convert((x,), (x,), f"decode {fmt}", dst, e), VecOp((x,), (f"t{slot}",), "x * scale", "mul", e),
                _convert_out(slot, e, dst, f"t{slot}")]

    cols = max(1, min(op.elements, STREAM_TILE_ELEMENTS))
    rows = math.ceil(op.elements / cols)
    return [streaming("dequantize", rows, cols, dtype_bytes(fmt), dtype_bytes(dst), body, core)]


# ----- FlashAttention forward -------------------------------------------------------------------------------------
def lower_attention(op: Attention, core: CoreModel, hw: HardwareSpec) -> list[Program]:
    if op.phase != "fwd" or op.variant in ("math", "sdpa_math", "mmha"):
        raise NotLowered(f"attention phase={op.phase} variant={op.variant}: only the fused (FlashAttention) forward "
                         "is lowered")
    # The tile program below is FA2 (serial softmax) on chips whose native MMA is mma.sync, and the ping-pong schedule
    # of FA3 on wgmma chips and of FA4 on tcgen05 chips (whose exp2 emulation is what `sim isa-study --vary
    # isa.exp2` explores; the analytical level balances it). Kernels it does not describe fall back to the
    # analytical level: cuDNN, FA2's mma.sync on a chip whose full rate needs an asynchronous instruction
    # (matrix.sync_fraction), and any of them on a systolic array: a TPU kernel (Pallas splash or ragged paged
    # attention) takes its own blocks and stationary operand, while these programs would hold a 64-key block in the
    # array per fold and stream a few query rows through it (decode 7-18x the analytical level on systolic-128,
    # TPU v5e/v5p and Gaudi 3, for a schedule no TPU kernel runs).
    if hw.matrix.systolic:
        raise NotLowered(f"attention on {hw.id}'s systolic arrays: the tile programs are GPU FlashAttention kernels")
    tcgen05 = hw.matrix.async_overlap and hw.matrix.paired_cores
    if op.variant in ("cudnn", "triton", "aotriton") or (op.variant == "fa4" and not tcgen05) or (
            op.variant in (None, "fa2") and not hw.matrix.async_overlap and hw.matrix.sync_fraction) or (
            op.variant == "fa2" and hw.matrix.async_overlap) or (op.variant == "fa3" and tcgen05):
        raise NotLowered(f"attention kernel {op.variant or 'default'} on {hw.id}: the tile program covers FA2 on "
                         "mma.sync chips, FA3 on wgmma chips and FA4 on tcgen05 chips")
    # the kernel's own tile (as at the analytical level): FA2's launch template, FA3's tile table, FA4's TMEM fit
    dv_ = op.v_head_dim or op.head_dim
    path = "tcgen05" if tcgen05 else "wgmma" if hw.matrix.async_overlap else "sync"
    q_block, kv_block = attention_tile(op.head_dim, dv_, path, op.causal,
                                       element_bits(op.dtype) < 9)
    # GQA packing (FA3 pack_gqa, FlashDecoding): when the query heads sharing a KV head fit one query block
    # together (decode, short queries), one unit computes them all and reads its KV blocks once.
    group = op.heads // (op.kv_heads or op.heads)
    packed = group > 1 and op.q_len * group <= Q_BLOCK
    rows = op.q_len * group if packed else min(op.q_len, q_block)
    q_blocks = 1 if packed else math.ceil(op.q_len / q_block)
    _check_attention_units(op.batch * (op.kv_heads or op.heads) if packed else op.batch * op.heads * q_blocks)
    kv_blocks = math.ceil(min(op.kv_len, op.window or op.kv_len) / kv_block)
    lengths = _attention_lengths(op, q_blocks, kv_blocks, kv_block, q_block)
    heads = op.batch * (op.kv_heads or op.heads) if packed else op.batch * op.heads
    # split-KV (FlashDecoding): too few units to fill the cores -> each unit's KV range is split across cores
    split = max(1, min(core.cores // max(heads * q_blocks, 1), max(lengths)))
    if split > 1:
        lengths = [math.ceil(length / split) for length in lengths]
        heads *= split
    units = heads * q_blocks
    mine = _busiest_core_units(lengths, heads, core.cores)
    pingpong = hw.matrix.async_overlap
    width, kv_width = dtype_bytes(op.dtype), dtype_bytes(op.kv_dtype or op.dtype)
    dv = op.v_head_dim or op.head_dim
    dtype = hw.matrix_dtype(op.dtype) or "bf16"
    kv_fraction = _kv_hbm_fraction(op, core, lengths, heads // split, kv_block, kv_blocks, split)
    active = min(units, core.cores)
    budget = max(1, SAMPLE_INSTRUCTIONS // 12)
    sample, scanned = [], 0
    for length in mine:
        if scanned >= budget:
            break
        take = min(length, MAX_KV_STEPS)  # a very long unit is itself sampled: its first MAX_KV_STEPS KV blocks
        sample.append(take)
        scanned += take
    total = sum(mine)
    extra = (total - scanned) / scanned if scanned and scanned < total else 0.0
    steps: list[Step] = []
    # a KV cache in another format than the matrix path's is dequantized as each block arrives (as at the
    # analytical level): isa.dequantize_ops lane slots per element
    kv_converted = element_format(canonical_dtype(op.kv_dtype or op.dtype)) != element_format(dtype)
    convert_ops = hw.dequantize_flops(dtype) / FMA_FLOPS if kv_converted else 0.0
    for u, length in enumerate(sample):
        steps += _attention_unit(u, length, rows, kv_block, op.head_dim, dv, width, kv_width, kv_fraction, active,
                                 dtype, op.dtype, pingpong, convert_ops)
    instrs = schedule(steps, 1)
    notes: dict[str, object] = {"q_block": rows if packed else q_block, "kv_block": kv_block, "units": units,
                                "gqa_packed": packed, "split_kv": split,
                                "schedule": "fa3 ping-pong" if pingpong else "fa2 (serial softmax)"}
    if kv_converted:
        notes["kv_conversion"] = f"K and V ({canonical_dtype(op.kv_dtype or op.dtype)}) converted to {dtype} on load"
    mark = len(instrs) - 1 if extra else None
    if extra:
        notes["sampled_units"] = (f"{len(sample)} of {len(mine)} query blocks on the busiest core ({scanned:,} of "
                                  f"{total:,} KV blocks), time scaled")
    return [Program("attention fwd", tuple(instrs), cores=active, mark=mark, extra=extra, notes=notes)]


def _check_attention_units(units: int) -> None:
    """The busiest core's share is picked from a list of every unit: refuse an op whose list would not fit."""
    if units > MAX_ATTENTION_UNITS:
        raise ValueError(f"sim: attention has {units:,} units (batch x heads x query blocks); the sim "
                         f"handles at most {MAX_ATTENTION_UNITS:,}: use the analytical level for this size")


def _attention_lengths(op: Attention, q_blocks: int, kv_blocks: int, kv_block: int,
                       q_block: int = Q_BLOCK) -> list[int]:
    """KV blocks each query block visits (causal: up to the diagonal, after the kv_len - q_len prefix)."""
    if not (op.causal and op.q_len > 1):
        return [kv_blocks] * q_blocks
    offset = (op.kv_len - op.q_len) / kv_block
    return [min(kv_blocks, math.ceil(offset + (i + 1) * q_block / kv_block)) for i in range(q_blocks)]


def _busiest_core_units(lengths: list[int], heads: int, cores: int) -> list[int]:
    """Query blocks of every head, longest first, dealt round-robin to cores (FA3's longest-first causal order);
    returns the KV-block counts of core 0, which gets the longest block of every round."""
    import numpy as np

    dealt = np.repeat(np.sort(np.asarray(lengths))[::-1], heads)
    return [int(x) for x in dealt[::cores]]


def _kv_hbm_fraction(op: Attention, core: CoreModel, lengths: list[int], heads: int, kv_block: int,
                     kv_blocks: int, split: int = 1) -> float:
    """Share of K/V block loads served by HBM: each KV head's blocks are read from HBM once and from L2 by the other
    query blocks and query heads of the group (no L2: every load goes to HBM)."""
    if not core.has_l2:
        return 1.0
    loads = heads * sum(lengths) * split
    unique = op.batch * (op.kv_heads or op.heads) * kv_blocks
    return min(1.0, unique / max(loads, 1))


def _attention_unit(u: int, length: int, rows: int, kv_block: int, d: int, dv: int, width: float,
                    kv_width: float, kv_fraction: float, active: int, dtype: str, act_dtype: str,
                    pingpong: bool, convert_ops: float = 0.0) -> list[Step]:
    """One (batch, head, query block): Q in, then per KV block S = QK^T, online softmax, O += PV; O out.
    `convert_ops`: lane slots per K/V element to dequantize a KV cache stored in another format (0: none)."""
    q, o = f"q{u % 2}", f"o{u % 2}"
    scores = rows * kv_block
    q_load = Load((), (q,), f"load Q unit {u}", rows * d * width, rows * d * width, active)
    steps: list[Step] = []
    for j in range(length):
        k, v, s, p = f"k{j % 2}", f"v{j % 2}", f"s{j % 2}", f"p{j % 2}"
        kv_bytes = kv_block * d * kv_width
        loads = [Load((), (k,), f"load K block {j}", kv_bytes, kv_bytes * kv_fraction, active),
                 Load((), (v,), f"load V block {j}", kv_block * dv * kv_width,
                      kv_block * dv * kv_width * kv_fraction, active)]
        if j == 0:
            loads.insert(0, q_load)
        convert_k: list[Instr] = []
        convert_v: list[Instr] = []
        if convert_ops:
            convert_k = [VecOp((k,), (k,), f"convert K to {dtype}", "convert", kv_block * d, convert_ops)]
            convert_v = [VecOp((v,), (v,), f"convert V to {dtype}", "convert", kv_block * dv, convert_ops)]
        qk = Mma((q, k), (s,), f"S = QK^T u{u} b{j}", rows, kv_block, d, dtype)
        softmax: list[Instr] = [
            Reduce((s,), (f"m{u % 2}",), "row max", "max", scores),
            VecOp((s, f"m{u % 2}"), (s,), "s*scale*log2e - max", "fma", scores),
            Special((s,), (s,), "exp2(s)", "exp2", scores),
            Special((f"m{u % 2}",), (f"al{u % 2}",), "exp2(old max - max)", "exp2", rows),
            Reduce((s,), (f"l{u % 2}",), "row sum", "sum", scores),
            VecOp((o, f"al{u % 2}"), (o,), "rescale O", "mul", rows * dv),
            Convert((s,), (p,), "P to bf16", act_dtype, scores),
        ]
        pv = Mma((p, v, o), (o,), f"O += PV u{u} b{j}", rows, dv, kv_block, dtype)
        steps.append(Step(tuple(loads), (*convert_k, qk, *softmax, *convert_v, pv)))
    if pingpong and length > 1:  # issue block j+1's QK^T before block j's PV: the matrix unit overlaps softmax
        steps = _pingpong(steps)
    last = steps[-1]
    epilogue = (Special((f"l{u % 2}",), (f"l{u % 2}",), "1/rowsum", "rcp", rows),
                VecOp((o, f"l{u % 2}"), (o,), "O / rowsum", "mul", rows * dv),
                Convert((o,), (f"out{u % 2}",), "O to bf16", act_dtype, rows * dv),
                Store((f"out{u % 2}",), (), f"store O unit {u}", rows * dv * width + rows * 4, active))
    steps[-1] = Step(last.loads, (*last.work, *epilogue))
    return steps


def _pingpong(steps: list[Step]) -> list[Step]:
    """Move each block's QK^T (with the K conversion before it, if any) into the previous step, ahead of that
    step's PV."""
    def head(step: Step) -> int:  # instructions up to and including the first MMA
        return next(i for i, ins in enumerate(step.work) if isinstance(ins, Mma)) + 1

    out = []
    for j, step in enumerate(steps):
        work = list(step.work[head(step):]) if j else list(step.work)
        if j + 1 < len(steps):
            nxt = steps[j + 1]
            work[len(work) - 1:len(work) - 1] = nxt.work[:head(nxt)]
        out.append(Step(step.loads, tuple(work)))
    return out


# ----- dispatch ---------------------------------------------------------------------------------------------------
LOWERINGS: dict[type, Callable[[Op, CoreModel, HardwareSpec], list[Program]]] = {
    Gemm: lower_gemm, GroupedGemm: lower_grouped_gemm, Softmax: lower_softmax, Norm: lower_norm,
    Elementwise: lower_elementwise, Reduction: lower_reduction, Quantize: lower_quantize,
    Dequantize: lower_dequantize, Attention: lower_attention,
}


def compile_op(op: Op, core: CoreModel, hw: HardwareSpec) -> list[Program]:
    """Tile programs for `op`, run one after another (a GEMM on the shape heuristic's tile; the sim level times
    every candidate, compile_choices). Raises NotLowered for ops without a lowering."""
    lowering = LOWERINGS.get(type(op))
    if lowering is None:
        raise NotLowered(f"no tile lowering for {type(op).__name__}")
    return lowering(op, core, hw)


def compile_choices(op: Op, core: CoreModel, hw: HardwareSpec) -> list[list[Alternative]]:
    """`op` as segments run one after another, each a list of alternatives of which the sim runs the fastest: a
    GEMM's candidate tiles (gemm_alternatives), one segment per group size of a grouped GEMM, a norm's two
    schedules (norm_alternatives); every other op is one segment with one alternative, compile_op's."""
    if isinstance(op, Gemm):
        return [gemm_alternatives(op, core, hw)]
    if isinstance(op, GroupedGemm):
        return grouped_alternatives(op, core, hw)
    if isinstance(op, Norm):
        return [norm_alternatives(op, core, hw)]
    programs = compile_op(op, core, hw)  # lowered now: NotLowered surfaces here
    return [[Alternative(lambda: programs)]]


def low_precision(fmt: str) -> bool:
    return element_bits(fmt) <= 8  # block scales do not widen the elements (mxfp8: 8 bits)


def flatten(programs: Iterable[Program]) -> list[Instr]:
    return [i for p in programs for i in p.instrs]
