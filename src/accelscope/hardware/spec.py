"""The hardware spec: one typed, frozen description of an accelerator, real or hypothetical.

Conventions (the README's "Hardware specs" page repeats them):
- Every value is SI inside (Hz, B, B/s, FLOP/s, s, W, mm², USD); YAML may use unit strings.
- Matrix and vector peaks are dense (no 2:4 sparsity) and for the whole chip, at `compute.clock`.
- A memory level with `scope: core` gives capacity and bandwidth *per core*; `scope: chip` gives the total.
- Link bandwidths are per device and per direction.
- Each section carries `source:` (one note for the section) and/or `sources:` (field -> note).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from .dtypes import DTYPE_BITS, MATRIX_FALLBACK, VECTOR_FALLBACK, canonical_dtype
from .units import parse_quantity


def _quantity(dimension: str) -> BeforeValidator:
    return BeforeValidator(lambda value: parse_quantity(value, dimension))


Positive = Field(gt=0)
Bytes = Annotated[float, _quantity("bytes"), Positive]
Bandwidth = Annotated[float, _quantity("bandwidth"), Positive]
FlopRate = Annotated[float, _quantity("flops"), Positive]
Frequency = Annotated[float, _quantity("frequency"), Positive]
Seconds = Annotated[float, _quantity("time"), Field(ge=0)]
Watts = Annotated[float, _quantity("power"), Positive]
Area = Annotated[float, _quantity("area"), Positive]
Usd = Annotated[float, _quantity("money"), Positive]


class Section(BaseModel):
    """Base of every spec section: strict (unknown keys are errors), frozen, and sourced."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str | None = None
    sources: dict[str, str] = Field(default_factory=dict)

    def has_source(self) -> bool:
        return bool((self.source or "").strip()) or bool(self.sources)


def _dtype_keyed(table: dict[str, Any]) -> dict[str, Any]:
    """Validate dtype keys of a peak table; error names the bad key."""
    if not isinstance(table, dict):
        return table  # pydantic reports the type error with its path
    out: dict[str, Any] = {}
    for key, value in table.items():
        out[canonical_dtype(str(key))] = value
    return out


class Compute(Section):
    clock: Frequency  # the clock the vendor's peaks are quoted at (boost), Hz
    cores: int = Field(gt=0)  # SMs / CUs / TensorCores / CPU cores
    core_name: str = "core"
    # Clock held under sustained full matrix load (power/thermal limited). The analytical and sim levels scale
    # matrix and vector peaks by sustained_clock / clock; unset means the quoted clock is held.
    sustained_clock: Frequency | None = None
    # Threads a core keeps resident (NVIDIA: 2048 per SM from compute capability 8.0 to 10.x). With the DRAM
    # latency it bounds the bytes a streaming kernel can have in flight (Little's law); unset: no such bound.
    max_threads_per_core: int | None = Field(default=None, gt=0)

    # Set by HardwareSpec from its power section (power.limit below the TDP): the clock the chip holds under that
    # limit relative to the clock it holds at its TDP (power_limited_clock_ratio). 1 when there is no limit.
    _power_ratio: float = PrivateAttr(default=1.0)

    @property
    def clock_ratio(self) -> float:
        """Sustained clock / quoted clock: a clock lock or measured clock under load (sustained_clock), times the
        drop a power limit below the TDP forces (power.limit; power_limited_clock_ratio)."""
        held = min(self.sustained_clock / self.clock, 1.0) if self.sustained_clock else 1.0
        return held * self._power_ratio


# Fraction of the quoted matrix peak that vendor-library GEMMs sustain, for a chip whose spec has no measured
# value, by operand width: one pair for every chip, fitted across chips to public GEMM measurements and checked on
# each chip left out of the fit (measure/globalfit.py; docs/validation.md). It lumps the clock a chip holds under a
# full tensor load with the main loop's issue efficiency. 8-bit (and narrower) paths get their own value because
# they do twice the work per clock and throttle harder on power-limited parts (H100/H200 FP8 vs BF16 in the
# ml-engineering MAMF table). A chip with a measured clock under load (compute.sustained_clock) or its own
# matrix.efficiency is better served by those.
MATRIX_EFFICIENCY_WIDE = 0.83  # 16-bit and wider operands
MATRIX_EFFICIENCY_NARROW = 0.69  # 8-bit and narrower


