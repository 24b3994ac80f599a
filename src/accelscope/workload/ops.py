"""The operator IR: frozen dataclasses that know their own work.

Each op reports an `OpCost`: matrix FLOPs (and the dtype that prices them), vector FLOPs, special-function ops
by function, and the *minimum* bytes it must move to and from main memory (each input read once, each output
written once). Performance models decide how far reality is above that minimum.

Counting conventions (DESIGN.md): 2 FLOPs per multiply-add; attention forward = 4·B·H·Sq·Skv·D, half when
causal and Sq == Skv; backward = 2.5x forward.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from ..hardware.dtypes import canonical_dtype, dtype_bytes, wider

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


def _positive(op: object, **values: float) -> None:
    for key, value in values.items():
        if value is None or value <= 0:
            raise ValueError(f"{type(op).__name__}.{key}: must be > 0 (got {value})")


def _check_dtype(op: object, key: str, value: str | None) -> None:
    if value is None:
        return
    try:
        canonical_dtype(value)
    except ValueError as exc:
        raise ValueError(f"{type(op).__name__}.{key}: {exc}") from None


def _out_dtype(dtype: str, out_dtype: str | None) -> str:
    """Default output: the input dtype if it is 16 bits or wider, else bf16 (FP8/FP4 GEMMs emit bf16)."""
    if out_dtype is not None:
        return canonical_dtype(out_dtype)
    return dtype if dtype_bytes(dtype) >= 2 else "bf16"


GEMM_SCHEDULES = ("data-parallel", "stream-k")


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
    kind: ClassVar[str] = "gemm"

    PROMOTION_FLOPS: ClassVar[int] = 3  # per output element per K block

    def __post_init__(self) -> None:
        _positive(self, m=self.m, n=self.n, k=self.k, batch=self.batch)
        if self.scale_block is not None:
            _positive(self, scale_block=self.scale_block)
        if self.schedule not in GEMM_SCHEDULES:
            raise ValueError(f"Gemm.schedule: unknown schedule {self.schedule!r}; use one of "
                             f"{', '.join(GEMM_SCHEDULES)}")
        for key in ("dtype", "out_dtype", "b_dtype"):
            _check_dtype(self, key, getattr(self, key))

    def cost(self) -> OpCost:
        a_dtype = canonical_dtype(self.dtype)
        b_dtype = canonical_dtype(self.b_dtype or self.dtype)
        b_copies = 1 if self.shared_b else self.batch
        read = self.batch * self.m * self.k * dtype_bytes(a_dtype) + b_copies * self.k * self.n * dtype_bytes(b_dtype)
        written = self.batch * self.m * self.n * dtype_bytes(_out_dtype(a_dtype, self.out_dtype))
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


@dataclass(frozen=True, slots=True)
class GroupedGemm(Op):
    """MoE expert GEMMs: group g multiplies m_g tokens [m_g, k] by its own weight [k, n].

    Give either `m_per_group` (an exact, possibly uneven distribution) or `tokens` (spread evenly).
    Groups with no tokens read no weights.
    """

    groups: int
    n: int
    k: int
    dtype: str = "bf16"
    m_per_group: tuple[int, ...] | None = None
    tokens: int | None = None
    out_dtype: str | None = None
    b_dtype: str | None = None
    kind: ClassVar[str] = "grouped_gemm"

    def __post_init__(self) -> None:
        _positive(self, groups=self.groups, n=self.n, k=self.k)
        if (self.m_per_group is None) == (self.tokens is None):
            raise ValueError("GroupedGemm: give exactly one of m_per_group (per-group rows) or tokens (total rows)")
        if self.m_per_group is not None:
            if len(self.m_per_group) != self.groups:
                raise ValueError(
                    f"GroupedGemm.m_per_group: has {len(self.m_per_group)} entries; expected groups={self.groups}"
                )
            if any(m < 0 for m in self.m_per_group):
                raise ValueError("GroupedGemm.m_per_group: entries must be >= 0")
        elif self.tokens is not None and self.tokens < 0:
            raise ValueError(f"GroupedGemm.tokens: must be >= 0 (got {self.tokens})")
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
            bytes_written=total * self.n * dtype_bytes(_out_dtype(a_dtype, self.out_dtype)),
        )


@dataclass(frozen=True, slots=True)
class Attention(Op):
    """Scaled dot-product attention, FlashAttention style (scores never written to memory).

    GQA/MQA: kv_heads < heads. MLA and other asymmetric heads: `v_head_dim` differs from `head_dim`.
    Decode with a KV cache: q_len=1, kv_len=cache length. `window` limits each query to the last `window` keys.
    `variant` ("fa2", "fa3", "math" = unfused, None = best for the chip) is read by the analytical level;
    "mmha" (decode only) is the masked multi-head attention kernel of FasterTransformer and TensorRT-LLM <= 0.7:
    one thread block per (sequence, query head) on the vector units, each reading its KV head itself.
    """

    batch: int
    heads: int
    head_dim: int
    q_len: int
    kv_len: int
    kv_heads: int | None = None
    causal: bool = False
    dtype: str = "bf16"
    phase: Literal["fwd", "bwd", "fwd_bwd"] = "fwd"
    v_head_dim: int | None = None
    kv_dtype: str | None = None
    window: int | None = None
    variant: Literal["fa2", "fa3", "math", "mmha"] | None = None
    page_size: int | None = None  # paged KV cache: tokens per page (vLLM block_size); None = contiguous
    kind: ClassVar[str] = "attention"

    def __post_init__(self) -> None:
        _positive(self, batch=self.batch, heads=self.heads, head_dim=self.head_dim, q_len=self.q_len,
                  kv_len=self.kv_len)
        kv_heads = self.kv_heads or self.heads
        if kv_heads <= 0 or self.heads % kv_heads:
            raise ValueError(f"Attention.kv_heads: must divide heads={self.heads} (got {self.kv_heads})")
        if self.phase not in ("fwd", "bwd", "fwd_bwd"):
            raise ValueError(f"Attention.phase: expected fwd, bwd or fwd_bwd (got {self.phase!r})")
        if self.variant not in (None, "fa2", "fa3", "math", "mmha"):
            raise ValueError(f"Attention.variant: expected fa2, fa3, math, mmha or None (got {self.variant!r})")
        if self.variant == "mmha" and (self.q_len != 1 or self.phase != "fwd"):
            raise ValueError("Attention.variant='mmha' is a decode kernel: it needs q_len=1 and phase='fwd' "
                             f"(got q_len={self.q_len}, phase={self.phase!r}); use fa2/fa3 otherwise")
        if self.causal and self.q_len > self.kv_len:
            raise ValueError(f"Attention: causal needs q_len <= kv_len (got {self.q_len} > {self.kv_len})")
        if self.window is not None:
            _positive(self, window=self.window)
        if self.page_size is not None:
            _positive(self, page_size=self.page_size)
        _check_dtype(self, "dtype", self.dtype)
        _check_dtype(self, "kv_dtype", self.kv_dtype)

    @property
    def scores(self) -> float:
        """Visible (query, key) pairs per head, per batch entry.

        Causal with queries at the end of the sequence: query i sees kv_len - q_len + i + 1 keys; we use the
        continuous form Sq*Skv - Sq²/2, which is exactly half of Sq² when Sq == Skv (the FLOP convention).
        """
        sq, skv = float(self.q_len), float(self.kv_len)
        pairs = sq * skv - sq * sq / 2 if self.causal else sq * skv
        if self.window is not None and self.window < skv:
            pairs = min(pairs, sq * float(self.window))
        return pairs

    def forward_matrix_flops(self) -> float:
        dv = self.v_head_dim or self.head_dim
        return FMA_FLOPS * self.batch * self.heads * self.scores * (self.head_dim + dv)

    def cost(self) -> OpCost:
        fwd_flops = self.forward_matrix_flops()
        score_elems = self.batch * self.heads * self.scores
        matrix = {"fwd": 1.0, "bwd": ATTENTION_BWD_MATRIX_FACTOR, "fwd_bwd": 1 + ATTENTION_BWD_MATRIX_FACTOR}
        vector = {"fwd": ONLINE_SOFTMAX_VECTOR_FLOPS, "bwd": ATTENTION_BWD_VECTOR_FLOPS,
                  "fwd_bwd": ONLINE_SOFTMAX_VECTOR_FLOPS + ATTENTION_BWD_VECTOR_FLOPS}
        exps = {"fwd": 1, "bwd": 1, "fwd_bwd": 2}  # the backward recomputes P = exp(S - lse)
        read, written = self._traffic()
        return OpCost(
            matrix_flops=fwd_flops * matrix[self.phase],
            matrix_dtype=canonical_dtype(self.dtype),
            vector_flops=score_elems * vector[self.phase],
            sfu_ops=(("exp2", score_elems * exps[self.phase]),),
            bytes_read=read,
            bytes_written=written,
        )

    def _paged(self, nbytes: float) -> float:
        """Bytes one KV head's K (or V) occupies in DRAM transactions: with a paged cache each page is its own
        contiguous run of page_size x head_dim elements, fetched in whole 32-byte sectors."""
        if not self.page_size:
            return nbytes
        keys = min(self.kv_len, self.window) if (self.window and self.q_len == 1) else self.kv_len
        per_page = nbytes / max(keys, 1) * self.page_size
        return math.ceil(keys / self.page_size) * math.ceil(per_page / DRAM_SECTOR_BYTES) * DRAM_SECTOR_BYTES

    def _traffic(self) -> tuple[float, float]:
        """Minimum bytes: Q, K, V in and O (+ fp32 log-sum-exp) out; backward also dO in and dQ, dK, dV out."""
        act = dtype_bytes(self.dtype)
        kv = dtype_bytes(self.kv_dtype or self.dtype)
        dv = self.v_head_dim or self.head_dim
        kv_heads = self.kv_heads or self.heads
        keys = min(self.kv_len, self.window) if (self.window and self.q_len == 1) else self.kv_len
        q = self.batch * self.heads * self.q_len * self.head_dim * act
        o = self.batch * self.heads * self.q_len * dv * act
        kvb = self.batch * kv_heads * (self._paged(keys * self.head_dim * kv) + self._paged(keys * dv * kv))
        kvb += self.batch * math.ceil(keys / self.page_size) * BLOCK_TABLE_ENTRY_BYTES if self.page_size else 0.0
        lse = self.batch * self.heads * self.q_len * 4
        if self.phase == "fwd":
            return q + kvb, o + lse
        bwd_read, bwd_written = q + kvb + 2 * o + lse, q + kvb * act / kv  # dQ, dK, dV in activation dtype
        if self.phase == "bwd":
            return bwd_read, bwd_written
        return q + kvb + bwd_read, o + lse + bwd_written


@dataclass(frozen=True, slots=True)
class KernelPhase:
    """One phase of a phased kernel: whether it reads the row (the first read from memory, later ones re-reads),
    the FP32 instructions and special-function calls it spends per element, whether it writes the result."""

    reads: bool
    fp32_ops: float
    sfu: tuple[tuple[str, float], ...] = ()
    writes: bool = False


@dataclass(frozen=True, slots=True)
class StreamingKernel:
    """How a memory-bound kernel issues its loads, which sets the bytes it can keep in flight (Little's law:
    achievable bandwidth <= bytes in flight / memory latency), and how often a row reduction reads its row."""

    load_bytes: int | None  # bytes one thread loads per input per load instruction; None: one element
    outstanding: int  # independent loads per input each thread keeps in flight (loop unrolling)
    row_passes: int  # times a row reduction (norm, softmax) reads its input row
    note: str
    # threads working on one row of a row reduction: with the resident threads per core this sets the rows in
    # flight, whose footprint decides whether a re-read pass finds its row still in L2 (else it reads DRAM again)
    threads_per_row: int | None = None
    # one thread per this many bytes of the row, up to threads_per_row (a block sized from the row length)
    bytes_per_thread: int | None = None
    # phases that every thread block runs in the same order, all blocks starting together: each phase is bound by
    # its own resource and the phases add up (empty: one fused stream, the longest resource sets the time)
    phases: tuple[KernelPhase, ...] = ()

    def row_threads(self, row_bytes: float) -> int | None:
        """Threads on one row: threads_per_row, or for a block sized from the row one thread per bytes_per_thread
        rounded up to a power of two, at least a warp (32) and at most threads_per_row."""
        if self.threads_per_row is None or self.bytes_per_thread is None:
            return self.threads_per_row
        wanted = math.ceil(row_bytes / self.bytes_per_thread)
        return min(self.threads_per_row, max(32, 1 << (wanted - 1).bit_length()))


# FP32 instructions of the accurate (not --use_fast_math) expf and IEEE-rounded fp32 division nvcc emits around
# their one MUFU op (ex2 / rcp): range reduction FFMA.SAT, FFMA.RM, FADD, 2 FFMA and the SHF/FMUL exponent
# scaling for expf; the FFMA Newton-Raphson refinement and correction for the division. Estimates read from sm_80
# SASS, not re-counted on a GPU here (±2 instructions).
EXPF_FP32_OPS = 7
FDIV_FP32_OPS = 6


STREAMING_KERNELS: dict[str, StreamingKernel] = {
    # 16-byte vector loads, several in flight per thread, the row kept on chip between the reduction and the
    # write: what tuned libraries ship (e.g. Apex/TransformerEngine norms, Triton persistent reductions).
    "vectorized": StreamingKernel(16, 4, 1, "16-B loads, 4 outstanding per thread, one pass"),
    # One element per thread per loop iteration, loop not unrolled, the row re-read for the normalisation:
    # vLLM <= 0.4 csrc/layernorm_kernels.cu rms_norm_kernel and csrc/activation_kernels.cu silu_and_mul_kernel
    # (one 1024-thread block per token), as used by Sarathi-Serve and profiled by Vidur.
    "scalar": StreamingKernel(None, 1, 2, "one element load per thread at a time; a row reduction reads its row twice",
                              threads_per_row=1024),
    # TorchInductor's looped reduction, generated for rows longer than its persistent-reduction limit (1024 for
    # inner reductions): one 8-warp program per row (XBLOCK=1, RBLOCK=2048, num_warps = 2048 // 128 capped at 8),
    # 16-B loads, and the normalisation loop reads the row a second time (torch/_inductor triton_heuristics.py
    # reduction(): triton_config_reduction(size_hints, 1, 2048); codegen/triton.py should_use_persistent_reduction).
    "looped": StreamingKernel(16, 1, 2, "16-B loads, one 256-thread program per row, the row read twice "
                              "(TorchInductor looped reduction)", threads_per_row=256),
    # PyTorch's eager (ATen) softmax before 2.4, rows over 1024: cunn_SoftMaxForward (aten/src/ATen/native/cuda/
    # SoftMax.cu), one block per row sized from the row (SoftMax_getBlockSize: 16-B loads, half the row's vectors,
    # <= 512 threads), three passes: the max; the sum of std::exp(x - max); the write of std::exp(x - max) / sum,
    # with accurate expf and IEEE division per element and a block-wide reduction between passes. Every block
    # does the same work and the grid starts together, so the passes run across the chip in step: the read-bound
    # first pass, then the instruction-bound second and third.
    "aten": StreamingKernel(16, 1, 3, "PyTorch eager softmax: three passes in step (max; sum of exp; exp / sum "
                            "and write), accurate expf and division", threads_per_row=512, bytes_per_thread=32,
                            phases=(KernelPhase(True, 2),  # half -> float, max
                                    KernelPhase(True, 3 + EXPF_FP32_OPS, (("exp2", 1),)),  # cvt, sub, exp, add
                                    KernelPhase(True, 3 + EXPF_FP32_OPS + FDIV_FP32_OPS,  # cvt, sub, exp, /, cvt
                                                (("exp2", 1), ("rcp", 1)), writes=True))),
}
# ATen's softmax for rows of at most 1024 elements: softmax_warp_forward (persistent_softmax.cuh), a warp per row
# holding it in registers: one read, then the max, exp, sum, division and write in one pass.
ATEN_WARP_SOFTMAX_MAX_COLS = 1024
ATEN_WARP_SOFTMAX = StreamingKernel(16, 1, 1, "PyTorch eager softmax, rows <= 1024: one warp per row in registers; "
                                    "the load phase, then the exp / sum / division and write phase",
                                    phases=(KernelPhase(True, 2),
                                            KernelPhase(False, 4 + EXPF_FP32_OPS + FDIV_FP32_OPS,
                                                        (("exp2", 1), ("rcp", 1)), writes=True)))


def streaming_kernel(op: object) -> StreamingKernel:
    """The kernel an op runs: its `kernel` name, with ATen's row-length switch for the eager softmax."""
    name = getattr(op, "kernel", "vectorized")
    if name == "aten" and getattr(op, "cols", ATEN_WARP_SOFTMAX_MAX_COLS + 1) <= ATEN_WARP_SOFTMAX_MAX_COLS:
        return ATEN_WARP_SOFTMAX
    return STREAMING_KERNELS[name]


