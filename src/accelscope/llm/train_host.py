"""Host (framework) time of a training step: when the CPU that issues the ops is the bound.

An eager PyTorch / Megatron-LM step issues every op of its graph from Python: the module's forward, autograd's
record and, in the backward, autograd's engine walking the graph, each through the dispatcher to a kernel
launch. The GPU runs each kernel asynchronously while the host issues the next, so per op the two overlap and a
micro-batch takes the longer of the two totals, max(GPU time, host time), not their sum. A large model's kernels
(milliseconds each) hide the host completely; a small proxy model's kernels (microseconds) do not, and its step
time is the host's: ops x `runtime.host_op_latency`.

Ops counted per micro-batch: every node occurrence of the forward graph and of the backward graph (recomputed
forward ops included), as the graphs are built (workload.llm_graph, workload.backward). Without Megatron-LM's
`gradient_accumulation_fusion` (`--no-gradient-accumulation-fusion`) each weight gradient is written to its own
tensor and then added into the fp32 `main_grad` buffer by a backward hook (megatron/core/distributed/
distributed_data_parallel.py, `_make_backward_post_hook`: `param.main_grad.add_(param.grad.data)`): one more op
per weight-gradient GEMM; with the fusion the wgrad GEMM accumulates into `main_grad` itself
(megatron/core/tensor_parallel/layers.py, `LinearWithGradAccumulationAndAsyncCommunication`). A MoE layer's
routing and token shuffling add their small ops (MOE_ROUTING_OPS, MOE_AUX_LOSS_OPS), and Megatron-LM's loss path
its own on the last stage (MEGATRON_LOSS_OPS, VOCAB_PARALLEL_CE_OPS, with `train(megatron_loss=True)`).

The host time per op is a property of the host system: the fitted HOST_OP_LATENCY on a reference core over the
system's `runtime.host_speed` (system_host_op_latency).
"""

from __future__ import annotations

import contextvars
import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager

from ..perf import Estimate

# Framework host seconds per graph op on the reference host core (Intel Xeon Platinum 8480C, DGX H100 and H200;
# `system_host_op_latency` divides it by a system's `runtime.host_speed`, its host core's single-thread speed
# relative to this one), for every chip whose spec gives no `runtime.host_op_latency` of its own: a property of the
# host CPU and the eager framework stack, shared across chips like hardware/spec.py's efficiency defaults. Fitted
# by measure/hostfit.py (grid 40-300 us in 10 us steps, least mean |relative error|) on the llm_training rows of
# every source (`accelscope validate all --loso --category llm_training`, "fit on all"): 90 us, and 90 us fitted
# without any one source (before Transformer Engine's linear calls were counted at their own host cost,
# te_module_ops, the folds fitted 90-100 us: MT's TE rows pulled the per-op value up). Alone, the Megatron-LM CI
# runs (MT) prefer 90-100 us on each of their three systems (DGX A100, GB200, DGX H100: with the host speeds and
# the MoE routing and loss ops counted they agree; with one latency for all systems and those ops uncounted they
# wanted 190, 160 and 110 us) and Hugging Face eager Llama-3.2-1B (CU, a graph of aten ops) ~70 us.
HOST_OP_LATENCY = 90e-6
_DEFAULT: contextvars.ContextVar[float] = contextvars.ContextVar("host_op_latency", default=HOST_OP_LATENCY)


def default_host_op_latency() -> float:
    """The host seconds per op for a chip whose spec gives none: HOST_OP_LATENCY, or a refit's value inside
    `host_op_latency_default` (leave-one-source-out scoring, measure/hostfit.py)."""
    return _DEFAULT.get()


def system_host_op_latency(host_op_latency: float | None, host_speed: float | None) -> float:
    """Host seconds per op on a chip's reference system: its spec's `runtime.host_op_latency` where given, else the
    fitted default (on the reference core) divided by the system's `runtime.host_speed`, the single-thread speed of
    its host CPU core relative to the reference core (Xeon Platinum 8480C = 1.0; unset: 1.0). The host's work per
    op (Python, autograd, dispatch, launch) is serial single-thread work, so it scales with one core's speed."""
    if host_op_latency is not None:
        return host_op_latency
    return default_host_op_latency() / (host_speed or 1.0)


