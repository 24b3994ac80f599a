"""gh200: the GH200's GPU is an H100 SXM5's compute with 144 GB HBM3e, 60 MB L2, NVLink-C2C to Grace and a
two-GPU NVLink domain (GH200 NVL2); hand-derived figures, the differences from h100-sxm, and the rows it maps."""

import pytest

import accelscope as acs
from accelscope.hardware import load_hardware
from accelscope.measure.dataset import load_rows
from accelscope.measure.predict import Prediction, hardware_id, predict
from accelscope.workload import Collective, Elementwise


@pytest.fixture(scope="module")
def gh200():
    return load_hardware("gh200")


def test_memory_and_links_from_the_sources(gh200):
    # 144 GB HBM3e at 4.9 TB/s; deviceQuery "L2 Cache Size: 62914560 bytes" = 60 MiB; NVLink-C2C 900 GB/s
    # bidirectional = 450 GB/s per direction; 900 W module power (the rows' setting, within 450-1000 W)
    assert gh200.main_memory.capacity == pytest.approx(144e9) and gh200.hbm_bandwidth == pytest.approx(4.9e12)
    assert gh200.memory["l2"].capacity == 62914560
    assert gh200.interconnect.host.bandwidth == pytest.approx(900e9 / 2)
    assert gh200.power.tdp == 900
    # like h200-sxm (the other HBM3e Hopper), no HBM latency is set, and the note says why
    assert gh200.main_memory.latency is None and "deliberately" in gh200.main_memory.sources["latency"]


def test_compute_is_the_h100_sxm5s(gh200):
    """132 SMs at the clock the 989.4 TFLOP/s BF16 peak is quoted at: 132 x 4 x 1024 FLOP/clk x 1.83 GHz."""
    sxm = load_hardware("h100-sxm")
    assert gh200.compute.cores == 132
    assert gh200.compute.cores * gh200.matrix.units_per_core * 1024 * gh200.compute.clock == pytest.approx(
        gh200.matrix_peak("bf16"), rel=0.001)
    assert gh200.compute == sxm.compute.model_copy(update={"source": gh200.compute.source,
                                                           "sources": gh200.compute.sources})
    for dtype in ("fp64", "tf32", "bf16", "fp16", "fp8_e4m3", "fp8_e5m2", "int8"):
        assert gh200.matrix_peak(dtype) == sxm.matrix_peak(dtype)
    assert gh200.vector.peak == sxm.vector.peak and gh200.sfu.ops_per_clock_per_core == sxm.sfu.ops_per_clock_per_core
    assert gh200.memory["smem"].bandwidth == sxm.memory["smem"].bandwidth
    assert gh200.memory["l2"].bandwidth == sxm.memory["l2"].bandwidth  # estimate: copied, see the preset


def test_differs_from_h100_sxm_only_where_the_sources_say(gh200):
    def flat(d, prefix=""):
        out = {}
        for key, value in d.items():
            if key in ("source", "sources"):
                continue
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(flat(value, name) if isinstance(value, dict) else {name: value})
        return out

    mine, sxm = flat(gh200.model_dump()), flat(load_hardware("h100-sxm").model_dump())
    differs = {k for k in mine.keys() | sxm.keys() if mine.get(k) != sxm.get(k)}
    assert differs == {
        "id", "name", "year",
        "memory.hbm.capacity", "memory.hbm.bandwidth", "memory.hbm.latency", "memory.l2.capacity",
        "interconnect.scale_up.domain_size", "interconnect.scale_up.topology",
        "interconnect.scale_up.in_network_reduction", "interconnect.scale_up.nvls_efficiency",
        "interconnect.host.bandwidth", "power.tdp", "cost.unit_price", "runtime.host_speed"}


def test_nvl2_pair_all_reduce_runs_over_all_18_links(gh200):
    """GH200 NVL2: two GPUs wired by all 18 NVLink4 links (NV18). A 2-rank ring all-reduce moves each byte once per
    direction (2(n-1)/n = 1): 1 GiB / (18 x 20.6 GB/s NCCL plans per link), plus NCCL's few-us latency terms."""
    est = acs.estimate(Collective("all_reduce", 1 << 30, 2), gh200, level="analytical")
    assert est.seconds == pytest.approx((1 << 30) / (18 * 20.6e9), rel=0.01)
    assert est.seconds > (1 << 30) / (18 * 20.6e9)


def test_large_copy_streams_at_the_hbm3e_bandwidth(gh200):
    est = acs.estimate(Elementwise("copy", 1 << 28, "fp16"), gh200, level="analytical")
    nbytes = (1 << 28) * 2  # read, and as much written, fp16
    # no DRAM latency on this preset; (read + written x write cost 1.24) / (4.9 TB/s x DRAM efficiency 0.95) +
    # the last stores' 260 ns to L2 + launch 2.5 us (as tests/test_analytical.py prices it on h100-sxm)
    expected = (nbytes + 1.24 * nbytes) / (4.9e12 * 0.95) + 260e-9 + 2.5e-6
    assert est.seconds == pytest.approx(expected, rel=1e-6)


def test_the_mamf_rows_map_to_gh200_and_are_priced():
    """ME-002 (BF16) and ME-011 (FP8): the ml-engineering MAMF table's "900W 141GiB HBM3e" GH200."""
    rows = {r.id: r for r in load_rows("dev") if r.id in ("ME-002", "ME-011")}
    assert set(rows) == {"ME-002", "ME-011"}
    for row in rows.values():
        assert hardware_id(row.hardware) == "gh200"
        outcome = predict(row, "analytical")
        assert isinstance(outcome, Prediction) and outcome.bound == "matrix"
