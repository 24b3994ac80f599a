"""LLM serving and training estimates: the issue's checks and hand-derived invariants."""

import pytest

import accelscope as acs
from accelscope import llm
from accelscope.workload.llm_graph import Parallelism, Precision, Step, expected_active_experts, forward_graph
from accelscope.workload.model_config import from_hf

from .test_model_config import CASES, LLAMA_31_70B

L70 = {**LLAMA_31_70B, "_name_or_path": "llama-3.1-70b"}
L405 = {**CASES["llama-3.1-405b"][0], "_name_or_path": "llama-3.1-405b"}
DSV3 = {**CASES["deepseek-v3"][0], "_name_or_path": "deepseek-v3"}
QWEN_MOE = {**CASES["qwen3-30b-a3b"][0], "_name_or_path": "qwen3-30b-a3b"}


def test_70b_tp8_decode_is_between_the_weight_read_floor_and_twice_it():
    r = llm.infer(L70, "h100-sxm", tp=8, batch=1, input_len=128, output_len=128)
    floor = 2 * 70.55e9 / 8 / 3.35e12  # bf16 weights / 8 devices / HBM bandwidth = 5.26 ms
    assert floor <= r.tpot_s <= 2 * floor
    assert r.decode.bound == "memory" or r.decode.attribution["memory"] > 0.5 * r.tpot_s


def test_forward_flops_are_2_params_per_token():
    model = from_hf(L70)
    g = forward_graph(model, Step(batch=1, new_tokens=1, context=0), Parallelism(), Precision())
    # one token, no context: every weight is used once (2 FLOPs per MAC); attention over 1 key is negligible
    non_embedding = model.params() - model.vocab * model.hidden - model.hidden  # the embedding is a gather
    assert g.cost().matrix_flops == pytest.approx(2 * non_embedding, rel=1e-3)


def test_tensor_parallelism_splits_the_work_and_adds_all_reduces():
    model = from_hf(L70)
    step = Step(batch=4, new_tokens=512)
    one = forward_graph(model, step, Parallelism(tp=1), Precision()).cost()
    eight = forward_graph(model, step, Parallelism(tp=8), Precision()).cost()
    lm_and_layers = one.matrix_flops
    assert eight.matrix_flops == pytest.approx(lm_and_layers / 8, rel=1e-6)
    # two all-reduces per layer of tokens x hidden x 2 bytes
    assert eight.comm_bytes == pytest.approx(80 * 2 * 4 * 512 * 8192 * 2)


def test_fp8_weights_halve_the_weight_memory_and_use_the_fp8_peak():
    bf16 = llm.infer(L70, "h100-sxm", tp=8, batch=1, input_len=1024, output_len=64)
    fp8 = llm.infer(L70, "h100-sxm", tp=8, batch=1, input_len=1024, output_len=64, dtype="fp8_e4m3",
                    kv_dtype="fp8_e4m3")
    assert fp8.memory.weights == pytest.approx(bf16.memory.weights / 2, rel=0.02)  # embeddings stay bf16
    assert fp8.memory.kv_cache == pytest.approx(bf16.memory.kv_cache / 2)
    assert fp8.tpot_s < bf16.tpot_s and fp8.ttft_s < bf16.ttft_s


def test_batch_max_fits_and_one_more_does_not():
    r = llm.infer(L70, "h100-sxm", tp=8, batch="max", input_len=2048, output_len=256)
    assert r.memory.total <= r.memory.capacity
    with pytest.raises(llm.DoesNotFit):
        llm.infer(L70, "h100-sxm", tp=8, batch=r.batch + 1, input_len=2048, output_len=256)
    # KV per sequence per device: 80 layers x 2 x 1 KV head x 128 x 2 B x 2304 tokens = 94.4 MB
    per_seq = 80 * 2 * 1 * 128 * 2 * 2304
    assert r.memory.kv_cache == pytest.approx(r.batch * per_seq)


def test_does_not_fit_message_has_the_numbers():
    # 90 % of the H100's 81559 MiB (85.52 GB) is usable: 76.97 GB
    with pytest.raises(llm.DoesNotFit, match=r"141\.\d GB of weights.*77\.0 GB is usable"):
        llm.infer(L70, "h100-sxm", tp=1, batch=1)


