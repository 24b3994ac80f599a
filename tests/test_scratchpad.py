"""A chip scratchpad (`kind: sram, scope: chip`, as on SRAM-heavy designs) is modelled at every level: the share of
an op's working set it holds streams from it while the rest streams from DRAM (HardwareSpec.memory_seconds)."""

import pytest
from hypothesis import HealthCheck, given, settings

import accelscope as acs
from accelscope.explore import elasticities
from accelscope.hardware.loader import validate_spec

from .conformance import any_op, check_monotone, check_not_faster_than_roofline, check_valid, faster_variants

PAD_CHIP = {  # 4 cores, 100 TFLOP/s bf16, a 256 MiB scratchpad at 80 TB/s beside 16 GB of DRAM at 1 TB/s
    "id": "pad-chip", "name": "scratchpad test chip", "vendor": "test", "kind": "hypothetical",
    "compute": {"clock": "1 GHz", "cores": 4},
    "matrix": {"peak": {"fp32": "25 TFLOP/s", "tf32": "50 TFLOP/s", "bf16": "100 TFLOP/s", "fp16": "100 TFLOP/s",
                        "fp8_e4m3": "200 TFLOP/s", "int8": "200 TFLOP/s"}, "tile": [64, 64, 16]},
    "vector": {"lanes_per_core": 1024, "peak": {"fp32": "8.192 TFLOP/s"}},
    "memory": {"pad": {"kind": "sram", "scope": "chip", "capacity": "256 MiB", "bandwidth": "80 TB/s"},
               "hbm": {"kind": "dram", "scope": "chip", "capacity": "16 GB", "bandwidth": "1 TB/s"}},
    "interconnect": {"scale_up": {"domain_size": 8, "bandwidth": "100 GB/s", "latency": "1 us",
                                  "topology": "switch"},
                     "scale_out": {"bandwidth": "50 GB/s", "latency": "3 us"}},
    "runtime": {"launch_latency": "1 us"},
}
GEMV = acs.ops.Gemm(m=1, n=8192, k=8192, dtype="bf16")
GEMV_BYTES = 2 * 8192 * 8192 + 2 * 8192 + 2 * 8192  # B, A and C in bf16: 134,250,496 B
LEVELS = ("roofline", "analytical", "sim")


def pad_chip(**overrides) -> acs.HardwareSpec:
    hw = validate_spec(PAD_CHIP, "pad-chip", text=False)
    return hw.with_overrides(overrides) if overrides else hw


def b200_with_pad() -> acs.HardwareSpec:
    data = acs.load_hardware("b200").model_dump(exclude_none=True)
    memory = data["memory"]
    data["memory"] = {"smem": memory["smem"], "l2": memory["l2"],
                      "pad": {"kind": "sram", "scope": "chip", "capacity": 512 * 2**20, "bandwidth": 40e12},
                      "hbm": memory["hbm"]}
    return validate_spec({**data, "id": "b200-pad"}, "b200-pad", text=False)


def test_roofline_reads_what_fits_at_the_scratchpads_bandwidth():
    # the working set fits: the share balancing both streams, f = 80 / (80 + 1), goes to the scratchpad, so the
    # bytes move at 81 TB/s: 134,250,496 B / 81e12 = 1.657 us, + 1 us launch
    est = acs.estimate(GEMV, pad_chip(), level="roofline")
    assert est.seconds == pytest.approx(GEMV_BYTES / 81e12 + 1e-6, rel=1e-9)
    # a 64 MiB scratchpad holds 67,108,864 B; the other 67,141,632 B stream from DRAM at 1 TB/s: 67.14 us + 1 us
    small = acs.estimate(GEMV, pad_chip(**{"memory.pad.capacity": "64 MiB"}), level="roofline")
    assert small.seconds == pytest.approx((GEMV_BYTES - 64 * 2**20) / 1e12 + 1e-6, rel=1e-9)
    without = acs.estimate(GEMV, pad_chip(**{"memory.pad.kind": "cache"}), level="roofline")
    assert without.seconds == pytest.approx(GEMV_BYTES / 1e12 + 1e-6, rel=1e-9)  # a cache is not a home for data