def _check_kernel(op: object, kernel: str) -> None:
    if kernel not in STREAMING_KERNELS:
        raise ValueError(f"{type(op).__name__}.kernel: unknown kernel {kernel!r}; use one of "
                         f"{', '.join(STREAMING_KERNELS)}")
    if STREAMING_KERNELS[kernel].phases and type(op).__name__ != "Softmax":
        raise ValueError(f"{type(op).__name__}.kernel: {kernel!r} is PyTorch's softmax kernel; use it on Softmax")


@dataclass(frozen=True, slots=True)
class Softmax(Op):
    """Row softmax over `cols` for `rows` rows (unfused: reads the scores, writes probabilities)."""

    rows: int
    cols: int
    dtype: str = "bf16"
    kernel: str = "vectorized"  # STREAMING_KERNELS
    cached: bool = False  # operands already in the chip-wide cache (OpCost.cached)
    kind: ClassVar[str] = "softmax"
    # max, subtract, sum, multiply by 1/sum (the reciprocal is one SFU op per row)
    VECTOR_FLOPS: ClassVar[int] = 4

    def __post_init__(self) -> None:
        _positive(self, rows=self.rows, cols=self.cols)
        _check_dtype(self, "dtype", self.dtype)
        _check_kernel(self, self.kernel)

    def cost(self) -> OpCost:
        elems = self.rows * self.cols
        size = elems * dtype_bytes(self.dtype)
        return OpCost(vector_flops=self.VECTOR_FLOPS * elems,
                      sfu_ops=(("exp2", float(elems)), ("rcp", float(self.rows))),
                      bytes_read=size, bytes_written=size, cached=self.cached)