def test_moe_decode_reads_only_the_experts_it_hits():
    model = from_hf(QWEN_MOE)
    # one token picks 8 of 128 experts
    assert expected_active_experts(128, 8, 1) == pytest.approx(8)
    assert expected_active_experts(128, 8, 1000) == pytest.approx(128, rel=1e-3)
    small = llm.infer(QWEN_MOE, "h100-sxm", batch=1, input_len=128, output_len=32)
    big = llm.infer(QWEN_MOE, "h100-sxm", batch=256, input_len=128, output_len=32)
    assert small.decode.bytes < 0.3 * big.decode.bytes  # active params ~3.3B of 30.5B at batch 1
    assert model.moe is not None


def test_expert_parallelism_adds_all_to_all_and_imbalance_slows_it():
    even = llm.infer(DSV3, "h200-sxm" if "h200-sxm" in acs.list_hardware() else "h100-sxm", tp=8, pp=2, ep=8,
                     batch=64, input_len=1024, output_len=64, dtype="fp8_e4m3")
    assert even.decode.breakdown["interconnect"] > 0
    skewed = llm.infer(DSV3, even.hw, tp=8, pp=2, ep=8, batch=64, input_len=1024, output_len=64, dtype="fp8_e4m3",
                       moe_imbalance=2.0)
    assert skewed.ttft_s > even.ttft_s


def test_llama_405b_training_mfu_is_in_metas_range():
    # Llama 3 paper, Table 4: 405B on 16,384 H100s, TP8 CP1 PP16 DP128, seq 8192, 16M-token batches: 38-43 % MFU
    r = llm.train(L405, "h100-sxm", tp=8, pp=16, dp=128, seq_len=8192, global_batch=2048, micro_batch=1, vpp=4,
                  recompute="full", zero=1)
    assert 0.38 <= r.mfu <= 0.48  # roofline: an upper bound on the real 38-43 %
    assert r.devices == 16384
    assert sum(r.breakdown.values()) == pytest.approx(r.step_s)
    # bubble of the interleaved 1F1B schedule: (pp - 1) / vpp micro-batch times
    per_micro = r.forward.seconds + r.backward.seconds
    assert r.breakdown["bubble"] == pytest.approx(15 / 4 * per_micro)


def test_training_memory_and_zero_sharding():
    base = dict(model=L70, hw="h100-sxm", tp=8, pp=4, dp=16, seq_len=4096, global_batch=512, check_memory=False)
    z0, z1, z3 = (llm.train(**base, zero=z) for z in (0, 1, 3))
    assert z1.memory.optimizer == pytest.approx(z0.memory.optimizer / 16)  # ZeRO-1 shards Adam states over dp
    # FSDP keeps only the fp32 master shard between steps: 4 B / 16 ranks vs 2 B unsharded
    assert z3.memory.weights == pytest.approx(z0.memory.weights * 2 / 16)
    assert z3.memory.optimizer == pytest.approx(z0.memory.weights * 4 / 16)  # Adam m + v: 8 B / 16 ranks
    assert z0.memory.optimizer == pytest.approx(z0.memory.weights * 6)  # 12 B vs 2 B per parameter


def test_training_args_are_checked():
    with pytest.raises(ValueError, match="multiple of dp x micro_batch"):
        llm.train(L70, "h100-sxm", tp=8, dp=3, global_batch=10)
    with pytest.raises(ValueError, match="recompute"):
        llm.train(L70, "h100-sxm", tp=8, recompute="some")
    with pytest.raises(ValueError, match="must divide the 64 attention heads"):
        llm.infer(L70, "h100-sxm", tp=6)


def test_results_render_for_notebooks_and_json():
    r = llm.infer(L70, "h100-sxm", tp=8, batch=2, input_len=64, output_len=8)
    assert "<table>" in r._repr_html_()
    d = r.to_dict()
    assert d["output_tokens_per_s"] == pytest.approx(2 * 8 / (r.ttft_s + 7 * r.tpot_s))


def test_decode_attention_kernel_is_an_engine_choice():
    """TensorRT-LLM <= 0.7's masked MHA on a GQA model: only the decode attention changes, and it gets slower
    (each of the 8 q heads per KV head re-reads the cache); prefill keeps the fused kernel."""
    args = dict(tp=4, batch=64, input_len=2048, output_len=256, level="analytical")
    best = llm.infer("llama-3.1-70b", "h100-sxm", **args)
    mmha = llm.infer("llama-3.1-70b", "h100-sxm", **args, decode_attention="mmha")
    assert mmha.ttft_s == pytest.approx(best.ttft_s)
    assert mmha.tpot_s > 1.5 * best.tpot_s
    with pytest.raises(ValueError, match="decode_attention"):
        llm.infer("llama-3.1-70b", "h100-sxm", **args, decode_attention="xqa")
    with pytest.raises(ValueError, match=r"cuda_graphs: expected True or False \(got 'no'\)"):
        llm.infer("llama-3.1-70b", "h100-sxm", **args, cuda_graphs="no")  # "no" is truthy: graphs would stay on


