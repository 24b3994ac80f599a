"""The analytical level: tile-level models with a mapping search. Registered as level="analytical"."""

from __future__ import annotations

from ...hardware import HardwareSpec
from ...workload.ops import Attention, Collective, Gemm, GroupedGemm, Op
from ..estimate import Estimate, register_level
from .gemm import GemmMapping, gemm_mapping
from .ops import attention, collective, collective_seconds, gemm, grouped_gemm, streaming


def analytical(op: Op, hw: HardwareSpec) -> Estimate:
    if isinstance(op, Gemm):
        return gemm(op, hw)
    if isinstance(op, GroupedGemm):
        return grouped_gemm(op, hw)
    if isinstance(op, Attention):
        return attention(op, hw)
    if isinstance(op, Collective):
        return collective(op, hw)
    return streaming(op, hw)  # elementwise, norms, softmax, reductions, embedding, (de)quantize


register_level("analytical", analytical)

__all__ = ["GemmMapping", "analytical", "collective_seconds", "gemm_mapping"]
