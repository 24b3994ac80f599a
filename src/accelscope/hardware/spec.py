"""The hardware spec: one typed, frozen description of an accelerator, real or hypothetical.

Conventions (the README's "Hardware specs" page repeats them):
- Every value is SI inside (Hz, B, B/s, FLOP/s, s, W, mm², USD); YAML may use unit strings.
- Matrix and vector peaks are dense (no 2:4 sparsity) and for the whole chip, at `compute.clock`.
- A memory level with `scope: core` gives capacity and bandwidth *per core*; `scope: chip` gives the total.
- Link bandwidths are per device and per direction.
- Each section carries `source:` (one note for the section) and/or `sources:` (field -> note).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    SerializationInfo,
    Strict,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .describe import summary_rows
from .dtypes import (
    DTYPE_BITS,
    MATRIX_FALLBACK,
    VECTOR_FALLBACK,
    canonical_dtype,
    element_bits,
    element_format,
)
from .errors import FieldProblem, brief
from .identity import IdentityCache
from .units import DIMENSIONS, format_quantity, parse_quantity, range_text, si_text
from .validate import SetOptions, apply_overrides


# ----- field types: every number has a type, a plausible range and (for physical quantities) a unit ----------
def _quantity(dimension: str, low: float | None = None, high: float | None = None) -> Any:
    """A physical quantity: an SI float inside; text input (YAML, --set) must carry a unit ("1.83 GHz"), Python
    callers may pass SI numbers. Bounds default to the dimension's plausible range (units.DIMENSIONS)."""
    dim = DIMENSIONS[dimension]
    bounds = (dim.low if low is None else low, dim.high if high is None else high)

    def check(value: Any, info: ValidationInfo) -> float:
        text = bool(info.context and info.context.get("text"))
        return parse_quantity(value, dimension, require_unit=text, bounds=bounds)

    def dump(value: float, info: SerializationInfo) -> float | str:
        # with context {"units": True}, as text that re-parses to the same float (validate.apply_overrides)
        return si_text(value, dimension) if info.context and info.context.get("units") else value

    schema = {"type": "string", "unit": dim.si_unit, "examples": [dim.example.split("'")[1]],
              "range": range_text(*bounds, dimension)}
    return Annotated[float, BeforeValidator(check), PlainSerializer(dump), WithJsonSchema(schema)]


def _number(low: float, high: float, *, integer: bool = False) -> Any:
    """A plain number (a count, a fraction, a ratio) from low to high. Strict: YAML `false` or '132' is not a
    number; a count is a whole number, not 132.0."""
    kind = "a whole number" if integer else "a number"
    span = f"from {low:g} to {high:g}"

    def check(value: Any) -> int | float:
        if isinstance(value, bool) or not isinstance(value, int | float) or (integer and isinstance(value, float)):
            raise ValueError(f"expected {kind} {span} (got {brief(value)}){_type_hint(value, integer)}")
        number = value if integer else _finite_float(value)
        if not low <= number <= high:  # NaN fails both comparisons
            raise ValueError(f"{brief(value)} is out of range; expected {kind} {span}")
        return number

    return Annotated[int if integer else float, Field(ge=low, le=high), BeforeValidator(check)]


def _type_hint(value: Any, integer: bool) -> str:
    """How to write a near-miss: '132' quoted, or 132.0 for a count."""
    if isinstance(value, str) and len(value) < 40:
        try:
            if math.isfinite(float(value)):
                return f"; write {value.strip()} without quotes"
        except ValueError:
            pass
    if integer and isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"; write {int(value)}"
    return ""


def _finite_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer past float range: out of every range
        return math.inf


Bytes = _quantity("bytes")
Bandwidth = _quantity("bandwidth")
FlopRate = _quantity("flops")
Frequency = _quantity("frequency")
Seconds = _quantity("time")
# One device's board power: a CS-3 wafer-scale system draws ~23 kW; a 5 MW "TDP" is a unit slip (kW, W), never a chip.
Watts = _quantity("power", high=1e5)
Area = _quantity("area")
Usd = _quantity("money")
# An achievable share of a peak: below 1 % the unit does not work (and 5e-324 would make every time infinite).
Fraction = _number(0.01, 1)
Count = _number(1, 10**7, integer=True)  # cores, lanes, engines, devices
Cycles = _number(0, 10**6, integer=True)
Dim = _number(1, 65536, integer=True)  # one side of a tile, array or torus
OpsPerElement = _number(1e-3, 1e4)
WriteCost = _number(1, 100)
NodeNm = _number(0.1, 1000)
Transistors = _number(1e6, 1e15)
ElementsPerOp = _number(0.01, 64)
IssueRate = _number(0.01, 64)
BankBytes = _quantity("bytes", low=1, high=1024)
Flag = Annotated[bool, Strict()]  # YAML true/false only; 1, "yes", "on" are refused
Text = Annotated[str, Field(min_length=1)]
Year = _number(1950, 2100, integer=True)
StaticShare = _number(0, 0.95)  # of a TDP that does not scale with the clock
HostSpeed = _number(0.1, 10)  # a host core's single-thread speed relative to the reference core


def _in(dimension: str) -> str:
    """The unit clause of a field description: 'in Hz; YAML takes '1.83 GHz''."""
    dim = DIMENSIONS[dimension]
    return f"in {dim.si_unit}; YAML takes {dim.example}"


