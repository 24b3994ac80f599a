"""`acs.llm.plan`: exact pruning, and the sanity checks against practice of the co-design issue.

Spaces are narrowed (tuples per field) and the level is the roofline, so each search takes about a second."""

from __future__ import annotations

import pytest

import accelscope as acs
from accelscope.llm import DoesNotFit
from accelscope.llm.plan import plan, state_lower_bound
from accelscope.workload.model_config import load_model

NARROW = dict(cp=1, ep=1, vpp=(1, 2), micro_batch=(1,), recompute=("selective", "full"), level="roofline")


def test_8b_on_8_gpus_prefers_data_parallel_over_deep_pipelines():
    """An 8B model fits one GPU with ZeRO/FSDP sharding: every pipeline stage adds a bubble, so the best layout has
    no pipeline and is mostly data parallel (the issue's check: FSDP/DP over deep PP). Which of TP 1 (FSDP, ZeRO-3)
    and TP 2 x DP 4 (ZeRO-1) wins is close: at 8 micro-batches of one sequence FSDP re-gathers every layer per
    micro-batch, and on Hopper its collectives run beside persistent GEMMs that take two rounds (llm/fsdp.py
    overlap_share, pytorch/pytorch #143988), so TP 2 edges ahead; a deep pipeline (pp 4) never wins."""
    result = plan("llama-3.1-8b", "h100-sxm", devices=8, seq_len=8192, global_batch=64, tp=(1, 2, 8),
                  pp=(1, 2, 4), **NARROW)
    assert result.best.layout["pp"] == 1 and result.best.layout["tp"] <= 2
    assert result.best.layout["dp"] >= 4
    assert all(c.layout["pp"] < 4 for c in result.configs[:3])
    assert result.configs == sorted(result.configs, key=lambda c: -c.metrics["tokens_per_s_per_device"])


def test_twice_the_hbm_buys_a_smaller_tp_or_less_recompute():
    """Llama-3.1-70B on 64 GPUs: at 80 GB the weights, gradients and Adam state force a sharded layout; with 160 GB
    per chip the best plan uses a smaller TP or lighter recompute, and is faster."""
    kwargs = dict(devices=64, seq_len=4096, global_batch=256, tp=(1, 2, 4, 8), pp=(1, 2, 4), zero=(1, 3), **NARROW)
    small = plan("llama-3.1-70b", "h100-sxm", **kwargs)
    big = plan("llama-3.1-70b", acs.load_hardware("h100-sxm").with_overrides({"memory.hbm.capacity": "160 GB"}),
               **kwargs)
    order = {"none": 0, "selective": 1, "full": 2}
    assert (big.best.layout["tp"] < small.best.layout["tp"]
            or order[big.best.layout["recompute"]] < order[small.best.layout["recompute"]])
    assert big.best.metrics["tokens_per_s_per_device"] > small.best.metrics["tokens_per_s_per_device"]


@pytest.mark.parametrize("layout", [
    dict(tp=1, pp=1, dp=8, cp=1, ep=1, zero=1), dict(tp=2, pp=2, dp=2, cp=1, ep=1, zero=3),
    dict(tp=8, pp=1, dp=1, cp=1, ep=1, zero=0),
])
def test_memory_pruning_is_a_lower_bound(layout):
    """The pruning bound (weights + gradients + Adam state) never exceeds what `train` counts for the same
    layout, so no layout that fits is pruned."""
    result = acs.llm.train("llama-3.1-8b", "h100-sxm", seq_len=4096, global_batch=64, check_memory=False, **layout)
    split = {k: layout[k] for k in ("tp", "pp", "dp", "ep")}
    assert state_lower_bound(load_model("llama-3.1-8b"), split, layout["zero"]) <= \
        result.memory_per_device_bytes


def test_the_state_bound_by_hand():
    """Llama-3.1-8B (8.03e9 parameters) on one device without sharding: 2 B bf16 weights + 4 B fp32 main
    gradients (Megatron-LM accumulates them in fp32) + 12 B fp32 master weights and Adam m, v = 18 B per
    parameter, 144.5 GB. FSDP (ZeRO-3) over 8 ranks keeps only the fp32 shard, its moments and its gradients:
    (4 + 8 + 4) / 8 = 2 B per parameter."""
    config = load_model("llama-3.1-8b")
    assert config.params() == pytest.approx(8.03e9, rel=1e-3)
    one = state_lower_bound(config, dict(tp=1, pp=1, dp=1, ep=1), zero=0)
    assert one == pytest.approx(18 * config.params())
    assert state_lower_bound(config, dict(tp=1, pp=1, dp=8, ep=1), zero=3) == pytest.approx(2 * config.params())