@contextmanager
def host_op_latency_default(seconds: float) -> Iterator[None]:
    """Within the block, chips without their own `runtime.host_op_latency` use `seconds` (a refitted value)."""
    token = _DEFAULT.set(seconds)
    try:
        yield
    finally:
        _DEFAULT.reset(token)


def graph_ops(graph: Estimate) -> float:
    """Ops the host issues for one pass of `graph`: the node occurrences (a node's count: one per layer). An op is
    a module call of the graph as built: the aten kernels an eager module is split into (llm/train.py `_eager`:
    `<name>_eager<i>`, e.g. Hugging Face's LlamaRMSNorm as 6 kernels) are one call, counted at its first kernel."""
    return float(sum(count for name, count, _est in graph.parts if not _continues_call(name)))


# Name suffix of the nodes a Transformer Engine quantizer call launches beside its cast and amax kernels (the amax
# reset, the scale kernel, the amax all-reduce: llm/train.py `_current_scaling_nodes`): issued from inside the one
# C++ call, no host op of their own, and no parameter tensor (param_tensors) although named after their GEMM.
IN_QUANTIZE_SUFFIX = "_in_quantize"
# more kernels of one module call: an eager module's later aten kernels (llm/train.py `_eager`), a Transformer
# Engine grouped quantize's kernels for the other experts (llm/train.py `_quantized_tensors`), a current-scaling
# quantize's IN_QUANTIZE_SUFFIX nodes
_EAGER_CONTINUATION = re.compile(rf"(_eager[1-9][0-9]*(_bwd)?|_per_expert|{IN_QUANTIZE_SUFFIX})$")


@functools.lru_cache(maxsize=4096)
def _continues_call(name: str) -> bool:
    """Whether the node named `name` is a later kernel of a module call (_EAGER_CONTINUATION): matched once per
    distinct name, not once per node of every stage's passes."""
    return _EAGER_CONTINUATION.search(name) is not None


def wgrad_ops(backward: Estimate) -> float:
    """Weight-gradient GEMMs of a backward pass (nodes named `<name>_wgrad`, workload.backward)."""
    return float(sum(count for name, count, _est in backward.parts if name.endswith("_wgrad")))


def expert_ops(graph: Estimate) -> float:
    """Ops of the routed experts' GEMMs and activation in a pass (nodes named `experts_*`, workload.llm_graph)."""
    return float(sum(count for name, count, _est in graph.parts if name.startswith("experts_")))


# Host ops of a Megatron-Core MoE layer's routing and token shuffling beyond the graph's one node each for the
# router GEMM, permute, dispatch, combine and unpermute (megatron/core/transformer/moe/router.py TopKRouter,
# moe_utils.py, token_dispatcher.py), each a small aten call. Forward: the input's cast to the router dtype;
# topk_softmax_with_capacity's topk, softmax and its cast back, the probs and routing-map scatters into zeroed
# [tokens, experts] tensors and the map's int/bool casts, tokens_per_expert's sum (10); the dispatcher's local map
# and probs slices made contiguous, tokens_per_expert's long/cpu copy, permute's transpose-contiguous, arange-expand
# and masked_select (8); unpermute's zeroed output, probs transpose-contiguous, masked_select and multiply (6): 24.
# Backward, autograd's mirror of the differentiable ones: the casts, softmax and scatters (gathers), the
# index_select's zero-and-index_add and the probs product's two: 6. The load-balancing loss, only when
# --moe-aux-loss-coeff > 0 (TopKRouter.apply_load_balancing_loss returns at once for 0, Megatron-LM's default):
# the scores' softmax, switch_load_balancing_loss_func's sum, product, sum and scale, the aux-loss tracker's
# detach-add and MoEAuxLossAutoScaler (8 forward) and their gradients (4 backward).
MOE_ROUTING_OPS = {"fwd": 24, "bwd": 6}
MOE_AUX_LOSS_OPS = {"fwd": 8, "bwd": 4}


