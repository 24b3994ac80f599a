"""Host (framework) time of a training step: llm/train_host.py, and the MT rows that are not steady."""

from __future__ import annotations

import pytest

from accelscope import llm
from accelscope.llm.train_host import (
    expert_ops,
    graph_ops,
    host_excess,
    issue_order,
    megatron_loss_ops,
    micro_batch_ops,
    moe_routing_ops,
    param_tensors,
    queue_seconds,
    sync_segments,
    synced_host_excess,
    system_host_op_latency,
    te_module_ops,
    wgrad_ops,
)
from accelscope.measure.dataset import MeasuredRow
from accelscope.measure.training_rows import mt_unsteady
from accelscope.perf import Estimate
from accelscope.workload.model_config import ModelConfig, MoE

# a Megatron CI proxy: GPT, 2 layers, hidden 512, GELU MLP, LayerNorm with biases, rotary positions
TINY = ModelConfig(name="tiny", family="gpt", hidden=512, layers=2, heads=8, kv_heads=8, head_dim=64,
                   intermediate=2048, vocab=50304, mlp="gelu", norm="layer", qkv_bias=True)


def test_host_excess_is_the_host_time_beyond_the_gpu_time():
    # 100 ops x 150 us = 15 ms of host time against 1 ms of kernels: the micro-batch waits 14 ms on the host
    assert host_excess(1e-3, 100, 150e-6) == pytest.approx(14e-3)
    assert host_excess(20e-3, 100, 150e-6) == 0.0  # kernels longer than the host: the GPU is the bound
    assert host_excess(1e-3, 100, 0.0) == 0.0 and host_excess(1e-3, 100, None) == 0.0


def test_ops_are_the_graph_nodes_and_unfused_wgrad_adds_one_per_weight_gradient():
    r = llm.train(TINY, "h100-sxm", seq_len=1024, global_batch=4, micro_batch=4, recompute="none",
                  level="analytical", check_memory=False)
    # forward: embedding; per layer attn_norm, qkv_proj, rope, attention, o_proj, 2 residuals, mlp_norm, mlp_up,
    # mlp_act, mlp_down (11); final_norm, lm_head, cross_entropy: 1 + 2 x 11 + 3 = 26
    assert graph_ops(r.forward) == 26
    # backward: cross_entropy, lm_head dgrad + wgrad, final_norm; per layer 4 GEMMs x (dgrad + wgrad), act,
    # attention, rope, 2 norms, 2 residuals (15); embedding: 4 + 2 x 15 + 1 = 35, of which wgrad 1 + 2 x 4 = 9
    assert graph_ops(r.backward) == 35 and wgrad_ops(r.backward) == 9
    assert micro_batch_ops(r.forward, r.backward) == 61
    assert micro_batch_ops(r.forward, r.backward, grad_accumulation_fusion=False) == 70
    # weights: embedding, final_norm; per layer attn_norm, qkv, o, mlp_norm, up, down (6): 2 + 12 = 14, with biases 28
    assert param_tensors(r.forward, biases=True) == 28


def test_a_small_step_is_bound_by_the_host_and_the_breakdown_says_so():
    kwargs = dict(seq_len=1024, global_batch=8, micro_batch=4, recompute="none", level="analytical",
                  check_memory=False)
    gpu = llm.train(TINY, "h100-sxm", host_op_latency=0.0, **kwargs)
    host = llm.train(TINY, "h100-sxm", host_op_latency=1e-3, **kwargs)
    assert gpu.breakdown["host"] == 0.0
    # 2 micro-batches x (61 ops x 1 ms - the micro-batch's GPU time) + the optimizer's 2 x 28 tensor copies x 1 ms
    # - its GPU time; the GPU terms are the host-free step's
    per_micro = (gpu.breakdown["compute"] + gpu.breakdown["exposed_comm"]) / 2
    expected = 2 * (61e-3 - per_micro) + 56e-3 - gpu.breakdown["optimizer"]
    assert host.breakdown["host"] == pytest.approx(expected, rel=1e-6)
    assert sum(host.breakdown.values()) == pytest.approx(host.step_s)


