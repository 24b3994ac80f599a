"""a100-sxm-40gb: the launch A100 (SXM4, 40 GB HBM2) of the DGX A100 320GB, copied from a100-sxm-80gb with only the
memory changed (NVIDIA A100 datasheet, 40GB SXM column). No measured rows name it; the estimates are checked by hand."""

import pytest

import accelscope as acs
from accelscope.hardware.spec import DRAM_EFFICIENCY, DRAM_WRITE_COST, MATRIX_EFFICIENCY_WIDE
from accelscope.workload import Elementwise, Gemm

from .spec_figures import spec_figures

A40 = acs.load_hardware("a100-sxm-40gb")
A80 = acs.load_hardware("a100-sxm-80gb")


def test_datasheet_figures():
    # 5 HBM2 stacks, 40 GB at 1,555 GB/s; the same 400 W, peaks and NVSwitch domain of 8 as the 80GB part
    assert A40.main_memory.capacity == 40960 * 2**20  # nvidia-smi "NVIDIA A100-SXM4-40GB, 40960 MiB" (40 GiB)
    assert A40.hbm_bandwidth == pytest.approx(1.555e12)
    assert A40.power.tdp == pytest.approx(400)
    assert A40.matrix_peak("bf16") == pytest.approx(312e12)
    assert A40.interconnect.scale_up.domain_size == 8
    # 312e12 / (108 SMs x 4 tensor cores x 512 dense BF16 FLOP/clk) = 1.41 GHz
    assert A40.compute.cores * 4 * 512 * A40.compute.clock == pytest.approx(312e12, rel=0.001)


def test_differs_from_the_80gb_sibling_only_in_its_memory():
    a40, a80 = spec_figures(A40), spec_figures(A80)
    differing = {key for key in a40.keys() | a80.keys() if a40.get(key) != a80.get(key)}
    assert differing == {"id", "name", "memory.hbm.capacity", "memory.hbm.bandwidth"}


def test_a_large_copy_by_hand():
    # 1 Gi bf16 elements copied: 2 GiB read + 2 GiB written at the DRAM write cost (1.24 x a read byte) over the
    # achievable 1.555 TB/s x 0.95, plus one 2.5 us launch (no DRAM or L2 latency is set on the A100 presets):
    # 2^31 x 2.24 / 1.477 TB/s + 2.5 us = 3258.8 us, 2.039 / 1.555 = 1.31x the 80GB part's memory time
    n = 1 << 30
    copy = Elementwise("copy", n, "bf16", inputs=1, outputs=1)
    est = acs.estimate(copy, A40, level="analytical")
    assert est.bound == "memory"
    assert est.seconds == pytest.approx(
        2.5e-6 + (2 * n + 2 * n * DRAM_WRITE_COST) / (1.555e12 * DRAM_EFFICIENCY), rel=1e-9)
    est80 = acs.estimate(copy, A80, level="analytical")
    assert est.breakdown["memory"] / est80.breakdown["memory"] == pytest.approx(2.039 / 1.555, rel=1e-9)


def test_a_large_gemm_by_hand():
    """8192^3 bf16 on 128x128 tiles: 4096 tiles on 108 SMs = 38 waves (37.9 of work), the MMA time
    2 x 8192^3 / (312 TF x the sustained fraction) x 38 x 108 / 4096 = 4254.2 us; then the last tile's C write,
    128 x 128 x 2 B x the write cost over one SM's share of the achievable HBM bandwidth (3.0 us), and the launch.
    The pipeline's prologue (~1 us) is the only term left out, hence rel=1e-3."""
    est = acs.estimate(Gemm(8192, 8192, 8192, "bf16"), A40, level="analytical")
    mapping = est.details["mapping"]
    assert (mapping["block_m"], mapping["block_n"], mapping["waves"]) == (128, 128, 38)
    mma = 2 * 8192**3 / (312e12 * MATRIX_EFFICIENCY_WIDE) * 38 * 108 / 4096
    assert est.breakdown["matrix"] == pytest.approx(mma, rel=1e-9)
    epilogue = 128 * 128 * 2 * DRAM_WRITE_COST / (1.555e12 * DRAM_EFFICIENCY / 108)
    assert mapping["epilogue_seconds"] == pytest.approx(epilogue, rel=1e-9)
    assert est.bound == "matrix"
    assert est.seconds == pytest.approx(mma + epilogue + 2.5e-6, rel=1e-3)