def test_unfused_attention_is_a_training_choice():
    """Megatron-LM before FlashAttention writes and re-reads the score matrix: a small-hidden GPT (h=2304, s=2048)
    spends a visible share of its step there, so the step is slower than with a fused kernel."""
    gpt = {"model_type": "gpt", "hidden_size": 2304, "num_hidden_layers": 24, "num_attention_heads": 24,
           "vocab_size": 51200, "max_position_embeddings": 2048, "_name_or_path": "gpt-1.7b"}
    args = dict(tp=1, pp=1, dp=32, seq_len=2048, global_batch=512, recompute="full", level="analytical")
    fused = llm.train(gpt, "a100-sxm-80gb", **args)
    unfused = llm.train(gpt, "a100-sxm-80gb", **args, attention="math")
    assert unfused.step_s > 1.1 * fused.step_s
    with pytest.raises(ValueError, match="attention"):
        llm.train(gpt, "a100-sxm-80gb", **args, attention="mmha")


def test_mpt_trains_with_the_triton_attention_kernel():
    """llm-foundry's MPT runs attn_impl "triton" (flash_attn_triton.py): the training estimate accepts it, and at
    8k tokens on H100 (mma.sync at 2/3 of the peak, 128 x 128 blocks loaded without a pipeline) the step is
    slower than with FlashAttention-2."""
    mpt = {"model_type": "gpt", "hidden_size": 2048, "num_hidden_layers": 24, "num_attention_heads": 16,
           "vocab_size": 50368, "max_position_embeddings": 8192, "_name_or_path": "mpt-1b"}
    args = dict(dp=8, zero=3, seq_len=8192, global_batch=32, recompute="none", level="analytical",
                check_memory=False)
    triton = llm.train(mpt, "h100-sxm", **args, attention="triton")
    fa2 = llm.train(mpt, "h100-sxm", **args, attention="fa2")
    assert triton.step_s > fa2.step_s
    assert triton.detail["attention"] > fa2.detail["attention"]


def test_eager_engine_waits_for_the_host_to_enqueue_every_kernel():
    # Llama-2-7B decode, TP1: 32 layers x 11 kernels (norm, qkv, rope, attention, o_proj, 2 residuals, norm,
    # gate_up, act, down) + embedding, final norm, LM head = 355 kernels; at 24 us each (serving/costs.py
    # HOST_OP_LATENCY, H100 SXM host_speed 1.0) the host needs 8.52 ms a step, more than the GPU's ~3.4 ms
    graphed = llm.infer("llama-2-7b", "h100-sxm", batch=1, input_len=128, output_len=8, level="analytical")
    eager = llm.infer("llama-2-7b", "h100-sxm", batch=1, input_len=128, output_len=8, level="analytical",
                      cuda_graphs=False)
    assert graphed.tpot_s < 355 * 24e-6
    assert eager.tpot_s == pytest.approx(355 * 24e-6, rel=1e-9)
    assert eager.ttft_s == pytest.approx(355 * 24e-6, rel=1e-9)  # 128-token prefill: host-bound too
    # e2e = TTFT + 7 decode steps; output tokens/s = 8 / e2e
    assert eager.output_tokens_per_s == pytest.approx(8 / (8 * 355 * 24e-6), rel=1e-9)


