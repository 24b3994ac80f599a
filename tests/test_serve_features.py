"""Serving features that change the answer: CUDA graphs vs eager host time, TP overlap, wide expert parallelism
(DeepEP dispatch/combine, load imbalance, two-batch overlap, attention data parallel). Values derived by hand."""

from __future__ import annotations

import math

import pytest

from accelscope.hardware import load_hardware
from accelscope.llm.serving import serve
from accelscope.llm.serving.moe import (
    WideEP,
    a2a_seconds,
    compute_slowdown,
    dispatch_bytes_per_token,
    expected_nodes,
    expert_weight_bytes,
    low_latency_seconds,
    normal_seconds,
    overlapped_seconds,
)
from accelscope.llm.serving.serve import iteration_costs
from accelscope.workload.model_config import load_model

H800 = load_hardware("h800-sxm")  # DeepEP's published kernels ran on H800 + one 400 Gb/s CX7 per GPU


@pytest.fixture(scope="module")
def v3():
    return load_model("deepseek-v3")


# ----- CUDA graphs / eager --------------------------------------------------------------------------------------
def test_eager_decode_is_host_bound_at_batch_one():
    """Llama-3.1-8B launches 1 (embedding) + 32 x 11 (attn_norm, qkv, rope, attention, o_proj, 2 residual adds,
    mlp_norm, gate_up, act, down) + 2 (final norm, LM head) = 355 kernels a step. Eager at batch 1 the host issues
    them at 24 us each = 8.52 ms, more than the GPU's time, so the step takes 8.52 ms; with graphs the GPU time."""
    graphs = iteration_costs("llama-3.1-8b", "h100-sxm", level="analytical")
    eager = iteration_costs("llama-3.1-8b", "h100-sxm", level="analytical", cuda_graphs=False)
    assert eager.eager_ops(False) == 355
    gpu = graphs.iteration(1, 2048, [])
    assert gpu < 355 * 24e-6
    assert eager.iteration(1, 2048, []) == pytest.approx(355 * 24e-6, rel=1e-12)


def test_eager_large_prefill_is_gpu_bound_and_the_spec_field_sets_the_host_time():
    """An 8192-token prefill of Llama-3.1-8B keeps the GPU busy far beyond 355 x 24 us = 8.5 ms: eager changes
    nothing. A spec with runtime.host_op_latency = 1 ms makes even that host-bound: 355 x 1 ms = 0.355 s."""
    graphs = iteration_costs("llama-3.1-8b", "h100-sxm", level="analytical")
    eager = iteration_costs("llama-3.1-8b", "h100-sxm", level="analytical", cuda_graphs=False)
    prefill = graphs.iteration(0, 0, [(8192, 0)])
    assert prefill > 355 * 24e-6
    assert eager.iteration(0, 0, [(8192, 0)]) == prefill
    h100 = load_hardware("h100-sxm")
    slow_host = h100.model_copy(update={"runtime": h100.runtime.model_copy(update={"host_op_latency": 1e-3})})
    slow = iteration_costs("llama-3.1-8b", slow_host, level="analytical", cuda_graphs=False)
    assert slow.iteration(0, 0, [(8192, 0)]) == pytest.approx(0.355, rel=1e-12)


# ----- TP overlap -----------------------------------------------------------------------------------------------
def test_tp_overlap_hides_at_most_the_collectives_and_never_slows():
    """Llama-3.1-70B TP8: an 8192-token prefill's all-reduces (134 MB each) overlap the GEMMs: faster, but by no
    more than the collectives' own time. A 64-sequence decode's GEMMs are weight-bound: splitting them into 8
    chunks re-reads the weights 8 times, so the overlap does not pay and the time is unchanged. TP=1 has nothing
    to overlap."""
    plain = iteration_costs("llama-3.1-70b", "h100-sxm", tp=8, level="analytical")
    lapped = iteration_costs("llama-3.1-70b", "h100-sxm", tp=8, level="analytical", tp_overlap=True)
    _, _, comm, _ = plain._body_terms(8192, False)
    before, after = plain.iteration(0, 0, [(8192, 0)]), lapped.iteration(0, 0, [(8192, 0)])
    assert before - comm <= after < before
    assert lapped.iteration(64, 2048, []) == plain.iteration(64, 2048, [])
    one = iteration_costs("llama-3.1-8b", "h100-sxm", level="analytical", tp_overlap=True)
    assert one.iteration(0, 0, [(4096, 0)]) == iteration_costs("llama-3.1-8b", "h100-sxm",
                                                               level="analytical").iteration(0, 0, [(4096, 0)])