@dataclass(frozen=True, slots=True)
class Norm(Op):
    """LayerNorm or RMSNorm over `hidden` for `rows` rows, with a learned scale (and bias for layer)."""

    rows: int
    hidden: int
    norm: Literal["rms", "layer"] = "rms"
    dtype: str = "bf16"
    kernel: str = "vectorized"  # STREAMING_KERNELS
    cached: bool = False  # operands already in the chip-wide cache (OpCost.cached)
    kind: ClassVar[str] = "norm"
    # per element: rms = square-accumulate (FMA, 2) + scale by rstd and weight (2); layer adds the mean pass,
    # centring and the bias (3 more). NB: Welford updates are counted as the two-pass equivalent.
    VECTOR_FLOPS: ClassVar[dict[str, int]] = {"rms": 4, "layer": 7}

    def __post_init__(self) -> None:
        _positive(self, rows=self.rows, hidden=self.hidden)
        if self.norm not in ("rms", "layer"):
            raise ValueError(f"Norm.norm: expected 'rms' or 'layer' (got {self.norm!r})")
        _check_dtype(self, "dtype", self.dtype)
        _check_kernel(self, self.kernel)

    @property
    def name(self) -> str:
        return f"{self.norm}_norm"

    def cost(self) -> OpCost:
        elems = self.rows * self.hidden
        width = dtype_bytes(self.dtype)
        params = self.hidden * width * (2 if self.norm == "layer" else 1)
        return OpCost(vector_flops=self.VECTOR_FLOPS[self.norm] * elems,
                      sfu_ops=(("rsqrt", float(self.rows)),),
                      bytes_read=elems * width + params, bytes_written=elems * width, cached=self.cached)