def test_analytical_streaming_op_by_hand():
    # add of two fp32 arrays of 2^24: reads 134,217,728 B, writes 67,108,864 B, working set 192 MiB (fits).
    # f = 80 / (80 + 0.95) = 0.98826 (DRAM at its 0.95 read efficiency); scratchpad side 0.98826 x 201,326,592 /
    # 80e12 = 2.487 us; DRAM side 0.011736 x (134,217,728 + 1.24 x 67,108,864) / 0.95e12 = 2.686 us; the longer
    # is the memory time, + 1 us launch (vector 2^24 FLOP / 8.192 TFLOP/s = 2.048 us is shorter)
    op = acs.ops.Elementwise(op="add", elements=2**24, dtype="fp32")
    share = 80 / 80.95
    dram = (1 - share) * (2**27 + 1.24 * 2**26) / 0.95e12
    est = acs.estimate(op, pad_chip(), level="analytical")
    assert est.breakdown["memory"] == pytest.approx(dram, rel=1e-9)
    assert est.seconds == pytest.approx(dram + 1e-6, rel=1e-9)
    # the scratchpad's own write cost: at 2 its side takes 0.98826 x (2^27 + 2 x 2^26) / 80e12 = 3.316 us, longer
    slow_writes = acs.estimate(op, pad_chip(**{"memory.pad.write_cost": 2}), level="analytical")
    assert slow_writes.breakdown["memory"] == pytest.approx(share * 2**28 / 80e12, rel=1e-9)


@pytest.mark.parametrize("level", LEVELS)
def test_every_level_gains_from_the_scratchpad_and_its_fields(level):
    ops = [acs.ops.Elementwise(op="add", elements=2**24, dtype="fp32"),
           acs.ops.Attention(batch=8, heads=32, kv_heads=8, head_dim=128, q_len=1, kv_len=8192)]
    for op in ops:
        base = acs.estimate(op, pad_chip(), level=level).seconds
        no_pad = acs.estimate(op, pad_chip(**{"memory.pad.kind": "cache"}), level=level).seconds
        small = acs.estimate(op, pad_chip(**{"memory.pad.capacity": "16 MiB"}), level=level).seconds
        slow = acs.estimate(op, pad_chip(**{"memory.pad.bandwidth": "2 TB/s"}), level=level).seconds
        assert base < small < no_pad and base < slow < no_pad, (op.name, level)


def test_sim_cores_work_out_of_their_share_when_there_is_no_core_sram():
    result = acs.perf.sim.simulate(GEMV, pad_chip())
    assert "memory.pad / 4 cores" in result.estimate.details["derived"]["sram"]


def test_sensitivity_varies_the_scratchpad():
    hw = pad_chip(**{"memory.pad.capacity": "64 MiB"})
    values = elasticities(lambda h: 1 / acs.estimate(GEMV, h, level="roofline").seconds, hw)
    # half the GEMV streams from DRAM: +10 % capacity moves 6.7 MB more into the scratchpad, +10 % DRAM
    # bandwidth speeds the DRAM half; both ~ +1 (less the 1 us launch)
    assert values["memory.pad.capacity"] == pytest.approx(0.985, abs=0.01)
    assert values["memory.hbm.bandwidth"] == pytest.approx(0.985, abs=0.01)
    assert values["memory.pad.bandwidth"] == pytest.approx(0.0, abs=1e-6)


@pytest.fixture(scope="module", params=["pad-chip", "b200-pad"])
def chip(request):
    hw = pad_chip() if request.param == "pad-chip" else b200_with_pad()
    variants = faster_variants(hw, 1.5)
    variants.append(("memory.pad.capacity", hw.with_overrides({"memory.pad.capacity": hw.memory["pad"].capacity
                                                                * 1.5})))
    return hw, variants


@pytest.mark.parametrize("level", LEVELS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=any_op())
def test_conformance_with_a_scratchpad(chip, level, op):
    hw, variants = chip
    check_valid(acs.estimate(op, hw, level=level))
    check_not_faster_than_roofline(op, hw, level)
    check_monotone(op, variants, hw, level)