def test_serving_plan_meets_the_tpot_slo():
    result = plan("llama-3.1-70b", "h100-sxm", devices=8, goal="serve", level="roofline", slo_tpot=0.03,
                  dtypes=("bf16", "fp8_e4m3"), output_len=128)
    for config in result.configs:
        assert config.metrics["tpot_s"] <= 0.03
        assert config.layout["tp"] * config.layout["pp"] * config.layout["replicas"] == 8
    assert result.best.layout["dtype"] == "fp8_e4m3"  # half the weight bytes: bigger batches within the SLO


def test_no_layout_that_fits_is_a_clear_error():
    # 405B's bf16 weights alone (810 GB) exceed 2 x 80 GB: memory prunes some layouts, so the advice is memory's
    with pytest.raises(DoesNotFit, match=r"no layout of llama-3\.1-405b on 2 x h100-sxm works.*more memory"):
        plan("llama-3.1-405b", "h100-sxm", devices=2, seq_len=4096, global_batch=8, **NARROW)


def test_pins_that_divide_nothing_are_blamed_not_memory():
    """tp=3 on 8 devices: every layout is pruned as not dividing the devices, none reaches a memory check, so the
    advice is about the pins (it said 'use more devices or a chip with more memory')."""
    with pytest.raises(DoesNotFit, match=r"pruned \d+ by devices not divisible by tp x pp x cp; pin tp / pp"):
        plan("llama-3.1-8b", "h100-sxm", devices=8, seq_len=4096, global_batch=64, tp=3)


def test_unknown_workload_options_are_named():
    with pytest.raises(ValueError, match=r"unknown workload option.*seqlen"):
        plan("llama-3.1-8b", "h100-sxm", devices=8, seqlen=4096)


def test_405b_on_16384_gpus_is_at_least_as_fast_as_the_published_layout():
    """Llama 3 (Meta 2024) pre-trained 405B on 16,384 H100 at 8k context with TP8 x PP16 x DP128 (and
    interleaved stages). That layout is in the searched space, so the plan's best must be at least as fast; here
    it wins with context parallelism 2 (half the activations per GPU, so selective instead of full recompute)."""
    published = dict(tp=8, pp=16, cp=1, ep=1, dp=128, vpp=4, zero=1, micro_batch=1, recompute="full", dtype="bf16")
    result = plan("llama-3.1-405b", "h100-sxm", devices=16384, seq_len=8192, global_batch=2048, level="roofline",
                  tp=[8], pp=[16], cp=[1, 2], ep=[1], vpp=[4], zero=[1], micro_batch=[1],
                  recompute=["selective", "full"], top=10)
    layouts = {tuple(sorted(c.layout.items())): c for c in result.configs}
    assert tuple(sorted(published.items())) in layouts  # estimated, not pruned
    reference = layouts[tuple(sorted(published.items()))].metrics["tokens_per_s_per_device"]
    assert result.best.metrics["tokens_per_s_per_device"] >= reference
    assert result.best.layout["cp"] == 2


# ----- layouts the frameworks accept (docs/dse.md, "What a planned layout needs to launch") -----------------------
def _reason(model: str, devices: int, tp: int, pp: int = 1, cp: int = 1, ep: int = 1, seq_len: int = 4096,
            domain: int = 72) -> str | None:
    from accelscope.llm.plan import _shape_reason

    return _shape_reason(load_model(model), devices, domain, seq_len, tp, pp, cp, ep)


def test_training_tp_must_divide_the_kv_heads():
    """Megatron-LM's attention splits the query groups over TP (`divide(num_query_groups, tp)`, core/transformer/
    attention.py) and does not replicate KV heads in training. Llama-3.1-405B: 128 heads, 8 KV heads; tp=16
    divides the heads (128 / 16 = 8) but not the KV heads (8 / 16): refused; tp=8 gives one KV head a rank.
    Qwen3-30B-A3B: 32 heads, 4 KV heads: tp=8 is refused, tp=4 accepted. DeepSeek-V3's MLA has no query groups:
    tp=16 (128 / 16 heads) is accepted."""
    assert _reason("llama-3.1-405b", 1152, tp=16) == "tp not dividing the KV heads or the MLP / expert widths"
    assert _reason("llama-3.1-405b", 1152, tp=8) is None
    assert _reason("qwen3-30b-a3b", 72, tp=8) is not None
    assert _reason("qwen3-30b-a3b", 72, tp=4) is None
    assert _reason("deepseek-v3", 1152, tp=16) is None


