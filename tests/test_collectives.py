"""Collective estimates against the roofline's link floor."""

import pytest

import accelscope as acs
from accelscope.workload.ops import Collective


def test_two_node_all_reduce_never_beats_the_link_floor():
    # 186,260,074 B over 16 H100 (2 nodes of 8): the roofline's hierarchical floor is the NIC phase plus the two
    # latencies, 0.72828 ms; the NCCL model's network phase prices the same bandwidth term and its latency
    # bookkeeping rounded 7.6e-13 s below the floor (a generated conformance case): the analytical level now takes
    # the floor as its minimum
    from accelscope.perf.collectives import collective_floor

    hw = acs.load_hardware("h100-sxm")
    op = Collective("all_reduce", 186260074, group=16)
    floor = collective_floor("all_reduce", 186260074, 16, hw).seconds
    assert floor == pytest.approx(0.72828e-3, rel=1e-5)
    assert acs.estimate(op, hw, "analytical").breakdown["interconnect"] >= floor
    assert acs.estimate(op, hw, "analytical").seconds >= acs.estimate(op, hw, "roofline").seconds
