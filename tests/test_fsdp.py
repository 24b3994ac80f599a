"""FSDP per-layer collectives overlapped with compute on the SMs NCCL leaves free (llm/fsdp.py)."""

import importlib

import pytest

from accelscope import llm
from accelscope.hardware import load_hardware
from accelscope.llm.fsdp import (
    fsdp_exposed,
    gather_bytes_per_param,
    linear_param_fraction,
    nccl_sm_share,
    overlap_exposed,
    overlap_share,
    static_persistent_gemms,
)
from accelscope.workload.model_config import load_model


def test_nccl_holds_16_sms():
    """16 NCCL channels (NVIDIA/nccl#689) of H100's 132 SMs = 0.1212; A100's 108 = 0.1481."""
    assert nccl_sm_share(load_hardware("h100-sxm")) == pytest.approx(16 / 132)
    assert nccl_sm_share(load_hardware("a100-sxm-80gb")) == pytest.approx(16 / 108)


def test_overlap_exposes_the_sm_share_or_the_excess():
    """X = 10 ms of compute, s = 0.125. C = 4 ms: compute runs 4 ms at 7/8 (3.5 ms of work), the other 6.5 ms
    after: 10.5 ms, 0.5 ms = s x C exposed. C = 12 ms >= X / (1 - s) = 11.43 ms: the pass is the collective's
    12 ms, 2 ms exposed. No collective: nothing."""
    assert overlap_exposed(10e-3, 4e-3, 0.125) == pytest.approx(0.5e-3)
    assert overlap_exposed(10e-3, 12e-3, 0.125) == pytest.approx(2e-3)
    assert overlap_exposed(10e-3, 0.0, 0.125) == 0.0


def test_fsdp_exposed_by_hand():
    """4 layers, gather 4 ms, reduce-scatter 8 ms, forward 10 ms, backward 20 ms, s = 0.125, 2 micro-batches.
    Forward: max(4 - 10, 0.5) + 4 / 4 = 1.5 ms; backward: max(12 - 20, 1.5) + 8 / 4 = 3.5 ms; x 2 = 10 ms."""
    assert fsdp_exposed(4e-3, 8e-3, 10e-3, 20e-3, 4, 0.125, 2) == pytest.approx(10e-3)


def test_float8_all_gather_halves_the_layers_bytes():
    """Llama-3.1-8B: 8,030,261,248 parameters, of which embedding + untied output 2 x 128,256 x 4,096 =
    1,050,673,152 stay bf16: layer share 6,979,588,096 / 8,030,261,248 = 0.86916; bytes per parameter
    0.86916 x 1 + 0.13084 x 2 = 1.13084."""
    config = load_model("llama-3.1-8b")
    assert config.params() == 8_030_261_248
    assert linear_param_fraction(config) == pytest.approx(6_979_588_096 / 8_030_261_248)
    assert gather_bytes_per_param(config, True) == pytest.approx(2 - 6_979_588_096 / 8_030_261_248)
    assert gather_bytes_per_param(config, False) == 2


