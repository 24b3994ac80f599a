"""Training memory by term and the training-step bugs of issue 21, each checked against a hand derivation."""

from __future__ import annotations

import pytest

from accelscope import llm
from accelscope.llm.train_memory import (
    CUBLAS_WORKSPACE,
    TORCH_CUBLAS_WORKSPACE,
    MemoryOptions,
    in_flight,
    layer_activation_bytes,
)
from accelscope.workload.llm_graph import Parallelism
from accelscope.workload.model_config import ModelConfig


def test_moe_experts_are_sharded_over_ep():
    """Qwen3-30B-A3B on 8 GPUs with EP 8 (tp 1): each device holds 1/8 of the routed experts, all of the rest.
    By hand, per layer: QKV 2048 x (32 + 2 x 4) x 128 = 10,485,760, O 4096 x 2048 = 8,388,608, router
    2048 x 128 = 262,144, norms 2 x 2048 = 4,096 -> 19,140,608 dense; experts 128 x 3 x 2048 x 768 = 603,979,776.
    48 layers: dense 918,749,184 + embedding and LM head 2 x 151,936 x 2048 = 622,329,856 -> 1,541,079,040;
    experts 28,991,029,248 / 8 = 3,623,878,656. bf16 weights: 2 x 5,164,957,696 = 10,329,915,392 B (it was
    61 GB: every expert on every device)."""
    r = llm.train("qwen3-30b-a3b", "h100-sxm", ep=8, dp=8, seq_len=4096, global_batch=64, zero=1,
                  check_memory=False)
    assert r.memory.weights == pytest.approx(10_329_915_392)
    # ZeRO-1 shards Adam + fp32 master (12 B) over the replicas: dense over dp = 8, experts over dp / ep = 1
    assert r.memory.optimizer == pytest.approx(12 * (1_541_079_040 / 8 + 3_623_878_656 / 1))


def test_grouped_gemm_experts_hold_transformer_engines_stream_workspaces():
    """Transformer Engine runs a grouped GEMM over 4 compute streams, each with its own cuBLAS workspace (32 MiB on
    Hopper and later, 4 MiB before), kept in PyTorch's allocator after the first step. By hand: H100, Megatron's
    grouped experts: PyTorch's 32 MiB + TE's 32 MiB + 4 x 32 MiB = 192 MiB; A100: 32 + 4 + 4 x 4 = 52 MiB;
    torch._grouped_mm (torchtitan) or one module per expert: 32 + 32 = 64 MiB; a dense model likewise."""
    mib = 2**20
    moe = dict(ep=8, dp=8, seq_len=4096, global_batch=64, check_memory=False)
    assert llm.train("qwen3-30b-a3b", "h100-sxm", **moe).memory.workspace == 192 * mib
    assert llm.train("qwen3-30b-a3b", "a100-sxm-80gb", **moe).memory.workspace == 52 * mib
    assert llm.train("qwen3-30b-a3b", "h100-sxm", grouped_gemm="torch", **moe).memory.workspace == 64 * mib
    assert llm.train("qwen3-30b-a3b", "h100-sxm", moe_grouped_gemm=False, **moe).memory.workspace == 64 * mib
    dense = llm.train("llama-3.1-8b", "h100-sxm", dp=8, seq_len=4096, global_batch=64, check_memory=False)
    assert dense.memory.workspace == TORCH_CUBLAS_WORKSPACE + CUBLAS_WORKSPACE["hopper+"] == 64 * mib


