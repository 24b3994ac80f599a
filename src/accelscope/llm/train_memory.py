"""Training memory per device, term by term, from the model's structure and the framework's sharding.

Persistent state (what `torch.cuda.memory_allocated()` shows after an optimizer step, "steady"):
- weights: bf16 parameters of the device's share of its pipeline stage. Dense parameters (attention, dense MLP,
  shared experts, router, norms) are split over TP; routed-expert parameters over EP x ETP (expert tensor
  parallel); the word embedding (first stage) and the output layer (last stage; a tied embedding keeps its copy
  there too, as Megatron-LM does when pp > 1) over TP. ZeRO-3 / FSDP keeps no bf16 copy between steps: its
  weights are the fp32 master shard (4 B / parameter / shard group).
- gradients: fp32 main gradients (Megatron-LM's contiguous grad buffer, 4 B; ZeRO-2/3 shard them).
- optimizer: Adam moments (8 B) plus the fp32 master copy (4 B) where the weights are bf16, sharded by ZeRO >= 1
  (Megatron-LM's distributed optimizer) over the data-parallel group that holds replicas: dp x cp ranks for
  dense parameters, dp x cp x tp / (ep x etp) ranks for expert parameters.
- fp8_weights: Transformer Engine keeps an FP8 copy of every linear weight and its transpose (2 x 1 B) between
  micro-batches when the GEMMs run in FP8 (torchao casts per GEMM instead: `fp8_weight_cache=False`).

Peak = steady + activations of the micro-batches in flight + the largest transient:
- activations per layer and micro-batch, counted tensor by tensor (bf16 unless noted) from what autograd saves:
  attention: norm input, QKV-GEMM input, Q, K, V (GQA: K/V at kv_heads), the attention output (also the
  O-projection input) and its fp32 log-sum-exp (FlashAttention stores no score matrix; unfused "math"
  attention stores the softmax and, with attention dropout, its mask and output: Korthikanti et al. 2022);
  MLP: norm input, FC1 input, FC1 output (2 x ffn for SwiGLU), activation output; MoE: router logits (fp32),
  the permuted tokens (top-k copies), FC1/activation outputs at top-k x tokens, the expert outputs before the
  weighted combine; dropout masks (1 B) where hidden dropout is on. Sequence parallelism divides the
  hidden-sized tensors by tp; context parallelism divides every token count by cp.
- recompute "full": only each layer's input (plus one layer's full set while it is recomputed); "selective":
  Megatron-LM's core-attention recompute (drops only the unfused score matrix); "op_sac": torchtitan's per-op
  selective AC (saves the outputs of every other matmul and of attention, recomputes the rest from the layer
  input: torchtitan/models/llama3/infra/parallelize.py `_save_list`, "only save every other mm").
- micro-batches in flight at pipeline stage r of p (Megatron-LM schedules.py warm-up counts): 1F1B holds
  p - r; interleaved with v virtual stages holds (2(p - r - 1) + (v - 1)p + 1) chunks of 1/v of the stage.
- PyTorch FSDP2 under pipeline parallelism (`fsdp_pp_unsharded`, torchtitan): each stage's parameters stay
  unsharded between micro-batches ("For PP, do not reshard after forward to avoid per-microbatch all-gathers",
  torchtitan parallelize_llama.py apply_fsdp: reshard_after_forward=False when PP is on) and its gradients
  accumulate unsharded in the fp32 reduce dtype until the last micro-batch's backward, the only one that syncs
  (torch.distributed.pipelining PipelineStage._configure_data_parallel_mode: requires_gradient_sync only on the
  last backward): the stage's bf16 parameters (2 B) and fp32 gradients (4 B) on top of the shards, with no
  per-layer gather transient.
- transients: the output logits of the last stage (bf16 logits, their fp32 copy and the fp32 softmax kept for
  the backward: 10 B per logit, 6 B with a fused cross-entropy), FSDP's all-gathered bf16 layers (the current
  and the prefetched one) and one layer's unsharded fp32 gradients before its reduce-scatter.

`reserve`: what the runtime holds besides PyTorch's allocations (CUDA context and library workspaces) and the
caching allocator's reserved-but-unallocated pool; 0 unless asked for (Megatron-LM's and most logged figures
are allocator bytes).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import ClassVar

from ..hardware.dtypes import dtype_bytes
from ..perf.memo import memoized
from ..workload.llm_graph import Parallelism, mtp_count, stage_layers
from ..workload.model_config import ModelConfig
from .memory import MemoryParts

FP16_GRAD_BYTES = 2  # fp16 training's gradient buffer
GRAD_BYTES = 4  # fp32 main gradients (Megatron-LM default for bf16 training: grads accumulated in fp32)
PARAM_BYTES = 2  # bf16 model weights (FP8 training keeps bf16 weights and casts per GEMM)
MASTER_BYTES = 4  # fp32 master weights
MOMENT_BYTES = 8  # Adam m + v in fp32
OPTIMIZER_BYTES = MASTER_BYTES + MOMENT_BYTES
FP8_WEIGHT_BYTES = 2  # Transformer Engine: FP8 weight + its FP8 transpose, kept across micro-batches
# Per logit at the loss: the bf16 logits and their fp32 copy, which Megatron-LM's vocab-parallel cross entropy
# shifts, exponentiates and normalises in place and saves as the softmax for the backward (cross_entropy.py:
# `vocab_parallel_logits -= logits_max`, `torch.exp(..., out=...)`, `ctx.save_for_backward(exp_logits, ...)`);
# the backward writes the gradient into the same fp32 buffer. The fused variant keeps the same two buffers.
LOGIT_BYTES = {"fp32": 2 + 4, "fused": 2 + 4}
# [s, b, h] tensors an MTP layer saves beside its decoder layer (Megatron Core MultiTokenPredictionLayer.forward):
# the shifted tokens' embedding, the decoder's hidden states, enorm's and hnorm's outputs (concatenated: eh_proj's
# input), final_layernorm's input and the output layer's input
MTP_SAVED_HIDDEN = 6
# cuBLAS workspaces held in PyTorch's allocator: PyTorch's handle takes 32 MiB on Hopper by default
# (CublasHandlePool.cpp getDefaultWorkspaceSize: 4096 KiB x 8 on sm90) and the same under the
# CUBLAS_WORKSPACE_CONFIG=:4096:8 that deterministic runs set; Transformer Engine's GEMM workspace follows
# cuBLAS's recommendation (cublasSetWorkspace docs: 4 MiB before Hopper, 32 MiB on Hopper and later).
TORCH_CUBLAS_WORKSPACE = 32 * 2**20
CUBLAS_WORKSPACE = {"pre-hopper": 4 * 2**20, "hopper+": 32 * 2**20}
# Transformer Engine runs a grouped GEMM's groups over its compute streams, each with a cuBLAS workspace of its own
# (GroupedLinear, Megatron Core's TEGroupedMLP: module/base.py get_multi_stream_cublas_workspace, allocated at the
# first grouped GEMM and kept; 4 streams: transformer_engine/common/util/multi_stream.cpp num_compute_streams)
TE_GROUPED_GEMM_STREAMS = 4
# The CUDA context, cuBLAS/cuDNN workspaces and NCCL's channel buffers of a training process on a Hopper-class
# GPU (PyTorch's notes on CUDA memory: the context is "usually 300-500 MB" plus lazily loaded kernels). Not in
# PyTorch's allocator statistics; counted when asking whether a run fits.
RUNTIME_RESERVE_BYTES = 1.0e9


@dataclass(frozen=True, slots=True)
class TrainMemory(MemoryParts):
    weights: float
    gradients: float
    optimizer: float
    activations: float
    capacity: float
    fp8_weights: float = 0.0
    transient: float = 0.0  # logits, gathered FSDP layers, a recomputed layer: the largest at any moment
    reserve: float = 0.0  # CUDA context / NCCL buffers / allocator pool (outside PyTorch's allocations)
    workspace: float = 0.0  # library workspaces held in PyTorch's allocator (cuBLAS / Transformer Engine)
    stage: int = 0  # the pipeline stage these figures are for
    transient_kind: str = ""

    PARTS: ClassVar[tuple[str, ...]] = ("weights", "gradients", "optimizer", "fp8_weights", "workspace",
                                        "activations", "transient", "reserve")

    @property
    def steady(self) -> float:
        """Allocated bytes between steps: the persistent state (what Megatron-LM logs after a step)."""
        return self.weights + self.gradients + self.optimizer + self.fp8_weights + self.workspace

    @property
    def peak_allocated(self) -> float:
        """The allocator's peak: persistent state, activations in flight and the largest transient."""
        return self.steady + self.activations + self.transient

    @property
    def peak(self) -> float:
        return self.total

    def to_dict(self) -> dict[str, float]:
        out = MemoryParts.to_dict(self)
        out.update(steady=self.steady, peak_allocated=self.peak_allocated, stage=self.stage)
        return out

    def largest(self) -> str:
        return max(self.PARTS, key=lambda part: getattr(self, part))