def test_expert_parallel_groups_tile_a_pipeline_stage():
    """Megatron-LM builds expert groups of etp x ep ranks over the tp x cp x dp ranks of a pipeline stage and
    refuses a world size they do not divide (core/parallel_state.py initialize_model_parallel: "decoder
    world_size ... is not divisible by expert_tensor_model_pipeline_parallel size"). DeepSeek-V3 on 1,152 GB200s
    (16 NVL72 racks) at tp=1, pp=8: 144 ranks per stage, etp = 1. ep=16 tiles them (144 = 9 x 16); ep=32 does not
    (144 / 32 = 4.5) though it is under tp x dp = 144, the old bound. With cp=2 (dp=72) the stage still has
    1 x 2 x 72 = 144 ranks: ep=16 is accepted (EP spans the CP ranks too)."""
    assert _reason("deepseek-v3", 1152, tp=1, pp=8, ep=16) is None
    assert _reason("deepseek-v3", 1152, tp=1, pp=8, ep=32) == "ep not dividing the experts or not nesting with tp"
    assert _reason("deepseek-v3", 1152, tp=1, pp=8, ep=64) is not None
    assert _reason("deepseek-v3", 1152, tp=1, pp=8, cp=2, ep=16) is None
    # ep=8 with tp=1, pp=8, cp=2 on 128 devices: 8 ranks per stage (dp=4), cp x dp = 8 = ep: accepted (the old bound
    # tp x dp = 4 refused it)
    assert _reason("deepseek-v3", 128, tp=1, pp=8, cp=2, ep=8) is None


def test_context_and_sequence_parallel_chunks_are_whole():
    """Megatron-LM asserts seq_length % (2 x cp) == 0 (load-balanced causal CP gives each rank two chunks;
    training/arguments.py validate_args), and sequence parallelism (on with tp > 1) scatters each CP rank's
    seq_len / cp tokens over TP (torchtitan's seq_len_divisor is tp x 2 cp). seq_len 4098 = 2 x 2049: cp=2 gives
    whole halves of 2049 but not quarters (4098 / 4 = 1024.5): refused; 4096 / 4 = 1024: accepted. seq_len 4100
    with tp=8: 4100 / 8 = 512.5: refused; tp=4: 1025: accepted."""
    assert _reason("llama-3.1-8b", 8, tp=1, cp=2, seq_len=4098) is not None
    assert _reason("llama-3.1-8b", 8, tp=1, cp=2, seq_len=4096) is None
    assert _reason("llama-3.1-8b", 8, tp=8, seq_len=4100) == \
        "sequence-parallel chunks not whole (seq_len / cp not divisible by tp)"
    assert _reason("llama-3.1-8b", 8, tp=4, seq_len=4100) is None


def test_interleaved_schedule_needs_pp_micro_batches():
    """Megatron-LM's interleaved schedule runs micro-batches in groups of N, pp <= N <= M (core/pipeline_parallel/
    schedules.py: "The number of contiguous micro-batches in a virtual pipeline stage should range in [PP, M]"), so
    it needs M >= pp micro-batches per step. Llama-3.1-8B on 128 devices, global batch 64, micro-batch 1: pp=8
    (tp=1, dp=16) has M = 64 / 16 = 4 < 8: vpp 2 is pruned and vpp 1 kept; pp=4 (dp=32) has M = 2 < 4: pruned
    too; pp=2 (dp=64) has M = 1 < 2: pruned. So only vpp 1 survives, 3 layouts (one per pp)."""
    from accelscope.hardware import load_hardware
    from accelscope.llm.plan import TrainSpace

    space = TrainSpace.of(load_model("llama-3.1-8b"), load_hardware("h100-sxm"), 128,
                          dict(tp=1, pp=(2, 4, 8), cp=1, ep=1, vpp=(1, 2), zero=1, micro_batch=1,
                               recompute="full", seq_len=4096, global_batch=64))
    layouts = list(space.layouts(float("inf")))
    assert sorted((x["pp"], x["vpp"]) for x in layouts) == [(2, 1), (4, 1), (8, 1)]
    assert space.pruned == {"interleaved schedule with fewer micro-batches than pp": 3}


