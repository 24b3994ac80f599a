"""Derived consistency checks of a spec: figures that each validate alone but contradict each other.

`accelscope hw check SPEC` prints every check with its numbers; `hw show` prints the warnings; loading a spec emits
each warning as a `SpecWarning` (a Python warning, never an error: a hypothetical design may break a rule on
purpose). The checks:

- sram-feed: can one core's SRAM feed its matrix unit? The MMAs read their operands from the core's SRAM after
  they were written there (TMA / cp.async), so every operand byte crosses the SRAM twice; the analytical GEMM
  charges the same (perf/analytical/gemm.py, `_smem_bytes`). A CTA tile of BM x BN outputs moves per K element
      written  (BM + s·BN)·b       read  (BM·r_a + s·BN·r_b)·b       for 2·BM·BN FLOPs
  where b is the element bytes, s = 1/2 with paired cores (each holds half of B), and r_a, r_b the times each
  operand is re-read: asynchronous MMAs (wgmma, tcgen05) are issued per instruction row block, so B is read
  BM / m_instr times and A once; synchronous ones (mma.sync, MFMA) per warp tile of at most 64 x 64 (CUTLASS's
  default warp shapes: 2 x 2 warps up to 128 x 128 outputs). The check takes the best tile that the instruction
  allows among the analytical search's edges (16-256, multiples of the instruction; fp32 accumulators in half a
  `registers` level, else in the SRAM, as the analytical model budgets them), the MMA rate the estimates use
  (peak x sustained fraction, `HardwareSpec.matrix_efficiency`) and the dtype that needs the most bytes per
  second. A warning therefore means the analytical level prices that dtype's large GEMMs as SRAM-bound. Systolic
  arrays are fed by their own shift registers and skipped.
- per-core-vs-chip: figures given both per core and for the chip agree (vector lanes x cores x 2 x clock = the
  FP32 vector peak; SRAM banks x bank bytes x ports x clock = the SRAM bandwidth; core.register_file = the
  registers level), within RATIO_TOLERANCE.
- sustained-clock: compute.sustained_clock is at most compute.clock and not implausibly low.
- hierarchy: chip-total bandwidth does not grow outward, capacity does not shrink outward (between chip-wide
  levels); a chip scratchpad (`scope: chip` SRAM) sits beside the chain and must be faster than main memory.
- capacity: on-chip memory is smaller than main memory; one chip-wide SRAM at most (only the first is modelled).
- peak-ratios: narrower formats are 1-2x the next wider one (fp8 = 2 x bf16 on NVIDIA and AMD parts since
  Hopper / CDNA3; tf32 = bf16 / 2; fp4 = 2 x fp8 on Blackwell); fp16 = bf16; a block-scaled format runs at its
  element format's rate (NVIDIA Blackwell and AMD CDNA4 datasheets); matrix above vector.
- units: magnitudes that suggest a wrong unit prefix (a clock under 100 MHz, a DRAM under 10 GB/s, ...).
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

from .dtypes import element_bits
from .spec import HardwareSpec
from .units import format_quantity

RATIO_TOLERANCE = 0.10  # per-core x cores vs chip figures: quoted clocks and rounding differ by a few per cent
# CTA tile edges the analytical GEMM's search tries (perf/analytical/gemm.py TILE_EDGES: CUTLASS 3's 64-256)
TILE_EDGES = (16, 32, 64, 128, 256)
ACC_BYTES = 4  # fp32 accumulators
WARP_TILE = 64  # synchronous MMAs: operands staged per warp tile of at most 64 x 64 (CUTLASS default warp shape)
MIN_SUSTAINED = 0.5  # a clock under load below half the quoted one is more likely a typo than a power limit


# Warnings a preset keeps on purpose, with why: `hw check` prints them as explained, loading does not warn,
# and --strict passes. Keyed by (preset id, check); a copy under another id warns again.
EXPLAINED: dict[tuple[str, str], str] = {
    ("b300", "sram-feed"): (
        "kept: B300's FP4 rate is 3x its FP8 rate at B200's shared-memory width, so an FP4 GEMM whose operands "
        "both come from shared memory is SRAM-bound; Blackwell kernels can hold A in tensor memory (tcgen05.mma "
        "with A from TMEM, PTX ISA 8.7), which the models do not have: expect FP4 GEMM estimates on b300 to be "
        "pessimistic"),
    ("gb300", "sram-feed"): "kept: the same silicon and FP4 rate as b300 (see b300's explanation)",
    ("h100-nvl", "per-core-vs-chip"): (
        "kept: NVIDIA quotes the H100 NVL's FP32 peak (60 TFLOP/s) at the CUDA-core boost clock (~1.78 GHz) and its "
        "tensor peaks at 1.545 GHz, the preset's compute.clock; the models use the quoted vector peak"),
    ("gb200", "per-core-vs-chip"): (
        "kept: the 90 TFLOP/s FP32 figure is a third-party one (the preset's source) that implies a ~2.4 GHz CUDA-"
        "core clock, above the estimated 2.06 GHz tensor clock; NVIDIA publishes no GB200 FP32 peak to check it"),
    ("h20", "per-core-vs-chip"): (
        "kept: the FP32 44 TFLOP/s reported for the H20 needs 2.2 GHz on its 78 SMs (device query), above any GH100 "
        "clock; the SM count, the 1.98 GHz estimate and the quoted figure cannot all hold, and no source settles "
        "which is off (a measured FP32 GEMM, 32 TFLOP/s, fits 39.5 better); the models use the quoted vector peak"),
}


class SpecWarning(UserWarning):
    """A spec whose figures contradict each other (accelscope hw check SPEC says which and by how much)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One check: its name, whether it passed, and the numbers that decided it."""

    check: str
    ok: bool
    message: str
    explained: str = ""  # why a preset keeps this warning (EXPLAINED); empty for a plain pass or warning

    def __str__(self) -> str:
        return f"{self.check}: {self.message}"


def check_spec(hw: HardwareSpec) -> list[Finding]:
    """Every consistency check of `hw`, passed or not, each with its numbers."""
    findings: list[Finding] = []
    for check in (_sram_feed, _per_core_vs_chip, _sustained_clock, _power_limit, _hierarchy, _capacity, _peak_ratios,
                  _units):
        findings.extend(check(hw))
    return [_explain(hw, f) for f in findings]


def _explain(hw: HardwareSpec, finding: Finding) -> Finding:
    why = EXPLAINED.get((hw.id, finding.check), "") if not finding.ok else ""
    return Finding(finding.check, finding.ok, finding.message, why) if why else finding


def spec_warnings(hw: HardwareSpec) -> list[Finding]:
    """The checks `hw` fails and no explanation covers."""
    return [f for f in check_spec(hw) if not f.ok and not f.explained]


def warn_if_inconsistent(hw: HardwareSpec, origin: str) -> None:
    """Emit one SpecWarning per failed check (loading a spec calls this)."""
    for finding in spec_warnings(hw):
        warnings.warn(SpecWarning(f"{origin}: {finding} (accelscope hw check {hw.id})"), stacklevel=3)


def _fmt(value: float, dimension: str) -> str:
    return format_quantity(value, dimension)


# ----- can the SRAM feed the matrix unit ---------------------------------------------------------------------
def sram_bytes_per_flop(hw: HardwareSpec, elem_bytes: float) -> tuple[float, tuple[int, int]]:
    """(least SRAM bytes per MMA FLOP over the CTA tiles the instruction allows, that tile)."""
    instr_m, instr_n = (hw.matrix.tile or (64, 64, 16))[:2]
    budget = _accumulator_budget(hw)
    share = 0.5 if hw.matrix.paired_cores else 1.0
    best = (math.inf, (instr_m, instr_n))
    for bm in [e for e in TILE_EDGES if e % instr_m == 0] or [instr_m]:
        for bn in [e for e in TILE_EDGES if e % instr_n == 0] or [instr_n]:
            if bm * bn * ACC_BYTES > budget and (bm, bn) != (instr_m, instr_n):
                continue
            written = bm + share * bn
            if hw.matrix.async_overlap:
                read = bm + math.ceil(bm / instr_m) * share * bn
            else:
                read = bm * math.ceil(bn / WARP_TILE) + share * bn * math.ceil(bm / WARP_TILE)
            per_flop = (written + read) * elem_bytes / (2 * bm * bn)
            best = min(best, (per_flop, (bm, bn)))
    return best


def _accumulator_budget(hw: HardwareSpec) -> float:
    """Bytes of fp32 accumulators a tile may hold, by the analytical GEMM's rule: half a `registers` memory level,
    else the core's SRAM (as perf/analytical/gemm.py `_on_chip`)."""
    registers = next((lv.capacity for lv in hw.memory.values() if lv.kind == "registers" and lv.scope == "core"), None)
    if registers:
        return registers / 2
    sram = hw.core_sram()
    return sram[0] if sram else math.inf


