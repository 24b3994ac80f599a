"""Sweeps: spec validation, incremental Parquet store, resume after interruption, failures recorded, Pareto."""

import json

import pytest

pytest.importorskip("pyarrow")

from typer.testing import CliRunner

from accelscope.cli.app import app
from accelscope.explore import sweep as sweep_module
from accelscope.explore.space import SweepSpec, load_sweep
from accelscope.explore.sweep import load_results, pareto_front, run_sweep

SPEC = {
    "name": "t", "base": "h100-sxm",
    "axes": {"memory.hbm.bandwidth": {"values": ["2 TB/s", "3.35 TB/s", "6 TB/s"]},
             "matrix.peak.bf16": {"range": ["0.5 PFLOP/s", "2 PFLOP/s"], "steps": 3, "log": True},
             "compute.cores": {"values": [132, -1]}},  # -1 is invalid: those points must fail and be recorded
    "workload": {"model": "llama-3.1-8b", "batch": 8, "input_len": 512, "output_len": 64},
    "objectives": ["max tokens_per_s", "min tpot_s"], "constraints": ["memory_fits"],
}


def test_grid_points_and_axis_values():
    spec = SweepSpec.model_validate(SPEC)
    points = spec.design_points()
    assert len(points) == 3 * 3 * 2
    peaks = sorted({p["matrix.peak.bf16"] for p in points})
    assert peaks == pytest.approx([0.5e15, 1e15, 2e15])  # log range: geometric steps


def test_interrupted_sweep_resumes_to_the_same_results(tmp_path, monkeypatch):
    spec = SweepSpec.model_validate(SPEC)
    monkeypatch.setattr(sweep_module, "CHUNK", 4)
    whole = run_sweep(spec, tmp_path / "whole")
    first = run_sweep(spec, tmp_path / "resumed", limit=7)  # stops early, as after a kill
    second = run_sweep(spec, tmp_path / "resumed")
    assert (first.evaluated, second.resumed, second.evaluated) == (7, 7, 11)
    a, b = load_results(tmp_path / "whole"), load_results(tmp_path / "resumed")
    assert a.drop(columns=[]).equals(b)
    assert whole.failed == 9 and a["error"].notna().sum() == 9  # every cores=-1 point failed with its error
    assert a.loc[a["error"].notna(), "error"].str.contains("compute.cores").all()


def test_more_bandwidth_is_on_the_pareto_front(tmp_path):
    spec = SweepSpec.model_validate(SPEC)
    run_sweep(spec, tmp_path)
    front = pareto_front(load_results(tmp_path), spec.objectives)
    assert (front["axis:memory.hbm.bandwidth"] == 6e12).all()


def test_a_different_spec_is_refused_in_the_same_folder(tmp_path):
    run_sweep(SweepSpec.model_validate(SPEC), tmp_path, limit=1)
    other = SweepSpec.model_validate({**SPEC, "name": "other"})
    with pytest.raises(ValueError, match="different sweep spec"):
        run_sweep(other, tmp_path)