# name -> (vector FLOPs per element, SFU ops per element by function, default inputs, default outputs)
ELEMENTWISE_OPS: dict[str, tuple[int, tuple[tuple[str, int], ...], int, int]] = {
    "copy": (0, (), 1, 1),
    "add": (1, (), 2, 1),
    "mul": (1, (), 2, 1),
    "scale": (1, (), 1, 1),
    "relu": (1, (), 1, 1),
    # silu(x) = x * sigmoid(x) = x / (1 + exp(-x)): FMA for -x*log2e, add, multiply; exp2 and rcp on the SFU
    "silu": (3, (("exp2", 1), ("rcp", 1)), 1, 1),
    # swiglu(a, b) = silu(a) * b: silu plus one multiply, two inputs
    "swiglu": (4, (("exp2", 1), ("rcp", 1)), 2, 1),
    # gelu tanh form: 0.5x(1 + tanh(c(x + 0.044715x³))): ~7 FMAs/mults; tanh as exp2 + rcp
    "gelu": (8, (("exp2", 1), ("rcp", 1)), 1, 1),
    "geglu": (9, (("exp2", 1), ("rcp", 1)), 2, 1),
    "exp": (1, (("exp2", 1),), 1, 1),
    "residual_add": (1, (), 2, 1),
    "rope": (3, (), 1, 1),  # x*cos + rotate(x)*sin with cached tables: 1 mult + 1 FMA per element (+table reads)
    "cast": (0, (), 1, 1),
    "adam": (12, (("rsqrt", 1),), 4, 3),  # p, g, m, v in; p, m, v out; fp32 state
}


