"""LLM training step estimates: 3D/4D parallelism, 1F1B pipeline with interleaving, ZeRO, recompute, overlap.

Model (the README's "how the models work" repeats it):
- Devices = tp x pp x cp x dp. Each data-parallel replica runs m = global_batch / (dp x micro_batch)
  micro-batches of micro_batch sequences of seq_len / cp tokens.
- Per micro-batch and stage: forward graph, backward graph (GEMMs 2x, attention 2.5x forward), plus recompute:
  "none" nothing, "selective" the attention core again (Megatron-LM selective recompute), "full" the whole
  forward again.
- 1F1B pipeline: step = (m + (pp - 1) / vpp) x (t_fwd + t_bwd) of the slowest stage (Narayanan et al. SC21,
  the interleaved schedule divides the bubble by vpp).
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

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..hardware import HardwareSpec, load_hardware
from ..hardware.dtypes import canonical_dtype
from ..perf import Estimate, estimate
from ..perf.estimate import estimate_graphs
from ..workload.backward import backward_graph
from ..workload.llm_graph import Parallelism, Precision, Step, forward_graph, stage_layers
from ..workload.model_config import ModelConfig, load_model
from ..workload.ops import Collective, Elementwise, Graph, Node
from .infer import DoesNotFit
from .memory import MemoryParts

GRAD_BYTES = 4  # fp32 main gradients (Megatron-LM default for bf16 training: grads accumulated in fp32)
PARAM_BYTES = 2  # bf16 model weights (FP8 training keeps bf16 weights and casts per GEMM)
OPTIMIZER_BYTES = 12  # fp32 master weights + Adam m + v
RECOMPUTE_MODES = ("none", "selective", "full")


@dataclass(frozen=True, slots=True)
class TrainMemory(MemoryParts):
    weights: float
    gradients: float
    optimizer: float
    activations: float
    capacity: float

    PARTS: ClassVar[tuple[str, ...]] = ("weights", "gradients", "optimizer", "activations")


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
    breakdown: dict[str, float]  # compute, bubble, exposed_comm, optimizer (seconds; they add up to step_s)
    memory: TrainMemory
    forward: Estimate = field(repr=False)
    backward: Estimate = field(repr=False)

    @property
    def memory_per_device_bytes(self) -> float:
        return self.memory.total

    def to_dict(self, parts: bool = False) -> dict[str, Any]:
        keys = ("model", "hw", "level", "devices", "tp", "pp", "dp", "cp", "ep", "vpp", "zero", "seq_len",
                "global_batch", "micro_batch", "micro_batches", "recompute", "dtype", "step_s",
                "tokens_per_s_per_device", "model_tflops_per_device", "mfu")
        out: dict[str, Any] = {k: getattr(self, k) for k in keys}
        out.update(breakdown=self.breakdown, memory=self.memory.to_dict(),
                   memory_per_device_bytes=self.memory_per_device_bytes,
                   forward=self.forward.to_dict(parts=parts), backward=self.backward.to_dict(parts=parts))
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
) -> TrainResult:
    """One optimizer step of `model` on tp x pp x cp x dp devices of `hw`.

    Raises DoesNotFit (with the numbers) when the memory per device exceeds the chip's; `check_memory=False`
    returns the estimate anyway, with `memory.total` above `memory.capacity`. `attention`: the framework's attention
    kernel (`Attention.variant`): "math" for unfused attention (Megatron-LM before FlashAttention: the score matrix
    written, softmax, read back), "fa2"/"fa3"; None: the best for the chip."""
    config = load_model(model)
    spec = load_hardware(hw)
    if attention not in (None, "fa2", "fa3", "math"):
        raise ValueError(f"attention: expected fa2, fa3, math or None (got {attention!r})")
    par = Parallelism(tp=tp, pp=pp, ep=ep, dp=dp, cp=cp, sp=tp > 1 if sp is None else sp, attention=attention)
    par.check(config)
    micro_batches = _check_train_args(config, par, vpp, zero, seq_len, global_batch, micro_batch, recompute)
    prec = Precision(dtype=canonical_dtype(dtype))
    step = Step(batch=micro_batch, new_tokens=seq_len // cp, context=seq_len - seq_len // cp)
    stages = _stage_times(config, spec, par, prec, step, recompute, level, _distinct_stages(config, pp))
    fwd, bwd = max(stages, key=lambda fb: fb[0].seconds + fb[1].seconds)
    per_micro = fwd.seconds + bwd.seconds
    compute = micro_batches * per_micro
    bubble = (pp - 1) / vpp * per_micro
    comm = _exposed_dp_comm(config, spec, par, prec, zero, micro_batches, fwd, bwd, overlap, level)
    optimizer = _optimizer_time(config, spec, par, zero, level)
    step_s = compute + bubble + comm + optimizer
    devices = tp * pp * cp * dp
    # model FLOPs of the step: 3 x forward (no recompute), all stages, all TP ranks, all replicas
    model_flops = 3 * _forward_matrix_flops(config, par, prec, step) * pp * tp * micro_batches * dp
    peak = spec.matrix_peak(prec.matmul_input_dtype)
    tokens = global_batch * seq_len
    memory = _memory(config, spec, par, zero, micro_batch, seq_len, recompute, vpp)
    if check_memory and memory.total > memory.capacity:
        raise DoesNotFit(_train_does_not_fit(config, spec, par, zero, memory))
    return TrainResult(
        model=config.name, hw=spec.id, level=level, devices=devices, tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp,
        zero=zero, seq_len=seq_len, global_batch=global_batch, micro_batch=micro_batch,
        micro_batches=micro_batches, recompute=recompute, dtype=prec.weight_dtype, step_s=step_s,
        tokens_per_s_per_device=tokens / step_s / devices, model_tflops_per_device=model_flops / step_s / devices / 1e12,
        mfu=model_flops / step_s / devices / peak,
        breakdown={"compute": compute, "bubble": bubble, "exposed_comm": comm, "optimizer": optimizer},
        memory=memory, forward=fwd, backward=bwd,
    )


def _check_train_args(config: ModelConfig, par: Parallelism, vpp: int, zero: int, seq_len: int, global_batch: int,
                      micro_batch: int, recompute: str) -> int:
    if zero not in (0, 1, 2, 3):
        raise ValueError(f"zero: expected 0, 1, 2 or 3 (got {zero})")
    if recompute not in RECOMPUTE_MODES:
        raise ValueError(f"recompute: expected one of {', '.join(RECOMPUTE_MODES)} (got {recompute!r})")
    if vpp < 1 or config.layers < par.pp * vpp:
        raise ValueError(f"vpp={vpp}: needs at least pp x vpp = {par.pp * vpp} layers (the model has {config.layers})")
    if seq_len % par.cp:
        raise ValueError(f"seq_len={seq_len}: must be divisible by cp={par.cp}")
    if micro_batch < 1 or global_batch < 1 or global_batch % (par.dp * micro_batch):  # -64 % 8 == 0 too
        raise ValueError(
            f"global_batch={global_batch}: must be a multiple of dp x micro_batch = {par.dp * micro_batch}")
    return global_batch // (par.dp * micro_batch)


def _stage_times(config: ModelConfig, hw: HardwareSpec, par: Parallelism, prec: Precision, step: Step,
                 recompute: str, level: str, stages: list[int]) -> list[tuple[Estimate, Estimate]]:
    """(forward, backward) of each stage; the stages' graphs share one estimate per distinct op."""
    graphs = []
    for stage in stages:
        forward = forward_graph(config, step, par, prec, stage)
        backward = backward_graph(forward)
        if recompute == "full":
            backward = forward + backward
        elif recompute == "selective":
            core = tuple(n for n in forward.nodes if n.name == "attention")
            backward = Graph(core, name="recompute") + backward
        graphs += [forward, backward]
    times = estimate_graphs(graphs, hw, level)
    return list(zip(times[::2], times[1::2], strict=True))


