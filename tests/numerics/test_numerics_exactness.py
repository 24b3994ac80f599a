"""The fast path against the slow reference (the spec), bit for bit, plus the anchors' golden values."""

import itertools

import numpy as np
import pytest

from accelscope.numerics import dequantize, fake_quantize, get_format, quantize, round_elements
from accelscope.numerics.reference import fake_quantize_ref, round_scalar_ref, stochastic_uniform

ELEMENTS = ["fp8_e4m3", "fp8_e5m2", "fp8_e4m3fnuz", "fp8_e5m2fnuz", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1",
            "int8", "int4", "bf16", "fp16", "tf32", "fp32", "e8m0"]
BLOCKS = ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4", "mxint8", "nvfp4",
          "fp8_block_1x128"]
ROUNDINGS = ["rne", "rna", "rtz", "raz", "stochastic"]


def same_bits(a, b) -> bool:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    both_nan = np.isnan(a) & np.isnan(b)
    return bool(np.all(both_nan | (a.view(np.uint32) == b.view(np.uint32))))


def edge_vector(fmt_name: str, n_random: int = 40) -> np.ndarray:
    """Ties, neighbours of ties, subnormals, overflow, ±0, ±inf, NaN and random values around the range."""
    fmt = get_format(fmt_name)
    el = fmt.element if hasattr(fmt, "element") else fmt
    top, tiny = el.max_value, el.min_subnormal
    base = [0.0, -0.0, np.inf, -np.inf, np.nan, top, top * 1.03, top * 1.07, top * 2.5, tiny, tiny / 2,
            tiny * 1.5, tiny / 3, 1.0, 1.0625, 1.1875, 2.5, 3.5, 5.0, 0.25, 0.75, 2.0**-149, 3.4e38, 1e-38]
    rng = np.random.default_rng(7)
    mags = 2.0 ** rng.uniform(np.log2(tiny) - 4, np.log2(top) + 2, n_random)
    x = np.array(base + list(mags * rng.choice([-1, 1], n_random)), dtype=np.float32)
    return np.concatenate([x, np.nextafter(x, np.float32(np.inf)), -x])


@pytest.mark.parametrize(("name", "rounding"), list(itertools.product(ELEMENTS, ROUNDINGS)))
@pytest.mark.parametrize("overflow", ["saturate", "infnan"])
def test_element_cast_matches_reference(name, rounding, overflow):
    x = edge_vector(name)
    fast = fake_quantize(x, name, rounding=rounding, overflow=overflow, seed=3, random_bits=5)
    slow = fake_quantize_ref(x, name, rounding=rounding, overflow=overflow, seed=3, random_bits=5)
    assert same_bits(fast, slow)


@pytest.mark.parametrize(("name", "rounding"), list(itertools.product(BLOCKS, ROUNDINGS)))
def test_block_formats_match_reference(name, rounding):
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((3, 160)) * np.exp(rng.normal(0, 3, (3, 1)))).astype(np.float32)
    x[0, :5] = [0.0, -0.0, 1e-30, 3e4, -7.0]
    x[1, 32:64] = 0.0  # an all-zero block
    x[2, 70] = np.nan  # poisons its block (MX: scale 0xFF), and the tensor for NVFP4
    for rule_x in (x, x[:2]):
        fast = fake_quantize(rule_x, name, rounding=rounding, seed=5)
        slow = fake_quantize_ref(rule_x, name, rounding=rounding, seed=5)
        assert same_bits(fast, slow)


@pytest.mark.parametrize("rule", ["floor", "ceil", "rceil"])
@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp4", "mxint8"])
def test_mx_scale_rules_match_reference(name, rule):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((2, 96)) * 2.0 ** rng.integers(-140, 120, (2, 1))).astype(np.float32)
    assert same_bits(fake_quantize(x, name, scale_rule=rule), fake_quantize_ref(x, name, scale_rule=rule))


@pytest.mark.parametrize("scaling", ["tensor", "channel", "token"])
@pytest.mark.parametrize("rule", ["amax", "pow2"])
def test_fp32_scalings_match_reference(scaling, rule):
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((4, 50)) * [[1e-3], [1.0], [1e3], [0.0]]).astype(np.float32)
    for axis in (0, 1):
        fast = fake_quantize(x, "fp8_e4m3", axis=axis, scaling=scaling, scale_rule=rule)
        slow = fake_quantize_ref(x, "fp8_e4m3", axis=axis, scaling=scaling, scale_rule=rule)
        assert same_bits(fast, slow)