@dataclass(frozen=True, slots=True)
class Elementwise(Op):
    """A named pointwise op over `elements` (see ELEMENTWISE_OPS), or a custom one with explicit counts."""

    op: str
    elements: int
    dtype: str = "bf16"
    inputs: int | None = None
    outputs: int | None = None
    flops_per_element: float | None = None
    out_dtype: str | None = None
    kernel: str = "vectorized"  # STREAMING_KERNELS
    cached: bool = False  # operands already in the chip-wide cache (OpCost.cached)
    kind: ClassVar[str] = "elementwise"

    def __post_init__(self) -> None:
        _positive(self, elements=self.elements)
        if self.op not in ELEMENTWISE_OPS and self.flops_per_element is None:
            raise ValueError(
                f"Elementwise.op: unknown op {self.op!r}; use one of {', '.join(ELEMENTWISE_OPS)} "
                "or give flops_per_element for a custom op"
            )
        _check_dtype(self, "dtype", self.dtype)
        _check_dtype(self, "out_dtype", self.out_dtype)
        _check_kernel(self, self.kernel)

    @property
    def name(self) -> str:
        return self.op

    @property
    def input_arrays(self) -> int:
        """Arrays read per element: `inputs`, else the named op's default."""
        return self.inputs if self.inputs is not None else ELEMENTWISE_OPS.get(self.op, (0, (), 1, 1))[2]

    def cost(self) -> OpCost:
        flops, sfu, _, n_out = ELEMENTWISE_OPS.get(self.op, (0, (), 1, 1))
        flops = self.flops_per_element if self.flops_per_element is not None else flops
        n_in = self.input_arrays
        n_out = self.outputs if self.outputs is not None else n_out
        width_in = dtype_bytes(self.dtype)
        width_out = dtype_bytes(self.out_dtype or self.dtype)
        return OpCost(vector_flops=flops * self.elements,
                      sfu_ops=tuple((fn, float(count * self.elements)) for fn, count in sfu),
                      bytes_read=n_in * self.elements * width_in,
                      bytes_written=n_out * self.elements * width_out, cached=self.cached)


