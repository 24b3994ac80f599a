"""Muon as Megatron Core runs it: which parameters it orthogonalises, the state it keeps per parameter, how its
layer-wise distributed optimizer hands whole tensors to data-parallel ranks, and the work of one step.

Sources read:
- Megatron-LM megatron/core/optimizer/muon.py (`get_megatron_muon_optimizer`): every parameter that is 2-D and not
  the embedding or the output layer goes to TensorParallelMuon, the rest (embeddings, output layer, norms, biases)
  to Adam; both wrapped by Float16OptimizerWithFloat16Params, which keeps an fp32 master of each parameter it owns.
  `--optimizer muon` keeps every state on every data-parallel rank; `dist_muon` (`--use-distributed-optimizer`)
  wraps them in LayerWiseDistributedOptimizer.
- megatron/core/optimizer/layer_wise_optimizer.py: the layer-wise optimizer owns *whole* tensors per data-parallel
  rank (Newton-Schulz needs the whole matrix): with its param layout (the default) each DDP bucket is bin-packed
  over the ranks, largest tensor first onto the least-loaded rank (LPT), so the shares are near-equal; without it
  (`--no-use-layer-wise-param-layout`, `_shard_params_ping_pong`) the tensors are sorted by size, smallest first,
  and dealt out ping-pong (ranks 0..g-1, then g-1..0), so one rank can hold the embedding alone. Dense tensors are
  dealt over the data-parallel group, routed experts' over the expert data-parallel group.
- NVIDIA-NeMo Emerging-Optimizers orthogonalized_optimizers/muon_utils.py (`newton_schulz`, `newton_schulz_tp`):
  the fp32 momentum normalised, cast to bf16 (fp32 matmul precision "medium", Megatron's default), 5 quintic
  steps of A = X Xᵀ, B = addmm(A, A, A), X = addmm(X, B, X) on the matrix turned so that its short side is the
  Gram's, cast back to fp32; under tensor parallelism ("duplicated", the default) the shards are all-gathered and
  every TP rank orthogonalises the whole matrix.

Evidence (Megatron CI, `validate --source MT`): the steady memory of the EP8 MoE proxy under `dist_muon` without the
param layout is 994 MB on its last rank, which the ping-pong deal reproduces (the last of 88 dense tensors, the
25.8 M-element embedding with its 12 B of Adam state per element, lands on rank 7 of 8); on 4 GPUs the embedding
lands on rank 0 and the last rank reads 871 MB.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from ..workload.llm_graph import Parallelism, mtp_count, stage_layers
from ..workload.model_config import ModelConfig
from ..workload.ops import Collective, Elementwise, Gemm, Graph, Node
from .train_memory import MASTER_BYTES, OPTIMIZER_BYTES

MOMENTUM_BYTES = 4  # Muon's fp32 momentum buffer (zeros_like the fp32 main gradient)
MUON_STATE_BYTES = MASTER_BYTES + MOMENTUM_BYTES  # with Float16OptimizerWithFloat16Params' fp32 master
ADAM_STATE_BYTES = OPTIMIZER_BYTES  # master + Adam's fp32 m and v
NS_STEPS = 5  # Megatron's --muon-num-ns-steps default
SHARDINGS = ("balanced", "ping_pong")
# Host ops per matrix of one Muon step (torch calls in OrthogonalizedOptimizer.step and newton_schulz): decoupled
# weight decay, the momentum lerp and Nesterov's lerp, F.normalize (norm, divide), the casts to bf16 and back, three
# GEMMs per Newton-Schulz step, the scale and the update
MUON_OPS_PER_MATRIX = 9 + 3 * NS_STEPS


@dataclass(frozen=True, slots=True)
class ParamTensor:
    """One parameter tensor of a device: its whole (TP-gathered) shape, the elements this device holds, whether Muon
    orthogonalises it (else Adam steps it) and whether it is a routed expert's."""

    rows: int
    cols: int
    local: float
    muon: bool
    expert: bool = False

    @property
    def state_bytes(self) -> float:
        return self.local * (MUON_STATE_BYTES if self.muon else ADAM_STATE_BYTES)


