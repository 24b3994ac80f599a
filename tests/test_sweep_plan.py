"""Sweeps whose points are evaluated at their own best mapping (plan: auto) or at their capacity under SLOs
(kind: serve)."""

from __future__ import annotations

import accelscope as acs
from accelscope.explore.point import evaluate_workload
from accelscope.explore.space import ServeWorkload, TrainWorkload


def test_plan_auto_records_the_layout_and_matches_the_planner():
    workload = TrainWorkload(model="llama-3.1-8b", tp=1, pp=1, dp=8, seq_len=4096, global_batch=64, plan="auto",
                             search={"tp": [1, 2], "pp": [1, 2], "cp": [1], "ep": [1], "vpp": [1], "zero": [1, 3],
                                     "micro_batch": [1], "recompute": ["selective"]})
    metrics = evaluate_workload(workload, acs.load_hardware("h100-sxm"), "roofline")
    best = acs.llm.plan("llama-3.1-8b", "h100-sxm", devices=8, seq_len=4096, global_batch=64, level="roofline",
                        tp=[1, 2], pp=[1, 2], cp=[1], ep=[1], vpp=[1], zero=[1, 3], micro_batch=[1],
                        recompute=["selective"]).best
    assert metrics["tokens_per_s_per_device"] == best.metrics["tokens_per_s_per_device"]
    assert {k.removeprefix("plan."): v for k, v in metrics.items() if k.startswith("plan.")} == best.layout


def test_more_hbm_capacity_buys_a_different_plan():
    search = {"tp": [1, 2, 4, 8], "pp": [1, 2, 4], "cp": [1], "ep": [1], "vpp": [1], "zero": [1, 3],
              "micro_batch": [1], "recompute": ["selective", "full"]}
    workload = TrainWorkload(model="llama-3.1-70b", tp=8, pp=1, dp=8, seq_len=4096, global_batch=256, plan="auto",
                             search=search)
    small = evaluate_workload(workload, acs.load_hardware("h100-sxm"), "roofline")
    big = evaluate_workload(workload, acs.load_hardware("h100-sxm").with_overrides(
        {"memory.hbm.capacity": "160 GB"}), "roofline")
    # the 160 GB chip needs less model parallelism or less recompute: at 80 GB the best layout is TP 4 x PP 4
    # (selective recompute), at 160 GB TP 4 x PP 1 x DP 16 (roofline; model-parallel degree 16 -> 4)
    order = {"none": 0, "selective": 1, "full": 2}
    assert (big["plan.tp"] * big["plan.pp"] < small["plan.tp"] * small["plan.pp"]
            or order[big["plan.recompute"]] < order[small["plan.recompute"]])
    assert big["tokens_per_s"] > small["tokens_per_s"]


def test_serve_workload_reports_capacity_at_the_slo():
    workload = ServeWorkload(model="llama-3.1-8b", input_len=512, output_len=64, requests=60, slo_tpot_s=0.02)
    metrics = evaluate_workload(workload, acs.load_hardware("h100-sxm"), "roofline")
    assert metrics["requests_per_s"] > 0 and metrics["tpot_s"] <= 0.02
    assert metrics["requests_per_s_per_device"] == metrics["requests_per_s"]  # one device


def test_plans_on_chips_that_differ_only_in_capacity_share_their_pricing(monkeypatch):
    """Inside shared_plans() (a sweep's chunk) the 70B plans at 60, 80 and 141 GB return exactly what each plan
    returns alone (layouts, metrics, the best's result, pruning counts, why), and the second and third chips price
    no layout again: 70B on 64 H100, TP 4/8 x PP 2/4 x ZeRO 1/3 x selective/full = 16 layouts, all priced on the
    first chip (141 GB, the largest, prunes nothing), none on the others."""
    import importlib

    planner = importlib.import_module("accelscope.llm.plan")  # the module (acs.llm.plan is the function)

    chips = [acs.load_hardware("h100-sxm").with_overrides({"memory.hbm.capacity": c})
             for c in ("141 GB", "80 GB", "60 GB")]
    space = dict(seq_len=4096, global_batch=64, tp=[4, 8], pp=[2, 4], cp=[1], ep=[1], vpp=[1], zero=[1, 3],
                 micro_batch=[1], recompute=["selective", "full"])
    alone = [acs.llm.plan("llama-3.1-70b", chip, devices=64, top=3, level="roofline", **space) for chip in chips]
    priced = []
    price = planner.price_layout
    monkeypatch.setattr(planner, "price_layout", lambda *a: priced.append(a[-1]) or price(*a))
    shared, counts = [], []
    with planner.shared_plans():
        for chip in chips:
            before = len(priced)
            shared.append(acs.llm.plan("llama-3.1-70b", chip, devices=64, top=3, level="roofline", **space))
            counts.append(len(priced) - before)
    # first chip: 16 layouts priced; the others: only their top 3 results on their own chip
    assert counts == [16, 3, 3]
    for one, other in zip(alone, shared, strict=True):
        assert [c.layout for c in one.configs] == [c.layout for c in other.configs]
        assert [c.metrics for c in one.configs] == [c.metrics for c in other.configs]
        assert [c.result.step_s for c in one.configs] == [c.result.step_s for c in other.configs]
        assert [c.result.memory.headroom for c in one.configs] == [c.result.memory.headroom for c in other.configs]
        assert (one.pruned, one.estimated, one.candidates, one.why) == (other.pruned, other.estimated,
                                                                        other.candidates, other.why)
    assert alone[0].estimated > alone[2].estimated  # less memory: fewer layouts fit