def test_2d_tiles_match_reference():
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((130, 200)) * rng.uniform(0.1, 100, (130, 1))).astype(np.float32)
    assert same_bits(fake_quantize(x, "fp8_block_128x128"), fake_quantize_ref(x, "fp8_block_128x128"))
    assert same_bits(fake_quantize(x, "fp8_block_128x128", scale_rule="pow2"),
                     fake_quantize_ref(x, "fp8_block_128x128", scale_rule="pow2"))


@pytest.mark.parametrize("name", [*BLOCKS, "fp8_block_128x128", "fp8_e4m3", "fp4_e2m1", "int4", "bf16", "tf32"])
def test_fake_quantize_equals_dequantize_quantize(name):
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((3, 130, 70)) * 10).astype(np.float32)
    x[0, 0, 0] = np.nan
    for axis in (-1, 1):
        for rounding in ("rne", "stochastic"):
            q = quantize(x, name, axis=axis, rounding=rounding, seed=1)
            assert same_bits(dequantize(q), fake_quantize(x, name, axis=axis, rounding=rounding, seed=1))


# ----- golden values (lowprec anchors §8) -----------------------------------------------------------------
GOLDEN_RNE = {
    "fp8_e4m3": [(1.0625, 1.0), (1.1875, 1.25), (2.0**-10, 0.0), (3 * 2.0**-10, 2.0**-8), (464, 448)],
    "fp8_e5m2": [(1.125, 1.0), (1.375, 1.5), (61439, 57344)],
    "fp4_e2m1": [(0.25, 0.0), (0.75, 1.0), (1.25, 1.0), (1.75, 2.0), (2.5, 2.0), (3.5, 4.0), (5.0, 4.0),
                 (0.25000006, 0.5)],  # the last one: tt-metal#51971
    "fp6_e3m2": [(0.03125, 0.0)],
    "fp6_e2m3": [(0.0625, 0.0)],
}


@pytest.mark.parametrize("name", sorted(GOLDEN_RNE))
def test_rne_ties(name):
    inputs, expected = zip(*GOLDEN_RNE[name], strict=True)
    assert round_elements(np.array(inputs, np.float32), get_format(name)).tolist() == list(expected)


@pytest.mark.parametrize(("name", "value", "nonsat", "sat"), [
    ("fp8_e4m3", 465.0, np.nan, 448.0),  # past the 448/480 midpoint: NaN (no Inf) or 448
    ("fp8_e5m2", 61440.0, np.inf, 57344.0),  # the 57344/65536 tie goes to the even 65536: Inf or 57344
    ("fp8_e4m3fnuz", 248.0, np.nan, 240.0),
    ("fp4_e2m1", 100.0, 6.0, 6.0),  # FP4/FP6 have no Inf/NaN: always saturate
    ("fp6_e3m2", 1e6, 28.0, 28.0),
])
def test_overflow_policy(name, value, nonsat, sat):
    fmt = get_format(name)
    got_nonsat = round_elements(np.array([value], np.float32), fmt, overflow="infnan")[0]
    got_sat = round_elements(np.array([value], np.float32), fmt, overflow="saturate")[0]
    assert (np.isnan(got_nonsat) and np.isnan(nonsat)) or got_nonsat == nonsat
    assert got_sat == sat


def test_rounding_toward_zero_never_overflows():
    # IEEE 754 §7.4: RTZ overflow gives the largest finite number; 500 > 448 in e4m3 -> 448, not NaN
    assert round_elements(np.array([500.0], np.float32), get_format("fp8_e4m3"), "rtz", "infnan")[0] == 448


def test_directed_roundings():
    x = np.array([1.1, -1.1, 1.5, -2.5], np.float32)
    fp4 = get_format("fp4_e2m1")
    assert round_elements(x, fp4, "rtz").tolist() == [1.0, -1.0, 1.5, -2.0]
    assert round_elements(x, fp4, "raz").tolist() == [1.5, -1.5, 1.5, -3.0]
    assert round_elements(np.array([2.5, 0.75], np.float32), fp4, "rna").tolist() == [3.0, 1.0]  # ties away


