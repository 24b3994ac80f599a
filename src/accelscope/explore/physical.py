"""Component-based area, power and build-cost model of an accelerator spec, for design-space exploration.

`estimate_physical(hw)` prices a `HardwareSpec` bottom-up from sourced coefficients (`physical.yaml`, every entry
with value, unit and source); the equations, coefficient table and validation against the presets are in
docs/area-power.md. Summary:

- Area (mm²): matrix, vector and SFU logic from transistor counts per unit (LLMCompass FPU counts, multiplier
  ~ significand²) over the node's logic density; on-chip memories from the node's SRAM bitcell / array
  efficiency (+ECC); HBM, scale-up and SerDes PHYs per stack / per Gb/s that do NOT shrink with the node, their
  controllers in logic that does; one global uncore fraction for everything else on the die.
- Power (W) at full load: energy per operation (Horowitz 45 nm table scaled to the node) x rate x activity for
  matrix, vector, SFU, on-chip memories, HBM and links; static power as a fixed share (GenZ split); one global
  board overhead share on top.
- Cost (USD, no margin): dies from wafer price / good dies per wafer (negative-binomial yield), HBM by GB,
  2.5D packaging by interposer area, test/assembly, and the module board by watt.

The matrix datapath is shared across dtypes, as on real chips (FP8/FP4 run on the BF16/FP16 multiplier array
split into narrower slices; FP64 tensor throughput comes from combining slices): its area is the *max* over
dtypes of MACs/clock x area per MAC, not the sum. Every function here is pure; coefficients are loaded once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from itertools import pairwise
from types import MappingProxyType
from typing import Any

import yaml

from accelscope.hardware.spec import HardwareSpec

__all__ = [
    "PhysicalEstimate",
    "coefficient_table",
    "energy_joules",
    "estimate_physical",
    "published_area_view",
    "validation_targets",
]

_MIB = 1024 * 1024
_GBIT = 1e9 / 8  # bytes/s per Gb/s
_PJ = 1e-12
_HBM_ORDER = ("hbm2", "hbm2e", "hbm3", "hbm3e", "hbm4")  # oldest -> newest


@dataclass(frozen=True, slots=True)
class PhysicalEstimate:
    """Modelled silicon area, full-load board power and build cost of one accelerator (no vendor margin)."""

    area_mm2: float  # all compute/IO dies, HBM stacks excluded
    area_breakdown: Mapping[str, float]  # component -> mm²
    tdp_w: float  # modelled board power at full load
    power_breakdown: Mapping[str, float]  # component -> W
    cost_usd: float  # dies + HBM + packaging + test + board
    cost_breakdown: Mapping[str, float]  # component -> USD
    energy_per_flop_j: Mapping[str, float]  # matrix dtype -> J/FLOP
    energy_per_byte_j: Mapping[str, float]  # memory level -> J/B
    node_nm: float
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "area_mm2": self.area_mm2,
            "area_breakdown": dict(self.area_breakdown),
            "tdp_w": self.tdp_w,
            "power_breakdown": dict(self.power_breakdown),
            "cost_usd": self.cost_usd,
            "cost_breakdown": dict(self.cost_breakdown),
            "energy_per_flop_j": dict(self.energy_per_flop_j),
            "energy_per_byte_j": dict(self.energy_per_byte_j),
            "node_nm": self.node_nm,
            "notes": list(self.notes),
        }


# ----- coefficients -----------------------------------------------------------------------------------------


@cache
def _raw() -> dict[str, Any]:
    text = resources.files("accelscope.explore").joinpath("physical.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def coefficient_table() -> dict[str, dict[str, Any]]:
    """Every coefficient as {name: {value, unit, source}} (a copy; for docs and tests)."""
    return {name: dict(entry) for name, entry in _raw()["coefficients"].items()}


def validation_targets() -> dict[str, dict[str, Any]]:
    """Published figures the model is checked against: {preset: {die_area_mm2, area_excludes, source}}."""
    return {name: dict(entry) for name, entry in _raw()["validation"].items()}


@cache
def _c() -> dict[str, Any]:
    """Coefficient values only, keyed by name (node tables as sorted (node, value) tuples)."""
    out: dict[str, Any] = {}
    for name, entry in _raw()["coefficients"].items():
        value = entry["value"]
        numeric = isinstance(value, dict) and all(isinstance(x, int | float) for x in (*value, *value.values()))
        if numeric and name != "hbm_generation_by_year":
            out[name] = tuple(sorted((float(k), float(v)) for k, v in value.items()))
        else:
            out[name] = value
    return out


def _interp_node(table: tuple[tuple[float, float], ...], node: float) -> tuple[float, bool]:
    """Log-log interpolation of a node-keyed table; returns (value, clamped)."""
    lo_node, hi_node = table[0][0], table[-1][0]
    if node <= lo_node:
        return table[0][1], node < lo_node
    if node >= hi_node:
        return table[-1][1], node > hi_node
    for (n0, v0), (n1, v1) in pairwise(table):
        if n0 <= node <= n1:
            t = (math.log(node) - math.log(n0)) / (math.log(n1) - math.log(n0))
            return math.exp(math.log(v0) + t * (math.log(v1) - math.log(v0))), False
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class _Node:
    """Node-dependent coefficients, resolved once per node value."""

    nm: float
    mtr_per_mm2: float  # logic density, 1e6 transistors / mm²
    sram_mm2_per_mib: float  # incl. array efficiency and ECC
    energy_scale: float  # x 45 nm energy
    wafer_usd: float
    defects_per_mm2: float
    clamped: tuple[str, ...]


@lru_cache(maxsize=64)
def _node(nm: float) -> _Node:
    c = _c()
    clamped: list[str] = []

    def get(name: str) -> float:
        value, was_clamped = _interp_node(c[name], nm)
        if was_clamped:
            clamped.append(name)
        return value

    bitcell_um2 = get("sram_bitcell_area")
    sram = _MIB * 8 * bitcell_um2 * 1e-6 / c["sram_array_efficiency"] * (1 + c["ecc_overhead"])
    return _Node(
        nm=nm,
        mtr_per_mm2=get("logic_density"),
        sram_mm2_per_mib=sram,
        energy_scale=get("energy_node_scale"),
        wafer_usd=get("wafer_price"),
        defects_per_mm2=get("defect_density"),
        clamped=tuple(clamped),
    )


# ----- per-unit figures -------------------------------------------------------------------------------------


def _sig(dtype: str) -> float:
    return float(_c()["significand_bits"].get(dtype, 16))


def _mac_transistors(dtype: str) -> float:
    """Transistors of one multiply-accumulate lane for `dtype`: FP64 FPU x (significand / 53)² (LLMCompass)."""
    return _c()["fpu64_transistors"] * (_sig(dtype) / 53.0) ** 2


def _mac_energy_45nm_pj(dtype: str, *, matrix: bool) -> float:
    """Energy of one multiply-add at 45 nm, pJ: multiplier ~ significand^1.55 plus the (shared) accumulate."""
    c = _c()
    if dtype.startswith("int"):
        mult = c["int8_multiply_energy_45nm"] * (_sig(dtype) / 8.0) ** 2
        add = c["int32_add_energy_45nm"]
    else:
        e16, e32 = c["fp16_multiply_energy_45nm"], c["fp32_multiply_energy_45nm"]
        exponent = math.log(e32 / e16) / math.log(24.0 / 11.0)  # ~1.55 from Horowitz's FP16/FP32 pair
        mult = e16 * (_sig(dtype) / 11.0) ** exponent
        add = c["fp32_add_energy_45nm"] * (2.0 if dtype == "fp64" else 1.0)  # estimate: FP64 add ~2x FP32
    if matrix:  # dot-product units: one wide accumulate per few products (TPUv4i), plus operand delivery
        return (mult + add * c["dot_product_accumulate_share"]) * (1 + c["matrix_operand_overhead"])
    return mult + add


def _sram_pj_per_bit_45nm(bank_bytes: float) -> float:
    """Horowitz SRAM read energy per bit at 45 nm, ~sqrt(capacity) from 8 KiB up to the 1 MiB cap."""
    c = _c()
    kib = min(max(bank_bytes / 1024.0, 8.0), 1024.0)
    per_64b = min(c["sram_energy_8kb_45nm"] * math.sqrt(kib / 8.0), c["sram_energy_1mb_45nm"])
    return per_64b / 64.0


# ----- HBM ---------------------------------------------------------------------------------------------------


def _hbm_generation(hw: HardwareSpec) -> tuple[str, str]:
    """(generation, how it was chosen): newest generation named in the main-memory notes, else by year."""
    level = hw.main_memory
    text = " ".join([level.source or "", *level.sources.values()]).lower()
    named = [g for g in _HBM_ORDER if _names_generation(text, g)]
    if named:
        return named[-1], f"HBM generation {named[-1]} from the main-memory source notes"
    by_year = _c()["hbm_generation_by_year"]
    if hw.year is not None:
        eligible = [gen for year, gen in sorted(by_year.items()) if year <= hw.year]
        if eligible:
            return eligible[-1], f"HBM generation {eligible[-1]} assumed from year {hw.year}"
    return "hbm3e", "HBM generation hbm3e assumed (no generation in the notes, no year)"


def _names_generation(text: str, gen: str) -> bool:
    start = text.find(gen)
    while start >= 0:
        end = start + len(gen)
        if end >= len(text) or not text[end].isalnum():
            return True
        start = text.find(gen, end)
    return False


# a stack's "16 GB" are binary (16 GiB), and a preset's capacity is what the driver reports (an "80 GB" card's
# 81,920 MiB): counting stacks in decimal GB would give an A100 80GB a sixth stack
GIB = 2**30


def _hbm_stacks(bandwidth: float, capacity: float, gen: str) -> int:
    """Stacks needed for both the bandwidth and the capacity at the generation's per-stack figures."""
    c = _c()
    by_bw = bandwidth / (c["hbm_stack_bandwidth"][gen] * 1e9)
    by_cap = capacity / (c["hbm_stack_capacity"][gen] * GIB)  # a stack's "GB" are binary: 16 GB = 16 GiB
    return max(1, math.ceil(by_bw - 1e-3), math.ceil(by_cap - 1e-3))  # tolerance: 2.765 TB/s = 6 x 460.8 GB/s


