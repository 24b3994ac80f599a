"""The analytical level: tile-level models with a mapping search, one module per op family (every parameter is a
named spec field or a constant with its reason; nothing is keyed by shape). Registered as level="analytical".

gemm.py: the GEMM tile mapping search; matmul.py: GEMM / grouped-GEMM estimates; attention.py; streaming.py
(memory-bound ops); collectives.py; common.py: the Estimate every model returns."""

from __future__ import annotations

from collections.abc import Sequence

from ...hardware import HardwareSpec
from ...workload.ops import Attention, Collective, Gemm, GroupedGemm, Op
from ..estimate import Estimate, register_level
from .attention import attention
from .collectives import collective, collective_seconds
from .gemm import GemmMapping, gemm_mapping
from .matmul import gemm, gemms, grouped_gemm
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


def analytical_many(ops: Sequence[Op], hw: HardwareSpec) -> list[Estimate]:
    """`analytical` of each op, the same estimates, the GEMMs' tile searches run together (`gemms`): a whole-model
    estimate's distinct GEMMs (estimate_graphs) cost about one search's numpy calls, not one search each."""
    at = [i for i, op in enumerate(ops) if isinstance(op, Gemm)]
    if len(at) < 2:
        return [analytical(op, hw) for op in ops]
    found = dict(zip(at, gemms([ops[i] for i in at], hw), strict=True))
    return [found[i] if i in found else analytical(op, hw) for i, op in enumerate(ops)]


register_level("analytical", analytical, many=analytical_many)

__all__ = ["GemmMapping", "analytical", "collective_seconds", "gemm_mapping"]