def _sram_feed(hw: HardwareSpec) -> list[Finding]:
    core = next((n for n, lv in hw.memory.items() if lv.kind == "sram" and lv.scope == "core"), None)
    name = core or hw.scratchpad_name  # without a core SRAM, each core's share of the chip scratchpad
    if name is None or hw.matrix.systolic or not hw.matrix.peak:
        return []
    bandwidth = hw.level_total(name)[1] / hw.compute.cores
    def sustained(d: str) -> float:  # per core; the clock under load scales SRAM and MMA alike and cancels
        return hw.matrix.peak[d] * hw.matrix_efficiency(d) / hw.compute.cores

    dtype = max(hw.matrix.peak, key=lambda d: (sustained(d) * element_bits(d), hw.matrix.peak[d]))
    per_flop, tile = sram_bytes_per_flop(hw, element_bits(dtype) / 8)
    core_rate = sustained(dtype)
    need = core_rate * per_flop
    ratio = bandwidth / need
    verdict = "feeds it" if ratio >= 1 - 1e-3 else f"feeds {ratio:.1%} of it: GEMMs are SRAM-bound"
    fix = "" if ratio >= 1 - 1e-3 else f"; memory.{name}.bandwidth >= {_fmt(need, 'bandwidth')} would feed it"
    return [Finding("sram-feed", ratio >= 1 - 1e-3,
                    f"{dtype} MMAs at {_fmt(core_rate, 'flops')} per {hw.compute.core_name} (peak x "
                    f"{hw.matrix_efficiency(dtype):.2f} sustained) on a {tile[0]}x{tile[1]} "
                    f"tile move {per_flop * 1e3:.2f} B per kFLOP through SRAM = {_fmt(need, 'bandwidth')}; "
                    f"memory.{name}.bandwidth{'' if core else ' / cores'} {_fmt(bandwidth, 'bandwidth')} "
                    f"{verdict}{fix}")]