def test_fsdp_step_pays_the_sm_share_and_float8_gathers_less(monkeypatch):
    """Llama-3.1-8B, FSDP over 8 H100 at 8k tokens, one micro-batch of one sequence, 32 layers. Each pass is longer
    than the collectives it hides (forward ~173 ms against the gathers' G ~39 ms; backward ~377 ms against
    G + S ~116 ms of gathers and reduce-scatters), so each exposes s x its collectives (llm/fsdp.py): the forward
    s x G, the backward s x (G + S). With NCCL holding no SMs (s = 0) both would be hidden whole, so the step
    exposes exactly s x (2 G + S) more with H100's s = 16 / 132 = 0.12121: 0.12121 x (2 x 39.0 + 76.9) ms
    = 18.8 ms. Gathering float8 weights exposes less than bf16. (The GEMMs' two rounds beside a collective,
    overlap_share, are switched off here: test_hopper_persistent_gemms_take_two_rounds_in_a_step.)"""
    train_module = importlib.import_module("accelscope.llm.train")
    monkeypatch.setattr(train_module, "static_persistent_gemms", lambda hw: False)
    args = dict(dp=8, zero=3, seq_len=8192, global_batch=8, recompute="none", level="analytical",
                check_memory=False, dtype="fp8_e4m3")
    calls = []
    real = train_module.fsdp_exposed

    def spy(*passed, **named):
        calls.append(passed)
        return real(*passed, **named)

    monkeypatch.setattr(train_module, "fsdp_exposed", spy)
    bf16_gather = llm.train("llama-3.1-8b", "h100-sxm", **args)
    gather, scatter, fwd, bwd, layers, share, micro_batches = calls[-1][:7]
    assert (layers, micro_batches) == (32, 1) and share == pytest.approx(16 / 132)
    assert fwd > gather and bwd > gather + scatter  # the case the docstring derives: s x C exposed per pass
    real_share = train_module.nccl_sm_share
    monkeypatch.setattr(train_module, "nccl_sm_share", lambda hw: 0.0)
    free = llm.train("llama-3.1-8b", "h100-sxm", **args)
    assert bf16_gather.detail["exposed_dp"] - free.detail["exposed_dp"] == pytest.approx(
        16 / 132 * (2 * gather + scatter), rel=1e-9)
    monkeypatch.setattr(train_module, "nccl_sm_share", real_share)
    fp8_gather = llm.train("llama-3.1-8b", "h100-sxm", **args, fp8_all_gather=True)
    assert fp8_gather.detail["exposed_dp"] < bf16_gather.detail["exposed_dp"]


def test_backward_post_exposes_the_backward_gathers():
    """The case above with BACKWARD_POST (Composer's default): the forward is unchanged (1.5 ms); the backward
    waits for each gather whole (4 ms) and overlaps only the reduce-scatter: max(8 - 20, 0.125 x 8) + 8 / 4 =
    3 ms; per micro-batch 1.5 + 4 + 3 = 8.5 ms, x 2 = 17 ms."""
    assert fsdp_exposed(4e-3, 8e-3, 10e-3, 20e-3, 4, 0.125, 2, "post") == pytest.approx(17e-3)


def test_backward_post_costs_more_in_a_step():
    """Llama-3.1-8B over 64 H100 at 4 x 4k tokens per micro-batch (compute longer than the collectives):
    "post" exposes the backward's gathers, "pre" hides them; an unknown mode is refused."""
    args = dict(dp=64, zero=3, seq_len=4096, global_batch=256, micro_batch=4, recompute="none", level="analytical",
                check_memory=False)
    pre = llm.train("llama-3.1-8b", "h100-sxm", **args)
    post = llm.train("llama-3.1-8b", "h100-sxm", **args, fsdp_backward_prefetch="post")
    assert post.detail["exposed_dp"] > pre.detail["exposed_dp"]
    with pytest.raises(ValueError, match="fsdp_backward_prefetch"):
        llm.train("llama-3.1-8b", "h100-sxm", **args, fsdp_backward_prefetch="never")


def test_learned_positions_replace_rotary_in_the_graph():
    """A model with a learned absolute position table (GPT-2, MPT, Megatron learned_absolute) runs no rotary
    kernel; its first stage gathers a position row per token and adds it: 2,048 tokens x 768 = 1,572,864
    elements. A RoPE model (Llama) keeps its rope node and has no position table."""
    from accelscope.workload.llm_graph import Parallelism, Precision, Step, forward_graph

    step, par, prec = Step(batch=1, new_tokens=2048), Parallelism(), Precision()
    gpt2 = {n.name: n.op for n in forward_graph(load_model("gpt2"), step, par, prec).nodes}
    llama = {n.name: n.op for n in forward_graph(load_model("llama-3.1-8b"), step, par, prec).nodes}
    assert "rope" not in gpt2 and gpt2["pos_embedding"].vocab == 1024
    assert gpt2["pos_add"].elements == 2048 * 768
    assert "rope" in llama and "pos_embedding" not in llama


def test_fsdp_copies_move_14_bytes_per_parameter():
    """10^9 local parameters: bf16 -> fp32 gradient cast (2 + 4 B) and FSDP1's in-place pre-divide (4 + 4 B):
    14 GB per micro-batch; with float8 all-gather the cast and two 1-byte copy-outs: 6 + 2 x (1 + 1) = 10 GB."""
    from accelscope.llm.fsdp import fsdp_copy_graph

    bf16 = fsdp_copy_graph(1e9).cost()
    fp8 = fsdp_copy_graph(1e9, fp8_all_gather=True).cost()
    assert bf16.bytes_read + bf16.bytes_written == pytest.approx(14e9)
    assert fp8.bytes_read + fp8.bytes_written == pytest.approx(10e9)


