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


def test_vectorized_roofline_prices_weight_dequantization_per_point():
    # W4A16 decode: the int4 weights are converted on the vector unit at isa.dequantize_ops lane slots each; at
    # 8 slots on H100 the GEMMs' 8.75e9 weights x 16 FLOPs / 66.9 TFLOP/s = 2.1 ms a step outlast their 1.3 ms
    # of 4-bit weight stream (at 2 slots, 0.5 ms, hidden)
    from accelscope import llm
    from accelscope.explore.vectorized import evaluate_vectorized, supported
    from accelscope.hardware import load_hardware

    workload = {"model": "llama-3.1-70b", "tp": 8, "batch": 1, "input_len": 128, "output_len": 16, "dtype": "int4"}
    spec = SweepSpec.model_validate({"base": "h100-sxm", "level": "roofline", "workload": workload,
                                     "axes": {"isa.dequantize_ops.bf16": {"values": [2.0, 8.0]}}})
    base = load_hardware("h100-sxm")
    assert supported(spec, base)
    points = spec.design_points()
    fast = evaluate_vectorized(spec, points)
    for i, point in enumerate(points):
        r = llm.infer("llama-3.1-70b", base.with_overrides(point), tp=8, batch=1, input_len=128, output_len=16,
                      dtype="int4")
        assert fast["tpot_s"][i] == pytest.approx(r.tpot_s, rel=1e-12)
    assert fast["tpot_s"][1] - fast["tpot_s"][0] == pytest.approx(2.1e-3 - 1.3e-3, rel=0.1)


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


# ----- workloads, coupled axes, constraints, attribution ------------------------------------------------------
MIXED = {
    "base": "h100-sxm", "level": "analytical",
    "axes": {"memory.hbm.bandwidth": {"values": ["3.35 TB/s", "6.7 TB/s"]}},
    "coupled": {"links": {"interconnect.scale_up.bandwidth": ["450 GB/s", "900 GB/s"],
                          "interconnect.scale_out.bandwidth": ["50 GB/s", "100 GB/s"]}},
    "workloads": {
        "decode": {"kind": "infer", "model": "llama-3.1-8b", "batch": 8, "input_len": 512, "output_len": 64},
        # micro-batch 4: at micro-batch 1 an 8B model's TP8 micro-batch issues ~1,150 ops whose 90 us of host
        # time each (~104 ms, llm/train_host.py) outlast its ~80 ms of kernels: every point is host-bound at 15 % MFU
        "step": {"kind": "train", "model": "llama-3.1-8b", "tp": 8, "dp": 4, "seq_len": 4096, "global_batch": 64,
                 "micro_batch": 4},
        "gemm": {"kind": "op", "op": "gemm", "args": {"m": 4096, "n": 4096, "k": 4096}},
        "block": {"kind": "graph", "nodes": [{"op": "gemm", "args": {"m": 4096, "n": 4096, "k": 4096}, "count": 3},
                                             {"op": "norm", "args": {"rows": 4096, "hidden": 4096}}]},
    },
    "objectives": ["max decode.tokens_per_s", "max step.mfu"],
}


def test_coupled_groups_move_together_and_multiply_with_axes():
    points = SweepSpec.model_validate(MIXED).design_points()
    assert len(points) == 2 * 2  # one axis of 2 values x one coupled group of 2 rows
    pairs = {(p["interconnect.scale_up.bandwidth"], p["interconnect.scale_out.bandwidth"]) for p in points}
    assert pairs == {("450 GB/s", "50 GB/s"), ("900 GB/s", "100 GB/s")}  # never 450 with 100