# ----- per-core figures vs chip figures ---------------------------------------------------------------------
def _agree(check: str, what: str, derived: float, given: float, dimension: str) -> Finding:
    ratio = derived / given
    ok = abs(ratio - 1) <= RATIO_TOLERANCE
    return Finding(check, ok, f"{what} = {_fmt(derived, dimension)} vs given {_fmt(given, dimension)} "
                              f"({ratio:.2f}x{'' if ok else f'; more than {RATIO_TOLERANCE:.0%} apart'})")


def _per_core_vs_chip(hw: HardwareSpec) -> list[Finding]:
    out = []
    c = hw.compute
    if "fp32" in hw.vector.peak:
        out.append(_agree("per-core-vs-chip", f"vector.lanes_per_core {hw.vector.lanes_per_core} x {c.cores} "
                          f"cores x 2 (FMA) x {_fmt(c.clock, 'frequency')}",
                          hw.vector.lanes_per_core * c.cores * 2 * c.clock, hw.vector.peak["fp32"], "flops"))
    micro = hw.core
    sram = next(((n, lv) for n, lv in hw.memory.items() if lv.kind == "sram" and lv.scope == "core"), None)
    if micro.sram_banks and micro.sram_bank_bytes and sram:
        ports = micro.sram_ports or 1
        out.append(_agree("per-core-vs-chip", f"core.sram_banks {micro.sram_banks} x {micro.sram_bank_bytes:g} B x "
                          f"{ports} ports x {_fmt(c.clock, 'frequency')}",
                          micro.sram_banks * micro.sram_bank_bytes * ports * c.clock, sram[1].bandwidth, "bandwidth"))
    registers = next((lv for lv in hw.memory.values() if lv.kind == "registers" and lv.scope == "core"), None)
    if micro.register_file and registers:
        out.append(_agree("per-core-vs-chip", "core.register_file", micro.register_file, registers.capacity, "bytes"))
    return out


