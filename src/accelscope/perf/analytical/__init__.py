"""The analytical level: tile-level models with a mapping search, one module per op family (every parameter is a
named spec field or a constant with its reason; nothing is keyed by shape). Registered as level="analytical".

gemm.py: the GEMM tile mapping search; matmul.py: GEMM / grouped-GEMM estimates; attention.py; streaming.py
(memory-bound ops); collectives.py; common.py: the Estimate every model returns."""

from __future__ import annotations

from ...hardware import HardwareSpec
from ...workload.ops import Attention, Collective, Gemm, GroupedGemm, Op
from ..estimate import Estimate, register_level
from .attention import attention
from .collectives import collective, collective_seconds
from .gemm import GemmMapping, gemm_mapping
from .matmul import gemm, grouped_gemm
from .streaming import streaming


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
