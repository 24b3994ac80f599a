"""Format descriptors: golden extremes from the OCP/ml_dtypes definitions, invariants, registry errors."""

import math

import ml_dtypes
import numpy as np
import pytest

from accelscope.numerics import (
    BLOCK_FORMATS,
    ELEMENT_FORMATS,
    FloatFormat,
    IntFormat,
    get_format,
    list_formats,
)

GOLDEN = {
    # name: (max, min_normal, min_subnormal)
    "fp8_e4m3": (448.0, 2.0**-6, 2.0**-9),  # 1.75·2^8; 2^(1-7); 2^(1-7-3)
    "fp8_e5m2": (57344.0, 2.0**-14, 2.0**-16),  # 1.75·2^15; 2^(1-15); 2^(1-15-2)
    "fp8_e4m3fnuz": (240.0, 2.0**-7, 2.0**-10),  # 1.875·2^7 (bias 8, top binade usable)
    "fp8_e5m2fnuz": (57344.0, 2.0**-15, 2.0**-17),  # 1.75·2^15 with bias 16: exponent 31 usable
    "fp6_e3m2": (28.0, 0.25, 0.0625),  # 1.75·2^4; 2^(1-3); 0.25/4
    "fp6_e2m3": (7.5, 1.0, 0.125),  # 1.875·2^2; 2^0; 1/8
    "fp4_e2m1": (6.0, 1.0, 0.5),  # 1.5·2^2; 2^0; 1/2
    "fp16": (65504.0, 2.0**-14, 2.0**-24),
    "bf16": (float(ml_dtypes.finfo(ml_dtypes.bfloat16).max), 2.0**-126, 2.0**-133),
    "tf32": ((2 - 2.0**-10) * 2.0**127, 2.0**-126, 2.0**-136),
    "fp32": (float(np.finfo(np.float32).max), 2.0**-126, 2.0**-149),
    "e8m0": (2.0**127, 2.0**-127, 2.0**-127),  # code 0xFE = 2^(254-127); code 0x00 = 2^-127
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_float_extremes(name):
    fmt = get_format(name)
    assert (fmt.max_value, fmt.min_normal, fmt.min_subnormal) == GOLDEN[name]


def test_int_grids():
    assert (get_format("int8").qmin, get_format("int8").qmax) == (-127, 127)  # symmetric
    assert (get_format("int4").qmin, get_format("int4").qmax) == (-7, 7)
    mxint8 = get_format("mxint8").element
    assert mxint8.max_value == 127 / 64  # 1.984375: 127 · 2^-6


@pytest.mark.parametrize("fmt", [f for f in ELEMENT_FORMATS if isinstance(f, FloatFormat)], ids=lambda f: f.name)
def test_bits_add_up_and_max_is_representable(fmt):
    assert int(fmt.signed) + fmt.exp_bits + fmt.man_bits == fmt.bits
    if fmt.bits <= 8:
        table = fmt.decode_table
        assert np.nanmax(table[np.isfinite(table)]) == np.float32(fmt.max_value)
        assert np.min(np.abs(table[np.isfinite(table) & (table != 0)])) == np.float32(fmt.min_subnormal)


@pytest.mark.parametrize(("name", "finite"), [("fp8_e4m3", 253), ("fp8_e5m2", 247), ("fp6_e3m2", 63),
                                               ("fp6_e2m3", 63), ("fp4_e2m1", 15), ("fp8_e4m3fnuz", 255),
                                               ("fp8_e5m2fnuz", 255), ("e8m0", 255)])
def test_distinct_finite_value_counts(name, finite):
    # counts from the lowprec anchors §1 (±0 counted once)
    table = get_format(name).decode_table
    assert len(set(table[np.isfinite(table)].tolist())) == finite


def test_special_codes():
    e4m3, e5m2, fnuz = get_format("fp8_e4m3"), get_format("fp8_e5m2"), get_format("fp8_e4m3fnuz")
    assert math.isnan(e4m3.decode_table[0x7F]) and e4m3.decode_table[0x7E] == 448
    assert e5m2.decode_table[0x7C] == np.inf and e5m2.decode_table[0xFC] == -np.inf
    assert math.isnan(fnuz.decode_table[0x80]) and fnuz.decode_table[0x00] == 0
    assert math.isnan(get_format("e8m0").decode_table[0xFF]) and get_format("e8m0").decode_table[0x7F] == 1.0


def test_e2m1_value_set():
    table = get_format("fp4_e2m1").decode_table
    assert sorted(set(np.abs(table).tolist())) == [0, 0.5, 1, 1.5, 2, 3, 4, 6]


def test_block_formats():
    mxfp4, nvfp4 = get_format("mxfp4"), get_format("nvfp4")
    assert mxfp4.block_shape == (1, 32) and mxfp4.scale == "e8m0"
    assert mxfp4.bits_per_element == 4.25  # 4 + 8/32
    assert nvfp4.block_shape == (1, 16) and nvfp4.bits_per_element == 4.5  # 4 + 8/16
    assert get_format("fp8_block_128x128").block_shape == (128, 128)
    # emax_elem: E4M3 8, E5M2 15, E3M2 4, E2M3 2, E2M1 2, MXINT8 0 (torchao constants / microxcaling)
    assert [get_format(n).emax_elem for n in ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3",
                                               "mxfp4", "mxint8")] == [8, 15, 4, 2, 2, 0]
    assert len(BLOCK_FORMATS) == 9


def test_registry_aliases_and_errors():
    assert get_format("float8_e4m3fn") is get_format("fp8_e4m3") is get_format("E4M3FN")
    assert len(list_formats()) == 23
    with pytest.raises(ValueError, match=r"fmt: unknown format 'fp7'; use one of: fp32"):
        get_format("fp7")


def test_describe_is_flat():
    for fmt in (*ELEMENT_FORMATS, *BLOCK_FORMATS):
        record = fmt.describe()
        assert record["name"] == fmt.name
        assert all(not isinstance(v, dict | list) for v in record.values())
    assert isinstance(get_format("int4"), IntFormat)