# ----- the model --------------------------------------------------------------------------------------------


def _matrix_macs(hw: HardwareSpec) -> dict[str, float]:
    """MACs per clock by matrix dtype: dense FLOP/s / (2 x quoted clock)."""
    return {d: peak / (2.0 * hw.compute.clock) for d, peak in hw.matrix.peak.items()}


def _links(hw: HardwareSpec) -> dict[str, float]:
    """Per-direction link bandwidth, B/s, by port class."""
    ic = hw.interconnect
    return {
        "scale_up": ic.scale_up.bandwidth if ic.scale_up else 0.0,
        "scale_out": ic.scale_out.bandwidth if ic.scale_out else 0.0,
        "host": ic.host.bandwidth if ic.host else 0.0,
    }


def _on_chip_levels(hw: HardwareSpec) -> list[tuple[str, str, float, float, float]]:
    """(name, kind, total bytes, total B/s, bank bytes) of every on-chip memory level."""
    out = []
    for name, level in hw.memory.items():
        if level.kind in ("dram", "host"):
            continue
        total_cap, total_bw = hw.level_total(name)
        bank = level.capacity if level.scope == "core" else min(level.capacity, _MIB)
        out.append((name, level.kind, total_cap, total_bw, bank))
    return out


def _area(hw: HardwareSpec, node: _Node, stacks: int, gen: str, notes: list[str]) -> dict[str, float]:
    c = _c()
    per_mm2 = node.mtr_per_mm2 * 1e6
    cores = hw.compute.cores
    area: dict[str, float] = {}
    # Shared datapath: the widest-demand dtype sizes the array (max, not sum).
    area["matrix"] = max(n * _mac_transistors(d) for d, n in _matrix_macs(hw).items()) / per_mm2
    area["vector"] = max(p / (2 * hw.compute.clock) * _mac_transistors(d) for d, p in hw.vector.peak.items()) / per_mm2
    sfu_rate = _native_sfu_ops_per_clock(hw)
    if sfu_rate:
        area["sfu"] = sfu_rate * cores * c["sfu_transistors"] / per_mm2
    levels = _on_chip_levels(hw)
    if not any(kind == "registers" for _, kind, *_ in levels):
        rf_bytes = hw.vector.lanes_per_core * cores * c["register_bytes_per_vector_lane"]
        area["register_file"] = rf_bytes / _MIB * node.sram_mm2_per_mib * c["register_file_area_factor"]
        notes.append("register file sized at 2 KiB per vector lane (no registers level in the spec)")
    for name, kind, cap, _, _ in levels:
        factor = c["register_file_area_factor"] if kind == "registers" else 1.0
        area[f"mem.{name}"] = cap / _MIB * node.sram_mm2_per_mib * factor
    # I/O: PHYs are analog/bump-limited and do not shrink; their controllers are logic and do.
    area["hbm_phy"] = stacks * c["hbm_phy_area"][gen]
    area["hbm_ctrl"] = stacks * c["hbm_controller_transistors"] / per_mm2
    links = _links(hw)
    area["scale_up_phy"] = links["scale_up"] / _GBIT * c["scale_up_phy_area"]
    area["scale_out_phy"] = links["scale_out"] / _GBIT * c["serdes_phy_area"]
    area["host_phy"] = links["host"] / _GBIT * c["serdes_phy_area"]
    area["link_ctrl"] = sum(links.values()) / _GBIT * c["link_controller_transistors"] / per_mm2
    f = c["uncore_fraction"]
    area["other"] = sum(area.values()) * f / (1 - f)
    return area