def _sustained_clock(hw: HardwareSpec) -> list[Finding]:
    c = hw.compute
    if c.sustained_clock is None:
        return []
    ratio = c.sustained_clock / c.clock
    ok = MIN_SUSTAINED <= ratio <= 1
    why = "" if ok else ("; above the quoted clock (peaks are quoted at compute.clock)" if ratio > 1
                         else f"; below {MIN_SUSTAINED:.0%} of it, a wrong unit?")
    return [Finding("sustained-clock", ok, f"compute.sustained_clock {_fmt(c.sustained_clock, 'frequency')} = "
                                           f"{ratio:.2f} x compute.clock {_fmt(c.clock, 'frequency')}{why}")]


def _power_limit(hw: HardwareSpec) -> list[Finding]:
    """A limit above the TDP was accepted without a word and changes nothing (the clock is the TDP's)."""
    if hw.power is None or hw.power.limit is None:
        return []
    limit, tdp = hw.power.limit, hw.power.tdp
    ok = limit <= tdp
    return [Finding("power-limit", ok, f"power.limit {_fmt(limit, 'power')} vs power.tdp {_fmt(tdp, 'power')}"
                    + ("" if ok else ": a limit above the TDP has no effect (the clock stays the TDP's); lower it or "
                                     "leave it unset"))]


# ----- memory hierarchy -------------------------------------------------------------------------------------
def _hierarchy(hw: HardwareSpec) -> list[Finding]:
    """Bandwidth over every step outward; capacity only between chip-wide levels (the cores' private SRAMs
    together may hold more than a shared L2: MI355X's 256 x 160 KiB of LDS = 40 MiB against 32 MiB of L2)."""
    out = []
    pad = hw.scratchpad_name  # beside the chain, not in it: a second home for data (HardwareSpec.memory_seconds)
    levels = [(name, *hw.level_total(name), lv.scope) for name, lv in hw.memory.items()
              if lv.kind != "host" and name != pad]
    for (inner, inner_cap, inner_bw, scope), (outer, outer_cap, outer_bw, _) in itertools.pairwise(levels):
        ok_bw = outer_bw <= inner_bw * (1 + 1e-9)
        out.append(Finding("hierarchy", ok_bw, f"chip bandwidth {inner} {_fmt(inner_bw, 'bandwidth')} -> {outer} "
                           f"{_fmt(outer_bw, 'bandwidth')}" + ("" if ok_bw else ": grows outward (memory levels are "
                                                                "listed innermost first; a per-core level "
                                                                "counts x cores)")))
        ok_cap = scope != "chip" or outer_cap >= inner_cap * (1 - 1e-9)
        if not ok_cap:
            out.append(Finding("hierarchy", False, f"chip capacity {inner} {_fmt(inner_cap, 'bytes')} -> {outer} "
                                                   f"{_fmt(outer_cap, 'bytes')}: shrinks outward"))
        inner_lat, outer_lat = hw.memory[inner].latency, hw.memory[outer].latency
        if inner_lat is not None and outer_lat is not None and outer_lat < inner_lat * (1 - 1e-9):
            out.append(Finding("hierarchy", False, f"latency {inner} {_fmt(inner_lat, 'time')} -> {outer} "
                                                   f"{_fmt(outer_lat, 'time')}: shrinks outward (memory levels are "
                                                   "listed innermost first; check the order and the units)"))
    if pad is not None:
        pad_bw, dram_bw = hw.memory[pad].bandwidth, hw.hbm_bandwidth
        out.append(Finding("hierarchy", pad_bw > dram_bw, f"scratchpad {pad} {_fmt(pad_bw, 'bandwidth')} vs main "
                           f"memory {_fmt(dram_bw, 'bandwidth')}" + ("" if pad_bw > dram_bw else
                                                                     ": a scratchpad no faster than DRAM")))
    return out