@dataclass(frozen=True, slots=True)
class Reduction(Op):
    """Reduce `cols` to one value per row (sum, max, mean, amax)."""

    rows: int
    cols: int
    dtype: str = "bf16"
    op: Literal["sum", "max", "mean", "amax"] = "sum"
    kind: ClassVar[str] = "reduction"

    def __post_init__(self) -> None:
        _positive(self, rows=self.rows, cols=self.cols)
        _check_dtype(self, "dtype", self.dtype)

    def cost(self) -> OpCost:
        width = dtype_bytes(self.dtype)
        return OpCost(vector_flops=float(self.rows * self.cols), bytes_read=self.rows * self.cols * width,
                      bytes_written=self.rows * width)


@dataclass(frozen=True, slots=True)
class Embedding(Op):
    """Gather `tokens` rows of width `hidden` from a [vocab, hidden] table (int32 indices)."""

    tokens: int
    hidden: int
    vocab: int
    dtype: str = "bf16"
    kind: ClassVar[str] = "embedding"

    def __post_init__(self) -> None:
        _positive(self, tokens=self.tokens, hidden=self.hidden, vocab=self.vocab)
        _check_dtype(self, "dtype", self.dtype)

    def cost(self) -> OpCost:
        row = self.hidden * dtype_bytes(self.dtype)
        rows_read = min(self.tokens, self.vocab)  # a row used twice is read once at best
        return OpCost(bytes_read=rows_read * row + self.tokens * 4, bytes_written=self.tokens * row)


COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "send_recv")
COLLECTIVE_ALGORITHMS = ("auto", "ring", "tree", "nvls")


@dataclass(frozen=True, slots=True)
class Collective(Op):
    """A collective over `group` devices. `bytes` is the full buffer per device:
    the input of all_reduce/reduce_scatter/all_to_all/broadcast/send_recv, the output of all_gather.

    `impl="custom"`: the all-reduce kernels serving engines run instead of the collective library for small
    tensor-parallel all-reduces inside one NVLink domain (vLLM's custom_all_reduce, TensorRT-LLM's one-shot /
    two-shot all-reduce): peers' buffers are read directly over NVLink between flag barriers.
    `algorithm` pins the library's algorithm as NCCL_ALGO does ("ring", "tree", "nvls"; "auto": the fastest the
    library's model offers), read by the analytical level; "tree" and "nvls" exist for all-reduce (NVLS also for
    all-gather / reduce-scatter) and "nvls" only inside a domain with in-network reduction."""

    op: str
    bytes: float
    group: int
    dtype: str = "bf16"
    stride: int = 1  # distance between consecutive group members in device order (DP groups skip TP ranks)
    impl: Literal["library", "custom"] = "library"
    algorithm: str = "auto"  # COLLECTIVE_ALGORITHMS
    kind: ClassVar[str] = "collective"

    def __post_init__(self) -> None:
        if self.op not in COLLECTIVES:
            raise ValueError(f"Collective.op: expected one of {', '.join(COLLECTIVES)} (got {self.op!r})")
        if self.impl not in ("library", "custom"):
            raise ValueError(f"Collective.impl: expected library or custom (got {self.impl!r})")
        if self.algorithm not in COLLECTIVE_ALGORITHMS:
            raise ValueError(f"Collective.algorithm: expected one of {', '.join(COLLECTIVE_ALGORITHMS)} "
                             f"(got {self.algorithm!r})")
        _positive(self, bytes=self.bytes, group=self.group, stride=self.stride)
        _check_dtype(self, "dtype", self.dtype)

    @property
    def name(self) -> str:
        return self.op

    def cost(self) -> OpCost:
        elements = self.bytes / dtype_bytes(self.dtype)
        reduce_flops = elements * (self.group - 1) / self.group if self.op in ("all_reduce", "reduce_scatter") else 0
        return OpCost(vector_flops=reduce_flops, bytes_read=self.bytes, bytes_written=self.bytes,
                      comm_bytes=self.bytes, comm_kind=self.op, comm_group=self.group, comm_stride=self.stride)