def test_every_workload_kind_gets_its_metrics_and_what_limits_it(tmp_path):
    from accelscope import estimate, llm
    from accelscope.hardware import load_hardware
    from accelscope.workload import Gemm, Norm

    spec = SweepSpec.model_validate(MIXED)
    run_sweep(spec, tmp_path)
    table = load_results(tmp_path)
    assert table["feasible"].all() and table["error"].isna().all()
    row = table.iloc[0]  # point 0: 3.35 TB/s, NVLink 450 GB/s, 50 GB/s NIC = the h100-sxm preset itself
    hw = load_hardware("h100-sxm")
    gemm = estimate(Gemm(4096, 4096, 4096), hw, level="analytical")
    assert row["gemm.seconds"] == pytest.approx(gemm.seconds) and row["gemm.bound"] == gemm.bound
    norm = estimate(Norm(rows=4096, hidden=4096), hw, level="analytical")
    assert row["block.seconds"] == pytest.approx(3 * gemm.seconds + norm.seconds)  # a graph sums its nodes
    step = llm.train("llama-3.1-8b", hw, tp=8, dp=4, seq_len=4096, global_batch=64, micro_batch=4,
                     level="analytical")
    assert row["step.mfu"] == pytest.approx(step.mfu)
    assert row["step.tokens_per_s"] == pytest.approx(step.tokens_per_s_per_device * 32)  # 8 x 4 devices
    decode = llm.infer("llama-3.1-8b", hw, batch=8, input_len=512, output_len=64, level="analytical")
    assert row["decode.tokens_per_s"] == pytest.approx(decode.output_tokens_per_s)
    for name in ("decode", "step", "gemm", "block"):  # the shares of time charged to each cause add up to one
        limits = table[[c for c in table.columns if c.startswith(f"{name}.limit.")]]
        assert limits.sum(axis=1).to_numpy() == pytest.approx(1.0)
    assert (table["decode.bound"] == "memory").all()  # batch-8 decode of an 8B model streams weights


def test_constraints_mark_points_infeasible_without_an_error(tmp_path):
    spec = SweepSpec.model_validate({**MIXED, "constraints": ["step.mfu >= 0.35"]})
    run_sweep(spec, tmp_path)
    table = load_results(tmp_path)
    assert table["error"].isna().all()
    assert (table["feasible"] == (table["step.mfu"] >= 0.35)).all()
    # the constraint cuts the space: MFU 0.334 with 450 GB/s links, 0.386 with 900 GB/s (either HBM bandwidth)
    assert 0 < table["feasible"].sum() < len(table)


def test_objectives_and_constraints_must_name_metrics_of_the_sweep():
    with pytest.raises(ValueError, match="objective 'max tokens_per_s'"):  # with several workloads: prefixed
        SweepSpec.model_validate({**MIXED, "objectives": ["max tokens_per_s"]})
    with pytest.raises(ValueError, match=r"'step\.speed' is not a metric"):
        SweepSpec.model_validate({**MIXED, "constraints": ["step.speed >= 1"]})
    with pytest.raises(ValueError, match="expected memory_fits or 'METRIC <= VALUE'"):
        SweepSpec.model_validate({**MIXED, "constraints": ["area < 3"]})
    with pytest.raises(ValueError, match="value lists of one length"):
        SweepSpec.model_validate({**MIXED, "coupled": {"g": {"a.b": [1, 2], "c.d": [1]}}})
    with pytest.raises(ValueError, match=r"args\.q: gemm has no such argument"):
        SweepSpec.model_validate({**MIXED, "workloads": {"g": {"kind": "op", "op": "gemm", "args": {"q": 1}}}})


def test_vectorized_bound_and_limits_equal_the_per_point_path():
    from accelscope import llm
    from accelscope.explore.vectorized import evaluate_vectorized
    from accelscope.hardware import load_hardware

    spec = SweepSpec.model_validate({
        "base": "h100-sxm", "workload": {"model": "llama-3.1-8b", "batch": 64, "input_len": 512, "output_len": 64},
        "axes": {"matrix.peak.bf16": {"values": [2e13, 1e15]}, "runtime.launch_latency": {"values": [1e-6, 3e-5]}}})
    points = spec.design_points()
    fast = evaluate_vectorized(spec, points)
    for i, point in enumerate(points):
        r = llm.infer("llama-3.1-8b", load_hardware("h100-sxm").with_overrides(point), batch=64, input_len=512,
                      output_len=64)
        assert fast["bound"][i] == r.decode.bound
        for resource, seconds in r.decode.attribution.items():
            assert fast[f"limit.{resource}"][i] == pytest.approx(seconds / r.decode.seconds, abs=1e-12)
    assert set(fast["bound"]) == {"matrix", "memory", "launch"}  # the axes move the bound around


