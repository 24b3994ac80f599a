"""What every op shares: its cost record (`OpCost`), the `Op` base, argument checks and the counting
constants (2 FLOPs per multiply-add, the attention conventions of DESIGN.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from ...hardware.dtypes import canonical_dtype, dtype_bytes

FMA_FLOPS = 2  # one multiply-add = 2 FLOPs

# Vector FLOPs per score element of an online (FlashAttention) softmax, forward: one max-compare, one
# subtract-and-scale (an FMA: x*log2e - m*log2e), one add into the row sum; the exp is on the SFU.
# NB: the per-block rescale of the output accumulator (Dv per row per KV block) is second order and not counted.
ONLINE_SOFTMAX_VECTOR_FLOPS = 4
# Backward per score: recompute P (FMA + exp), dS = P * (dP - delta): subtract and multiply.
ATTENTION_BWD_VECTOR_FLOPS = 4
# FlashAttention FLOP convention: backward = 2.5x forward matrix work (DESIGN.md, FA2 benchmark script).
ATTENTION_BWD_MATRIX_FACTOR = 2.5
# Paged KV caches (vLLM's PagedAttention, Kwon et al. SOSP 2023): a block table of int32 page ids per sequence,
# and each page fetched from DRAM in whole 32-byte sectors (CUDA C++ Best Practices Guide, "Coalesced Access to
# Global Memory": accesses are serviced in 32-byte segments).
BLOCK_TABLE_ENTRY_BYTES = 4
DRAM_SECTOR_BYTES = 32


@dataclass(frozen=True, slots=True)
class OpCost:
    """The work of one op, independent of any hardware."""

    matrix_flops: float = 0.0
    matrix_dtype: str | None = None  # dtype whose matrix peak prices matrix_flops
    vector_flops: float = 0.0
    vector_dtype: str = "fp32"
    # operand elements converted from their stored format to the matrix path's as they are loaded (weight-only
    # quantization); priced per chip at HardwareSpec.dequantize_flops on the FP32 vector unit, not counted in flops
    convert_elements: float = 0.0
    sfu_ops: tuple[tuple[str, float], ...] = ()  # (function, count): exp2, rcp, rsqrt, ...
    bytes_read: float = 0.0
    bytes_written: float = 0.0
    comm_bytes: float = 0.0  # payload per device for collectives
    comm_kind: str | None = None
    comm_group: int = 1
    comm_stride: int = 1
    # operands start in the chip-wide cache (the previous kernel wrote them, or a benchmark loop re-runs on buffers
    # that fit) and results stay there: memory time at the cache's bandwidth when the working set fits
    cached: bool = False

    @property
    def bytes(self) -> float:
        return self.bytes_read + self.bytes_written

    @property
    def flops(self) -> float:
        return self.matrix_flops + self.vector_flops


class Op:
    """Base of every IR op. Subclasses are frozen dataclasses and implement `cost()`."""

    kind: ClassVar[str] = "op"

    def cost(self) -> OpCost:  # pragma: no cover - every subclass overrides
        raise NotImplementedError(type(self).__name__)

    @property
    def name(self) -> str:
        return self.kind

    def describe(self) -> str:
        shown = (f for f in dataclasses.fields(self) if getattr(self, f.name) != f.default)  # type: ignore[arg-type]
        return f"{type(self).__name__}({', '.join(f'{f.name}={getattr(self, f.name)}' for f in shown)})"


# Largest size any op dimension (rows, lengths, elements, bytes) may have: far above real ones (a 671B-parameter
# optimizer step streams 7e11 elements) and small enough that products of several stay finite as floats.
MAX_DIM = 10**15


def _positive(op: object, **values: float) -> None:
    """Sizes: > 0 and at most MAX_DIM (NaN fails both)."""
    for key, value in values.items():
        if value is None or not value > 0:
            raise ValueError(f"{type(op).__name__}.{key}: must be > 0 (got {value})")
        if not value <= MAX_DIM:
            shown = f"a {len(str(value))}-digit number" if isinstance(value, int) else f"{value:g}"
            raise ValueError(f"{type(op).__name__}.{key}: must be at most 1e15 (got {shown})")


def _check_dtype(op: object, key: str, value: str | None) -> None:
    if value is None:
        return
    try:
        canonical_dtype(value)
    except ValueError as exc:
        raise ValueError(f"{type(op).__name__}.{key}: {exc}") from None


def default_out_dtype(dtype: str, out_dtype: str | None) -> str:
    """Default output: the input dtype if it is 16 bits or wider, else bf16 (FP8/FP4 GEMMs emit bf16)."""
    if out_dtype is not None:
        return canonical_dtype(out_dtype)
    return dtype if dtype_bytes(dtype) >= 2 else "bf16"


def add_costs(a: OpCost, b: OpCost, count: float = 1.0) -> OpCost:
    """`a` plus `count` times `b` (sum_costs of the two)."""
    return sum_costs(((a, 1.0), (b, count)))


def sum_costs(parts: Iterable[tuple[OpCost, float]]) -> OpCost:
    """The sum of each cost times its count, added in order (SFU ops merged by function), the running totals kept
    as numbers rather than an OpCost per part (a graph of many nodes sums in one pass)."""
    matrix = vector = convert = read = written = comm = 0.0
    matrix_dtype: str | None = None
    sfu: dict[str, float] = {}
    for cost, count in parts:
        matrix += cost.matrix_flops * count
        matrix_dtype = matrix_dtype or cost.matrix_dtype
        vector += cost.vector_flops * count
        for fn, n in cost.sfu_ops:
            sfu[fn] = sfu.get(fn, 0.0) + n * count
        read += cost.bytes_read * count
        written += cost.bytes_written * count
        comm += cost.comm_bytes * count
        convert += cost.convert_elements * count
    return OpCost(matrix_flops=matrix, matrix_dtype=matrix_dtype, vector_flops=vector, sfu_ops=tuple(sfu.items()),
                  bytes_read=read, bytes_written=written, comm_bytes=comm, convert_elements=convert)