def test_unfused_gate_up_runs_two_gemms_and_two_launches():
    # TensorRT-LLM <= v0.6 builds without --use_fused_mlp: GatedMLP's fc and gate are separate GEMMs, so each of
    # Llama-2-7B's 32 layers launches 12 kernels instead of 11: 32 x 12 + 3 = 387 a pass; eager at 24 us each
    # (H100 host) = 9.288 ms, against 355 x 24 us = 8.52 ms fused
    kw = dict(batch=1, input_len=128, output_len=8, level="analytical", cuda_graphs=False)
    fused = llm.infer("llama-2-7b", "h100-sxm", **kw)
    split = llm.infer("llama-2-7b", "h100-sxm", fused_gate_up=False, **kw)
    assert fused.tpot_s == pytest.approx(355 * 24e-6, rel=1e-9)
    assert split.tpot_s == pytest.approx(387 * 24e-6, rel=1e-9)
    # the same FLOPs either way: two (M, 11008, 4096) GEMMs are one (M, 22016, 4096) GEMM's work
    big = dict(batch=16, input_len=2048, output_len=8, level="analytical")
    one, two = llm.infer("llama-2-7b", "h100-sxm", **big), llm.infer("llama-2-7b", "h100-sxm", fused_gate_up=False,
                                                                      **big)
    assert two.prefill.flops == pytest.approx(one.prefill.flops, rel=1e-12)
    assert two.ttft_s >= one.ttft_s
    with pytest.raises(ValueError, match="fused_gate_up"):
        llm.infer("llama-2-7b", "h100-sxm", fused_gate_up="no")


def test_eager_host_time_scales_with_the_host_core_and_leaves_long_passes_alone():
    from accelscope.llm.serving.costs import host_seconds_per_kernel

    # DGX A100's host core runs at 0.67 x the Xeon 8480C (a100-sxm-80gb.yaml runtime.host_speed): 24 / 0.67 us
    assert host_seconds_per_kernel(acs.load_hardware("a100-sxm-80gb")) == pytest.approx(24e-6 / 0.67, rel=1e-9)
    # a 16 x 2048-token prefill runs for far longer than its 355 kernels take to enqueue (8.5 ms): no change
    kw = dict(batch=16, input_len=2048, output_len=8, level="analytical")
    graphed = llm.infer("llama-2-7b", "h100-sxm", **kw)
    assert graphed.ttft_s > 0.1
    assert llm.infer("llama-2-7b", "h100-sxm", cuda_graphs=False, **kw).ttft_s == graphed.ttft_s


def test_expert_data_parallel_peers_sit_ep_ranks_apart():
    """Megatron Core lays a stage's expert ranks out expert-TP, then EP, then expert-DP, so the expert-DP peers are
    etp x ep ranks apart (x pp in our DP-outermost order); the dense DP peers tp x pp x cp."""
    from accelscope.llm.train import replica_strides

    # EP 8 over 64 devices, tp = pp = cp = etp = 1: dense stride 1, expert stride 1 x 8 x 1 = 8
    assert replica_strides(Parallelism(ep=8, dp=64), 1) == (1, 8)
    # tp 2, pp 4, ep 4, etp 1: dense 2 x 4 x 1 = 8, expert 1 x 4 x 4 = 16
    assert replica_strides(Parallelism(tp=2, pp=4, ep=4, dp=8), 1) == (8, 16)


def test_megatron_rank_order_puts_the_pipeline_outermost():
    """Megatron Core's rank order "tp-cp-ep-dp-pp" (pipeline_outermost): tp 2, pp 4, ep 4, dp 8, etp 1: dense DP
    peers tp x cp = 2 apart, expert-DP peers etp x ep = 4 apart, pipeline peers tp x cp x dp = 2 x 1 x 8 = 16
    apart; in the DP-outermost order the pipeline peers are the next TP group, tp = 2 apart."""
    from accelscope.llm.train import pipeline_stride, replica_strides

    par = Parallelism(tp=2, pp=4, ep=4, dp=8)
    assert replica_strides(par, 1, pipeline_outermost=True) == (2, 4)
    assert pipeline_stride(par, True) == 16 and pipeline_stride(par, False) == 2