def _capacity(hw: HardwareSpec) -> list[Finding]:
    out = []
    main = hw.main_memory.capacity
    on_chip = sum(hw.level_total(n)[0] for n, lv in hw.memory.items() if lv.kind in ("registers", "sram", "cache"))
    out.append(Finding("capacity", on_chip < main, f"on-chip {_fmt(on_chip, 'bytes')} vs main memory "
                                                   f"{_fmt(main, 'bytes')}"))
    pads = [n for n, lv in hw.memory.items() if lv.kind == "sram" and lv.scope == "chip"]
    if len(pads) > 1:
        out.append(Finding("capacity", False, f"{len(pads)} chip-wide SRAM levels ({', '.join(pads)}): only the "
                                              f"first, {pads[0]}, is modelled; merge them into one level"))
    return out


# ----- peak ratios ------------------------------------------------------------------------------------------
# (wider, narrower, lowest and highest plausible ratio narrower / wider). fp4 up to 3x fp8: Blackwell Ultra
# (B300) quotes dense NVFP4 at 15 PFLOP/s against 5 for FP8 (NVIDIA Blackwell Ultra technical blog).
PEAK_LADDER = (("tf32", "bf16", 1.0, 2.0), ("fp16", "bf16", 1.0, 1.0), ("bf16", "fp8_e4m3", 1.0, 2.0),
               ("fp8_e4m3", "fp8_e5m2", 1.0, 1.0), ("fp8_e4m3", "fp4_e2m1", 1.0, 3.0),
               ("fp8_e4m3", "mxfp8", 1.0, 1.0), ("fp6_e3m2", "mxfp6", 1.0, 1.0), ("fp4_e2m1", "mxfp4", 1.0, 1.0),
               ("fp4_e2m1", "nvfp4", 1.0, 1.0))


def _peak_ratios(hw: HardwareSpec) -> list[Finding]:
    peak = hw.matrix.peak
    out = []
    for wide, narrow, low, high in PEAK_LADDER:
        if wide in peak and narrow in peak:
            ratio = peak[narrow] / peak[wide]
            ok = low * (1 - 1e-3) <= ratio <= high * (1 + 1e-3)
            expect = f"{low:g}x" if low == high else f"{low:g}-{high:g}x"
            out.append(Finding("peak-ratios", ok, f"matrix.peak.{narrow} / {wide} = {ratio:.2f} (expected {expect})"))
    matrix16 = peak.get("bf16") or peak.get("fp16")
    vector32 = hw.vector.peak.get("fp32")
    if matrix16 and vector32:
        out.append(Finding("peak-ratios", matrix16 >= vector32, f"matrix 16-bit {_fmt(matrix16, 'flops')} vs vector "
                                                                f"fp32 {_fmt(vector32, 'flops')}"))
    return out


# ----- magnitudes that suggest a wrong unit -----------------------------------------------------------------
def _units(hw: HardwareSpec) -> list[Finding]:
    out = []
    clock = hw.compute.clock
    out.append(Finding("units", 1e8 <= clock <= 1e10, f"compute.clock {_fmt(clock, 'frequency')} (expected "
                                                      "100 MHz - 10 GHz)"))
    if hw.kind != "cpu":
        dram = hw.main_memory
        out.append(Finding("units", dram.bandwidth >= 1e10 and dram.capacity >= 1e9,
                           f"main memory {_fmt(dram.capacity, 'bytes')} at {_fmt(dram.bandwidth, 'bandwidth')} "
                           "(an accelerator has >= 1 GB at >= 10 GB/s)"))
    per_clock = max(hw.matrix.peak.values(), default=0.0) / hw.compute.cores / clock
    out.append(Finding("units", per_clock <= 1e7, f"matrix peak = {per_clock:,.0f} FLOP per clock per "
                                                  f"{hw.compute.core_name} (expected <= 10 M)"))
    for name, level in hw.memory.items():
        if level.kind in ("registers", "sram", "cache") and level.latency is not None and level.latency > 1e-5:
            out.append(Finding("units", False, f"memory.{name}.latency {_fmt(level.latency, 'time')} for an on-chip "
                                               "level (expected < 10 us: ns?)"))
    return out
