"""Power limit -> sustained clock (hardware/spec.py) and row clock locks (measure/conditions.py), by hand."""

import pytest

from accelscope import estimate, load_hardware, ops
from accelscope.hardware.spec import power_limited_clock_ratio
from accelscope.measure.conditions import clock_overrides, efa_library_latency, spec_for_row, unapplied
from accelscope.measure.dataset import MeasuredRow


def test_power_limit_clock_by_hand():
    # H100 SXM 700 W, static 0.25 x 700 = 175 W: at 500 W the dynamic budget is 325 of 525 W -> f = (325/525)^(1/3)
    assert power_limited_clock_ratio(700, 500) == pytest.approx(0.8523, abs=1e-4)
    # at or above the TDP the clock is the TDP one
    assert power_limited_clock_ratio(700, 700) == 1.0 and power_limited_clock_ratio(700, None) == 1.0
    # no static power: a limit of 1/8 of the TDP halves the clock (cube law)
    assert power_limited_clock_ratio(800, 100, static_fraction=0.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="static power"):
        power_limited_clock_ratio(700, 150)


def test_power_limit_slows_compute_bound_work_at_every_model_level():
    hw = load_hardware("h100-sxm")
    capped = hw.with_overrides({"power.limit": "500 W"})
    assert capped.compute.clock_ratio == pytest.approx(0.8523, abs=1e-4)
    assert hw.compute.clock_ratio == 1.0  # the original spec is untouched
    gemm = ops.Gemm(m=8192, n=8192, k=8192, dtype="bf16")
    for level in ("analytical", "sim"):
        slow = estimate(gemm, capped, level).seconds / estimate(gemm, hw, level).seconds
        assert slow == pytest.approx(1 / 0.8523, rel=0.03)


def test_power_limit_composes_with_a_clock_lock():
    hw = load_hardware("b200").with_overrides({"compute.sustained_clock": "1.395 GHz", "power.limit": "875 W"})
    # lock 1.395 / 1.86 = 0.75; 875 W of 1000 W with 250 W static: (625/750)^(1/3) = 0.9410
    assert hw.compute.clock_ratio == pytest.approx(0.75 * 0.9410, abs=1e-3)


def _row(hardware: str, notes: str = "") -> MeasuredRow:
    return MeasuredRow(id="X-1", hardware=hardware, category="llm_training", op="", dtype="bf16", shape={},
                       metric="iteration_time", value=1.0, unit="s", notes=notes)


def test_row_clock_locks_and_limits():
    b200 = _row("NVIDIA B200 (1 GPU, SM clock locked at 1665 MHz (B200 base clock))")
    assert clock_overrides(b200) == {"compute.sustained_clock": "1665 MHz"}
    assert spec_for_row(b200, "b200").compute.clock_ratio == pytest.approx(1665 / 1860, rel=1e-3)
    h200 = _row("NVIDIA H200 (inferred: README's clock-lock example 'in H200' sets -ac 3201,1980 and -pl 700)")
    assert clock_overrides(h200) == {"compute.sustained_clock": "1980 MHz", "power.limit": "700 W"}
    # 1980 MHz is above the 1.83 GHz the peaks are quoted at, and 700 W is the TDP: nothing changes
    assert spec_for_row(h200, "h200-sxm").compute.clock_ratio == 1.0
    assert clock_overrides(_row("NVIDIA B200 (1000 W limit)")) == {"power.limit": "1000 W"}
    # gpt-fast's README wording: the limit is stated, so it applies (and is no longer reported as unapplied)
    gpt_fast = _row("NVIDIA A100 80GB (form factor not stated; 8-GPU node, power-limited to 330W)")
    assert clock_overrides(gpt_fast) == {"power.limit": "330 W"} and unapplied(gpt_fast) is None
    vague = _row("NVIDIA B200 (8x, single node, 'power limited' per doc; limit not stated)")
    assert clock_overrides(vague) == {} and "not stated" in unapplied(vague)
    assert spec_for_row(_row("NVIDIA H100"), "h100-sxm") == "h100-sxm"


def test_efa_rows_take_the_aws_ofi_nccl_plugins_reported_latency():
    # aws-ofi-nccl platform-aws.cpp platform_data_map: p5en and p6+ 35 us, p3dn 150 us, p5 / p4d / unknown 75 us
    p6 = _row("NVIDIA B200 (AWS p6-b200, 8/node, NVLink5 + 8x50GB/s EFA v4)")
    assert clock_overrides(p6) == {"interconnect.scale_out.library_latency": "35 us"}
    assert spec_for_row(p6, "b200").interconnect.scale_out.library_latency == pytest.approx(35e-6)
    assert efa_library_latency("H200 on p5en.48xlarge over EFA") == 35.0
    assert efa_library_latency("H100 on p5.48xlarge over EFA") == 75.0
    assert efa_library_latency("V100 on p3dn.24xlarge, EFA") == 150.0
    assert efa_library_latency("A100 over EFA") == 75.0
    # no EFA named: NCCL's own transports report no latency (the preset's 0)
    assert efa_library_latency("H100 over InfiniBand NDR (p5-like)") is None
    assert load_hardware("b200").interconnect.scale_out.library_latency == 0.0