# Share of the chip-wide cache a working set may occupy and still stay resident across kernels. NVIDIA A100
# whitepaper: "The L2 cache is divided into two partitions ... Each L2 partition localizes and caches data for
# memory accesses from SMs in the GPCs directly connected to the partition" (H100 keeps the split), so data that
# SMs on both sides read is held twice and a working set read by the whole chip fits in about half the nominal
# capacity. A derivation from that layout, not a measured plateau; the GEMM model keeps both operands resident
# under the same rule.
CACHE_RESIDENT_FRACTION = 0.5


def narrow_operands(dtype: str) -> bool:
    """8-bit or narrower operands: the width MATRIX_EFFICIENCY_NARROW applies to."""
    return DTYPE_BITS.get(canonical_dtype(dtype), 16) <= 8


class Matrix(Section):
    """Matrix (tensor-core / systolic / MXU) unit."""

    peak: dict[str, FlopRate]  # dtype -> dense FLOP/s for the whole chip
    units_per_core: int = Field(default=1, gt=0)  # e.g. 4 tensor cores per SM
    tile: tuple[int, int, int] | None = None  # (m, n, k) of one matrix instruction, e.g. wgmma 64x256x16
    systolic: tuple[int, int] | None = None  # (rows, cols) of a systolic array, if the unit is one
    pipeline_latency_cycles: int | None = Field(default=None, ge=0)
    # Asynchronous, warp-specialized matrix instructions (Hopper wgmma, Blackwell tcgen05): other work (softmax)
    # can run while the matrix unit is busy. FlashAttention-3's ping-pong schedule needs it.
    async_overlap: bool = False
    # Largest group of cores that can share one operand tile load from L2 (Hopper TMA multicast within a
    # thread-block cluster). 1 = no sharing.
    cluster_multicast: int = Field(default=1, ge=1)
    # One matrix instruction can span a pair of cores (Blackwell tcgen05.mma.cta_group::2): the pair computes a
    # 2*M-row tile and each core's SRAM holds only its half of the B operand tile, which halves B's share of the
    # SRAM traffic per core (perf/analytical/gemm.py, _smem_bytes).
    paired_cores: bool = False
    # dtype -> fraction of that peak a tuned library kernel's main loop sustains: the clock under a full matrix
    # load (power-limited) x issue efficiency (synchronisation, operand staging). A dtype not listed takes
    # MATRIX_EFFICIENCY_WIDE / _NARROW, fitted across chips (see there); HardwareSpec.matrix_efficiency.
    efficiency: dict[str, Annotated[float, Field(gt=0, le=1)]] = Field(default_factory=dict)

    @field_validator("peak", "efficiency", mode="before")
    @classmethod
    def _canonical_keys(cls, table: dict[str, Any]) -> dict[str, Any]:
        return _dtype_keyed(table)


class Vector(Section):
    """SIMD / CUDA-core unit that runs elementwise, reduction and softmax arithmetic."""

    lanes_per_core: int = Field(gt=0)  # fp32 lanes per core (CUDA cores per SM)
    peak: dict[str, FlopRate]  # dtype -> FLOP/s for the whole chip (an FMA counts 2)

    @field_validator("peak", mode="before")
    @classmethod
    def _canonical_keys(cls, table: dict[str, Any]) -> dict[str, Any]:
        return _dtype_keyed(table)


SfuFunction = Literal["exp2", "log2", "rcp", "rsqrt", "sqrt", "sin", "cos", "tanh"]
SFU_FUNCTIONS: tuple[str, ...] = SfuFunction.__args__  # type: ignore[attr-defined]


class Sfu(Section):
    """Special-function unit (NVIDIA MUFU, AMD transcendental unit): ops per clock per core by function."""

    ops_per_clock_per_core: dict[SfuFunction, Annotated[float, Field(gt=0)]]


