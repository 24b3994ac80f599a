"""OpenXLA's default matmul performance table as an external, blind GEMM check (data/external, source XL)."""

from __future__ import annotations

from collections import Counter

import pytest

from accelscope.measure.dataset import external_sources, load_rows, source_of
from accelscope.measure.globalfit import fit_eligible
from accelscope.measure.predict import Prediction, hardware_id, predict


@pytest.fixture(scope="module")
def xla_rows():
    return [r for r in load_rows("external") if source_of(r) == "XL"]


def test_xla_table_rows_load_apart_from_all(xla_rows):
    """375 (b, m, n, k) entries per table key (b in 1, 2, 4; m, n, k in 256 .. 4096 by powers of 2: 3 x 5^3):
    sm_90 as h100-sxm with bf16 and tf32, sm_100 as b200 with bf16, tf32 and fp8_e4m3. The sm_90 FP8 entries are
    not shipped (external/README.md: the median spans the transpose XLA inserts and the GEMM)."""
    per_chip_dtype = Counter((hardware_id(r.hardware), r.dtype.split()[0]) for r in xla_rows)
    assert per_chip_dtype == {("h100-sxm", "bf16"): 375, ("h100-sxm", "tf32"): 375, ("b200", "bf16"): 375,
                              ("b200", "tf32"): 375, ("b200", "fp8_e4m3"): 375}
    assert not any(source_of(r) == "XL" for r in load_rows("all"))


def test_every_xla_row_maps_at_the_analytical_level(xla_rows):
    """The default GEMM mapper takes M, N, K and batch from the shape: no row is skipped."""
    outcomes = [predict(r, "analytical") for r in xla_rows]
    assert all(isinstance(o, Prediction) and o.value > 0 for o in outcomes)


def test_xla_4096_cube_values_are_the_tables_flops(xla_rows):
    """kDefaultMatmulPTable sm_100, b 1, m = n = k = 4096, bf16xbf16->bf16: flops 1416867213789406, i.e.
    1416.867214 TFLOP/s; 2 x 4096^3 = 137438953472 FLOP / 1.416867213789406e15 FLOP/s = 97002 ns, a whole
    number of nanoseconds (the tool stores 2bmnk / median CUPTI kernel ns). sm_90 bf16: 780193877565849 ->
    780.193878 TFLOP/s, 137438953472 / 780193877565849 = 176160 ns."""
    cube = {(hardware_id(r.hardware), r.dtype.split()[0]): r for r in xla_rows
            if r.shape == {"M": 4096, "N": 4096, "K": 4096, "batch": 1, "table_key": r.shape["table_key"]}}
    assert cube[("b200", "bf16")].value == pytest.approx(1416.867214, abs=1e-6)
    assert cube[("h100-sxm", "bf16")].value == pytest.approx(780.193878, abs=1e-6)
    assert 2 * 4096**3 / (cube[("b200", "bf16")].value * 1e12) * 1e9 == pytest.approx(97002, abs=0.01)


def test_every_xla_value_is_a_whole_nanosecond_kernel_time(xla_rows):
    """A transcription check: each value is 2bmnk over a median kernel time in whole nanoseconds, so a digit
    mistyped in the first dozen would leave a fractional time (values kept to 1e-6 TFLOP/s: < 0.01 ns off)."""
    for r in xla_rows:
        s = r.shape
        ns = 2 * s["batch"] * s["M"] * s["N"] * s["K"] / (r.value * 1e12) * 1e9
        assert abs(ns - round(ns)) < 0.01, r.id


def test_external_rows_are_never_fitted(xla_rows):
    """Leave-one-source-out fits (DRAM pair, matrix efficiencies, host time) skip the external checks."""
    assert {"XL", "MB"} <= external_sources()
    assert not any(fit_eligible(r) for r in xla_rows[:50])
