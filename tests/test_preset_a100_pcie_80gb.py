"""a100-pcie-80gb: the A100 80GB PCIe card (NVIDIA A100 datasheet, 80GB PCIe column), copied from a100-sxm-80gb with
the memory bandwidth, power and links changed; NVLink-bridged pairs that meet over PCIe Gen4 (h100-nvl's pattern)."""

import pytest

import accelscope as acs
from accelscope.hardware.spec import DRAM_EFFICIENCY, DRAM_WRITE_COST
from accelscope.workload import Collective, Elementwise, Gemm

from .spec_figures import spec_figures

PCIE = acs.load_hardware("a100-pcie-80gb")
SXM = acs.load_hardware("a100-sxm-80gb")


def test_datasheet_figures():
    # the datasheet's PCIe column quotes the SXM peaks: 312e12 dense BF16 / (108 SMs x 4 tensor cores x 512 dense
    # BF16 FLOP/clk) = 1.41 GHz, the boost clock
    assert PCIE.compute.cores * 4 * 512 * PCIE.compute.clock == pytest.approx(312e12, rel=0.001)
    assert PCIE.matrix_peak("bf16") == pytest.approx(312e12)
    assert PCIE.main_memory.capacity == 81920 * 2**20  # nvidia-smi "NVIDIA A100 80GB PCIe, 81920 MiB" (80 GiB)
    assert PCIE.hbm_bandwidth == pytest.approx(1.935e12)
    assert PCIE.power.tdp == pytest.approx(300)
    # "NVLink Bridge for 2 GPUs: 600 GB/s" bidirectional = 300 GB/s per direction = 12 NVLink3 links x 25 GB/s
    up = PCIE.interconnect.scale_up
    assert (up.domain_size, up.topology, up.links, up.in_network_reduction) == (2, "fully_connected", 12, False)
    assert up.bandwidth == pytest.approx(12 * 25e9)
    # NCCL plans an Ampere NVLink at topo.h SM80_NVLINK_BW = 20.0 GB/s per link: 12 x 20.0 = 240 GB/s
    assert up.bandwidth * up.efficiency == pytest.approx(12 * 20.0e9)
    # the pairs meet over PCIe Gen4 x16 (64 GB/s bidirectional = 32 per direction), which NCCL plans at
    # width x rate / 80 GB/s (topo.cc ncclTopoAddPci, kvDictPciGen "16 GT/s" = 120): 16 x 120 / 80 = 24 GB/s
    out = PCIE.interconnect.scale_out
    assert out.topology == "pcie"
    assert out.bandwidth == pytest.approx(32e9)
    assert out.bandwidth * out.efficiency == pytest.approx(16 * 120 / 80 * 1e9)
    assert PCIE.interconnect.host.bandwidth == pytest.approx(32e9)


def test_differs_from_the_sxm_sibling_only_where_the_datasheet_does():
    pcie, sxm = spec_figures(PCIE), spec_figures(SXM)
    differing = {key for key in pcie.keys() | sxm.keys() if pcie.get(key) != sxm.get(key)}
    assert differing == {
        "id", "name", "year",
        "memory.hbm.bandwidth",                      # 1,935 GB/s vs 2,039
        "power.tdp",                                 # 300 W vs 400
        "interconnect.scale_up.domain_size", "interconnect.scale_up.topology",   # a bridged pair, not NVSwitch x 8
        "interconnect.scale_out.bandwidth", "interconnect.scale_out.efficiency",
        "interconnect.scale_out.topology",           # PCIe Gen4 between pairs, not one HDR NIC per GPU
        "runtime.host_speed",                        # the DGX A100's EPYC 7742: a PCIe card has no fixed host
    }


def test_four_gpus_all_reduce_over_pcie_gen4():
    """Two bridged pairs: NCCL sees one node and runs one ring over the four GPUs at hwLat[PCI] per step, on the
    24 GB/s it plans a Gen4 x16 link at. 64 MiB, ring/simple: baseLat 8.4 + 2 x 3 steps x 5.7 = 42.6 us, plus
    64 MiB / (24 GB/s x 4 / 6) = 4194.30 us -> 4236.90 us (vidur's a100_pairwise_nvlink row VP-04725 measured 4268 us).
    The same ring on h100-nvl (Gen5, 48 GB/s) moves the bytes in half the time."""
    op = Collective("all_reduce", 64 << 20, 4)
    est = acs.estimate(op, PCIE, level="analytical")
    assert est.details["algorithm"] == "ring/simple x 4 over pcie"
    assert est.breakdown["interconnect"] == pytest.approx(42.6e-6 + (64 << 20) / (24e9 * 4 / 6), rel=1e-9)
    nvl = acs.estimate(op, acs.load_hardware("h100-nvl"), level="analytical")
    assert est.breakdown["interconnect"] - 42.6e-6 == pytest.approx(2 * (nvl.breakdown["interconnect"] - 42.6e-6))


def test_two_gpus_all_reduce_over_the_bridge():
    # inside the pair: a 2-rank NVLink ring, ring/simple 8.4 + 2 steps x 3.4 = 15.2 us + 64 MiB / 240 GB/s
    # (algorithm bandwidth = bus x n / (2 (n - 1)) = bus for n = 2)
    est = acs.estimate(Collective("all_reduce", 64 << 20, 2), PCIE, level="analytical")
    assert est.details["algorithm"] == "ring/simple"
    assert est.breakdown["interconnect"] == pytest.approx(15.2e-6 + (64 << 20) / 240e9, rel=1e-9)


def test_a_large_copy_and_a_gemm_by_hand():
    # 1 Gi bf16 elements copied: 2 GiB read + 2 GiB written at the DRAM write cost, over the achievable 1.935 TB/s,
    # plus one launch; the A100 presets set no DRAM or L2 latency, so nothing else is added
    n = 1 << 30
    copy = acs.estimate(Elementwise("copy", n, "bf16", inputs=1, outputs=1), PCIE, level="analytical")
    assert copy.seconds == pytest.approx(
        2.5e-6 + (2 * n + 2 * n * DRAM_WRITE_COST) / (1.935e12 * DRAM_EFFICIENCY), rel=1e-9)
    # a compute-bound GEMM runs on the same tensor cores as the SXM part: the same MMA time; only the epilogue's
    # C write (at 1,935 vs 2,039 GB/s) differs, by microseconds
    gemm = Gemm(8192, 8192, 8192, "bf16")
    pcie, sxm = (acs.estimate(gemm, hw, level="analytical") for hw in (PCIE, SXM))
    assert pcie.bound == sxm.bound == "matrix"
    assert pcie.breakdown["matrix"] == pytest.approx(sxm.breakdown["matrix"], rel=1e-12)
    assert 0 < pcie.seconds - sxm.seconds < 1e-6