# What a DRAM level (HBM, GDDR, DDR) sustains for a streaming kernel when its spec does not say: reads lose
# refresh and row-activation time (efficiency), and a written byte costs more than a read one in a mixed
# stream, since the bus turns around between reads and writes (JEDEC tWTR / tRTW) and writes wait for write
# recovery (write_cost, x a read byte). One pair for every chip, fitted across chips to public STREAM-type
# measurements (BabelStream Dot / Copy / Triad on A100, H100, H200) and checked on each chip left out of the
# fit: measure/globalfit.py, `accelscope validate --dataset dev --loco`; numbers in docs/validation.md.
DRAM_EFFICIENCY = 0.95
DRAM_WRITE_COST = 1.24


class MemoryLevel(Section):
    kind: Literal["registers", "sram", "cache", "dram", "host"]
    scope: Literal["core", "chip", "host"]
    capacity: Bytes  # per core if scope == "core"
    bandwidth: Bandwidth  # per core if scope == "core"; read bandwidth
    latency: Seconds | None = None
    # Achievable fraction of `bandwidth` for a streaming read (refresh, bank conflicts, protocol overhead).
    # Used by the analytical and sim levels; the roofline uses the nominal bandwidth. DRAM levels default to
    # DRAM_EFFICIENCY, the others to 1.
    efficiency: float = Field(default=1.0, gt=0, le=1)
    # Time to write one byte relative to reading one (bus turnaround, write recovery); DRAM default
    # DRAM_WRITE_COST, others 1.
    write_cost: float = Field(default=1.0, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _dram_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") == "dram":
            data = {"efficiency": DRAM_EFFICIENCY, "write_cost": DRAM_WRITE_COST, **data}
        return data

    def transfer_seconds(self, read_bytes: float, written_bytes: float) -> float:
        """Seconds to stream these bytes through the level at its achievable rate."""
        return (read_bytes + written_bytes * self.write_cost) / (self.bandwidth * self.efficiency)


class ScaleUp(Section):
    """The fast domain (NVLink/NVSwitch, Infinity Fabric, ICI): devices that talk at link speed."""

    domain_size: int = Field(gt=0)  # devices in one scale-up domain (8 for an HGX board, 72 for NVL72)
    bandwidth: Bandwidth  # per device, per direction, all links together
    latency: Seconds  # one-hop small-message latency
    topology: Literal["switch", "fully_connected", "ring", "torus", "mesh"]
    links: int | None = Field(default=None, gt=0)
    torus_dims: tuple[int, ...] | None = None
    # Achievable fraction of `bandwidth` for large transfers (protocol and flow-control overhead).
    efficiency: float = Field(default=1.0, gt=0, le=1)
    # In-switch reduction (NVLink SHARP / NVLS): an all-reduce sends and receives each byte once.
    in_network_reduction: bool = False
    # Achievable fraction of the NVLS ideal (each byte sent and received once at `efficiency` x bandwidth): the
    # switch's reduction throughput and multimem traffic make NVLS reach less than its wire ideal. 1 = the ideal.
    nvls_efficiency: float = Field(default=1.0, gt=0, le=1)
    # Fixed cost of one collective call in the communication library (kernel launch, protocol handshakes),
    # added once per collective on top of the per-hop `latency` (not used with `library`, whose model has its own).
    collective_latency: Seconds = 0.0
    # The collective library whose published cost model prices collectives in this domain (perf/nccl.py: NCCL's
    # algorithms x protocols with its base and per-step latencies); None: alpha-beta with `latency` per hop.
    library: Literal["nccl"] | None = None


class ScaleOut(Section):
    """The network between scale-up domains (InfiniBand, RoCE, EFA, DCN)."""

    bandwidth: Bandwidth  # per device, per direction
    latency: Seconds
    topology: Literal["fat_tree", "rail_optimized", "dragonfly", "torus", "ethernet"] = "fat_tree"
    efficiency: float = Field(default=1.0, gt=0, le=1)  # achievable fraction of `bandwidth`


class HostLink(Section):
    bandwidth: Bandwidth  # per direction (PCIe/C2C)
    latency: Seconds | None = None


class Interconnect(Section):
    scale_up: ScaleUp | None = None
    scale_out: ScaleOut | None = None
    host: HostLink | None = None


# Clock under a power limit. Board power at clock f: P(f) = P_static + (TDP - P_static) * (f / f_tdp)^3, where
# f_tdp is the clock held at the TDP. The exponent: CMOS dynamic power is alpha * C * V^2 * f (Hennessy & Patterson,
# Computer Architecture, 6th ed., sec. 1.5 "Trends in Power and Energy"), and across a GPU's DVFS range the voltage
# is raised roughly in proportion to the clock, so dynamic power grows as f^3. P_static (leakage, HBM and I/O
# power, fans/VRM losses that do not scale with the SM clock) is POWER_STATIC_FRACTION x TDP unless the spec says.
POWER_CLOCK_EXPONENT = 3.0
# estimate, not a fit: no public row in the data names both a power cap and the clock it produced, so this cannot
# be fitted here; a quarter of the TDP is a modelling assumption (override with power.static_fraction).
POWER_STATIC_FRACTION = 0.25


def power_limited_clock_ratio(tdp: float, limit: float | None, static_fraction: float = POWER_STATIC_FRACTION,
                              exponent: float = POWER_CLOCK_EXPONENT) -> float:
    """Clock under `limit` / clock at `tdp` from P(f) = P_s + (TDP - P_s) (f/f_tdp)^exponent; 1 at or above the TDP.
    A limit at or below the static power leaves no dynamic budget: an error, not a zero clock."""
    if limit is None or limit >= tdp:
        return 1.0
    static = static_fraction * tdp
    if limit <= static:
        raise ValueError(f"power.limit {limit:g} W is at or below the static power {static:g} W "
                         f"(power.static_fraction {static_fraction:g} x TDP {tdp:g} W): no clock meets it")
    return ((limit - static) / (tdp - static)) ** (1.0 / exponent)


class Power(Section):
    tdp: Watts
    # Board power limit the part runs under (nvidia-smi -pl; a "power-limited" deployment). Below the TDP it lowers
    # the clock every level uses (compute.clock_ratio) by power_limited_clock_ratio; unset: the TDP.
    limit: Watts | None = None
    static_fraction: float = Field(default=POWER_STATIC_FRACTION, ge=0, lt=1)  # of the TDP; see above

    @property
    def clock_ratio(self) -> float:
        return power_limited_clock_ratio(self.tdp, self.limit, self.static_fraction)


class Physical(Section):
    process: str  # e.g. "TSMC 4N"
    node_nm: float = Field(gt=0)  # marketing node number, for the area model
    die_area: Area | None = None  # all compute dies together
    dies: int = Field(default=1, gt=0)
    transistors: float | None = Field(default=None, gt=0)


class Cost(Section):
    unit_price: Usd


class Runtime(Section):
    """Software-visible overheads that are properties of the chip and its driver stack."""

    launch_latency: Seconds  # per kernel, back to back (launch + ramp + drain)


# FP32 lane slots (one FMA-pipe instruction per lane, 2 FLOPs of the FMA-counted vector peak) to dequantize one
# operand element stored in another format than the matrix path's (weight-only quantization: int4/int8/fp8/fp4
# weights with their group or block scale into a bf16/fp16 MMA), for a chip whose spec gives no
# `isa.dequantize_ops` for that path. The fast path kernels use (vLLM's Marlin dequant.h, after FasterTransformer's
# interleaved_numeric_conversion.h) turns 4 packed weights into 2 half2 registers with 2 LOP3 (int4) or PRMT
# (int8) on the 32-bit integer pipe and 2 packed HSUB2/HFMA2 that finish the magic-number convert (zero point
# folded in), then applies the group scale with 2 packed HMUL2: per element 0.5 integer + 1 packed 16-bit
# instruction. On A100 in fp16 (compute capability 8.0: 256 fp16 results, 64 FP32 results and 64 LOP3 per clock
# per SM, CUDA C++ Programming Guide throughput table) that is 0.5/64 + 1/128 = 1/64 clock per element per SM: one
# FP32 lane slot. Presets give their own count per path (A100 bf16 runs at half the fp16 rate; Hopper has twice
# the FP32 lanes at the same 16-bit and integer rates).
DEQUANTIZE_OPS = 1.0


class Isa(Section):
    """Which instructions a core has natively, and what the missing ones cost (read by the sim level;
    `dequantize_ops` by every level).

    A flag left unset is derived from the rest of the spec: a special function is native when `sfu` lists it;
    `fp8_convert` when the matrix unit has an FP8 peak; `mx_scale` when it has an MX/NVFP4 peak; `dot4_accumulate`
    is off. `hw.with_overrides({"isa.exp2": False})` removes one. Costs of emulated instructions are vector
    operations per element (`emulation_ops`, keys: exp2, log2, rcp, rsqrt, sqrt, sin, cos, tanh, fp8_convert,
    mx_scale); unset keys take the defaults in perf/sim/core.py.
    """

    exp2: bool | None = None  # native exp2 on the SFU; else range reduction + polynomial on the FMA pipe
    log2: bool | None = None
    rcp: bool | None = None
    rsqrt: bool | None = None
    fp8_convert: bool | None = None  # packed float -> FP8/FP4 convert with rounding and saturation
    mx_scale: bool | None = None  # one instruction turns a block's amax into its E8M0/E4M3 scale
    dot4_accumulate: bool | None = None  # 4-element dot product + accumulate per lane (sum of squares, dp4a)
    convert_elements_per_op: float = Field(default=2.0, gt=0)  # a native convert packs this many (cvt x2)
    # FP32 lane slots to dequantize one stored operand element into the matrix path's format, keyed by that path's
    # dtype (fp16, bf16); a path not listed costs DEQUANTIZE_OPS. A native int4/fp4 -> bf16 converter makes it < 1.
    dequantize_ops: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    emulation_ops: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)

    @field_validator("dequantize_ops", mode="before")
    @classmethod
    def _canonical_keys(cls, table: Any) -> dict[str, Any]:
        if not isinstance(table, dict):
            raise ValueError(f"give one value per matrix path, e.g. dequantize_ops: {{bf16: 1.5}} or --set "
                             f"isa.dequantize_ops.bf16=1.5 (got {table!r})")
        return _dtype_keyed(table)