def _distinct_stages(config: ModelConfig, pp: int) -> list[int]:
    """One stage per distinct (layer count, first, last) kind: the others have identical graphs."""
    seen: dict[tuple[int, bool, bool], int] = {}
    for stage in range(pp):
        seen.setdefault((len(stage_layers(config, pp, stage)), stage == 0, stage == pp - 1), stage)
    return list(seen.values())


def _forward_matrix_flops(config: ModelConfig, par: Parallelism, prec: Precision, step: Step) -> float:
    """Matrix FLOPs of one micro-batch's forward on one device of an average stage (sum over stages / pp).

    Counted from the graph: causal attention at half, the LM head on every token (training)."""
    total = 0.0
    for stage in range(par.pp):
        total += forward_graph(config, step, par, prec, stage).cost().matrix_flops
    return total / par.pp


def _local_params(config: ModelConfig, par: Parallelism) -> float:
    """Parameters on the busiest device (largest stage, 1/tp of it)."""
    worst = 0.0
    for stage in range(par.pp):
        params = sum(config.layer_params(i) for i in stage_layers(config, par.pp, stage))
        if stage == 0:
            params += config.vocab * config.hidden
        if stage == par.pp - 1 and not config.tie_embeddings:
            params += config.vocab * config.hidden
        worst = max(worst, params)
    return worst / par.tp