# ----- wide expert parallelism: DeepEP dispatch / combine -------------------------------------------------------
def test_dispatch_bytes_are_fp8_with_a_scale_per_128():
    """DeepSeek-V3 hidden 7168: 7168 FP8 bytes + 7168 / 128 = 56 FP32 scales x 4 B = 7392 B per routed copy."""
    assert dispatch_bytes_per_token(7168) == 7392
    assert dispatch_bytes_per_token(7168, "bf16") == 14336


def test_low_latency_dispatch_by_hand(v3):
    """EP16 on H800, 128 tokens a rank, top-8: 1024 copies x 7392 B. Half the ranks are in other nodes:
    3,784,704 B over the 50 GB/s NIC = 75.69 us; 7 of 16 in the node: 3,311,616 B over 200 GB/s x 0.824 =
    20.10 us, hidden. Plus launch 2.5 us and the 3 us network latency = 81.19 us. DeepEP measures 118 us
    (README, H800 + CX7): the model misses DeepEP's per-message overheads and is optimistic by ~30 %."""
    wide = WideEP(16)
    assert low_latency_seconds(v3, H800, wide, 128, "dispatch") == pytest.approx(2.5e-6 + 3e-6 + 3_784_704 / 50e9,
                                                                                  rel=1e-9)
    # imbalance 1.5: the busiest rank receives 1.5 x the copies
    skewed = low_latency_seconds(v3, H800, WideEP(16, imbalance=1.5), 128, "dispatch")
    assert skewed == pytest.approx(5.5e-6 + 1.5 * 3_784_704 / 50e9, rel=1e-9)


def test_low_latency_combine_tracks_deepep_within_its_known_optimism(v3):
    """Published DeepEP low-latency combine (128 tokens, BF16, H800): EP16 195 us, EP32 273, EP64 314, EP128 369,
    EP256 360. The bandwidth model (remote share x 14,336 B x 1024 copies / 50 GB/s + 5.5 us) gives 152, 226,
    263, 281, 290 us: 17-24 % low, growing more remote-bound with EP as DeepEP does."""
    published = {16: 195e-6, 32: 273e-6, 64: 314e-6, 128: 369e-6, 256: 360e-6}
    for ep, measured in published.items():
        remote = 1 - 8 / ep
        by_hand = 5.5e-6 + 1024 * 14336 * remote / 50e9
        model = low_latency_seconds(v3, H800, WideEP(ep), 128, "combine")
        assert model == pytest.approx(by_hand, rel=1e-9)
        assert 0.7 * measured < model < measured


def test_expected_nodes_and_the_group_limit():
    """Top-8 over 4 nodes: 4 (1 - (3/4)^8) = 3.5996 distinct nodes; DeepSeek-V3's limit of 4 does not bind, a
    limit of 2 does. One node: 1."""
    assert expected_nodes(4, 8, None) == pytest.approx(4 * (1 - 0.75**8), rel=1e-12)
    assert expected_nodes(4, 8, 4) == pytest.approx(3.5996, abs=1e-4)
    assert expected_nodes(4, 8, 2) == 2
    assert expected_nodes(1, 8, None) == 1


def test_normal_dispatch_sends_a_token_once_per_remote_node(v3):
    """EP32 (4 nodes) on H800, 4096 tokens: per token 3.5996 x 3/4 = 2.6997 remote nodes x 7392 B over 50 GB/s =
    1.6346 ms; the NVLink forwarding of 8 x 7/8 copies at 164.8 GB/s is 1.29 ms, hidden. + 5.5 us."""
    model = normal_seconds(v3, H800, WideEP(32), 4096, "dispatch")
    remote = 4 * (1 - 0.75**8) * 3 / 4
    assert model == pytest.approx(5.5e-6 + 4096 * 7392 * remote / 50e9, rel=1e-9)
    # inside one node (EP8) only NVLink: 4096 x 7392 x 8 x 7/8 B at 164.8 GB/s + launch 2.5 us, no NIC latency
    assert normal_seconds(v3, H800, WideEP(8), 4096, "dispatch") == pytest.approx(
        2.5e-6 + 4096 * 7392 * 7 / 164.8e9, rel=1e-9)