def test_experts_without_grouped_gemm_are_one_module_call_per_local_expert():
    moe = ModelConfig(name="tiny-moe", family="gpt", hidden=512, layers=2, heads=8, kv_heads=8, head_dim=64,
                      intermediate=2048, vocab=50304, mlp="gelu", norm="layer", qkv_bias=True,
                      moe=MoE(experts=4, top_k=2, intermediate=2048))
    kwargs = dict(seq_len=1024, global_batch=4, micro_batch=4, recompute="none", level="analytical",
                  check_memory=False, host_op_latency=1e-3)
    grouped = llm.train(moe, "h100-sxm", **kwargs)
    # per layer: experts_up, experts_act, experts_down forward (3); their dgrad/wgrad, dgrad/wgrad and act_bwd (5)
    assert expert_ops(grouped.forward) == 2 * 3 and expert_ops(grouped.backward) == 2 * 5
    # SequentialMLP over 4 local experts (ep 1): each of those 16 ops issued 4 times, 3 x 16 = 48 more, 1 ms each
    sequential = llm.train(moe, "h100-sxm", moe_grouped_gemm=False, **kwargs)
    assert sequential.breakdown["host"] - grouped.breakdown["host"] == pytest.approx(48e-3)
    assert micro_batch_ops(grouped.forward, grouped.backward, local_experts=4) == \
        micro_batch_ops(grouped.forward, grouped.backward) + 48
    # routing beyond the graph's nodes: 24 forward + 6 backward host ops per MoE layer, with the load-balancing
    # loss 8 + 4 more; 2 layers: 2 x 42 = 84 with it, 2 x 30 = 60 without
    assert moe_routing_ops(grouped.forward, grouped.backward) == 2 * (32 + 10)
    assert moe_routing_ops(grouped.forward, grouped.backward, aux_loss=False) == 2 * (24 + 6)


def test_after_a_device_sync_a_long_kernel_at_the_end_adds_to_the_host_time():
    # 3 ops of 1 ms host time each; the 5 ms kernel first: it runs while the host issues the others, 6 ms
    assert queue_seconds([(1, 5e-3), (1, 0.0), (1, 0.0)], 1e-3) == pytest.approx(6e-3)
    # the 5 ms kernel last (the LM head and loss of a last pipeline stage): issued at 3 ms, done at 8 ms
    assert queue_seconds([(1, 0.0), (1, 0.0), (1, 5e-3)], 1e-3) == pytest.approx(8e-3)


def test_issue_order_rebuilds_the_layers_between_embedding_and_loss():
    r = llm.train(TINY, "h100-sxm", seq_len=1024, global_batch=4, micro_batch=4, recompute="none",
                  level="analytical", check_memory=False)
    order = issue_order(r.forward)
    # embedding; 2 layers of 11 ops (2 residual adds each); final norm, LM head, cross entropy: 26 as counted above
    assert len(order) == 26
    seconds = {name: est.seconds for name, _count, est in r.forward.parts}
    assert order[0][1] == seconds["embedding"] and order[-1][1] == seconds["cross_entropy"]
    assert order[1][1] == order[12][1] == seconds["attn_norm"]  # the second layer starts 11 ops later


def test_pipeline_p2p_sync_adds_host_time_when_the_last_stage_ends_on_long_kernels():
    kwargs = dict(pp=2, seq_len=1024, global_batch=8, micro_batch=4, recompute="none", level="analytical",
                  check_memory=False, host_op_latency=150e-6)
    free = llm.train(TINY, "h100-sxm", **kwargs)
    synced = llm.train(TINY, "h100-sxm", p2p_sync=True, **kwargs)
    assert synced.step_s > free.step_s
    assert sum(synced.breakdown.values()) == pytest.approx(synced.step_s)


def _pass(*ops: tuple[str, float]) -> Estimate:
    """A pass of once-only nodes (name, GPU seconds), in issue order."""
    parts = tuple((name, 1.0, Estimate(seconds=gpu, flops=0.0, bytes=0.0, bound="launch", breakdown={},
                                       level="analytical")) for name, gpu in ops)
    return Estimate(seconds=sum(gpu for _n, gpu in ops), flops=0.0, bytes=0.0, bound="launch", breakdown={},
                    level="analytical", parts=parts)


def test_a_moe_dispatch_sync_exposes_the_issue_time_of_the_ops_after_it():
    # forward: attention 4 ms, router 0, permute 0, experts 3 ms, combine 0; backward: one 2 ms op; 1 ms per op
    fwd = _pass(("attn", 4e-3), ("router", 0.0), ("moe_permute", 0.0), ("experts", 3e-3), ("moe_combine", 0.0))
    bwd = _pass(("experts_bwd", 2e-3))
    # no sync: one queue of 6 ops from idle, issued at 1..6 ms: attention runs 1 -> 5, router and permute end at
    # 5, experts (issued at 4) run 5 -> 8, combine 8, experts_bwd (issued at 6) 8 -> 10: 10 ms, 1 ms beyond the
    # 9 ms of GPU time
    assert synced_host_excess(fwd, bwd, 1e-3, pass_sync=False) == pytest.approx(1e-3)
    # the dispatcher's sync before the permute: the host waits until the device has run attention and router,
    # then issues permute (at 1 ms), experts (at 2, runs 2 -> 5), combine (3), experts_bwd (4, runs 5 -> 7) and
    # the next micro-batch's attention (5, runs 7 -> 11) and router (6): the rotated micro-batch takes 11 ms,
    # 2 ms beyond 9
    segments = sync_segments(fwd, bwd, pass_sync=False, moe_sync=True)
    assert segments == [[(1.0, 0.0), (1.0, 3e-3), (1.0, 0.0), (1.0, 2e-3), (1.0, 4e-3), (1.0, 0.0)]]
    assert synced_host_excess(fwd, bwd, 1e-3, pass_sync=False, moe_sync=True) == pytest.approx(2e-3)
    # with the loss read-back too, three segments: attention + router (1..5, 1..5), permute + experts + combine
    # (permute 1, experts 2 -> 5, combine 5: 5 ms), the backward (1 -> 3): 5 + 5 + 3 = 13 ms, 4 beyond
    assert len(sync_segments(fwd, bwd, pass_sync=True, moe_sync=True)) == 3
    assert synced_host_excess(fwd, bwd, 1e-3, pass_sync=True, moe_sync=True) == pytest.approx(4e-3)
    # the loss read-back alone: forward 1 -> 5, router 5, permute 5, experts 5 -> 8, combine 8; backward 1 -> 3:
    # 11 ms, 2 beyond 9
    assert synced_host_excess(fwd, bwd, 1e-3) == pytest.approx(2e-3)


