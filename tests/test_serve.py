"""Request-level serving simulation (acs.llm.serve / capacity): the checks of the serving issue, by hand.

Fast: Llama-3.1-8B on one H100 at the roofline level, a few hundred requests.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import accelscope as acs
from accelscope.llm.serving import capacity, generate, iteration_costs, load_trace, serve
from accelscope.llm.serving.costs import grid_neighbours

MODEL, HW = "llama-3.1-8b", "h100-sxm"


@pytest.fixture(scope="module")
def costs():
    return iteration_costs(MODEL, HW, level="roofline")


def test_idle_server_ttft_is_one_prefill_and_tpot_one_decode_step(costs):
    """Far below capacity (one request per 1000 s) nothing overlaps: TTFT is exactly the batch-1 prefill of
    `infer`, and each decode step is a batch-1 step, whose mean over contexts 1025..1088 is infer's TPOT at the
    mean context (decode time is linear in the context)."""
    r = serve(MODEL, HW, rate=0.001, requests=5, input_len=1024, output_len=64, costs=costs, level="roofline")
    one = acs.llm.infer(MODEL, HW, batch=1, input_len=1024, output_len=64, level="roofline")
    assert r.ttft_s["p50"] == pytest.approx(one.ttft_s, rel=1e-9)
    assert r.ttft_s["p99"] == pytest.approx(one.ttft_s, rel=1e-9)
    assert r.tpot_s["mean"] == pytest.approx(one.tpot_s, rel=2e-3)
    assert r.preemptions == 0 and r.completed == 5


def test_identical_requests_at_once_reproduce_the_static_batch(costs):
    """64 identical requests at time 0 under static batching are `infer`'s batch of 64: same TTFT, end-to-end
    latency and output tokens/s (to rounding)."""
    r = serve(MODEL, HW, rate=math.inf, requests=64, input_len=1024, output_len=256, scheduler="static", batch=64,
              costs=costs, level="roofline")
    batch = acs.llm.infer(MODEL, HW, batch=64, input_len=1024, output_len=256, level="roofline")
    assert r.ttft_s["mean"] == pytest.approx(batch.ttft_s, rel=1e-9)
    assert r.e2e_s["mean"] == pytest.approx(batch.e2e_latency_s, rel=1e-9)
    assert r.output_tokens_per_s == pytest.approx(batch.output_tokens_per_s, rel=1e-9)


def test_saturated_throughput_approaches_the_largest_static_batch(costs):
    """Every request queued at once with max_seqs = the largest batch that fits: continuous batching's output
    rate comes within 5 % of infer's static batch at that size (chunked prefills interleave with decodes instead
    of stalling them, and the batch refills as requests finish)."""
    largest = acs.llm.infer(MODEL, HW, batch="max", input_len=1024, output_len=256, level="roofline")
    r = serve(MODEL, HW, rate=math.inf, requests=3 * largest.batch, input_len=1024, output_len=256,
              max_seqs=largest.batch, costs=costs, level="roofline")
    assert r.output_tokens_per_s == pytest.approx(largest.output_tokens_per_s, rel=0.05)
    assert r.kv_utilization["max"] > 0.9  # the cache is what limits the batch


def test_littles_law(costs):
    """L = lambda x W: the engine's own time-averaged count of requests in the system equals the arrival rate
    times the mean latency (within 2 %: arrivals are counted from the next iteration boundary)."""
    r = serve(MODEL, HW, rate=20, requests=400, input_len=512, output_len=128, costs=costs, level="roofline")
    assert r.mean_in_system == pytest.approx(r.requests_per_s * r.e2e_s["mean"], rel=0.02)


def test_latency_grows_with_load(costs):
    light = serve(MODEL, HW, rate=2, requests=200, input_len=1024, output_len=128, costs=costs, level="roofline")
    heavy = serve(MODEL, HW, rate=200, requests=200, input_len=1024, output_len=128, costs=costs, level="roofline")
    assert heavy.ttft_s["p99"] > 5 * light.ttft_s["p99"]
    assert heavy.tpot_s["p50"] > light.tpot_s["p50"]
    assert heavy.output_tokens_per_s > light.output_tokens_per_s


def test_a_small_cache_preempts_and_still_completes(costs):
    """With 95 % of memory for weights and activations the cache holds a few requests: the scheduler preempts
    (recompute) instead of deadlocking, and every request finishes."""
    small = acs.load_hardware(HW).with_overrides({"memory.hbm.capacity": "20 GB"})
    r = serve(MODEL, small, rate=math.inf, requests=60, input_len=1024, output_len=512, level="roofline")
    assert r.completed == 60
    assert r.preemptions > 0


def test_speculative_decoding(costs):
    """Acceptance 0: every step verifies draft+1 tokens and keeps one, so it is slower than plain decoding;
    acceptance 1 with a free proposer keeps all 4+1 tokens per step: TPOT drops almost 5x at batch 1."""
    kwargs = dict(rate=0.001, requests=3, input_len=1024, output_len=101, costs=costs, level="roofline")
    plain = serve(MODEL, HW, **kwargs)
    rejected = serve(MODEL, HW, draft_tokens=4, acceptance=0.0, draft_model="mtp", **kwargs)
    accepted = serve(MODEL, HW, draft_tokens=4, acceptance=1.0, **kwargs)
    assert rejected.tpot_s["mean"] > plain.tpot_s["mean"]
    assert plain.tpot_s["mean"] / accepted.tpot_s["mean"] > 3.5


def test_disaggregation_with_free_transfer_is_no_worse_on_prefill_heavy_traffic():
    """Long prompts, short outputs: one prefill + one decode replica (free KV transfer) against two colocated
    replicas of the same size. Decodes never wait behind a prefill chunk, so P99 TPOT is no worse."""
    free_links = acs.load_hardware(HW).with_overrides({"interconnect.scale_up.bandwidth": "1 PB/s",
                                                       "interconnect.scale_up.latency": "0 s"})
    kwargs = dict(rate=6, requests=150, input_len=4096, output_len=32, level="roofline")
    colocated = serve(MODEL, free_links, replicas=2, **kwargs)
    split = serve(MODEL, free_links, scheduler="disaggregated", prefill_replicas=1, decode_replicas=1, **kwargs)
    assert split.tpot_s["p99"] <= colocated.tpot_s["p99"]
    assert split.completed == colocated.completed == 150


def test_goodput_counts_requests_within_slos(costs):
    r = serve(MODEL, HW, rate=50, requests=200, input_len=1024, output_len=64, costs=costs, level="roofline",
              slo_ttft=0.05, slo_tpot=0.02)
    met = (r.per_request["ttft_s"] <= 0.05) & ~(r.per_request["tpot_s"] > 0.02)
    assert r.goodput_requests_per_s == pytest.approx(met.sum() / r.duration_s)
    assert r.goodput_requests_per_s < r.requests_per_s


def test_capacity_meets_the_slo_at_the_rate_it_reports(costs):
    result = capacity(MODEL, HW, slo_tpot=0.015, requests=150, input_len=512, output_len=64, level="roofline")
    assert 0 < result.capacity_requests_per_s < result.saturation_requests_per_s * 1.5
    assert result.at_capacity.tpot_s["p99"] <= 0.015
    above = serve(MODEL, HW, rate=result.capacity_requests_per_s * 1.3, requests=150, input_len=512,
                  output_len=64, costs=costs, level="roofline")
    assert above.tpot_s["p99"] > 0.015 * 0.95  # 30 % more load is at or past the SLO


def test_capacity_is_zero_when_an_idle_server_misses_the_slo():
    result = capacity(MODEL, HW, slo_ttft=1e-6, requests=20, input_len=512, output_len=8, level="roofline")
    assert result.capacity_requests_per_s == 0 and "idle server" in result.reason


def test_generated_requests_are_seeded_and_distributed_as_asked():
    a = generate(4.0, 4000, "uniform:100:200", "exp:50", seed=1)
    b = generate(4.0, 4000, "uniform:100:200", "exp:50", seed=1)
    assert np.array_equal(a.arrival_s, b.arrival_s) and np.array_equal(a.input_tokens, b.input_tokens)
    assert np.diff(a.arrival_s).mean() == pytest.approx(0.25, rel=0.05)  # 1 / rate
    assert a.input_tokens.min() >= 100 and a.input_tokens.max() <= 200
    assert a.output_tokens.mean() == pytest.approx(50, rel=0.05)
    bursty = generate(4.0, 4000, 10, 10, arrival="gamma", cv=3.0, seed=1)
    gaps = np.diff(bursty.arrival_s)
    assert gaps.mean() == pytest.approx(0.25, rel=0.1) and gaps.std() / gaps.mean() == pytest.approx(3.0, rel=0.15)


def test_trace_files_and_their_errors(tmp_path):
    shipped = load_trace("examples/serving/trace-synthetic.csv")
    assert len(shipped) == 40 and np.all(np.diff(shipped.arrival_s) >= 0)
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text('{"arrival_s": 1.5, "input_tokens": 10, "output_tokens": 3}\n'
                     '{"arrival_s": 0.5, "input_tokens": 20, "output_tokens": 4}\n')
    assert load_trace(jsonl).input_tokens.tolist() == [20, 10]  # sorted by arrival
    bad = tmp_path / "bad.csv"
    bad.write_text("arrival_s,input_tokens,output_tokens\n0,12.5,3\n")
    with pytest.raises(ValueError, match=r"bad.csv: row 2: input_tokens: expected a whole number"):
        load_trace(bad)
    bad.write_text("arrival_s,input_tokens\n0,12\n")
    with pytest.raises(ValueError, match="row 2: missing output_tokens"):
        load_trace(bad)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"scheduler": "fifo"}, "scheduler: expected one of vllm, static, disaggregated"),
    ({"rate": -1.0}, "rate: expected requests per second > 0"),
    ({"input_len": "uniform:9:3"}, "input_len: expected a token count"),
    ({"acceptance": 1.5, "draft_tokens": 2}, "acceptance: expected a probability"),
    ({"max_seqs": 0}, "max_seqs: expected an integer from 1"),
    ({"cuda_graphs": "no"}, r"cuda_graphs: expected True or False \(got 'no'\)"),  # "no" is truthy
])
def test_bad_options_name_the_option(costs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        serve(MODEL, HW, requests=3, costs=costs, level="roofline", **kwargs)


def test_a_request_longer_than_the_cache_is_refused_with_the_numbers(costs):
    with pytest.raises(acs.llm.DoesNotFit, match="the longest request"):
        serve(MODEL, HW, requests=2, input_len=2_000_000, output_len=1, costs=costs, level="roofline")


def test_pricing_grid_is_exact_below_256_and_at_powers_of_two():
    assert grid_neighbours(200) == (200, 200, 0.0)
    assert grid_neighbours(4096) == (4096, 4096, 0.0)
    low, high, weight = grid_neighbours(4100)
    assert low == 4096 and high == round(256 * 2 ** (129 / 32)) and 0 < weight < 1


def test_interpolation_error_of_the_token_parallel_time_is_small(costs):
    """Between grid points the token-parallel time is priced linearly; the exact estimate at the midpoint is
    within 0.5 % of it (GEMM time is close to linear in M at these sizes)."""
    low, high, _ = grid_neighbours(3000)
    middle = (low + high) // 2
    exact = costs._stages_seconds(acs.llm.serving.costs.Step(1, middle, 0, logits_tokens=1), "body")[:3].sum()
    assert costs.token_parallel(middle, 1, decode_only=False) - costs._head_at(1) == pytest.approx(exact, rel=5e-3)


def test_cli_serve_capacity_and_plan():
    """The commands' JSON has the issue's keys; bad options are one `error:` line with exit 2."""
    import json

    from typer.testing import CliRunner

    from accelscope.cli.app import app

    runner = CliRunner()
    base = ["--hw", HW, "--requests", "30", "--input-len", "256", "--output-len", "16", "--json"]
    out = json.loads(runner.invoke(app, ["llm", "serve", MODEL, "--rate", "5", *base]).stdout)
    assert {"ttft_s", "tpot_s", "e2e_s", "output_tokens_per_s", "requests_per_s", "goodput_requests_per_s",
            "completed"} <= set(out) and set(out["ttft_s"]) == {"p50", "p90", "p99", "mean"}
    assert out["completed"] == 30
    cap = json.loads(runner.invoke(app, ["llm", "capacity", MODEL, "--slo-tpot", "20", *base]).stdout)
    assert cap["capacity_requests_per_s"] > 0
    plan = json.loads(runner.invoke(app, ["llm", "plan", MODEL, "--hw", HW, "--devices", "8", "--serve",
                                          "--level", "roofline", "--json"]).stdout)
    assert plan["configs"][0]["tp"] * plan["configs"][0]["replicas"] * plan["configs"][0]["pp"] == 8
    bad = runner.invoke(app, ["llm", "serve", MODEL, "--rate", "-1", *base])
    lines = [line for line in bad.output.splitlines() if line.strip()]
    assert bad.exit_code == 2 and len(lines) == 1 and "--rate" in lines[0]
