"""A measured row's unit in the spellings sources use (measure/units.py, on the spec parser hardware/units.py).
Before, a row in "TFLOPS" (DeepGEMM's README), "usec" or "ns" stopped `accelscope validate` with "unit not
understood" for the whole file."""

import pytest

from accelscope.measure import MeasuredRow
from accelscope.measure.predict import Prediction, predict
from accelscope.measure.units import rate_scale, time_scale


@pytest.mark.parametrize(("unit", "seconds"), [("s", 1.0), ("sec", 1.0), ("ms", 1e-3), ("msec", 1e-3), ("us", 1e-6),
                                               ("µs", 1e-6), ("μs", 1e-6), ("usec", 1e-6), ("ns", 1e-9), ("seconds", 1.0), ("nsec", 1e-9)])
def test_time_units(unit, seconds):
    assert time_scale(unit) == seconds and rate_scale(unit) is None


@pytest.mark.parametrize(("unit", "factor"), [
    ("TFLOP/s", 1e12), ("TFLOPS", 1e12), ("TFLOPs", 1e12), ("tflops", 1e12), ("GFLOP/sec", 1e9), ("PFLOP/s", 1e15), ("TFLOP/s/GPU", 1e12),
    ("GB/s", 1e9), ("TB/s", 1e12), ("GiB/s", 2**30), ("GBps", 1e9), ("G elements/s", 1e9), ("tokens/s", 1.0),
    ("tokens/s/GPU", 1.0), ("tok/s", 1.0)])
def test_rate_units(unit, factor):
    assert rate_scale(unit) == factor and time_scale(unit) is None


def test_bits_are_an_eighth_of_a_byte():
    """400 Gb/s is 50 GB/s (the spec parser's reading): a link or NIC row in bits is not read as bytes."""
    assert rate_scale("Gb/s") == pytest.approx(1e9 / 8) and rate_scale("Gbps") == pytest.approx(1e9 / 8)


@pytest.mark.parametrize("unit", ["parsecs", "furlongs/s", "", "banana/s"])
def test_nonsense_is_no_unit(unit):
    assert rate_scale(unit) is None and time_scale(unit) is None


def test_a_gemm_row_reads_the_same_in_any_spelling():
    """8192^3 on H100: the same prediction in TFLOP/s and TFLOPS, and its time in us is 1e3 x its time in ms and
    2 x 8192^3 / (its TFLOP/s x 1e12) seconds."""
    def row(unit, metric="throughput"):
        return MeasuredRow(id="QQ-5", hardware="NVIDIA H100 SXM5", category="gemm", op="mm", dtype="bf16",
                           shape={"M": 8192, "N": 8192, "K": 8192}, metric=metric, value=1.0, unit=unit)

    rate = predict(row("TFLOP/s"), "analytical")
    assert isinstance(rate, Prediction)
    assert predict(row("TFLOPS"), "analytical") == rate
    ms, us = predict(row("ms", "time"), "analytical"), predict(row("usec", "time"), "analytical")
    assert isinstance(ms, Prediction) and isinstance(us, Prediction)
    assert us.value == pytest.approx(1e3 * ms.value)
    assert ms.value * 1e-3 == pytest.approx(2 * 8192**3 / (rate.value * 1e12))


@pytest.mark.parametrize(("metric", "read"), [("runtime", True), ("kernel-time", True), ("time (ms)", True),
                                              ("median", True), ("avg_latency", True), ("perf", True),
                                              ("flops_per_banana", False), ("quality", False)])
def test_an_op_rows_metric_names_a_time_or_a_rate(metric, read):
    """A metric in other benchmarks' words ("runtime", "kernel-time", "time (ms)") is read from its unit; one that
    names neither a time nor a rate stays unmapped with the reason."""
    from accelscope.measure.predict import metric_not_understood

    row = MeasuredRow(id="QQ-6", hardware="NVIDIA H100 SXM5", category="gemm", op="mm", dtype="bf16",
                      shape={"M": 64, "N": 64, "K": 64}, metric=metric, value=1.0, unit="us")
    assert (metric_not_understood(row) is None) == read
