"""Collective estimates against the roofline's link floor."""

import pytest

import accelscope as acs
from accelscope.workload.ops import Collective


def test_two_node_all_reduce_floor_counts_the_switch_reduction():
    # 186,260,074 B over 16 H100 (2 nodes of 8). The hierarchical floor's NVLink phase: with NVLink SHARP (the
    # switch reduces) each GPU sends its buffer once and receives the result once, 1 x B / 450 GB/s = 0.41391 ms, as
    # the one-domain floor already counted (a ring's 2 x 7/8 = 1.75 x B, 0.72434 ms, was used here before and put
    # the floor above NCCL's NVLS tree at 1 GB: 3.895 ms floor, 3.690 ms analytical). The NIC phase, B / 8 per NIC at
    # 50 GB/s = 0.46565 ms, binds; plus one network and one NVLink hop at NCCL's own per-hop latencies, which are
    # below the links' 3 us and 0.94 us (hwLat[NET] LL 2.7 us, hwLat[NVLINK] LL 0.6 us): 0.46895 ms.
    from accelscope.perf.collectives import collective_floor

    from .conformance import check_not_faster_than_roofline

    hw = acs.load_hardware("h100-sxm")
    assert collective_floor("all_reduce", 186260074, 16, hw).seconds == pytest.approx(0.46895e-3, rel=1e-5)
    for nbytes in (186260074, 1e9):
        op = Collective("all_reduce", nbytes, group=16)
        check_not_faster_than_roofline(op, hw, "analytical")
        check_not_faster_than_roofline(op, hw, "sim")


def test_no_collective_on_any_preset_beats_the_roofline():
    """Every collective kind on every preset, in and across scale-up domains (groups that fill, span and do not
    divide them; strides that skip ranks), 1 kB to 1 GB: the analytical and sim levels are never below the roofline.
    This grid found three floors the levels beat: a broadcast priced at n / (n - 1) of the bus (NCCL's nsteps is
    nRanks for broadcast), groups that do not divide into domains dropping their last domain (16 ranks over domains of
    9), and the floor's hop latencies above NCCL's own per-hop latencies."""
    from .conformance import check_not_faster_than_roofline

    for hw_id in acs.list_hardware():
        hw = acs.load_hardware(hw_id)
        for kind in ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "send_recv"):
            for group in (2, 3, 8, 9, 16, 72, 128):
                for stride in (1, 8):
                    for nbytes in (1e3, 1e6, 1e9):
                        op = Collective(kind, nbytes, group=group, stride=stride)
                        try:
                            acs.estimate(op, hw, "roofline")
                        except ValueError:  # no scale-out on a single-domain preset: refused with a message
                            continue
                        check_not_faster_than_roofline(op, hw, "analytical")
                        check_not_faster_than_roofline(op, hw, "sim")


def test_broadcast_moves_the_whole_buffer_over_the_bus():
    """NCCL's ring broadcast (tuning.cc: nsteps = nRanks, algorithm bandwidth = bus x nRanks / nsteps = the bus):
    1 GB between 2 H100 moves the whole buffer over the bus, where the all-gather of a 1 GB output (nsteps =
    nRanks - 1, algorithm bandwidth = bus x 2) moves half of it: twice the time, up to the latencies."""
    from accelscope.perf.nccl import ring_steps

    assert ring_steps("broadcast", 8) == 8 and ring_steps("all_gather", 8) == 7 and ring_steps("all_reduce", 8) == 14
    hw = acs.load_hardware("h100-sxm")
    bcast = acs.estimate(Collective("broadcast", 1e9, group=2), hw, "analytical").seconds
    gather = acs.estimate(Collective("all_gather", 1e9, group=2), hw, "analytical").seconds
    assert bcast == pytest.approx(2 * gather, rel=0.02)