def test_a_moe_layout_states_its_expert_tensor_parallel_size():
    """Megatron-LM's --expert-tensor-parallel-size defaults to tp (training/arguments.py), but the training model
    prices etp = tp / ep when EP nests in TP, else 1 (llm/train_memory.py expert_tp): a planned MoE layout says
    which. Qwen3-30B-A3B on 64 H100s pinned to tp=2, ep=(1, 2, 4): etp 2, 1, 1; and pricing it with etp given
    equals pricing it with the default."""
    from accelscope.hardware import load_hardware
    from accelscope.llm.plan import TrainSpace

    space = TrainSpace.of(load_model("qwen3-30b-a3b"), load_hardware("h100-sxm"), 64,
                          dict(tp=2, pp=1, cp=1, ep=(1, 2, 4), vpp=1, zero=1, micro_batch=1, recompute="full",
                               seq_len=4096, global_batch=64))
    layouts = list(space.layouts(float("inf")))
    assert {x["ep"]: x["etp"] for x in layouts} == {1: 2, 2: 1, 4: 1}
    layout = layouts[-1]
    given = acs.llm.train("qwen3-30b-a3b", "h100-sxm", seq_len=4096, global_batch=64, level="roofline",
                          check_memory=False, **layout)
    default = acs.llm.train("qwen3-30b-a3b", "h100-sxm", seq_len=4096, global_batch=64, level="roofline",
                            check_memory=False, **{k: v for k, v in layout.items() if k != "etp"})
    assert given.step_s == default.step_s and given.memory_per_device_bytes == default.memory_per_device_bytes


def test_serving_tp_and_kv_heads_must_nest():
    """vLLM shards KV heads over TP, or replicates them when tp exceeds them, and asserts one divides the other
    (vllm/model_executor/models/llama.py). A model of 24 heads and 6 KV heads: tp=4 divides the heads (6 each)
    but 6 KV heads are neither a multiple of 4 nor a divisor of it: refused; tp=2 (3 each) and tp=3 (2 each)
    are accepted. Llama-3.1-70B (8 KV heads) at tp=16 replicates each KV head twice: accepted (heads 64 / 16)."""
    from dataclasses import replace

    from accelscope.llm.plan import serve_layout_reason

    odd = replace(load_model("llama-3.1-8b"), heads=24, kv_heads=6)
    assert serve_layout_reason(odd, 8, 8, 4, 1, "bf16", 1e12) == "devices, heads or domain"
    assert serve_layout_reason(odd, 8, 8, 2, 1, "bf16", 1e12) is None
    assert serve_layout_reason(odd, 6, 8, 3, 1, "bf16", 1e12) is None
    assert serve_layout_reason(load_model("llama-3.1-70b"), 16, 72, 16, 1, "bf16", 1e12) is None


def test_balance_pipeline_gives_the_top_layouts_their_fastest_split():
    """8B on 32 GPUs at pp 4 (pinned): the even split's last rank carries the 128k-word output layer (~3 layers of
    time); balancing moves three layers off it (9/9/9/5) and the layout is priced exactly as train() prices it."""
    from accelscope.llm import train

    pins = dict(pp=(4,), tp=(1,), cp=(1,), vpp=(1,), seq_len=4096, global_batch=256, level="analytical", top=2)
    even = plan("llama-3.1-8b", "h100-sxm", devices=32, **pins)
    balanced = plan("llama-3.1-8b", "h100-sxm", devices=32, balance_pipeline=True, **pins)
    best = balanced.best
    assert best.layout["pipeline_split"] == (9, 9, 9, 5)
    assert best.metrics["tokens_per_s_per_device"] > even.best.metrics["tokens_per_s_per_device"]
    layout = {k: v for k, v in best.layout.items()}
    direct = train("llama-3.1-8b", "h100-sxm", seq_len=4096, global_batch=256, level="analytical", **layout)
    assert best.metrics["tokens_per_s_per_device"] == direct.tokens_per_s_per_device
    with pytest.raises(ValueError, match="balance_pipeline"):
        plan("llama-3.1-8b", "h100-sxm", devices=8, goal="serve", balance_pipeline=True)


