"""The core model: what one core of a chip can do per clock, derived from a `HardwareSpec`, and what each tile
instruction costs on it.

Everything is per core and in cycles of the sustained clock (`compute.sustained_clock`, else `compute.clock`).
Rates come from the chip-wide peaks (matrix, vector, SFU, memory bandwidths) divided by the core count, so the sim
reads the same figures as the roofline and more bandwidth or peak can only make it faster. Fields the spec does not
give (the `core:` section) are derived; `CoreModel.derived` says how, and the sim puts that into `details`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...hardware import HardwareSpec
from ...hardware.dtypes import dtype_bytes
from .isa import Barrier, BlockScale, Convert, Instr, Load, Mma, Reduce, Special, Store, VecOp

# Vector operations per element to run an instruction the core lacks (the `isa` section turns these on).
# exp2: Cody-Waite range reduction (floor + subtract, 2), a degree-6 minimax polynomial in Horner form (6 FMAs) and
#   the exponent insertion (shift + integer add, 2) = 10, the fp32-accurate form of e.g. SLEEF's exp2f; bf16 outputs
#   can use a degree-3 polynomial (FlashAttention-4 on Blackwell does) -> set isa.emulation_ops.exp2: 7.
# log2: exponent/mantissa split (2) + degree-7 polynomial (7) + scale and add (3) = 12. rcp, rsqrt, sqrt: a
#   bit-trick seed (1-2) + 2 Newton-Raphson steps (2-3 ops each). sin/cos: range reduction + degree-9 odd/even
#   polynomial. tanh: exp2-based (10) + reciprocal (6) + 4.
# fp8_convert: per element extract exponent and mantissa, round to nearest even, saturate, pack = 8 integer ops.
# mx_scale: per block exponent of the amax (1), round up for the format's max (2), clamp and bias (2) = 5.
# Every default is at least the roofline's SFU_POLYNOMIAL_FLOPS / 2 lane-slots, so the sim is never faster.
EMULATION_OPS = {"exp2": 10.0, "log2": 12.0, "rcp": 6.0, "rsqrt": 7.0, "sqrt": 7.0, "sin": 16.0, "cos": 16.0,
                 "tanh": 20.0, "fp8_convert": 8.0, "mx_scale": 5.0}
LOW_PRECISION_BITS = 8  # converts to formats this narrow or narrower need isa.fp8_convert

# Defaults for fields a spec leaves out (each one also lands in `CoreModel.derived`).
DEFAULT_VECTOR_LATENCY = 4  # cycles: dependent FMA latency on recent GPUs and CPUs (4-6 cycles)
DEFAULT_SFU_LATENCY = 18  # cycles: MUFU.EX2 dependent-issue latency is ~18-23 cycles on Volta-Hopper microbenchmarks
DEFAULT_MMA_LATENCY = 32  # cycles from the last operand to the accumulator for a tensor-core tile (order of)
DEFAULT_DMA_OUTSTANDING = 8
DEFAULT_ISSUE_PER_CYCLE = 1.0
DEFAULT_SRAM_BYTES_PER_CYCLE = 128.0  # 32 banks x 4 B, the GPU shared-memory layout
DMA_BURST = 2.0  # one DMA engine can pull up to 2x a core's fair share of the chip's bandwidth
# bytes per operand element an unspecified systolic core's SRAM port moves per array row each cycle (16-bit
# operands, as the systolic-128 preset's 32 banks x 16 B = 512 B/cycle serve its 128 + 128 rows)
SYSTOLIC_PORT_BYTES = 2


@dataclass(frozen=True, slots=True)
class Cost:
    """One instruction on one core: (unit, busy cycles) for every unit it occupies from its start, and the cycles
    from the end of its occupancy until its result can be used by another unit.

    `lead`: cycles between the instruction's start and the earliest start of its "hbm" occupancy, a load's
    request travelling to DRAM (the bus moves nothing for it before). The engine then reserves the DRAM pipe
    from start + lead (or when it frees up), and the data is back `latency` cycles after that pipe time less the
    lead: an uncontended load completes as without a lead, while a saturated DRAM pipe starts one lead after
    the first request, so a bandwidth-bound stream pays its first-access latency once (as the analytical level's
    latency + transfer)."""

    units: tuple[tuple[str, float], ...]
    latency: float
    lead: float = 0.0
    # the instruction waits for the DRAM pipe before it starts on its other units (the default); False: the engine
    # reserves the "hbm" pipe without holding the core's units back (isa.Load/Store.defer_dram)
    holds_for_hbm: bool = True
    # the "l2" share is reserved without holding the core's other units (isa.Load/Store.simt)
    defer_l2: bool = False
    # the "hbm" share is a store's write-back from L2 (isa.Store.write_back): it takes the DRAM pipe (later loads
    # queue behind it) but the store is done when it reaches L2; the engine ends the program no earlier than the
    # DRAM pipe's total time after one DRAM latency (as the analytical level's latency + memory time)
    write_back: bool = False

    @property
    def primary(self) -> str:
        return self.units[0][0] if self.units else "none"

    @property
    def occupancy(self) -> float:
        return max((c for _, c in self.units), default=0.0)


@dataclass(frozen=True)
class CoreModel:
    hw_id: str
    cores: int
    clock: float  # sustained Hz
    matrix_flops_per_cycle: dict[str, float]  # dtype -> FLOP per cycle per core (quoted-clock peak / cores / clock)
    systolic: tuple[int, int] | None
    matrix_units: int
    weight_double_buffer: bool
    matrix_latency: float
    lanes: float  # vector lane-slots per cycle per core (fp32; an FMA is one slot)
    vector_latency: float
    sfu_rate: dict[str, float]  # native special functions: results per cycle per core
    sfu_latency: float
    emulation_ops: dict[str, float]
    native: dict[str, bool]  # fp8_convert, mx_scale, dot4_accumulate
    convert_per_op: float
    sram_bytes: float
    sram_bytes_per_cycle: float
    register_bytes: float
    dma_engines: int
    dma_bytes_per_cycle: float  # per engine
    dma_latency: float  # cycles
    dma_outstanding: int
    l2_bytes: float
    l2_bytes_per_cycle: float  # chip, achievable
    l2_latency: float
    hbm_bytes_per_cycle: float  # chip, achievable
    hbm_latency: float
    hbm_write_cost: float  # a written byte's time in read bytes (bus turnaround; MemoryLevel.write_cost)
    issue_per_cycle: float
    derived: dict[str, str] = field(default_factory=dict)
    # 16-bit format -> vector slots per element narrowed to it where the ISA has no convert (isa.narrow_ops)
    narrow_ops: dict[str, float] = field(default_factory=dict)

    @property
    def has_l2(self) -> bool:
        return self.l2_bytes_per_cycle > 0

    def matrix_rate(self, dtype: str) -> float:
        return self.matrix_flops_per_cycle[dtype]

    def cost(self, instr: Instr) -> Cost:
        return _COSTERS[type(instr)](self, instr)


# ----- building the model from a spec -----------------------------------------------------------------------------
_MODELS: dict[int, tuple[HardwareSpec, CoreModel]] = {}


def core_model(hw: HardwareSpec) -> CoreModel:
    """The core model of a spec (cached per spec object; specs are frozen)."""
    hit = _MODELS.get(id(hw))
    if hit is not None and hit[0] is hw:
        return hit[1]
    if len(_MODELS) > 256:
        _MODELS.clear()
    model = _core_model(hw)
    _MODELS[id(hw)] = (hw, model)
    return model


def _core_model(hw: HardwareSpec) -> CoreModel:
    derived: dict[str, str] = {}
    cores, quoted = hw.compute.cores, hw.compute.clock
    clock = quoted * hw.compute.clock_ratio
    micro = hw.core
    # matrix.efficiency (clock under a full tensor load x issue efficiency) derates the rate like a clock; the
    # engine models issue and dependency stalls too, so part of it is counted twice (docs/sim.md).
    matrix = {d: hw.matrix_peak(d) * hw.matrix_efficiency(d) / cores / quoted for d in hw.matrix.peak}
    lanes = hw.vector_peak("fp32") / cores / quoted / 2
    sram, sram_bpc = _sram(hw, derived)
    l2_cap, l2_bpc, l2_lat = _l2(hw, clock)
    hbm = hw.main_memory
    hbm_bpc = hbm.bandwidth * hbm.efficiency / clock
    feed = max(l2_bpc, hbm_bpc) / cores  # a core's fair share of the chip's outermost on-chip bandwidth
    engines = micro.dma_engines or 1
    if micro.dma_engines is None:
        derived["core.dma_engines"] = "1 per core (estimate)"
    if micro.dma_bandwidth is None:
        dma_bpc = max(sram_bpc, DMA_BURST * feed) / engines
        derived["core.dma_bandwidth"] = (f"the SRAM fill rate or {DMA_BURST:g} x the core's share of L2/HBM "
                                         "bandwidth, whichever is larger, split over engines")
    else:
        dma_bpc = micro.dma_bandwidth / clock
    registers = _registers(hw, derived)
    return CoreModel(
        hw_id=hw.id, cores=cores, clock=clock, matrix_flops_per_cycle=matrix, systolic=hw.matrix.systolic,
        weight_double_buffer=hw.matrix.weight_double_buffer,
        matrix_units=hw.matrix.units_per_core, matrix_latency=_mma_latency(hw, derived), lanes=lanes,
        vector_latency=_or(micro.vector_latency_cycles, DEFAULT_VECTOR_LATENCY, "core.vector_latency_cycles", derived),
        sfu_rate=_sfu(hw), sfu_latency=_or(micro.sfu_latency_cycles, DEFAULT_SFU_LATENCY, "core.sfu_latency_cycles",
                                           derived),
        emulation_ops={**EMULATION_OPS, **hw.isa.emulation_ops}, native=_native(hw),
        convert_per_op=hw.isa.convert_elements_per_op, narrow_ops=dict(hw.isa.narrow_ops), sram_bytes=sram,
        sram_bytes_per_cycle=sram_bpc,
        register_bytes=registers, dma_engines=engines, dma_bytes_per_cycle=dma_bpc,
        dma_latency=(micro.dma_latency or 0.0) * clock,
        dma_outstanding=_or(micro.dma_outstanding, DEFAULT_DMA_OUTSTANDING, "core.dma_outstanding", derived),
        l2_bytes=l2_cap, l2_bytes_per_cycle=l2_bpc, l2_latency=l2_lat, hbm_bytes_per_cycle=hbm_bpc,
        hbm_latency=(hbm.latency or 0.0) * clock, hbm_write_cost=hbm.write_cost,
        issue_per_cycle=_or(micro.scalar_issue_per_cycle, DEFAULT_ISSUE_PER_CYCLE, "core.scalar_issue_per_cycle",
                            derived),
        derived=derived,
    )


def _or(value: float | None, default: float, name: str, derived: dict[str, str]) -> float:
    if value is None:
        derived[name] = f"{default:g} (default, see perf/sim/core.py)"
        return default
    return value


def _sram(hw: HardwareSpec, derived: dict[str, str]) -> tuple[float, float]:
    """(capacity B, bytes per cycle) of the core's scratchpad / shared memory."""
    micro = hw.core
    level = next((lv for lv in hw.memory.values() if lv.kind == "sram" and lv.scope == "core"), None)
    pad = hw.scratchpad_name
    if level is not None:
        capacity, bpc = level.capacity, level.bandwidth / hw.compute.clock
    elif pad is not None:  # no per-core SRAM: each core works out of its share of the chip scratchpad
        capacity, bandwidth = hw.level_total(pad)
        capacity, bpc = capacity / hw.compute.cores, bandwidth / hw.compute.cores / hw.compute.clock
        derived["sram"] = f"memory.{pad} / {hw.compute.cores} cores (the spec has no core SRAM level)"
    else:
        capacity = float(hw.assumed_core_sram())
        bpc = DEFAULT_SRAM_BYTES_PER_CYCLE
        derived["sram"] = f"{capacity / 2**20:g} MiB per core (estimate: the spec has no core SRAM level)"
        if hw.matrix.systolic:  # sized as systolic-128's banks are: each array takes one 16-bit operand row of R
            rows, cols = hw.matrix.systolic  # and returns one of C per cycle; a GPU's 128 B would starve it
            bpc = max(bpc, (rows + cols) * SYSTOLIC_PORT_BYTES * hw.matrix.units_per_core)
            derived["sram_bandwidth"] = (f"{bpc:g} B/cycle: (R + C) x {SYSTOLIC_PORT_BYTES} B x "
                                         f"{hw.matrix.units_per_core} arrays (estimate: no core SRAM level)")
    if micro.sram_banks and micro.sram_bank_bytes:
        bpc = micro.sram_banks * micro.sram_bank_bytes * (micro.sram_ports or 1)
    return capacity, bpc