def _energies(hw: HardwareSpec, node: _Node, gen: str) -> tuple[dict[str, float], dict[str, float]]:
    """(J/FLOP by matrix dtype, J/B by memory level)."""
    c = _c()
    scale = node.energy_scale * _PJ
    per_flop = {d: _mac_energy_45nm_pj(d, matrix=True) * scale / 2 for d in hw.matrix.peak}
    per_byte: dict[str, float] = {}
    for name, kind, _, _, bank in _on_chip_levels(hw):
        pj_bit = _sram_pj_per_bit_45nm(bank)
        if kind == "registers":
            pj_bit = _sram_pj_per_bit_45nm(8 * 1024)
        per_byte[name] = pj_bit * 8 * scale
    per_byte[hw.main_memory_name] = c["hbm_energy"][gen] * 8 * _PJ
    return per_flop, per_byte


def _power(
    hw: HardwareSpec, node: _Node, gen: str, per_flop: Mapping[str, float], per_byte: Mapping[str, float]
) -> dict[str, float]:
    c = _c()
    ratio = hw.compute.clock_ratio  # the sustained clock scales every on-chip rate
    scale = node.energy_scale * _PJ
    power: dict[str, float] = {}
    power["matrix"] = max(per_flop[d] * p for d, p in hw.matrix.peak.items()) * ratio
    vec = max(_mac_energy_45nm_pj(d, matrix=False) * scale / 2 * p for d, p in hw.vector.peak.items())
    power["vector"] = vec * ratio * c["vector_activity"]
    if _native_sfu_ops_per_clock(hw):
        rate = _native_sfu_ops_per_clock(hw) * hw.compute.cores * hw.compute.clock * ratio
        power["sfu"] = rate * 2 * _mac_energy_45nm_pj("fp32", matrix=False) * scale * c["sfu_activity"]
    power["sram"] = sum(bw * per_byte[name] for name, _, _, bw, _ in _on_chip_levels(hw)) * ratio * c["sram_activity"]
    power["hbm"] = hw.hbm_bandwidth * per_byte[hw.main_memory_name] * c["hbm_activity"]
    links = _links(hw)
    link_w = (links["scale_up"] * c["scale_up_link_energy"] + (links["scale_out"] + links["host"]) * c["serdes_link_energy"])
    power["interconnect"] = link_w * 8 * _PJ * c["link_activity"]
    dynamic = sum(power.values())
    fs = c["static_fraction"]
    power["static"] = dynamic * fs / (1 - fs)
    fb = c["board_overhead_fraction"]
    power["board"] = (dynamic + power["static"]) * fb / (1 - fb)
    return power


