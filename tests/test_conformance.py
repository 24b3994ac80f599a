"""Run the conformance suite on every level that is available, on several chips."""

import pytest
from hypothesis import HealthCheck, given, settings

import accelscope as acs
from accelscope.perf import available_levels
from accelscope.workload import Gemm, Graph, Norm, Softmax

from .conformance import any_op, check_monotone, check_not_faster_than_roofline, check_valid, faster_variants

CHIPS = [c for c in ("h100-sxm", "a100-sxm-80gb", "mi300x", "tpu-v5p", "b200") if c in acs.list_hardware()]
LEVELS = available_levels()
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", params=CHIPS)
def chip(request):
    hw = acs.load_hardware(request.param)
    return hw, faster_variants(hw, 1.5)


@pytest.mark.parametrize("level", LEVELS)
@SETTINGS
@given(op=any_op())
def test_estimates_are_valid_and_bounded_by_the_roofline(chip, level, op):
    hw, _ = chip
    check_valid(acs.estimate(op, hw, level=level))
    check_not_faster_than_roofline(op, hw, level)


@pytest.mark.parametrize("level", LEVELS)
@SETTINGS
@given(op=any_op())
def test_more_bandwidth_or_peak_is_never_slower(chip, level, op):
    hw, variants = chip
    check_monotone(op, variants, hw, level)


@pytest.mark.parametrize("level", LEVELS)
def test_graph_equals_the_sum_of_its_ops(chip, level):
    hw, _ = chip
    ops = [Gemm(4096, 4096, 4096), Norm(rows=4096, hidden=4096), Softmax(rows=64, cols=4096)]
    graph = Graph.of(ops[0], (ops[1], 2), (ops[2], 5))
    parts = sum(acs.estimate(o, hw, level=level).seconds * c for o, c in zip(ops, (1, 2, 5), strict=True))
    assert acs.estimate(graph, hw, level=level).seconds == pytest.approx(parts, rel=1e-12)


def test_the_suite_can_fail():
    """A deliberately broken model (faster with less bandwidth) must be caught by the monotonicity check."""
    hw = acs.load_hardware("h100-sxm")
    slower = hw.with_overrides({"memory.hbm.bandwidth": hw.hbm_bandwidth / 2})
    op = Gemm(m=1, n=8192, k=8192)
    with pytest.raises(AssertionError, match="slowed down"):
        # base = the fast chip, "variant" = a slower chip: the check must object
        check_monotone(op, [("hbm halved", slower)], hw, "roofline")