def test_a_sweep_chunk_shares_plans_across_capacity_and_records_each_point_s_own():
    """A plan: auto sweep over HBM capacity (60, 80, 141 GB) x bandwidth: a chunk (one shared_plans block) records
    exactly what each point records alone, the chosen layout included."""
    from accelscope.explore.point import evaluate_point
    from accelscope.explore.space import SweepSpec
    from accelscope.explore.sweep import evaluate_chunk

    workload = {"kind": "train", "model": "llama-3.1-70b", "tp": 8, "pp": 2, "dp": 4, "seq_len": 4096,
                "global_batch": 64, "plan": "auto",
                "search": {"tp": [4, 8], "pp": [2, 4], "cp": [1], "ep": [1], "vpp": [1], "zero": [1, 3],
                           "micro_batch": [1], "recompute": ["selective", "full"]}}
    raw = {"name": "p", "base": "h100-sxm", "level": "roofline", "workload": workload,
           "axes": {"memory.hbm.capacity": {"values": ["60 GB", "80 GB", "141 GB"]},
                    "memory.hbm.bandwidth": {"values": ["3.35 TB/s", "4.8 TB/s"]}},
           "objectives": ["max tokens_per_s"]}
    spec = SweepSpec.model_validate(raw)
    points = spec.design_points()
    chunk = evaluate_chunk(spec.model_dump(mode="json"), list(range(len(points))))
    alone = [evaluate_point(spec, i, point) for i, point in enumerate(points)]
    assert chunk == alone
    layouts = {tuple(v for k, v in r.items() if k.startswith("plan.")) for r in alone}
    assert len(layouts) > 1  # the best layout moves with the chip


def test_train_options_reach_the_plan_and_the_fixed_layout():
    """A sweep's `train_options` price each point as train() / plan() with them: Muon's step differs from Adam's
    on the same layout, both with plan: auto and with a fixed layout; a bad option fails at load, naming itself."""
    import pytest
    from pydantic import ValidationError

    hw = acs.load_hardware("h100-sxm")
    search = {"tp": [1, 2], "pp": [1], "cp": [1], "ep": [1], "vpp": [1], "zero": [1], "micro_batch": [1],
              "recompute": ["selective"]}
    common = dict(model="llama-3.1-8b", tp=1, pp=1, dp=8, seq_len=4096, global_batch=64)
    planned = evaluate_workload(TrainWorkload(**common, plan="auto", search=search,
                                              train_options={"optimizer": "muon"}), hw, "roofline")
    best = acs.llm.plan("llama-3.1-8b", hw, devices=8, seq_len=4096, global_batch=64, level="roofline",
                        optimizer="muon", **search).best
    assert planned["tokens_per_s_per_device"] == best.metrics["tokens_per_s_per_device"]
    fixed = evaluate_workload(TrainWorkload(**common, train_options={"optimizer": "muon"}), hw, "roofline")
    adam = evaluate_workload(TrainWorkload(**common), hw, "roofline")
    assert fixed["step_s"] == acs.llm.train("llama-3.1-8b", hw, dp=8, seq_len=4096, global_batch=64,
                                            level="roofline", optimizer="muon").step_s != adam["step_s"]
    with pytest.raises(ValidationError, match="optimizer: expected one of adam, sgd, muon"):
        TrainWorkload(**common, train_options={"optimizer": "muonn"})
    with pytest.raises(ValidationError, match="attention is given twice"):
        TrainWorkload(**common, attention="fa2", train_options={"attention": "fa3"})


def test_plan_auto_searches_training_dtypes():
    """`search: {dtype: [...]}` hands the dtypes to llm.plan (the point records plan.dtype); an unknown name fails
    at load."""
    import pytest
    from pydantic import ValidationError

    search = {"tp": [1], "pp": [1], "cp": [1], "ep": [1], "vpp": [1], "zero": [3], "micro_batch": [1],
              "recompute": ["selective"], "dtype": ["bf16", "fp8_e4m3"]}
    common = dict(model="llama-3.1-8b", tp=1, pp=1, dp=8, seq_len=4096, global_batch=64, plan="auto")
    metrics = evaluate_workload(TrainWorkload(**common, search=search), acs.load_hardware("h100-sxm"), "roofline")
    assert metrics["plan.dtype"] == "fp8_e4m3"  # FSDP on H100: both fit, FP8's matrix rate wins (test_plan.py)
    with pytest.raises(ValidationError, match="dtype: "):
        TrainWorkload(**common, search={**search, "dtype": ["bf16", "fp7"]})


def test_serve_plan_auto_records_the_best_pool_and_matches_the_planner():
    """kind: serve with plan: auto rates a point by the best simulated serving layout of its tp x pp devices (the
    same as llm.plan(simulate=True) there), the layout as plan.* columns; fixed-layout features are refused."""
    import pytest
    from pydantic import ValidationError

    common = dict(model="llama-3.1-8b", tp=2, input_len=512, output_len=64, requests=40, slo_tpot_s=0.02,
                  slo_ttft_s=1.0)
    hw = acs.load_hardware("h100-sxm")
    metrics = evaluate_workload(ServeWorkload(**common, plan="auto", disaggregated=True), hw, "roofline")
    best = acs.llm.plan("llama-3.1-8b", hw, devices=2, goal="serve", level="roofline", input_len=512, output_len=64,
                        slo_tpot=0.02, slo_ttft=1.0, simulate=True, requests=40,
                        schedulers=("vllm", "disaggregated")).best
    assert metrics["requests_per_s_per_device"] == best.metrics["requests_per_s_per_device"]
    assert {k.removeprefix("plan."): v for k, v in metrics.items() if k.startswith("plan.")} == best.layout
    with pytest.raises(ValidationError, match="apply to a fixed layout"):
        ServeWorkload(**common, plan="auto", wide_ep=8)
    with pytest.raises(ValidationError, match="disaggregated: the plan's pool splits; add plan: auto"):
        ServeWorkload(**common, disaggregated=True)