def test_a2a_is_dispatch_plus_combine_and_zero_for_no_tokens(v3):
    wide = WideEP(32)
    assert a2a_seconds(v3, H800, wide, 64, "low_latency") == pytest.approx(
        low_latency_seconds(v3, H800, wide, 64, "dispatch") + low_latency_seconds(v3, H800, wide, 64, "combine"))
    assert a2a_seconds(v3, H800, wide, 0, "normal") == 0.0
    with pytest.raises(ValueError, match="mode"):
        a2a_seconds(v3, H800, wide, 1, "fast")


def test_two_batch_overlap_arithmetic_and_sm_cost():
    """Stage by stage, per micro-batch: attention side 3, experts 2, dispatch 1, combine 4 -> max(1, 3) +
    max(2, 1) + max(4, 2) + max(4, 3) = 13, though compute (5) and communication (5) balance in total (the ideal
    2 x max would be 10). Without communication: two micro-batches one after the other, 2 x (3 + 2) = 10; without
    compute, 2 x (1 + 4) = 10. Normal-mode kernels hold 24 of the H800's 132 SMs while they run: the other
    micro-batch's compute takes 132 / 108 = 1.2222 x as long; low-latency kernels hold none."""
    assert overlapped_seconds(3.0, 2.0, 1.0, 4.0) == 13.0
    assert overlapped_seconds(3.0, 2.0, 0.0, 0.0) == 10.0
    assert overlapped_seconds(0.0, 0.0, 1.0, 4.0) == 10.0
    assert compute_slowdown(H800, WideEP(32), "normal") == pytest.approx(132 / 108)
    assert compute_slowdown(H800, WideEP(32), "low_latency") == 1.0


def test_tbo_helps_a_communication_heavy_prefill_but_cannot_split_one_token():
    """DeepSeek-V3 EP32 on H100: an 8192-token prefill chunk with TBO is faster than without, and never faster
    than the communication of its two halves alone; a single-token iteration cannot be split (no change)."""
    kwargs = {"level": "analytical", "dtype": "fp8_e4m3"}
    plain = iteration_costs("deepseek-v3", "h100-sxm", wide_ep=WideEP(32, max_nodes=4), **kwargs)
    tbo = iteration_costs("deepseek-v3", "h100-sxm", wide_ep=WideEP(32, max_nodes=4, two_batch_overlap=True),
                          **kwargs)
    before, after = plain.iteration(0, 0, [(8192, 0)]), tbo.iteration(0, 0, [(8192, 0)])
    assert after < before
    assert after >= tbo.a2a(4096, "normal") * 2  # both micro-batches' dispatch and combine run in the pairs
    assert tbo.iteration(1, 2048, []) == plain.iteration(1, 2048, [])


def test_expert_weights_and_serving_with_wide_ep(v3):
    """DeepSeek-V3 has 58 MoE layers (61 less 3 dense) x 256 experts x 3 x 7168 x 2048 weights = 653.9 B; in FP8
    at EP32 each rank keeps 1/32 of them. Serving runs one engine per attention-DP rank: 32 replicas, 32 devices."""
    assert expert_weight_bytes(v3, 1.0) == 58 * 256 * 3 * 7168 * 2048
    result = serve("deepseek-v3", "h100-sxm", wide_ep=WideEP(32), dtype="fp8_e4m3", level="roofline", rate=50,
                   requests=200, input_len=512, output_len=16)
    assert (result.replicas, result.devices, result.completed) == (32, 32, 200)
    with pytest.raises(ValueError, match="divide"):
        WideEP(72).check(v3)
    with pytest.raises(ValueError, match="tp=1"):
        iteration_costs("deepseek-v3", "h100-sxm", tp=8, wide_ep=WideEP(32))
    assert math.isfinite(result.tpot_s["p99"])