def moe_routing_ops(forward: Estimate, backward: Estimate, aux_loss: bool = True) -> float:
    """Host ops of the MoE layers' routing beyond the graph's nodes (MOE_ROUTING_OPS per MoE layer, plus
    MOE_AUX_LOSS_OPS with a load-balancing loss), counted by the router's forward and weight-gradient nodes."""
    fwd = sum(count for name, count, _est in forward.parts if name == "router")
    bwd = sum(count for name, count, _est in backward.parts if name == "router_wgrad")
    per_fwd = MOE_ROUTING_OPS["fwd"] + (MOE_AUX_LOSS_OPS["fwd"] if aux_loss else 0)
    per_bwd = MOE_ROUTING_OPS["bwd"] + (MOE_AUX_LOSS_OPS["bwd"] if aux_loss else 0)
    return per_fwd * fwd + per_bwd * bwd


# Megatron-LM's loss path on the last pipeline stage, per micro-batch, in host ops beyond the graph's one
# cross-entropy node each way. Forward: GPTModel.compute_language_model_loss transposes the labels and the loss
# (two contiguous copies) and casts the logits to fp32 (3); pretrain_gpt.py `loss_func` casts the losses and the
# mask, multiplies, sums both, copies the token count and concatenates the report, and tests the loss with isnan
# and isinf (10); pipeline_parallel/schedules.py `forward_step_calc_loss` divides the loss by the clamped token
# count and by the number of micro-batches (3): 16. Backward: the divisions', product's and sum's gradients and the
# transpose's copy (6).
MEGATRON_LOSS_OPS = {"fwd": 16, "bwd": 6}
# Megatron-LM's unfused vocab-parallel cross entropy (megatron/core/tensor_parallel/cross_entropy.py
# _VocabParallelCrossEntropy) beyond the graph's node: forward the max, its all-reduce and the subtraction, the
# target-range mask (two compares and an or), the shifted target (clone, subtract, masked write), the arange and
# gather of the target logits with their copy and masked write and all-reduce, the exp, sum and its all-reduce,
# the log and subtraction, the softmax division kept for the backward (19); backward the arange, the one-hot
# update (cast, subtract, indexed subtract) and the scale by the incoming gradient (6). The fused kernel
# (--cross-entropy-loss-fusion) replaces them.
VOCAB_PARALLEL_CE_OPS = {"fwd": 19, "bwd": 6}


def megatron_loss_ops(forward: Estimate, fused_cross_entropy: bool) -> float:
    """Host ops of Megatron-LM's loss path per micro-batch beyond the graph's cross-entropy nodes, on the stage
    whose forward ends in the loss (MEGATRON_LOSS_OPS, plus VOCAB_PARALLEL_CE_OPS unless the cross entropy is
    fused); 0 on the other stages."""
    if not any(name == "cross_entropy" for name, _count, _est in forward.parts):
        return 0.0
    ops = MEGATRON_LOSS_OPS["fwd"] + MEGATRON_LOSS_OPS["bwd"]
    if not fused_cross_entropy:
        ops += VOCAB_PARALLEL_CE_OPS["fwd"] + VOCAB_PARALLEL_CE_OPS["bwd"]
    return float(ops)


# Host cost of a Transformer Engine linear module call relative to the plain PyTorch linear it replaces: TE's
# Python path (prepare_forward's checks and FP8 metadata, quantizer setup, the autograd Function's saved-tensor
# bookkeeping, the general_gemm wrapper) around the same cuBLAS GEMM. NVIDIA/TransformerEngine issue 2053
# (bf16 Linear forward, hidden 2048, 8192 tokens, CPU time per call): GB200 99.66 us (TE) against 37.08 us
# (torch.nn.Linear), 2.69x; GH200 90.53 against 33.17 us, 2.73x: 2.7, a property of the framework's code path
# (same on both hosts). The backward's dgrad and wgrad calls go through the same wrappers and are counted alike.
TE_LINEAR_HOST_RATIO = 2.7
# Forward GEMM nodes (workload.llm_graph labels) that Megatron-Core's TE layer spec builds as TE linear modules
# (megatron/core/models/gpt/gpt_layer_specs.py: TELayerNormColumnParallelLinear for linear_qkv and linear_fc1,
# TERowParallelLinear for linear_proj and linear_fc2, TELinear / TEColumnParallelLinear for MLA's projections and
# the shared expert); the output layer stays Megatron's own ColumnParallelLinear, the routed experts are counted
# by their own nodes.
_TE_LINEAR = re.compile(r"^(qkv_proj|q_proj|q_a_proj|q_b_proj|kv_a_proj|kv_b_proj|o_proj|(mlp|shared_expert)_"
                        r"(up|gate_up|down))$")


