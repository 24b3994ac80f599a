"""GEMM and grouped-GEMM estimates: the tile mapping (gemm.py) plus block-scale promotion and operand conversion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from ...hardware import HardwareSpec
from ...hardware.dtypes import canonical_dtype, dtype_bytes, element_bits, element_format
from ...workload.ops import (
    Gemm,
    GroupedGemm,
    OpCost,
    default_out_dtype,
)
from ..estimate import Estimate
from .common import _estimate
from .gemm import (
    BlockScaling,
    GemmArgs,
    GemmKernel,
    GemmMapping,
    gemm_mapping,
    gemm_mappings,
    gemm_seconds,
    grouped_rows,
    library_kernel,
    mapping_of,
)
from .tinygemm import issue_seconds, runs_tinygemm

SCALE_BLOCK = {"mxfp8": 32, "mxfp6": 32, "mxfp4": 32, "nvfp4": 16}


def block_scaling(op: Gemm | GroupedGemm, hw: HardwareSpec,
                  cost: OpCost | None = None) -> tuple[BlockScaling | None, str]:
    """The vector work block scaling and operand conversion cost this GEMM on this chip, and why (--explain).

    - an operand stored in another element format than the matrix path the chip runs the product on (W4A16 /
      W8A16 weights into a 16-bit MMA; FP8 or MX on a chip without that rate) is converted as it is loaded:
      HardwareSpec.dequantize_flops(path) per element (isa.dequantize_ops lane slots), a block format's
      scale multiply included;
    - explicit `scale_block` (FP8 with FP32 block scales, DeepSeek-V3): promote every scale_block of K;
    - an MX/NVFP4 dtype with a native block-scaled matrix rate (Blackwell tcgen05, MI355X): scales are applied
      inside the MMA, nothing extra;
    - an MX/NVFP4 dtype on a plain path of its element format: promote at every scale block of K (16 or 32)."""
    cost = cost or op.cost()
    dtype, b_dtype = canonical_dtype(op.dtype), canonical_dtype(op.b_dtype or op.dtype)
    chosen = hw.matrix_dtype(cost.matrix_dtype) or cost.matrix_dtype
    converted = [(name, d) for name, d in (("A", dtype), ("B", b_dtype)) if element_format(d) != element_format(chosen)]
    a_flops = hw.dequantize_flops(chosen) if any(name == "A" for name, _ in converted) else 0.0
    b_flops = hw.dequantize_flops(chosen) if any(name == "B" for name, _ in converted) else 0.0
    reasons = [f"{' and '.join(n for n, d in converted if d == fmt)} ({fmt}) converted to {chosen} on load"
               for fmt in dict.fromkeys(d for _, d in converted)]
    promote_every = 0
    scale_block = getattr(op, "scale_block", None)  # a grouped GEMM has none
    if scale_block:
        promote_every = scale_block
        reasons.append(f"FP32 block scales every {scale_block} of K")
    elif dtype in SCALE_BLOCK and chosen not in SCALE_BLOCK and not a_flops:
        promote_every = SCALE_BLOCK[dtype]
        reasons.append(f"{dtype} on the {chosen} path: partial sums promoted every {promote_every} of K")
    elif dtype in SCALE_BLOCK and chosen in SCALE_BLOCK:
        reasons.append("native")
    if not (promote_every or a_flops or b_flops):
        return None, "; ".join(reasons)
    scaling = BlockScaling(promote_every, Gemm.PROMOTION_FLOPS if promote_every else 0.0, a_flops, b_flops)
    return scaling, "; ".join(reasons)


def _tile_bytes(op: Gemm | GroupedGemm) -> float:
    """Element bytes the tile search sizes slabs by: a block format's element width (mxfp8 tiles as fp8_e4m3)."""
    return max(element_bits(op.dtype), element_bits(op.b_dtype or op.dtype)) / 8


def gemm(op: Gemm, hw: HardwareSpec) -> Estimate:
    if runs_tinygemm(op, hw):
        return tinygemm(op, hw)
    search = _search(op, hw)
    return _gemm_estimate(op, hw, search, mapping_of(search.args, hw))


def gemms(ops: Sequence[Gemm], hw: HardwareSpec) -> list[Estimate]:
    """`gemm` of each op, the same estimates, their tile searches run together (`gemm_mappings`: one array
    operation over the candidates of all the GEMMs that share a candidate set)."""
    tiny = [runs_tinygemm(op, hw) for op in ops]
    searches = [_search(op, hw) for op, t in zip(ops, tiny, strict=True) if not t]
    mappings = iter(gemm_mappings([search.args for search in searches], hw))
    found = iter(searches)
    return [tinygemm(op, hw) if t else _gemm_estimate(op, hw, next(found), next(mappings))
            for op, t in zip(ops, tiny, strict=True)]


class _Search(NamedTuple):
    """What a GEMM's estimate reads besides its mapping, and the mapping search's arguments."""

    cost: OpCost
    why: str
    kernel: GemmKernel | None
    args: GemmArgs