def _vector(n: float) -> ParamTensor:
    return ParamTensor(1, int(n), n, muon=False)


def _matrix(rows: int, cols: int, split: int = 1, expert: bool = False) -> ParamTensor:
    return ParamTensor(rows, cols, rows * cols / split, muon=True, expert=expert)


def _norm(config: ModelConfig, n: int) -> list[ParamTensor]:
    """A norm's weight (and LayerNorm's bias), replicated over tensor parallelism."""
    return [_vector(n)] * (2 if config.norm == "layer" else 1)


def _attention(config: ModelConfig, tp: int, bias: bool) -> list[ParamTensor]:
    h = config.hidden
    if config.mla is not None:
        m = config.mla
        qk = m.qk_nope_head_dim + m.qk_rope_head_dim
        if m.q_lora_rank:
            q = [_matrix(m.q_lora_rank, h), *_norm(config, m.q_lora_rank), _matrix(config.heads * qk, m.q_lora_rank, tp)]
        else:
            q = [_matrix(config.heads * qk, h, tp)]
        kv = [_matrix(m.kv_lora_rank + m.qk_rope_head_dim, h), *_norm(config, m.kv_lora_rank),
              _matrix(config.heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank, tp)]
        return [*q, *kv, _matrix(h, config.heads * m.v_head_dim, tp)] + ([_vector(h)] if bias else [])
    qkv = (config.heads + 2 * config.kv_heads) * config.head_dim
    out = [_matrix(qkv, h, tp)] + ([_vector(qkv / tp)] if config.qkv_bias else [])
    if config.qk_norm:
        out += _norm(config, config.head_dim) * 2
    return out + [_matrix(h, config.heads * config.head_dim, tp)] + ([_vector(h)] if bias else [])


def _mlp(config: ModelConfig, width: int, split: int, bias: bool, expert: bool = False) -> list[ParamTensor]:
    up = 2 * width if config.mlp == "swiglu" else width
    fc1 = [_matrix(up, config.hidden, split, expert)] + ([_vector(up / split)] if bias else [])
    return fc1 + [_matrix(config.hidden, width, split, expert)] + ([_vector(config.hidden)] if bias else [])