class Section(BaseModel):
    """Base of every spec section: strict (unknown keys are errors), frozen, and sourced."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str | None = Field(default=None, description="Where the section's numbers come from (one note for "
                                                         "the section): a datasheet, paper or measurement.")
    sources: dict[str, str] = Field(default_factory=dict, description="Per-field notes: field name -> where that "
                                                                      "field's number comes from.")

    @model_validator(mode="after")
    def _sources_name_fields(self) -> Section:
        # a note for a misspelled field documents nothing: the keys are this section's field names
        for key in self.sources:
            if key not in type(self).model_fields or key in ("source", "sources"):
                fields = ", ".join(f for f in type(self).model_fields if f not in ("source", "sources"))
                raise FieldProblem(f"sources.{key}", f"no field by that name in this section; choose from: {fields}")
        return self

    def has_source(self) -> bool:
        return bool((self.source or "").strip()) or bool(self.sources)


def _dtype_keyed(table: dict[str, Any]) -> dict[str, Any]:
    """Validate dtype keys of a peak table; error names the bad key."""
    if not isinstance(table, dict):
        return table  # pydantic reports the type error with its path
    out: dict[str, Any] = {}
    for key, value in table.items():
        try:
            out[canonical_dtype(str(key))] = value
        except ValueError:
            raise FieldProblem(brief(key, 40).strip("'"), "unknown dtype as a key; expected one of: "
                                                          f"{', '.join(DTYPE_BITS)}") from None
    return out


class Compute(Section):
    """The cores and their clock."""

    clock: Frequency = Field(description=f"Clock the vendor's peaks are quoted at (boost), {_in('frequency')}.")
    cores: Count = Field(description="Cores on the chip: SMs, CUs, TensorCores or CPU cores (a whole number).")
    core_name: Text = Field(default="core", description="What the vendor calls a core (SM, CU, TensorCore), "
                                                        "for printing.")
    sustained_clock: Frequency | None = Field(default=None, description=(
        "Clock held under sustained full matrix load (power/thermal limited), at most `clock`. The analytical and "
        "sim levels scale matrix and vector peaks by sustained_clock / clock; unset: the quoted clock is held; "
        f"{_in('frequency')}."))
    max_threads_per_core: Count | None = Field(default=None, description=(
        "Threads a core keeps resident (NVIDIA: 2048 per SM for compute capability 8.0 to 10.x). With the DRAM "
        "latency it bounds the bytes a streaming kernel has in flight (Little's law); unset: no such bound."))
    cluster_cores: dict[Count, Count] | None = Field(default=None, description=(
        "Cores thread-block clusters of each size (CTAs per cluster) can occupy at once: every CTA of a cluster "
        "runs in one GPC, so a GPC whose SM count is not a multiple of the size leaves SMs idle "
        "(cudaOccupancyMaxActiveClusters x size). Sizes not listed, and unset: all cores."))

    def cluster_capacity(self, size: int) -> int:
        """Cores clusters of `size` CTAs occupy at once (cluster_cores; all cores when not listed)."""
        return min(self.cores, (self.cluster_cores or {}).get(size, self.cores))

    @model_validator(mode="after")
    def _clusters_fit_the_chip(self) -> Compute:
        # clusters of `size` CTAs occupy at least one cluster's worth of cores; a figure above compute.cores is
        # capped by it (cluster_capacity), so a sweep that shrinks cores keeps a preset's cluster table valid
        for size, cores in (self.cluster_cores or {}).items():
            if cores < size:
                raise FieldProblem("cluster_cores", (
                    f"clusters of {size} occupy {cores} cores, fewer than one cluster's {size}; list the cores "
                    "such clusters fill at once"))
        return self

    @model_validator(mode="after")
    def _sustained_at_most_quoted(self) -> Compute:
        if self.sustained_clock is not None and self.sustained_clock > self.clock:
            raise FieldProblem("sustained_clock", (
                f"{format_quantity(self.sustained_clock, 'frequency')} is above compute.clock "
                f"{format_quantity(self.clock, 'frequency')}; the clock held under load is at most the quoted "
                "clock (raise clock, or lower sustained_clock)"))
        return self

    # Set by HardwareSpec from its power section (power.limit below the TDP): the clock the chip holds under that
    # limit relative to the clock it holds at its TDP (power_limited_clock_ratio). 1 when there is no limit.
    _power_ratio: float = PrivateAttr(default=1.0)

    @property
    def clock_ratio(self) -> float:
        """Sustained clock / quoted clock: a clock lock or measured clock under load (sustained_clock), times the
        drop a power limit below the TDP forces (power.limit; power_limited_clock_ratio)."""
        held = min(self.sustained_clock / self.clock, 1.0) if self.sustained_clock else 1.0
        return held * self.__pydantic_private__["_power_ratio"]  # self._power_ratio, without pydantic's __getattr__


# Fraction of the quoted matrix peak that vendor-library GEMMs sustain, for a chip whose spec has no measured
# value, by operand width: one pair for every chip, fitted across chips to public GEMM measurements and checked on
# each chip left out of the fit (measure/globalfit.py; docs/validation.md). It lumps the clock a chip holds under a
# full tensor load with the main loop's issue efficiency. 8-bit (and narrower) paths get their own value because
# they do twice the work per clock and throttle harder on power-limited parts (H100/H200 FP8 vs BF16 in the
# ml-engineering MAMF table). A chip with a measured clock under load (compute.sustained_clock) or its own
# matrix.efficiency is better served by those.
MATRIX_EFFICIENCY_WIDE = 0.83  # 16-bit and wider operands
MATRIX_EFFICIENCY_NARROW = 0.70  # 8-bit and narrower


# Operand SRAM per core assumed when a spec gives neither a core SRAM level nor a chip scratchpad (bytes), by kind:
# 16 MiB for a TPU / NPU / systolic design, whose matrix unit streams from a software-managed vector memory of tens
# of MiB per core (a TPU TensorCore's VMEM; the presets tpu-v5e, tpu-v5p and gaudi3 publish no per-core figure):
# an estimate, the sim's long-standing default; 64 KiB for a GPU-like core (the smallest shared memory per core of
# the GPUs the presets hold, AMD CDNA's 64 KiB LDS). Both the analytical GEMM search and the sim size tiles by it,
# so the two levels pick the same row blocks (a 64 KiB guess let no 256 x 256 weight-stationary fold fit, and the
# analytical search fell back to 8-row blocks: 2-5 % of peak on TPU v5e/v5p and Gaudi 3).
ASSUMED_CORE_SRAM = {"tpu": 16 * 2**20, "systolic": 16 * 2**20, "npu": 16 * 2**20, "gpu": 64 * 1024}


# Share of the chip-wide cache a working set may occupy and still stay resident across kernels. NVIDIA A100
# whitepaper: "The L2 cache is divided into two partitions ... Each L2 partition localizes and caches data for
# memory accesses from SMs in the GPCs directly connected to the partition" (H100 keeps the split), so data that
# SMs on both sides read is held twice and a working set read by the whole chip fits in about half the nominal
# capacity. A derivation from that layout, not a measured plateau; the GEMM model keeps both operands resident
# under the same rule.
CACHE_RESIDENT_FRACTION = 0.5


def narrow_operands(dtype: str) -> bool:
    """8-bit or narrower operands: the width MATRIX_EFFICIENCY_NARROW applies to. A block-scaled format counts its
    element width (mxfp8: 8 bits, not the 8.25 its scales add to memory traffic): the MMA runs on the elements."""
    return element_bits(dtype) <= 8


class Matrix(Section):
    """Matrix (tensor-core / systolic / MXU) unit."""

    peak: dict[str, FlopRate] = Field(min_length=1, description=(
        "dtype -> dense (no 2:4 sparsity) matrix FLOP/s for the whole chip at compute.clock, "
        f"{_in('flops')}; at least one. A dtype not listed runs on the next wider path."))
    units_per_core: Count = Field(default=1, description="Matrix units per core (4 tensor cores per SM on "
                                                         "Hopper).")
    tile: tuple[Dim, Dim, Dim] | None = Field(default=None, description=(
        "(m, n, k) of one matrix instruction, e.g. Hopper wgmma [64, 256, 16]; each from 1 to 65536."))
    systolic: tuple[Dim, Dim] | None = Field(default=None, description=(
        "(rows, cols) of a systolic array, when the unit is one (TPU MXU [128, 128]); each from 1 to 65536."))
    weight_double_buffer: Flag = Field(default=False, description=(
        "A weight-stationary systolic array holds a second tile of weights and shifts the next fold's in while the "
        "current one streams (TPU: Jouppi et al., ISCA 2017, the Matrix Unit's double-buffered weight tile): "
        "consecutive folds cost max(streamed rows, R) cycles each, the fill and drain (2R + C - 2) once per run "
        "of folds. Off: SCALE-Sim's count, every fold pays its own fill and drain."))
    pipeline_latency_cycles: Cycles | None = Field(default=None, description=(
        "Cycles from the last operand into the unit to the accumulator (the sim level); unset: derived."))
    async_overlap: Flag = Field(default=False, description=(
        "Asynchronous, warp-specialized matrix instructions (Hopper wgmma, Blackwell tcgen05): other work "
        "(softmax) runs while the matrix unit is busy, as FlashAttention-3's ping-pong schedule needs."))
    cluster_multicast: Count = Field(default=1, description=(
        "Largest group of cores that share one operand tile load from L2 (Hopper TMA multicast within a "
        "thread-block cluster); 1 = no sharing."))
    paired_cores: Flag = Field(default=False, description=(
        "One matrix instruction spans a pair of cores (Blackwell tcgen05.mma.cta_group::2): the pair computes a "
        "2*M-row tile and each core's SRAM holds half of the B tile, halving B's SRAM traffic per core."))
    sync_fraction: Fraction | None = Field(default=None, description=(
        "Fraction (0.01 to 1) of the dense peak the warp-synchronous Ampere instruction (mma.sync m16n8k16) "
        "sustains on a chip whose full rate needs its asynchronous one (Hopper wgmma, Blackwell tcgen05): what "
        "FlashAttention-2 and other sm80 kernels get there. Unset: mma.sync is the chip's native path (1)."))
    block_scaled_fraction: Fraction = Field(default=1.0, description=(
        "Fraction (0.01 to 1) of its element format's sustained rate a block-scaled matrix path (MXFP8, MXFP4, "
        "NVFP4: the scales applied inside the matrix instruction) keeps, for a block-scaled dtype with no "
        "matrix.efficiency of its own: the scale tiles' extra loads and copies into the unit."))
    efficiency: dict[str, Fraction] = Field(default_factory=dict, description=(
        "dtype -> fraction (0.01 to 1) of that dtype's peak a tuned library GEMM's main loop sustains (clock under "
        "load x issue efficiency). A dtype not listed takes the cross-chip default (0.83 for 16-bit and wider, "
        "0.70 for 8-bit and narrower); each key needs a matrix.peak entry."))

    @field_validator("peak", "efficiency", mode="before")
    @classmethod
    def _canonical_keys(cls, table: dict[str, Any]) -> dict[str, Any]:
        return _dtype_keyed(table)

    @model_validator(mode="after")
    def _efficiency_of_a_peak(self) -> Matrix:
        for dtype in self.efficiency:
            if dtype not in self.peak:
                raise FieldProblem(f"efficiency.{dtype}", f"no matrix.peak.{dtype} to apply it to; add that peak "
                                                          "or remove this efficiency")
        return self


class Vector(Section):
    """SIMD / CUDA-core unit that runs elementwise, reduction and softmax arithmetic."""

    lanes_per_core: Count = Field(description="FP32 lanes per core (CUDA cores per SM).")
    alu_pipe: Flag = Field(default=True, description=(
        "Integer, compare, select and convert instructions issue to a pipe of their own beside the FP32 FMA pipe "
        "(NVIDIA SMs' ALU pipe), so the two run side by side; false where one VALU per SIMD runs every vector "
        "instruction (AMD GCN / CDNA) and their times add."))
    peak: dict[str, FlopRate] = Field(min_length=1, description=(
        f"dtype -> vector FLOP/s for the whole chip (an FMA counts 2), {_in('flops')}; fp32 is required (every "
        "dtype without its own rate falls back to it)."))

    @field_validator("peak", mode="before")
    @classmethod
    def _canonical_keys(cls, table: dict[str, Any]) -> dict[str, Any]:
        return _dtype_keyed(table)

    @model_validator(mode="after")
    def _has_fp32(self) -> Vector:
        if "fp32" not in self.peak:
            raise FieldProblem("peak.fp32", "required: the FP32 rate that every dtype without its own vector rate "
                                            "falls back to, e.g. fp32: 66.9 TFLOP/s")
        return self


SfuFunction = Literal["exp2", "log2", "rcp", "rsqrt", "sqrt", "sin", "cos", "tanh"]
SFU_FUNCTIONS: tuple[str, ...] = SfuFunction.__args__  # type: ignore[attr-defined]


class Sfu(Section):
    """Special-function unit (NVIDIA MUFU, AMD transcendental unit): ops per clock per core by function."""

    ops_per_clock_per_core: dict[SfuFunction, OpsPerElement] = Field(min_length=1, description=(
        "Function (exp2, log2, rcp, rsqrt, sqrt, sin, cos, tanh) -> results per clock per core, a plain number "
        "from 0.001 to 10000 (H100 MUFU: 16); a function not listed is emulated on the vector unit."))


# What a DRAM level (HBM, GDDR, DDR) sustains for a streaming kernel when its spec does not say: reads lose
# refresh and row-activation time (efficiency), and a written byte costs more than a read one in a mixed
# stream, since the bus turns around between reads and writes (JEDEC tWTR / tRTW) and writes wait for write
# recovery (write_cost, x a read byte). One pair for every chip, fitted across chips to public STREAM-type
# measurements (BabelStream Dot / Copy / Triad on A100, H100, H200) and checked on each chip left out of the
# fit: measure/globalfit.py, `accelscope validate --dataset dev --loco`; numbers in docs/validation.md.
DRAM_EFFICIENCY = 0.95
DRAM_WRITE_COST = 1.24


ON_CHIP = ("registers", "sram", "cache")
# One accelerator's main memory: shipping parts have up to 288 GB (B300, MI355X); 10 TB leaves room for hypothetical
# designs, while "80 TB" for one chip is a unit slip (TB for GB) or a node's or cluster's total.
MAX_DEVICE_MEMORY = 10e12


class MemoryLevel(Section):
    """One level of the memory hierarchy, named by its key under `memory:` (smem, l2, hbm)."""

    kind: Literal["registers", "sram", "cache", "dram", "host"] = Field(description=(
        "registers, sram (software-managed scratchpad), cache, dram (the main memory: HBM/GDDR/DDR; exactly one "
        "level) or host."))
    scope: Literal["core", "chip", "host"] = Field(description=(
        "core: capacity and bandwidth are per core; chip: totals for the chip; host: the host's memory."))
    capacity: Bytes = Field(description=f"Capacity (per core when scope is core), {_in('bytes')}.")
    bandwidth: Bandwidth = Field(description=f"Read bandwidth (per core when scope is core), {_in('bandwidth')}.")
    latency: Seconds | None = Field(default=None, description=f"Load-to-use latency, {_in('time')}.")
    far_latency: Seconds | None = Field(default=None, description=(
        "For a cache split in two partitions (one L2 half per die on B200 / GB200), the latency of a round trip "
        "to a line homed in the other partition, across the die-to-die link, "
        f"{_in('time')}; none: every access pays `latency`."))
    efficiency: Fraction = Field(default=1.0, description=(
        "Achievable fraction (0.01 to 1) of `bandwidth` for a streaming read (refresh, bank conflicts, protocol "
        f"overhead), read by the analytical and sim levels; dram default {DRAM_EFFICIENCY}, others 1."))
    write_cost: WriteCost = Field(default=1.0, description=(
        "Time to write one byte relative to reading one (bus turnaround, write recovery), a ratio from 1 to 100; "
        f"dram default {DRAM_WRITE_COST}, others 1."))
    reduction_bandwidth: Bandwidth | None = Field(default=None, description=(
        "Rate at which a cache applies the reductions sent to it (red.global / atomic adds of fp32 partials, TMA "
        "reduce-add), in bytes of operands per second (per core when scope is core), "
        f"{_in('bandwidth')}; none: its achievable read bandwidth (bandwidth x efficiency)."))

    @model_validator(mode="before")
    @classmethod
    def _dram_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") == "dram":
            data = {"efficiency": DRAM_EFFICIENCY, "write_cost": DRAM_WRITE_COST, **data}
        return data

    @model_validator(mode="after")
    def _far_latency_beyond_the_near_one(self) -> MemoryLevel:
        if self.far_latency is not None and (self.latency is None or self.far_latency < self.latency):
            raise FieldProblem("far_latency", "a round trip to the other partition cannot be quicker than one to "
                                              "the near partition: give `latency` too, and far_latency >= latency")
        return self

    def shared_line_latency(self) -> float | None:
        """Mean round trip (s) to a line every core of the chip touches (a global lock, a counter, a reduction
        workspace): the line is homed in one partition, so the cores of that partition pay `latency` and those of
        the other `far_latency`; with the cores split evenly between the two, half of each. `latency` when the
        level gives no far_latency (one partition, or a latency that already stands for any partition)."""
        if self.latency is None or self.far_latency is None:
            return self.latency
        return (self.latency + self.far_latency) / 2

    def reduction_rate(self) -> float:
        """Bytes of reduction operands per second the level applies (per core when scope is core)."""
        return self.reduction_bandwidth or self.bandwidth * self.efficiency

    def transfer_seconds(self, read_bytes: float, written_bytes: float) -> float:
        """Seconds to stream these bytes through the level at its achievable rate."""
        return (read_bytes + written_bytes * self.write_cost) / (self.bandwidth * self.efficiency)


class ScaleUp(Section):
    """The fast domain (NVLink/NVSwitch, Infinity Fabric, ICI): devices that talk at link speed."""

    domain_size: Count = Field(description="Devices in one scale-up domain (8 for an HGX board, 72 for NVL72).")
    bandwidth: Bandwidth = Field(description=f"Per device, per direction, all links together, {_in('bandwidth')}.")
    latency: Seconds = Field(description=f"One-hop small-message latency, {_in('time')}.")
    topology: Literal["switch", "fully_connected", "ring", "torus", "mesh"] = Field(description=(
        "switch (NVSwitch), fully_connected (xGMI), ring, torus (TPU ICI, give torus_dims) or mesh."))
    links: Count | None = Field(default=None, description="Links per device (18 NVLink4 links on H100).")
    torus_dims: tuple[Dim, ...] | None = Field(default=None, min_length=1, max_length=6, description=(
        "Devices along each torus dimension, e.g. [16, 16]; 1 to 6 dimensions, each from 1 to 65536."))
    efficiency: Fraction = Field(default=1.0, description=(
        "Achievable fraction (0.01 to 1) of `bandwidth` for large transfers (protocol and flow-control overhead)."))
    in_network_reduction: Flag = Field(default=False, description=(
        "In-switch reduction (NVLink SHARP / NVLS): an all-reduce sends and receives each byte once."))
    nvls_efficiency: Fraction = Field(default=1.0, description=(
        "Achievable fraction (0.01 to 1) of the NVLS ideal (each byte sent and received once at efficiency x "
        "bandwidth): the switch's reduction throughput makes NVLS reach less than its wire ideal."))
    collective_latency: Seconds = Field(default=0.0, description=(
        "Fixed cost of one collective call in the communication library (launch, handshakes), added once per "
        f"collective on top of the per-hop latency; not used with `library`; {_in('time')}."))
    library: Literal["nccl"] | None = Field(default=None, description=(
        "Collective library whose published cost model prices collectives here (nccl: NCCL's algorithms x "
        "protocols, perf/nccl.py); unset: alpha-beta with `latency` per hop."))

class ScaleOut(Section):
    """The network between scale-up domains (InfiniBand, RoCE, EFA, DCN)."""

    bandwidth: Bandwidth = Field(description=f"Per device, per direction, {_in('bandwidth')}.")
    latency: Seconds = Field(description=f"End-to-end small-message latency between domains, {_in('time')}.")
    topology: Literal["fat_tree", "rail_optimized", "dragonfly", "torus", "ethernet", "pcie"] = Field(
        default="fat_tree", description="fat_tree, rail_optimized, dragonfly, torus, ethernet, or pcie: the domains "
        "are in one host and meet over PCIe (e.g. NVLink-bridged pairs), so the library sees a single node.")
    efficiency: Fraction = Field(default=1.0, description="Achievable fraction (0.01 to 1) of `bandwidth`.")
    library_latency: Seconds = Field(default=0.0, description=(
        "Latency the network's NCCL transport reports to NCCL's tuning model (ncclNetProperties_t.latency), "
        f"{_in('time')}: NCCL adds it to every inter-node step of its model, twice for Simple (tuning.cc "
        "latencyInter). 0 for NCCL's own InfiniBand / RoCE / socket transports; AWS's aws-ofi-nccl plugin reports "
        "35 us on p5en / p6 over EFA, 75 us on p4d / p5 (platform-aws.cpp)."))


class HostLink(Section):
    """The link to the host CPU (PCIe, C2C)."""

    bandwidth: Bandwidth = Field(description=f"Per direction, {_in('bandwidth')}.")
    latency: Seconds | None = Field(default=None, description=f"Small-transfer latency, {_in('time')}.")


class Interconnect(Section):
    """Links between devices and to the host; each part optional."""

    scale_up: ScaleUp | None = Field(default=None, description="The fast domain (NVLink, Infinity Fabric, ICI).")
    scale_out: ScaleOut | None = Field(default=None, description="The network between scale-up domains.")
    host: HostLink | None = Field(default=None, description="The link to the host CPU.")


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
    """Board power."""

    tdp: Watts = Field(description=f"Thermal design power of the device, {_in('power')}.")
    limit: Watts | None = Field(default=None, description=(
        f"Board power limit the part runs under (nvidia-smi -pl), {_in('power')}. Below the TDP it lowers the clock "
        "every level uses (compute.clock_ratio) by power_limited_clock_ratio; unset: the TDP."))
    static_fraction: StaticShare = Field(default=POWER_STATIC_FRACTION, description=(
        "Share of the TDP that does not scale with the clock (leakage, memory, board), 0 to 0.95; the rest "
        "scales with the cube of the clock (see power_limited_clock_ratio)."))

    @property
    def clock_ratio(self) -> float:
        return power_limited_clock_ratio(self.tdp, self.limit, self.static_fraction)


class Physical(Section):
    """Silicon facts for the area model."""

    process: Text = Field(description="Process name, e.g. 'TSMC 4N'.")
    node_nm: NodeNm = Field(description="Marketing node number in nm, 0.1 to 1000 (a plain number).")
    die_area: Area | None = Field(default=None, description=f"All compute dies together, {_in('area')}.")
    dies: Count = Field(default=1, description="Compute dies in the package.")
    transistors: Transistors | None = Field(default=None, description=(
        "Transistors on all dies, a plain number (80.0e9), 1e6 to 1e15."))


class Cost(Section):
    """What one device costs."""

    unit_price: Usd = Field(description=f"Price of one device, {_in('money')}.")


class Runtime(Section):
    """Software-visible overheads that are properties of the chip and its driver stack."""

    launch_latency: Seconds = Field(description=(
        f"Per kernel, back to back (launch + ramp-up + tail drain), {_in('time')}."))
    host_op_latency: Seconds | None = Field(default=None, description=(
        "Host (framework) time per op between kernel launches when a model runs eagerly, without CUDA graphs: "
        f"Python, autograd, dispatch and the launch call, {_in('time')}; a step or iteration whose kernels finish "
        "sooner is bound by it. Unset: each model states its default (serving: llm/serving/costs.py, one op of an "
        "inference engine's forward; training: llm/train_host.py, fitted per op of an eager training graph)."))
    host_speed: HostSpeed | None = Field(default=None, description=(
        "Single-thread speed of a host CPU core of the chip's reference system (the CPU that runs the framework's "
        "Python), relative to the reference core the training host time per op is fitted on (llm/train_host.py: "
        "Intel Xeon Platinum 8480C of DGX H100 = 1.0), a plain number from 0.1 to 10; a training step's default "
        "host time per op is divided by it. Unset: 1.0. Ignored where host_op_latency is set."))


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


EmulatedOp = Literal["exp2", "log2", "rcp", "rsqrt", "sqrt", "sin", "cos", "tanh", "fp8_convert", "mx_scale"]


class Isa(Section):
    """Which instructions a core has natively, and what the missing ones cost (read by the sim level;
    `dequantize_ops` by every level).

    A flag left unset is derived from the rest of the spec: a special function is native when `sfu` lists it;
    `fp8_convert` when the matrix unit has an FP8 peak; `mx_scale` when it has an MX/NVFP4 peak; `dot4_accumulate`
    is off. `hw.with_overrides({"isa.exp2": False})` removes one. Costs of emulated instructions are vector
    operations per element (`emulation_ops`, keys: exp2, log2, rcp, rsqrt, sqrt, sin, cos, tanh, fp8_convert,
    mx_scale); unset keys take the defaults in perf/sim/core.py.
    """

    exp2: Flag | None = Field(default=None, description=(
        "Native exp2 on the SFU; false: range reduction + polynomial on the FMA pipe; unset: native when sfu "
        "lists it."))
    log2: Flag | None = Field(default=None, description="Native log2; unset: native when sfu lists it.")
    rcp: Flag | None = Field(default=None, description="Native reciprocal; unset: native when sfu lists it.")
    rsqrt: Flag | None = Field(default=None, description="Native rsqrt; unset: native when sfu lists it.")
    fp8_convert: Flag | None = Field(default=None, description=(
        "Packed float -> FP8/FP4 convert with rounding and saturation; unset: when matrix.peak has an FP8 path."))
    mx_scale: Flag | None = Field(default=None, description=(
        "One instruction turns a block's amax into its E8M0/E4M3 scale; unset: when matrix.peak has an MX/NVFP4 "
        "path."))
    dot4_accumulate: Flag | None = Field(default=None, description=(
        "4-element dot product + accumulate per lane (sum of squares, dp4a); unset: off."))
    convert_elements_per_op: ElementsPerOp = Field(default=2.0, description=(
        "Elements one native convert instruction packs (cvt x2 = 2), a plain number from 0.01 to 64."))
    dequantize_ops: dict[str, OpsPerElement] = Field(default_factory=dict, description=(
        "Matrix path dtype (fp16, bf16) -> FP32 lane slots to dequantize one stored operand element (int4/fp8 "
        f"weights) into that path's format; a path not listed costs {DEQUANTIZE_OPS}; each key needs a "
        "matrix.peak entry."))
    emulation_ops: dict[EmulatedOp, OpsPerElement] = Field(default_factory=dict, description=(
        "Instruction -> vector operations per element when it is emulated (keys: exp2, log2, rcp, rsqrt, sqrt, "
        "sin, cos, tanh, fp8_convert, mx_scale); a key not listed takes the sim's default (perf/sim/core.py)."))
    narrow_ops: dict[str, OpsPerElement] = Field(default_factory=dict, description=(
        "16-bit dtype (bf16, fp16) -> 32-bit integer/ALU instructions that round one fp32 element to it and pack "
        "it, where the chip has no convert instruction to that format (gfx942 to bf16: 4.5); a dtype not listed "
        "has a native packed convert: 1 / convert_elements_per_op."))

    @field_validator("dequantize_ops", "narrow_ops", mode="before")
    @classmethod
    def _canonical_keys(cls, table: Any, info: ValidationInfo) -> dict[str, Any]:
        if not isinstance(table, dict):
            per = "matrix path" if info.field_name == "dequantize_ops" else "16-bit dtype"
            raise ValueError(f"give one value per {per}, e.g. {info.field_name}: {{bf16: 1.5}} or --set "
                             f"isa.{info.field_name}.bf16=1.5 (got {brief(table)})")
        return _dtype_keyed(table)

    @field_validator("narrow_ops")
    @classmethod
    def _narrow_to_16_bits(cls, table: dict[str, float]) -> dict[str, float]:
        # only an fp32 -> bf16/fp16 narrowing is read (HardwareSpec.narrow_ops); another key would be ignored
        for dtype in table:
            if dtype not in ("bf16", "fp16"):
                raise FieldProblem(dtype, "expected a 16-bit float format as the key: bf16 or fp16")
        return table


class Microarch(Section):
    """Per-core details the cycle-level sim reads; every field is optional and derived when unset (sim details say
    how)."""

    register_file: Bytes | None = Field(default=None, description=f"Register file per core, {_in('bytes')}.")
    sram_banks: Count | None = Field(default=None, description="Banks of the core's SRAM (32 on NVIDIA SMs).")
    sram_bank_bytes: BankBytes | None = Field(default=None, description=(
        f"Bytes one bank delivers per clock (4 B on NVIDIA), 1 B to 1 KiB, {_in('bytes')}."))
    sram_ports: Count | None = Field(default=None, description="SRAM ports per core.")
    dma_engines: Count | None = Field(default=None, description="DMA engines per core (TMA units, DMA queues).")
    dma_bandwidth: Bandwidth | None = Field(default=None, description=f"Per engine, {_in('bandwidth')}.")
    dma_latency: Seconds | None = Field(default=None, description=(
        f"Issue to first byte, on top of the memory level's latency, {_in('time')}."))
    dma_outstanding: Count | None = Field(default=None, description="Requests in flight per engine.")
    vector_latency_cycles: Cycles | None = Field(default=None, description="Dependent vector FMA latency, cycles.")
    sfu_latency_cycles: Cycles | None = Field(default=None, description="Dependent SFU op latency, cycles.")
    scalar_issue_per_cycle: IssueRate | None = Field(default=None, description=(
        "Tile instructions issued per clock, a plain number from 0.01 to 64."))

def _find_memory_names(memory: dict[str, MemoryLevel]) -> tuple[str, str | None]:
    """(main memory's name, the chip scratchpad's name or None)."""
    return (next(name for name, level in memory.items() if level.kind == "dram"),
            next((n for n, lv in memory.items() if lv.kind == "sram" and lv.scope == "chip"), None))


# read on every estimate of every op: found once per spec's memory dict
_memory_names = IdentityCache(_find_memory_names)


class HardwareSpec(BaseModel):
    """A complete accelerator description. Frozen: use `with_overrides` to derive a variant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Text = Field(description="Short id; a preset's file name (h100-sxm).")
    name: Text = Field(description="Full name for reports (NVIDIA H100 SXM5 80GB).")
    vendor: Text = Field(description="Vendor, or 'hypothetical'.")
    kind: Literal["gpu", "tpu", "npu", "cpu", "systolic", "hypothetical"] = Field(description=(
        "gpu, tpu, npu, cpu, systolic or hypothetical."))
    year: Year | None = Field(default=None, description="Year of release, a whole number from 1950 to 2100.")
    description: str | None = Field(default=None, description="Free text about the chip.")
    source: str | None = Field(default=None, description="Where the spec as a whole comes from.")
    compute: Compute = Field(description="Cores and clock.")
    matrix: Matrix = Field(description="The matrix unit (tensor cores, MXU, systolic array).")
    vector: Vector = Field(description="The vector (SIMD, CUDA-core) unit.")
    sfu: Sfu | None = Field(default=None, description="The special-function unit (exp2, rsqrt, ...).")
    memory: dict[str, MemoryLevel] = Field(description=(
        "Level name -> memory level, innermost first (smem, l2, hbm); exactly one level of kind dram (the main "
        "memory), and no on-chip level larger than it."))
    interconnect: Interconnect = Field(default_factory=Interconnect, description="Scale-up, scale-out and host "
                                                                                 "links.")
    power: Power | None = Field(default=None, description="Power (TDP).")
    physical: Physical | None = Field(default=None, description="Process, die area, transistors.")
    cost: Cost | None = Field(default=None, description="Unit price.")
    runtime: Runtime = Field(description="Driver-stack overheads (kernel launch latency).")
    isa: Isa = Field(default_factory=Isa, description="Native instructions and the cost of emulated ones.")
    core: Microarch = Field(default_factory=Microarch, description="Per-core details for the cycle-level sim.")
    # dotted path -> value of every `with_overrides`/--set applied since the spec got its id (not a spec field:
    # results name them next to the id, `overrides` and `label`)
    _overrides: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _one_main_memory(self) -> HardwareSpec:
        drams = [name for name, level in self.memory.items() if level.kind == "dram"]
        if not drams:
            raise FieldProblem("memory", "needs one level with kind: dram (HBM/DDR) for the main memory")
        if len(drams) > 1:
            raise FieldProblem(f"memory.{drams[1]}.kind", (
                f"memory.{drams[0]} and memory.{drams[1]} are both kind: dram; a spec has one main memory: merge "
                "them into one level, or give the host's memory kind: host, scope: host"))
        return self

    @model_validator(mode="after")
    def _on_chip_fits_in_main_memory(self) -> HardwareSpec:
        main = self.main_memory.capacity
        for name, level in self.memory.items():
            total = self.level_total(name)[0]
            if level.kind in ON_CHIP and total > main:
                per_core = f" ({self.compute.cores} cores x {format_quantity(level.capacity, 'bytes')})" \
                    if level.scope == "core" else ""
                raise FieldProblem(f"memory.{name}.capacity", (
                    f"{format_quantity(total, 'bytes')} on chip{per_core} is more than the main memory "
                    f"memory.{self.main_memory_name}.capacity ({format_quantity(main, 'bytes')}); an on-chip level is "
                    "smaller than main memory (check the unit, and scope: core means per core)"))
        return self

    @model_validator(mode="after")
    def _main_memory_is_one_devices(self) -> HardwareSpec:
        total = self.level_total(self.main_memory_name)[0]
        if self.kind != "cpu" and total > MAX_DEVICE_MEMORY:  # a CPU's DDR may be a server's terabytes
            raise FieldProblem(f"memory.{self.main_memory_name}.capacity", (
                f"{format_quantity(total, 'bytes')} is more than one accelerator's main memory can be (at most "
                f"{format_quantity(MAX_DEVICE_MEMORY, 'bytes')}; shipping parts have up to 288 GB): check the unit "
                "(GB, not TB) and give one device's capacity, not a node's or a cluster's"))
        return self

    @model_validator(mode="after")
    def _dequantize_paths_exist(self) -> HardwareSpec:
        for dtype in self.isa.dequantize_ops:
            if dtype not in self.matrix.peak:
                raise FieldProblem(f"isa.dequantize_ops.{dtype}", (
                    f"no matrix.peak.{dtype}: the key is the matrix path the weights are converted for; choose "
                    f"from {', '.join(self.matrix.peak)}"))
        return self

    @model_validator(mode="after")
    def _power_limited_clock(self) -> HardwareSpec:
        self.compute._power_ratio = self.power.clock_ratio if self.power is not None else 1.0
        return self

    # ----- derived figures (never stored) -------------------------------------------------------------
    @property
    def overrides(self) -> dict[str, Any]:
        """Dotted path -> value of the overrides applied to the spec named `id` ({} for a spec as loaded)."""
        return dict(self.__pydantic_private__["_overrides"])  # self._overrides, read without pydantic's __getattr__

    @property
    def label(self) -> str:
        """The id as tables show it: "h200-sxm", or "h200-sxm (+1 override)" for a spec changed by --set."""
        count = len(self._overrides)
        return f"{self.id} (+{count} override{'s' if count > 1 else ''})" if count else self.id

    @property
    def main_memory_name(self) -> str:
        return _memory_names(self.memory)[0]

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

    @property
    def scratchpad_name(self) -> str | None:
        """The chip-wide SRAM (kind: sram, scope: chip; a software-managed scratchpad that can hold weights, as on
        SRAM-heavy designs), or None. Only the first is modelled (`accelscope hw check` warns about a second)."""
        return _memory_names(self.memory)[1]

    def assumed_core_sram(self) -> float:
        """Bytes of operand SRAM per core both performance levels size their tiles by when the spec gives neither a
        core SRAM level nor a chip scratchpad (`core_sram` is None): ASSUMED_CORE_SRAM for the chip's kind."""
        return ASSUMED_CORE_SRAM.get(self.kind, ASSUMED_CORE_SRAM["gpu"])

    def core_sram(self) -> tuple[float, float] | None:
        """(capacity B, bandwidth B/s) one core works out of: its `scope: core` SRAM, else its share of a chip
        scratchpad (capacity / cores, bandwidth / cores), else None (the models then size tiles by
        `assumed_core_sram`)."""
        for level in self.memory.values():
            if level.kind == "sram" and level.scope == "core":
                return level.capacity, level.bandwidth * level.efficiency
        pad = self.scratchpad_name
        if pad is None:
            return None
        level = self.memory[pad]
        return level.capacity / self.compute.cores, level.bandwidth * level.efficiency / self.compute.cores

    def scratchpad_share(self, working_set: float, achievable: bool = True) -> float:
        """Share of an op's working set (its operands and results, bytes) held in the chip scratchpad: the share
        that balances the scratchpad's stream against main memory's, at most what fits (0 without one):
            f = min(capacity / working_set, s / (s + d))      s, d: scratchpad and main-memory bandwidth
        The placement software would choose: streaming both at once, a larger share would wait on the scratchpad
        and a smaller one on DRAM; the rest of the working set streams from main memory."""
        pad = self.scratchpad_name
        if pad is None or working_set <= 0:
            return 0.0
        level, dram = self.memory[pad], self.main_memory
        s = level.bandwidth * (level.efficiency if achievable else 1.0)
        d = dram.bandwidth * (dram.efficiency if achievable else 1.0)
        return min(level.capacity / working_set, s / (s + d))

    def memory_seconds(self, read: float, written: float, working_set: float, achievable: bool = True) -> float:
        """Seconds to move `read` + `written` bytes of an op whose working set is `working_set` bytes between the
        cores and where its data lives: main memory (at its achievable rate and write cost; nominal rate and no
        write penalty with achievable=False, the roofline's), and for the share f of the working set a chip
        scratchpad holds (`scratchpad_share`), that scratchpad, both streaming at once (each at its own achievable
        rate and write cost w):
            time = max(f (read + written x w_s) / s, (1 - f) (read + written x w_d) / d)"""
        dram = self.main_memory
        share = self.scratchpad_share(working_set, achievable)
        if achievable:
            dram_time = (1 - share) * dram.transfer_seconds(read, written)
        else:
            dram_time = (1 - share) * (read + written) / dram.bandwidth
        if not share:
            return dram_time
        level = self.memory[self.scratchpad_name]  # type: ignore[index]
        if achievable:
            pad_time = share * level.transfer_seconds(read, written)
        else:
            pad_time = share * (read + written) / level.bandwidth
        return (pad_time + dram_time + abs(pad_time - dram_time)) / 2  # the max, for numbers and numpy arrays

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
        # a block-scaled path with no value of its own runs the MMA of its element format (mxfp8: fp8_e4m3), less
        # what applying the block scales costs (matrix.block_scaled_fraction)
        element = element_format(chosen)
        base = self.matrix.efficiency.get(
            element, MATRIX_EFFICIENCY_NARROW if narrow_operands(chosen) else MATRIX_EFFICIENCY_WIDE)
        return base * (self.matrix.block_scaled_fraction if element != chosen else 1.0)

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

    def narrow_slots(self, dtype: str) -> float:
        """ALU instructions per fp32 element narrowed to the 16-bit `dtype` (round + pack): isa.narrow_ops where
        the chip has no convert instruction for it, else a share of one packed convert."""
        return self.isa.narrow_ops.get(canonical_dtype(dtype), 1.0 / self.isa.convert_elements_per_op)

    def sfu_rate(self, function: str) -> float | None:
        """Special-function ops/s for the whole chip, or None when the chip has no unit for it."""
        if self.sfu is None or function not in self.sfu.ops_per_clock_per_core:
            return None
        return self.sfu.ops_per_clock_per_core[function] * self.compute.cores * self.compute.clock

    def ridge_point(self, dtype: str) -> float:
        """FLOP per byte of main-memory traffic at which matrix compute and bandwidth balance."""
        return self.matrix_peak(dtype) / self.hbm_bandwidth

    def with_overrides(self, overrides: dict[str, Any]) -> HardwareSpec:
        """A new validated spec with dotted-path values replaced: {"memory.hbm.bandwidth": "6 TB/s"}.

        Python callers may give SI numbers; options parsed by `parse_set_options` (CLI `--set`) are text a person
        typed, so they need their units and errors name `--set`."""
        if isinstance(overrides, SetOptions):
            return apply_overrides(self, overrides, origin=f"--set (on {self.id})", text=True)
        return apply_overrides(self, overrides, origin=f"{self.id} overrides")

    def _repr_html_(self) -> str:  # Jupyter
        rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in self.summary().items())
        return f"<table><caption>{self.name}</caption>{rows}</table>"

    def summary(self) -> dict[str, str]:
        return summary_rows(self)


def bits(dtype: str) -> float:
    return DTYPE_BITS[canonical_dtype(dtype)]