def test_activation_bytes_by_tensor():
    """One GELU layer, h 1024, 8 heads of 128 (MHA), FFN 4096, tp 1, FlashAttention, no dropout, 1024 tokens.
    Bytes per token (bf16 unless noted): norm input 2h, QKV input 2h, Q/K/V 3 x 2h, attention output 2h,
    log-sum-exp 4 x 8 heads (fp32), MLP norm input 2h, FC1 input 2h, FC1 output 2 x 4096, GELU output 2 x 4096
    = 8192 + 6144 + 2048 + 32 + 16384 = 32,800 B -> 33,587,200 B for 1024 tokens. Full recompute keeps the
    layer input only: 2h x 1024 = 2,097,152 B."""
    config = ModelConfig(name="t", family="gpt", hidden=1024, layers=2, heads=8, kv_heads=8, head_dim=128,
                         intermediate=4096, vocab=1000, mlp="gelu", norm="layer")
    par = Parallelism()
    opts = MemoryOptions(recompute="none", seq_len=1024)
    assert layer_activation_bytes(config, 0, par, 1024, opts) == pytest.approx(33_587_200)
    full = MemoryOptions(recompute="full", seq_len=1024)
    assert layer_activation_bytes(config, 0, par, 1024, full) == pytest.approx(2_097_152)
    # sequence parallelism at tp 2 halves every tensor here (hidden-sized ones by SP, the rest by TP)
    sp = Parallelism(tp=2, sp=True)
    assert layer_activation_bytes(config, 0, sp, 1024, opts) == pytest.approx(33_587_200 / 2)


def test_micro_batches_in_flight_per_schedule():
    """Megatron-LM's warm-up counts: 1F1B stage r of p holds p - r micro-batches; interleaved with v chunks
    holds 2(p - r - 1) + (v - 1)p + 1 chunks of 1/v of the stage: p=4, v=2, r=0: (6 + 4 + 1) / 2 = 5.5; the
    last stage (r=3): (0 + 4 + 1) / 2 = 2.5."""
    assert in_flight(4, 0, 1, 8) == 4
    assert in_flight(4, 3, 1, 8) == 1
    assert in_flight(4, 0, 2, 8) == 5.5
    assert in_flight(4, 3, 2, 8) == 2.5
    assert in_flight(4, 0, 1, 2) == 2  # fewer micro-batches than stages


def test_fsdp_8b_fits_and_its_memory_adds_up():
    """torchtitan's Llama-3-8B on 8 H100 (FSDP2, seq 8192, per-op SAC) ran; per device: fp32 master shard
    4 B/8 + fp32 gradient shard 4 B/8 + Adam 8 B/8 per parameter = 2 B per parameter, ~16 GB for 8.03 B."""
    r = llm.train("llama-3.1-8b", "h100-sxm", dp=8, zero=3, seq_len=8192, global_batch=8, recompute="op_sac")
    params = 8_030_261_248
    steady = r.memory.weights + r.memory.gradients + r.memory.optimizer
    assert steady == pytest.approx(2 * params, rel=0.01)
    assert r.memory.total < r.memory.capacity
    assert r.memory.steady == pytest.approx(steady + TORCH_CUBLAS_WORKSPACE + CUBLAS_WORKSPACE["hopper+"])


def test_does_not_fit_names_the_largest_term():
    """Llama-3.1-405B at TP8 x PP16 x DP64, seq 8192, selective recompute: the first stage holds 16 micro-batches
    of its 8 layers; per token and layer (TP8 + SP, bytes): norm inputs and GEMM inputs 4 x 2h/8 = 16,384,
    Q 2 x 16 x 128 = 4,096, K+V 2 x 2 x 128 = 512, O 4,096, lse 64, FC1 output 2 x 2 x 6,656 = 26,624, SwiGLU
    output 13,312 -> 65,088 B; x 8192 tokens x 8 layers x 16, plus the embedding output (2h/8 per token) of the
    16 micro-batches = 68.8 GB of activations, more than the 80 GB part holds with the 20.7 GB of weights and
    gradients. It fits with full recompute."""
    args = dict(model="llama-3.1-405b", hw="h100-sxm", tp=8, pp=16, dp=64, seq_len=8192, global_batch=2048)
    r = llm.train(**args, recompute="selective", check_memory=False)
    assert r.memory.activations == pytest.approx((65_088 * 8 + 4096) * 8192 * 16, rel=1e-6)
    with pytest.raises(llm.DoesNotFit, match="largest term is activations"):
        llm.train(**args, recompute="selective")
    assert llm.train(**args, recompute="full").memory.total < 80e9