@dataclass(frozen=True, slots=True)
class Quantize(Op):
    """Quantize `elements` from `src_dtype` to a (block-)scaled format, computing a scale per `block`.

    Per element: |x| into the block max (1), multiply by the inverse scale (1), round/convert (1);
    per block one exp2/log2-type op on the SFU for the power-of-two (E8M0) or E4M3 scale.
    """

    elements: int
    fmt: str = "mxfp8"
    src_dtype: str = "bf16"
    block: int = 32
    kind: ClassVar[str] = "quantize"
    VECTOR_FLOPS: ClassVar[int] = 3

    def __post_init__(self) -> None:
        _positive(self, elements=self.elements, block=self.block)
        _check_dtype(self, "fmt", self.fmt)
        _check_dtype(self, "src_dtype", self.src_dtype)

    def cost(self) -> OpCost:
        blocks = self.elements / self.block
        return OpCost(vector_flops=self.VECTOR_FLOPS * self.elements, sfu_ops=(("log2", blocks),),
                      bytes_read=self.elements * dtype_bytes(self.src_dtype),
                      bytes_written=self.elements * dtype_bytes(self.fmt))


@dataclass(frozen=True, slots=True)
class Dequantize(Op):
    """Expand a (block-)scaled format back to `dst_dtype`: one multiply by the block scale per element."""

    elements: int
    fmt: str = "mxfp8"
    dst_dtype: str = "bf16"
    block: int = 32
    kind: ClassVar[str] = "dequantize"

    def __post_init__(self) -> None:
        _positive(self, elements=self.elements, block=self.block)
        _check_dtype(self, "fmt", self.fmt)
        _check_dtype(self, "dst_dtype", self.dst_dtype)

    def cost(self) -> OpCost:
        return OpCost(vector_flops=float(self.elements),
                      bytes_read=self.elements * dtype_bytes(self.fmt),
                      bytes_written=self.elements * dtype_bytes(self.dst_dtype))


def _streamed(op: Op) -> tuple[int, str, str] | None:
    """(elements, dtype read, dtype written) of a memory-bound op whose one main tensor streams through it
    element for element, or None for an op that cannot join a fused chain."""
    if isinstance(op, Elementwise):
        return op.elements, op.dtype, op.out_dtype or op.dtype
    if isinstance(op, Norm):
        return op.rows * op.hidden, op.dtype, op.dtype
    if isinstance(op, Softmax):
        return op.rows * op.cols, op.dtype, op.dtype
    if isinstance(op, Quantize):
        return op.elements, op.src_dtype, op.fmt
    if isinstance(op, Dequantize):
        return op.elements, op.fmt, op.dst_dtype
    return None