@dataclass(frozen=True, slots=True)
class MemoryOptions:
    zero: int = 1
    micro_batch: int = 1
    seq_len: int = 4096
    recompute: str = "selective"
    vpp: int = 1
    micro_batches: int = 1
    etp: int | None = None
    attention: str | None = None  # "math": unfused attention stores its score matrix
    attention_dropout: bool = False
    hidden_dropout: bool = False
    fp8: bool = False
    fp8_weight_cache: bool | None = None  # None: Transformer Engine's behaviour when fp8 (a cached FP8 copy)
    cross_entropy: str = "fp32"  # "fp32" | "fused"
    act_bytes: float = 2.0
    reserve: float = 0.0
    workspace: float = 0.0
    fsdp_pp_unsharded: bool = False  # PyTorch FSDP2 under PP: the stage's params and grads stay unsharded
    optimizer: str = "adam"  # "muon": Megatron's Muon + Adam states per tensor (llm/muon.py)
    muon_sharding: str = "balanced"  # dist_muon's deal of whole tensors: "balanced" | "ping_pong" (llm/muon.py)
    last_rank: bool = False  # report the last data-parallel rank's state (what Megatron logs), not the heaviest
    optimizer_instances: int = 1  # distributed-optimizer copies across data parallelism (each shards over dp / n)
    deferred_wgrads: int = 0  # micro-batches whose output-layer input and gradient the last stage holds
    fp16: bool = False  # fp16 parameters: Megatron's gradient buffer in fp16, the optimizer's fp32 copy beside it


