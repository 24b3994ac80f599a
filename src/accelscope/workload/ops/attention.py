"""Attention: FlashAttention-style fused attention, forward and backward, prefill and decode, paged and windowed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from ...hardware.dtypes import canonical_dtype, dtype_bytes
from .base import (
    ATTENTION_BWD_MATRIX_FACTOR,
    ATTENTION_BWD_VECTOR_FLOPS,
    BLOCK_TABLE_ENTRY_BYTES,
    DRAM_SECTOR_BYTES,
    FMA_FLOPS,
    ONLINE_SOFTMAX_VECTOR_FLOPS,
    Op,
    OpCost,
    _check_dtype,
    _positive,
)

ATTENTION_KERNELS = (None, "fa2", "fa3", "fa4", "cudnn", "math", "sdpa_math", "mmha", "triton", "aotriton",
                     "mem_efficient")


@dataclass(frozen=True, slots=True)
class Attention(Op):
    """Scaled dot-product attention, FlashAttention style (scores never written to memory).

    GQA/MQA: kv_heads < heads. MLA and other asymmetric heads: `v_head_dim` differs from `head_dim`.
    Decode with a KV cache: q_len=1, kv_len=cache length. `window` limits each query to the last `window` keys.
    `variant` names the kernel (None = the chip's default: fa2 on chips with warp-synchronous MMAs only, fa3 with
    asynchronous warpgroup MMAs, fa4 with tensor-memory MMAs): "fa2" (FlashAttention-2, mma.sync), "fa3"
    (FlashAttention-3, Hopper wgmma + TMA, warp-specialized), "fa4" (FlashAttention-4, Blackwell tcgen05),
    "cudnn" (cuDNN's fused SDPA: the chip's newest MMA path, as fa3 on Hopper and fa4 on Blackwell), "math"
    (unfused attention in the input dtype: S = QK^T, softmax, PV as three kernels), "sdpa_math" (PyTorch SDPA's
    math backend, which upcasts 16-bit inputs to fp32 and runs the unfused graph there), "triton" (the Triton
    FlashAttention of flash-attention's flash_attn_triton.py, which MPT / llm-foundry ran as attn_impl "triton":
    mma.sync, 128 x 128 blocks, no multi-stage load pipeline), "aotriton" (PyTorch SDPA's flash backend on ROCm up
    to AOTriton 0.10: Triton kernels whose backward is split into a dK/dV kernel and a dQ kernel, each recomputing
    P), "mem_efficient" (PyTorch SDPA's EFFICIENT_ATTENTION on CUDA: the xformers / CUTLASS kernels of
    mem_eff_attention, sm80 templates with mma.sync and 64 x 64 blocks, the backward's dQ tiles read, added and
    written back in fp32 under a global-memory lock per query block) and "mmha" (decode only: the masked multi-head attention kernel of FasterTransformer and TensorRT-LLM <= 0.7,
    one thread block per (sequence, query head) on the vector units).
    `deterministic` (backward): dQ is accumulated in a fixed order instead of with atomics.
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
    variant: Literal["fa2", "fa3", "fa4", "cudnn", "math", "sdpa_math", "mmha", "triton", "aotriton",
                     "mem_efficient"] | None = None
    page_size: int | None = None  # paged KV cache: tokens per page (vLLM block_size); None = contiguous
    deterministic: bool = False  # backward: dQ accumulated in a fixed order (serialized), not with atomics
    kind: ClassVar[str] = "attention"

    def __post_init__(self) -> None:
        _positive(self, batch=self.batch, heads=self.heads, head_dim=self.head_dim, q_len=self.q_len,
                  kv_len=self.kv_len)
        if self.kv_heads is not None:  # 0 is an error, not "the default"
            _positive(self, kv_heads=self.kv_heads)
        if self.v_head_dim is not None:
            _positive(self, v_head_dim=self.v_head_dim)
        kv_heads = self.kv_heads or self.heads
        if self.heads % kv_heads:
            raise ValueError(f"Attention.kv_heads: must divide heads={self.heads} (got {self.kv_heads})")
        if self.phase not in ("fwd", "bwd", "fwd_bwd"):
            raise ValueError(f"Attention.phase: expected fwd, bwd or fwd_bwd (got {self.phase!r})")
        if self.variant not in ATTENTION_KERNELS:
            raise ValueError("Attention.variant: expected fa2, fa3, fa4, cudnn, math, sdpa_math, mmha, triton, "
                             f"aotriton, mem_efficient or None (got {self.variant!r})")
        if self.variant == "mmha" and (self.q_len != 1 or self.phase != "fwd"):
            raise ValueError("Attention.variant='mmha' is a decode kernel: it needs q_len=1 and phase='fwd' "
                             f"(got q_len={self.q_len}, phase={self.phase!r}); use fa2/fa3 otherwise")
        if self.causal and self.q_len > self.kv_len:
            raise ValueError(f"Attention.q_len: causal needs q_len <= kv_len (got {self.q_len} > {self.kv_len})")
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


