"""Finite-precision accumulation and the accuracy-study helpers."""

import numpy as np
import pytest

from accelscope.numerics import (
    emulated_gemm,
    error_report,
    gemm_error_vs_format,
    gemm_error_vs_k,
    kl_softmax,
    relative_error,
    sqnr_db,
)


def test_wide_accumulator_is_exact_on_small_integers():
    rng = np.random.default_rng(0)
    a = rng.integers(-8, 8, (4, 64)).astype(np.float32)
    b = rng.integers(-8, 8, (64, 3)).astype(np.float32)
    assert np.array_equal(emulated_gemm(a, b, acc_mantissa_bits=23), a.astype(np.float64) @ b)


def test_truncating_accumulator_swamps_small_addends():
    # 2^12 + 1: with 11 explicit mantissa bits (12 significant) the +1 is below the last bit and is dropped
    a = np.array([[4096.0, 1.0, 1.0]], np.float32)
    b = np.ones((3, 1), np.float32)
    assert emulated_gemm(a, b, acc_mantissa_bits=11)[0, 0] == 4096.0
    assert emulated_gemm(a, b, acc_mantissa_bits=12)[0, 0] == 4098.0  # 13 bits hold 4097, then 4098
    # summation order matters: adding the small ones first keeps them (1 + 1 = 2, 2 + 4096 = 4098)
    assert emulated_gemm(a, b, acc_mantissa_bits=11, order="reverse")[0, 0] == 4098.0


def test_rne_accumulator_rounds_ties_to_even():
    # 12 significant bits: 4096 + 3 = 4099 -> spacing 2 in [4096, 8192): 4099 is a tie -> 4100 (even 2050)
    a = np.array([[4096.0, 3.0]], np.float32)
    assert emulated_gemm(a, np.ones((2, 1), np.float32), acc_mantissa_bits=11, acc_rounding="rne")[0, 0] == 4100


def test_promotion_restarts_the_narrow_accumulator():
    a = np.array([[4096.0, 1.0, 1.0, 1.0]], np.float32)
    b = np.ones((4, 1), np.float32)
    # chunks of 2: [4096 + 1 -> 4096], [1 + 1 = 2]; FP32 total 4098
    assert emulated_gemm(a, b, acc_mantissa_bits=11, promote_every=2)[0, 0] == 4098.0


def test_pairwise_order():
    a = np.array([[4096.0, 1.0, 1.0, 1.0]], np.float32)
    # tree: (4096 + 1 -> 4096) + (1 + 1 = 2) = 4098
    assert emulated_gemm(a, np.ones((4, 1), np.float32), acc_mantissa_bits=11, order="pairwise")[0, 0] == 4098


def test_bad_accumulator_arguments():
    a = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"a, b: need \(M, K\) and \(K, N\)"):
        emulated_gemm(a, np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"acc_mantissa_bits: must be an int in 1..52"):
        emulated_gemm(a, np.ones((3, 2)), acc_mantissa_bits=0)
    with pytest.raises(ValueError, match=r"order: an explicit order must be a permutation of range\(3\)"):
        emulated_gemm(a, np.ones((3, 2)), order=np.array([0, 0, 1]))


def test_deepseek_finding_reproduced_qualitatively():
    """FP8 operands, ~14-bit truncating accumulation: error grows with K to percent level at K = 4096;
    promoting to FP32 every 128 products keeps it flat and far smaller (DeepSeek-V3 §3.3)."""
    records = gemm_error_vs_k([512, 4096], m=8, n=8)
    err = {(r["k"], r["promote_every"]): r["relative_error"] for r in records}
    assert err[(512, None)] < err[(4096, None)]
    assert err[(4096, None)] > 0.01  # percent level at K = 4096
    assert err[(4096, 128)] < err[(4096, None)] / 10
    assert abs(err[(4096, 128)] - err[(512, 128)]) < 0.002  # flat in K once promoted


def test_gemm_error_vs_format_orders_formats_by_precision():
    records = {r["format"]: r["sqnr_db"] for r in gemm_error_vs_format(["bf16", "fp8_e4m3", "mxfp4"], k=256)}
    assert records["bf16"] > records["fp8_e4m3"] > records["mxfp4"]


def test_metrics_by_hand():
    x = np.array([3.0, 4.0])
    assert sqnr_db(x, x) == float("inf")
    # noise (0, 0.5): Σx² = 25, Σe² = 0.25 -> 10·log10(100) = 20 dB; ‖e‖/‖x‖ = 0.5/5 = 0.1
    assert sqnr_db(x, [3.0, 4.5]) == pytest.approx(20.0)
    assert relative_error(x, [3.0, 4.5]) == pytest.approx(0.1)
    assert error_report(x, [3.0, 4.5])["max_abs_error"] == 0.5
    # softmax([0, 0]) = (½, ½); softmax([0, ln 3]) = (¼, ¾): KL = ½ln(2) + ½ln(⅔) = ½ln(4/3)
    assert kl_softmax([[0.0, 0.0]], [[0.0, np.log(3.0)]]) == pytest.approx(0.5 * np.log(4 / 3))
    with pytest.raises(ValueError, match=r"approx: shape \(3,\) must equal the reference's \(2,\)"):
        sqnr_db(x, [1.0, 2.0, 3.0])
