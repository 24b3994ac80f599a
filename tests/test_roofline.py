"""Roofline level: the issue's 'done when' checks, SFU roof, collectives, launch."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import accelscope as acs
from accelscope.workload import Attention, Collective, Elementwise, Gemm, Graph, Norm, Softmax

from .conftest import fuzz_examples


@pytest.fixture(scope="module")
def h100():
    return acs.load_hardware("h100-sxm")


def test_big_bf16_gemm_is_2mnk_over_peak(h100):
    est = acs.estimate(Gemm(8192, 8192, 8192, "bf16"), h100)
    expected = 2 * 8192**3 / 989.4e12  # 1.1113 ms
    assert est.seconds == pytest.approx(expected, rel=0.01)
    assert est.bound == "matrix"
    assert est.flops == 2 * 8192**3
    assert est.level == "roofline"


def test_doubling_hbm_bandwidth_halves_a_gemv(h100):
    gemv = Gemm(m=1, n=16384, k=16384, dtype="bf16", shared_b=True)  # reads 512 MiB of weights
    slow = acs.estimate(gemv, h100)
    fast = acs.estimate(gemv, h100.with_overrides({"memory.hbm.bandwidth": 2 * h100.hbm_bandwidth}))
    assert slow.bound == fast.bound == "memory"
    # 537 MB / 3.35 TB/s = 160 us -> 80 us; the fixed 2.5 us launch does not shrink, hence 2 %
    assert fast.seconds == pytest.approx(slow.seconds / 2, rel=0.02)
    launch = h100.runtime.launch_latency  # the memory part halves exactly
    assert fast.seconds - launch == pytest.approx((slow.seconds - launch) / 2, rel=1e-12)


def test_fp8_gemm_uses_the_fp8_peak_and_falls_back_on_a_chip_without_it(h100):
    fp8 = acs.estimate(Gemm(8192, 8192, 8192, "fp8_e4m3"), h100)
    assert fp8.seconds == pytest.approx(2 * 8192**3 / 1978.9e12 + h100.runtime.launch_latency, rel=1e-9)
    # (the weight-conversion costs are keyed by matrix path too: keep bf16's)
    no_fp8 = h100.with_overrides({"matrix.peak": {"bf16": "989.4 TFLOP/s"},
                                  "isa.dequantize_ops": {"bf16": h100.isa.dequantize_ops["bf16"]}})
    assert acs.estimate(Gemm(8192, 8192, 8192, "fp8_e4m3"), no_fp8).details["matrix_dtype"] == "bf16"


def test_attention_has_an_sfu_roof_of_half_the_matrix_time(h100):
    # FA3 sec. 3.2: head dim 128 has 512x more matmul FLOPs than exps, and exp is 256x slower -> 50 %
    est = acs.estimate(Attention(batch=4, heads=32, head_dim=128, q_len=4096, kv_len=4096), h100)
    assert est.breakdown["sfu"] / est.breakdown["matrix"] == pytest.approx(0.5, rel=0.01)
    fp8 = acs.estimate(Attention(batch=4, heads=32, head_dim=128, q_len=4096, kv_len=4096, dtype="fp8_e4m3"), h100)
    assert fp8.bound == "sfu"  # FP8 doubles matmul speed, exp does not


def test_sfu_less_chip_pays_a_polynomial_on_the_vector_unit(h100):
    # Removing the special-function unit moves exp2 onto the vector unit as a 12-FLOP polynomial.
    data = h100.model_dump(exclude_none=True)
    data.pop("sfu")
    no_sfu = acs.HardwareSpec.model_validate(data)
    op = Softmax(rows=8192, cols=8192, dtype="fp32")
    with_unit, without = acs.estimate(op, h100), acs.estimate(op, no_sfu)
    assert without.breakdown["sfu"] == 0
    extra = (8192 * 8192 * 12 + 8192 * 6) / h100.vector.peak["fp32"]  # exp2 + rcp polynomials
    assert without.breakdown["vector"] - with_unit.breakdown["vector"] == pytest.approx(extra, rel=1e-9)


def test_tiny_op_is_launch_bound(h100):
    est = acs.estimate(Norm(rows=1, hidden=128), h100)
    assert est.bound == "launch"
    assert est.seconds == pytest.approx(h100.runtime.launch_latency, rel=0.01)


def test_all_reduce_in_one_node_is_the_ring_bandwidth_floor(h100):
    no_nvls = h100.with_overrides({"interconnect.scale_up.in_network_reduction": False})
    est = acs.estimate(Collective(op="all_reduce", bytes=1e9, group=8), no_nvls)
    # 2*(8-1)/8 * 1 GB / 450 GB/s = 3.889 ms, plus 0.94 us link latency and the 2.5 us launch
    assert est.breakdown["interconnect"] == pytest.approx(2 * 7 / 8 * 1e9 / 450e9 + 0.94e-6, rel=1e-3)
    assert est.bound == "interconnect"
    # with in-switch reduction (NVLS) each byte crosses the link once: 1 GB / 450 GB/s = 2.222 ms
    nvls = acs.estimate(Collective(op="all_reduce", bytes=1e9, group=8), h100)
    assert nvls.breakdown["interconnect"] == pytest.approx(1e9 / 450e9 + 0.94e-6, rel=1e-3)


def test_all_reduce_across_nodes_is_limited_by_scale_out(h100):
    est = acs.estimate(Collective(op="all_reduce", bytes=1e9, group=64), h100)
    # 8 nodes of 8: each GPU owns 1/8 after the in-node reduce-scatter; 2*(8-1)/8 * 125 MB / 50 GB/s = 4.375 ms
    assert est.breakdown["interconnect"] == pytest.approx(2 * 7 / 8 * 1e9 / 8 / 50e9 + 3e-6 + 0.94e-6, rel=1e-3)


def test_graph_is_the_sum_of_its_ops(h100):
    a, b = Gemm(4096, 4096, 4096), Norm(rows=4096, hidden=4096)
    graph = Graph.of(a, (b, 3), name="block")
    total = acs.estimate(graph, h100)
    assert total.seconds == pytest.approx(acs.estimate(a, h100).seconds + 3 * acs.estimate(b, h100).seconds)
    assert sum(total.attribution.values()) == pytest.approx(total.seconds)
    assert [name for name, _, _ in total.parts] == ["gemm", "rms_norm"]


def test_estimate_algebra(h100):
    e = acs.estimate(Gemm(1024, 1024, 1024), h100)
    assert (e * 3).seconds == pytest.approx(3 * e.seconds)
    assert (e + e).seconds == pytest.approx(2 * e.seconds)
    assert "seconds" in e.to_dict() and e._repr_html_().startswith("<table>")


def test_every_planned_level_is_available(h100):
    assert acs.perf.available_levels() == ["roofline", "analytical", "sim"]
    assert acs.estimate(Gemm(1, 1, 1), h100, level="sim").level == "sim"


def test_unknown_level(h100):
    with pytest.raises(ValueError, match="expected one of roofline, analytical, sim"):
        acs.estimate(Gemm(1, 1, 1), h100, level="magic")


# ----- warm inputs: the operand the previous kernel just wrote comes from L2 --------------------------------------
def test_warm_input_reads_the_roofline_from_l2(h100):
    """vidur's residual add (out of place: 2 arrays read, 1 written) with the down_proj output warm in L2.
    H100: HBM 3.35 TB/s, L2 6.65 TB/s, 50 MiB L2 of which half (26,214,400 B) stays resident.
    4096 x 8192 fp16: 3 x 67,108,864 = 201,326,592 B; DRAM moves 201,326,592 - 26,214,400 = 175,112,192 B
    = 52.272 us, L2 all of it = 30.275 us: DRAM binds, 26,214,400 / 3.35e12 = 7.825 us below the cold 60.097 us.
    512 x 8192 fp16 with both inputs warm (16,777,216 B, within the resident half): DRAM moves only the output,
    8,388,608 B = 2.504 us; L2 moves 25,165,824 B = 3.784 us, which binds."""
    launch = h100.runtime.launch_latency

    def memory(tokens: int, warm: int) -> float:
        return acs.estimate(Elementwise("add", tokens * 8192, "fp16", warm_inputs=warm), h100).seconds - launch

    assert memory(4096, 0) == pytest.approx(60.097e-6, rel=1e-4)
    assert memory(4096, 1) == pytest.approx(52.272e-6, rel=1e-4)
    assert memory(512, 2) == pytest.approx(3.784e-6, rel=1e-3)


_CHIPS = ("h100-sxm", "h200-sxm", "a100-sxm-80gb", "b200", "gb300", "mi300x")


@settings(max_examples=fuzz_examples(ci=25, fuzz=600))
@given(chip=st.sampled_from(_CHIPS), op=st.sampled_from(("add", "mul", "swiglu", "geglu")),
       tokens=st.integers(1, 8192), cols=st.sampled_from((1024, 4096, 8192, 14336)),
       warm=st.integers(1, 2), kernel=st.sampled_from(("vectorized", "scalar")), per_token=st.booleans(),
       level=st.sampled_from(("analytical", "sim")))
def test_no_level_beats_the_roofline_with_warm_inputs(chip, op, tokens, cols, warm, kernel, per_token, level):
    """The roofline is a lower bound for every level (perf/roofline.py): with warm inputs too, since the
    analytical and sim levels read them from the same L2 at or below its nominal rate, and the rest from DRAM at
    or below its nominal rate."""
    hw = acs.load_hardware(chip)
    ew = Elementwise(op, tokens * cols, "fp16", warm_inputs=warm, kernel=kernel,
                     rows=tokens if per_token and kernel == "scalar" else None)
    floor = acs.estimate(ew, hw, "roofline").seconds
    assert acs.estimate(ew, hw, level).seconds >= floor * (1 - 1e-9)