@dataclass(frozen=True, slots=True)
class Fused(Op):
    """Memory-bound ops fused into one kernel, as a compiler (torch.compile/Inductor, XLA) or a hand-written kernel
    runs them: residual add + RMSNorm, bias + activation, norm + quantize. Each op after the first takes the
    previous op's output on chip, so that tensor is neither written to memory nor read back, and the chain is one
    launch; every other input and the last op's outputs still move, and so does any further output of an earlier
    op (vLLM's fused_add_rms_norm: `Fused((Elementwise("residual_add", n, outputs=2), Norm(rows, hidden)))` reads x
    and the residual and writes the new residual and the normed x). All ops stream the same number of elements.

    The work is the sum of the ops' work; the analytical level runs it as one streaming kernel (a row-wise op's
    row stays on chip: one pass). Unfused, the same ops are separate nodes of a graph."""

    ops: tuple[Op, ...]
    label: str | None = None
    kind: ClassVar[str] = "fused"

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        if len(self.ops) < 2:
            raise ValueError(f"Fused.ops: needs at least two ops to fuse (got {len(self.ops)})")
        streams = []
        for i, op in enumerate(self.ops):
            streamed = _streamed(op)
            if streamed is None:
                raise ValueError(f"Fused.ops[{i}]: {type(op).__name__} is not a streaming op; fuse Elementwise, "
                                 "Norm, Softmax, Quantize or Dequantize ops")
            streams.append(streamed)
            # a link needs a tensor to hand on: the producer writes one array and the consumer reads one
            if i < len(self.ops) - 1 and isinstance(op, Elementwise) and op.outputs == 0:
                raise ValueError(f"Fused.ops[{i}]: {op.op} writes no array for the next op to take; give it "
                                 "outputs >= 1 or put it last")
            if i > 0 and isinstance(op, Elementwise) and op.input_arrays == 0:
                raise ValueError(f"Fused.ops[{i}]: {op.op} reads no array, so it cannot take the previous op's "
                                 "output; give it inputs >= 1 or put it first")
        sizes = {n for n, _, _ in streams}
        if len(sizes) > 1:
            raise ValueError(f"Fused.ops: every op must stream the same number of elements (got "
                             f"{', '.join(str(n) for n, _, _ in streams)}); fuse ops over one tensor")

    @property
    def name(self) -> str:
        return self.label or "+".join(op.name for op in self.ops)

    def cost(self) -> OpCost:
        costs = [op.cost() for op in self.ops]
        total = OpCost()
        for cost in costs:
            total = add_costs(total, cost)
        streams = [_streamed(op) for op in self.ops]
        # each link keeps one tensor on chip: the producer does not write it and the consumer does not read it
        kept_written = sum(n * dtype_bytes(out) for n, _, out in streams[:-1])  # type: ignore[misc]
        kept_read = sum(n * dtype_bytes(dtype_in) for n, dtype_in, _ in streams[1:])  # type: ignore[misc]
        return dataclasses.replace(total, bytes_read=total.bytes_read - kept_read,
                                   bytes_written=total.bytes_written - kept_written,
                                   cached=all(cost.cached for cost in costs))


@dataclass(frozen=True, slots=True)
class Node:
    """One op in a graph, repeated `count` times (e.g. once per layer)."""

    op: Op
    count: float = 1
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.op.name


@dataclass(frozen=True, slots=True)
class Graph:
    """A sequence of ops with multiplicities. Its estimate is the sum of its nodes' estimates."""

    nodes: tuple[Node, ...]
    name: str = "graph"
    meta: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def of(cls, *items: Op | Node | tuple[Op, float], name: str = "graph") -> Graph:
        nodes = []
        for item in items:
            if isinstance(item, Node):
                nodes.append(item)
            elif isinstance(item, tuple):
                nodes.append(Node(item[0], item[1]))
            else:
                nodes.append(Node(item))
        return cls(tuple(nodes), name=name)

    def __add__(self, other: Graph) -> Graph:
        return Graph(self.nodes + other.nodes, name=self.name)

    def scaled(self, factor: float) -> Graph:
        return Graph(tuple(Node(n.op, n.count * factor, n.label) for n in self.nodes), name=self.name)

    def cost(self) -> OpCost:
        """Total work (sum over nodes): useful for FLOP counts; SFU ops merged by function."""
        total = OpCost()
        for node in self.nodes:
            total = add_costs(total, node.op.cost(), node.count)
        return total


def add_costs(a: OpCost, b: OpCost, count: float = 1.0) -> OpCost:
    sfu: dict[str, float] = dict(a.sfu_ops)
    for fn, n in b.sfu_ops:
        sfu[fn] = sfu.get(fn, 0.0) + n * count
    return OpCost(
        matrix_flops=a.matrix_flops + b.matrix_flops * count,
        matrix_dtype=a.matrix_dtype or b.matrix_dtype,
        vector_flops=a.vector_flops + b.vector_flops * count,
        sfu_ops=tuple(sfu.items()),
        bytes_read=a.bytes_read + b.bytes_read * count,
        bytes_written=a.bytes_written + b.bytes_written * count,
        comm_bytes=a.comm_bytes + b.comm_bytes * count,
        convert_elements=a.convert_elements + b.convert_elements * count,
    )
