"""Collective estimates against the roofline's link floor."""

import pytest

import accelscope as acs
from accelscope.workload.ops import Collective


def test_two_node_all_reduce_at_the_nic_rate_is_the_link_floor():
    # 186,260,074 B over 16 H100 (2 nodes of 8): the roofline's hierarchical floor is the NIC phase plus the two
    # latencies, 0.72828 ms; NCCL's NVLS tree between the nodes runs at the NIC's full rate, so the analytical
    # level prices the floor itself, up to rounding (its latency bookkeeping lands 7.6e-13 s, 1e-9, below it: the
    # conformance check's 1 ppm tolerance is for that)
    from accelscope.perf.collectives import collective_floor

    from .conformance import check_not_faster_than_roofline

    hw = acs.load_hardware("h100-sxm")
    op = Collective("all_reduce", 186260074, group=16)
    floor = collective_floor("all_reduce", 186260074, 16, hw).seconds
    assert floor == pytest.approx(0.72828e-3, rel=1e-5)
    assert acs.estimate(op, hw, "analytical").breakdown["interconnect"] == pytest.approx(floor, rel=1e-8)
    check_not_faster_than_roofline(op, hw, "analytical")