def library_workspace(hopper_or_later: bool, te_grouped_gemm: bool = False) -> float:
    """cuBLAS workspaces in PyTorch's allocator: PyTorch's handle's and Transformer Engine's GEMM workspace, plus
    one per compute stream when Transformer Engine runs grouped GEMMs (MoE experts)."""
    te_workspace = CUBLAS_WORKSPACE["hopper+" if hopper_or_later else "pre-hopper"]
    streams = TE_GROUPED_GEMM_STREAMS if te_grouped_gemm else 0
    return TORCH_CUBLAS_WORKSPACE + te_workspace * (1 + streams)


def expert_tp(par: Parallelism, etp: int | None) -> int:
    return etp if etp is not None else max(par.tp // par.ep, 1)


# a pure function of frozen inputs (the model config and the layout; no module constant), so it is kept for the
# process rather than per memo scope (perf/memo.py): every estimate of a (model, layout), cold ones included,
# reads each stage's count (the busiest stage's, train._local_params, loops over all of them: 126 layers of 405B)
@functools.lru_cache(maxsize=4096)
def stage_params(config: ModelConfig, par: Parallelism, stage: int, etp: int | None = None
                 ) -> tuple[float, float]:
    """(dense, expert) parameters held by one device of pipeline stage `stage`."""
    dense = expert = 0.0
    layers = stage_layers(config, par, stage)
    for index in layers:
        params = config.layer_params(index)
        if config.is_moe_layer(index):
            assert config.moe is not None
            routed = config.moe.experts * config.mlp_params(config.moe.intermediate)
            expert += routed
            params -= routed
        dense += params
    if stage == 0:
        dense += (config.vocab + config.learned_positions) * config.hidden
    if stage == par.pp - 1 and (not config.tie_embeddings or par.pp > 1):
        dense += config.vocab * config.hidden
    if mtp := mtp_count(config, layers):
        dense += mtp * mtp_own_params(config)
        if stage > 0:  # the MTP stage's own embedding (gpt_model.py: `if self.pre_process or self.mtp_process`)
            dense += config.vocab * config.hidden
    return dense / par.tp, expert / (par.ep * expert_tp(par, etp))


def mtp_own_params(config: ModelConfig) -> int:
    """Parameters of one MTP layer beside its decoder layer: eh_proj (2h x h) and enorm, hnorm, final_layernorm
    (Megatron Core MultiTokenPredictionLayer)."""
    norm = config.hidden * (2 if config.norm == "layer" else 1)
    return 2 * config.hidden * config.hidden + 3 * norm


def replica_groups(par: Parallelism, etp: int | None) -> tuple[int, int]:
    """Ranks holding a replica of a dense / an expert parameter: ZeRO shards states over them."""
    dense = par.dp * par.cp
    expert = max(par.dp * par.cp * par.tp // (par.ep * expert_tp(par, etp)), 1)
    return dense, expert


def layer_activation_bytes(config: ModelConfig, index: int, par: Parallelism, tokens: float,
                           opts: MemoryOptions) -> float:
    """Bytes autograd keeps for one layer of one micro-batch of `tokens` tokens (this CP rank's)."""
    a, t = opts.act_bytes, par.tp
    h = config.hidden
    hs = h / (t if par.sp else 1)  # hidden-sized tensors: split by tp under sequence parallelism
    mask = (1.0 if opts.hidden_dropout else 0.0) * hs
    heads = config.heads / t
    kv_heads = max(config.kv_heads / t, 1.0)
    if config.mla is not None:
        m = config.mla
        q_dim = heads * (m.qk_nope_head_dim + m.qk_rope_head_dim)
        kv_dim = q_dim + heads * m.v_head_dim
        o_dim = heads * m.v_head_dim
        latents = (m.q_lora_rank or 0) + m.kv_lora_rank + m.qk_rope_head_dim
        qkv = a * (q_dim + kv_dim + latents)
    else:
        o_dim = heads * config.head_dim
        qkv = a * (heads + 2 * kv_heads) * config.head_dim
    attention = 2 * a * hs + qkv + a * o_dim + 4 * heads + mask  # norm in, QKV in, Q/K/V, O, lse, mask
    scores = 0.0
    if opts.attention == "math":
        seq = opts.seq_len / par.cp
        per_score = a + ((1 + a) if opts.attention_dropout else 0)  # softmax (+ dropout mask and output)
        scores = heads * seq * per_score  # per token: a row of seq scores per head
    if config.is_moe_layer(index):
        moe = config.moe
        assert moe is not None
        width = moe.intermediate / expert_tp(par, opts.etp)
        up = 2 * width if config.mlp == "swiglu" else width
        routed = moe.top_k * moe.imbalance  # token copies reaching this device's experts, per local token
        mlp = 2 * a * hs + 4 * moe.experts + routed * (a * h + a * up + a * width + a * h)
        if moe.shared_experts:
            sw = moe.shared_intermediate / t
            mlp += a * ((2 * sw if config.mlp == "swiglu" else sw) + sw)
        mlp += mask
    else:
        width = config.intermediate / t
        up = 2 * width if config.mlp == "swiglu" else width
        mlp = 2 * a * hs + a * up + a * width + mask  # norm in, FC1 in, FC1 out, act out
    full = attention + scores + mlp
    if opts.recompute == "full":
        return a * hs * tokens
    if opts.recompute == "selective":
        return (attention + mlp) * tokens
    if opts.recompute == "op_sac":
        return a * hs * tokens + _sac_saved(config, index, par, opts) * tokens
    return full * tokens


def _sac_saved(config: ModelConfig, index: int, par: Parallelism, opts: MemoryOptions) -> float:
    """Bytes per token torchtitan's per-op SAC saves in a layer: attention's output and log-sum-exp, and the output
    of every other matmul in execution order (wq, wk, wv, wo, w1, w3, w2: wq, wv, w1, w2 kept)."""
    a, t = opts.act_bytes, par.tp
    heads = config.heads / t
    kv_heads = max(config.kv_heads / t, 1.0)
    outs = [heads * config.head_dim, kv_heads * config.head_dim, kv_heads * config.head_dim, config.hidden]
    if config.is_moe_layer(index):
        moe = config.moe
        assert moe is not None
        width = moe.intermediate / expert_tp(par, opts.etp) * moe.top_k
    else:
        width = config.intermediate / t
    outs += [width, width, config.hidden] if config.mlp == "swiglu" else [width, config.hidden]
    kept = sum(out for i, out in enumerate(outs) if i % 2 == 0)
    return a * (kept + heads * config.head_dim) + 4 * heads


def in_flight(pp: int, stage: int, vpp: int, micro_batches: int) -> float:
    """Micro-batches of this stage's layers whose activations are held at once (Megatron-LM's warm-up counts)."""
    if pp == 1:
        return 1.0
    if vpp == 1:
        return float(min(pp - stage, micro_batches))
    chunks = 2 * (pp - stage - 1) + (vpp - 1) * pp + 1
    return min(chunks, micro_batches * vpp) / vpp


def chunk_in_flight(pp: int, stage: int, vpp: int, micro_batches: int) -> list[int]:
    """Forward passes of each of the rank's model chunks whose activations are held at the interleaved schedule's
    peak: its warm-up forwards and the first steady one (`in_flight`'s count), the k-th on chunk (k // pp) % vpp
    (Megatron Core schedules.py get_model_chunk_id). With chunks of equal layers this is `in_flight`."""
    forwards = min(2 * (pp - stage - 1) + (vpp - 1) * pp + 1, micro_batches * vpp)
    counts = [0] * vpp
    for k in range(forwards):
        counts[(k // pp) % vpp] += 1
    return counts


def _chunk_activations(config: ModelConfig, par: Parallelism, stage: int, tokens: float, opts: MemoryOptions,
                       hidden_row: float) -> float:
    """A rank's activations under the interleaved schedule when its model chunks hold unequal layers (a Megatron
    layout, the embedding or the loss counted as a layer): each chunk's micro-batch times its forwards in flight."""
    assert par.stage_split is not None
    chunks = par.stage_split[stage::par.pp]
    layer_opts = _activation_options(opts)
    total = 0.0
    for index, (chunk, held) in enumerate(zip(chunks, chunk_in_flight(par.pp, stage, len(chunks),
                                                                        opts.micro_batches), strict=True)):
        micro = sum(layer_activation_bytes(config, i, par, tokens, layer_opts) for i in chunk)
        micro += MTP_SAVED_HIDDEN * hidden_row * mtp_count(config, chunk)
        if stage == 0 and index == 0:
            micro += hidden_row  # embedding output
        total += held * micro
    return total


def stage_memory(config: ModelConfig, capacity: float, par: Parallelism, stage: int, opts: MemoryOptions
                 ) -> TrainMemory:
    dense, expert = stage_params(config, par, stage, opts.etp)
    dense_group, expert_group = replica_groups(par, opts.etp)
    if opts.optimizer_instances > 1:  # each distributed-optimizer instance shards over its own ranks
        dense_group = max(dense_group // opts.optimizer_instances, 1)
        expert_group = max(expert_group // opts.optimizer_instances, 1)
    zero = opts.zero
    params = dense + expert
    sharded = dense / dense_group + expert / expert_group  # one ZeRO shard of this device's parameters
    if zero >= 3:
        weights = sharded * MASTER_BYTES  # the fp32 shard is the only persistent copy (FSDP)
        optimizer = sharded * MOMENT_BYTES
    else:
        weights = params * PARAM_BYTES
        optimizer = (sharded if zero >= 1 else params) * OPTIMIZER_BYTES
    if opts.optimizer == "muon":  # whole tensors' Muon or Adam states, as the layer-wise optimizer deals them
        from .muon import stage_tensors
        from .muon import state_bytes as muon_state_bytes  # (muon.py reads this module's byte sizes)

        tensors = stage_tensors(config, par, stage, expert_tp(par, opts.etp))
        optimizer = muon_state_bytes(tensors, (dense_group, expert_group),
                                     "replicated" if zero == 0 else opts.muon_sharding, opts.last_rank)
    gradients = (sharded if zero >= 2 else params) * GRAD_BYTES
    if opts.fp16 and zero == 0:
        # fp16 training keeps its gradient buffer in fp16 (Megatron sets --accumulate-allreduce-grads-in-fp32 only for
        # bf16), and Float16OptimizerWithFloat16Params' `main_param.grad = model_param.main_grad.float()`
        # (optimizer.py _copy_model_grads_to_main_grads) adds an fp32 copy of every gradient, kept until the next
        # step's zero_grad. (The distributed optimizer's fp16 runs read right with one fp32 buffer: MT-0589..0596.)
        gradients = params * (FP16_GRAD_BYTES + GRAD_BYTES)
    unsharded = zero >= 3 and par.pp > 1 and opts.fsdp_pp_unsharded
    if unsharded:  # FSDP2 under PP: the stage held unsharded between micro-batches, its gradients accumulated so
        weights += params * PARAM_BYTES
        gradients += params * GRAD_BYTES if opts.micro_batches > 1 else 0.0
    cache = opts.fp8_weight_cache if opts.fp8_weight_cache is not None else (opts.fp8 and zero < 3)
    fp8_weights = params * FP8_WEIGHT_BYTES if opts.fp8 and cache else 0.0
    tokens = opts.micro_batch * opts.seq_len / par.cp
    layers = stage_layers(config, par, stage)
    per_micro = _micro_batch_activations(config, par, stage, tokens, _activation_options(opts))
    hidden_row = opts.act_bytes * tokens * config.hidden / (par.tp if par.sp else 1)  # one [s, b, h] tensor
    if stage == 0:
        per_micro += hidden_row  # embedding output
    mtp = mtp_count(config, layers)
    # an MTP layer's own saved tensors: its embedding output, the decoder's hidden states it normalises, the two
    # norms' outputs concatenated (eh_proj's 2h input), its final norm's input and the output layer's input
    per_micro += mtp * MTP_SAVED_HIDDEN * hidden_row
    if stage == par.pp - 1 and opts.deferred_wgrads:
        # --defer-embedding-wgrad-compute: the output layer's input (gathered over SP: every token) and its bf16 output
        # gradient kept per deferred micro-batch until the drain (tensor_parallel/layers.py embedding_activation_buffer,
        # grad_output_buffer)
        full_row = opts.act_bytes * tokens * config.hidden
        deferred = opts.deferred_wgrads * (full_row + opts.act_bytes * tokens * config.vocab / par.tp)
    else:
        deferred = 0.0
    if par.stage_split is not None and len(par.stage_split) > par.pp:  # model chunks of unequal layers
        activations = _chunk_activations(config, par, stage, tokens, opts, hidden_row)
    else:
        activations = per_micro * in_flight(par.pp, stage, opts.vpp, opts.micro_batches)
    activations += deferred
    transients = {"none": 0.0}
    losses = (stage == par.pp - 1) + mtp
    if losses:  # each loss saves its softmax for the backward: the MTP losses' and the main one's live together
        transients["logits"] = losses * tokens * config.vocab / par.tp * LOGIT_BYTES.get(opts.cross_entropy, 10)
    if opts.recompute in ("full", "op_sac") and len(layers):
        redo = MemoryOptions(**{**_fields(opts), "recompute": "none"})
        transients["recomputed_layer"] = layer_activation_bytes(config, layers[0], par, tokens, redo)
    if zero >= 3 and len(layers) and not unsharded:
        layer = (dense + expert) / max(len(layers), 1)
        transients["gathered_layers"] = layer * (2 * PARAM_BYTES + GRAD_BYTES)
    kind = max(transients, key=transients.__getitem__)
    return TrainMemory(weights=weights, gradients=gradients, optimizer=optimizer, activations=activations,
                       capacity=capacity, fp8_weights=fp8_weights, transient=transients[kind], reserve=opts.reserve,
                       workspace=opts.workspace,
                       stage=stage, transient_kind=kind)


@memoized
def _micro_batch_activations(config: ModelConfig, par: Parallelism, stage: int, tokens: float,
                             opts: MemoryOptions) -> float:
    """Bytes autograd keeps for one micro-batch of the stage's layers."""
    return sum(layer_activation_bytes(config, i, par, tokens, opts) for i in stage_layers(config, par, stage))


def _activation_options(opts: MemoryOptions) -> MemoryOptions:
    """The options with the fields one micro-batch's activations do not read (layer_activation_bytes,
    _sac_saved) set to their defaults, so a planner's layouts that differ only in the ZeRO stage, the pipeline
    schedule (vpp, micro-batch count) or the reserves share the sum (perf/memo.py)."""
    return replace(opts, zero=1, vpp=1, micro_batches=1, reserve=0.0, workspace=0.0, optimizer="adam",
                   muon_sharding="balanced", last_rank=False, optimizer_instances=1, deferred_wgrads=0, fp16=False)


def _fields(opts: MemoryOptions) -> dict:
    return {name: getattr(opts, name) for name in MemoryOptions.__dataclass_fields__}


def train_memory(config: ModelConfig, capacity: float, par: Parallelism, opts: MemoryOptions,
                 stage: int | None = None) -> TrainMemory:
    """Memory of one device of pipeline stage `stage` (None: the stage with the highest peak; -1: the last)."""
    if stage is not None:
        return stage_memory(config, capacity, par, stage % par.pp, opts)
    candidates = sorted({0, par.pp - 1, min(1, par.pp - 1)})
    return max((stage_memory(config, capacity, par, s, opts) for s in candidates), key=lambda m: m.total)


def act_bytes(dtype: str) -> float:
    return float(dtype_bytes(dtype))