def test_moe_sync_cuts_each_moe_layer_and_only_moe_models():
    moe = ModelConfig(name="tiny-moe", family="gpt", hidden=512, layers=2, heads=8, kv_heads=8, head_dim=64,
                      intermediate=2048, vocab=50304, mlp="gelu", norm="layer", qkv_bias=True,
                      moe=MoE(experts=4, top_k=2, intermediate=2048))
    kwargs = dict(seq_len=1024, global_batch=4, micro_batch=4, recompute="none", level="analytical",
                  check_memory=False, host_op_latency=1e-5)
    r = llm.train(moe, "h100-sxm", **kwargs)
    ops = len(issue_order(r.forward)) + len(issue_order(r.backward))
    # one segment per MoE layer (2), every op in exactly one; with the pass syncs one more before the forward's
    # first layer and one for the backward
    assert [len(s) > 0 for s in sync_segments(r.forward, r.backward, False, True)] == [True, True]
    assert sum(map(len, sync_segments(r.forward, r.backward, False, True))) == ops
    assert len(sync_segments(r.forward, r.backward, True, True)) == 4
    # through train(): the sync can only add host time; a dense model has nothing to cut
    assert llm.train(moe, "h100-sxm", moe_sync=True, **kwargs).step_s >= r.step_s
    assert llm.train(TINY, "h100-sxm", moe_sync=True, **kwargs).step_s == llm.train(TINY, "h100-sxm",
                                                                                     **kwargs).step_s


def _mt_row(value: float, notes: str) -> MeasuredRow:
    return MeasuredRow(id="MT-9999", hardware="NVIDIA GB200", category="llm_training", op="", dtype="bf16",
                       shape={}, metric="iteration_time_median", value=value, unit="s", notes=notes)


def test_mt_rows_whose_steps_are_not_steady_are_not_scored():
    # median 1.30 s over a fastest step of 1.00 s: 1.30 > 1.25, not steady; 1.20 s is
    reason = mt_unsteady(_mt_row(1.30, "Median (computed here) of the 127 logged times (min 1.0, max 3.2 s)"))
    assert reason is not None and reason.startswith("not steady") and "1.25 x" in reason
    assert mt_unsteady(_mt_row(1.20, "Median of the 127 logged times (min 1.0, max 3.2 s)")) is None
    assert mt_unsteady(_mt_row(1.30, "no statistics given")) is None


def test_shipped_host_op_latency_is_the_fit_over_all_sources():
    """If the training rows or the step model change, llm/train_host.HOST_OP_LATENCY must be refitted (this fails).
    The fit transfers: without the Megatron CI runs (MT, two thirds of the host-bound rows) or without CU it is
    90 us, as the fit on all."""
    from accelscope.hardware import spec as spec_module
    from accelscope.llm.train_host import HOST_OP_LATENCY
    from accelscope.measure.dataset import load_rows
    from accelscope.measure.globalfit import FIT_ROWS_PER_GROUP, Constants
    from accelscope.measure.hostfit import HostFit

    shipped = Constants(spec_module.DRAM_EFFICIENCY, spec_module.DRAM_WRITE_COST,
                        spec_module.MATRIX_EFFICIENCY_WIDE, spec_module.MATRIX_EFFICIENCY_NARROW)
    fit = HostFit(load_rows("all"), "analytical", shipped, FIT_ROWS_PER_GROUP)
    assert fit.latency() == pytest.approx(HOST_OP_LATENCY)
    assert fit.latency(without="MT") == pytest.approx(90e-6)
    assert fit.latency(without="CU") == pytest.approx(90e-6)