def _l2(hw: HardwareSpec, clock: float) -> tuple[float, float, float]:
    for name, level in hw.memory.items():
        if level.kind == "cache" and level.scope == "chip":
            capacity, bandwidth = hw.level_total(name)
            return capacity, bandwidth * level.efficiency / clock, (level.latency or 0.0) * clock
    return 0.0, 0.0, 0.0


def _registers(hw: HardwareSpec, derived: dict[str, str]) -> float:
    if hw.core.register_file:
        return hw.core.register_file
    level = next((lv for lv in hw.memory.values() if lv.kind == "registers" and lv.scope == "core"), None)
    if level is not None:
        return level.capacity
    derived["core.register_file"] = "256 KiB per core (default: the GPU SM register file)"
    return 256 * 1024.0


def _mma_latency(hw: HardwareSpec, derived: dict[str, str]) -> float:
    if hw.matrix.pipeline_latency_cycles is not None:
        return hw.matrix.pipeline_latency_cycles
    if hw.matrix.systolic:
        return 0.0  # the fold model (fill + drain) already holds the array's latency
    derived["matrix.pipeline_latency_cycles"] = f"{DEFAULT_MMA_LATENCY} (default)"
    return DEFAULT_MMA_LATENCY


def _sfu(hw: HardwareSpec) -> dict[str, float]:
    """Native special functions (per the isa section) and their results per cycle per core."""
    table = dict(hw.sfu.ops_per_clock_per_core) if hw.sfu else {}
    for fn in ("exp2", "log2", "rcp", "rsqrt"):
        flag = getattr(hw.isa, fn)
        if flag is False:
            table.pop(fn, None)
        elif flag is True and fn not in table:
            raise ValueError(f"{hw.id}: isa.{fn} is true but sfu.ops_per_clock_per_core has no {fn} rate; add one")
    return table