# the sequence-parallel TP collectives around the layer's linears (workload.llm_graph.tp_reduce labels)
_TP_OVERLAPPED = re.compile(r"^(attn|mlp)_allreduce_(rs|ag)(_bwd)?$")


def _count(graph: Estimate, names: set[str]) -> float:
    return float(sum(count for name, count, _est in graph.parts if name in names))


def te_module_ops(forward: Estimate, backward: Estimate, tp_overlap: bool = False) -> float:
    """Host ops a Transformer Engine layer spec adds to (or removes from) the graph's count: each TE linear call,
    forward and each of its backward GEMMs, costs TE_LINEAR_HOST_RATIO ops instead of 1; the norms that
    TELayerNormColumnParallelLinear fuses into the following GEMM (the attention norm before linear_qkv, the MLP
    norm before a dense layer's linear_fc1; a MoE layer's pre-MLP norm stays a TENorm) are no call of their own,
    forward or backward. With FP8 a TE linear quantizes each operand with one quantizer call, which launches the
    amax and the cast (transformer_engine/pytorch/tensor/float8_tensor.py Float8CurrentScalingQuantizer: one
    tex.quantize): the graph's amax node of a TE linear's operand is no call of its own. With `tp_overlap`
    (Megatron-LM --tp-comm-overlap) the sequence-parallel all-gather and reduce-scatter around a TE linear run
    inside its call (TE's userbuffers overlap, module/base.py initialize_ub): those nodes are no call either."""
    linears = {name for name, _count, _est in forward.parts if _TE_LINEAR.match(name)}
    calls = _count(forward, linears) + _count(backward, {f"{n}_{g}" for n in linears for g in ("dgrad", "wgrad")})
    fused = min(_count(forward, {"attn_norm"}), _count(forward, {"qkv_proj"})) + min(
        _count(forward, {"mlp_norm"}), _count(forward, {"mlp_up", "mlp_gate_up"}))
    inside = sum(_count(graph, {name for name, _c, _e in graph.parts
                                if name.startswith("fp8_amax_") and name.split(":")[-1] in linears})
                 for graph in (forward, backward))
    if tp_overlap:
        inside += sum(_count(graph, {name for name, _c, _e in graph.parts if _TP_OVERLAPPED.search(name)})
                      for graph in (forward, backward))
    return (TE_LINEAR_HOST_RATIO - 1.0) * calls - 2.0 * fused - inside


def micro_batch_ops(forward: Estimate, backward: Estimate, grad_accumulation_fusion: bool = True,
                    local_experts: int = 1, moe_aux_loss: bool = True, te_modules: bool = False,
                    tp_overlap: bool = False) -> float:
    """Ops of one micro-batch's forward + backward; without gradient-accumulation fusion, one `main_grad.add_`
    per weight gradient more. `local_experts` > 1: the experts run one after the other, each its own module call
    (Megatron-LM without --moe-grouped-gemm: megatron/core/transformer/moe/experts.py `SequentialMLP` loops over
    its local experts, each an MLP of fc1, activation and fc2), so each expert op of the graph is issued
    `local_experts` times; grouped (TEGroupedMLP, the graph's GroupedGemm) it is one call."""
    extra = 0.0 if grad_accumulation_fusion else wgrad_ops(backward)
    extra += (local_experts - 1) * (expert_ops(forward) + expert_ops(backward))
    extra += moe_routing_ops(forward, backward, moe_aux_loss)
    if te_modules:
        extra += te_module_ops(forward, backward, tp_overlap)
    return graph_ops(forward) + graph_ops(backward) + extra