def test_killed_sweep_process_resumes_to_identical_results(tmp_path):
    """A real `kill -9` of `accelscope sweep` mid-run, then a re-run: nothing lost, nothing computed twice."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml

    spec = {"name": "kill", "base": "h100-sxm", "level": "roofline",
            "axes": {"memory.hbm.bandwidth": {"range": ["1 TB/s", "8 TB/s"], "steps": 40},
                     "compute.cores": {"values": [66, 132, 264]},  # not vectorizable: the per-point path
                     "runtime.launch_latency": {"values": ["1 us", "3 us", "5 us", "7 us", "9 us"]}},
            "workload": {"model": "llama-3.1-8b", "batch": 8, "input_len": 256, "output_len": 32}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    command = [sys.executable, "-m", "accelscope", "sweep", str(path), "--json", "--out"]
    victim = subprocess.Popen([*command, str(tmp_path / "killed")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    results = tmp_path / "killed" / "results"
    deadline = time.monotonic() + 120
    while not list(results.glob("part-*.parquet")) and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    parts_at_kill = len(list(results.glob("part-*.parquet")))
    assert parts_at_kill >= 1  # a part being written at the kill stays a .tmp file, which a resume ignores
    resumed = json.loads(subprocess.run([*command, str(tmp_path / "killed")], capture_output=True, text=True,
                                        check=True).stdout)
    whole = json.loads(subprocess.run([*command, str(tmp_path / "whole")], capture_output=True, text=True,
                                      check=True).stdout)
    assert whole["points"] == resumed["points"] == 600
    assert resumed["resumed"] + resumed["evaluated"] == 600 and resumed["resumed"] >= 64  # at least one part kept
    assert load_results(tmp_path / "killed").equals(load_results(tmp_path / "whole"))


def test_sensitivity_cli_and_sweep_figures(tmp_path):
    import yaml

    spec = {**MIXED, "axes": {"memory.hbm.bandwidth": {"values": ["2 TB/s", "3.35 TB/s", "6.7 TB/s"]},
                              "matrix.peak.bf16": {"values": ["0.5 PFLOP/s", "1 PFLOP/s"]}}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    runner = CliRunner()
    result = runner.invoke(app, ["sensitivity", str(path), "--param", "memory.hbm.bandwidth", "--json"])
    assert result.exit_code == 0, result.stdout
    values = json.loads(result.stdout)["elasticity"]
    assert 0.3 < values["decode.tokens_per_s"]["memory.hbm.bandwidth"] <= 1.0  # memory-bound decode
    serving = runner.invoke(app, ["sensitivity", "--model", "llama-3.1-8b", "--tp", "1", "--batch", "8",
                                  "--set", "memory.hbm.bandwidth=1 TB/s", "--param", "matrix.peak.bf16", "--json"])
    assert serving.exit_code == 0, serving.stdout
    assert abs(json.loads(serving.stdout)["elasticity"]["tokens_per_s"]["matrix.peak.bf16"]) < 0.05
    assert runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out"), "--json"]).exit_code == 0
    plot = runner.invoke(app, ["sweep", "plot", str(tmp_path / "out"), "--json"])
    assert plot.exit_code == 0, plot.stdout
    names = {p.rsplit("/", 1)[1] for p in json.loads(plot.stdout)["figures"]}
    assert {"pareto.png", "heatmap_decode_tokens_per_s.png", "figures.html"} <= names
    html = (tmp_path / "out" / "figures" / "figures.html").read_text()
    assert html.count("Plotly.newPlot") >= 4  # pareto, two heatmaps, two tornados: plotly inlined once


def test_physical_objectives_and_constraints_use_the_area_power_cost_model(tmp_path):
    from accelscope.explore import estimate_physical
    from accelscope.explore.vectorized import supported
    from accelscope.hardware import load_hardware

    spec = SweepSpec.model_validate({
        "base": "h100-sxm", "workload": {"model": "llama-3.1-8b", "batch": 8, "input_len": 512, "output_len": 64},
        "axes": {"memory.l2.capacity": {"values": ["25 MiB", "50 MiB", "200 MiB"]}},
        "objectives": ["max tokens_per_s", "max tokens_per_s_per_usd"], "constraints": ["area_mm2 <= 900"]})
    assert spec.needs_physical() and not supported(spec, load_hardware("h100-sxm"))  # per point: physics per chip
    run_sweep(spec, tmp_path)
    table = load_results(tmp_path)
    physical = estimate_physical(load_hardware("h100-sxm").with_overrides({"memory.l2.capacity": "50 MiB"}))
    row = table.iloc[1]
    assert row["area_mm2"] == pytest.approx(physical.area_mm2) and row["cost_usd"] == pytest.approx(physical.cost_usd)
    assert row["tokens_per_s_per_w"] == pytest.approx(row["tokens_per_s_per_device"] / physical.tdp_w)
    assert row["tokens_per_s_per_usd"] == pytest.approx(row["tokens_per_s_per_device"] / physical.cost_usd)
    assert row["tokens_per_s_per_mm2"] == pytest.approx(row["tokens_per_s_per_device"] / physical.area_mm2)
    assert table["area_mm2"].is_monotonic_increasing  # more L2 SRAM, more silicon
    assert (table["feasible"] == (table["area_mm2"] <= 900)).all() and not table["feasible"].iloc[2]
    front = pareto_front(table, spec.objectives)
    assert list(front["point"]) == [0]  # the L2 does not speed up decode here, so the cheapest chip wins


def test_every_example_sweep_is_valid_and_the_sim_isa_study_runs(tmp_path):
    from pathlib import Path

    examples = sorted((Path(__file__).parents[1] / "examples" / "sweeps").glob("*.yaml"))
    assert len(examples) >= 4
    for path in examples:
        assert load_sweep(path).design_points(), path
    spec = load_sweep(Path(__file__).parents[1] / "examples" / "sweeps" / "isa-softmax-sim.yaml")
    run_sweep(spec, tmp_path)
    table = load_results(tmp_path)
    assert table["error"].isna().all() and len(table) == 12
    preset = table[(table["axis:isa.exp2"] == True) & (table["axis:isa.fp8_convert"] == True)  # noqa: E712
                   & (table["axis:vector.lanes_per_core"] == 1024)]
    # FP8 softmax on systolic-128 keeps the SFU (exp2) and HBM equally busy, ~33 us each
    assert preset["softmax.bound"].iloc[0] in ("sfu", "memory")
    no_exp2 = table[(table["axis:isa.exp2"] == False) & (table["axis:isa.fp8_convert"] == True)  # noqa: E712
                    & (table["axis:vector.lanes_per_core"] == 1024)]
    assert no_exp2["softmax.seconds"].iloc[0] > 1.5 * preset["softmax.seconds"].iloc[0]  # emulated on the FMA pipe
    assert 0 in set(pareto_front(table, spec.objectives)["point"])



# ----- failures of any kind, workers that die with the sweep ---------------------------------------------------
def test_any_exception_in_a_point_is_recorded_and_the_sweep_completes(tmp_path, monkeypatch):
    """A point whose model raises something other than ValueError (a bug, an overflow) is recorded with the
    exception's type and message; the other points, and the point's other workloads, are still evaluated."""
    from accelscope.explore import point as point_module

    spec = SweepSpec.model_validate({
        "base": "h100-sxm", "level": "roofline",
        "axes": {"memory.hbm.bandwidth": {"values": ["2 TB/s", "3 TB/s", "4 TB/s"]}},
        "workloads": {"a": {"kind": "op", "op": "gemm", "args": {"m": 64, "n": 64, "k": 64}},
                      "b": {"kind": "op", "op": "norm", "args": {"rows": 64, "hidden": 64}}},
        "objectives": ["min a.seconds"]})
    real = point_module.evaluate_workload

    def broken_at_3_tbps(workload, hw, level, check_memory=False):
        if hw.hbm_bandwidth == 3e12 and workload.kind == "op" and workload.op == "gemm":
            raise ZeroDivisionError("float division by zero")
        if hw.hbm_bandwidth == 4e12:
            raise KeyError("mapping")
        return real(workload, hw, level, check_memory)

    monkeypatch.setattr(point_module, "evaluate_workload", broken_at_3_tbps)
    monkeypatch.setattr("accelscope.explore.vectorized.supported", lambda spec, hw: False)  # per point
    summary = run_sweep(spec, tmp_path)
    table = load_results(tmp_path)
    assert (summary.evaluated, summary.failed) == (3, 2)
    assert table["error"].isna().tolist() == [True, False, False]
    assert table["error"].tolist()[1:] == ["a.ZeroDivisionError: float division by zero",
                                           "a.KeyError: 'mapping'; b.KeyError: 'mapping'"]
    assert table["b.seconds"].notna().tolist() == [True, True, False]  # the 3 TB/s point's norm still ran
    assert table["feasible"].tolist() == [True, False, False]


def test_a_failing_chip_is_recorded_with_its_type(tmp_path, monkeypatch):
    from accelscope.explore import point as point_module

    spec = SweepSpec.model_validate({**SPEC, "axes": {"memory.hbm.bandwidth": {"values": ["2 TB/s", "3 TB/s"]}}})

    def physical_crash(hw):
        raise OverflowError("int too large to convert to float")

    monkeypatch.setattr(point_module, "_physical", physical_crash)
    monkeypatch.setattr(SweepSpec, "needs_physical", lambda self: True)
    run_sweep(spec, tmp_path)
    errors = load_results(tmp_path)["error"].tolist()
    assert errors == ["OverflowError: int too large to convert to float"] * 2


def _children(pid: int) -> list[int]:
    from pathlib import Path

    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def _running(pid: int) -> bool:
    """Alive and not a zombie (an exited child whose new parent has not reaped it yet)."""
    from pathlib import Path

    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="reads /proc")
def test_pool_workers_exit_when_the_sweep_is_killed(tmp_path):
    """`kill -9` of the sweep process runs no cleanup; its pool's processes must not go on evaluating points for
    nobody (they exit through PR_SET_PDEATHSIG, or the watchdog that polls the parent pid)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml

    spec = {"name": "long", "base": "h100-sxm", "level": "analytical",
            "axes": {"memory.hbm.bandwidth": {"range": ["1 TB/s", "9 TB/s"], "steps": 20000}},
            "workload": {"model": "llama-3.1-8b", "batch": 8, "input_len": 512, "output_len": 64},
            "objectives": ["max tokens_per_s"]}
    (tmp_path / "long.yaml").write_text(yaml.safe_dump(spec))
    sweep = subprocess.Popen([sys.executable, "-m", "accelscope", "sweep", str(tmp_path / "long.yaml"), "--out",
                              str(tmp_path / "out"), "--workers", "2", "--json"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline and sweep.poll() is None:
            time.sleep(0.2)
            workers = _children(sweep.pid)
        assert len(workers) == 2, "the sweep did not start its 2 workers"
        os.kill(sweep.pid, signal.SIGKILL)
        sweep.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(_running(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_running(w) for w in workers), "pool workers outlived the killed sweep"
    finally:
        for pid in [sweep.pid, *workers]:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="reads /proc")
def test_the_watchdog_alone_ends_an_orphaned_worker():
    """The portable fallback (no PR_SET_PDEATHSIG): a worker polls its parent pid and exits once re-parented."""
    import os
    import signal
    import subprocess
    import sys
    import time

    # the parent's pid is taken before the fork, as the sweep passes its own pid to the pool initializer: a child
    # that asked os.getppid() after a fast kill would watch its new parent (init) and never exit
    script = ("import os, time\nfrom accelscope.explore.sweep import exit_with_parent\nparent = os.getpid()\n"
              "pid = os.fork()\nif pid == 0:\n    exit_with_parent(parent, death_signal=False)\n    time.sleep(60)\n"
              "    os._exit(0)\nprint(pid, flush=True)\ntime.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    try:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(child)
    finally:
        if _running(child):
            os.kill(child, signal.SIGKILL)


def test_search_and_sweep_share_modules_instead_of_importing_each_other():
    """search.py used sweep.py's private helpers while sweep.py imported search.py lazily: a cycle. Both now import
    the result store (store.py) and point evaluation (point.py), and only sweep.py imports search.py."""
    import ast
    from pathlib import Path

    import accelscope.explore as explore

    def imported(name: str) -> set[str]:
        tree = ast.parse((Path(explore.__file__).parent / f"{name}.py").read_text())
        return {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}

    assert "sweep" not in imported("search") and {"store", "point"} <= imported("search")
    assert "search" in imported("sweep") and not {"sweep", "search"} & (imported("store") | imported("point"))


def test_grid_points_are_decoded_from_their_index_in_product_order():
    """Point ids are itertools.product's order (the last dimension fastest), each built from its index: MIXED's
    2 axis values x 2 coupled rows give ids 0..3 as (axis 0, row 0), (axis 0, row 1), (axis 1, row 0), (axis 1,
    row 1)."""
    import itertools

    spec = SweepSpec.model_validate(MIXED)
    points = spec.design_points()
    options = [opts for _, opts in spec.dimensions()]
    expected = [{k: v for part in combo for k, v in part.items()} for combo in itertools.product(*options)]
    assert [points[i] for i in range(len(points))] == expected and points[-1] == expected[-1]
    with pytest.raises(IndexError):
        points[len(points)]


def test_a_grid_too_large_to_enumerate_is_refused_at_load(tmp_path):
    """Four 100-step axes are 100^4 = 100,000,000 points, ten times the enumeration limit: refused before any
    point runs, with the count, its factors and the ways out."""
    import yaml

    axes = {path: {"range": [low, high], "steps": 100} for path, low, high in (
        ("memory.hbm.bandwidth", "1 TB/s", "10 TB/s"), ("compute.clock", "1 GHz", "2 GHz"),
        ("memory.l2.capacity", "10 MiB", "100 MiB"), ("memory.hbm.capacity", "40 GB", "200 GB"))}
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump({**SPEC, "axes": axes}))
    with pytest.raises(ValueError, match=r"100,000,000 points \(100 x 100 x 100 x 100\).*sample: random"):
        load_sweep(path)


def test_an_axis_on_a_path_the_chip_lacks_is_refused_at_load(tmp_path):
    import yaml

    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump({**SPEC, "axes": {"memory.hbmx.bandwidth": {"values": ["1 TB/s", "2 TB/s"]}}}))
    with pytest.raises(ValueError, match=r"axes\.memory\.hbmx\.bandwidth: .*memory\.hbmx: no such section"):
        load_sweep(path)


def test_a_named_single_workload_roofline_sweep_runs_point_by_point(tmp_path):
    """The vectorized roofline writes unprefixed columns, so a sweep whose one workload is named (metrics
    'w.tokens_per_s') takes the per-point path instead of failing."""
    spec = SweepSpec.model_validate({**{k: v for k, v in SPEC.items() if k != "workload"},
                                     "axes": {"memory.hbm.bandwidth": {"values": ["2 TB/s", "4 TB/s"]}},
                                     "workloads": {"w": SPEC["workload"]},
                                     "objectives": ["max w.tokens_per_s"], "constraints": []})
    summary = run_sweep(spec, tmp_path / "named")
    table = load_results(tmp_path / "named")
    assert summary.failed == 0 and len(table) == 2
    assert table.sort_values("point")["w.tokens_per_s"].is_monotonic_increasing  # more bandwidth, faster decode


def test_a_train_workload_takes_a_pipeline_split(tmp_path):
    """`pipeline_split` / `mtp_layers` reach llm.train as given (a list of counts, a layout, "balanced"); a bad
    count names the field; with plan: auto (which splits evenly) they are refused up front."""
    from accelscope.explore.point import evaluate_point
    from accelscope.llm import train

    workload = {"kind": "train", "model": "llama-3.1-8b", "tp": 1, "pp": 4, "dp": 2, "seq_len": 4096,
                "global_batch": 64, "pipeline_split": [7, 9, 9, 7], "mtp_layers": 1}
    spec = SweepSpec.model_validate({"name": "s", "base": "h100-sxm", "level": "analytical", "workload": workload,
                                     "axes": {"memory.hbm.bandwidth": {"values": ["3.35 TB/s"]}}})
    record = evaluate_point(spec, 0, spec.design_points()[0])
    expected = train("llama-3.1-8b", "h100-sxm", tp=1, pp=4, dp=2, seq_len=4096, global_batch=64,
                     level="analytical", pipeline_split=(7, 9, 9, 7), mtp_layers=1)
    assert record["step_s"] == pytest.approx(expected.step_s, rel=1e-12)
    bad = tmp_path / "s.yaml"
    bad.write_text("base: h100-sxm\naxes: {memory.hbm.bandwidth: {values: [3 TB/s]}}\nworkload: {kind: train, "
                   "model: llama-3.1-8b, pp: 4, pipeline_split: [7, 9, x, 7]}\n")
    with pytest.raises(ValueError, match=r"s\.yaml: workload\.train\.pipeline_split"):
        load_sweep(bad)
    with pytest.raises(ValueError, match="apply to a fixed layout"):
        SweepSpec.model_validate({"name": "s", "base": "h100-sxm", "workload": {**workload, "plan": "auto"},
                                  "axes": {"memory.hbm.bandwidth": {"values": ["3.35 TB/s"]}}})


def test_a_clock_axis_without_the_peaks_is_warned(tmp_path):
    """compute.clock alone on MI300X (sustained clock 1,207 MHz) prices the chip slower at a higher quoted clock:
    the peaks are quoted at that clock and stay fixed. Load warns once; coupled with a matrix peak it is silent."""
    import warnings

    import yaml

    from accelscope.hardware.check import SpecWarning

    base = {"name": "clk", "base": "mi300x", "level": "roofline",
            "workload": {"kind": "infer", "model": "llama-3.1-8b", "batch": 1}}
    alone, coupled = tmp_path / "alone.yaml", tmp_path / "coupled.yaml"
    alone.write_text(yaml.safe_dump({**base, "axes": {"compute.clock": {"values": ["2.1 GHz", "2.5 GHz"]}}}))
    coupled.write_text(yaml.safe_dump({**base, "coupled": {"clock": {
        "compute.clock": ["2.1 GHz", "2.5 GHz"], "matrix.peak.bf16": ["1307 TFLOP/s", "1556 TFLOP/s"]}}}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_sweep(alone)
        load_sweep(coupled)
    found = [w for w in caught if issubclass(w.category, SpecWarning)]
    assert len(found) == 1 and "alone.yaml: compute.clock is the clock the spec's peaks are quoted at" in \
        str(found[0].message)
