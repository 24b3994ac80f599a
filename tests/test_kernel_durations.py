"""CUPTI kernel-duration rows (bench.kernel_durations): how they are collected and how validate predicts them."""

from __future__ import annotations

import pytest

from accelscope.measure.bench import BenchConfig, profiled_kernel_us
from accelscope.measure.dataset import MeasuredRow
from accelscope.measure.predict import Prediction, predict
from accelscope.measure.rows_elementwise import KERNEL_DEVICE_LAUNCH


def _row(shape: list[int]) -> MeasuredRow:
    return MeasuredRow(id="CUDA-ELT-001", hardware="cuda: NVIDIA H100 80GB HBM3", category="elementwise",
                       op="torch.add kernel duration (cuda, CUPTI)", dtype="fp16",
                       shape={"input_shape": shape, "operands": 2, "timer": "cupti", "warm_inputs": 1},
                       metric="kernel_time", value=2.0, unit="us", source="accelscope bench (this machine)")


def test_one_element_add_is_the_kernel_floor_on_h100():
    # h100-sxm: one DRAM round trip for the residual (memory.hbm.latency 600 ns), the write reaching L2 (the write
    # tail, memory.l2.latency 260 ns), plus the kernel's device-side share of its launch (KERNEL_DEVICE_LAUNCH
    # 0.5 us); 6 bytes move in no time: 0.6 + 0.26 + 0.5 = 1.36 us, not truncated to whole microseconds
    outcome = predict(_row([1]), "analytical")
    assert isinstance(outcome, Prediction)
    assert KERNEL_DEVICE_LAUNCH == 0.5e-6
    assert outcome.value == pytest.approx(1.36, abs=1e-3)


def test_a_large_add_is_bandwidth_bound():
    # 4096 x 8192 fp16: 64 MiB residual from DRAM, 64 MiB warm operand, 64 MiB written; the time grows with the
    # bytes, far above the floor, and every level prices it
    big = [predict(_row([4096, 8192]), level) for level in ("roofline", "analytical", "sim")]
    assert all(isinstance(p, Prediction) for p in big)
    assert all(p.value > 40 for p in big)  # us: 128 MiB moved at <= 3.35 TB/s is >= 40 us


def test_profiled_durations_pick_the_matching_op_for_real():
    torch = pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity

    a = [torch.randn(64, 64) for _ in range(3)]
    out = torch.empty(64, 64)

    def call(i: int) -> object:
        torch.mul(a[i % 3], 1.0, out=out)  # the producer: excluded by name
        return torch.add(a[(i + 1) % 3], out)

    durations = profiled_kernel_us(torch, call, BenchConfig(warmup=1, repeats=4), ProfilerActivity.CPU, "add")
    assert len(durations) == 4 and all(d > 0 for d in durations)  # one aten::add per timed call, none for mul
    assert profiled_kernel_us(torch, call, BenchConfig(warmup=0, repeats=2), ProfilerActivity.CPU, "nothing") == []


def test_the_bench_case_writes_one_row_per_shape_on_the_cpu():
    """The case as run_suite runs it on CUDA, here with the CPU profiler: one row per KERNEL_DURATION_TOKENS entry,
    a positive median, the shape validate maps (predicted only for the CUPTI timer)."""
    from accelscope.measure import bench

    device = bench.Device("cpu", "test", 32 * 2**20, "local-cpu", None, {"numpy"})
    suite = bench.Suite(device, BenchConfig(warmup=1, repeats=2), {"command": "pytest"})
    suite.kernel_durations()
    assert [r.shape["input_shape"] for r in suite.rows] == [
        [1] if t == 0 else [t, bench.KERNEL_DURATION_HIDDEN] for t in bench.KERNEL_DURATION_TOKENS]
    assert all(r.value > 0 and r.unit == "us" and r.shape["timer"] == "cpu-profiler" for r in suite.rows)