def test_cli_wide_ep_options():
    """`llm serve --wide-ep N --tbo` runs; --tbo without --wide-ep is one `error:` line with exit 2."""
    import json

    from typer.testing import CliRunner

    from accelscope.cli.app import app

    runner = CliRunner()
    base = ["llm", "serve", "deepseek-v3", "--hw", "h100-sxm", "--requests", "64", "--input-len", "256",
            "--output-len", "8", "--rate", "20", "--dtype", "fp8_e4m3", "--json"]
    # (no --tp-overlap: at tp 1 there is no TP collective to overlap, and the option is refused as having no effect)
    out = runner.invoke(app, [*base, "--wide-ep", "16", "--tbo", "--eager"])
    assert out.exit_code == 0, out.stdout
    assert json.loads(out.stdout)["devices"] == 16
    bad = runner.invoke(app, [*base, "--tbo"])
    assert bad.exit_code == 2 and "--wide-ep" in bad.output
    pools = runner.invoke(app, [*base, "--wide-ep", "16", "--decode-wide-ep", "32", "--scheduler", "disaggregated"])
    assert pools.exit_code == 0, pools.stdout
    assert json.loads(pools.stdout)["devices"] == 48  # a 16-rank prefill pool and a 32-rank decode pool


def test_disaggregated_pools_have_their_own_expert_groups():
    """SGLang's layout in small: prefill EP16, decode EP32 -> 48 devices. The decode pool's low-latency
    all-to-all reaches 3 of 4 nodes' ranks remotely instead of 1 of 2, and its ranks keep 8 experts instead of 16:
    its steps differ from an EP16 decode pool's, so the TPOT does; a decode group without a prefill group is
    refused."""
    kwargs = {"scheduler": "disaggregated", "dtype": "fp8_e4m3", "level": "roofline", "rate": 20, "requests": 64,
              "input_len": 256, "output_len": 16}
    same = serve("deepseek-v3", "h100-sxm", wide_ep=WideEP(16), **kwargs)
    pools = serve("deepseek-v3", "h100-sxm", wide_ep=WideEP(16), decode_wide_ep=WideEP(32), **kwargs)
    assert (same.devices, pools.devices) == (32, 48)
    assert pools.tpot_s["mean"] != same.tpot_s["mean"]
    assert pools.ttft_s["p50"] == pytest.approx(same.ttft_s["p50"], rel=1e-9)  # the same prefill pool
    with pytest.raises(ValueError, match="needs wide_ep"):
        serve("deepseek-v3", "h100-sxm", decode_wide_ep=WideEP(32), **kwargs)
    # a decode group where there is no decode pool, or one that does not divide the 256 experts, is refused
    with pytest.raises(ValueError, match="needs scheduler='disaggregated'"):
        serve("deepseek-v3", "h100-sxm", wide_ep=WideEP(16), decode_wide_ep=WideEP(32), **{**kwargs, "scheduler": "vllm"})
    with pytest.raises(ValueError, match="decode_wide_ep: ep must be >= 2 and divide the 256 experts"):
        serve("deepseek-v3", "h100-sxm", wide_ep=WideEP(16), decode_wide_ep=WideEP(3), **kwargs)


# ----- report: "Serving under load" (scenario key serving.load) ---------------------------------------------------
def test_report_serving_under_load(tmp_path):
    """A scenario with serving.load gets the section: per chip, one row per rate fraction at the same absolute
    rates; P99 TTFT grows with the rate; a chip with twice the HBM bandwidth meets the SLOs at every rate the
    reference meets (decode is memory-bound), and the reference saturates at the rate its fraction 1.0 names."""
    pytest.importorskip("plotly")
    import yaml

    from accelscope.hardware.loader import PRESET_DIR
    from accelscope.report.html import write_report
    from accelscope.report.scenario import load_scenario

    chip = yaml.safe_load((PRESET_DIR / "h100-sxm.yaml").read_text())
    chip.update(id="fast-hbm", name="H100 with 1.8x HBM bandwidth")
    chip["memory"]["hbm"]["bandwidth"] = "6 TB/s"  # still under its 6.65 TB/s L2, so hw check stays quiet
    (tmp_path / "fast.yaml").write_text(yaml.safe_dump(chip, sort_keys=False))  # keeps memory levels innermost first
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "title": "load", "hardware": ["h100-sxm", str(tmp_path / "fast.yaml")], "level": "roofline",
        "serving": {"model": "llama-3.1-8b", "batch": 8, "input_len": 512, "output_len": 64, "dtypes": ["bf16"],
                    "load": {"requests": 60, "fractions": [0.2, 0.6, 1.0], "slo_ttft_ms": 1000,
                             "slo_tpot_ms": 30}},
        "kernels": False, "validation": False}))
    path, results = write_report(load_scenario(tmp_path / "s.yaml"), tmp_path / "out")
    assert [(row["hw"], round(row["rate"] / results.load[0]["rate"], 9)) for row in results.load] == [
        ("h100-sxm", 1.0), ("h100-sxm", 3.0), ("h100-sxm", 5.0), ("fast-hbm", 1.0), ("fast-hbm", 3.0),
        ("fast-hbm", 5.0)]
    reference = [row for row in results.load if row["hw"] == "h100-sxm"]
    fast = [row for row in results.load if row["hw"] == "fast-hbm"]
    assert reference[0]["ttft_p99_s"] < reference[2]["ttft_p99_s"]
    assert all(f["meets"] for f, r in zip(fast, reference, strict=True) if r["meets"])
    assert reference[2]["rate"] == pytest.approx(reference[2]["saturated_requests_per_s"], rel=1e-9)
    page = path.read_text()
    assert "Serving under load" in page and "accelscope llm capacity llama-3.1-8b" in page
    assert (tmp_path / "out" / "figures" / "serving_load.png").exists()