def test_mx_worked_blocks():
    # MXFP8 E4M3, block holding 960: X = 2^(9-8) = 2; 957/2 = 478.5 saturates to 448 -> 896 (microxcaling#4)
    block = np.zeros(32, np.float32)
    block[:2] = [960.0, 957.0]
    assert fake_quantize(block, "mxfp8_e4m3")[1] == 896.0
    # MXFP8 E5M2, block [1..31, 127.99999]: X = 2^(6-15); 127.99999 saturates -> 112; 9 -> 8, 31 -> 32 (ao#436)
    block = np.array([*range(1, 32), 127.99999], np.float32)
    out = fake_quantize(block, "mxfp8_e5m2")
    assert (out[-1], out[8], out[30]) == (112.0, 8.0, 32.0)
    # MXFP4, amax 7: FLOOR X = 1 -> 7->6, 0.3->0.5, -2.6->-3, 0.24->0; RCEIL X = 2 -> 7->8, 0.3->0, -2.6->-3
    block = np.zeros(32, np.float32)
    block[:4] = [7.0, 0.3, -2.6, 0.24]
    assert fake_quantize(block, "mxfp4")[:4].tolist() == [6.0, 0.5, -3.0, 0.0]
    assert fake_quantize(block, "mxfp4", scale_rule="rceil")[:3].tolist() == [8.0, 0.0, -3.0]
    # E4M3 amax 150: RCEIL 2^ceil(log2(150/448)) = 2^-1 -> code 126; CEIL 2^(8-8) -> code 127 (ao#2035)
    block[:4] = [150.0, 1.0, 0, 0]
    assert quantize(block, "mxfp8_e4m3", scale_rule="rceil").scales.tolist() == [126]
    assert quantize(block, "mxfp8_e4m3", scale_rule="ceil").scales.tolist() == [127]


def test_mx_zero_and_nan_blocks():
    x = np.zeros(64, np.float32)
    x[40] = np.nan
    q = quantize(x, "mxfp4")
    assert q.scales.tolist() == [0, 0xFF]  # all-zero block: 2^-127 (code 0); NaN block: 0xFF
    y = dequantize(q)
    assert (y[:32] == 0).all() and np.isnan(y[32:]).all()


def test_nvfp4_recipe_by_hand():
    x = np.zeros(32, np.float32)
    x[:3] = [6.0, 1.0, -0.3]
    x[16:18] = [0.5, 0.25]
    q = quantize(x, "nvfp4")
    # s_enc = 2688 / 6 = 448; block 0: b = e4m3(6/6·448) = 448; block 1: b = e4m3(0.5/6·448 = 37.33) = 36
    assert q.tensor_scale == np.float32(448.0)
    assert q.scale_values().tolist() == [448.0, 36.0]
    y = dequantize(q)
    # block 1 elements: 0.5 · (448/36) = 6.22 -> 6 -> 6·36/448 = 0.48214287; 0.25·12.44 = 3.11 -> 3 -> 0.24107143
    assert y[16] == np.float32(6 * 36) / np.float32(448) and y[17] == np.float32(3 * 36) / np.float32(448)
    # block 0: m = 1 / (448 / 448) = 1, so elements are plain E2M1 casts: -0.3 is past the 0.25 midpoint -> -0.5
    assert y[:3].tolist() == [6.0, 1.0, -0.5]
    assert round_scalar_ref(-0.3, "fp4_e2m1") == -0.5


def test_nvfp4_zero_tensor():
    q = quantize(np.zeros(16, np.float32), "nvfp4")
    assert q.tensor_scale == 1.0 and q.scale_values().tolist() == [0.0]  # encode scale 1 for zero amax (TE)
    assert (dequantize(q) == 0).all()


def test_nvfp4_tiny_tensor_clamps_like_te():
    # amax 1e-37: 2688 / 1e-37 overflows FP32, so s_enc clamps to the FP32 max; a zero block still gets b = 0
    x = np.zeros(48, np.float32)
    x[:3] = [1e-37, -3e-38, 1e-45]
    x[32] = 2e-38
    q = quantize(x, "nvfp4")
    assert q.tensor_scale == np.finfo(np.float32).max
    assert q.scale_values()[1] == 0
    assert same_bits(fake_quantize(x, "nvfp4"), fake_quantize_ref(x, "nvfp4"))


def test_stochastic_draws_are_counter_based():
    # the draw of element i depends on (seed, offset + i) only
    assert stochastic_uniform(1, 10, 8) == stochastic_uniform(1, 10, 8)
    x = np.full(1000, 1.25, np.float32)  # halfway between 1.0 and 1.5 in E2M1
    a = fake_quantize(x, "fp4_e2m1", rounding="stochastic", seed=4)
    b = fake_quantize(x[500:], "fp4_e2m1", rounding="stochastic", seed=4, offset=500)
    assert np.array_equal(a[500:], b)
    assert not np.array_equal(a, fake_quantize(x, "fp4_e2m1", rounding="stochastic", seed=5))