def test_balance_pipeline_keeps_the_dtype_and_the_fixed_options():
    """The balanced split re-prices a layout with the plan's dtype (now in the layout) and fixed options: it raised
    "multiple values for keyword argument 'dtype'" when the dtype was given."""
    from accelscope.llm import train

    pins = dict(pp=(4,), tp=(1,), cp=(1,), vpp=(1,), seq_len=4096, global_batch=256, level="roofline", top=1)
    best = plan("llama-3.1-8b", "h100-sxm", devices=32, balance_pipeline=True, dtype=("bf16",),
                cross_entropy="fused", **pins).best
    direct = train("llama-3.1-8b", "h100-sxm", seq_len=4096, global_batch=256, level="roofline",
                   cross_entropy="fused", **best.layout)
    assert best.layout["dtype"] == "bf16" and "pipeline_split" in best.layout
    assert best.metrics["tokens_per_s_per_device"] == direct.tokens_per_s_per_device


# ----- train() options kept fixed while the layout is searched ----------------------------------------------------
def test_the_state_bound_holds_muons_states_and_optimizer_instances_by_hand():
    """Llama-3.1-8B's hidden matrices (32 layers x (2 x 4096^2 + 2 x 4096 x 1024 + 3 x 4096 x 14336) = 6.979e9
    elements) keep Muon's fp32 master and momentum, 8 B, where Adam keeps 12 B: the unsharded bound falls by
    4 B x 6.979e9 = 27.9 GB. Two distributed-optimizer instances over 8 data-parallel ranks (ZeRO 1) shard Adam's
    12 B over 4 ranks, not 8: 2 + 4 + 12 / 4 = 9 B per parameter against 7.5 B, x 1.2."""
    config = load_model("llama-3.1-8b")
    matrices = 32 * (2 * 4096 ** 2 + 2 * 4096 * 1024 + 3 * 4096 * 14336)
    one = dict(tp=1, pp=1, dp=1, ep=1)
    adam = state_lower_bound(config, one, zero=0)
    muon = state_lower_bound(config, one, zero=0, options={"optimizer": "muon"})
    assert adam - muon == pytest.approx(4 * matrices, rel=1e-5)
    eight = dict(tp=1, pp=1, dp=8, ep=1)
    assert state_lower_bound(config, eight, zero=1, options={"optimizer_instances": 2}) == pytest.approx(
        1.2 * state_lower_bound(config, eight, zero=1))


@pytest.mark.parametrize(("layout", "options"), [
    (dict(tp=1, pp=1, dp=8, zero=1), {"optimizer": "muon"}),
    (dict(tp=1, pp=2, dp=4, zero=1), {"optimizer": "muon", "muon_sharding": "ping_pong"}),
    (dict(tp=2, pp=1, dp=4, zero=0), {"optimizer": "muon"}),
    (dict(tp=1, pp=1, dp=8, zero=1), {"optimizer_instances": 4}),
])
def test_the_state_bound_under_fixed_options_is_a_lower_bound(layout, options):
    """With Muon's smaller states an Adam bound would prune layouts that fit; the bound under the options never
    exceeds what train() counts with them."""
    result = acs.llm.train("llama-3.1-8b", "h100-sxm", seq_len=4096, global_batch=64, check_memory=False, cp=1, ep=1,
                           **layout, **options)
    split = {k: layout[k] for k in ("tp", "pp", "dp")} | {"ep": 1}
    assert state_lower_bound(load_model("llama-3.1-8b"), split, layout["zero"], options) <= \
        result.memory_per_device_bytes


def test_fixed_options_price_every_layout_and_prune_what_they_refuse():
    """optimizer="muon": every priced layout is train(..., optimizer="muon") (the best's step equals it, and differs
    from Adam's), ZeRO-3 layouts are pruned as Muon does not run under them, and the result names the options."""
    space = dict(devices=8, seq_len=4096, global_batch=64, tp=(1, 2), pp=(1,), zero=(1, 3), **NARROW)
    muon = plan("llama-3.1-8b", "h100-sxm", optimizer="muon", **space)
    adam = plan("llama-3.1-8b", "h100-sxm", **space)
    assert muon.options == {"optimizer": "muon"} and muon.to_dict()["options"] == {"optimizer": "muon"}
    assert "options" not in adam.to_dict()
    assert all(c.layout["zero"] == 1 for c in muon.configs)
    # at zero 3: tp (1, 2) x vpp (1, 2) x micro_batch (1) x recompute (selective, full)
    assert muon.pruned["Muon under ZeRO-2/3 (Megatron's Muon runs with zero 0 or 1)"] == 2 * 2 * 1 * 2
    layout = dict(muon.best.layout)
    again = acs.llm.train("llama-3.1-8b", "h100-sxm", seq_len=4096, global_batch=64, level="roofline",
                          optimizer="muon", **layout)
    assert muon.best.metrics["step_s"] == again.step_s
    assert again.step_s != acs.llm.train("llama-3.1-8b", "h100-sxm", seq_len=4096, global_batch=64,
                                         level="roofline", **layout).step_s