def test_context_parallel_counts_every_rank_tokens():
    """Model FLOPs of a step do not depend on how the sequence is split: with CP each rank runs 1/cp of the
    GEMM tokens and 1/cp of the causal attention pairs, so the step's model FLOPs (TFLOP/s/device x devices x
    step time) equal the cp=1 count. They were 1/cp of it (405B at CP16, 128k: 14 TFLOP/s per GPU)."""
    args = dict(model="llama-3.1-8b", hw="h100-sxm", tp=1, dp=1, seq_len=16384, global_batch=8, check_memory=False)
    one = llm.train(**args, cp=1)
    two = llm.train(**args, cp=2)
    total = [r.model_tflops_per_device * r.devices * r.step_s for r in (one, two)]
    assert total[1] == pytest.approx(total[0], rel=1e-9)
    big = llm.train("llama-3.1-405b", "h100-sxm", tp=8, pp=16, cp=16, dp=8, seq_len=131072, global_batch=64,
                    recompute="full", check_memory=False)
    assert big.model_tflops_per_device > 100


def test_breakdown_shows_tensor_parallel_communication():
    """Megatron-LM without TP comm overlap runs the TP all-gathers / reduce-scatters between the GEMMs: they are
    exposed. The breakdown names them (it showed "exposed comm 0 s" for an 8B model at TP8)."""
    r = llm.train("llama-3.1-8b", "h100-sxm", tp=8, dp=4, seq_len=4096, global_batch=64, level="analytical")
    assert sum(r.breakdown.values()) == pytest.approx(r.step_s)
    assert r.detail["exposed_tp"] > 0.05 * r.step_s
    assert r.breakdown["exposed_comm"] >= r.detail["exposed_tp"]
    hidden = llm.train("llama-3.1-8b", "h100-sxm", tp=8, dp=4, seq_len=4096, global_batch=64, level="analytical",
                       tp_overlap=True)
    assert hidden.detail["exposed_tp"] < r.detail["exposed_tp"]


def test_fsdp2_under_pipeline_parallelism_keeps_the_stage_unsharded():
    """torchtitan's FSDP2 under PP does not reshard after forward and syncs gradients on the last micro-batch only:
    the stage's bf16 parameters (2 B) and fp32 gradients (4 B) are held on top of the shards. Llama-3.1-405B, TP8 x
    PP8 x FSDP8, the first stage (15.75 -> 16 of 126 layers and the embedding): its parameters per TP rank P
    (stage_params) add 2P to the weights and 4P to the gradients with 8 micro-batches, 2P alone with one, and the
    per-layer gather transient goes (the stage is already gathered). Without PP the flag changes nothing."""
    from accelscope.llm.train_memory import stage_params

    kwargs = dict(tp=8, pp=8, dp=8, zero=3, seq_len=8192, micro_batch=1, recompute="full", level="roofline",
                  check_memory=False, sp=True, memory_stage=0)
    sharded = llm.train("llama-3.1-405b", "h100-sxm", global_batch=64, **kwargs)
    held = llm.train("llama-3.1-405b", "h100-sxm", global_batch=64, fsdp_pp_unsharded=True, **kwargs)
    from accelscope.workload.model_config import load_model

    dense, expert = stage_params(load_model("llama-3.1-405b"), Parallelism(tp=8, pp=8, dp=8, sp=True), 0)
    params = dense + expert
    assert held.memory.weights - sharded.memory.weights == pytest.approx(2 * params)
    assert held.memory.gradients - sharded.memory.gradients == pytest.approx(4 * params)
    assert sharded.memory.transient_kind == "gathered_layers" and held.memory.transient_kind != "gathered_layers"
    one = llm.train("llama-3.1-405b", "h100-sxm", global_batch=8, fsdp_pp_unsharded=True, **kwargs)
    assert one.memory.gradients == pytest.approx(sharded.memory.gradients)  # one micro-batch syncs at once
    flat = dict(kwargs, pp=1, dp=64, memory_stage=None)
    assert llm.train("llama-3.1-8b", "h100-sxm", global_batch=64, fsdp_pp_unsharded=True, **flat).memory == \
        llm.train("llama-3.1-8b", "h100-sxm", global_batch=64, **flat).memory


