"""quantize / dequantize / fake_quantize: shapes, packing, axis handling, bad input."""

import numpy as np
import pytest

from accelscope.numerics import Quantized, dequantize, fake_quantize, get_format, quantize


def test_fp4_codes_are_packed_two_per_byte():
    x = np.array([0.5, -6.0, 1.0], np.float32)  # E2M1 codes 0x1, 0xF, 0x2
    q = quantize(x, "fp4_e2m1")
    assert q.packed and q.codes.dtype == np.uint8
    assert q.codes.tolist() == [0xF1, 0x02]  # element 0 in the low nibble; odd count padded with 0
    assert q.element_codes().tolist() == [0x1, 0xF, 0x2]
    assert quantize(x, "fp4_e2m1", pack=False).codes.tolist() == [0x1, 0xF, 0x2]


def test_mxfp4_storage_cost():
    x = np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)
    q = quantize(x, "mxfp4")
    # 512 elements · 4 bits = 256 bytes of codes + 16 blocks · 1 byte of E8M0 scales
    assert (q.codes.nbytes, q.scales.shape, q.nbytes) == (256, (8, 2), 272)


def test_code_dtypes_for_wide_formats():
    x = np.array([1.0, -2.5, 65504.0], np.float32)
    assert quantize(x, "bf16").codes.dtype == np.uint16
    assert quantize(x, "fp16").codes.tolist() == [0x3C00, 0xC100, 0x7BFF]  # IEEE half encodings
    assert quantize(x, "tf32").codes.dtype == np.uint32


def test_axis_moves_blocks_and_round_trips():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    q = quantize(x, "mxfp8_e4m3", axis=0)
    assert q.layout_shape == (5, 64) and q.scales.shape == (5, 2)
    y = dequantize(q)
    assert y.shape == x.shape
    assert np.array_equal(y, fake_quantize(x.T.copy(), "mxfp8_e4m3").T)


def test_partial_block_is_zero_padding():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(40).astype(np.float32)
    padded = np.concatenate([x, np.zeros(24, np.float32)])
    assert np.array_equal(fake_quantize(x, "mxfp4"), fake_quantize(padded, "mxfp4")[:40])
    assert quantize(x, "mxfp4").scales.shape == (2,)


def test_per_channel_scales_shape_and_values():
    x = np.array([[1.0, -448.0], [0.5, 0.25]], np.float32)
    q = quantize(x, "fp8_e4m3", scaling="channel")
    # row 0: amax 448 -> m = 448/448 = 1, s = 1; row 1: amax 0.5 -> m = 896, s = 1/896
    assert q.scales.shape == (2, 1)
    assert q.scales[:, 0].tolist() == [1.0, float(np.float32(1) / np.float32(896))]
    assert np.array_equal(dequantize(q)[0], x[0])


def test_tensor_scaling_uses_one_scale():
    x = np.array([[3.0, 1.0], [0.1, -6.0]], np.float32)
    q = quantize(x, "fp4_e2m1", scaling="tensor")
    assert q.scales.shape == () and float(q.scales) == 1.0  # amax 6 = E2M1 max -> scale 1
    assert dequantize(q).tolist() == [[3.0, 1.0], [0.0, -6.0]]


def test_scalar_and_empty_inputs():
    assert fake_quantize(np.float32(0.3), "fp4_e2m1").shape == ()
    assert float(fake_quantize(np.float32(0.3), "fp4_e2m1")) == 0.5
    assert fake_quantize(np.zeros((0, 32), np.float32), "mxfp4").shape == (0, 32)


def test_quantized_is_a_record():
    q = quantize(np.ones(32, np.float32), "mxfp4")
    assert isinstance(q, Quantized) and q.element_format is get_format("fp4_e2m1")
    assert q.scale_values().tolist() == [0.25]  # amax 1: X = 2^(0 - 2); element 1/0.25 = 4


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"fmt": "fp5"}, r"fmt: unknown format 'fp5'"),
    ({"fmt": "mxfp4", "axis": 2}, r"axis: must be an int in \[-2, 1\] for a 2-D input \(got 2\)"),
    ({"fmt": "mxfp4", "rounding": "nearest"}, r"rounding: must be one of rne, rna, rtz, raz, stochastic"),
    ({"fmt": "fp8_e4m3", "overflow": "clip"}, r"overflow: must be one of saturate, infnan"),
    ({"fmt": "mxfp4", "scaling": "tensor"}, r"scaling: mxfp4 is a block format"),
    ({"fmt": "mxfp4", "scale_rule": "pow2"}, r"scale_rule: mxfp4 accepts floor, ceil, rceil"),
    ({"fmt": "fp8_e4m3", "scaling": "row"}, r"scaling: must be one of none, tensor, channel, token"),
    ({"fmt": "fp8_e4m3", "scale_rule": "amax"}, r"scale_rule: only applies with scaling"),
    ({"fmt": "mxfp4", "rounding": "stochastic", "random_bits": 40}, r"random_bits: must be an int in 1..32"),
])
def test_bad_input_names_the_argument(kwargs, message):
    x = np.ones((2, 32), np.float32)
    with pytest.raises(ValueError, match=message):
        quantize(x, **kwargs)


def test_2d_tiles_need_a_matrix():
    with pytest.raises(ValueError, match=r"x: fp8_block_128x128 tiles the last two axes"):
        quantize(np.ones(8, np.float32), "fp8_block_128x128")
    q = quantize(np.ones((130, 260), np.float32), "fp8_block_128x128")
    assert q.scales.shape == (2, 3)  # ceil(130/128) × ceil(260/128)


def test_string_input_rejected():
    with pytest.raises(ValueError, match=r"x: must be a real numeric array"):
        quantize(np.array(["a"]), "fp8_e4m3")