def host_excess(gpu_seconds: float, ops: float, host_op_latency: float | None) -> float:
    """Seconds a micro-batch waits on the host beyond its GPU time: max(0, ops x latency - GPU time). The GPU
    and the host overlap op by op, so the micro-batch takes max(GPU, host) = GPU time + this excess."""
    if not host_op_latency:
        return 0.0
    return max(0.0, ops * host_op_latency - gpu_seconds)


# Forward-graph node names that carry parameters (workload.llm_graph labels): the GEMMs, norms and the embedding
PARAM_NODE_KEYS = ("proj", "gate_up", "_up", "_down", "router", "norm", "embedding")
# Host ops per local parameter tensor of one optimizer step (Megatron-LM megatron/core/optimizer/optimizer.py,
# Float16OptimizerWithFloat16Params and distrib_optimizer.py DistributedOptimizer): the Python loops of
# `_copy_model_grads_to_main_grads` (the fp32 main gradient of each parameter) and
# `_copy_main_params_to_model_params` (the updated fp32 master copied back into each bf16 parameter) issue one op
# per tensor each; the Adam update, gradient-norm and scaling run as multi-tensor kernels (a few launches in all).
OPTIMIZER_OPS_PER_TENSOR = 2


def param_tensors(forward: Estimate, biases: bool) -> float:
    """Parameter tensors of the stage whose forward is `forward`: one weight per parameter node occurrence, plus
    its bias (linear biases, LayerNorm's beta) when the model has them."""
    nodes = sum(count for name, count, _est in forward.parts
                if any(k in name for k in PARAM_NODE_KEYS) and not name.endswith(IN_QUANTIZE_SUFFIX))
    return float(nodes * (2 if biases else 1))


def optimizer_host_excess(gpu_seconds: float, forward: Estimate, biases: bool, host_op_latency: float | None,
                          extra_ops: float = 0.0) -> float:
    """Seconds the optimizer step waits on the host beyond its GPU time (per-tensor copy loops, above; `extra_ops`:
    an optimizer's own per-tensor loop, Muon's llm/muon.py MUON_OPS_PER_MATRIX)."""
    ops = OPTIMIZER_OPS_PER_TENSOR * param_tensors(forward, biases) + extra_ops
    return host_excess(gpu_seconds, ops, host_op_latency)


def issue_order(graph: Estimate) -> list[tuple[float, float]]:
    """(host ops, GPU seconds) of each op of one pass in execution order. The graph keeps one node per op with a
    count (one per layer); a layer block is rebuilt from the repeated nodes (each `count / block` times per block,
    `block` = the smallest repeat count) and repeated `block` times, between the once-only nodes that come before
    (embedding) and after it (final norm, LM head, loss)."""
    return [(host, gpu) for _name, host, gpu in _named_issue_order(graph)]


def _named_issue_order(graph: Estimate) -> list[tuple[str, float, float]]:
    """issue_order with each op's node name first."""
    parts = graph.parts
    repeated = [i for i, (_n, count, _e) in enumerate(parts) if count > 1]
    if not repeated:
        return [(name, _host_ops(name), est.seconds) for name, count, est in parts for _ in range(int(count))]
    block = min(parts[i][1] for i in repeated)
    pre = [p for i, p in enumerate(parts) if p[1] <= 1 and i < repeated[0]]
    post = [p for i, p in enumerate(parts) if p[1] <= 1 and i > repeated[0]]
    layer = [(name, _host_ops(name), est.seconds) for name, count, est in parts if count > 1
             for _ in range(max(round(count / block), 1))]
    return ([(n, _host_ops(n), e.seconds) for n, _c, e in pre] + layer * int(block)
            + [(n, _host_ops(n), e.seconds) for n, _c, e in post])


def _host_ops(name: str) -> float:
    return 0.0 if _continues_call(name) else 1.0


