"""h20: the China-market Hopper. Datasheet peaks, 78 SMs from a device query, the per-SM tensor rate follows."""

import pytest

import accelscope as acs
from accelscope.hardware import load_hardware
from accelscope.hardware.check import check_spec, spec_warnings
from accelscope.hardware.spec import DRAM_EFFICIENCY, DRAM_WRITE_COST
from accelscope.workload import Elementwise, Gemm


@pytest.fixture(scope="module")
def hw():
    return load_hardware("h20")


def test_figures(hw):
    # HGX H20 table: INT8 / FP8 296, BF16 / FP16 148, TF32 74 TFLOPS dense; 96 GB HBM3 at 4.0 TB/s; L2 60 MB;
    # 900 GB/s NVLink (450 per direction), 8-way HGX; 400 W; FP64 1 TFLOPS
    assert hw.matrix_peak("bf16") == hw.matrix_peak("fp16") == pytest.approx(148e12)
    assert hw.matrix_peak("fp8_e4m3") == hw.matrix_peak("int8") == pytest.approx(296e12)
    assert hw.matrix_peak("tf32") == pytest.approx(74e12) and hw.matrix_peak("fp64") == pytest.approx(1e12)
    assert hw.main_memory.capacity == pytest.approx(96e9) and hw.hbm_bandwidth == pytest.approx(4.0e12)
    assert hw.memory["l2"].capacity == 60 * 2**20 and hw.power.tdp == 400
    up = hw.interconnect.scale_up
    assert up.bandwidth == pytest.approx(900e9 / 2) and up.domain_size == 8
    assert hw.compute.cores == 78


def test_tensor_rate_per_sm_follows_from_peak_sms_and_clock(hw):
    # 148e12 / (78 SMs x 1.98 GHz) = 958.3 dense BF16 FLOP per clock per SM, under a quarter of Hopper's 4096
    # (989.4e12 / (132 x 1.83 GHz)); nothing else in the spec sets it
    h100 = load_hardware("h100-sxm")
    per_sm = hw.matrix_peak("bf16") / hw.compute.cores / hw.compute.clock
    assert per_sm == pytest.approx(958.3, rel=1e-3)
    assert h100.matrix_peak("bf16") / h100.compute.cores / h100.compute.clock == pytest.approx(4096, rel=0.005)
    assert per_sm < 4096 / 4
    # hw check accepts the cut rate (the SRAM feeds it); the FP32 44 TF it cannot reconcile with 78 SMs at any GH100
    # clock (78 x 128 x 2 x 1.98 GHz = 39.5 TF) is kept as quoted and explained
    findings = check_spec(hw)
    assert spec_warnings(hw) == []
    [vector] = [f for f in findings if f.check == "per-core-vs-chip"]
    assert not vector.ok and vector.explained and "39.54 TFLOP/s" in vector.message
    assert all(f.ok for f in findings if f.check == "sram-feed")


def test_differs_from_h800_where_the_part_does(hw):
    # same GH100 SM (cc 9.0): tensor-core count, wgmma tile and asynchrony, SFU rates, smem capacity, dequantize
    # slots and FP64 (1 TF, cut as on H800) kept; SMs, clock, peaks, HBM, L2, NVLink, power and sync_fraction differ
    h800 = load_hardware("h800-sxm")
    assert (hw.matrix.units_per_core, hw.matrix.tile, hw.matrix.async_overlap) == (
        h800.matrix.units_per_core, h800.matrix.tile, h800.matrix.async_overlap)
    assert hw.sfu.ops_per_clock_per_core == h800.sfu.ops_per_clock_per_core
    assert hw.memory["smem"].capacity == h800.memory["smem"].capacity == 228 * 1024
    assert hw.isa.dequantize_ops == h800.isa.dequantize_ops
    assert hw.vector_peak("fp64") == h800.vector_peak("fp64") == pytest.approx(1e12)
    assert hw.vector.lanes_per_core == h800.vector.lanes_per_core == 128
    # mma.sync's H100 ceiling (2/3 x 4096 = 2731 FLOP/clk/SM) is ~3x this chip's whole rate: no sync_fraction
    assert h800.matrix.sync_fraction == 0.667 and hw.matrix.sync_fraction is None
    assert hw.interconnect.scale_up.links == 18 and h800.interconnect.scale_up.links == 8
    # one measured torch.matmul at 10240^3: BF16 142.25, FP16 142.09, TF32 71.80 TFLOPS of the cut peaks
    assert hw.matrix_efficiency("bf16") == pytest.approx(142.25 / 148, abs=5e-4)
    assert hw.matrix_efficiency("fp16") == pytest.approx(142.09 / 148, abs=5e-4)
    assert hw.matrix_efficiency("tf32") == pytest.approx(71.80 / 74, abs=5e-4)
    assert hw.matrix_efficiency("fp8_e4m3") == h800.matrix_efficiency("fp8_e4m3")  # unmeasured: cross-chip default


def test_a_large_copy_streams_at_4_tb_per_s(hw):
    # DRAM latency 600 ns + (read + 1.24 x written) / (4.0 TB/s x 0.95) + the last stores' 260 ns to L2 + launch
    est = acs.estimate(Elementwise("copy", 1 << 28, "fp16"), hw, level="analytical")
    nbytes = (1 << 28) * 2
    expected = 600e-9 + (nbytes + DRAM_WRITE_COST * nbytes) / (4.0e12 * DRAM_EFFICIENCY) + 260e-9 + 2.5e-6
    assert est.bound == "memory" and est.seconds == pytest.approx(expected, rel=1e-6)


def test_a_large_gemm_runs_at_the_cut_rate(hw):
    # 2 x 16384^3 FLOP / (148 TF x 0.961) = 61.8 ms, 6.7x H100's time at the same fraction (989.4 / 148)
    est = acs.estimate(Gemm(16384, 16384, 16384, "bf16"), hw, level="analytical")
    assert est.bound == "matrix"
    assert est.seconds == pytest.approx(2 * 16384**3 / (148e12 * 0.961), rel=0.01)
