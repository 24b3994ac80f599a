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
    assert (big["plan.tp"], big["plan.recompute"]) != (small["plan.tp"], small["plan.recompute"])
    assert big["tokens_per_s"] > small["tokens_per_s"]


def test_serve_workload_reports_capacity_at_the_slo():
    workload = ServeWorkload(model="llama-3.1-8b", input_len=512, output_len=64, requests=60, slo_tpot_s=0.02)
    metrics = evaluate_workload(workload, acs.load_hardware("h100-sxm"), "roofline")
    assert metrics["requests_per_s"] > 0 and metrics["tpot_s"] <= 0.02
    assert metrics["requests_per_s_per_device"] == metrics["requests_per_s"]  # one device
