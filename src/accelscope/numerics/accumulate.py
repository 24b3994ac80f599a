"""GEMM with a finite-precision accumulator: exact products, a narrow running sum, optional FP32 promotion.

Model (one output element C[i, j], K products):

1. Every product a[i, k] · b[k, j] is exact (formed in float64: two float32 significands need at most
   48 bits).
2. Products are added in `order` to an accumulator that keeps `acc_mantissa_bits` explicit mantissa bits
   (plus the implicit one) and an unbounded exponent; after each addition the sum is cut to that
   precision by truncation toward zero (`rtz`, as tensor cores align and drop bits) or by `rne`.
3. With `promote_every = N`, after every N products the partial sum is added to an FP32 accumulator
   (round to nearest even) and the narrow accumulator restarts from zero: DeepSeek-V3's fix, N_C = 128,
   partial sums promoted to CUDA-core FP32 registers (arXiv:2412.19437 §3.3).

NB: the sum of the accumulator and a product is formed in float64 before being cut to the accumulator's
precision; this is exact unless the two differ in magnitude by more than about 2^(52 - acc_mantissa_bits),
where the smaller one is below the accumulator's last bit anyway (a possible 1-ulp difference from a truly
single rounding in that rare case).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

ORDERS = ("sequential", "reverse", "pairwise", "random")
ACC_ROUNDINGS = ("rtz", "rne")


@njit(inline="always")
def _cut(value, keep_bits, nearest):
    """Round float64 `value` to `keep_bits` significant bits (toward zero, or to nearest even)."""
    if value == 0.0 or not math.isfinite(value):
        return value
    mantissa, exponent = math.frexp(value)
    scaled = math.ldexp(mantissa, keep_bits)
    scaled = np.rint(scaled) if nearest else math.trunc(scaled)
    return math.ldexp(scaled, exponent - keep_bits)


@njit(inline="always")
def _sum_chunk(products, keep_bits, nearest, pairwise):
    if not pairwise:
        acc = 0.0
        for v in products:
            acc = _cut(acc + v, keep_bits, nearest)
        return acc
    buf = products.copy()
    n = buf.size
    while n > 1:
        half = n // 2
        for i in range(half):
            buf[i] = _cut(buf[2 * i] + buf[2 * i + 1], keep_bits, nearest)
        if n % 2:
            buf[half] = buf[n - 1]
        n = half + n % 2
    return buf[0] if buf.size else 0.0


@njit(nogil=True, error_model="numpy")
def _gemm_kernel(a, b, perm, keep_bits, nearest, promote_every, pairwise, fp32_promotion):
    m, k_total = a.shape
    n = b.shape[1]
    out = np.zeros((m, n))
    chunk = promote_every if promote_every > 0 else k_total
    products = np.empty(k_total)
    for i in range(m):
        for j in range(n):
            for idx in range(k_total):
                products[idx] = a[i, perm[idx]] * b[perm[idx], j]
            total = np.float32(0.0)
            partial_only = 0.0
            for start in range(0, k_total, chunk):
                partial = _sum_chunk(products[start:start + chunk], keep_bits, nearest, pairwise)
                if fp32_promotion:
                    total = np.float32(total + np.float32(partial))
                else:
                    partial_only = partial
            out[i, j] = float(total) if fp32_promotion else partial_only
    return out


def emulated_gemm(
    a: np.ndarray, b: np.ndarray, *, acc_mantissa_bits: int = 23, acc_rounding: str = "rtz",
    promote_every: int | None = None, order: str | np.ndarray = "sequential", seed: int = 0,
) -> np.ndarray:
    """C = A @ B with the accumulator model above; returns float64 (the accumulator's values exactly).

    a: (M, K), b: (K, N), both already on their low-precision grids (e.g. `fake_quantize` outputs).
    order: sequential | reverse | pairwise (a balanced tree per chunk) | random (seeded permutation of K)
        | an explicit permutation of range(K).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"a, b: need (M, K) and (K, N) matrices (got {a.shape} and {b.shape})")
    if not (isinstance(acc_mantissa_bits, int) and 1 <= acc_mantissa_bits <= 52):
        raise ValueError(f"acc_mantissa_bits: must be an int in 1..52 (got {acc_mantissa_bits!r})")
    if acc_rounding not in ACC_ROUNDINGS:
        raise ValueError(f"acc_rounding: must be one of {', '.join(ACC_ROUNDINGS)} (got {acc_rounding!r})")
    if promote_every is not None and not (isinstance(promote_every, int) and promote_every >= 1):
        raise ValueError(f"promote_every: must be a positive int or None (got {promote_every!r})")
    k = a.shape[1]
    perm, pairwise = _permutation(order, k, seed)
    return _gemm_kernel(np.ascontiguousarray(a), np.ascontiguousarray(b), perm, acc_mantissa_bits + 1,
                        acc_rounding == "rne", promote_every or 0, pairwise, promote_every is not None)


def _permutation(order: str | np.ndarray, k: int, seed: int) -> tuple[np.ndarray, bool]:
    if isinstance(order, np.ndarray):
        perm = order.astype(np.int64)
        if perm.shape != (k,) or not np.array_equal(np.sort(perm), np.arange(k)):
            raise ValueError(f"order: an explicit order must be a permutation of range({k})")
        return perm, False
    if order not in ORDERS:
        raise ValueError(f"order: must be one of {', '.join(ORDERS)} or a permutation array (got {order!r})")
    if order == "reverse":
        return np.arange(k - 1, -1, -1, dtype=np.int64), False
    if order == "random":
        return np.random.default_rng(seed).permutation(k).astype(np.int64), False
    return np.arange(k, dtype=np.int64), order == "pairwise"