def test_sweep_serve_workload_takes_the_features():
    """A sweep's serve workload passes the features to llm.capacity: eagerly every Llama-3.1-8B step takes at
    least 355 ops x 24 us = 8.52 ms, above the roofline's ~4.8 ms weight read at small batch, so the capacity
    at a 12 ms TPOT SLO falls and the P99 TPOT at it is at least 8.52 ms; a wide-EP DeepSeek-V3 workload is 16
    devices; tbo without wide_ep is refused."""
    from accelscope.explore.point import evaluate_workload
    from accelscope.explore.space import ServeWorkload

    hw = load_hardware("h100-sxm")
    base = {"model": "llama-3.1-8b", "input_len": 256, "output_len": 32, "requests": 40, "slo_tpot_s": 0.012}
    graphs = evaluate_workload(ServeWorkload(**base), hw, "roofline")
    eager = evaluate_workload(ServeWorkload(**base, cuda_graphs=False), hw, "roofline")
    assert 0 < eager["requests_per_s"] < graphs["requests_per_s"]
    assert eager["tpot_s"] >= 355 * 24e-6
    wide = ServeWorkload(model="deepseek-v3", dtype="fp8_e4m3", input_len=256, output_len=8, requests=40,
                         slo_tpot_s=1.0, wide_ep=16, tbo=True)
    metrics = evaluate_workload(wide, hw, "roofline")
    assert metrics["requests_per_s"] == pytest.approx(16 * metrics["requests_per_s_per_device"])
    with pytest.raises(ValueError, match="need wide_ep"):
        evaluate_workload(ServeWorkload(**base, tbo=True), hw, "roofline")


def test_an_eager_engine_runs_its_draft_model_eagerly_too():
    """Speculative decoding for Llama-3.1-70B TP8 with a Llama-3.1-8B draft (TP8, 4 tokens, acceptance 0: one
    token per step). At TP8 a layer launches 13 kernels (the 11 of test_eager_decode_is_host_bound_at_batch_one
    and 2 all-reduces): the target 1 + 80 x 13 + 2 = 1043, the draft 1 + 32 x 13 + 2 = 419. Eager at batch 1 every
    pass is host-bound, so each step takes (1043 + 4 x 419) x 24 us = 65.256 ms; with graphs far less."""
    kwargs = {"tp": 8, "level": "roofline", "rate": 0.05, "requests": 10, "input_len": 256, "output_len": 32,
              "draft_tokens": 4, "acceptance": 0.0, "draft_model": "llama-3.1-8b"}
    graphs = serve("llama-3.1-70b", "h100-sxm", **kwargs)
    eager = serve("llama-3.1-70b", "h100-sxm", cuda_graphs=False, **kwargs)
    assert eager.tpot_s["mean"] == pytest.approx((1043 + 4 * 419) * 24e-6, rel=1e-9)
    assert graphs.tpot_s["mean"] < 0.5 * eager.tpot_s["mean"]


def test_wide_ep_options_that_would_price_silently_are_refused():
    with pytest.raises(ValueError, match="expected a WideEP"):
        serve("deepseek-v3", "h100-sxm", wide_ep=16, level="roofline", requests=8)
    with pytest.raises(ValueError, match="comm_sms must be a whole number"):
        WideEP(16, comm_sms=-100).check(load_model("deepseek-v3"))
    with pytest.raises(ValueError, match="imbalance must be a number"):
        WideEP(16, imbalance="2").check(load_model("deepseek-v3"))