@pytest.mark.parametrize(("options", "message"), [
    ({"optimizer": "muonn"}, r"optimizer: expected one of adam, sgd, muon"),
    ({"tp_overlap": "yes"}, r"tp_overlap: expected True or False"),
    ({"fp8_recipe": "rowwise"}, r"fp8_recipe: applies to an 8-bit dtype"),
    ({"optimizer": "muon", "optimizer_instances": 2}, r"optimizer_instances=2: .*Muon refuses them"),
    ({"memory_stage": -1}, r"unknown workload option.*memory_stage.*train\(\) options kept fixed"),
])
def test_a_bad_fixed_option_is_named_before_any_layout(options, message):
    """train() refuses these whatever the layout: the search would refuse every layout and blame the pins."""
    with pytest.raises(ValueError, match=message):
        plan("llama-3.1-8b", "h100-sxm", devices=8, seq_len=4096, global_batch=64, **NARROW, **options)


# ----- training dtypes searched -----------------------------------------------------------------------------------
def test_a_dtype_search_prices_each_dtype_the_chip_runs_and_drops_the_rest():
    """bf16 and fp8_e4m3 for 8B on 8 GPUs: every layout is a candidate twice; on H100 under FSDP (where both fit)
    the best trains in FP8 (twice the matrix rate); A100 has no FP8 matrix path (Transformer Engine refuses FP8
    below compute capability 8.9), so each bf16 layout that reaches pricing has its FP8 twin pruned, and the best
    is bf16."""
    from accelscope.llm.plan import DTYPE_NOT_NATIVE

    space = dict(devices=8, seq_len=4096, global_batch=64, tp=(1, 2), pp=(1,), zero=(1, 3), **NARROW)
    h100 = plan("llama-3.1-8b", "h100-sxm", dtype=("bf16", "fp8_e4m3"), **{**space, "zero": (3,)})
    assert h100.best.layout["dtype"] == "fp8_e4m3"
    bf16 = plan("llama-3.1-8b", "a100-sxm-80gb", **space)
    both = plan("llama-3.1-8b", "a100-sxm-80gb", dtype=["bf16", "fp8_e4m3"], **space)
    assert both.candidates == 2 * bf16.candidates
    assert both.pruned[DTYPE_NOT_NATIVE] == bf16.candidates - sum(bf16.pruned.values())
    assert [c.layout for c in both.configs] == [c.layout for c in bf16.configs]


def test_a_dtype_no_layout_can_run_is_blamed():
    with pytest.raises(DoesNotFit, match=r"dtype without a matrix path of its own.*search a dtype the chip has"):
        plan("llama-3.1-8b", "a100-sxm-80gb", devices=8, seq_len=4096, global_batch=64, dtype="fp8_e4m3", **NARROW)


@pytest.mark.parametrize(("dtype", "message"), [
    (("bf16", "fp7"), r"dtype: .*fp7"), (("bf16", "bfloat16"), r"names a dtype twice"), ((), r"dtype: expected"),
])
def test_bad_training_dtypes_are_named(dtype, message):
    with pytest.raises(ValueError, match=message):
        plan("llama-3.1-8b", "h100-sxm", devices=8, dtype=dtype, **NARROW)


def test_why_names_a_split_only_one_layout_has():
    """A balanced best against an evenly split runner-up (balance_pipeline leaves a layout its even split where that
    is faster): the explanation raised KeyError on the key the runner-up lacks."""
    from accelscope.llm import train
    from accelscope.llm.plan import PlannedConfig, _why

    common = dict(seq_len=4096, global_batch=64, level="roofline")
    split = PlannedConfig({"tp": 1, "pp": 2, "pipeline_split": (17, 15)}, {"tokens_per_s_per_device": 2.0},
                          train("llama-3.1-8b", "h100-sxm", dp=4, pp=2, **common))
    even = PlannedConfig({"tp": 1, "pp": 2}, {"tokens_per_s_per_device": 1.0},
                         train("llama-3.1-8b", "h100-sxm", dp=4, pp=2, **common))
    assert "pipeline_split even -> (17, 15)" in _why(split, even)
    assert "pipeline_split (17, 15) -> even" in _why(even, split)