def test_host_time_and_float8_gather_options_are_checked():
    from accelscope.llm import train

    kwargs = {"dp": 8, "seq_len": 2048, "global_batch": 8}
    with pytest.raises(ValueError, match="host_op_latency: expected seconds per op"):
        train("llama-3.1-8b", "h100-sxm", host_op_latency=-1e-6, **kwargs)
    with pytest.raises(ValueError, match="fp8_all_gather: FSDP gathers float8 weights only with zero=3"):
        train("llama-3.1-8b", "h100-sxm", fp8_all_gather=True, zero=3, dtype="bf16", **kwargs)


def test_on_off_options_and_fp8_skip_refuse_values_that_would_price_silently():
    """The string "false" is truthy (it would turn Megatron-LM's loss path on); a bare string as fp8_skip would be
    read as one prefix per letter. Both are refused before any pricing, with the option named."""
    from accelscope.llm import train

    kwargs = {"dp": 8, "seq_len": 2048, "global_batch": 8}
    with pytest.raises(ValueError, match=r"megatron_loss: expected True or False \(got 'false'\)"):
        train("llama-3.1-8b", "h100-sxm", megatron_loss="false", **kwargs)
    with pytest.raises(ValueError, match="te_modules: expected True or False"):
        train("llama-3.1-8b", "h100-sxm", te_modules=1, **kwargs)
    with pytest.raises(ValueError, match="fp8_skip: expected a tuple of node-name prefixes"):
        train("llama-3.1-8b", "h100-sxm", fp8_skip="lm_head", **kwargs)


def test_a_system_host_time_per_op_is_the_reference_core_time_over_its_host_speed():
    from accelscope.llm.train_host import host_op_latency_default

    with host_op_latency_default(120e-6):
        # a host core at 0.6 x the reference core's speed: 120 us / 0.6 = 200 us per op
        assert system_host_op_latency(None, 0.6) == pytest.approx(200e-6)
        assert system_host_op_latency(None, None) == pytest.approx(120e-6)  # no host speed: the reference core
        assert system_host_op_latency(50e-6, 0.6) == pytest.approx(50e-6)  # a spec's own latency is absolute


def test_a_slower_host_core_lengthens_a_host_bound_step_by_its_ops():
    from accelscope.hardware import load_hardware
    from accelscope.llm.train_host import host_op_latency_default

    h100 = load_hardware("h100-sxm")
    slow = h100.model_copy(update={"runtime": h100.runtime.model_copy(update={"host_speed": 0.5})})
    kwargs = dict(seq_len=1024, global_batch=8, micro_batch=4, recompute="none", level="analytical",
                  check_memory=False)
    with host_op_latency_default(120e-6):
        fast_r, slow_r = llm.train(TINY, h100, **kwargs), llm.train(TINY, slow, **kwargs)
    # both host-bound: 2 micro-batches x 61 ops + the optimizer's 2 x 28 tensor copies = 178 ops, each 120 us on the
    # reference core and 240 us at half its speed: 178 x 120 us = 21.36 ms more host time, the kernels unchanged
    assert slow_r.breakdown["host"] - fast_r.breakdown["host"] == pytest.approx(178 * 120e-6)
    assert slow_r.breakdown["compute"] == pytest.approx(fast_r.breakdown["compute"])


def test_a_loss_read_back_each_micro_batch_serialises_host_and_gpu_without_a_pipeline():
    # Megatron-LM's NaN check reads the loss each micro-batch: the backward starts on an idle GPU, so the last
    # kernels of the forward (LM head, cross entropy) no longer hide behind the backward's host time; p2p_sync has
    # nothing to synchronise at pp = 1
    kwargs = dict(seq_len=1024, global_batch=8, micro_batch=4, recompute="none", level="analytical",
                  check_memory=False, host_op_latency=150e-6)
    free = llm.train(TINY, "h100-sxm", **kwargs)
    assert llm.train(TINY, "h100-sxm", p2p_sync=True, **kwargs).step_s == pytest.approx(free.step_s)
    synced = llm.train(TINY, "h100-sxm", loss_sync=True, **kwargs)
    assert synced.step_s > free.step_s
    assert synced.breakdown["compute"] == pytest.approx(free.breakdown["compute"])
    assert sum(synced.breakdown.values()) == pytest.approx(synced.step_s)


