"""h100-pcie: the H100 PCIe datasheet column (hand-derived), where it differs from its siblings, and a hand-priced
stream."""

import pytest

import accelscope as acs
from accelscope.hardware import load_hardware
from accelscope.workload import Collective, Elementwise


@pytest.fixture(scope="module")
def pcie():
    return load_hardware("h100-pcie")


def test_datasheet_column_dense(pcie):
    # H100 datasheet, PCIe column, with sparsity: TF32 756, BF16/FP16 1,513, FP8/INT8 3,026 -> dense = / 2;
    # FP64 tensor 51, FP32 51, FP64 26 (no sparsity); 80 GB HBM2e at 2,000 GB/s; 50 MB L2; 300-350 W (top)
    assert pcie.matrix_peak("tf32") == pytest.approx(756e12 / 2)
    assert pcie.matrix_peak("bf16") == pcie.matrix_peak("fp16") == pytest.approx(1513e12 / 2)
    assert pcie.matrix_peak("fp8_e4m3") == pcie.matrix_peak("int8") == pytest.approx(3026e12 / 2)
    assert pcie.matrix_peak("fp64") == pytest.approx(51e12)
    assert pcie.vector_peak("fp32") == pytest.approx(51e12) and pcie.vector_peak("fp64") == pytest.approx(26e12)
    assert pcie.main_memory.capacity == pytest.approx(80e9) and pcie.hbm_bandwidth == pytest.approx(2.0e12)
    assert pcie.memory["l2"].capacity == 50 * 2**20
    assert pcie.power.tdp == 350


def test_clock_is_the_one_the_bf16_peak_is_quoted_at(pcie):
    # 756.5e12 dense BF16 / (114 SMs x 4 tensor cores x 1024 FLOP/clk) = 1.6201 GHz -> compute.clock 1.62 GHz
    assert pcie.compute.cores == 114
    assert pcie.compute.cores * pcie.matrix.units_per_core * 1024 * pcie.compute.clock == pytest.approx(
        pcie.matrix_peak("bf16"), rel=0.001)
    # the per-clock figures follow the clock: 32 banks x 4 B x 1.62 GHz of shared memory per SM; 16 MUFU results
    # per clock per SM -> 16 x 114 x 1.62 GHz = 2.955 Tops/s of exp2
    assert pcie.memory["smem"].bandwidth == pytest.approx(32 * 4 * 1.62e9, rel=0.001)
    assert pcie.sfu_rate("exp2") == pytest.approx(16 * 114 * 1.62e9)
    # L2: h100-sxm's 6.65 TB/s scaled by the clock only (1.62 / 1.83), as h100-nvl is
    assert pcie.memory["l2"].bandwidth == pytest.approx(6.65e12 * 1.62 / 1.83, rel=0.001)


def test_same_die_as_sxm_fewer_sms_same_sm():
    pcie, sxm = load_hardware("h100-pcie"), load_hardware("h100-sxm")
    assert (pcie.compute.cores, sxm.compute.cores) == (114, 132)
    for field in ("units_per_core", "tile", "async_overlap", "sync_fraction", "cluster_multicast"):
        assert getattr(pcie.matrix, field) == getattr(sxm.matrix, field)
    assert pcie.memory["smem"].capacity == sxm.memory["smem"].capacity
    assert pcie.physical == sxm.physical
    # the PCIe card's 1.62 GHz tensor clock is below the SXM5's 1.83 GHz: per-SM peak 4096 FLOP/clk on both
    assert pcie.matrix_peak("bf16") / (pcie.compute.cores * pcie.compute.clock) == pytest.approx(
        sxm.matrix_peak("bf16") / (sxm.compute.cores * sxm.compute.clock), rel=0.001)


def test_nvlink_pairs_over_pcie_exactly_as_h100_nvl():
    """Both cards: NVLink bridges join pairs at 600 GB/s bidirectional (datasheet), the pairs meet over PCIe Gen5."""
    pcie, nvl = load_hardware("h100-pcie"), load_hardware("h100-nvl")
    for part in ("scale_up", "scale_out", "host"):
        mine, theirs = getattr(pcie.interconnect, part), getattr(nvl.interconnect, part)
        assert mine.model_dump(exclude={"source", "sources"}) == theirs.model_dump(exclude={"source", "sources"})
    assert pcie.interconnect.scale_up.bandwidth == pytest.approx(600e9 / 2)
    for group in (2, 4):  # inside the pair, and across two pairs over PCIe: priced the same on both cards
        op = Collective("all_reduce", 64 << 20, group)
        assert acs.estimate(op, pcie, level="analytical").seconds == pytest.approx(
            acs.estimate(op, nvl, level="analytical").seconds, rel=1e-12)


def test_large_copy_streams_at_the_hbm2e_bandwidth(pcie):
    est = acs.estimate(Elementwise("copy", 1 << 28, "fp16"), pcie, level="analytical")
    nbytes = (1 << 28) * 2  # read, and as much written, fp16
    # DRAM latency 600 ns + (read + written x write cost 1.24) / (2.0 TB/s x DRAM efficiency 0.95) + the last
    # stores' 260 ns to L2 + launch 2.5 us (as tests/test_analytical.py prices it on h100-sxm)
    expected = 600e-9 + (nbytes + 1.24 * nbytes) / (2.0e12 * 0.95) + 260e-9 + 2.5e-6
    assert est.seconds == pytest.approx(expected, rel=1e-6)