def test_bad_spec_names_the_file_and_field(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("base: h100-sxm\naxes: {x: {values: [1]}}\nworkload: {model: m}\nobjectives: [max speed]\n")
    with pytest.raises(ValueError, match=r"s\.yaml: objectives: objective 'max speed'"):
        load_sweep(bad)


def test_cli_summary_and_pareto(tmp_path):
    import yaml

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    runner = CliRunner()
    result = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.stdout
    summary = json.loads(result.stdout)
    assert {"points", "seconds", "resumed"} <= set(summary) and summary["points"] == 18
    front = runner.invoke(app, ["sweep", "pareto", str(tmp_path / "out"), "--json"])
    assert front.exit_code == 0 and json.loads(front.stdout)


def test_vectorized_roofline_equals_the_per_point_path(tmp_path):
    from accelscope import llm
    from accelscope.explore.vectorized import evaluate_vectorized, supported
    from accelscope.hardware import load_hardware

    spec = SweepSpec.model_validate({
        "base": "h100-sxm", "level": "roofline",
        "workload": {"model": "llama-3.1-70b", "tp": 8, "batch": 64, "input_len": 2048, "output_len": 256},
        "axes": {"memory.hbm.bandwidth": {"values": ["2 TB/s", "6 TB/s"]},
                 "matrix.peak.bf16": {"values": [5e14, 2e15]}, "runtime.launch_latency": {"values": [1e-6, 3e-6]},
                 "memory.l2.bandwidth": {"values": [1e12]}}})  # a cache: no effect at the roofline
    base = load_hardware("h100-sxm")
    assert supported(spec, base)
    points = spec.design_points()
    fast = evaluate_vectorized(spec, points)
    for i, point in enumerate(points):
        r = llm.infer("llama-3.1-70b", base.with_overrides(point), tp=8, batch=64, input_len=2048, output_len=256)
        assert fast["tpot_s"][i] == pytest.approx(r.tpot_s, rel=1e-12)
        assert fast["tokens_per_s"][i] == pytest.approx(r.output_tokens_per_s, rel=1e-12)


def test_unconstrained_analytical_sweep_evaluates_every_point(tmp_path):
    spec = SweepSpec.model_validate({**SPEC, "level": "analytical", "constraints": [],
                                     "axes": {"memory.hbm.bandwidth": {"values": ["3.35 TB/s", "8 TB/s"]}}})
    summary = run_sweep(spec, tmp_path)
    assert summary.failed == 0
    table = load_results(tmp_path)
    assert table["tokens_per_s"].iloc[1] > table["tokens_per_s"].iloc[0]


@pytest.mark.parametrize("algorithm", ["nsga2", "tpe"])
def test_optuna_search_resumes_after_a_crash(tmp_path, monkeypatch, algorithm):
    pytest.importorskip("optuna")
    from accelscope.explore import search

    spec = SweepSpec.model_validate({**SPEC, "sample": "optuna", "algorithm": algorithm, "points": 6, "seed": 1})
    real = search.evaluate_point
    calls = {"n": 0}

    def crash_on_fourth(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise SystemExit("killed")  # like a kill in the middle of trial 4
        return real(*args, **kwargs)

    monkeypatch.setattr(search, "evaluate_point", crash_on_fourth)
    with pytest.raises(SystemExit):
        run_sweep(spec, tmp_path)
    monkeypatch.setattr(search, "evaluate_point", real)
    resumed = run_sweep(spec, tmp_path)
    assert resumed.resumed == 3  # the three finished trials are in the SQLite study
    table = load_results(tmp_path)
    assert len(table) == 6 and (tmp_path / "optuna.db").exists()  # 3 before the crash + 3 after
    failed = table[table["error"].notna()]
    assert failed.empty or failed["error"].str.contains("compute.cores").all()  # cores=-1 points are recorded


def test_process_pool_gives_the_same_results(tmp_path, monkeypatch):
    spec = SweepSpec.model_validate({**SPEC, "level": "analytical"})
    monkeypatch.setattr(sweep_module, "CHUNK", 5)
    run_sweep(spec, tmp_path / "serial")
    summary = run_sweep(spec, tmp_path / "pool", workers=2)
    assert summary.evaluated == 18
    serial, pool = load_results(tmp_path / "serial"), load_results(tmp_path / "pool")
    assert serial.equals(pool)


def test_ray_executor_on_a_local_instance(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    spec = SweepSpec.model_validate({**SPEC, "level": "analytical",
                                     "axes": {"memory.hbm.bandwidth": {"values": ["2 TB/s", "3.35 TB/s", "6 TB/s"]},
                                              "compute.cores": {"values": [132, -1]}}})
    monkeypatch.setattr(sweep_module, "CHUNK", 2)
    run_sweep(spec, tmp_path / "serial")
    try:
        summary = run_sweep(spec, tmp_path / "ray", workers=2, executor="ray")
    finally:
        ray.shutdown()
    assert (summary.evaluated, summary.failed) == (6, 3)
    assert load_results(tmp_path / "serial").equals(load_results(tmp_path / "ray"))