def layer_tensors(config: ModelConfig, index: int, par: Parallelism, expert_split: int) -> list[ParamTensor]:
    """One decoder layer's parameter tensors on a device, in Megatron Core's registration order (Transformer
    Engine's fused input norm, attention, the pre-MLP norm, the MLP or the router, the routed experts as one weight
    per local expert for fc1 then fc2, the shared expert)."""
    tp, h = par.tp, config.hidden
    bias = config.qkv_bias and config.family == "gpt"  # Megatron's --add-bias-linear: every linear's bias
    out = [*_norm(config, h), *_attention(config, tp, bias), *_norm(config, h)]
    if not config.is_moe_layer(index):
        return out + _mlp(config, config.intermediate, tp, bias)
    moe = config.moe
    assert moe is not None
    out.append(_matrix(moe.experts, h))  # the router, replicated over tensor parallelism
    local = max(moe.experts // par.ep, 1)
    fc1, fc2 = _mlp(config, moe.intermediate, expert_split, False, expert=True)
    out += [fc1] * local + [fc2] * local
    if moe.shared_experts:
        out += _mlp(config, moe.shared_intermediate, tp, bias)
    return out


@functools.lru_cache(maxsize=1024)
def stage_tensors(config: ModelConfig, par: Parallelism, stage: int, expert_split: int) -> tuple[ParamTensor, ...]:
    """The parameter tensors one device of pipeline stage `stage` holds, in registration order: the embeddings on
    the first stage (and an MTP stage's own copy), the decoder layers, each MTP layer (enorm, hnorm, eh_proj, its
    decoder layer, its final norm), the final norm and the untied output layer on the last."""
    h, tp = config.hidden, par.tp
    layers = stage_layers(config, par, stage)
    mtp = mtp_count(config, layers)
    out: list[ParamTensor] = []
    if stage == 0 or mtp:
        out.append(ParamTensor(config.vocab, h, config.vocab * h / tp, muon=False))
    if stage == 0 and config.learned_positions:
        out.append(ParamTensor(config.learned_positions, h, config.learned_positions * h, muon=False))
    for index in layers:
        if index >= config.layers:  # an MTP layer: its decoder layer is of the last layer's kind
            out += [*_norm(config, h), *_norm(config, h), _matrix(h, 2 * h, tp)]
            out += layer_tensors(config, config.layers - 1, par, expert_split) + _norm(config, h)
        else:
            out += layer_tensors(config, index, par, expert_split)
    if stage == par.pp - 1:
        out += _norm(config, h)
        if not config.tie_embeddings or par.pp > 1:
            out.append(ParamTensor(config.vocab, h, config.vocab * h / tp, muon=False))
    return tuple(out)


def ping_pong_owners(tensors: tuple[ParamTensor, ...], group: int) -> list[int]:
    """The data-parallel rank that owns each tensor under the layer-wise optimizer's ping-pong deal: tensors sorted
    by size, smallest first (equal sizes in DDP buffer order, the reverse of registration), dealt to ranks
    0..g-1, g-1..0, 0..g-1, ..."""
    order = sorted(range(len(tensors)), key=lambda i: (tensors[i].local, -i))
    loop = list(range(group)) + list(range(group))[::-1]
    owners = [0] * len(tensors)
    for k, i in enumerate(order):
        owners[i] = loop[k % len(loop)]
    return owners


def _dealt(tensors: tuple[ParamTensor, ...], groups: tuple[int, int]) -> list[list[list[ParamTensor]]]:
    """Per group (dense, expert), per rank of it: the tensors the ping-pong deal gives that rank."""
    out = []
    for expert, group in ((False, groups[0]), (True, groups[1])):
        part = tuple(t for t in tensors if t.expert == expert)
        owners = ping_pong_owners(part, group)
        out.append([[t for t, o in zip(part, owners, strict=True) if o == r] for r in range(group)])
    return out


def state_bytes(tensors: tuple[ParamTensor, ...], groups: tuple[int, int], sharding: str,
                last_rank: bool = False) -> float:
    """Optimizer state bytes on one device: the fp32 master and momentum (Muon) or master and moments (Adam) of what
    it owns. `sharding`: "replicated" (`--optimizer muon`: all of it), "balanced" (`dist_muon` with its param layout:
    1 / group of each group's), "ping_pong" (without it: the tensors dealt to the rank). `last_rank`: the last
    data-parallel rank's deal (the rank Megatron logs) instead of the heaviest one's."""
    if sharding == "replicated":
        return sum(t.state_bytes for t in tensors)
    if sharding == "balanced":
        return sum(t.state_bytes / groups[1 if t.expert else 0] for t in tensors)
    total = 0.0
    for per_rank in _dealt(tensors, groups):
        loads = [sum(t.state_bytes for t in ts) for ts in per_rank]
        total += loads[-1] if last_rank else max(loads)
    return total


def step_share(tensors: tuple[ParamTensor, ...], groups: tuple[int, int], sharding: str
               ) -> list[tuple[ParamTensor, float]]:
    """The optimizer work of the slowest data-parallel rank: (tensor, share of its step this rank runs). Replicated:
    every tensor; balanced: 1 / group of each (whole matrices, near-equal bins); ping-pong: the tensors of the rank
    dealt the most Newton-Schulz work."""
    if sharding == "replicated":
        return [(t, 1.0) for t in tensors]
    if sharding == "balanced":
        return [(t, 1.0 / groups[1 if t.expert else 0]) for t in tensors]
    out: list[tuple[ParamTensor, float]] = []
    for per_rank in _dealt(tensors, groups):
        busiest = max(per_rank, key=lambda ts: sum(newton_schulz_flops(t) + t.local for t in ts))
        out += [(t, 1.0) for t in busiest]
    return out


def newton_schulz_flops(t: ParamTensor) -> float:
    return sum(2.0 * m * n * k for m, n, k in newton_schulz_gemms(t)) if t.muon else 0.0


def newton_schulz_gemms(t: ParamTensor) -> list[tuple[int, int, int]]:
    """(M, N, K) of the GEMMs of one Newton-Schulz orthogonalisation of the whole matrix, short side m, long n:
    per step X Xᵀ (m x m over n), A A (m x m over m), B X (m x n over m)."""
    m, n = sorted((t.rows, t.cols))
    return [(m, m, n), (m, m, m), (m, n, m)] * NS_STEPS


def step_graph(tensors: tuple[ParamTensor, ...], groups: tuple[int, int], sharding: str) -> tuple[Graph, float]:
    """(the GPU work of one optimizer step on the slowest data-parallel rank, its host ops for Muon's per-matrix
    loop).

    Per Muon matrix, whole (TP shards all-gathered in fp32 first, "duplicated" mode): F.normalize (a norm read and a
    divide into bf16), the Newton-Schulz GEMMs in bf16, the cast back to fp32; on the local shard: the momentum and
    Nesterov lerps, decoupled weight decay with the update (read the fp32 master and the step, write the master).
    Per Adam tensor: Adam over its elements. Over every owned element: the gradient norm for clipping and the fp32
    master copied to the bf16 weight."""
    counts: dict[tuple[Any, str], float] = {}

    def add(op: Any, count: float, label: str) -> None:
        counts[(op, label)] = counts.get((op, label), 0.0) + count

    muon_ops = adam = owned = 0.0
    for t, share in step_share(tensors, groups, sharding):
        owned += share * t.local
        if not t.muon:
            adam += share * t.local
            continue
        muon_ops += share * MUON_OPS_PER_MATRIX
        whole = t.rows * t.cols
        split = round(whole / t.local)
        if split > 1:  # newton_schulz_tp "duplicated": all-gather the fp32 shards over tensor parallelism
            add(Collective("all_gather", whole * 4.0, split, "fp32"), share, "muon_tp_gather")
            muon_ops += share
        for m, n, k in newton_schulz_gemms(t):
            add(Gemm(m, n, k, "bf16"), share, "muon_ns_gemm")
        local = max(int(t.local), 1)
        add(Elementwise("muon_norm", whole, "fp32", inputs=1, outputs=0, flops_per_element=2), share, "muon_norm")
        add(Elementwise("muon_div", whole, "fp32", inputs=1, outputs=1, flops_per_element=1, out_dtype="bf16"),
            share, "muon_normalize")
        add(Elementwise("cast", whole, "bf16", out_dtype="fp32"), share, "muon_cast_back")
        add(Elementwise("muon_lerp", local, "fp32", inputs=2, outputs=1, flops_per_element=3), 2 * share,
            "muon_momentum")
        add(Elementwise("muon_update", local, "fp32", inputs=2, outputs=1, flops_per_element=3), share,
            "muon_update")
    if adam:
        add(Elementwise("adam", max(int(adam), 1), "fp32"), 1, "adam")
    if owned:
        n = max(int(owned), 1)
        add(Elementwise("grad_norm", n, "fp32", inputs=1, outputs=0, flops_per_element=2), 1, "grad_norm")
        add(Elementwise("cast", n, "fp32", out_dtype="bf16"), 1, "param_copy")
    nodes = tuple(Node(op, count, label) for (op, label), count in counts.items())
    return Graph(nodes, name="muon step"), muon_ops