def test_why_says_which_way_each_time_gap_goes():
    """The time gaps are the runner-up's minus the best's, said as less / more (a bare "-11626.6 ms" read as a
    negative time to first token). Best: TPOT 10 ms, TTFT 200 ms; runner-up: TPOT 12 ms, TTFT 150 ms."""
    from types import SimpleNamespace

    from accelscope.llm.plan import PlannedConfig, _why

    best = PlannedConfig({"tp": 1}, {"tokens_per_s_per_device": 1.2}, SimpleNamespace(tpot_s=0.010, ttft_s=0.200))
    runner = PlannedConfig({"tp": 2}, {"tokens_per_s_per_device": 1.0}, SimpleNamespace(tpot_s=0.012, ttft_s=0.150))
    assert _why(best, runner) == ("+20.0% tokens/s per device over the runner-up (tp 2 -> 1): time per output token "
                                  "2.0 ms less, time to first token 50.0 ms more")


# ----- serving plans rated by the request-level simulation --------------------------------------------------------
SIMULATED = dict(devices=4, goal="serve", simulate=True, slo_ttft=1.0, slo_tpot=0.02, requests=60, input_len=512,
                 output_len=64, tp=(1, 2), pp=(1,), level="roofline", top=10)


def test_a_simulated_serving_plan_rates_each_pool_by_its_capacity():
    """8B on 4 H100, TP 1 or 2, colocated or disaggregated: every layout is llm.capacity of the whole cluster (the
    colocated replicas behind the router, or each prefill / decode split), the same numbers a direct call gives;
    candidates: TP1 (4 replicas: colocated + 3 splits) + TP2 (2 replicas: colocated + 1 split) = 6."""
    from accelscope.llm import capacity

    result = plan("llama-3.1-8b", "h100-sxm", schedulers=("vllm", "disaggregated"), **SIMULATED)
    assert result.candidates == 6 and result.estimated == 6
    assert {(c.layout["tp"], c.layout["scheduler"], c.layout.get("prefill_replicas")) for c in result.configs} == {
        (1, "vllm", None), (1, "disaggregated", 1), (1, "disaggregated", 2), (1, "disaggregated", 3),
        (2, "vllm", None), (2, "disaggregated", 1)}
    for config in result.configs:
        layout = dict(config.layout)
        pools = ({"replicas": layout.pop("replicas")} if layout["scheduler"] == "vllm"
                 else {"prefill_replicas": layout.pop("prefill_replicas"),
                       "decode_replicas": layout.pop("decode_replicas")})
        layout.pop("replicas", None)
        direct = capacity("llama-3.1-8b", "h100-sxm", slo_ttft=1.0, slo_tpot=0.02, requests=60, input_len=512,
                          output_len=64, level="roofline", curve=False, **layout, **pools)
        assert config.metrics["requests_per_s_per_device"] == direct.capacity_per_device
        assert config.metrics["requests_per_s"] == pytest.approx(direct.capacity_per_device * 4)
    rates = [c.metrics["tokens_per_s_per_device"] for c in result.configs]
    assert rates == sorted(rates, reverse=True)
    assert "P99 TTFT at capacity" in result.why


@pytest.mark.parametrize(("options", "message"), [
    ({"simulate": True, "slo_tpot": None, "slo_ttft": None}, r"simulate: the capacity .* give slo_tpot"),
    ({"simulate": True, "requests": 5}, r"requests: expected an integer from 10"),
    ({"simulate": True, "schedulers": ("static",)}, r"schedulers: expected some of vllm, disaggregated"),
    ({"simulate": True, "serve_options": {"wide_ep": 8}}, r"serve_options: wide_ep not taken"),
    ({"simulate": True, "serve_options": {"max_seqs": 0}}, r"serve_options: max_seqs: expected an integer from 1"),
    ({"simulate": True, "serve_options": {"arrival": "bursty"}}, r"serve_options: arrival: expected one of"),
    ({"simulate": True, "serve_options": {"cuda_graphs": "no"}}, r"serve_options: cuda_graphs: expected True"),
    ({"simulate": False, "requests": 100}, r"requests: an option of the simulated serving plan"),
])
def test_bad_simulation_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        plan("llama-3.1-8b", "h100-sxm", **{**SIMULATED, **options})


