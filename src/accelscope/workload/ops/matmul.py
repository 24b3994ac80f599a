"""Matrix multiplications: dense GEMMs (weight-only quantized, block-scaled, stream-K) and grouped GEMMs (MoE experts)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ...hardware.dtypes import canonical_dtype, dtype_bytes, wider
from .base import FMA_FLOPS, MAX_DIM, Op, OpCost, _check_dtype, _positive, default_out_dtype

GEMM_SCHEDULES = ("data-parallel", "stream-k")
# Fixed library kernels whose tiles are not searched (perf/analytical/gemm.py library_kernel gives each one's tile,
# cluster and MMA from its source): torch._grouped_mm's CUTLASS grouped GEMM (aten/src/ATen/native/cuda/GroupMM.cu)
# and FBGEMM's MXFP8 grouped GEMM (mx8mx8bf16_grouped, behind torch._scaled_grouped_mm on Blackwell); PyTorch's
# int4 weight-only tinygemm (torch.ops.aten._weight_int4pack_mm, aten/src/ATen/native/cuda/int4mm.cu: priced by
# perf/analytical/tinygemm.py on NVIDIA chips, its int4 weights given as b_dtype int4_g32..int4_g128).
GEMM_KERNELS = ("torch-grouped-mm", "fbgemm-mx8-grouped", "tinygemm")


def converted_weights(b_dtype: str, matrix_dtype: str, weights: float) -> float:
    """The least number of weight elements converted to the matrix dtype: each once (a tiled kernel converts B again
    for every row of tiles; the analytical level counts that)."""
    return weights if canonical_dtype(b_dtype) != matrix_dtype else 0.0


@dataclass(frozen=True, slots=True)
class Gemm(Op):
    """C[batch, m, n] = A[batch, m, k] @ B[(batch,) k, n].

    `b_dtype` is the weight dtype when it differs (W4A16, FP8 weights); the product runs in the wider one, and
    each weight element is converted to it as it is loaded (HardwareSpec.dequantize_flops on the vector unit).
    `shared_b`: B is one matrix shared by every batch entry (weights), read once.
    `scale_block`: fine-grained software scaling along K with FP32 scales, as DeepSeek-V3 trains in FP8 (arXiv
    2412.19437 sec. 3.3): A scaled per row per 1 x `scale_block` tile, B per `scale_block` x `scale_block` block;
    every `scale_block` of K the tensor-core partial sums are promoted to FP32 and scaled on the vector unit,
    3 FLOPs per output element (scale_a * scale_b, then an FMA into the FP32 accumulator).
    `schedule` (read by the analytical level): "data-parallel" tiles in waves over the cores, with split-K where
    the tiles cannot fill the chip (what the measured cuBLAS/hipBLASLt rows behave like); "stream-k" also offers
    persistent stream-K kernels (Osama et al., PPoPP 2023), which trade the tail wave for a partial-tile fixup.
    `kernel`: a fixed library kernel (GEMM_KERNELS) that runs the product with its own tile, cluster and MMA
    instead of the tile an autotuner would search for (None: searched).
    `k_group_share`: the batch entries are groups of one contraction split unevenly (a 2D-2D grouped GEMM, the
    MoE weight gradient, whose groups along K hold each expert's tokens): the largest group's share of the summed
    K, whose tiles take that much longer (k is the mean group's K); None: equal groups.
    """

    m: int
    n: int
    k: int
    dtype: str = "bf16"
    batch: int = 1
    out_dtype: str | None = None
    b_dtype: str | None = None
    shared_b: bool = False
    scale_block: int | None = None
    schedule: str = "data-parallel"  # GEMM_SCHEDULES
    kernel: str | None = None  # GEMM_KERNELS
    k_group_share: float | None = None
    kind: ClassVar[str] = "gemm"

    PROMOTION_FLOPS: ClassVar[int] = 3  # per output element per K block

    def __post_init__(self) -> None:
        _positive(self, m=self.m, n=self.n, k=self.k, batch=self.batch)
        if self.scale_block is not None:
            _positive(self, scale_block=self.scale_block)
        if self.schedule not in GEMM_SCHEDULES:
            raise ValueError(f"Gemm.schedule: unknown schedule {self.schedule!r}; use one of "
                             f"{', '.join(GEMM_SCHEDULES)}")
        if self.kernel is not None and self.kernel not in GEMM_KERNELS:
            raise ValueError(f"Gemm.kernel: unknown kernel {self.kernel!r}; use one of {', '.join(GEMM_KERNELS)}")
        if self.k_group_share is not None and not 1 / self.batch <= self.k_group_share <= 1:
            raise ValueError(f"Gemm.k_group_share: {self.k_group_share} is not a share of {self.batch} groups "
                             f"(1/{self.batch} to 1)")
        for key in ("dtype", "out_dtype", "b_dtype"):
            _check_dtype(self, key, getattr(self, key))

    def cost(self) -> OpCost:
        a_dtype = canonical_dtype(self.dtype)
        b_dtype = canonical_dtype(self.b_dtype or self.dtype)
        b_copies = 1 if self.shared_b else self.batch
        read = self.batch * self.m * self.k * dtype_bytes(a_dtype) + b_copies * self.k * self.n * dtype_bytes(b_dtype)
        written = self.batch * self.m * self.n * dtype_bytes(default_out_dtype(a_dtype, self.out_dtype))
        promotion = 0.0
        if self.scale_block:
            blocks = math.ceil(self.k / self.scale_block)
            read += 4 * (self.batch * self.m * blocks + b_copies * blocks * math.ceil(self.n / self.scale_block))
            promotion = self.PROMOTION_FLOPS * self.batch * self.m * self.n * blocks
        matrix_dtype = wider(a_dtype, b_dtype)
        return OpCost(
            matrix_flops=FMA_FLOPS * self.batch * self.m * self.n * self.k,
            matrix_dtype=matrix_dtype,
            vector_flops=promotion,
            convert_elements=converted_weights(b_dtype, matrix_dtype, b_copies * self.k * self.n),
            bytes_read=read,
            bytes_written=written,
        )


MAX_GROUPS = 1 << 16  # experts of one grouped GEMM: MoE models have up to a few hundred


@dataclass(frozen=True, slots=True)
class GroupedGemm(Op):
    """MoE expert GEMMs: group g multiplies m_g tokens [m_g, k] by its own weight [k, n].

    Give either `m_per_group` (an exact, possibly uneven distribution) or `tokens` (spread evenly).
    Groups with no tokens read no weights. `kernel`: a fixed library kernel (GEMM_KERNELS, e.g. torch._grouped_mm's
    "torch-grouped-mm") that runs every group with its own tile, as Gemm.kernel (None: the tile is searched).
    """

    groups: int
    n: int
    k: int
    dtype: str = "bf16"
    m_per_group: tuple[int, ...] | None = None
    tokens: int | None = None
    out_dtype: str | None = None
    b_dtype: str | None = None
    kernel: str | None = None  # GEMM_KERNELS
    kind: ClassVar[str] = "grouped_gemm"

    def __post_init__(self) -> None:
        _positive(self, groups=self.groups, n=self.n, k=self.k)
        if self.kernel is not None and self.kernel not in GEMM_KERNELS:
            raise ValueError(f"GroupedGemm.kernel: unknown kernel {self.kernel!r}; use one of "
                             f"{', '.join(GEMM_KERNELS)}")
        if self.groups > MAX_GROUPS:  # each group is a row count in a tuple: bound the tuple
            raise ValueError(f"GroupedGemm.groups: at most {MAX_GROUPS:,} (got {self.groups:,})")
        if (self.m_per_group is None) == (self.tokens is None):
            raise ValueError("GroupedGemm.tokens: give exactly one of tokens (total rows) or m_per_group (rows per "
                             "group)")
        if self.m_per_group is not None:
            if len(self.m_per_group) != self.groups:
                raise ValueError(
                    f"GroupedGemm.m_per_group: has {len(self.m_per_group)} entries; expected groups={self.groups}"
                )
            if any(not 0 <= m <= MAX_DIM for m in self.m_per_group):
                raise ValueError("GroupedGemm.m_per_group: entries must be >= 0 and at most 1e15")
        elif self.tokens is not None and not 0 <= self.tokens <= MAX_DIM:
            raise ValueError(f"GroupedGemm.tokens: must be >= 0 and at most 1e15 (got {self.tokens})")
        for key in ("dtype", "out_dtype", "b_dtype"):
            _check_dtype(self, key, getattr(self, key))

    @property
    def rows(self) -> tuple[float, ...]:
        if self.m_per_group is not None:
            return tuple(float(m) for m in self.m_per_group)
        return (self.tokens / self.groups,) * self.groups  # type: ignore[operator]

    def cost(self) -> OpCost:
        a_dtype = canonical_dtype(self.dtype)
        b_dtype = canonical_dtype(self.b_dtype or self.dtype)
        rows = self.rows
        total = sum(rows)
        active = sum(1 for m in rows if m > 0)
        read = total * self.k * dtype_bytes(a_dtype) + active * self.k * self.n * dtype_bytes(b_dtype)
        matrix_dtype = wider(a_dtype, b_dtype)
        return OpCost(
            matrix_flops=FMA_FLOPS * total * self.n * self.k,
            matrix_dtype=matrix_dtype,
            convert_elements=converted_weights(b_dtype, matrix_dtype, active * self.k * self.n),
            bytes_read=read,
            bytes_written=total * self.n * dtype_bytes(default_out_dtype(a_dtype, self.out_dtype)),
        )


