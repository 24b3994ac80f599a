"""Collective estimates against the roofline's link floor."""

import pytest

import accelscope as acs
from accelscope.workload.ops import Collective


def test_two_node_all_reduce_floor_counts_the_switch_reduction():
    # 186,260,074 B over 16 H100 (2 nodes of 8). The hierarchical floor's NVLink phase: with NVLink SHARP (the
    # switch reduces) each GPU sends its buffer once and receives the result once, 1 x B / 450 GB/s = 0.41391 ms, as
    # the one-domain floor already counted (a ring's 2 x 7/8 = 1.75 x B, 0.72434 ms, was used here before and put
    # the floor above NCCL's NVLS tree at 1 GB: 3.895 ms floor, 3.690 ms analytical). The NIC phase, B / 8 per NIC at
    # 50 GB/s = 0.46565 ms, binds; plus the NIC's 3 us and NVLink's 0.94 us: 0.46959 ms.
    from accelscope.perf.collectives import collective_floor

    from .conformance import check_not_faster_than_roofline

    hw = acs.load_hardware("h100-sxm")
    assert collective_floor("all_reduce", 186260074, 16, hw).seconds == pytest.approx(0.46959e-3, rel=1e-5)
    for nbytes in (186260074, 1e9):
        op = Collective("all_reduce", nbytes, group=16)
        check_not_faster_than_roofline(op, hw, "analytical")
        check_not_faster_than_roofline(op, hw, "sim")