def test_a_simulated_moe_plan_tries_wide_expert_parallelism():
    """Qwen3-30B-A3B (128 experts) on 4 H100 at TP 1: besides the TP layouts, wide EP over all 4 devices (one
    attention-DP engine per device, DeepEP dispatch), with and without two-batch overlap, colocated or split into
    a prefill group of 2 and a decode group of 2: 1 colocated + 3 pool splits + 2 wide + 2 wide splits = 8
    candidates, each llm.capacity of exactly that deployment."""
    from accelscope.llm import capacity
    from accelscope.llm.serving.moe import WideEP

    options = dict(SIMULATED, tp=(1,), slo_tpot=0.05, requests=40)
    result = plan("qwen3-30b-a3b", "h100-sxm", schedulers=("vllm", "disaggregated"), **options)
    assert result.candidates == 8
    wide = [c for c in result.configs if "wide_ep" in c.layout or "prefill_ep" in c.layout]
    assert {(c.layout.get("wide_ep"), c.layout.get("prefill_ep"), c.layout["tbo"]) for c in wide} == {
        (4, None, False), (4, None, True), (None, 2, False), (None, 2, True)}
    colocated = next(c for c in wide if c.layout.get("wide_ep") == 4 and not c.layout["tbo"])
    direct = capacity("qwen3-30b-a3b", "h100-sxm", slo_ttft=1.0, slo_tpot=0.05, requests=40, input_len=512,
                      output_len=64, level="roofline", curve=False, wide_ep=WideEP(4))
    assert colocated.metrics["requests_per_s_per_device"] == direct.capacity_per_device
    assert colocated.layout["replicas"] == 4  # an engine per device
    pinned = plan("qwen3-30b-a3b", "h100-sxm", **{**options, "tp": (4,)})  # a pin wide EP (tp 1) cannot meet
    assert all("wide_ep" not in c.layout for c in pinned.configs)


def test_why_compares_with_the_runner_up_even_at_top_one():
    """top=1 said "the only layout that works" whenever one layout was shown, though hundreds fit."""
    space = dict(devices=8, seq_len=4096, global_batch=64, tp=(1, 2), pp=(1,), zero=(1, 3), **NARROW)
    one, two = plan("llama-3.1-8b", "h100-sxm", top=1, **space), plan("llama-3.1-8b", "h100-sxm", top=2, **space)
    assert one.estimated > 1 and one.why == two.why and "over the runner-up" in one.why
    only = plan("llama-3.1-8b", "h100-sxm", top=1, **{**space, "tp": (1,), "zero": (3,), "vpp": (1,),
                                                       "recompute": ("full",)})
    assert only.estimated == 1 and only.why == "the only layout that works"


def test_a_disaggregated_only_plan_counts_the_single_replica_it_cannot_split():
    """Disaggregated only, TP 2 or 4 on 4 devices: TP 2 has two replicas to split (one candidate), TP 4 one replica
    and nothing to split, counted as pruned (it was counted as a candidate and then vanished)."""
    result = plan("llama-3.1-8b", "h100-sxm", schedulers=("disaggregated",), **{**SIMULATED, "tp": (2, 4)})
    assert result.candidates == 2 and result.estimated == 1
    assert result.pruned == {"one replica: no prefill / decode split": 1}


def test_a_chip_without_a_network_plans_replicas_and_refuses_a_multi_device_job():
    """systolic-128 has no interconnect at all (scale-up domain 1, no scale_out): a serving replica of 2 pipeline
    stages would send its activations over no link (collective_floor refused it mid-plan, a traceback from the
    CLI); independent tp1 x pp1 replicas exchange nothing. A training job over 8 devices reduces its gradients
    over all of them: refused up front, naming the field to add."""
    found = plan("llama-3.1-8b", "systolic-128", devices=8, goal="serve", level="roofline", top=5, pp=(1, 2))
    assert [c.layout["pp"] for c in found.configs] == [1] and found.configs[0].layout["replicas"] == 8
    assert found.pruned["replica beyond the scale-up domain, and no scale-out network in the spec"] == 1
    with pytest.raises(ValueError, match=r"interconnect\.scale_out"):
        plan("llama-3.1-8b", "systolic-128", devices=8, goal="train", level="roofline")