class Microarch(Section):
    """Per-core details the cycle-level sim reads; every field is optional and derived when unset (sim details say
    how)."""

    register_file: Bytes | None = None  # per core
    sram_banks: int | None = Field(default=None, gt=0)
    sram_bank_bytes: Bytes | None = None  # bytes per bank per clock
    sram_ports: int | None = Field(default=None, gt=0)
    dma_engines: int | None = Field(default=None, gt=0)  # per core (TMA units, DMA queues)
    dma_bandwidth: Bandwidth | None = None  # per engine
    dma_latency: Seconds | None = None  # issue to first byte, on top of the memory level's latency
    dma_outstanding: int | None = Field(default=None, gt=0)  # requests in flight per engine
    vector_latency_cycles: int | None = Field(default=None, ge=0)
    sfu_latency_cycles: int | None = Field(default=None, ge=0)
    scalar_issue_per_cycle: float | None = Field(default=None, gt=0)  # tile instructions issued per clock


class HardwareSpec(BaseModel):
    """A complete accelerator description. Frozen: use `with_overrides` to derive a variant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    vendor: str
    kind: Literal["gpu", "tpu", "npu", "cpu", "systolic", "hypothetical"]
    year: int | None = None
    description: str | None = None
    source: str | None = None
    compute: Compute
    matrix: Matrix
    vector: Vector
    sfu: Sfu | None = None
    memory: dict[str, MemoryLevel]  # ordered innermost -> outermost
    interconnect: Interconnect = Field(default_factory=Interconnect)
    power: Power | None = None
    physical: Physical | None = None
    cost: Cost | None = None
    runtime: Runtime
    isa: Isa = Field(default_factory=Isa)
    core: Microarch = Field(default_factory=Microarch)

    @model_validator(mode="after")
    def _has_main_memory(self) -> HardwareSpec:
        if not any(level.kind == "dram" for level in self.memory.values()):
            raise ValueError("memory: needs one level with kind: dram (HBM/DDR) for the main memory")
        return self

    @model_validator(mode="after")
    def _power_limited_clock(self) -> HardwareSpec:
        self.compute._power_ratio = self.power.clock_ratio if self.power is not None else 1.0
        return self

    # ----- derived figures (never stored) -------------------------------------------------------------
    @property
    def main_memory_name(self) -> str:
        return next(name for name, level in self.memory.items() if level.kind == "dram")

    @property
    def main_memory(self) -> MemoryLevel:
        return self.memory[self.main_memory_name]

    @property
    def hbm_bandwidth(self) -> float:
        """Main-memory bandwidth, B/s."""
        return self.main_memory.bandwidth

    def resident_cache(self, nbytes: float) -> str | None:
        """The chip-wide cache that keeps `nbytes` resident (CACHE_RESIDENT_FRACTION of its capacity), or None."""
        for name, level in self.memory.items():
            if level.kind == "cache" and level.scope == "chip":
                return name if nbytes <= CACHE_RESIDENT_FRACTION * self.level_total(name)[0] else None
        return None

    def level_total(self, name: str) -> tuple[float, float]:
        """(capacity B, bandwidth B/s) of a memory level for the whole chip."""
        level = self.memory[name]
        scale = self.compute.cores if level.scope == "core" else 1
        return level.capacity * scale, level.bandwidth * scale

    def matrix_dtype(self, dtype: str) -> str | None:
        """The dtype whose matrix peak prices `dtype` on this chip (native, else the next wider), or None."""
        for candidate in MATRIX_FALLBACK[canonical_dtype(dtype)]:
            if candidate in self.matrix.peak:
                return candidate
        return None

    def matrix_efficiency(self, dtype: str) -> float:
        """Sustained fraction of the matrix peak for `dtype` (the spec's own, else the cross-chip default)."""
        chosen = self.matrix_dtype(dtype) or canonical_dtype(dtype)
        if chosen in self.matrix.efficiency:
            return self.matrix.efficiency[chosen]
        return MATRIX_EFFICIENCY_NARROW if narrow_operands(chosen) else MATRIX_EFFICIENCY_WIDE

    def matrix_peak(self, dtype: str) -> float:
        """Dense matrix FLOP/s for `dtype` (falling back to the path the chip would use)."""
        chosen = self.matrix_dtype(dtype)
        if chosen is None:
            raise ValueError(f"{self.id}: no matrix peak for {dtype} or any wider dtype; add matrix.peak.{dtype}")
        return self.matrix.peak[chosen]

    def vector_peak(self, dtype: str = "fp32") -> float:
        dtype = canonical_dtype(dtype)
        for candidate in VECTOR_FALLBACK.get(dtype, ("fp16", "bf16", "fp32")):
            if candidate in self.vector.peak:
                return self.vector.peak[candidate]
        if "fp32" in self.vector.peak:
            return self.vector.peak["fp32"]
        raise ValueError(f"{self.id}: no vector peak for {dtype}; add vector.peak.fp32")

    def dequantize_flops(self, path: str | None) -> float:
        """FP32 vector FLOPs (an FMA counts 2) one operand element converted for the `path` matrix dtype costs."""
        slots = self.isa.dequantize_ops.get(canonical_dtype(path), DEQUANTIZE_OPS) if path else DEQUANTIZE_OPS
        return 2.0 * slots

    def sfu_rate(self, function: str) -> float | None:
        """Special-function ops/s for the whole chip, or None when the chip has no unit for it."""
        if self.sfu is None or function not in self.sfu.ops_per_clock_per_core:
            return None
        return self.sfu.ops_per_clock_per_core[function] * self.compute.cores * self.compute.clock

    def ridge_point(self, dtype: str) -> float:
        """FLOP per byte of main-memory traffic at which matrix compute and bandwidth balance."""
        return self.matrix_peak(dtype) / self.hbm_bandwidth

    def with_overrides(self, overrides: dict[str, Any]) -> HardwareSpec:
        """A new validated spec with dotted-path values replaced: {"memory.hbm.bandwidth": "6 TB/s"}."""
        from .loader import apply_overrides  # local import: loader imports this module

        return apply_overrides(self, overrides)

    def _repr_html_(self) -> str:  # Jupyter
        rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in self.summary().items())
        return f"<table><caption>{self.name}</caption>{rows}</table>"

    def summary(self) -> dict[str, str]:
        from .describe import summary_rows

        return summary_rows(self)


def bits(dtype: str) -> float:
    return DTYPE_BITS[canonical_dtype(dtype)]
