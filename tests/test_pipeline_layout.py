"""Uneven pipeline stages, Megatron layouts and multi-token-prediction layers (llm/pipeline_layout.py, train())."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelscope.llm import train
from accelscope.llm.pipeline_layout import accounted_counts, first_last_counts, layout_split, virtual_split
from accelscope.llm.train_memory import chunk_in_flight, in_flight, mtp_own_params, stage_params
from accelscope.workload.llm_graph import Parallelism, stage_layers
from accelscope.workload.model_config import load_model

from .conftest import fuzz_examples

_CONFIG = load_model("llama-3.1-8b")  # stage_layers reads only the split when one is given
RUN = dict(tp=1, pp=4, dp=2, seq_len=4096, global_batch=64, level="analytical", check_memory=False)


def test_layout_string_expands_as_megatron_reads_it():
    # "Et*3|(tt|)*6mL" = Ettt | tt | tt | tt | tt | tt | tt | mL: 8 virtual stages, 3 + 6 x 2 = 15 decoder layers;
    # on pp=2 rank 0 runs virtual stages 0, 2, 4, 6 (layers 0-2, 5-6, 9-10, 13-14), rank 1 stages 1, 3, 5, 7
    # (layers 3-4, 7-8, 11-12 and the MTP layer, index 15)
    split, vpp, mtp = layout_split("Et*3|(tt|)*6mL", 15, 2)
    assert (vpp, mtp) == (4, 1)
    par = Parallelism(pp=2, stage_split=split)
    config = load_model("llama-3.1-8b")  # any model: stage_layers reads only the split here
    assert tuple(stage_layers(config, par, 0)) == (0, 1, 2, 5, 6, 9, 10, 13, 14)
    assert tuple(stage_layers(config, par, 1)) == (3, 4, 7, 8, 11, 12, 15)


@pytest.mark.parametrize("layout, why", [("Ex*3|tL", "'x' not understood"), ("tt|EL", "embedding"),
                                         ("Et|tmt|t|L", "MTP layers"), ("Et*2|tL", "3 decoder layers")])
def test_bad_layouts_are_refused_with_the_reason(layout, why):
    with pytest.raises(ValueError, match=why):
        layout_split(layout, 2 if "m" not in layout else 3, 2)


def test_uneven_first_and_last_stages():
    # 12 layers, 2 on the first and last ranks: the middle two take (12 - 4) / 2 = 4 each; with 2 chunks per rank
    # each chunk holds half its rank's layers, in model order v = chunk x pp + rank
    assert first_last_counts(12, 4, 1, 2, 2) == (2, 4, 4, 2)
    assert first_last_counts(12, 4, 2, 2, 2) == (1, 2, 2, 1, 1, 2, 2, 1)
    with pytest.raises(ValueError, match="do not split evenly"):
        first_last_counts(12, 4, 1, 3, 2)  # 7 layers over 2 middle ranks


def test_embedding_and_loss_counted_as_layers():
    # 6 layers + embedding + loss = 8 slots over pp x vpp = 8 virtual stages: the first holds only the embedding,
    # the last only the loss
    assert accounted_counts(6, 4, 2, embedding=True, loss=True) == (0, 1, 1, 1, 1, 1, 1, 0)
    with pytest.raises(ValueError, match="do not split evenly"):
        accounted_counts(6, 4, 2, embedding=True)  # 7 slots over 8 stages: Megatron's argument check refuses it


def test_interleaved_warm_up_holds_more_of_the_first_chunks():
    # Megatron's interleaved schedule, pp=4, vpp=2, 8 micro-batches: rank 3 warms up with 2 x 0 + 1 x 4 = 4
    # forwards, then one steady forward: forwards 0-3 on chunk 0, forward 4 on chunk 1 -> [4, 1]; rank 0 warms up
    # with 2 x 3 + 4 = 10, plus one: 0-3 chunk 0, 4-7 chunk 1, 8-10 chunk 0 -> [7, 4]. In total in_flight x vpp.
    assert chunk_in_flight(4, 3, 2, 8) == [4, 1]
    assert chunk_in_flight(4, 0, 2, 8) == [7, 4]
    assert sum(chunk_in_flight(4, 0, 2, 8)) == in_flight(4, 0, 2, 8) * 2


def test_an_even_split_given_explicitly_is_the_default():
    even = train("llama-3.1-8b", "h100-sxm", **RUN)
    given = train("llama-3.1-8b", "h100-sxm", **RUN, pipeline_split=(8, 8, 8, 8))
    assert given.step_s == even.step_s
    assert given.memory.total == even.memory.total
    # equal chunks under interleaving: the per-chunk count gives the even path's activations (on the last stage:
    # the first stage's embedding output is held once per forward of its first chunk, 7 of 11 here, where the
    # even path spreads it over the chunks, 11 / 2)
    run = {**RUN, "vpp": 2, "global_batch": 64, "memory_stage": -1}
    assert train("llama-3.1-8b", "h100-sxm", **run, pipeline_split=(4,) * 8).memory.activations == pytest.approx(
        train("llama-3.1-8b", "h100-sxm", **run).memory.activations, rel=1e-12)


def test_interleaving_deals_mixed_layer_kinds_to_ranks_in_megatrons_order():
    """Megatron's even interleaved split: layers / (pp x vpp) per virtual stage in model order, virtual stage v on rank
    v % pp. Qwen3-Next-like mix by hand: 16 layers, the first 2 dense, pp 2, vpp 2 -> virtual stages 0-3, 4-7, 8-11,
    12-15; rank 0 holds 0-3 and 8-11 (both dense layers and 6 MoE), rank 1 4-7 and 12-15 (8 MoE), where contiguous
    halves would give rank 0 layers 0-7. One layer kind keeps the contiguous split (the same price, cheaper)."""
    from dataclasses import replace as with_fields

    from accelscope.llm.train import _pipeline_split
    from accelscope.workload.model_config import MoE

    mixed = with_fields(load_model("mixtral-8x7b"), layers=16,
                        moe=MoE(experts=8, top_k=2, intermediate=14336, first_dense_layers=2))
    split, vpp, _ = _pipeline_split(mixed, 2, 2, None, 0)
    assert split == (tuple(range(0, 4)), tuple(range(4, 8)), tuple(range(8, 12)), tuple(range(12, 16))) and vpp == 2
    assert stage_layers(mixed, Parallelism(pp=2, stage_split=split), 0) == (0, 1, 2, 3, 8, 9, 10, 11)
    assert _pipeline_split(load_model("mixtral-8x7b"), 2, 2, None, 0)[0] is None  # every layer MoE
    assert _pipeline_split(mixed, 2, 3, None, 0)[0] is None  # 16 layers do not split over 6 virtual stages


def test_moving_layers_off_the_lm_head_stage_shortens_the_step():
    # Llama-3.1-8B's output layer (4,096 x 128,256) is ~2.4 decoder layers of matmul work (2 x 4096 x 128256 vs
    # 2 x 218 M per token), plus the fp32 cross-entropy: with 8 layers the last stage is the slowest; with 7 the
    # 9-layer middle stages are, and they are lighter than 8 layers + the head
    even = train("llama-3.1-8b", "h100-sxm", **RUN)
    balanced = train("llama-3.1-8b", "h100-sxm", **RUN, pipeline_split=(7, 9, 9, 7))
    assert balanced.step_s < even.step_s


def test_mtp_layer_adds_its_parameters_loss_and_head_to_the_last_stage():
    config = load_model("llama-3.1-8b")
    h, v = config.hidden, config.vocab
    # the MTP layer's own parameters: eh_proj 2h x h + enorm, hnorm, final_layernorm (RMSNorm: h each)
    assert mtp_own_params(config) == 2 * h * h + 3 * h
    even = Parallelism(pp=4)
    split, _, _ = layout_split("Et*8|t*8|t*8|t*8mL", 32, 4)
    with_mtp = Parallelism(pp=4, stage_split=split)
    dense, _ = stage_params(config, with_mtp, 3)
    # + a decoder layer (index 32: a dense layer, as layer 31), its own parameters and its embedding copy
    assert dense - stage_params(config, even, 3)[0] == config.layer_params(31) + mtp_own_params(config) + v * h
    r = train(config, "h100-sxm", **RUN, mtp_layers=1)
    counts = {name: count for name, count, _ in r.forward.parts}  # the last stage's: the slowest
    # 8 decoder layers + the MTP layer's; the output layer and the cross-entropy once for each loss
    assert counts["attn_norm"] == 9 and counts["mtp_proj"] == 1 and counts["mtp_norm"] == 3
    assert counts["lm_head"] == 2 and counts["cross_entropy"] == 2
    assert r.memory.stage == 3


def test_bad_split_and_mtp_are_refused_naming_the_argument():
    with pytest.raises(ValueError, match=r"pipeline_split: .*hold 31 decoder layers"):
        train("llama-3.1-8b", "h100-sxm", **RUN, pipeline_split=(7, 9, 8, 7))
    with pytest.raises(ValueError, match="mtp_layers"):
        train("llama-3.1-8b", "h100-sxm", **RUN, mtp_layers=-1)
    with pytest.raises(ValueError, match="pipeline_split: the layout has 2 stages per rank, vpp=4"):
        train("llama-3.1-8b", "h100-sxm", **{**RUN, "vpp": 4}, pipeline_split="Et*4|t*4|t*4|t*4|t*4|t*4|t*4|t*4L")
    with pytest.raises(ValueError, match="stage_split"):
        Parallelism(pp=2, stage_split=virtual_split([1, 1], 2, 2, mtp=0)[:1]).check(load_model("llama-3.1-8b"))


def test_each_ranks_micro_batch_is_reported_and_the_slowest_sets_the_bubble():
    # 8B on pp=4: the last rank adds the output layer and the fp32 cross-entropy to its 8 layers, the middle
    # ranks are the same graph (one estimate); 1F1B's bubble is (pp - 1) x the slowest rank's micro-batch
    r = train("llama-3.1-8b", "h100-sxm", **RUN)
    stage_s = r.stage_micro_batch_s
    assert len(stage_s) == 4 and stage_s[1] == stage_s[2] and stage_s[3] == max(stage_s) > stage_s[1]
    assert r.breakdown["bubble"] == pytest.approx(3 * max(stage_s), rel=1e-12)
    moved = train("llama-3.1-8b", "h100-sxm", **RUN, pipeline_split=(7, 9, 9, 7)).stage_micro_batch_s
    assert moved[1] > stage_s[1] and moved[3] < stage_s[3]  # two layers moved from the end ranks to the middle


def test_balanced_split_finds_llama3s_published_405b_split():
    """Llama 3 trained 405B (126 layers) on TP8 x PP16 with one layer fewer on the first and the last stage (The
    Llama 3 Herd of Models, 2024, section 3.3.2): 7 + 14 x 8 + 7. The balancer, searching Megatron's first / last
    stage counts under the step model, picks that split: the middle ranks' 8 layers set the pace, and an end rank
    with 8 layers would add the embedding (first) or the output layer and loss (last) to them."""
    from accelscope.llm.pipeline_balance import split_candidates

    r = train("llama-3.1-405b", "h100-sxm", tp=8, pp=16, dp=128, seq_len=8192, global_batch=2048, recompute="full",
              level="analytical", pipeline_split="balanced")
    assert r.stage_layers == (7,) + (8,) * 14 + (7,)
    assert all(sum(c) == 32 and len(set(c[1:-1])) == 1 for c in split_candidates(32, 4))


def test_balanced_split_is_the_fastest_candidate_and_says_what_it_took():
    # 8B on pp=4: the last rank's output layer is ~3 layers of time, so it gives up 3 layers to the others
    balanced = train("llama-3.1-8b", "h100-sxm", **RUN, pipeline_split="balanced")
    assert balanced.stage_layers == (9, 9, 9, 5)
    assert balanced.step_s == train("llama-3.1-8b", "h100-sxm", **RUN, pipeline_split=(9, 9, 9, 5)).step_s
    assert balanced.step_s < train("llama-3.1-8b", "h100-sxm", **RUN).step_s
    with pytest.raises(ValueError, match="pipeline_split: balanced needs pp >= 2"):
        train("llama-3.1-8b", "h100-sxm", **{**RUN, "pp": 1, "dp": 8}, pipeline_split="balanced")


@pytest.mark.parametrize(("option", "why"), [
    (("--mtp-layers", "100000"), "--mtp-layers: expected an integer from 0 to the model's 32 layers"),
    (("--pipeline-split", "99999999999999999999,1,1,1"), "--pipeline-split: the stages hold"),
    (("--pipeline-split", ","), "--pipeline-split: pipeline layout ',': 1 stage is no multiple of --pp=4"),
])
def test_bad_split_options_get_one_message_naming_the_option(option, why):
    from typer.testing import CliRunner

    from accelscope.cli.app import app

    result = CliRunner().invoke(app, ["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--pp", "4", "--dp", "2",
                                      "--global-batch", "64", "--level", "analytical", *option])
    assert result.exit_code != 0 and why in result.output and "Traceback" not in result.output


@given(layers=st.integers(2, 160), pp=st.integers(2, 16), vpp=st.sampled_from([1, 2, 4]),
       first=st.one_of(st.none(), st.integers(0, 40)), last=st.one_of(st.none(), st.integers(0, 40)),
       mtp=st.integers(0, 2))
@settings(max_examples=fuzz_examples(ci=60, fuzz=3000))
def test_every_split_holds_each_layer_once(layers, pp, vpp, first, last, mtp):
    """Whatever first / last counts Megatron accepts, the virtual stages hold every decoder layer once, each rank
    holds its count, and the MTP layers sit on the last rank after the decoder's."""
    try:
        counts = first_last_counts(layers, pp, vpp, first, last)
    except ValueError:
        return
    split = virtual_split(counts, pp, layers, mtp)
    par = Parallelism(pp=pp, stage_split=split)
    ranks = [tuple(stage_layers(_CONFIG, par, r)) for r in range(pp)]
    held = sorted(i for rank in ranks for i in rank)
    assert held == list(range(layers + mtp))
    assert [sum(1 for i in rank if i < layers) for rank in ranks] == [sum(counts[r::pp]) for r in range(pp)]
    if first is not None:
        assert sum(counts[0::pp]) == first
    assert all(i >= layers for i in ranks[-1][len(ranks[-1]) - mtp:])