def test_interleaved_stages_send_one_activation_per_chunk():
    """Megatron-Bridge's Qwen3-30B-A3B on 16 H100s (MB-031): pp 2, vpp 24, dp 8, micro-batch 2 x 4096 tokens,
    hidden 2048. Each stage holds 24 one-layer chunks: stage 0 sends 24 activations per micro-batch, the last
    stage 23 (its last chunk ends in the loss), each 8192 x 2048 x 2 B = 33,554,432 B, to the peer 8 devices
    away (Megatron's order: tp x cp x dp = 8), i.e. on the other DGX node over its 50 GB/s NIC: at least
    33,554,432 / 50e9 = 0.67 ms each. Under sequence parallelism with tp 4 the shard is a quarter."""
    from accelscope.hardware import load_hardware
    from accelscope.llm.train import pipeline_sends
    from accelscope.perf import estimate
    from accelscope.workload.model_config import load_model

    model, step, prec = load_model("qwen3-30b-a3b"), Step(batch=2, new_tokens=4096), Precision()
    par = Parallelism(pp=2, ep=8, dp=8)
    sends = {stage: [n for n in pipeline_sends(forward_graph(model, step, par, prec, stage), model, step, par,
                                                prec, stage, vpp=24, stride=8).nodes if n.name == "pp_send"]
             for stage in (0, 1)}
    assert [n.count for n in sends[0]] == [24] and [n.count for n in sends[1]] == [23]
    op = sends[0][0].op
    assert (op.bytes, op.group, op.stride) == (33_554_432, 2, 8)
    assert estimate(op, load_hardware("h100-sxm"), "analytical").seconds >= 33_554_432 / 50e9
    # without interleaving: one send on the first stage, none on the last
    plain = [n.count for n in pipeline_sends(forward_graph(model, step, par, prec, 0), model, step, par, prec, 0)
             .nodes if n.name == "pp_send"]
    assert plain == [1] and not [n for n in pipeline_sends(forward_graph(model, step, par, prec, 1), model, step,
                                                           par, prec, 1).nodes if n.name == "pp_send"]
    sp = Parallelism(tp=4, pp=2, ep=8, dp=2, sp=True)
    shard = next(n.op for n in pipeline_sends(forward_graph(model, step, sp, prec, 0), model, step, sp, prec, 0)
                 .nodes if n.name == "pp_send")
    assert shard.bytes == 33_554_432 / 4


def test_interleaved_sends_are_exposed_once_per_chunk_in_the_step():
    """The same layout through train(): the slowest stage is the last (LM head and loss); its 23 forward sends and
    their 23 mirrored gradient sends are exposed, so exposed_pp = micro-batches (512 / (2 x 8) = 32) x 46 x one
    send's seconds; with vpp 1 the last stage sends nothing."""
    from accelscope.hardware import load_hardware
    from accelscope.perf import estimate
    from accelscope.workload.ops import Collective

    train = llm.train
    kw = dict(pp=2, dp=8, ep=8, seq_len=4096, global_batch=512, micro_batch=2, recompute="none",
              level="analytical", check_memory=False, etp=1, pipeline_outermost=True)
    r = train("qwen3-30b-a3b", "h100-sxm", vpp=24, **kw)
    send = estimate(Collective("send_recv", 33_554_432, 2, "bf16", 8), load_hardware("h100-sxm"), "analytical")
    assert r.micro_batches == 32
    assert r.detail["exposed_pp"] == pytest.approx(32 * 46 * send.seconds)
    assert train("qwen3-30b-a3b", "h100-sxm", vpp=1, **kw).detail["exposed_pp"] == 0.0


def test_expert_gradients_reduce_over_the_nic_when_ep_fills_the_node():
    """GPT-OSS 120B on 64 B200s (8 per NVLink domain) at EP 8: the expert-DP group is one GPU per node, so its
    gradient reduce-scatter runs over each GPU's own NIC (50 GB/s per direction, b200.yaml scale_out), not NVLink.
    Its ring moves 7/8 of the fp32 gradients: at least 7/8 x bytes / 50e9 seconds."""
    from accelscope.hardware import load_hardware
    from accelscope.llm.train import _dp_collectives, _local_params
    from accelscope.perf import estimate
    from accelscope.workload.model_config import load_model

    par = Parallelism(ep=8, dp=64)
    params = _local_params(load_model("gpt-oss-120b"), par, 1)
    expert_scatter = _dp_collectives(params, par, 1, 1)[2]
    assert expert_scatter[0] == "grad_reduce_scatter" and expert_scatter[1].group == 8
    op = expert_scatter[1]
    assert op.stride == 8
    assert estimate(op, load_hardware("b200"), "analytical").seconds >= 7 / 8 * op.bytes / 50e9