def _native(hw: HardwareSpec) -> dict[str, bool]:
    isa, peaks = hw.isa, hw.matrix.peak
    fp8 = any(d.startswith("fp8") or d.startswith("mxfp") or d.startswith("nvfp") for d in peaks)
    mx = any(d.startswith("mx") or d == "nvfp4" for d in peaks)
    return {
        "fp8_convert": fp8 if isa.fp8_convert is None else isa.fp8_convert,
        "mx_scale": mx if isa.mx_scale is None else isa.mx_scale,
        "dot4_accumulate": bool(isa.dot4_accumulate),
    }


# ----- instruction costs --------------------------------------------------------------------------------------------
def _load(core: CoreModel, ins: Load) -> Cost:
    latency = _dma_latency(core, ins.hbm_bytes)
    engine = max(ins.l2_bytes / core.dma_bytes_per_cycle, ins.l2_bytes / core.sram_bytes_per_cycle)
    occupancy = engine + (0.0 if ins.round_trip else _mean_latency(core, ins) / core.dma_outstanding)
    if ins.in_flight:  # Little's law: the core's thread loads deliver at most in-flight bytes per latency,
        # whichever DMA engine the load is queued on (the engines run concurrently, so each gets a share)
        # round trips of in-flight bytes one after another: the last one ends the load, so what the rounds take
        # beyond the DMA's own occupancy comes out of its latency (one tile: max(rounds x latency, latency), as
        # the analytical level's bound; back-to-back tiles: their rounds add up)
        rounds = ins.l2_bytes * latency * core.dma_engines / ins.in_flight
        if ins.round_trip and ins.simt:
            # one round of a thread loop (compiler.round_split / two_pass_split): each warp waits on its own
            # load and loops, so the warps' issue skew (the round's bytes at the engine's rate) does not add up
            # round after round: a round trip is the latency, or the Little's-law time when the round carries
            # more than the threads keep in flight (as the analytical level's waves x rounds x latency; the first
            # round's skew, tens of cycles, is not charged either)
            latency = max(latency - max(occupancy, rounds), 0.0)
        else:
            latency = max(occupancy + latency - max(occupancy, rounds), 0.0)
        occupancy = max(occupancy, rounds)
    latency += ins.chain * _dma_latency(core, 1.0)  # the gather's loads, one after another, before this one issues
    units = [("dma", occupancy)]
    if core.has_l2:
        units.append(("l2", ins.l2_bytes / ins.multicast * ins.active / core.l2_bytes_per_cycle))
    if ins.hbm_bytes:
        units.append(("hbm", ins.hbm_bytes * ins.active / core.hbm_bytes_per_cycle))
    # the request reaches DRAM one DRAM latency (the preset's load-to-use figure) before its bytes can cross the
    # bus: the core's timeline sees the DRAM pipe that much later (Cost.lead), for a streaming kernel's
    # bandwidth-bound loads (isa.Load.defer_dram); other loads wait for the pipe in program order
    lead = core.hbm_latency if ins.hbm_bytes and ins.defer_dram else 0.0
    return Cost(tuple(units), latency, lead=lead, holds_for_hbm=not ins.defer_dram, defer_l2=ins.simt)


