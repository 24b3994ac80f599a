"""Accuracy studies that return tidy records (one flat dict per point); rendering is someone else's job."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .accumulate import emulated_gemm
from .formats import BlockFormat, get_format
from .metrics import relative_error, sqnr_db
from .quantize import fake_quantize


def quantize_operands(a: np.ndarray, b: np.ndarray, fmt: str, rounding: str = "rne") -> tuple[np.ndarray, ...]:
    """Fake-quantise A (M×K) along K and B (K×N) along K, the way a GEMM consumes them.

    Element formats use per-tensor scaling (as FP8 current scaling); block formats block along K
    (128×128 tiles for B when the format is 2-D).
    """
    fmt_obj = get_format(fmt)
    if fmt_obj.name == "fp32":
        return a.astype(np.float32), b.astype(np.float32)
    if isinstance(fmt_obj, BlockFormat):
        if fmt_obj.is_2d:  # DeepSeek: weights in 128×128 tiles, activations in 1×128 along K
            return (fake_quantize(a, "fp8_block_1x128", axis=-1, rounding=rounding),
                    fake_quantize(b, fmt_obj, rounding=rounding))
        return (fake_quantize(a, fmt_obj, axis=-1, rounding=rounding),
                fake_quantize(b, fmt_obj, axis=0, rounding=rounding))
    return (fake_quantize(a, fmt_obj, scaling="tensor", rounding=rounding),
            fake_quantize(b, fmt_obj, scaling="tensor", rounding=rounding))


def _operands(m: int, k: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32))


def gemm_error_vs_format(
    formats: Iterable[str], *, k: int = 1024, m: int = 32, n: int = 32, seed: int = 0, rounding: str = "rne",
) -> list[dict[str, object]]:
    """Error of a GEMM whose operands are quantised to each format (exact accumulation) vs the FP64 GEMM
    of the unquantised float32 operands. Standard-normal operands."""
    a, b = _operands(m, k, n, seed)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    records = []
    for fmt in formats:
        qa, qb = quantize_operands(a, b, fmt, rounding)
        approx = qa.astype(np.float64) @ qb.astype(np.float64)
        records.append({"format": get_format(fmt).name, "k": k, "m": m, "n": n, "rounding": rounding,
                        "seed": seed, "sqnr_db": sqnr_db(exact, approx),
                        "relative_error": relative_error(exact, approx),
                        "operand_a_sqnr_db": sqnr_db(a, qa)})
    return records


def gemm_error_vs_k(
    ks: Sequence[int], *, fmt: str = "fp8_e4m3", m: int = 16, n: int = 16, seed: int = 0,
    acc_mantissa_bits: int = 13, acc_rounding: str = "rtz", promote_every: Sequence[int | None] = (None, 128),
) -> list[dict[str, object]]:
    """Accumulation error vs K: operands quantised to `fmt`, accumulated in a narrow accumulator
    (default 13 explicit mantissa bits, truncating: DeepSeek-V3's "about 14 bits" on H800), with and
    without FP32 promotion. The error is measured against the exact (FP64) GEMM of the *quantised*
    operands, so it is the accumulator's alone.

    Records hold relative_error = ‖C - C_exact‖ / ‖C_exact‖ and max_relative_error =
    max|C - C_exact| / max|C_exact|.
    """
    records = []
    for k in ks:
        a, b = _operands(m, k, n, seed)
        qa, qb = quantize_operands(a, b, fmt)
        exact = qa.astype(np.float64) @ qb.astype(np.float64)
        for every in promote_every:
            approx = emulated_gemm(qa, qb, acc_mantissa_bits=acc_mantissa_bits, acc_rounding=acc_rounding,
                                   promote_every=every)
            records.append({
                "format": get_format(fmt).name, "k": k, "m": m, "n": n, "seed": seed,
                "acc_mantissa_bits": acc_mantissa_bits, "acc_rounding": acc_rounding, "promote_every": every,
                "relative_error": relative_error(exact, approx),
                "max_relative_error": float(np.max(np.abs(approx - exact)) / np.max(np.abs(exact))),
            })
    return records