def test_persistent_gemms_raise_the_share_by_hand():
    """s = 16 / 132 = 0.121212. A pass of 60 % persistent GEMMs: while a collective runs, a second of its compute
    takes d = 0.6 x 2 + 0.4 / (1 - 0.121212) = 1.2 + 0.455172 = 1.655172 s, so s' = 1 - 1 / d = 0.395833. All
    GEMMs: d = 2, s' = 0.5. No GEMMs, or GEMMs that are not persistent: s' = s."""
    s = 16 / 132
    assert overlap_share(s, 0.6, True) == pytest.approx(1 - 1 / (1.2 + 0.4 / (1 - s)))
    assert overlap_share(s, 0.6, True) == pytest.approx(0.395833, abs=1e-6)
    assert overlap_share(s, 1.0, True) == pytest.approx(0.5)
    assert overlap_share(s, 0.0, True) == pytest.approx(s)
    assert overlap_share(s, 0.6, False) == pytest.approx(s)


def test_static_persistent_gemms_are_hoppers():
    """cuBLAS's Hopper kernels run one CTA per SM over a fixed tile list (pytorch/pytorch #143988); Blackwell
    schedules tiles with cluster launch control, A100 and MI300X launch a CTA per tile."""
    assert static_persistent_gemms(load_hardware("h100-sxm"))
    assert static_persistent_gemms(load_hardware("h200-sxm"))
    for chip in ("b200", "gb200", "a100-sxm-80gb", "mi300x"):
        assert not static_persistent_gemms(load_hardware(chip))


def test_fsdp_exposed_backward_share_by_hand():
    """As test_fsdp_exposed_by_hand with the backward at s' = 0.5: forward max(4 - 10, 0.5) + 1 = 1.5 ms;
    backward max(12 - 20, 0.5 x 12) + 2 = 8 ms; x 2 micro-batches = 19 ms."""
    assert fsdp_exposed(4e-3, 8e-3, 10e-3, 20e-3, 4, 0.125, 2, backward_share=0.5) == pytest.approx(19e-3)


def test_hopper_persistent_gemms_take_two_rounds_in_a_step(monkeypatch):
    """The same Llama-3.1-8B FSDP step on 8 H100 with the persistent GEMMs' two rounds: each pass exposes s' x
    its collectives with s' = overlap_share(s, g, True) from the pass's own GEMM share g, so the step exposes
    (s'_f - s) G + (s'_b - s)(G + S) more than at the plain SM share. The GEMMs are most of each pass
    (0.5 < g < 1), so s < s' < 0.5."""
    train_module = importlib.import_module("accelscope.llm.train")
    args = dict(dp=8, zero=3, seq_len=8192, global_batch=8, recompute="none", level="analytical",
                check_memory=False)
    calls = []
    real = train_module.fsdp_exposed

    def spy(*passed, **named):
        calls.append((passed, named))
        return real(*passed, **named)

    monkeypatch.setattr(train_module, "fsdp_exposed", spy)
    two_rounds = llm.train("llama-3.1-8b", "h100-sxm", **args)
    (gather, scatter, _fwd, _bwd, _layers, fshare, _mb, _prefetch, bshare), _ = calls[-1]
    s = 16 / 132
    assert s < fshare < 0.5 and s < bshare < 0.5
    g_f = train_module.gemm_fraction(two_rounds.forward)
    g_b = train_module.gemm_fraction(two_rounds.backward)
    assert 0.5 < g_f < 1 and 0.5 < g_b < 1
    assert fshare == pytest.approx(overlap_share(s, g_f, True))
    assert bshare == pytest.approx(overlap_share(s, g_b, True))
    monkeypatch.setattr(train_module, "static_persistent_gemms", lambda hw: False)
    one_round = llm.train("llama-3.1-8b", "h100-sxm", **args)
    assert two_rounds.detail["exposed_dp"] - one_round.detail["exposed_dp"] == pytest.approx(
        (fshare - s) * gather + (bshare - s) * (gather + scatter), rel=1e-9)