def _search(op: Gemm, hw: HardwareSpec) -> _Search:
    cost = op.cost()
    a_bytes = dtype_bytes(op.dtype)
    b_bytes = dtype_bytes(op.b_dtype or op.dtype)
    c_bytes = dtype_bytes(default_out_dtype(op.dtype, op.out_dtype))
    scaling, why = block_scaling(op, hw, cost)
    peak = hw.matrix_peak(cost.matrix_dtype) * hw.matrix_efficiency(cost.matrix_dtype)
    kernel = library_kernel(op.kernel, op.m, op.n, op.k, hw) if op.kernel else None
    return _Search(cost, why, kernel, GemmArgs(
        op.m, op.n, op.k, op.batch, a_bytes, b_bytes, c_bytes, peak, shared_b=op.shared_b, scaling=scaling,
        stream_k=op.schedule == "stream-k", tile_bytes=_tile_bytes(op), kernel=kernel,
        k_group_share=op.k_group_share))


def _gemm_estimate(op: Gemm, hw: HardwareSpec, search: _Search, mapping: GemmMapping) -> Estimate:
    cost, why, kernel = search.cost, search.why, search.kernel
    seconds = gemm_seconds(mapping)
    busy = {"matrix": mapping.mma_seconds, "memory": max(mapping.hbm_seconds, mapping.l2_seconds,
                                                         mapping.sram_seconds), "vector": mapping.vector_seconds}
    # one truth: the estimate's bound is the resource ("memory"); which level of it limits is memory_level
    mapped = {k: v for k, v in mapping.as_dict().items() if k != "bound"}
    details: dict[str, object] = {"mapping": mapped, "matrix_dtype": hw.matrix_dtype(cost.matrix_dtype)}
    if kernel is not None:
        details["kernel"] = kernel.name
    if why:
        details["block_scaling"] = why
    bound = "memory" if mapping.bound in ("l2", "sram") else mapping.bound
    if bound == "memory":
        details["memory_level"] = _memory_level(hw, mapping.bound)
    return _estimate(op, hw, busy, seconds, cost, details, bound)


def tinygemm(op: Gemm, hw: HardwareSpec) -> Estimate:
    """PyTorch's int4 weight-only kernel (perf/analytical/tinygemm.py): its loads and its instructions do not
    overlap, so the DRAM time of its bytes and the busiest SM's issue time add up (after one DRAM latency)."""
    cost = op.cost()
    latency = hw.main_memory.latency or 0.0
    memory = hw.memory_seconds(cost.bytes_read, cost.bytes_written, cost.bytes) + latency
    issue = issue_seconds(op, hw)
    details: dict[str, object] = {"kernel": "tinygemm", "memory_seconds": memory, "issue_seconds": issue}
    bound = "memory" if memory >= issue else "vector"
    return _estimate(op, hw, {"memory": memory, "vector": issue}, memory + issue, cost, details, bound)


def _memory_level(hw: HardwareSpec, limiter: str) -> str:
    """The spec's name of the memory level a GEMM mapping is bound by ("sram": the core's, "l2": the chip cache,
    "memory": main memory)."""
    kind, scope = {"sram": ("sram", "core"), "l2": ("cache", "chip")}.get(limiter, ("dram", "chip"))
    return next((name for name, lv in hw.memory.items() if lv.kind == kind and lv.scope == scope),
                hw.main_memory_name)


def grouped_gemm(op: GroupedGemm, hw: HardwareSpec) -> Estimate:
    """One persistent launch over all groups: each distinct group size is a batch of same-shape GEMMs."""
    cost = op.cost()
    a_bytes, b_bytes = dtype_bytes(op.dtype), dtype_bytes(op.b_dtype or op.dtype)
    c_bytes = dtype_bytes(default_out_dtype(op.dtype, op.out_dtype))
    peak = hw.matrix_peak(cost.matrix_dtype) * hw.matrix_efficiency(cost.matrix_dtype)
    scaling, why = block_scaling(op, hw, cost)
    seconds = mma = memory = vector = 0.0
    parts = []
    for m, count in grouped_rows(op.rows):
        kernel = library_kernel(op.kernel, int(m), op.n, op.k, hw) if op.kernel else None
        mapping = gemm_mapping(m, op.n, op.k, count, a_bytes, b_bytes, c_bytes, peak, hw, scaling=scaling,
                               tile_bytes=_tile_bytes(op), kernel=kernel)
        seconds += gemm_seconds(mapping)
        mma += mapping.mma_seconds
        memory += max(mapping.hbm_seconds, mapping.l2_seconds, mapping.sram_seconds)
        vector += mapping.vector_seconds
        parts.append({"m": m, "groups": count, "tile": (mapping.block_m, mapping.block_n), "waves": mapping.waves})
    details: dict[str, object] = {"groups": parts}
    if op.kernel:
        details["kernel"] = op.kernel
    if why:
        details["block_scaling"] = why
    return _estimate(op, hw, {"matrix": mma, "memory": memory, "vector": vector}, seconds, cost, details)


# ----- attention ------------------------------------------------------------------------------------------------
