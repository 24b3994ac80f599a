"""The CPU measurement loop, for real: generate the local spec, benchmark, validate, calibrate."""

import pytest

pytest.importorskip("torch")

import accelscope as acs
from accelscope.hardware.spec import DRAM_WRITE_COST
from accelscope.measure import load_rows, summarize, validate, write_rows
from accelscope.measure.bench import BenchConfig, median_seconds, run_cpu_suite
from accelscope.measure.calibrate import calibrate


def test_local_cpu_spec_is_generated_from_the_machine():
    hw = acs.load_hardware("local-cpu")
    assert hw.kind == "cpu" and hw.compute.cores >= 1
    assert hw.matrix.peak["fp32"] > 0 and hw.main_memory.capacity > 1e9
    assert all(level.has_source() for level in hw.memory.values())


def test_median_seconds_uses_rotating_buffers_and_the_median():
    seen = []
    median_seconds(lambda i: seen.append(i), warmup=2, repeats=5, budget_s=10)
    assert seen == [0, 1, 0, 1, 2, 3, 4]  # warm-up calls, then one call per buffer index


def test_available_memory_counts_the_page_cache(tmp_path, monkeypatch):
    """MemAvailable (free + reclaimable page cache), not MemFree: after a pip install the page cache holds GiBs."""
    from accelscope.measure import bench

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24683784 kB\nMemFree:         2000000 kB\nMemAvailable:   20000000 kB\n")
    monkeypatch.setattr(bench, "MEMINFO", str(meminfo))
    assert bench._free_memory_bytes() == 20000000 * 1024


def test_a_machine_without_memory_for_a_dram_stream_is_told_so(monkeypatch):
    """1 GiB available: the cap is 0.4 x 1 GiB / 4 bytes / 4 buffers = 26.8 M elements (107 MB), under 2 x a 480 MiB
    cache, so no DRAM case runs and the user is told why instead of getting no DRAM rows silently."""
    from accelscope.measure import bench

    monkeypatch.setattr(bench, "_free_memory_bytes", lambda: float(2**30))
    suite = bench.Suite(bench.Device("cpu", "test", 480 * 2**20, "local-cpu", None, {"numpy"}),
                        BenchConfig(quick=True), {})
    allocated = []
    monkeypatch.setattr(suite, "randn", lambda n: allocated.append(n) or suite.torch.empty(1))
    monkeypatch.setattr(suite, "time", lambda fn, flush=True: 1.0)  # nothing runs: this checks the sizing only
    with pytest.warns(UserWarning, match="no DRAM-sized stream case at 4 x the 480 MiB last-level cache"):
        suite.memory()
    assert all(r.shape["resident"] for r in suite.rows) and len(suite.rows) == 4  # the cache-resident case only
    assert allocated == [int(0.25 * 480 * 2**20 / 4 / 3)] * 3  # its 3 rotating buffers of 1/4 of the cache


@pytest.fixture(scope="module")
def rows():
    return run_cpu_suite(quick=True, command="pytest", config=BenchConfig(quick=True, warmup=1, repeats=3,
                                                                          budget_s=0.3))


def _dram_rows_or_skip(rows):
    """The DRAM-sized stream rows; a machine whose memory cannot hold one (the bench warned why) skips the check."""
    dram = [r for r in rows if r.category == "memory" and not r.shape.get("resident")]
    if not dram:
        pytest.skip("no DRAM-sized stream case fit in this machine's available memory (see the bench's warning)")
    return dram


def test_bench_rows_carry_provenance(rows, tmp_path):
    assert {r.category for r in rows} == {"gemm", "memory", "attention", "elementwise"}
    assert all(r.value > 0 and r.device and r.torch and r.date and r.command == "pytest" for r in rows)
    again = load_rows(write_rows(rows, tmp_path / "cpu.csv"))
    assert [r.value for r in again] == [r.value for r in rows]


def test_validate_predicts_every_bench_row(rows):
    _dram_rows_or_skip(rows)
    results = validate(rows, ["roofline", "analytical"])
    resident = [r for r in results if r.row.shape.get("resident")]
    assert len(resident) == 2 * 4  # quick suite: 4 kernels at 1/4 of the last-level cache, two levels
    assert all(r.skip is None for r in results), [r.skip for r in results if r.skip]
    assert {c.category for c in summarize(results)} == {"gemm", "memory", "attention", "elementwise"}
    # buffers left in the last-level cache are predicted at its bandwidth (Elementwise(cached=True)), not DRAM's:
    # for each kernel and level the resident rate is predicted above the DRAM-sized one
    for hit in resident:
        dram = [r for r in results if r.level == hit.level and not r.row.shape.get("resident")
                and r.row.shape.get("kernel") == hit.row.shape["kernel"]]
        assert dram and all(hit.predicted > r.predicted for r in dram)


def test_calibration_fits_this_machines_dram_bandwidth(rows):
    memory = _dram_rows_or_skip(rows)
    result = calibrate(memory, "local-cpu", ["memory.dram.bandwidth"], folds=2)
    measured = [r.value * 1e9 for r in memory]  # GB/s -> B/s, read + written bytes over time
    # streaming ops are bandwidth-bound at these sizes. The fitted field is the nominal bandwidth: x the DRAM read
    # efficiency it is what a read stream sustains, and a written byte costs DRAM_WRITE_COST read bytes, so copy
    # and triad rates (which count written bytes) sit up to that factor below it. Copy, triad and read spread
    # under load, so no tighter claim holds on a shared machine.
    read_rate = result.overrides["memory.dram.bandwidth"] * acs.load_hardware("local-cpu").main_memory.efficiency
    assert 0.9 * min(measured) <= read_rate <= 1.1 * DRAM_WRITE_COST * max(measured)
    # the search starts at the preset's value and keeps its best point: fitting never makes the rows worse
    assert result.train_error <= result.baseline_error + 1e-12


def test_gloo_collectives_between_two_cpu_processes_for_real():
    """The collective bench is the NCCL code path with the gloo backend: two spawned ranks, real all-reduce,
    all-gather and reduce-scatter, reported as nccl-tests' bus bandwidth."""
    from accelscope.measure.collectives import QUICK_PAYLOADS, bus_factor, run_collectives

    rows = run_collectives("cpu", {"command": "pytest"}, "local-cpu", quick=True, warmup=1, repeats=3)
    assert sorted((r.op.split()[0], r.shape["payload_bytes"]) for r in rows) == sorted(
        (c, p) for c in ("all_reduce", "all_gather", "reduce_scatter") for p in QUICK_PAYLOADS)
    assert all(r.value > 0 and r.metric == "busbw" and r.shape["ranks"] == 2 for r in rows)
    assert bus_factor("all_reduce", 8) == 2 * 7 / 8 and bus_factor("all_gather", 8) == 7 / 8
    results = validate(rows, ["roofline"])
    assert all("no interconnect" in (r.skip or "") for r in results)  # measured; the CPU spec has no link model
