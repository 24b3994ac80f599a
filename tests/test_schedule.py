"""The GEMM schedule scorer (measure/schedule.py) and the bench's GEMM questions, on rows made to a known answer."""

import dataclasses
import itertools

import pytest

from accelscope.measure.bench import DISPUTED_GEMMS, WAVE_SWEEP
from accelscope.measure.dataset import MeasuredRow
from accelscope.measure.schedule import measured_seconds, predicted_seconds, schedule_fits


def _row(i: int, m: int, n: int, k: int, value: float, unit: str = "TFLOP/s") -> MeasuredRow:
    return MeasuredRow(id=f"T-{i:03d}", hardware="NVIDIA H100 SXM5 80GB", category="gemm", op="torch.matmul (cuda)",
                       dtype="bf16", shape={"M": m, "N": n, "K": k, "question": "wave sweep"}, metric="throughput",
                       value=value, unit=unit, source="test")


def _rows_from(schedule: str, level: float) -> list[MeasuredRow]:
    """The wave sweep "measured" as `schedule` predicts it, every time x `level` (a wrong efficiency)."""
    rows = []
    for i, (m, n, k) in enumerate(WAVE_SWEEP):
        seconds = predicted_seconds(_row(i, m, n, k, 1.0), schedule) * level
        rows.append(_row(i, m, n, k, 2 * m * n * k / seconds / 1e12))
    return rows


@pytest.mark.parametrize("truth", ["data-parallel", "stream-k"])
def test_the_scorer_finds_the_schedule_that_made_the_rows_whatever_their_level(truth):
    fits = schedule_fits(_rows_from(truth, level=1.15))
    best, other = fits
    assert best.schedule == truth and best.rows == len(WAVE_SWEEP)
    assert best.scale == pytest.approx(1.15, rel=1e-9)  # the level is set aside as the scale ...
    assert best.shape_error == pytest.approx(0.0, abs=1e-12)  # ... so the true schedule fits the shape exactly
    # the sweep crosses whole waves of 128x256 tiles on 132 SMs, so the two schedules' curves differ: a tail wave
    # costs up to a whole tile time, which stream-K spreads over the cores
    assert other.shape_error > 0.01


def test_measured_seconds_reads_a_rate_or_a_time():
    assert measured_seconds(_row(0, 1024, 1024, 1024, 2.0)) == pytest.approx(2 * 1024**3 / 2e12)  # 2*M*N*K / rate
    assert measured_seconds(_row(0, 1024, 1024, 1024, 0.5, unit="ms")) == pytest.approx(0.5e-3)


def test_rows_without_a_preset_are_a_clear_error():
    row = dataclasses.replace(_row(0, 64, 64, 64, 1.0), hardware="Some unknown accelerator")
    with pytest.raises(ValueError, match="no GEMM rows"):
        schedule_fits([row])
    with pytest.raises(ValueError, match="T-000: no preset for hardware 'Some unknown accelerator'"):
        predicted_seconds(row, "data-parallel")
    with pytest.raises(ValueError, match="unit 'GB/s' is neither a time"):
        measured_seconds(dataclasses.replace(row, unit="GB/s"))


def test_the_gemm_questions_are_valid_bench_cases():
    for m, n, k, dtype, why in DISPUTED_GEMMS:
        assert min(m, n, k) > 0 and dtype in ("fp16", "bf16", "fp8_e4m3") and why
    ns = [n for _, n, _ in WAVE_SWEEP]
    # 128x256 tiles of an M=2048 sweep: 16 x N/256 of them, 64 to 512, so the sweep crosses 1, 2 and 3 whole
    # waves of the H100's 132 SMs (and the A100's 108, the B200's 148)
    tiles = [(2048 // 128) * (n // 256) for n in ns]
    assert min(tiles) == 64 and max(tiles) == 512
    assert sum(1 for a, b in itertools.pairwise(tiles) if a // 132 != b // 132) == 3


def test_gemm_questions_run_through_the_suite(monkeypatch):
    """The GPU-only cases, run on the CPU with tiny shapes: each becomes a row tagged with its question, and FP8
    cases are left out on a device without FP8 (the CPU here)."""
    pytest.importorskip("torch")
    from accelscope.measure import bench

    monkeypatch.setattr(bench, "DISPUTED_GEMMS", [(64, 32, 16, "fp16", "odd one"), (64, 32, 16, "fp8_e4m3", "fp8")])
    monkeypatch.setattr(bench, "WAVE_SWEEP", [(32, 64, 16), (32, 128, 16)])
    device = bench.detect_device("cpu")
    suite = bench.Suite(device, bench.BenchConfig(quick=False, warmup=1, repeats=3, budget_s=0.1), {})
    suite.gemm_questions()
    assert [(r.dtype, r.shape["N"], r.shape["question"]) for r in suite.rows] == [
        ("fp16", 32, "odd one"), ("bf16", 64, "wave sweep"), ("bf16", 128, "wave sweep")]
    assert all(r.value > 0 and r.unit == "TFLOP/s" for r in suite.rows)