def test_distributed_optimizer_instances_keep_a_larger_shard():
    """Megatron's --num-distributed-optimizer-instances 2 over dp 16: each instance shards Adam's 12 B per parameter
    over 16 / 2 = 8 ranks, so a device keeps twice the single-instance shard."""
    run = dict(dp=16, zero=1, seq_len=4096, global_batch=64, check_memory=False)
    one = llm.train("llama-3.1-8b", "h100-sxm", **run)
    two = llm.train("llama-3.1-8b", "h100-sxm", optimizer_instances=2, **run)
    assert two.memory.optimizer == pytest.approx(2 * one.memory.optimizer)
    assert two.memory.weights == one.memory.weights and two.memory.gradients == one.memory.gradients
    with pytest.raises(ValueError, match="optimizer_instances=2: copies of Megatron's distributed optimizer"):
        llm.train("llama-3.1-8b", "h100-sxm", optimizer_instances=2, **{**run, "zero": 3})


def test_deferred_output_layer_wgrad_keeps_its_operands_per_micro_batch():
    """--defer-embedding-wgrad-compute with --wgrad-deferral-limit 2 on Llama-3.1-8B at tp 2, pp 2, 1,024 tokens per
    micro-batch, 8 micro-batches: the last stage keeps, per deferred micro-batch, the output layer's input (2 B x 1,024
    x 4,096 = 8,388,608, gathered over SP) and its output gradient (2 B x 1,024 x 128,256 / 2 = 131,334,144):
    2 x 139,722,752 = 279,445,504 B; limit 0 keeps all 8 micro-batches, 4x that. Pipeline parallelism is required."""
    run = dict(tp=2, pp=2, seq_len=1024, global_batch=8, micro_batch=1, memory_stage=-1, check_memory=False)
    base = llm.train("llama-3.1-8b", "h100-sxm", **run).memory.activations
    two = llm.train("llama-3.1-8b", "h100-sxm", defer_embedding_wgrad=2, **run).memory.activations
    every = llm.train("llama-3.1-8b", "h100-sxm", defer_embedding_wgrad=0, **run).memory.activations
    assert two - base == pytest.approx(279_445_504)
    assert every - base == pytest.approx(4 * 279_445_504)
    with pytest.raises(ValueError, match="needs pp >= 2"):
        llm.train("llama-3.1-8b", "h100-sxm", defer_embedding_wgrad=2, **{**run, "pp": 1})


def test_fp16_without_the_distributed_optimizer_keeps_fp16_and_fp32_gradients():
    """fp16 training keeps Megatron's gradient buffer in fp16 (2 B; fp32 accumulation is forced only for bf16) and
    Float16OptimizerWithFloat16Params copies every gradient to fp32 (`main_grad.float()`, 4 B) until the next step:
    6 B per parameter against bf16's single fp32 buffer (4 B); the weights and optimizer states are the same."""
    run = dict(dp=8, zero=0, seq_len=2048, global_batch=64, check_memory=False)
    bf16 = llm.train("llama-3.1-8b", "h100-sxm", **run).memory
    fp16 = llm.train("llama-3.1-8b", "h100-sxm", dtype="fp16", **run).memory
    assert fp16.gradients == pytest.approx(bf16.gradients * 6 / 4)
    assert fp16.weights == bf16.weights and fp16.optimizer == bf16.optimizer