def _mean_latency(core: CoreModel, ins: Load) -> float:
    """Cycles a request of this load holds one of the engine's outstanding slots, on average over its bytes: the
    ones that hit L2 return after the L2 latency, the share that misses (hbm_bytes / l2_bytes) after the DRAM one
    (Little's law per request). The load as a whole completes with its last byte: _dma_latency's worst case."""
    if not core.has_l2 or not ins.l2_bytes or ins.hbm_bytes >= ins.l2_bytes:
        return _dma_latency(core, ins.hbm_bytes)
    miss = ins.hbm_bytes / ins.l2_bytes
    return core.dma_latency + (1.0 - miss) * core.l2_latency + miss * core.hbm_latency


def _store(core: CoreModel, ins: Store) -> Cost:
    to_cache = ins.to_cache and core.has_l2
    # a store is done when it reaches the chip-wide cache (the point of coherence a grid's completion waits for,
    # as the analytical level's _write_tail); its write-back to main memory is the "hbm" unit's time below
    latency = core.dma_latency + core.l2_latency if core.has_l2 else _dma_latency(core, ins.hbm_bytes)
    engine = max(ins.hbm_bytes / core.dma_bytes_per_cycle, ins.hbm_bytes / core.sram_bytes_per_cycle)
    shared = ("l2", ins.hbm_bytes * ins.active / core.l2_bytes_per_cycle) if to_cache else \
        ("hbm", ins.hbm_bytes * core.hbm_write_cost * ins.active / core.hbm_bytes_per_cycle)
    if to_cache and ins.write_back:  # isa.Store.write_back: the lines leave L2 for DRAM on the bus's idle time
        back = ("hbm", ins.hbm_bytes * core.hbm_write_cost * ins.active / core.hbm_bytes_per_cycle)
        units = (shared, back) if ins.by_threads else (("dma", engine + latency / core.dma_outstanding), shared, back)
        return Cost(units, latency, holds_for_hbm=False, defer_l2=ins.simt, write_back=True)
    if ins.by_threads:  # the threads' stores leave the load queue free (isa.Store.by_threads)
        return Cost((shared,), latency, holds_for_hbm=not ins.defer_dram, defer_l2=ins.simt)
    return Cost((("dma", engine + latency / core.dma_outstanding), shared), latency, holds_for_hbm=not ins.defer_dram,
                defer_l2=ins.simt)