def test_one_hardware_queue_takes_the_interleaved_schedule_back_to_whole_stage_bubbles():
    from dataclasses import replace

    four = replace(TINY, layers=4)
    kwargs = dict(pp=2, seq_len=1024, global_batch=8, micro_batch=4, recompute="none", level="analytical",
                  check_memory=False, host_op_latency=150e-6)
    free = llm.train(four, "h100-sxm", vpp=2, **kwargs)
    queued = llm.train(four, "h100-sxm", vpp=2, single_queue=True, **kwargs)
    # interleaved: (pp - 1) / vpp = 1/2 stage of bubble; overlapped receives held in one queue: (pp - 1) = 1 stage
    assert queued.breakdown["bubble"] == pytest.approx(2 * free.breakdown["bubble"])
    assert queued.breakdown["compute"] == pytest.approx(free.breakdown["compute"])
    assert sum(queued.breakdown.values()) == pytest.approx(queued.step_s)
    # without interleaving there is nothing to hold back: (pp - 1) / 1 either way
    plain = llm.train(four, "h100-sxm", **kwargs)
    assert llm.train(four, "h100-sxm", single_queue=True, **kwargs).step_s == pytest.approx(plain.step_s)


def test_megatron_loss_path_adds_its_ops_on_the_last_stage_per_micro_batch():
    kwargs = dict(seq_len=1024, global_batch=8, micro_batch=4, recompute="none", level="analytical",
                  check_memory=False, host_op_latency=1e-3)
    plain = llm.train(TINY, "h100-sxm", **kwargs)
    # loss path 16 forward + 6 backward ops, the unfused vocab-parallel cross entropy 19 + 6 more: 47 per micro-batch
    assert megatron_loss_ops(plain.forward, fused_cross_entropy=False) == 47
    assert megatron_loss_ops(plain.forward, fused_cross_entropy=True) == 22
    # host-bound at 1 ms per op: 2 micro-batches x 47 ops x 1 ms = 94 ms more host time, the kernels unchanged
    megatron = llm.train(TINY, "h100-sxm", megatron_loss=True, **kwargs)
    assert megatron.breakdown["host"] - plain.breakdown["host"] == pytest.approx(94e-3)
    assert megatron.breakdown["compute"] == pytest.approx(plain.breakdown["compute"])
    # a pass without the loss node (here the backward graph: its node is cross_entropy_bwd) issues none of them
    assert megatron_loss_ops(plain.backward, fused_cross_entropy=False) == 0


def test_transformer_engine_linears_cost_more_host_time_and_fuse_their_norms():
    kwargs = dict(seq_len=1024, global_batch=8, micro_batch=4, recompute="none", level="analytical",
                  check_memory=False, host_op_latency=1e-3)
    plain = llm.train(TINY, "h100-sxm", **kwargs)
    # per layer 4 TE linears (qkv, proj, fc1, fc2): 4 forward calls + 8 backward GEMMs (dgrad, wgrad) = 12, x 2
    # layers = 24 calls at 2.7 - 1 = 1.7 ops more each: +40.8; the attention and MLP norms fused into
    # LayerNormLinear, forward and backward, 2 x 2 x 2 = 8 ops fewer: +32.8 ops per micro-batch
    assert te_module_ops(plain.forward, plain.backward) == pytest.approx(32.8)
    # host-bound at 1 ms per op: 2 micro-batches x 32.8 ms more host time, the kernels unchanged
    te = llm.train(TINY, "h100-sxm", te_modules=True, **kwargs)
    assert te.breakdown["host"] - plain.breakdown["host"] == pytest.approx(65.6e-3)
    assert te.breakdown["compute"] == pytest.approx(plain.breakdown["compute"])


def test_qk_layernorm_adds_a_norm_per_head_of_q_and_k():
    from dataclasses import replace

    from accelscope.workload.llm_graph import Parallelism, Precision, Step, attention_nodes

    kwargs = dict(seq_len=1024, global_batch=4, micro_batch=4, recompute="none", level="analytical",
                  check_memory=False, host_op_latency=0.0)
    plain = llm.train(TINY, "h100-sxm", **kwargs)
    qk = llm.train(replace(TINY, qk_norm=True), "h100-sxm", **kwargs)
    counts = {name: count for name, count, _est in qk.forward.parts}
    assert counts["q_norm"] == 2 and counts["k_norm"] == 2  # one each per layer, 2 layers
    # over 4 x 1024 tokens x 8 heads rows of head_dim 64 (K: 8 KV heads), before the attention
    nodes = attention_nodes(replace(TINY, qk_norm=True), Step(batch=4, new_tokens=1024), Parallelism(),
                            Precision(dtype="bf16"), sliding=False)
    assert [n.label for n in nodes[:3]] == ["qkv_proj", "q_norm", "k_norm"]
    assert (nodes[1].op.rows, nodes[1].op.hidden) == (4 * 1024 * 8, 64)
    # 4 more forward and 4 more backward ops per micro-batch; the step takes longer by their kernels
    assert graph_ops(qk.forward) - graph_ops(plain.forward) == 4
    assert graph_ops(qk.backward) - graph_ops(plain.backward) == 4
    assert qk.step_s > plain.step_s