def _dp_collectives(params: float, par: Parallelism, zero: int) -> list[tuple[str, Collective]]:
    stride = par.tp * par.pp * par.cp  # DP peers are this many devices apart
    if par.dp <= 1:
        return []
    if zero == 0:
        return [("grad_allreduce", Collective("all_reduce", params * GRAD_BYTES, par.dp, "fp32", stride))]
    return [("grad_reduce_scatter", Collective("reduce_scatter", params * GRAD_BYTES, par.dp, "fp32", stride)),
            ("param_allgather", Collective("all_gather", params * PARAM_BYTES, par.dp, "bf16", stride))]


def _exposed_dp_comm(config: ModelConfig, hw: HardwareSpec, par: Parallelism, prec: Precision, zero: int,
                     micro_batches: int, fwd: Estimate, bwd: Estimate, overlap: bool, level: str) -> float:
    params = _local_params(config, par)
    exposed = 0.0
    for name, op in _dp_collectives(params, par, zero):
        seconds = estimate(op, hw, level).seconds
        hide = (bwd.seconds if name.startswith("grad") else fwd.seconds) if overlap else 0.0
        exposed += max(0.0, seconds - hide)
    if zero == 3 and par.dp > 1:
        # parameters gathered before every forward and backward, prefetched behind the previous layer's compute
        gather = estimate(Collective("all_gather", params * PARAM_BYTES, par.dp, "bf16", par.tp * par.pp * par.cp),
                          hw, level).seconds
        per_micro = 2 * gather - (fwd.seconds + bwd.seconds if overlap else 0.0)
        exposed += micro_batches * max(0.0, per_micro)
    return exposed


def _optimizer_time(config: ModelConfig, hw: HardwareSpec, par: Parallelism, zero: int, level: str) -> float:
    shard = _local_params(config, par) / (par.dp if zero >= 1 else 1)
    adam = Elementwise("adam", max(int(shard), 1), "fp32")
    return estimate(Graph((Node(adam),), name="optimizer"), hw, level).seconds


def _activation_bytes(config: ModelConfig, par: Parallelism, micro_batch: int, seq_len: int, recompute: str,
                      vpp: int) -> float:
    s, b, h, a, t = seq_len / par.cp, micro_batch, config.hidden, config.heads, par.tp
    layers = max(len(stage_layers(config, par.pp, st)) for st in range(par.pp))
    if recompute == "full":
        per_layer = 2 * s * b * h / (t if par.sp else 1)
    else:
        per_layer = 34 * s * b * h / t
        if recompute == "none":
            per_layer += 5 * a * s * s * b / t
    # 1F1B: the first stage holds pp micro-batches in flight; interleaving adds (pp - 1) / (pp x vpp) more
    in_flight = par.pp * (1 + (par.pp - 1) / (par.pp * vpp)) if vpp > 1 else par.pp
    return per_layer * layers * min(in_flight, par.pp * 2)


def _memory(config: ModelConfig, hw: HardwareSpec, par: Parallelism, zero: int, micro_batch: int, seq_len: int,
            recompute: str, vpp: int) -> TrainMemory:
    params = _local_params(config, par)
    return TrainMemory(
        weights=params * PARAM_BYTES / (par.dp if zero >= 3 else 1),
        gradients=params * GRAD_BYTES / (par.dp if zero >= 2 else 1),
        optimizer=params * OPTIMIZER_BYTES / (par.dp if zero >= 1 else 1),
        activations=_activation_bytes(config, par, micro_batch, seq_len, recompute, vpp),
        capacity=hw.main_memory.capacity,
    )


def _train_does_not_fit(config: ModelConfig, hw: HardwareSpec, par: Parallelism, zero: int, mem: TrainMemory) -> str:
    gb = 1e9
    return (
        f"training {config.name} does not fit on {hw.id} with tp={par.tp} pp={par.pp} dp={par.dp} zero={zero}: "
        f"per device {mem.weights / gb:.1f} GB weights + {mem.gradients / gb:.1f} GB gradients + "
        f"{mem.optimizer / gb:.1f} GB optimizer + {mem.activations / gb:.1f} GB activations = {mem.total / gb:.1f} GB "
        f"> {mem.capacity / gb:.1f} GB. Raise tp or pp, use zero=1..3 with more dp, recompute='full', "
        f"or a smaller micro_batch."
    )
