"""Derived, datasheet-style figures of a spec: what `accelscope hw show` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .units import format_quantity

if TYPE_CHECKING:
    from .spec import HardwareSpec


def summary_rows(hw: HardwareSpec) -> dict[str, str]:
    """One-line-per-fact summary (strings for humans; `derived_figures` has the numbers)."""
    rows = {
        "chip": f"{hw.name} ({hw.vendor}, {hw.kind})",
        "cores": f"{hw.compute.cores} {hw.compute.core_name}s @ {format_quantity(hw.compute.clock, 'frequency')}",
        "main memory": f"{format_quantity(hw.main_memory.capacity, 'bytes')} @ "
        f"{format_quantity(hw.hbm_bandwidth, 'bandwidth')}",
    }
    for dtype, peak in hw.matrix.peak.items():
        rows[f"matrix {dtype}"] = f"{format_quantity(peak, 'flops')} (ridge {hw.ridge_point(dtype):.0f} FLOP/B)"
    exp_rate = hw.sfu_rate("exp2")
    if exp_rate:
        rows["sfu exp2"] = f"{format_quantity(exp_rate, 'flops').replace('FLOP', 'op')}"
    if hw.power:
        rows["tdp"] = format_quantity(hw.power.tdp, "power")
    return rows


def derived_figures(hw: HardwareSpec) -> dict[str, dict[str, float] | float | None]:
    """Numbers a co-design engineer reads first: ridge points, bytes per FLOP, SFU-to-matrix ratio."""
    ridge = {dtype: hw.ridge_point(dtype) for dtype in hw.matrix.peak}
    bytes_per_flop = {dtype: hw.hbm_bandwidth / peak for dtype, peak in hw.matrix.peak.items()}
    exp_rate = hw.sfu_rate("exp2")
    dense16 = hw.matrix.peak.get("bf16") or hw.matrix.peak.get("fp16")
    return {
        "ridge_point_flop_per_byte": ridge,
        "bytes_per_flop": bytes_per_flop,
        "sfu_exp2_ops_per_s": exp_rate,
        # FA3 sec. 3.2: 989 TFLOP/s of BF16 matmul vs 3.9 Tops/s of exp on H100 -> 1/256
        "sfu_to_matrix_bf16_ratio": (exp_rate / dense16) if (exp_rate and dense16) else None,
        "vector_fp32_flops": hw.vector.peak.get("fp32"),
        "main_memory_bytes": hw.main_memory.capacity,
        "main_memory_bandwidth": hw.hbm_bandwidth,
        "on_chip_sram_bytes": sum(
            hw.level_total(name)[0] for name, level in hw.memory.items() if level.kind in ("sram", "cache")
        ),
    }
