"""Host (framework) time of a training step: llm/train_host.py, and the MT rows that are not steady."""

from __future__ import annotations

import pytest

from accelscope import llm
from accelscope.llm.train_host import graph_ops, host_excess, micro_batch_ops, param_tensors, wgrad_ops
from accelscope.measure.dataset import MeasuredRow
from accelscope.measure.training_rows import mt_unsteady
from accelscope.workload.model_config import ModelConfig

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


def _mt_row(value: float, notes: str) -> MeasuredRow:
    return MeasuredRow(id="MT-9999", hardware="NVIDIA GB200", category="llm_training", op="", dtype="bf16",
                       shape={}, metric="iteration_time_median", value=value, unit="s", notes=notes)


def test_mt_rows_whose_steps_are_not_steady_are_not_scored():
    # median 1.30 s over a fastest step of 1.00 s: 1.30 > 1.25, not steady; 1.20 s is
    reason = mt_unsteady(_mt_row(1.30, "Median (computed here) of the 127 logged times (min 1.0, max 3.2 s)"))
    assert reason is not None and reason.startswith("not steady") and "1.30 x" in reason
    assert mt_unsteady(_mt_row(1.20, "Median of the 127 logged times (min 1.0, max 3.2 s)")) is None
    assert mt_unsteady(_mt_row(1.30, "no statistics given")) is None