def queue_seconds(ops: list[tuple[float, float]], host_op_latency: float) -> float:
    """Wall time of ops issued by the host and run by the GPU in order, from an idle GPU and an empty queue:
    op i is issued when the host has spent its host time on ops 0..i, starts when it is issued and the GPU has
    finished op i-1, and runs for its GPU time. Between device synchronisations this is the step's time: the GPU
    waits for a slow host, and the host cannot run ahead into the next segment."""
    issued = finished = 0.0
    for host_ops, gpu in ops:
        issued += host_ops * host_op_latency
        finished = max(issued, finished) + gpu
    return max(issued, finished)


# The forward node before which a dropless Megatron-Core MoE layer's host waits for the device: the token
# dispatcher needs each expert's token count on the host (its all-to-all split sizes, the experts' m_splits) and
# reads it back once per MoE layer forward. MoEAlltoAllTokenDispatcher copies tokens_per_expert and the splits to
# the host on a side stream after the routing (`cuda_dtoh_point` "before_permutation_1") and waits on that copy's
# event before the EP all-to-all (`cuda_sync_point` "before_ep_alltoall" when ep or tp > 1, later points
# otherwise); MoEAllGatherTokenDispatcher calls `self.local_map.sum(dim=0).long().cpu()` before its permute
# (megatron/core/transformer/moe/token_dispatcher.py, `_maybe_dtoh_and_synchronize`, `dispatch_postprocess`).
# Either way the device has run everything up to the routing when the host goes on, so the ops issued after it
# start from an empty queue. The backward needs no count (autograd reuses the forward's splits). The sync is placed
# before the graph's permute node: the alltoall dispatcher issues permute 1 just before it waits, the allgather
# dispatcher just after (a difference of one op's issue time per layer).
MOE_SYNC_BEFORE = "moe_permute"


def sync_segments(forward: Estimate, backward: Estimate, pass_sync: bool, moe_sync: bool
                  ) -> list[list[tuple[float, float]]]:
    """One micro-batch's ops, (host ops, GPU seconds) in issue order, cut where the host waits for the device:
    before each pass with `pass_sync` (a sync after the loss read-back or each pipeline send/receive), before each
    MoE layer's permute with `moe_sync`. Without a pass sync the last segment runs from the last MoE layer's sync
    through the backward into the next micro-batch's forward up to its first MoE layer (the ops are rotated to
    start at the first sync). Without any sync: one segment."""
    fwd = _named_issue_order(forward)
    bwd = _named_issue_order(backward)
    seq = [(moe_sync and name == MOE_SYNC_BEFORE, host, gpu) for name, host, gpu in fwd]
    seq += [(pass_sync and i == 0, host, gpu) for i, (_name, host, gpu) in enumerate(bwd)]
    if pass_sync and seq:
        seq[0] = (True, seq[0][1], seq[0][2])
    starts = [i for i, (cut, _h, _g) in enumerate(seq) if cut]
    if starts:
        seq = seq[starts[0]:] + seq[:starts[0]]
    segments: list[list[tuple[float, float]]] = []
    for cut, host, gpu in seq:
        if cut or not segments:
            segments.append([])
        segments[-1].append((host, gpu))
    return segments


def synced_host_excess(forward: Estimate, backward: Estimate, host_op_latency: float | None,
                       pass_sync: bool = True, moe_sync: bool = False) -> float:
    """Seconds a micro-batch's forward and backward take beyond their GPU time when the host waits for the device
    inside it (sync_segments): each segment starts on an idle GPU with an empty queue, so the host's issue time
    of the ops after a sync is exposed until the GPU has long enough kernels to catch up. `pass_sync`: the device
    is synchronised after each pass (Megatron-LM's pipeline P2P with `batch_p2p_sync`, megatron/core/
    pipeline_parallel/p2p_communication.py: `torch.cuda.synchronize()` after `batch_isend_irecv` "to protect
    against race condition"; the loss read-back), so the host's ops and the GPU's long kernels (the LM head and
    cross entropy at the end of the last stage) no longer overlap across passes. `moe_sync`: each MoE layer's
    token-count read-back (MOE_SYNC_BEFORE)."""
    if not host_op_latency:
        return 0.0
    gpu = forward.seconds + backward.seconds
    wall = sum(queue_seconds(segment, host_op_latency)
               for segment in sync_segments(forward, backward, pass_sync, moe_sync))
    return max(0.0, wall - gpu)