def test_transformer_engine_quantizes_and_overlaps_tp_comm_inside_its_linear_calls():
    kwargs = dict(seq_len=1024, global_batch=8, micro_batch=4, recompute="none", level="analytical",
                  check_memory=False, host_op_latency=1e-3)
    fp8 = llm.train(TINY, "h100-sxm", dtype="fp8_e4m3", fp8_recipe="tensorwise", **kwargs)
    # tensorwise FP8: an amax node per quantized operand, forward (input, weight) and backward (dy, input^T,
    # weight^T): 5 per TE linear x 4 linears x 2 layers = 40, less the inputs of linear_qkv and linear_fc1, whose
    # norms take the amax (2 x 2 layers): 36 nodes that run inside the linears' quantizer calls; the 32.8 ops of
    # the bf16 case (previous test) less 36
    assert te_module_ops(fp8.forward, fp8.backward) == pytest.approx(32.8 - 36)
    sp = llm.train(TINY, "h100-sxm", tp=2, sp=True, **kwargs)
    # TP 2 with sequence parallelism: a reduce-scatter and an all-gather after attention and after the MLP,
    # forward and backward, 8 per layer x 2 layers = 16 collectives inside the linears' userbuffer calls
    assert te_module_ops(sp.forward, sp.backward, tp_overlap=True) == pytest.approx(
        te_module_ops(sp.forward, sp.backward) - 16)


def test_te_quantizes_each_experts_operand_with_its_own_kernels():
    """Transformer Engine's GroupedLinear quantizes each expert's tensor separately except under delayed scaling
    (one nvte_multi_cast_transpose): an operand of a 4-expert grouped GEMM with 3 experts holding rows is 3
    activation tensors and 4 weight tensors, each a cast (and, with current scaling, an amax) of its share."""
    from accelscope.llm.train import PER_EXPERT_SUFFIX, with_fp8_casts
    from accelscope.perf import estimate
    from accelscope.workload.ops import Gemm, Graph, GroupedGemm, Node

    experts = GroupedGemm(groups=4, n=1024, k=512, m_per_group=(256, 256, 256, 0), dtype="fp8_e4m3")
    fwd = Graph((Node(experts, 2, "experts_up"), Node(Gemm(768, 1024, 512, dtype="fp8_e4m3"), 2, "o_proj")))
    bwd = Graph((), name="bwd")
    f, b = with_fp8_casts(fwd, bwd, "tensorwise")
    parts = {node.name: node for node in f.nodes + b.nodes}
    # activations: 768 x 512 elements over 3 tensors of 256 x 512 = 131072 each; count 2 (layers) for the
    # first expert's kernels (one host call), 2 x 2 = 4 for the other two experts'
    assert parts["fp8_cast_a:experts_up"].op.elements == 131072 and parts["fp8_cast_a:experts_up"].count == 2
    assert parts[f"fp8_cast_a:experts_up{PER_EXPERT_SUFFIX}"].count == 4
    assert parts[f"fp8_amax_a:experts_up{PER_EXPERT_SUFFIX}"].op.elements == 131072
    # weights: 4 x 512 x 1024 over 4 tensors of 524288; 3 more per layer. The dense GEMM's operand is one tensor.
    assert parts["fp8_cast_w:experts_up"].op.elements == 524288
    assert parts[f"fp8_cast_wt:experts_up{PER_EXPERT_SUFFIX}"].count == 2 * 3
    assert f"fp8_cast_a:o_proj{PER_EXPERT_SUFFIX}" not in parts
    # the elements are the unsplit operand's: 131072 x (2 + 4) / 2 layers = 768 x 512 per layer
    a_nodes = [n for n in f.nodes if n.name.startswith("fp8_cast_a:experts_up")]
    assert sum(n.op.elements * n.count for n in a_nodes) == 2 * 768 * 512
    # delayed scaling: one fused multi-tensor cast, no per-expert kernels
    fd, bd = with_fp8_casts(fwd, bwd, "delayed")
    assert not any(n.name.endswith(PER_EXPERT_SUFFIX) for n in fd.nodes + bd.nodes)
    # more kernels, no more host calls: graph_ops counts each quantize call once, as before the split
    est, est_delayed = estimate(f, "h100-sxm", level="analytical"), estimate(fd, "h100-sxm", level="analytical")
    # delayed: 2 GEMMs + their a and w casts, 2 layers: 12 calls; tensorwise adds one amax call per cast: 20
    assert graph_ops(est_delayed) == 12 and graph_ops(est) == 20
    assert est.seconds > est_delayed.seconds