def _dma_latency(core: CoreModel, hbm_bytes: float) -> float:
    return core.dma_latency + (core.hbm_latency if hbm_bytes or not core.has_l2 else core.l2_latency)


def mma_cycles(core: CoreModel, m: int, n: int, k: int, dtype: str, starts_run: bool = True) -> float:
    """Matrix-unit cycles of one tile MMA.

    Systolic (weight stationary, SCALE-Sim's fold model, Samajdar et al. arXiv 1811.02883): the array holds an
    R x C block of B; the m rows of A stream through. One fold costs 2R + C + m - 2 cycles (fill, stream, drain);
    folds = ceil(k/R) x ceil(n/C), spread over the core's arrays. The streaming part scales with the spec's peak
    (it equals m cycles when the peak matches R x C x 2 FLOP per clock per array). With double-buffered weights
    (Matrix.weight_double_buffer) a fold costs max(stream, R) cycles, the next fold's weights shifting in while
    this one streams, and the fill and drain are paid once, by the MMA that `starts_run` (a tile's first K slab;
    as the analytical level's fold_seconds, once per tile).
    Otherwise (tensor cores): 2mnk / (matrix FLOP per cycle per core).
    """
    rate = core.matrix_rate(dtype)
    if core.systolic is None:
        return 2.0 * m * n * k / rate
    rows, cols = core.systolic
    folds = -(-k // rows) * -(-n // cols)
    per_array = -(-folds // core.matrix_units)
    stream = m * (2.0 * rows * cols * core.matrix_units) / rate
    if core.weight_double_buffer:
        return per_array * max(stream, rows) + (2 * rows + cols - 2 if starts_run else 0)
    return per_array * (2 * rows + cols - 2 + stream)


def _mma(core: CoreModel, ins: Mma) -> Cost:
    width = dtype_bytes(ins.dtype)
    operands = max((ins.m * ins.k + ins.k * ins.n) * width, ins.sram_bytes)
    # SRAM ports cap the operand feed rate of this instruction: its operands, or (GEMM) the slab's writes plus
    # every warp's reads, which share the port (contention with other units' instructions is not modelled)
    # a short MMA (ins.issue_m > ins.m) occupies the datapath as a full-M one (analytical gemm_mapping's kernel note)
    cycles = max(mma_cycles(core, max(ins.m, ins.issue_m), ins.n, ins.k, ins.dtype, ins.starts_run),
                 operands / core.sram_bytes_per_cycle)
    return Cost((("matrix", cycles),), core.matrix_latency)


def _vector(core: CoreModel, slots: float) -> Cost:
    return Cost((("vector", slots / core.lanes),), core.vector_latency)


def _vecop(core: CoreModel, ins: VecOp) -> Cost:
    return _vector(core, ins.elements * ins.ops)


def _reduce(core: CoreModel, ins: Reduce) -> Cost:
    per_element = 0.25 if (ins.op == "sumsq" and core.native["dot4_accumulate"]) else 1.0
    return _vector(core, ins.elements * per_element)


def _special(core: CoreModel, ins: Special) -> Cost:
    rate = core.sfu_rate.get(ins.fn)
    if rate is None:  # emulated on the FMA pipe
        return _vector(core, ins.elements * core.emulation_ops[ins.fn])
    return Cost((("sfu", ins.elements / rate),), core.sfu_latency)


def _convert(core: CoreModel, ins: Convert) -> Cost:
    from ...hardware.dtypes import canonical_dtype, element_bits

    narrow = element_bits(ins.fmt) <= LOW_PRECISION_BITS  # an MX/NVFP4 convert packs its elements to FP8/FP4
    if narrow and not core.native["fp8_convert"]:
        return _vector(core, ins.elements * core.emulation_ops["fp8_convert"])
    # narrow_ops is keyed by canonical name: an op's dtype may be an alias ("bfloat16"), as HardwareSpec.narrow_ops
    fmt = canonical_dtype(ins.fmt)
    if fmt in core.narrow_ops:  # no convert to this format (gfx942 to bf16): the rounding sequence
        return _vector(core, ins.elements * core.narrow_ops[fmt])
    return _vector(core, ins.elements / core.convert_per_op)


def _block_scale(core: CoreModel, ins: BlockScale) -> Cost:
    ops = 1.0 if core.native["mx_scale"] else core.emulation_ops["mx_scale"]
    return _vector(core, ins.blocks * ops)


def _barrier(core: CoreModel, ins: Instr) -> Cost:
    return Cost((), 0.0)


_COSTERS = {Load: _load, Store: _store, Mma: _mma, VecOp: _vecop, Reduce: _reduce, Special: _special,
            Convert: _convert, BlockScale: _block_scale, Barrier: _barrier}