def test_megatron_clamps_gpt_oss_glu_in_pytorch():
    """gpt-oss's swiglu_limit 7.0 (ModelConfig.glu_clamp). Megatron Core's weighted_bias_quick_geglu_impl clamps the
    fc1 output's two halves and concatenates them in PyTorch before its fused activation. GPT-OSS 120B at EP 8 with
    4 x 4096 tokens per device: N = 16384 x top-4 = 65,536 routed rows, H = 2880, so per MoE layer two clamps of
    N x H = 188,743,680 elements (each reads and writes N x H x 2 B = 377 MB) and one concatenation of 2 N x H;
    backward: each clamp's masked gradient (reads gradient and input, writes: 3 x 377 MB) and one copy of 2 N x H
    (the chunk's gradient, reads once). The step grows by exactly micro-batches x those four nodes' seconds x 36
    layers, all of it elementwise; "fused" (the default) adds nothing."""
    from accelscope.hardware import load_hardware
    from accelscope.perf import estimate
    from accelscope.workload.backward import backward_graph
    from accelscope.workload.model_config import load_model
    from accelscope.workload.ops import Elementwise, Graph, Node

    assert load_model("gpt-oss-120b").glu_clamp == 7.0 and load_model("qwen3-30b-a3b").glu_clamp is None
    kw = dict(dp=64, ep=8, seq_len=4096, global_batch=512, micro_batch=4, recompute="none", level="analytical",
              check_memory=False, etp=1)
    fused = llm.train("gpt-oss-120b", "b200", **kw)
    eager = llm.train("gpt-oss-120b", "b200", glu_clamp="eager", **kw)
    clamp = [(n, c) for n, c, _e in eager.forward.parts if n == "experts_glu_clamp"]
    assert clamp == [("experts_glu_clamp", 72)]  # two per layer, 36 layers
    half = 65_536 * 2880
    ops = (Elementwise("clamp", half, "bf16", inputs=1, outputs=1, flops_per_element=1),
           Elementwise("concat", 2 * half, "bf16", inputs=1, outputs=1, flops_per_element=0))
    graph = Graph((Node(ops[0], 2), Node(ops[1], 1)))
    backward = backward_graph(graph)
    assert [(n.op.op, n.op.inputs, n.op.outputs) for n in backward.nodes] == [("concat_bwd", 1, 1),
                                                                              ("clamp_bwd", 2, 1)]
    b200 = load_hardware("b200")
    layer = estimate(graph, b200, "analytical").seconds + estimate(backward, b200, "analytical").seconds
    assert eager.micro_batches == 2
    grown = eager.detail["elementwise"] - fused.detail["elementwise"]
    assert grown == pytest.approx(2 * 36 * layer, rel=1e-9)
    assert eager.detail["gemm"] == fused.detail["gemm"]
    # --recompute-modules moe_act checkpoints the whole activation function, clamps and concatenation included
    act = llm.train("gpt-oss-120b", "b200", glu_clamp="eager", **{**kw, "recompute": "selective"},
                    recompute_modules=("moe_act",))
    redo = sum(c * e.seconds for n, c, e in act.forward.parts
               if n in ("experts_act", "experts_glu_clamp", "experts_glu_concat"))
    assert act.breakdown["recompute"] == pytest.approx(act.micro_batches * redo)
    with pytest.raises(ValueError, match="glu_clamp"):
        llm.train("gpt-oss-120b", "b200", glu_clamp="triton", **kw)


def test_recompute_modules_rerun_exactly_their_forward_nodes():
    """Megatron's --recompute-modules moe_act: the backward runs the routed experts' activation again, so the step's
    recompute time is micro-batches x that node's forward seconds x its count (one per MoE layer), and nothing
    else; the default selective recompute stays the core attention."""
    kwargs = dict(dp=1, ep=1, seq_len=1024, global_batch=2, micro_batch=1, level="analytical", check_memory=False)
    act = llm.train("qwen3-30b-a3b", "h100-sxm", recompute="selective", recompute_modules=("moe_act",), **kwargs)
    want = sum(count * est.seconds for name, count, est in act.forward.parts if name == "experts_act")
    assert want > 0 and act.breakdown["recompute"] == pytest.approx(act.micro_batches * want)
    attn = llm.train("qwen3-30b-a3b", "h100-sxm", recompute="selective", **kwargs)
    core = llm.train("qwen3-30b-a3b", "h100-sxm", recompute="selective", recompute_modules=("core_attn",), **kwargs)
    assert attn.step_s == core.step_s
    with pytest.raises(ValueError, match="recompute_modules"):
        llm.train("qwen3-30b-a3b", "h100-sxm", recompute="none", recompute_modules=("moe_act",), **kwargs)
    with pytest.raises(ValueError, match="recompute_modules"):
        llm.train("qwen3-30b-a3b", "h100-sxm", recompute="selective", recompute_modules=("moe",), **kwargs)