def test_te_issues_each_gemms_quantize_kernels_just_before_it():
    """A TE linear quantizes its operands inside its own call, right before its GEMM: the forward's casts sit just
    before the GEMM node, the backward's (dy, input^T, weight^T) just before its dgrad, not at the pass's end."""
    from accelscope.llm.train import with_fp8_casts
    from accelscope.workload.backward import backward_graph
    from accelscope.workload.ops import Elementwise, Gemm, Graph, Node

    fwd = Graph((Node(Gemm(1024, 1536, 512, dtype="fp8_e4m3"), 2, "qkv_proj"),
                 Node(Elementwise("gelu", 1024 * 512), 2, "act"),
                 Node(Gemm(1024, 512, 512, dtype="fp8_e4m3"), 2, "o_proj")))
    f, b = with_fp8_casts(fwd, backward_graph(fwd), "mxfp8")
    names = [n.name for n in f.nodes]
    # MXFP8: a cast of the input and one of the weight per GEMM (no amax), then the GEMM
    assert names == ["fp8_cast_a:qkv_proj", "fp8_cast_w:qkv_proj", "qkv_proj", "act",
                     "fp8_cast_a:o_proj", "fp8_cast_w:o_proj", "o_proj"]
    names = [n.name for n in b.nodes]
    # the backward runs o_proj's gradients first: its three casts, dgrad, wgrad; then the activation's; then qkv's
    assert names[:5] == ["fp8_cast_dy:o_proj", "fp8_cast_at:o_proj", "fp8_cast_wt:o_proj", "o_proj_dgrad",
                         "o_proj_wgrad"]
    assert names[5] == "act_bwd" and names[6:9] == ["fp8_cast_dy:qkv_proj", "fp8_cast_at:qkv_proj",
                                                    "fp8_cast_wt:qkv_proj"]
    assert len(b.nodes) == len(backward_graph(fwd).nodes) + 6


def test_te_current_scaling_zeroes_reduces_and_scales_each_amax():
    """Float8CurrentScalingQuantizer::quantize_impl per quantized tensor: amax zeroed (cudaMemsetAsync), amax
    kernel, the amax all-reduced over TP for a sequence-parallel operand, compute_scale_from_amax <<<1, 1>>>,
    then the cast; for the input and the output gradient (the weight's call is not per micro-batch, the
    transposes come from the forward's call). All inside the quantizer's call: no host op, no parameter."""
    from accelscope.llm.train import PER_EXPERT_SUFFIX, with_fp8_casts
    from accelscope.llm.train_host import IN_QUANTIZE_SUFFIX
    from accelscope.perf import estimate
    from accelscope.workload.backward import backward_graph
    from accelscope.workload.ops import Collective, Gemm, Graph, GroupedGemm, Node

    qkv = Gemm(1024, 1536, 512, dtype="fp8_e4m3")
    fwd = Graph((Node(qkv, 2, "qkv_proj"), Node(Gemm(1024, 512, 512, dtype="fp8_e4m3"), 2, "o_proj")))
    f, b = with_fp8_casts(fwd, backward_graph(fwd), "tensorwise", amax_group=2)
    names = [n.name for n in f.nodes]
    s = IN_QUANTIZE_SUFFIX
    # qkv's input: zero, amax, all-reduce (column-parallel input under SP), scale, cast; its weight: amax, cast
    assert names[:8] == [f"fp8_zero_a:qkv_proj{s}", "fp8_amax_a:qkv_proj", f"fp8_reduce_a:qkv_proj{s}",
                         f"fp8_scale_a:qkv_proj{s}", "fp8_cast_a:qkv_proj", "fp8_amax_w:qkv_proj",
                         "fp8_cast_w:qkv_proj", "qkv_proj"]
    parts = {n.name: n for n in f.nodes + b.nodes}
    reduce = parts[f"fp8_reduce_a:qkv_proj{s}"]
    # one 4-byte fp32 MAX all-reduce over the 2 TP ranks per layer (count 2 = the GEMM's layers)
    assert reduce.op == Collective("all_reduce", 4.0, 2, "fp32") and reduce.count == 2
    # o_proj is row-parallel: its input's amax stays local, its output gradient's is reduced (backward)
    assert f"fp8_reduce_a:o_proj{s}" not in parts and f"fp8_scale_a:o_proj{s}" in parts
    assert f"fp8_reduce_dy:o_proj{s}" in parts and f"fp8_reduce_dy:qkv_proj{s}" not in parts
    # no scale kernel per micro-batch for the weight or for the transposes
    assert not any(f"_{label}:" in name and name.endswith(s) for name in parts for label in ("w", "wt", "at"))
    # each scale kernel: one thread reads the 4-byte amax and writes the scale: a launch (2.5 us on H100) and one
    # DRAM round trip (0.6 us) for 8 bytes: 3.1 us, plus the write's drain, well under 4 us
    t = estimate(parts[f"fp8_scale_a:qkv_proj{s}"].op, "h100-sxm", level="analytical").seconds
    assert 3.1e-6 <= t < 4e-6
    # without sequence parallelism (amax_group 1) nothing is reduced; delayed and MXFP8 scale without these nodes
    f1, b1 = with_fp8_casts(fwd, backward_graph(fwd), "tensorwise")
    assert not any("fp8_reduce" in n.name for n in f1.nodes + b1.nodes)
    assert sum(n.name.endswith(s) for n in f1.nodes + b1.nodes) == 2 * 2 * 2  # zero + scale, a + dy, 2 GEMMs
    for recipe in ("delayed", "mxfp8", "blockwise"):
        fr, br = with_fp8_casts(fwd, backward_graph(fwd), recipe, amax_group=2)
        assert not any(n.name.endswith(s) for n in fr.nodes + br.nodes)
    # host: the quantize call is counted once (cast + amax, as before); the new nodes are no op and no parameter
    est = estimate(f, "h100-sxm", level="analytical")
    assert graph_ops(est) == 2 * (2 + 2 * 2 * 2)  # 2 layers x (2 GEMMs + 2 operands x (cast + amax) x 2 GEMMs)
    assert param_tensors(est, biases=False) == param_tensors(estimate(f1, "h100-sxm", level="analytical"), False)
    # a grouped GEMM: each expert tensor with rows is its own call: 3 zero and 3 scale kernels per layer
    experts = GroupedGemm(groups=4, n=1024, k=512, m_per_group=(256, 256, 256, 0), dtype="fp8_e4m3")
    fe, _ = with_fp8_casts(Graph((Node(experts, 2, "experts_up"),)), Graph(()), "tensorwise", amax_group=2)
    pe = {n.name: n for n in fe.nodes}
    assert pe[f"fp8_scale_a:experts_up{s}"].count == 2 * 3 and f"fp8_reduce_a:experts_up{s}" not in pe
    assert pe[f"fp8_amax_a:experts_up{PER_EXPERT_SUFFIX}"].count == 2 * 2