def _dies_per_wafer(die_mm2: float) -> float:
    d = _c()["wafer_diameter"]
    return math.pi * (d / 2) ** 2 / die_mm2 - math.pi * d / math.sqrt(2 * die_mm2)


def _cost(
    hw: HardwareSpec, node: _Node, area_mm2: float, stacks: int, tdp_w: float, notes: list[str]
) -> dict[str, float]:
    c = _c()
    dies = hw.physical.dies if hw.physical is not None else 1
    die_mm2 = area_mm2 / dies
    per_wafer = _dies_per_wafer(die_mm2)
    if per_wafer < 1:
        notes.append(f"die of {die_mm2:.0f} mm² does not fit a wafer economically; cost extrapolated")
        per_wafer = max(per_wafer, 0.5 * math.pi * (c["wafer_diameter"] / 2) ** 2 / die_mm2)
    alpha = c["yield_cluster_alpha"]
    good_yield = (1 + die_mm2 * node.defects_per_mm2 / alpha) ** -alpha
    return {
        "dies": dies * node.wafer_usd / (per_wafer * good_yield),
        "hbm": hw.main_memory.capacity / 1e9 * c["hbm_price"],
        "packaging": (area_mm2 + stacks * c["hbm_stack_footprint"]) * c["interposer_price"],
        "test_assembly": c["test_assembly_price"],
        "board": tdp_w * c["board_price_per_watt"],
    }


