"""The hardware layer's storage sizes (which price memory traffic) agree with the numerics format descriptors."""

import pytest

from accelscope.hardware.dtypes import DTYPE_BITS
from accelscope.numerics import get_format

# hardware dtype name -> numerics format name
PAIRS = {
    "fp32": "fp32", "bf16": "bf16", "fp16": "fp16", "fp8_e4m3": "fp8_e4m3", "fp8_e5m2": "fp8_e5m2",
    "fp6_e3m2": "fp6_e3m2", "fp6_e2m3": "fp6_e2m3", "fp4_e2m1": "fp4_e2m1", "int8": "int8", "int4": "int4",
    "mxfp8": "mxfp8_e4m3", "mxfp6": "mxfp6_e3m2", "mxfp4": "mxfp4", "nvfp4": "nvfp4",
}


@pytest.mark.parametrize(("dtype", "fmt"), PAIRS.items())
def test_storage_bits_match(dtype, fmt):
    f = get_format(fmt)
    bits = f.bits_per_element if hasattr(f, "bits_per_element") else f.bits
    assert DTYPE_BITS[dtype] == pytest.approx(bits)  # e.g. mxfp4 = 4 + 8/32 = 4.25 bits