def test_megatron_sequence_parallel_fp8_step_reduces_amaxes_over_tp():
    """train(): TE current scaling under TP 2 with sequence parallelism all-reduces the amax of linear_qkv's and
    linear_fc1's inputs (forward) and of linear_proj's and linear_fc2's output gradients (backward), once per
    layer each: 2 layers -> 4 forward, 4 backward; without sequence parallelism, none."""
    kwargs = dict(seq_len=1024, global_batch=8, micro_batch=4, recompute="none", level="analytical",
                  check_memory=False, dtype="fp8_e4m3", fp8_recipe="tensorwise", tp=2)
    sp = llm.train(TINY, "h100-sxm", sp=True, **kwargs)
    no_sp = llm.train(TINY, "h100-sxm", sp=False, **kwargs)

    def reduces(graph: Estimate) -> float:
        return sum(count for name, count, _e in graph.parts if name.startswith("fp8_reduce_"))

    assert reduces(sp.forward) == 4 and reduces(sp.backward) == 4
    assert reduces(no_sp.forward) == 0 and reduces(no_sp.backward) == 0


def test_te_norm_takes_the_amax_of_the_linear_it_feeds_under_current_scaling():
    """TE's layernorm_fwd / rmsnorm_fwd with a current-scaling quantizer (Impl::FUSED_NORM_AMAX_FP8): the norm
    kernel writes its bf16 output and its amax, then quantize_with_amax scales and casts; linear_qkv's input has no
    amax pass of its own, linear_proj's (fed by the attention, not a norm) keeps its amax kernel."""
    from accelscope.llm.train import with_fp8_casts
    from accelscope.llm.train_host import IN_QUANTIZE_SUFFIX
    from accelscope.workload.ops import Gemm, Graph, Node, Norm

    qkv, proj = Gemm(1024, 1536, 512, dtype="fp8_e4m3"), Gemm(1024, 512, 512, dtype="fp8_e4m3")
    fwd = Graph((Node(Norm(rows=1024, hidden=512), 2, "attn_norm"), Node(qkv, 2, "qkv_proj"),
                 Node(proj, 2, "o_proj")))
    f, _ = with_fp8_casts(fwd, Graph(()), "tensorwise")
    names = [n.name for n in f.nodes]
    s = IN_QUANTIZE_SUFFIX
    assert names[:6] == ["attn_norm", f"fp8_zero_a:qkv_proj{s}", f"fp8_scale_a:qkv_proj{s}", "fp8_cast_a:qkv_proj",
                         "fp8_amax_w:qkv_proj", "fp8_cast_w:qkv_proj"]
    assert "fp8_amax_a:o_proj" in names
    # without the norm in the graph the linear's input needs its own amax pass; MXFP8 has no amax at all
    f2, _ = with_fp8_casts(Graph(fwd.nodes[1:]), Graph(()), "tensorwise")
    assert "fp8_amax_a:qkv_proj" in [n.name for n in f2.nodes]