def estimate_physical(hw: HardwareSpec) -> PhysicalEstimate:
    """Area, full-load power and build cost of `hw` from the component model (pure; ~0.1 ms)."""
    notes: list[str] = []
    if hw.physical is None:
        node_nm = float(_c()["default_node_nm"])
        notes.append(f"no physical section: {node_nm:g} nm node assumed")
    else:
        node_nm = hw.physical.node_nm
    node = _node(node_nm)
    notes.extend(f"{name} clamped to its table at {node_nm:g} nm" for name in node.clamped)
    gen, why = _hbm_generation(hw)
    notes.append(why)
    stacks = _hbm_stacks(hw.hbm_bandwidth, hw.main_memory.capacity, gen)
    notes.append(f"{stacks} HBM stacks ({gen}) from bandwidth and capacity")
    area = _area(hw, node, stacks, gen, notes)
    area_mm2 = sum(area.values())
    per_flop, per_byte = _energies(hw, node, gen)
    power = _power(hw, node, gen, per_flop, per_byte)
    tdp_w = sum(power.values())
    cost = _cost(hw, node, area_mm2, stacks, tdp_w, notes)
    return PhysicalEstimate(
        area_mm2=area_mm2,
        area_breakdown=MappingProxyType(area),
        tdp_w=tdp_w,
        power_breakdown=MappingProxyType(power),
        cost_usd=sum(cost.values()),
        cost_breakdown=MappingProxyType(cost),
        energy_per_flop_j=MappingProxyType(per_flop),
        energy_per_byte_j=MappingProxyType(per_byte),
        node_nm=node_nm,
        notes=tuple(notes),
    )


def energy_joules(
    hw: HardwareSpec,
    flops_by_dtype: Mapping[str, float],
    bytes_by_level: Mapping[str, float],
    seconds: float,
    *,
    estimate: PhysicalEstimate | None = None,
) -> float:
    """Board energy of a workload, J: dynamic energy from counts + static power x time, with board overhead.

    flops_by_dtype: matrix FLOPs per dtype (a dtype without a matrix peak is priced on the path the chip would use,
    `hw.matrix_dtype`); bytes_by_level: bytes moved per memory level name; seconds: wall time. Pass `estimate`
    to reuse one already computed for `hw`.
    """
    est = estimate if estimate is not None else estimate_physical(hw)
    dynamic = 0.0
    for dtype, flops in flops_by_dtype.items():
        chosen = dtype if dtype in est.energy_per_flop_j else hw.matrix_dtype(dtype)
        if chosen is None:
            raise ValueError(f"{hw.id}: no matrix path for {dtype}")
        dynamic += flops * est.energy_per_flop_j[chosen]
    for level, nbytes in bytes_by_level.items():
        if level not in est.energy_per_byte_j:
            raise ValueError(f"{hw.id}: unknown memory level {level!r}; have {sorted(est.energy_per_byte_j)}")
        dynamic += nbytes * est.energy_per_byte_j[level]
    fb = _c()["board_overhead_fraction"]
    return (dynamic + est.power_breakdown["static"] * seconds) / (1 - fb)


def published_area_view(est: PhysicalEstimate, exclude: Iterable[str] = ()) -> float:
    """Modelled area comparable to a published figure that leaves out `exclude` (e.g. MI355X: XCDs only).

    The uncore share is applied to the components that remain, as it is to the whole die.
    """
    skip = set(exclude) | {"other"}
    f = _c()["uncore_fraction"]
    return sum(v for k, v in est.area_breakdown.items() if k not in skip) / (1 - f)


def _native_sfu_ops_per_clock(hw: HardwareSpec) -> float:
    """SFU lanes per core: its fastest function among those the ISA keeps native (`isa.exp2: false` removes exp2;
    with every function removed the chip has no SFU to pay for)."""
    if hw.sfu is None:
        return 0.0
    rates = [rate for function, rate in hw.sfu.ops_per_clock_per_core.items()
             if getattr(hw.isa, function, None) is not False]
    return max(rates, default=0.0)

