"""LLM training step estimates: 3D/4D parallelism, 1F1B pipeline with interleaving, ZeRO, recompute, overlap.

Model (the README's "how the models work" repeats it):
- Devices = tp x pp x cp x dp. Each data-parallel replica runs m = global_batch / (dp x micro_batch)
  micro-batches of micro_batch sequences of seq_len / cp tokens.
- Per micro-batch and stage: forward graph, backward graph (GEMMs 2x, attention 2.5x forward), plus recompute:
  "none" nothing, "selective" the attention core again (Megatron-LM selective recompute), "full" the whole
  forward again.
- 1F1B pipeline: step = (m + (pp - 1) / vpp) x (t_fwd + t_bwd) of the slowest stage (Narayanan et al. SC21,
  the interleaved schedule divides the bubble by vpp); each stage sends its activations onward once per model
  chunk (vpp per micro-batch under interleaving, `pipeline_sends`), exposed.
- Data-parallel gradient sync after the last micro-batch's backward: ZeRO 0 all-reduce of fp32 grads; ZeRO 1/2
  reduce-scatter grads + all-gather bf16 params; ZeRO 3 also all-gathers params before every micro-batch's
  forward and backward. Overlap (Megatron --overlap-grad-reduce / --overlap-param-gather): the gradient
  reduce hides behind the last micro-batch's backward, the parameter gather behind the first forward; what
  is left is "exposed communication".
- Optimizer: Adam on the local shard, fp32 master weights and moments (a memory-bound elementwise pass).
- Memory per device: bf16 weights, fp32 gradients, fp32 master + Adam moments (ZeRO shards them 1/dp),
  and activations of the micro-batches in flight on the first stage (pp of them under 1F1B), per
  Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models", eq. 1-4):
  34·s·b·h/t bytes per layer with selective recompute and sequence parallelism, plus 5·a·s²·b/t without
  recompute, 2·s·b·h per layer with full recompute.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from ..hardware import HardwareSpec, load_hardware
from ..hardware.dtypes import canonical_dtype, dtype_bytes
from ..perf import Estimate, estimate
from ..perf.estimate import estimate_graphs
from ..perf.memo import memoized
from ..workload.backward import backward_graph, backward_ops
from ..workload.llm_graph import (
    Parallelism,
    Precision,
    Step,
    forward_graph,
    stage_kind,
    stage_layers,
)
from ..workload.model_config import ModelConfig, load_model
from ..workload.ops import Collective, Elementwise, Gemm, Graph, GroupedGemm, Node, Norm, Op, Quantize
from .fsdp import (
    BACKWARD_PREFETCH,
    fsdp_copy_graph,
    fsdp_exposed,
    gather_bytes_per_param,
    nccl_sm_share,
    overlap_share,
    static_persistent_gemms,
)
from .graph_parts import MEMO_PARTS
from .infer import DoesNotFit
from .muon import SHARDINGS as MUON_SHARDINGS
from .muon import stage_tensors as muon_stage_tensors
from .muon import step_graph as muon_step_graph
from .pipeline_layout import layout_split, virtual_split
from .refusals import train_notes
from .torchao_float8 import TORCHAO_RECIPES, torchao_float8_casts
from .train_host import (
    IN_QUANTIZE_SUFFIX,
    host_excess,
    megatron_loss_ops,
    micro_batch_ops,
    optimizer_host_excess,
    synced_host_excess,
    system_host_op_latency,
)
from .train_memory import (
    GRAD_BYTES,
    PARAM_BYTES,
    RUNTIME_RESERVE_BYTES,
    MemoryOptions,
    TrainMemory,
    expert_tp,
    library_workspace,
    replica_groups,
    stage_params,
    train_memory,
)

__all__ = ["RECOMPUTE_MODES", "TrainMemory", "TrainResult", "train", "with_fp8_casts"]

RECOMPUTE_MODES = ("none", "selective", "full", "op_sac")
CROSS_ENTROPY = ("fp32", "fused")
# Op classes of the step breakdown, by node name (workload.llm_graph labels; backward suffixes _dgrad/_wgrad/_bwd)
COMM_CLASSES = (("tp", ("allreduce",)), ("cp", ("cp_kv",)), ("ep", ("moe_dispatch", "moe_combine")),
                ("pp", ("pp_send",)))
GEMM_NAMES = ("proj", "gate_up", "_up", "_down", "router", "lm_head")


@dataclass(frozen=True, slots=True)
class TrainResult:
    model: str
    hw: str
    level: str
    devices: int
    tp: int
    pp: int
    dp: int
    cp: int
    ep: int
    vpp: int
    zero: int
    seq_len: int
    global_batch: int
    micro_batch: int
    micro_batches: int
    recompute: str
    dtype: str
    step_s: float
    tokens_per_s_per_device: float
    model_tflops_per_device: float
    mfu: float
    # compute, recompute, bubble, exposed_comm, optimizer, host (the host's time beyond the GPU's: llm/train_host.py)
    breakdown: dict[str, float]  # seconds; they add up to step_s
    memory: TrainMemory
    forward: Estimate = field(repr=False)
    backward: Estimate = field(repr=False)  # the backward pass, recomputation included
    # compute by op class (gemm, attention, norm, elementwise, cross_entropy, fp8_cast: they add up to
    # breakdown["compute"]) and exposed communication by kind (exposed_tp, _cp, _ep, _pp, _dp: they add up to
    # breakdown["exposed_comm"]), seconds per step
    detail: dict[str, float] = field(default_factory=dict)
    # Megatron-LM launch rules the layout breaks (llm/refusals.py): estimated anyway, since another framework may
    # accept it, but said
    notes: tuple[str, ...] = ()
    # seconds of one micro-batch (forward + backward, the host's excess included) on each pipeline rank: the
    # slowest sets the pipeline's pace (`pipeline_split` moves layers off it)
    stage_micro_batch_s: tuple[float, ...] = ()
    stage_layers: tuple[int, ...] = ()  # decoder layers (MTP layers included) on each pipeline rank

    @property
    def memory_per_device_bytes(self) -> float:
        return self.memory.total

    def to_dict(self, parts: bool = False) -> dict[str, Any]:
        keys = ("model", "hw", "level", "devices", "tp", "pp", "dp", "cp", "ep", "vpp", "zero", "seq_len",
                "global_batch", "micro_batch", "micro_batches", "recompute", "dtype", "step_s",
                "tokens_per_s_per_device", "model_tflops_per_device", "mfu")
        out: dict[str, Any] = {k: getattr(self, k) for k in keys}
        out.update(breakdown=self.breakdown, breakdown_detail=self.detail, memory=self.memory.to_dict(),
                   memory_per_device_bytes=self.memory_per_device_bytes,
                   forward=self.forward.to_dict(parts=parts), backward=self.backward.to_dict(parts=parts),
                   notes=list(self.notes), stage_micro_batch_s=list(self.stage_micro_batch_s),
                   stage_layers=list(self.stage_layers))
        return out

    def _repr_html_(self) -> str:
        rows = [("model", self.model), ("hw", f"{self.devices} x {self.hw}"), ("step", f"{self.step_s:.2f} s"),
                ("MFU", f"{self.mfu:.1%}"), ("tokens/s/device", f"{self.tokens_per_s_per_device:,.0f}")]
        return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def train(
    model: str | dict | ModelConfig,
    hw: HardwareSpec | str,
    tp: int = 1,
    pp: int = 1,
    dp: int = 1,
    cp: int = 1,
    ep: int = 1,
    vpp: int = 1,
    zero: int = 1,
    seq_len: int = 4096,
    global_batch: int = 1024,
    micro_batch: int = 1,
    dtype: str = "bf16",
    recompute: str = "selective",
    level: str = "roofline",
    sp: bool | None = None,
    overlap: bool = True,
    check_memory: bool = True,
    attention: str | None = None,
    etp: int | None = None,
    tp_overlap: bool = False,
    cross_entropy: str = "fp32",
    hidden_dropout: bool = False,
    attention_dropout: bool = False,
    fp8_weight_cache: bool | None = None,
    memory_stage: int | None = None,
    reserve: float | None = None,
    fp8_recipe: str | None = None,
    elementwise: str = "fused",
    fp8_all_gather: bool = False,
    fsdp_backward_prefetch: str = "pre",
    fsdp_pp_unsharded: bool = False,
    fp8_casts: str = "te",
    host_op_latency: float | None = None,
    grad_accumulation_fusion: bool = True,
    moe_grouped_gemm: bool = True,
    p2p_sync: bool = False,
    grouped_gemm: str = "searched",
    fp8_skip: tuple[str, ...] = (),
    optimizer: str = "adam",
    muon_sharding: str = "balanced",
    loss_sync: bool = False,
    single_queue: bool = False,
    megatron_loss: bool = False,
    moe_aux_loss: bool = True,
    te_modules: bool = False,
    recompute_modules: tuple[str, ...] = (),
    pipeline_outermost: bool = False,
    glu_clamp: str = "fused",
    moe_sync: bool = False,
    pipeline_split: tuple[int, ...] | str | None = None,
    mtp_layers: int = 0,
    optimizer_instances: int = 1,
    defer_embedding_wgrad: int | None = None,
) -> TrainResult:
    """One optimizer step of `model` on tp x pp x cp x dp devices of `hw`.

    Raises DoesNotFit (with the numbers, naming the largest term) when the memory per device exceeds the chip's;
    `check_memory=False` returns the estimate anyway, with `memory.total` above `memory.capacity`.
    `attention`: the framework's attention kernel (`Attention.variant`): "math" for unfused attention (Megatron-LM
    before FlashAttention: the score matrix written, softmax, read back), "fa2"/"fa3", "triton" (the Triton
    FlashAttention MPT / llm-foundry ran, flash_attn_triton.py), "aotriton" (SDPA's flash backend on ROCm up to
    AOTriton 0.10, split backward), "mem_efficient" (SDPA's EFFICIENT_ATTENTION backend on CUDA); None: the best
    for the chip.
    `recompute`: none | selective (Megatron-LM core attention) | full | op_sac (torchtitan's per-op selective AC).
    `etp`: expert tensor-parallel size (default: tp / ep, at least 1). `tp_overlap`: TP communication overlapped
    with the GEMMs (Transformer Engine userbuffers, async TP); off by default, as in Megatron-LM.
    `cross_entropy`: "fp32" (logits cast to fp32 and softmaxed in several passes, Megatron-LM's
    vocab-parallel cross entropy) or "fused" (one kernel). `hidden_dropout` / `attention_dropout`: keep dropout
    masks (Megatron-LM defaults to 0.1 for both). `fp8_weight_cache`: FP8 weight copies kept between
    micro-batches (Transformer Engine; None: when dtype is FP8 and zero < 3). `memory_stage`: the pipeline stage
    whose memory is reported (None: the one with the highest peak; -1: the last, which Megatron-LM logs).
    `reserve`: bytes the runtime holds outside PyTorch's allocator (default RUNTIME_RESERVE_BYTES).
    `fp8_recipe` (with an FP8 dtype): the scaling recipe whose quantize kernels run around each GEMM
    (tensorwise | rowwise | mxfp8 | blockwise | delayed); None: "tensorwise" for fp8 dtypes, "mxfp8" for mxfp8.
    `elementwise`: "fused" (Transformer Engine, torch.compile: a norm, rotary or activation is one kernel) or
    "eager" (PyTorch eager modules, e.g. Hugging Face transformers: RMSNorm, rotary and SwiGLU as their chains
    of aten kernels). `fp8_all_gather` (zero=3): FSDP gathers the layers' weights in float8 (torchao
    enable_fsdp_float8_all_gather), half the bytes of bf16 (llm/fsdp.py). `fsdp_backward_prefetch` (zero=3):
    "pre" (FSDP2, torchtitan; FSDP1 BACKWARD_PRE: the next layer's gather overlaps this layer's backward) or
    "post" (FSDP1 BACKWARD_POST, Composer's default: issued after this layer's backward, it waits exposed).
    `fsdp_pp_unsharded` (zero=3 with pp > 1): PyTorch FSDP2 under pipeline parallelism as torchtitan runs it, each
    stage's parameters kept unsharded between micro-batches and its gradients accumulated unsharded until the last
    one (llm/train_memory.py); False: the shards only (Megatron FSDP).
    `fp8_casts`: whose quantize kernels surround the FP8 GEMMs: "te" (with_fp8_casts: Transformer Engine and the
    generic recipes) or "torchao" (llm/torchao_float8.py: Float8Linear's casts as torch.compile runs them; recipes
    tensorwise | rowwise | rowwise_gw_hp | mxfp8).
    `host_op_latency`: framework host seconds per op (None: the chip's `runtime.host_op_latency`, else the fitted
    train_host.HOST_OP_LATENCY of the reference host core over the chip's `runtime.host_speed`; 0: no host
    bound); a micro-batch takes max(GPU time, ops x latency) and the excess is `breakdown["host"]`
    (llm/train_host.py).
    `grad_accumulation_fusion`: Megatron-LM's fused wgrad into main_grad (off: one more op per weight gradient).
    `moe_grouped_gemm`: the local experts as one grouped GEMM (off: Megatron-LM's SequentialMLP, one module call
    per local expert: more host ops; the GPU time is priced as grouped either way). `p2p_sync` (pp > 1): the
    device is synchronised after each pipeline send/receive (Megatron-LM's batch_p2p_sync, its default without
    the interleaved schedule's overlapped P2P): each forward and backward pass starts on an idle GPU.
    `grouped_gemm`: the kernel of the MoE experts' grouped GEMMs: "searched" (the best tile for the chip, e.g.
    Transformer Engine's / cuBLAS grouped GEMMs; with `moe_grouped_gemm` the memory holds Transformer Engine's cuBLAS
    workspace per compute stream, 4 x 32 MiB on Hopper and later) or "torch" (PyTorch's fixed library kernels as
    torchtitan calls them: torch._grouped_mm for 16-bit experts, torch._scaled_grouped_mm's FBGEMM MXFP8 kernel for
    torchao's MXFP8 experts; GROUPED_MM_KERNELS).
    `fp8_skip` (with a low-precision dtype): graph node names (workload.llm_graph labels, matched as prefixes:
    "lm_head", "experts_", "shared_expert_") whose GEMMs stay in bf16, as a framework's converter leaves modules out
    (torchtitan's float8 / mx `filter_fqns`, "output" by default: the LM head).
    `optimizer`: "adam" (mixed precision: fp32 master weights and moments, gradient-norm clipping, Megatron-LM's
    per-tensor copy loops on the host) or "sgd" (torch.optim.SGD without momentum on the parameters in their own
    dtype, as a script that trains a bf16 model directly runs it: one multi-tensor pass, no host loop; the memory
    model keeps Adam's states) or "muon" (Megatron Core's Muon, llm/muon.py: the 2-D hidden matrices orthogonalised
    by 5 Newton-Schulz steps with an fp32 master and momentum each, the embeddings, output layer, norms and biases
    stepped by Adam; zero=0 keeps every state on every replica, zero=1 is its layer-wise distributed optimizer,
    which owns whole tensors per data-parallel rank). `muon_sharding` (zero=1): how the layer-wise optimizer deals
    the tensors: "balanced" (its param layout's bins, Megatron's default) or "ping_pong" (without the layout,
    `--no-use-layer-wise-param-layout`: sorted by size and dealt back and forth, so a rank may hold the embedding
    alone; the memory is the heaviest rank's, or the last rank's with memory_stage=-1).
    `optimizer_instances` (zero=1): copies of the distributed optimizer across the data-parallel ranks (Megatron's
    --num-distributed-optimizer-instances): each shards its states over dp x cp / instances ranks (experts over their
    data-parallel group / instances), so a device keeps `instances` times the shard.
    `defer_embedding_wgrad` (pp >= 2): Megatron's --defer-embedding-wgrad-compute with --wgrad-deferral-limit n (0:
    every micro-batch): the output layer's weight gradient waits for the pipeline's drain, its input and output
    gradient kept per deferred micro-batch on the last stage (memory; the deferred GEMMs are priced where they
    were); None: off.
    `loss_sync`: the host reads the loss back after each micro-batch's forward (Megatron-LM's
    --check-for-nan-in-loss-and-grad, on by default: pretrain_gpt.py `loss_func` passes the loss to
    rerun_state_machine.validate_result with torch.isnan and torch.isinf, whose result Python tests, a device
    synchronisation): the backward, too, starts on an idle GPU, at any pipeline size.
    `single_queue`: the device has one hardware work queue (CUDA_DEVICE_MAX_CONNECTIONS=1, which Megatron-LM sets
    for its TP overlap): kernels start in launch order across streams, so a communication kernel waiting for its
    peer holds back every kernel launched after it. The interleaved schedule (vpp > 1) posts the next chunk's
    receive before the current chunk's compute (overlapped P2P): that compute waits for the neighbour, the
    virtual stages no longer fill the pipeline ahead of it, and the bubble is (pp - 1) whole stages as without
    interleaving.
    `megatron_loss`: the last stage's loss runs Megatron-LM's path, a chain of small ops per micro-batch (label and
    loss transposes, pretrain_gpt's loss_func, the loss scaling; with cross_entropy="fp32" its vocab-parallel cross
    entropy op by op: train_host.megatron_loss_ops), each a host op. `moe_aux_loss`: the MoE router computes a
    load-balancing loss (Megatron-LM: --moe-aux-loss-coeff > 0; its default 0 skips it): more host ops per layer.
    `te_modules`: the layers are Transformer Engine modules (Megatron-LM --transformer-impl transformer_engine,
    its default): each TE linear call costs more host time than a plain linear, and the norms fused into
    LayerNormLinear are no call of their own (train_host.te_module_ops).
    `recompute_modules` (with recompute="selective"): the Megatron Core modules whose forward the backward runs
    again (--recompute-modules: core_attn, moe_act, layernorm, mla_up_proj, mlp, shared_experts;
    RECOMPUTE_MODULES); empty: Megatron's default, the core attention. The memory model keeps its selective
    estimate (Korthikanti et al.) either way.
    `pipeline_outermost`: the devices are ordered as Megatron Core orders its ranks, tensor, context, (expert,)
    data and pipeline parallel from the innermost out (megatron/core/parallel_state.py RankGenerator, order
    "tp-cp-ep-dp-pp"): pipeline peers sit tp x cp x dp devices apart, dense data-parallel peers tp x cp, expert
    data-parallel peers etp x ep (off: data parallel outermost, Llama 3's order, replica_strides). Under the
    interleaved schedule each stage sends one activation per virtual stage either way (pipeline_sends).
    `glu_clamp` (a model with a clamped gated MLP, gpt-oss's swiglu_limit): "fused" (the clamp inside the activation
    kernel) or "eager" (Megatron Core's weighted_bias_quick_geglu_impl clamps in PyTorch before its fused kernel:
    eager_glu_clamp).
    `moe_sync` (a MoE model): the host waits once per MoE layer forward for the experts' token counts (Megatron
    Core's dropless alltoall and allgather token dispatchers read them back before the dispatch): the ops issued
    after it start from an empty queue (train_host.MOE_SYNC_BEFORE, synced_host_excess).
    `pipeline_split` (pp > 1): the decoder layers of each stage where they are not split evenly
    (llm/pipeline_layout.py): pp counts, one per rank (Megatron Core's --decoder-first/last-pipeline-num-layers give
    (first, middle, ..., middle, last)); pp x vpp counts, one per virtual stage in model order; or Megatron Core's
    layout string ("Et*3|(tt|)*6mL", whose stages set vpp); "balanced": the fastest of the first / last stage
    counts Megatron accepts near the even split (llm/pipeline_balance.py), among those that fit. The pipeline runs
    at its slowest stage's pace and the memory is the fullest stage's. None: an even split, the first stages taking
    the remainder. `stage_layers` in the result gives each rank's decoder layers.
    `mtp_layers`: multi-token-prediction layers (DeepSeek-V3's MTP modules, Megatron Core --mtp-num-layers) on the
    last stage, each an embedding lookup, two norms, a 2h -> h projection, a decoder layer of the last layer's kind,
    a norm and the shared output layer with its own cross-entropy; the stage holds its own copy of the
    embedding. A layout string's "m" count is its MTP layers."""
    if isinstance(pipeline_split, str) and pipeline_split == "balanced":  # train's own arguments, the split searched
        args = {k: v for k, v in locals().items() if k not in ("model", "hw", "pp", "vpp", "pipeline_split")}
        from .pipeline_balance import balanced_split

        return balanced_split(model, hw, pp, vpp, **args)[1]
    _check_switches(overlap=overlap, check_memory=check_memory, tp_overlap=tp_overlap, hidden_dropout=hidden_dropout,
                    attention_dropout=attention_dropout, fp8_all_gather=fp8_all_gather,
                    grad_accumulation_fusion=grad_accumulation_fusion, moe_grouped_gemm=moe_grouped_gemm,
                    p2p_sync=p2p_sync, loss_sync=loss_sync, single_queue=single_queue, megatron_loss=megatron_loss,
                    moe_aux_loss=moe_aux_loss, te_modules=te_modules, moe_sync=moe_sync,
                    fsdp_pp_unsharded=fsdp_pp_unsharded, pipeline_outermost=pipeline_outermost)
    _check_fp8_skip(fp8_skip)
    _check_recompute_modules(recompute_modules, recompute)
    _check_choices(optimizer, grouped_gemm, fsdp_backward_prefetch, attention, elementwise, cross_entropy)
    _check_muon(optimizer, muon_sharding, zero)
    _check_megatron_options(optimizer_instances, defer_embedding_wgrad, zero, pp, optimizer)
    config = model if isinstance(model, ModelConfig) else _load_model(model)
    spec = hw if isinstance(hw, HardwareSpec) else _load_hardware(hw)
    split, vpp, mtp_layers = _pipeline_split(config, pp, vpp, pipeline_split, mtp_layers)
    par = Parallelism(tp=tp, pp=pp, ep=ep, dp=dp, cp=cp, sp=tp > 1 if sp is None else sp, attention=attention,
                      stage_split=split)
    par.check(config)
    if optimizer_instances > 1 and (dp * cp) % optimizer_instances:
        raise ValueError(f"optimizer_instances={optimizer_instances}: the {dp * cp} data-parallel ranks (dp x cp) do "
                         f"not split into {optimizer_instances} equal optimizer instances (Megatron asserts it)")
    micro_batches = _check_train_args(config, par, vpp, zero, seq_len, global_batch, micro_batch, recompute)
    if etp is not None and (isinstance(etp, bool) or not isinstance(etp, int) or etp < 1):  # 0: ZeroDivisionError
        raise ValueError(f"etp: expected an integer >= 1 (got {etp!r}); leave it unset for tp / ep")
    prec = Precision(dtype=canonical_dtype(dtype))
    low_precision = prec.matmul_input_dtype.startswith(("fp8", "mx"))
    _check_host_and_gather(host_op_latency, fp8_all_gather, zero, low_precision)
    if fp8_recipe is None and low_precision:
        fp8_recipe = "mxfp8" if prec.matmul_input_dtype.startswith("mx") else "tensorwise"
    _check_fp8_casts(fp8_casts, fp8_recipe)
    # float8 all-gather (torchao): each rank casts its shard of the weights before the gather
    shard = dp * cp if fp8_casts == "torchao" and fp8_all_gather and zero == 3 else 1
    step = Step(batch=micro_batch, new_tokens=seq_len // cp, context=seq_len - seq_len // cp)
    _check_glu_clamp(glu_clamp)
    pipeline = (vpp, pipeline_stride(par, pipeline_outermost))
    stage_runs = _stage_micro_batches(config, spec, par, prec, step, recompute, level, cross_entropy,
                                      fp8_recipe if low_precision else None, elementwise, fp8_casts, shard,
                                      grouped_gemm, tuple(fp8_skip), tuple(recompute_modules), pipeline,
                                      glu_clamp == "eager")
    latency = host_op_latency if host_op_latency is not None else system_host_op_latency(
        spec.runtime.host_op_latency, spec.runtime.host_speed)
    local_experts = 1 if moe_grouped_gemm or config.moe is None else max(config.moe.experts // ep, 1)

    def stage_micro_batch(run: tuple[Estimate, Estimate, tuple[dict[str, float], dict[str, float]]]
                          ) -> _StageMicroBatch:
        """A stage's micro-batch: its time by op class, its exposed communication and the host's excess over it."""
        fwd, bwd, pass_classes = run
        classes = _merged(pass_classes)
        comm = {kind: classes.pop(f"comm_{kind}", 0.0) for kind, _ in COMM_CLASSES}
        exposed = dict(comm)
        # overlapped communication hides behind its own pass's compute (a backward's ring cannot hide behind the
        # forward): pass by pass, so each pass's wall time below is its compute plus what it exposes
        passes = tuple(_overlapped_comm(of_pass, tp_overlap) for of_pass in pass_classes)
        for kind in ("tp", "cp"):
            if any(p[kind][1] > 0 for p in passes):  # (nothing to hide behind: all of it is exposed, as summed)
                exposed[kind] = sum(max(0.0, comm_s - under) for comm_s, under in (p[kind] for p in passes))
        per_micro = sum(classes.values()) + sum(exposed.values())
        ops = _micro_batch_ops(fwd, bwd, grad_accumulation_fusion, local_experts, moe_aux_loss, te_modules,
                               tp_overlap)
        if megatron_loss:
            ops += megatron_loss_ops(fwd, cross_entropy == "fused")
        host = host_excess(per_micro, ops, latency)
        pass_sync = (p2p_sync and pp > 1) or loss_sync
        dispatch_sync = moe_sync and config.moe is not None
        if pass_sync or dispatch_sync:
            host = max(host, _synced_host_excess(fwd, bwd, latency, pass_sync, dispatch_sync))
        walls = tuple(graph.seconds - sum(min(comm_s, under) for comm_s, under in p.values())
                      for graph, p in zip((fwd, bwd), passes, strict=True))
        return _StageMicroBatch(fwd, bwd, classes, exposed, per_micro, host, walls)

    # the pipeline runs at its slowest stage's pace: the longest micro-batch with the host's excess counted (a
    # stage with less GPU work can be the slower one when its host ops bind)
    micro = [stage_micro_batch(run) for run in stage_runs]
    slowest = max(micro, key=lambda s: s.per_micro + s.host)
    # each rank's micro-batch (GPU time + the host's excess), from its distinct stage's
    stage_s = tuple(micro[i].per_micro + micro[i].host for i in _stage_run_index(config, par))
    fwd, bwd, classes, exposed, per_micro, host = (slowest.fwd, slowest.bwd, slowest.classes, slowest.exposed,
                                                   slowest.per_micro, slowest.host)
    # the windows the data-parallel collectives hide behind: each pass's wall time, its overlapped communication
    # counted once; under a host bound the micro-batch's wait on the host stretches the window too (the collectives
    # run on their own stream while the GPU waits for kernels), so a faster GPU never shrinks the window more than
    # the micro-batch it sits in
    windows = (slowest.walls[0] + host, slowest.walls[1] + host)
    # interleaving divides the bubble by vpp (Narayanan et al. SC21) unless one hardware queue serialises the
    # overlapped P2P receives with the compute launched after them (`single_queue`)
    bubble = (pp - 1) / (1 if single_queue else vpp) * (per_micro + host)
    dp_exposed = _exposed_dp_comm(config, spec, par, zero, micro_batches, fwd, bwd, overlap, level, etp,
                                  fp8_all_gather, fsdp_backward_prefetch, pipeline_outermost, windows)
    muon_ops = 0.0
    if optimizer == "muon":
        optimizer_s, muon_ops = _muon_step_time(config, spec, par, zero, level, etp, muon_sharding)
    else:
        optimizer_s = _optimizer_time(config, spec, par, zero, level, etp, optimizer, optimizer_instances)
    recompute_s = micro_batches * classes.pop("recompute", 0.0)
    compute = micro_batches * sum(classes.values())
    exposed_comm = micro_batches * sum(exposed.values()) + dp_exposed
    host_s = micro_batches * host
    if optimizer in ("adam", "muon"):  # Megatron-LM's per-parameter copy loops (train_host.optimizer_host_excess)
        host_s += _optimizer_host_excess(optimizer_s, fwd, config.qkv_bias or config.norm == "layer", latency,
                                         muon_ops)
    step_s = compute + recompute_s + bubble + exposed_comm + optimizer_s + host_s
    detail = {k: micro_batches * v for k, v in classes.items()}
    detail.update({f"exposed_{k}": micro_batches * v for k, v in exposed.items()})
    detail["exposed_dp"] = dp_exposed
    devices = tp * pp * cp * dp
    # model FLOPs of the step: 3 x forward (no recompute), all stages, all TP and CP ranks, all replicas
    model_flops = 3 * _forward_matrix_flops(config, par, prec, step) * pp * tp * cp * micro_batches * dp
    peak = spec.matrix_peak(prec.matmul_input_dtype)
    tokens = global_batch * seq_len
    opts = MemoryOptions(zero=zero, micro_batch=micro_batch, seq_len=seq_len, recompute=recompute, vpp=vpp,
                         micro_batches=micro_batches, etp=etp, attention=attention, hidden_dropout=hidden_dropout,
                         attention_dropout=attention_dropout, fp8=prec.matmul_input_dtype.startswith(("fp8", "mx")),
                         fp8_weight_cache=fp8_weight_cache, cross_entropy=cross_entropy,
                         reserve=RUNTIME_RESERVE_BYTES if reserve is None else reserve,
                         workspace=library_workspace("fp8_e4m3" in spec.matrix.peak,
                                                   te_grouped_gemm=_te_grouped_gemm(config, moe_grouped_gemm,
                                                                                    grouped_gemm)),
                         fsdp_pp_unsharded=fsdp_pp_unsharded, optimizer="muon" if optimizer == "muon" else "adam",
                         muon_sharding=muon_sharding, last_rank=memory_stage == -1,
                         optimizer_instances=optimizer_instances,
                         deferred_wgrads=_deferred_wgrads(defer_embedding_wgrad, micro_batches),
                         fp16=canonical_dtype(dtype) == "fp16")
    memory = _train_memory(config, spec.main_memory.capacity, par, opts, memory_stage)
    if check_memory and memory.total > memory.capacity:
        raise DoesNotFit(_train_does_not_fit(config, spec, par, zero, memory, recompute))
    return TrainResult(
        model=config.name, hw=spec.id, level=level, devices=devices, tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp,
        zero=zero, seq_len=seq_len, global_batch=global_batch, micro_batch=micro_batch,
        micro_batches=micro_batches, recompute=recompute, dtype=prec.weight_dtype, step_s=step_s,
        tokens_per_s_per_device=tokens / step_s / devices, model_tflops_per_device=model_flops / step_s / devices / 1e12,
        mfu=model_flops / step_s / devices / peak,
        breakdown={"compute": compute, "recompute": recompute_s, "bubble": bubble, "exposed_comm": exposed_comm,
                   "optimizer": optimizer_s, "host": host_s},
        memory=memory, forward=fwd, backward=bwd, detail=detail, stage_micro_batch_s=stage_s,
        stage_layers=_rank_layers(config, par),
        # last: a layout whose estimate fails says that, not a note (a few integer checks, no graph)
        notes=train_notes(config, tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, etp=expert_tp(par, etp), vpp=vpp,
                          seq_len=seq_len, global_batch=global_batch, micro_batch=micro_batch, sp=par.sp),
    )


_TRAIN_PARAMETERS = inspect.signature(train).parameters


@dataclass(frozen=True, slots=True)
class _StageMicroBatch:
    fwd: Estimate
    bwd: Estimate
    classes: dict[str, float]  # seconds by op class, communication taken out
    exposed: dict[str, float]  # exposed communication seconds by kind
    per_micro: float  # GPU seconds of one micro-batch
    host: float  # the host's excess over them
    walls: tuple[float, float]  # GPU seconds of its forward and of its backward, overlapped communication once


@memoized
def _stage_micro_batches(config: ModelConfig, hw: HardwareSpec, par: Parallelism, prec: Precision, step: Step,
                         recompute: str, level: str, cross_entropy: str, fp8_recipe: str | None, elementwise: str,
                         fp8_casts: str, weight_shard: int, grouped_gemm: str = "searched",
                         fp8_skip: tuple[str, ...] = (), recompute_modules: tuple[str, ...] = (),
                         pipeline: tuple[int, int] = (1, 1), eager_clamp: bool = False
                         ) -> tuple[tuple[Estimate, Estimate, tuple[dict[str, float], dict[str, float]]], ...]:
    """One micro-batch of each distinct pipeline stage: its forward, its backward (recompute included) and each
    pass's seconds by op class (`_pass_classes`); train() picks the slowest with the host's time counted. `pipeline`: (vpp,
    the pipeline peers' device stride), which set the stage's sends (pipeline_sends). Depends on no field of the
    layout beyond its arguments (not zero, the micro-batch count or the capacity), so a planner's layouts share it
    (perf/memo.py)."""
    cast_fn = (partial(torchao_float8_casts, weight_shard=weight_shard) if fp8_casts == "torchao"
               else partial(with_fp8_casts, amax_group=par.tp if par.sp else 1))
    stages = _stage_times(config, hw, par, prec, step, recompute, level, _distinct_stages(config, par),
                          cross_entropy, fp8_recipe, elementwise, cast_fn, grouped_gemm, fp8_skip, recompute_modules,
                          pipeline, eager_clamp)
    return tuple((fwd, bwd, (_pass_classes(fwd), _pass_classes(bwd))) for fwd, bwd in stages)


# train_host's and train_memory's functions, memoized inside a planner's scope (perf/memo.py); outside one, plain
_micro_batch_ops = memoized(micro_batch_ops)
_synced_host_excess = memoized(synced_host_excess)
_optimizer_host_excess = memoized(optimizer_host_excess)
_train_memory = memoized(train_memory)
_load_model = memoized(load_model)  # a preset or file read once per scope, not per layout
_load_hardware = memoized(load_hardware)
_forward_graph = memoized(forward_graph)  # a stage's graphs are the same under every recompute policy
_estimate = memoized(estimate)  # the data-parallel collectives: the same under every vpp and recompute policy
_backward_ops = memoized(backward_ops)  # a forward op's gradient ops: once for all the stages that have the op


@memoized
def _backward_graph(forward: Graph) -> Graph:
    """`backward_graph(forward)`, each distinct forward op's gradient ops built once per scope."""
    return backward_graph(forward, _backward_ops)


def _overlapped_comm(classes: dict[str, float], tp_overlap: bool) -> dict[str, tuple[float, float]]:
    """One pass's TP and CP communication seconds (from its seconds by op class), each with the compute seconds it
    hides behind: ring attention (Megatron-LM CP) sends the next K/V block while the current one is attended;
    `tp_overlap` hides the TP collectives behind the GEMMs (without it, behind nothing)."""
    return {"tp": (classes.get("comm_tp", 0.0), classes.get("gemm", 0.0) if tp_overlap else 0.0),
            "cp": (classes.get("comm_cp", 0.0), classes.get("attention", 0.0))}


def _pass_classes(graph: Estimate) -> dict[str, float]:
    """Seconds of one pass by op class; communication as comm_<kind>."""
    out: dict[str, float] = {}
    for name, count, est in graph.parts:
        key = _op_class(name)
        out[key] = out.get(key, 0.0) + count * est.seconds
    return out


def _merged(pass_classes: tuple[dict[str, float], ...]) -> dict[str, float]:
    """A micro-batch's seconds by op class: its passes' summed (a fresh dict: train() pops from it)."""
    out: dict[str, float] = {}
    for classes in pass_classes:
        for key, seconds in classes.items():
            out[key] = out.get(key, 0.0) + seconds
    return out


# a node name's class is a pure function of the name (and of the constant tables above): looked up once per
# distinct name rather than once per node of every stage's forward and backward (~200 nodes a 405B step)
@functools.lru_cache(maxsize=4096)
def _op_class(name: str) -> str:
    if name.startswith("recompute:"):
        return "recompute"
    for kind, keys in COMM_CLASSES:
        if any(k in name for k in keys):
            return f"comm_{kind}"
    if "cross_entropy" in name:
        return "cross_entropy"
    if name.startswith("fp8_"):
        return "fp8_cast"
    if name.startswith("attention"):
        return "attention"
    if "norm" in name:
        return "norm"
    if any(k in name for k in GEMM_NAMES):
        return "gemm"
    return "elementwise"


def _check_train_args(config: ModelConfig, par: Parallelism, vpp: int, zero: int, seq_len: int, global_batch: int,
                      micro_batch: int, recompute: str) -> int:
    if zero not in (0, 1, 2, 3):
        raise ValueError(f"zero: expected 0, 1, 2 or 3 (got {zero})")
    if recompute not in RECOMPUTE_MODES:
        raise ValueError(f"recompute: expected one of {', '.join(RECOMPUTE_MODES)} (got {recompute!r})")
    if vpp < 1 or (par.stage_split is None and config.layers < par.pp * vpp):
        raise ValueError(f"vpp={vpp}: needs at least pp x vpp = {par.pp * vpp} layers (the model has {config.layers})")
    if seq_len % par.cp:
        raise ValueError(f"seq_len={seq_len}: must be divisible by cp={par.cp}")
    if micro_batch < 1 or global_batch < 1 or global_batch % (par.dp * micro_batch):  # -64 % 8 == 0 too
        raise ValueError(
            f"global_batch={global_batch}: must be a multiple of dp x micro_batch = {par.dp * micro_batch}")
    return global_batch // (par.dp * micro_batch)


def _loss_nodes(config: ModelConfig, step: Step, par: Parallelism, cross_entropy: str, count: int = 1
                ) -> list[Node]:
    """The cross-entropy over the vocabulary on the last stage's logits (this TP rank's vocabulary slice).

    fp32 (Megatron-LM's vocab-parallel cross entropy, PyTorch's F.cross_entropy on .float() logits): the bf16
    logits cast to fp32, the max, the shifted exp and its sum, the normalisation, each a pass over fp32 logits
    (4 arrays read, 3 written); fused: one pass reading the bf16 logits and writing the fp32 result."""
    elements = max(int(step.tokens * config.vocab / par.tp), 1)
    if cross_entropy == "fused":
        op = Elementwise("cross_entropy", elements, "bf16", inputs=1, outputs=1, flops_per_element=6,
                         out_dtype="fp32")
    else:
        op = Elementwise("cross_entropy", elements, "fp32", inputs=4, outputs=3, flops_per_element=6)
    return [Node(op, count, "cross_entropy")]


def _stage_times(config: ModelConfig, hw: HardwareSpec, par: Parallelism, prec: Precision, step: Step,
                 recompute: str, level: str, stages: list[int], cross_entropy: str = "fp32",
                 fp8_recipe: str | None = None, elementwise: str = "fused",
                 cast_fn: Callable[[Graph, Graph, str], tuple[Graph, Graph]] | None = None,
                 grouped_gemm: str = "searched", fp8_skip: tuple[str, ...] = (),
                 recompute_modules: tuple[str, ...] = (), pipeline: tuple[int, int] = (1, 1),
                 eager_clamp: bool = False) -> list[tuple[Estimate, Estimate]]:
    """(forward, backward) of each stage; the stages' graphs share one estimate per distinct op. The backward
    includes the recomputed forward ops, labelled "recompute:<name>"."""
    graphs = []
    for stage in stages:
        forward = _forward_graph(config, step, par, prec, stage, MEMO_PARTS)
        if par.pp > 1:
            forward = pipeline_sends(forward, config, step, par, prec, stage, *pipeline)
        if eager_clamp and config.glu_clamp is not None:
            forward = eager_glu_clamp(forward)
        if elementwise == "eager":
            forward = _eager(forward)
        if fp8_skip:
            forward = high_precision_gemms(forward, fp8_skip)
        if grouped_gemm == "torch":
            forward = torch_grouped_mm(forward)
        # the main loss on the last stage, and one per multi-token-prediction layer where those are
        losses = (stage == par.pp - 1) + _stage_keys(config, par)[stage][3]  # stage_kind's MTP count
        if losses:
            forward = forward + Graph(tuple(_loss_nodes(config, step, par, cross_entropy, losses)), name="loss")
        backward = _backward_graph(forward)
        if recompute == "full":
            redo = tuple(n for n in forward.nodes if n.name not in ("embedding", "cross_entropy", "lm_head",
                                                                      "final_norm", "pp_send"))
        elif recompute == "selective":
            names = recomputed_node_names(recompute_modules or ("core_attn",))
            redo = tuple(n for n in forward.nodes if n.name in names)
        elif recompute == "op_sac":
            redo = tuple(Node(n.op, n.count * _sac_fraction(config, n.name), n.name) for n in forward.nodes
                         if _sac_fraction(config, n.name) > 0)
        else:
            redo = ()
        if redo:
            backward = Graph(tuple(Node(n.op, n.count, f"recompute:{n.name}") for n in redo),
                             name="recompute") + backward
        if fp8_recipe is not None:
            forward, backward = (cast_fn or with_fp8_casts)(forward, backward, fp8_recipe)
        graphs += [forward, backward]
    times = estimate_graphs(graphs, hw, level)
    return list(zip(times[::2], times[1::2], strict=True))


def pipeline_stride(par: Parallelism, pipeline_outermost: bool) -> int:
    """How many devices apart a stage's pipeline peers sit: tp x cp x dp where pipeline parallelism is the
    outermost dimension (Megatron Core's rank order "tp-cp-ep-dp-pp", megatron/core/parallel_state.py), tp in
    the data-parallel-outermost order (tp, pp, cp, dp: replica_strides)."""
    return par.tp * par.cp * par.dp if pipeline_outermost else par.tp


def pipeline_sends(forward: Graph, config: ModelConfig, step: Step, par: Parallelism, prec: Precision, stage: int,
                   vpp: int = 1, stride: int = 1) -> Graph:
    """A stage's forward with the activations it sends to the next stage, one per model chunk it holds.

    Under the interleaved 1F1B schedule (Narayanan et al., SC21, section 2.2.2: "the amount of communication also
    increases by v") a stage holds vpp chunks and each chunk's output goes to the next stage, the last stage's
    wrapping round to the first for the next chunk: vpp sends per micro-batch, vpp - 1 on the last stage (its
    final chunk ends in the loss); without interleaving one, none on the last stage. The backward mirrors them
    (the input gradients, backward_graph). A stage cannot hide them: the group of pp micro-batches it works on per
    chunk is the one in flight round the pipeline, so each hop's transfer is on the cycle (pp chunks of work,
    pp hops). Megatron sends the sequence-parallel shard, [s / tp, b, h] (megatron/core/pipeline_parallel/
    schedules.py get_tensor_shapes: `seq_length // tp` under sequence parallelism), to the peer `stride`
    devices away (pipeline_stride)."""
    sends = vpp if stage < par.pp - 1 else vpp - 1
    tokens = step.tokens // par.tp if par.sp else step.tokens
    nbytes = float(tokens * config.hidden * dtype_bytes(prec.act_dtype))
    send = Node(Collective("send_recv", nbytes, 2, prec.act_dtype, stride), sends, "pp_send")
    nodes = tuple(n for n in forward.nodes if n.name != "pp_send")
    return Graph(nodes + ((send,) if sends > 0 else ()), name=forward.name, meta=forward.meta)


GLU_CLAMPS = ("fused", "eager")


def eager_glu_clamp(forward: Graph) -> Graph:
    """A forward whose clamped gated activations clamp in PyTorch before the fused activation kernel.

    Megatron Core's weighted_bias_quick_geglu_impl (megatron/core/fusions/fused_bias_geglu.py, the routed
    experts' activation with `activation_func_clamp_value`, gpt-oss's 7.0) splits the fc1 output [N, 2H] into its
    gate and linear halves (x.chunk(2, -1): views), clamps each (two kernels, each reading and writing N x H) and
    concatenates them (torch.cat: reads and writes N x 2H) before WeightedBiasQuickGeGLUFunction. The backward
    runs each clamp's masked gradient (reads the gradient and the input, writes N x H) and the chunk's gradient,
    one concatenation of the halves' gradients (backward_graph: "concat"). Each activation node (`*_act`, N x H
    elements) gets the two clamps and the concatenation in front of it."""
    nodes: list[Node] = []
    for node in forward.nodes:
        if node.name.endswith("_act") and isinstance(node.op, Elementwise):
            half, dtype, prefix = node.op.elements, node.op.dtype, node.name[: -len("_act")]
            nodes += [Node(Elementwise("clamp", half, dtype, inputs=1, outputs=1, flops_per_element=1),
                           2 * node.count, f"{prefix}_glu_clamp"),
                      Node(Elementwise("concat", 2 * half, dtype, inputs=1, outputs=1, flops_per_element=0),
                           node.count, f"{prefix}_glu_concat")]
        nodes.append(node)
    return Graph(tuple(nodes), name=forward.name, meta=forward.meta)


# Megatron Core's --recompute-modules (megatron/core/transformer/transformer_config.py, `recompute_modules`; the
# default under selective granularity is ["core_attn"]) -> the forward nodes (workload.llm_graph labels) each one
# runs again in the backward: core_attn the attention kernel; moe_act the routed experts' activation (with an eager
# GLU clamp its clamps and concatenation: experts.py checkpoints the whole activation function); layernorm
# the input and pre-MLP norms; mla_up_proj MLA's query and key/value up-projections (linear_q_up_proj,
# linear_kv_up_proj; their RoPE is applied inside the attention node here); mlp a dense layer's MLP;
# shared_experts the shared expert's MLP.
RECOMPUTE_MODULES: dict[str, tuple[str, ...]] = {
    "core_attn": ("attention",),
    "moe_act": ("experts_act", "experts_glu_clamp", "experts_glu_concat"),
    "layernorm": ("attn_norm", "mlp_norm"),
    "mla_up_proj": ("q_b_proj", "kv_b_proj"),
    "mlp": ("mlp_gate_up", "mlp_up", "mlp_act", "mlp_down"),
    "shared_experts": ("shared_expert_gate_up", "shared_expert_up", "shared_expert_act", "shared_expert_down"),
}


def recomputed_node_names(modules: tuple[str, ...]) -> frozenset[str]:
    """The forward node names the backward recomputes for Megatron's `modules` (RECOMPUTE_MODULES)."""
    return frozenset(name for module in modules for name in RECOMPUTE_MODULES[module])


def _check_recompute_modules(modules: Any, recompute: str) -> None:
    """recompute_modules: a tuple of RECOMPUTE_MODULES names, and only with selective recompute."""
    if isinstance(modules, str) or not isinstance(modules, tuple | list) or any(
            m not in RECOMPUTE_MODULES for m in modules):
        raise ValueError(f"recompute_modules: expected a tuple of {', '.join(RECOMPUTE_MODULES)} (got {modules!r})")
    if modules and recompute != "selective":
        raise ValueError(f"recompute_modules: needs recompute='selective' (got recompute={recompute!r})")


def _sac_fraction(config: ModelConfig, name: str) -> float:
    """The share of a forward node torchtitan's per-op SAC runs again in the backward: every op it does not save
    (norms, rope, activations) and every other matmul in execution order (wq, wk, wv, wo, w1, w3, w2: wk, wo and
    w3 are recomputed; torchtitan/models/llama3/infra/parallelize.py, `_save_list`, "only save every other mm").
    Our fused QKV and gate/up GEMMs re-run the recomputed projections' share."""
    if name in ("attn_norm", "mlp_norm", "rope", "mlp_act", "experts_act", "o_proj"):
        return 1.0
    if name == "qkv_proj":
        return config.kv_heads / (config.heads + 2 * config.kv_heads)
    if name.endswith("_gate_up"):
        return 0.5
    return 0.0


def megatron_runtime(pp: int, vpp: int, nan_check: bool = True, one_queue: bool = True,
                     transformer_engine: bool = True) -> dict[str, bool]:
    """train()'s options for a step as Megatron-LM runs it: its loss path (`megatron_loss`); the loss NaN/Inf check
    (`nan_check`, on unless --no-check-for-nan-in-loss-and-grad) read back each micro-batch (`loss_sync`);
    batch_p2p_sync (ModelParallelConfig default) where P2P is batched, pp > 1 without the interleaved schedule,
    which overlaps its P2P instead (`p2p_sync`); one hardware queue where CUDA_DEVICE_MAX_CONNECTIONS=1, which
    Megatron-LM's launch scripts set (`single_queue`); Transformer Engine layers (`te_modules`); Megatron Core's
    rank order, pipeline parallelism outermost (`pipeline_outermost`); Megatron Core's clamped GLU, clamped in
    PyTorch (`glu_clamp`)."""
    return {"megatron_loss": True, "loss_sync": nan_check, "p2p_sync": pp > 1 and vpp == 1,
            "single_queue": one_queue, "te_modules": transformer_engine, "pipeline_outermost": True,
            "glu_clamp": "eager", "moe_sync": True}


ELEMENTWISE_MODES = ("fused", "eager")
OPTIMIZERS = ("adam", "sgd", "muon")
GROUPED_GEMM_MODES = ("searched", "torch")
# The library kernel PyTorch runs a grouped GEMM with, by its input dtype (perf/analytical/gemm.py library_kernel
# gives each one's tile): torch._grouped_mm (aten/src/ATen/native/cuda/GroupMM.cu) for 16-bit operands, which
# torchtitan's MoE calls (torchtitan/models/moe.py, _run_experts_grouped_mm); torchao's MXFP8 grouped GEMM
# (_to_mxfp8_then_scaled_grouped_mm) goes through torch._scaled_grouped_mm to FBGEMM's mx8mx8bf16_grouped on
# Blackwell. Other dtypes keep the searched tile.
GROUPED_MM_KERNELS = {"bf16": "torch-grouped-mm", "fp16": "torch-grouped-mm", "mxfp8": "fbgemm-mx8-grouped"}


def high_precision_gemms(forward: Graph, names: tuple[str, ...]) -> Graph:
    """The forward graph with the FP8 / MX GEMMs of the nodes named `names` (prefixes) back in bf16: no casts are
    added around them (with_fp8_casts / torchao_float8_casts skip 16-bit GEMMs), and their backward is bf16."""
    nodes = []
    for node in forward.nodes:
        op = node.op
        if isinstance(op, Gemm | GroupedGemm) and node.name.startswith(names) and op.dtype.startswith(("fp8", "mx")):
            node = Node(replace(op, dtype="bf16", b_dtype="bf16" if op.b_dtype else None), node.count, node.name)
        nodes.append(node)
    return Graph(tuple(nodes), name=forward.name)


def torch_grouped_mm(forward: Graph) -> Graph:
    """The forward graph with each grouped GEMM run by PyTorch's library kernel for its dtype (GROUPED_MM_KERNELS);
    the backward's dgrad / wgrad inherit it (workload/backward.py copies the op)."""
    nodes = []
    for node in forward.nodes:
        op = node.op
        kernel = GROUPED_MM_KERNELS.get(canonical_dtype(op.dtype)) if isinstance(op, GroupedGemm) else None
        nodes.append(Node(replace(op, kernel=kernel), node.count, node.name) if kernel else node)
    return Graph(tuple(nodes), name=forward.name)


def _eager(forward: Graph) -> Graph:
    """PyTorch eager modules (Hugging Face transformers without torch.compile): each elementwise step its own
    kernel. RMSNorm (modeling_llama.LlamaRMSNorm): cast to fp32, pow, mean, multiply by rsqrt, cast back,
    multiply by the weight; LayerNorm stays one aten kernel. Rotary (apply_rotary_pos_emb): q*cos, the
    rotate_half slice/negate/cat, *sin, add. SwiGLU: silu(gate), then * up. Fused (Transformer Engine,
    torch.compile, the graph as built): one kernel each."""
    nodes = []
    for node in forward.nodes:
        op = node.op
        if isinstance(op, Norm) and op.norm == "rms":
            n = op.rows * op.hidden
            steps = [Elementwise("cast", n, "bf16", out_dtype="fp32"), Elementwise("mul", n, "fp32", inputs=1),
                     Elementwise("mean", n, "fp32", inputs=1, outputs=0, flops_per_element=1),
                     Elementwise("mul", n, "fp32"), Elementwise("cast", n, "fp32", out_dtype="bf16"),
                     Elementwise("mul", n, "bf16", inputs=1)]
        elif isinstance(op, Elementwise) and op.op == "rope":
            n = op.elements
            steps = [Elementwise("mul", n, op.dtype), Elementwise("copy", max(n // 2, 1), op.dtype),
                     Elementwise("copy", n, op.dtype), Elementwise("mul", n, op.dtype),
                     Elementwise("add", n, op.dtype)]
        elif isinstance(op, Elementwise) and op.op == "swiglu":
            steps = [Elementwise("silu", op.elements, op.dtype), Elementwise("mul", op.elements, op.dtype)]
        else:
            nodes.append(node)
            continue
        nodes += [Node(step, node.count, f"{node.name}_eager{i}") for i, step in enumerate(steps)]
    return Graph(tuple(nodes), name=forward.name)


FP8_RECIPES = ("tensorwise", "rowwise", "mxfp8", "blockwise", "delayed")


def with_fp8_casts(forward: Graph, backward: Graph, recipe: str, amax_group: int = 1) -> tuple[Graph, Graph]:
    """The quantize kernels of an FP8 recipe around every FP8 GEMM (dynamic scaling: torchao float8,
    Transformer Engine current scaling and MXFP8). Forward: the activation (m x k) and the weight (k x n).
    Backward: the output gradient for dgrad and, transposed, for wgrad (2 x m x n), the transposed activation
    (m x k) and weight (k x n). Tensorwise scaling needs the tensor's amax before it can scale, an extra read
    pass (`amax`), and each quantizer call's amax reset and scale kernels (_current_scaling_nodes, with the
    amax all-reduce over `amax_group`, the TP size under sequence parallelism); rowwise / blockwise / MXFP8
    scale per row or block inside the cast; delayed scaling uses the previous step's amax (no extra pass). A
    grouped GEMM's operands are quantized expert by expert, each tensor its own kernels, except under delayed
    scaling (_quantized_tensors). Each GEMM's quantize nodes are issued just before it (_issued_before)."""
    scale_block = {"tensorwise": 0, "delayed": 0, "rowwise": 0, "mxfp8": 32, "blockwise": 128}[recipe]
    norm_fed = _norm_fed_linears(forward) if recipe == "tensorwise" else set()
    before_fwd: dict[str, list[Node]] = {}  # GEMM name -> the quantize nodes issued just before it
    before_bwd: dict[str, list[Node]] = {}  # GEMM name -> those issued just before its dgrad
    for node in forward.nodes:
        op = node.op
        if not isinstance(op, Gemm | GroupedGemm) or not op.dtype.startswith(("fp8", "mx")):
            continue
        if isinstance(op, GroupedGemm):  # grouped: every group's rows; each group's own weight
            m, n, k = sum(op.m_per_group or ()) or (op.tokens or 1), op.n, op.k
            k_weights = op.groups * k
        else:
            m, n, k = op.m * op.batch, op.n, op.k
            k_weights = k
        for label, elements, nodes in (("a", m * k, before_fwd), ("w", k_weights * n, before_fwd),
                                       ("dy", 2 * m * n, before_bwd), ("at", m * k, before_bwd),
                                       ("wt", k_weights * n, before_bwd)):
            block = scale_block or (k if label in ("a", "at") else n)
            tensors = _quantized_tensors(op, label, recipe)
            each = max(int(elements / tensors), 1)
            cast = Quantize(elements=each, fmt="fp8_e4m3", src_dtype="bf16", block=block)
            amax = Elementwise("amax", each, "bf16", inputs=1, outputs=0, flops_per_element=1)
            zero, reduce_and_scale = (_current_scaling_nodes(node, label, tensors, amax_group)
                                      if recipe == "tensorwise" else ([], []))
            call = nodes.setdefault(node.name, []) + zero  # in the quantizer's order: amax, scale, cast
            if recipe == "tensorwise":  # the norm before a norm-fed linear takes its input's amax itself
                fused = label == "a" and node.name in norm_fed
                call += ([] if fused else _kernel_nodes(amax, "amax", label, node, tensors)) + reduce_and_scale
            nodes[node.name] = call + _kernel_nodes(cast, "cast", label, node, tensors)
    return (_issued_before(forward, before_fwd, ""), _issued_before(backward, before_bwd, "_dgrad"))


# Linears whose input is the output of the norm before them, and the norm's graph label (workload.llm_graph):
# Megatron-Core's TE layer spec fuses the attention norm into linear_qkv and a dense layer's MLP norm into
# linear_fc1 (TELayerNormColumnParallelLinear; a MoE layer's pre-MLP norm stays a TENorm, train_host.te_module_ops).
NORM_FED = {"qkv_proj": "attn_norm", "mlp_up": "mlp_norm", "mlp_gate_up": "mlp_norm"}


def _norm_fed_linears(forward: Graph) -> set[str]:
    """The NORM_FED linears of `forward` whose norm is in it too. Under current scaling their input's amax is no
    pass of its own: TE's layernorm_fwd / rmsnorm_fwd (transformer_engine/pytorch/csrc/extensions/
    normalization.cpp, Impl::FUSED_NORM_AMAX_FP8) let the norm kernel write its bf16 output together with its
    amax (Float8CurrentScalingQuantizer::create_unquantized_tensor_with_amax, which zeroes the amax), then
    quantize it with quantize_with_amax: quantize_impl with compute_amax false (scale kernel, cast)."""
    names = {node.name for node in forward.nodes}
    return {linear for linear, norm in NORM_FED.items() if linear in names and norm in names}


def _kernel_nodes(kernel: Elementwise | Quantize, kind: str, label: str, node: Node, tensors: int) -> list[Node]:
    """One quantize kernel over each of an operand's `tensors`: the first tensor's node, then the other experts'
    (launched inside the same quantize call: PER_EXPERT_SUFFIX)."""
    nodes = [Node(kernel, node.count, f"fp8_{kind}_{label}:{node.name}")]
    if tensors > 1:
        nodes.append(Node(kernel, node.count * (tensors - 1), f"fp8_{kind}_{label}:{node.name}{PER_EXPERT_SUFFIX}"))
    return nodes


def _issued_before(graph: Graph, before: dict[str, list[Node]], suffix: str) -> Graph:
    """`graph` with each GEMM's quantize nodes placed just before the node `<gemm><suffix>` that first reads
    them (the forward GEMM; the backward's dgrad, which runs before the wgrad), as the framework issues them: a
    TE linear quantizes its operands inside its own call, right before its GEMM. The order sets nothing but the
    host's issue order (train_host.sync_segments); nodes whose reader is not in the graph go at its end."""
    nodes: list[Node] = []
    left = dict(before)
    for node in graph.nodes:
        gemm = node.name[:-len(suffix)] if suffix and node.name.endswith(suffix) else node.name
        if (not suffix or node.name.endswith(suffix)) and gemm in left:
            nodes += left.pop(gemm)
        nodes.append(node)
    nodes += [n for call in left.values() for n in call]
    return Graph(tuple(nodes), name=graph.name)


# Name suffix of the quantize kernels Transformer Engine launches for a grouped GEMM's other experts: more kernels
# of the one quantize call (no host op of their own: train_host.graph_ops).
PER_EXPERT_SUFFIX = "_per_expert"


# The operands a TE linear quantizes with a call of its own every micro-batch under current scaling: the input in
# the forward, the output gradient in the backward (module/linear.py, layernorm_linear.py: input_quantizer,
# grad_output_quantizer). The transposes dgrad and wgrad read ("at", "wt") are the columnwise output of the
# forward's calls (csrc/quantizer.cpp Float8CurrentScalingQuantizer::create_tensor: the transpose buffer when
# columnwise_usage on chips without non-TN FP8 GEMMs), with no scale kernel of their own. The weight's quantizer
# runs on a step's first micro-batch only (Megatron-Core passes is_first_microbatch; TE reuses its FP8 weight
# workspace after it), and not at all in the forward with FP8 parameters (--fp8-param-gather: the optimizer
# casts the master weights, TE tensor/utils.py cast_master_weights_to_fp8): its scale kernel is not per micro-batch.
# (The graph's per-micro-batch weight cast stays: the weight cache was tried and not kept, docs/validation.md.)
CURRENT_SCALING_CALLS = ("a", "dy")
# Operands whose current-scaling quantizer all-reduces its amax (MAX) over the TP group under sequence parallelism
# (TE module/linear.py and layernorm_linear.py `_customize_quantizers_float8_current_scaling`: a column-parallel
# linear's input quantizer and a row-parallel linear's grad-output quantizer get `with_amax_reduction` and the
# tp_group; the shard each rank quantizes is all-gathered in FP8, so the shards must share one scale). Megatron-
# Core's column-parallel TE linears are linear_qkv and linear_fc1 (and the shared expert's fc1), its row-parallel
# ones linear_proj and linear_fc2 (graph labels, workload.llm_graph); TE's GroupedLinear (routed experts) refuses
# current scaling with TP > 1, so it never reduces.
AMAX_REDUCED = {"a": re.compile(r"^(qkv_proj|(mlp|shared_expert)_(up|gate_up))$"),
                "dy": re.compile(r"^(o_proj|(mlp|shared_expert)_down)$")}


def _current_scaling_nodes(node: Node, label: str, tensors: int, amax_group: int
                           ) -> tuple[list[Node], list[Node]]:
    """What a Transformer Engine current-scaling quantize launches beside its amax and cast kernels, per
    quantized tensor (Float8CurrentScalingQuantizer::quantize_impl, transformer_engine/pytorch/csrc/quantizer.cpp;
    the same sequence in cast.cpp's quantize since current scaling came in), as (before the amax kernel, between
    it and the cast): the 4-byte amax is zeroed for the amax kernel's atomic max (common/recipe/current_scaling.cu
    launch_amax_kernel: cudaMemsetAsync; the norm-fused path zeroes it with amax.zero_()); for a sequence-parallel
    operand (AMAX_REDUCED) the amax is all-reduced with MAX over the TP group (`amax_reduction_group->allreduce
    (...)->wait()`: 4 bytes, the compute stream waits on it); then `nvte_compute_scale_from_amax` runs
    compute_scale_from_amax_kernel<<<1, 1>>> (reads the amax, writes the scale), which the cast reads. Only the
    operands with a quantizer call of their own each micro-batch (CURRENT_SCALING_CALLS); each expert tensor of a
    grouped GEMM is its own call (_quantized_tensors). All are issued inside the quantizer's C++ call: no host op
    (IN_QUANTIZE_SUFFIX)."""
    if label not in CURRENT_SCALING_CALLS:
        return [], []
    count = node.count * tensors
    zero = Elementwise("fp8_amax_zero", 1, "fp32", inputs=0, outputs=1, flops_per_element=0)  # 4 B written
    scale = Elementwise("fp8_scale", 1, "fp32", inputs=1, outputs=1, flops_per_element=1)  # amax in, scale out
    after = []
    pattern = AMAX_REDUCED.get(label)
    if amax_group > 1 and pattern is not None and pattern.match(node.name):
        after.append(Node(Collective("all_reduce", 4.0, amax_group, "fp32"), count,
                          f"fp8_reduce_{label}:{node.name}{IN_QUANTIZE_SUFFIX}"))
    after.append(Node(scale, count, f"fp8_scale_{label}:{node.name}{IN_QUANTIZE_SUFFIX}"))
    return [Node(zero, count, f"fp8_zero_{label}:{node.name}{IN_QUANTIZE_SUFFIX}")], after


def _quantized_tensors(op: Gemm | GroupedGemm, label: str, recipe: str) -> int:
    """Tensors one operand of an FP8 GEMM is quantized as, each with its own kernels. Transformer Engine's
    GroupedLinear quantizes the experts' inputs and output gradients with tex.split_quantize /
    fused_multi_quantize and each expert's weight with its own quantizer (module/grouped_linear.py); the C++
    multi-quantize launches one fused kernel for all of them only with delayed scaling (Float8Quantizer,
    nvte_multi_cast_transpose) and otherwise "quantize kernels individually", one quantize per expert tensor
    (csrc/extensions/cast.cpp multi_quantize_impl): a current-scaling tensor's amax, scale and cast kernels
    (Float8CurrentScalingQuantizer::quantize_impl), a block-scaled one's cast. An expert that received no rows is
    skipped (input numel 0); every expert has a weight. A dense GEMM's operand is one tensor."""
    if not isinstance(op, GroupedGemm) or recipe == "delayed":
        return 1
    if label in ("w", "wt"):
        return op.groups
    return max(sum(1 for rows in (op.m_per_group or ()) if rows > 0), 1)


def _pipeline_split(config: ModelConfig, pp: int, vpp: int, split: tuple[int, ...] | str | None, mtp: int
                    ) -> tuple[tuple[tuple[int, ...], ...] | None, int, int]:
    """(Parallelism.stage_split, vpp, MTP layers) of train()'s `pipeline_split` and `mtp_layers`."""
    if isinstance(mtp, bool) or not isinstance(mtp, int) or not 0 <= mtp <= config.layers:
        raise ValueError(f"mtp_layers: expected an integer from 0 to the model's {config.layers} layers (got "
                         f"{mtp!r}; DeepSeek-V3 trains 1)")
    if split is None and not mtp and not _interleaves_kinds(config, pp, vpp):
        return None, vpp, 0
    try:
        return _virtual_stages(config, pp, vpp, split, mtp)
    except ValueError as exc:
        raise ValueError(f"pipeline_split: {exc}") from None


@functools.lru_cache(maxsize=256)
def _interleaves_kinds(config: ModelConfig, pp: int, vpp: int) -> bool:
    """Whether an even split under the interleaved schedule gives a rank other layer kinds than contiguous layers
    would: Megatron deals the model's layers to virtual stages in order (virtual stage v on rank v % pp, each
    layers / (pp x vpp) layers), so a rank holds every pp-th chunk; with one layer kind (MoE, sliding window) the
    contiguous split prices the same, and is kept (cheaper)."""
    if pp < 2 or vpp < 2 or config.layers % (pp * vpp):
        return False
    return len({(config.is_moe_layer(i), i < config.sliding_layers) for i in range(config.layers)}) > 1


def _virtual_stages(config: ModelConfig, pp: int, vpp: int, split: tuple[int, ...] | str | None, mtp: int
                    ) -> tuple[tuple[tuple[int, ...], ...], int, int]:
    if split is None and _interleaves_kinds(config, pp, vpp):  # Megatron's even interleaved split, model order
        counts = [config.layers // (pp * vpp)] * (pp * vpp)
        return virtual_split(counts, pp, config.layers, mtp), vpp, mtp
    if split is None:  # MTP layers on an even split: the decoder's layers as stage_layers splits them
        if config.layers < pp:
            raise ValueError(f"more pipeline stages (pp={pp}) than the {config.layers} layers of {config.name}")
        counts = [len(stage_layers(config, Parallelism(pp=pp), s)) for s in range(pp)]
        return virtual_split(counts, pp, config.layers, mtp), 1 if pp == 1 else vpp, mtp
    if isinstance(split, str):
        stages, layout_vpp, layout_mtp = layout_split(split, config.layers, pp)
        if vpp not in (1, layout_vpp):
            raise ValueError(f"the layout has {layout_vpp} stages per rank, vpp={vpp} was given")
        if mtp and mtp != layout_mtp:
            raise ValueError(f"the layout has {layout_mtp} MTP layers (m), mtp_layers={mtp} was given")
        return stages, layout_vpp, layout_mtp
    counts = list(split)
    if any(isinstance(c, bool) or not isinstance(c, int) for c in counts) or len(counts) not in (pp, pp * vpp):
        virtual = f" or {pp * vpp} (one per virtual stage)" if vpp > 1 else ""
        raise ValueError(f"expected {pp} layer counts (one per stage){virtual}, or a Megatron layout string "
                         f"(got {split!r})")
    if len(counts) == pp and vpp > 1:  # a rank's layers spread evenly over its model chunks
        if any(c % vpp for c in counts):
            raise ValueError(f"stage layer counts {counts} do not split over vpp={vpp} chunks")
        counts = [counts[v % pp] // vpp for v in range(pp * vpp)]
    return virtual_split(counts, pp, config.layers, mtp), vpp, mtp


@memoized
def _rank_layers(config: ModelConfig, par: Parallelism) -> tuple[int, ...]:
    return tuple(len(stage_layers(config, par, stage)) for stage in range(par.pp))


@memoized
def _stage_run_index(config: ModelConfig, par: Parallelism) -> tuple[int, ...]:
    """For each pipeline rank, the index of its distinct stage in `_distinct_stages` (the order of the runs)."""
    keys = _stage_keys(config, par)
    first = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    return tuple(first[key] for key in keys)


@memoized
def _stage_keys(config: ModelConfig, par: Parallelism) -> tuple[tuple[Any, ...], ...]:
    """What each rank's graphs depend on besides the layout: first, last, its layer kinds with their counts and its
    MTP layers (workload.llm_graph.stage_kind). Ranks with one key have identical graphs. Found once per estimate
    (memo scope) for the three readers below."""
    return tuple(stage_kind(config, par, stage) for stage in range(par.pp))


def _distinct_stages(config: ModelConfig, par: Parallelism) -> list[int]:
    """One stage per distinct key (`_stage_keys`), the first rank that has it: the others have identical graphs."""
    seen: dict[tuple[Any, ...], int] = {}
    for stage, key in enumerate(_stage_keys(config, par)):
        seen.setdefault(key, stage)
    return list(seen.values())


@memoized
def _forward_matrix_flops(config: ModelConfig, par: Parallelism, prec: Precision, step: Step) -> float:
    """Matrix FLOPs of one micro-batch's forward on one device of an average stage (sum over stages / pp).

    Counted from the graph: causal attention at half, the LM head on every token (training)."""
    kinds: dict[tuple[Any, ...], list[int]] = {}
    for stage, key in enumerate(_stage_keys(config, par)):
        kinds.setdefault(key, []).append(stage)
    total = 0.0
    flops_of: dict[Op, float] = {}  # the stages' graphs share most ops: each one's cost is found once
    for members in kinds.values():  # stages of one kind have identical graphs: build one
        total += len(members) * _matrix_flops(_forward_graph(config, step, par, prec, members[0], MEMO_PARTS),
                                              flops_of)
    return total / par.pp


def _matrix_flops(graph: Graph, flops_of: dict[Op, float]) -> float:
    """`graph.cost().matrix_flops` (the same sum in the same order), each op's matrix FLOPs taken from `flops_of`
    or found and put there."""
    total = 0.0
    for node in graph.nodes:
        flops = flops_of.get(node.op)
        if flops is None:
            flops = flops_of[node.op] = node.op.cost().matrix_flops
        total += flops * node.count
    return total


@memoized
def _local_params(config: ModelConfig, par: Parallelism, etp: int | None = None) -> tuple[float, float]:
    """(dense, expert) parameters on the busiest device (largest stage)."""
    return max((stage_params(config, par, s, etp) for s in range(par.pp)), key=sum)


def _dp_collectives(params: tuple[float, float], par: Parallelism, zero: int, etp: int | None,
                    pipeline_outermost: bool = False) -> list[tuple[str, Collective]]:
    """Gradient reduction and parameter gathers of one step over the groups that hold replicas (dense parameters
    over dp x cp, expert parameters over the expert-data-parallel group), each at its peers' device stride
    (replica_strides)."""
    out = []
    for count, group, stride in zip(params, replica_groups(par, etp), replica_strides(par, etp, pipeline_outermost),
                                    strict=True):
        if group <= 1 or count <= 0:
            continue
        if zero == 0:
            out.append(("grad_allreduce", Collective("all_reduce", count * GRAD_BYTES, group, "fp32", stride)))
        else:
            out += [("grad_reduce_scatter", Collective("reduce_scatter", count * GRAD_BYTES, group, "fp32", stride)),
                    ("param_allgather", Collective("all_gather", count * PARAM_BYTES, group, "bf16", stride))]
    return out


def replica_strides(par: Parallelism, etp: int | None, pipeline_outermost: bool = False) -> tuple[int, int]:
    """How many devices apart the peers of the dense and of the expert data-parallel group sit.

    Dense: tp x pp x cp (DP outermost, as Llama 3's order). Expert: Megatron Core lays the expert ranks of a
    pipeline stage out as expert-TP, then EP, then expert-DP (megatron/core/parallel_state.py
    initialize_model_parallel: the expert RankGenerator takes the default order "tp-cp-ep-dp-pp" with cp = 1 over
    the same ranks as the dense one), so the expert-DP peers
    are etp x ep ranks apart, times pp in our DP-outermost order. With EP filling a node (ep x etp = 8 on an
    8-GPU NVLink domain) the expert gradients reduce across nodes, one GPU per node, each over its own NIC,
    however few the replicas. `pipeline_outermost` (Megatron Core's own order, pipeline_stride): no pipeline
    ranks in between, tp x cp and etp x ep."""
    outer = 1 if pipeline_outermost else par.pp
    return par.tp * outer * par.cp, expert_tp(par, etp) * par.ep * outer


def _te_grouped_gemm(config: ModelConfig, moe_grouped_gemm: bool, grouped_gemm: str) -> bool:
    """Whether the experts run as Transformer Engine grouped GEMMs (Megatron Core's TEGroupedMLP), which hold a cuBLAS
    workspace per compute stream (train_memory.library_workspace); torch._grouped_mm (grouped_gemm="torch",
    torchtitan) and one module per expert (SequentialMLP) do not."""
    return config.moe is not None and moe_grouped_gemm and grouped_gemm == "searched"


def _check_megatron_options(instances: int, defer: int | None, zero: int, pp: int, optimizer: str) -> None:
    if isinstance(instances, bool) or not isinstance(instances, int) or instances < 1:
        raise ValueError(f"optimizer_instances: expected an integer >= 1 (got {instances!r})")
    if instances > 1 and (zero != 1 or optimizer == "muon"):
        raise ValueError(f"optimizer_instances={instances}: copies of Megatron's distributed optimizer (zero=1 with "
                         f"Adam; its layer-wise Muon refuses them); got zero={zero}, optimizer={optimizer!r}")
    if defer is not None:
        if isinstance(defer, bool) or not isinstance(defer, int) or defer < 0:
            raise ValueError(f"defer_embedding_wgrad: expected the deferral limit, an integer >= 0 (0: every "
                             f"micro-batch), or None (got {defer!r})")
        if pp < 2:
            raise ValueError("defer_embedding_wgrad: the output layer's weight gradient is deferred into the "
                             "pipeline's drain, so it needs pp >= 2 (Megatron-LM refuses it without)")


def _deferred_wgrads(defer: int | None, micro_batches: int) -> int:
    """Micro-batches whose output-layer input and gradient the last stage holds for the deferred weight gradient
    (Megatron: appended while the buffer is below --wgrad-deferral-limit, every one at 0)."""
    if defer is None:
        return 0
    return micro_batches if defer == 0 else min(defer, micro_batches)


def _check_muon(optimizer: str, muon_sharding: str, zero: int) -> None:
    if muon_sharding not in MUON_SHARDINGS:
        raise ValueError(f"muon_sharding: expected one of {', '.join(MUON_SHARDINGS)} (got {muon_sharding!r})")
    if optimizer == "muon" and zero not in (0, 1):
        raise ValueError(f"optimizer='muon' runs with zero=0 (Megatron's Muon, every state on every replica) or "
                         f"zero=1 (its layer-wise distributed optimizer); got zero={zero}: Muon under FSDP or "
                         f"ZeRO-2/3 is not modelled")


@memoized  # a plan's layouts that differ only in vpp, micro-batch or recompute share it (llm.plan with Muon)
def _muon_step_time(config: ModelConfig, hw: HardwareSpec, par: Parallelism, zero: int, level: str,
                    etp: int | None, sharding: str) -> tuple[float, float]:
    """(seconds, host ops) of Muon's optimizer step on the slowest rank: the stage whose step takes longest, and in
    it the data-parallel rank with the most work (llm/muon.py step_graph)."""
    groups = replica_groups(par, etp)
    mode = "replicated" if zero == 0 else sharding
    slowest = (0.0, 0.0)
    for stage in _distinct_stages(config, par):  # ranks with one stage key hold the same tensors
        graph, ops = muon_step_graph(muon_stage_tensors(config, par, stage, expert_tp(par, etp)), groups, mode)
        slowest = max(slowest, (estimate(graph, hw, level).seconds, ops))
    return slowest


def _check_choices(optimizer: str, grouped_gemm: str, fsdp_backward_prefetch: str, attention: str | None,
                   elementwise: str, cross_entropy: str) -> None:
    """train()'s named choices, each refused with the option and its values named."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer: expected one of {', '.join(OPTIMIZERS)} (got {optimizer!r})")
    if grouped_gemm not in GROUPED_GEMM_MODES:
        raise ValueError(f"grouped_gemm: expected one of {', '.join(GROUPED_GEMM_MODES)} (got {grouped_gemm!r})")
    if fsdp_backward_prefetch not in BACKWARD_PREFETCH:
        raise ValueError(f"fsdp_backward_prefetch: expected one of {', '.join(BACKWARD_PREFETCH)} "
                         f"(got {fsdp_backward_prefetch!r})")
    if attention not in (None, "fa2", "fa3", "math", "triton", "aotriton", "mem_efficient"):
        raise ValueError(f"attention: expected fa2, fa3, math, triton, aotriton, mem_efficient or None "
                         f"(got {attention!r})")
    if elementwise not in ELEMENTWISE_MODES:
        raise ValueError(f"elementwise: expected one of {', '.join(ELEMENTWISE_MODES)} (got {elementwise!r})")
    if cross_entropy not in CROSS_ENTROPY:
        raise ValueError(f"cross_entropy: expected one of {', '.join(CROSS_ENTROPY)} (got {cross_entropy!r})")


# train()'s options that stay fixed while a planner searches the layout (llm.plan, a sweep's `train_options`): the
# framework's choices, each refused up front for a value train() would refuse whatever the layout
# (`check_options`). The layout (tp ... recompute, etp, pipeline_split), the workload (seq_len, global_batch,
# dtype), the level and the memory check and report (check_memory, memory_stage: a plan fits every stage) are
# the planner's own.
SWITCHES = ("overlap", "tp_overlap", "hidden_dropout", "attention_dropout", "fp8_all_gather",
            "grad_accumulation_fusion", "moe_grouped_gemm", "p2p_sync", "loss_sync", "single_queue",
            "megatron_loss", "moe_aux_loss", "te_modules", "moe_sync", "fsdp_pp_unsharded", "pipeline_outermost")
FIXED_OPTIONS = (*SWITCHES, "attention", "cross_entropy", "fp8_recipe", "elementwise", "fsdp_backward_prefetch",
                 "fp8_casts", "host_op_latency", "grouped_gemm", "fp8_skip", "optimizer", "muon_sharding",
                 "recompute_modules", "glu_clamp", "optimizer_instances", "defer_embedding_wgrad")


def check_options(options: dict[str, Any]) -> None:
    """`options` (FIXED_OPTIONS names) refused as train() refuses them where no layout could make them right: a
    search that turns train's ValueErrors into refused layouts would otherwise refuse every layout and hide the
    typo. What depends on the layout (Muon under ZeRO-3, a deferred wgrad without a pipeline, recompute_modules
    without selective recompute) stays train()'s refusal of those layouts."""
    unknown = sorted(set(options) - set(FIXED_OPTIONS))
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not a train() option a plan keeps fixed; expected any of "
                         f"{', '.join(FIXED_OPTIONS)}")
    args = {**{name: param.default for name, param in _TRAIN_PARAMETERS.items() if name in FIXED_OPTIONS}, **options}
    _check_switches(**{name: args[name] for name in SWITCHES})
    _check_fp8_skip(args["fp8_skip"])
    _check_recompute_modules(args["recompute_modules"], "selective")
    _check_choices(args["optimizer"], args["grouped_gemm"], args["fsdp_backward_prefetch"], args["attention"],
                   args["elementwise"], args["cross_entropy"])
    _check_muon(args["optimizer"], args["muon_sharding"], zero=1)
    _check_megatron_options(args["optimizer_instances"], args["defer_embedding_wgrad"], zero=1, pp=2,
                            optimizer=args["optimizer"])
    _check_host_and_gather(args["host_op_latency"], False, zero=3, low_precision=True)
    _check_fp8_casts(args["fp8_casts"], args["fp8_recipe"])
    _check_glu_clamp(args["glu_clamp"])


def _check_fp8_casts(fp8_casts: str, fp8_recipe: str | None) -> None:
    if fp8_casts not in ("te", "torchao"):
        raise ValueError(f"fp8_casts: expected te or torchao (got {fp8_casts!r})")
    recipes = TORCHAO_RECIPES if fp8_casts == "torchao" else FP8_RECIPES
    if fp8_recipe is not None and fp8_recipe not in recipes:
        raise ValueError(f"fp8_recipe: expected one of {', '.join(recipes)} (got {fp8_recipe!r})")


def _check_glu_clamp(glu_clamp: str) -> None:
    if glu_clamp not in GLU_CLAMPS:
        raise ValueError(f"glu_clamp: expected one of {', '.join(GLU_CLAMPS)} (got {glu_clamp!r})")


def _check_switches(**switches: Any) -> None:
    """On/off options must be True or False: a string such as "false" is truthy and would price the option on."""
    for name, value in switches.items():
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected True or False (got {value!r})")


def _check_fp8_skip(fp8_skip: Any) -> None:
    """fp8_skip is a sequence of node-name prefixes; one bare string would be read letter by letter."""
    if isinstance(fp8_skip, str) or not isinstance(fp8_skip, tuple | list) or not all(
            isinstance(name, str) for name in fp8_skip):
        raise ValueError(f"fp8_skip: expected a tuple of node-name prefixes, e.g. (\"lm_head\",) (got {fp8_skip!r})")


def _check_host_and_gather(host_op_latency: float | None, fp8_all_gather: bool, zero: int,
                           low_precision: bool) -> None:
    """Options whose wrong values would price silently: a host time that is not a number of seconds >= 0, and a
    float8 all-gather with no FSDP gathers (zero < 3) or no float8 weights to gather."""
    if host_op_latency is not None and (isinstance(host_op_latency, bool) or not isinstance(
            host_op_latency, int | float) or not 0 <= host_op_latency < 1):
        raise ValueError(f"host_op_latency: expected seconds per op from 0 to under 1, e.g. 90e-6 "
                         f"(got {host_op_latency!r})")
    if fp8_all_gather and (zero != 3 or not low_precision):
        raise ValueError("fp8_all_gather: FSDP gathers float8 weights only with zero=3 and an fp8/mx dtype "
                         f"(got zero={zero}{'' if low_precision else ', a 16-bit dtype'})")


@memoized
def _exposed_dp_comm(config: ModelConfig, hw: HardwareSpec, par: Parallelism, zero: int, micro_batches: int,
                     fwd: Estimate, bwd: Estimate, overlap: bool, level: str, etp: int | None = None,
                     fp8_all_gather: bool = False, backward_prefetch: str = "pre",
                     pipeline_outermost: bool = False,
                     windows: tuple[float, float] | None = None) -> float:
    """Data-parallel communication not hidden behind compute. `windows`: the (forward, backward) seconds the
    collectives hide behind (default: the passes' seconds); the GEMMs' share of them sets how much a persistent
    GEMM loses beside FSDP's collectives (host waits in a window slow no GEMM).

    ZeRO 0-2 / Megatron-LM's distributed optimizer: the gradient reduce hides behind the last micro-batch's
    backward, the parameter all-gather behind the first forward (--overlap-grad-reduce / --overlap-param-gather).
    ZeRO-3 / FSDP: every micro-batch gathers each layer's parameters before its forward and again before its
    backward and reduce-scatters its gradients after; the next layer's gather is prefetched behind the current
    layer's compute on the SMs NCCL leaves free (llm/fsdp.py: a pass exposes max(C - X, share x C)) plus the
    first layer's gather and the last layer's reduce-scatter, and FSDP's casts and copies around its collectives
    (fsdp_copy_graph, 14 B per local parameter per micro-batch). `fp8_all_gather`: torchao's float8 all-gather
    sends the layers' weights in one byte."""
    params = _local_params(config, par, etp)
    ops = _dp_collectives(params, par, zero, etp, pipeline_outermost)
    fwd_window, bwd_window = windows if windows is not None else (fwd.seconds, bwd.seconds)
    if zero < 3:
        # the dense and the expert groups' collectives queue on one communication stream and share the links: each
        # kind (gradients after the backward, parameters before the forward) hides behind its window once, whole
        queued = {"grad": [], "param": []}
        for name, op in ops:
            queued["grad" if name.startswith("grad") else "param"].append(_estimate(op, hw, level).seconds)
        hide = {"grad": bwd_window, "param": fwd_window} if overlap else {"grad": 0.0, "param": 0.0}
        return sum(max(0.0, sum(seconds) - hide[kind]) for kind, seconds in queued.items() if seconds)
    layers = max(len(stage_layers(config, par, 0)), 1)
    # FSDP wraps each layer: one gather / reduce-scatter call per layer, each paying its own latency
    per_param = gather_bytes_per_param(config, fp8_all_gather)
    gather = layers * sum(_estimate(replace(op, bytes=op.bytes * per_param / PARAM_BYTES / layers), hw,
                                   level).seconds for name, op in ops if name == "param_allgather")
    scatter = layers * sum(_estimate(replace(op, bytes=op.bytes / layers), hw, level).seconds
                           for name, op in ops if name == "grad_reduce_scatter")
    # the casts and copies around FSDP's collectives, on the compute's SMs and HBM (llm/fsdp.py)
    copies = micro_batches * _estimate(fsdp_copy_graph(sum(params), fp8_all_gather), hw, level).seconds
    if not overlap:
        return micro_batches * (2 * gather + scatter) + copies
    # llm/fsdp.py: per-layer gathers and reduce-scatters overlapped with compute on the SMs NCCL leaves free; on
    # a chip whose GEMMs are persistent with a static schedule, those GEMMs run in two rounds beside them
    share, persistent = nccl_sm_share(hw), static_persistent_gemms(hw)
    return copies + fsdp_exposed(gather, scatter, fwd_window, bwd_window, layers,
                                 overlap_share(share, gemm_fraction(fwd, fwd_window), persistent), micro_batches,
                                 backward_prefetch, overlap_share(share, gemm_fraction(bwd, bwd_window), persistent))


def gemm_fraction(graph: Estimate, wall: float | None = None) -> float:
    """Share of a pass's op time spent in its dense GEMMs (library matmuls: the parts priced as "gemm", recomputed
    ones included); 0 for an empty pass. `wall`: the seconds the pass takes, its overlapped communication counted
    once and any wait on the host in (default: the parts' sum)."""
    total = sum(count * est.seconds for _name, count, est in graph.parts)
    if wall is not None:  # the parts' sum moved by the difference (0 exactly where nothing overlaps or waits)
        total += wall - graph.seconds
    gemm = sum(count * est.seconds for _name, count, est in graph.parts if est.op == "gemm")
    return gemm / total if total > 0 else 0.0


@memoized
def _optimizer_time(config: ModelConfig, hw: HardwareSpec, par: Parallelism, zero: int, level: str,
                    etp: int | None = None, optimizer: str = "adam", instances: int = 1) -> float:
    """Adam over the local shard (fp32 master, moments and gradient: Elementwise "adam"), preceded by the global
    gradient-norm for clipping (one fp32 read of the local gradients) and followed by the bf16 copy of the
    updated master weights. "sgd": p -= lr * grad on the bf16 parameters (torch.optim.SGD's foreach
    _foreach_add_: read the parameter and its gradient, write the parameter; no clipping, no master copy)."""
    dense, expert = _local_params(config, par, etp)
    groups = [max(g // instances, 1) for g in replica_groups(par, etp)]  # one optimizer instance's ranks
    shard = dense / (groups[0] if zero >= 1 else 1) + expert / (groups[1] if zero >= 1 else 1)
    n = max(int(shard), 1)
    if optimizer == "sgd":
        sgd = Elementwise("sgd", n, "bf16", inputs=2, outputs=1, flops_per_element=2)
        return estimate(Graph((Node(sgd, 1, "sgd"),), name="optimizer"), hw, level).seconds
    nodes = (Node(Elementwise("adam", n, "fp32"), 1, "adam"),
             Node(Elementwise("grad_norm", n, "fp32", inputs=1, outputs=0, flops_per_element=2), 1, "grad_norm"),
             Node(Elementwise("cast", n, "fp32", out_dtype="bf16"), 1, "param_copy"))
    return estimate(Graph(nodes, name="optimizer"), hw, level).seconds


def _train_does_not_fit(config: ModelConfig, hw: HardwareSpec, par: Parallelism, zero: int, mem: TrainMemory,
                        recompute: str) -> str:
    gb = 1e9
    largest = mem.largest()
    advice = {
        "activations": f"recompute='full' (now {recompute!r}), a smaller micro_batch, more tp (with sequence "
                       "parallelism) or cp",
        "transient": f"the largest transient is {mem.transient_kind or 'none'}: a fused cross entropy, more tp "
                     "or a smaller micro_batch",
        "optimizer": "zero=1..3 over more dp (the distributed optimizer shards it)",
        "weights": "more tp or pp (or ep for experts), or zero=3",
        "gradients": "zero=2..3 or more tp/pp",
        "fp8_weights": "fp8_weight_cache=False",
        "reserve": "a smaller reserve",
        "workspace": "smaller library workspaces",
    }[largest]
    parts = " + ".join(f"{getattr(mem, p) / gb:.1f} GB {p}" for p in TrainMemory.PARTS if getattr(mem, p) > 0)
    return (
        f"training {config.name} does not fit on {hw.id} with tp={par.tp} pp={par.pp} cp={par.cp} ep={par.ep} "
        f"dp={par.dp} zero={zero}: per device (pipeline stage {mem.stage}) {parts} = {mem.total / gb:.1f} GB "
        f"> {mem.capacity / gb:.1f} GB. The largest term is {largest}: try {advice}."
    )
