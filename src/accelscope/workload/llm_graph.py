"""Per-device operator graphs of a decoder-only LLM step, built analytically from a `ModelConfig`.

One graph = the work one device does for one forward pass of `tokens` new tokens per sequence over its share of
the model: tensor parallelism (tp) splits heads and MLP widths, pipeline parallelism (pp) splits layers, expert
parallelism (ep, inside the TP group) splits routed experts. Collectives appear as `Collective` ops.

Choices, each the common practice of serving/training stacks (Megatron-LM, vLLM, SGLang):
- Attention and dense MLP are Megatron tensor-parallel: column-parallel QKV / gate-up, row-parallel O / down,
  one all-reduce after each (sequence parallelism turns each into reduce-scatter + all-gather of the same bytes).
- KV heads are split across TP ranks; when there are fewer KV heads than ranks they are replicated.
- MLA (DeepSeek) prefill runs the expanded ("naive") form; decode runs the weight-absorbed form over the
  compressed latent (an MQA with head dim kv_lora_rank + rope dim), as DeepSeek's inference code does.
- MoE: routed experts split `ep` ways across the TP group, each expert's width split tp/ep ways; tokens reach
  their experts with an all-to-all (dispatch and combine) when ep > 1. The busiest device sets the pace:
  its token count is the mean times `moe.imbalance`. At small batch only the experts actually hit read weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..hardware.dtypes import canonical_dtype, dtype_bytes
from .model_config import ModelConfig
from .ops import Attention, Collective, Elementwise, Embedding, Gemm, Graph, GroupedGemm, Node, Norm, Op

# Weight-only formats: the matmul runs in the activation dtype after dequantizing weights on the fly (W4A16).
WEIGHT_ONLY = {"int4", "int4_g32", "int4_g64", "int4_g128"}


@dataclass(frozen=True, slots=True)
class Parallelism:
    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp: int = 1
    cp: int = 1
    sp: bool = False  # sequence parallelism: TP all-reduces become reduce-scatter + all-gather
    custom_allreduce: bool = False  # TP all-reduces by a serving engine's custom kernels (Collective impl="custom")
    decode_attention: str | None = None  # the engine's decode kernel (Attention.variant, e.g. "mmha"); None: best
    attention: str | None = None  # the kernel for prefill / training attention (Attention.variant, e.g. "math")
    # SwiGLU's gate and up projections as one GEMM of twice the width (the engines' horizontal fusion); False: two
    # GEMMs and two launches (TensorRT-LLM <= v0.6 builds without --use_fused_mlp)
    fused_gate_up: bool = True
    # The decoder layers (indices) of each virtual pipeline stage in model order, where they are not split evenly
    # (llm/pipeline_layout.py: Megatron Core's uneven first / last stages, its pipeline layout string, the
    # embedding or the loss counted as a layer); virtual stage v runs on rank v % pp. Indices from model.layers on
    # are multi-token-prediction layers (DeepSeek-V3's MTP modules, each a decoder layer of the last layer's kind),
    # held by the last virtual stage. None: an even split (`stage_layers`).
    stage_split: tuple[tuple[int, ...], ...] | None = None

    def check(self, model: ModelConfig) -> None:
        for key in ("tp", "pp", "ep", "dp", "cp"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}: must be >= 1 (got {getattr(self, key)})")
        if model.heads % self.tp:
            raise ValueError(f"tp={self.tp}: must divide the {model.heads} attention heads of {model.name}")
        if self.stage_split is not None:
            _check_split(self.stage_split, self.pp, model)
        elif model.layers < self.pp:
            raise ValueError(f"pp={self.pp}: more pipeline stages than the {model.layers} layers of {model.name}")
        if self.ep > 1:
            if model.moe is None:
                raise ValueError(f"ep={self.ep}: {model.name} has no experts; use ep=1")
            if model.moe.experts % self.ep or (self.tp % self.ep and self.ep % self.tp):
                raise ValueError(f"ep={self.ep}: must divide the {model.moe.experts} experts and nest with tp={self.tp}")


def _check_split(split: tuple[tuple[int, ...], ...], pp: int, model: ModelConfig) -> None:
    """A stage split holds every decoder layer once, on a multiple of pp virtual stages; MTP layers (indices >=
    model.layers) only on the last one."""
    if not split or len(split) % pp:
        raise ValueError(f"stage_split: {len(split)} virtual stages for pp={pp}; give a multiple of pp")
    held = sorted(i for stage in split for i in stage)
    if held[:model.layers] != list(range(model.layers)) or held != list(range(len(held))):
        raise ValueError(f"stage_split: the stages must hold each of the {model.layers} layers of {model.name} "
                         f"exactly once (got {len(held)} layer indices)")
    if any(i >= model.layers for stage in split[:-1] for i in stage):
        raise ValueError("stage_split: multi-token-prediction layers (indices >= the model's layers) go on the "
                         "last pipeline stage, with the output layer they share")


@dataclass(frozen=True, slots=True)
class Precision:
    """Dtypes of a run: GEMM inputs (`dtype`), other activations, and the KV cache."""

    dtype: str = "bf16"  # matmul inputs: weights and activations (weight-only for int4)
    kv_dtype: str = "bf16"
    act_dtype: str = "bf16"  # norms, residuals, communication
    weights: str | None = None  # weight storage when it differs from `dtype` (weight-only quantization)
    weight_kernel: str | None = None  # the library kernel the weight-only linears run (Gemm.kernel); None: searched

    @property
    def weight_dtype(self) -> str:
        return canonical_dtype(self.weights or self.dtype)

    @property
    def matmul_input_dtype(self) -> str:
        """Activation dtype fed to GEMMs: weight-only formats (W4A16, W8A16) keep activations in act_dtype."""
        if self.weights is not None:
            return canonical_dtype(self.dtype)
        return self.act_dtype if self.weight_dtype in WEIGHT_ONLY else self.weight_dtype


@dataclass(frozen=True, slots=True)
class Step:
    """One forward pass: `batch` sequences, each adding `new_tokens` after `context` cached tokens."""

    batch: int
    new_tokens: int
    context: int = 0
    logits_tokens: int | None = None  # tokens per sequence that need logits (1 when serving, all when training)

    @property
    def tokens(self) -> int:
        return self.batch * self.new_tokens

    @property
    def kv_len(self) -> int:
        return self.context + self.new_tokens


def layer_nodes(model: ModelConfig, step: Step, par: Parallelism, prec: Precision, index: int) -> list[Node]:
    """The ops of decoder layer `index` on one device."""
    nodes = [Node(Norm(rows=step.tokens, hidden=model.hidden, norm=model.norm, dtype=prec.act_dtype), 1, "attn_norm")]
    nodes += attention_nodes(model, step, par, prec, sliding=index < model.sliding_layers)
    nodes += tp_reduce(model, step, par, prec, "attn_allreduce")
    nodes.append(Node(Elementwise("residual_add", step.tokens * model.hidden, prec.act_dtype), 1, "residual"))
    nodes.append(Node(Norm(rows=step.tokens, hidden=model.hidden, norm=model.norm, dtype=prec.act_dtype), 1,
                      "mlp_norm"))
    nodes += moe_nodes(model, step, par, prec) if model.is_moe_layer(index) else mlp_nodes(
        model, step, par, prec, model.intermediate, "mlp")
    nodes += tp_reduce(model, step, par, prec, "mlp_allreduce")
    nodes.append(Node(Elementwise("residual_add", step.tokens * model.hidden, prec.act_dtype), 1, "residual"))
    return nodes


def _gemm(tokens: int, n: int, k: int, prec: Precision) -> Gemm:
    return Gemm(m=tokens, n=max(n, 1), k=max(k, 1), dtype=prec.matmul_input_dtype, b_dtype=prec.weight_dtype,
                out_dtype=prec.act_dtype, shared_b=True, kernel=prec.weight_kernel)


def attention_nodes(model: ModelConfig, step: Step, par: Parallelism, prec: Precision, sliding: bool) -> list[Node]:
    heads = model.heads // par.tp
    kv_heads = max(model.kv_heads // par.tp, 1)
    window = model.sliding_window if sliding else None
    causal = step.new_tokens > 1
    if model.mla is not None:
        return _mla_nodes(model, step, par, prec, heads, causal)
    qkv = _gemm(step.tokens, (heads + 2 * kv_heads) * model.head_dim, model.hidden, prec)
    out = _gemm(step.tokens, model.hidden, heads * model.head_dim, prec)
    nodes = [Node(qkv, 1, "qkv_proj")]
    if model.qk_norm:  # per-head norms of Q and K before the rotary embedding (Megatron-Core q_layernorm, k_layernorm)
        nodes += [Node(Norm(rows=step.tokens * heads, hidden=model.head_dim, norm=model.norm, dtype=prec.act_dtype), 1,
                       "q_norm"),
                  Node(Norm(rows=step.tokens * kv_heads, hidden=model.head_dim, norm=model.norm,
                            dtype=prec.act_dtype), 1, "k_norm")]
    if not model.learned_positions:  # rotary embedding on Q and K; a learned absolute position is added at the input
        rope = Elementwise("rope", step.tokens * (heads + kv_heads) * model.head_dim, prec.act_dtype)
        nodes.append(Node(rope, 1, "rope"))
    if par.cp > 1 and causal:
        # Context parallelism with load-balanced chunks (Megatron-LM CP): each rank holds seq/cp queries and,
        # after gathering K/V from the group, computes 1/cp of the causal pairs = half its (seq/cp x seq) block.
        attn = Attention(batch=step.batch, heads=heads, kv_heads=kv_heads, head_dim=model.head_dim,
                         q_len=step.new_tokens, kv_len=step.kv_len, dtype=prec.act_dtype, kv_dtype=prec.kv_dtype,
                         window=window, variant=par.attention)  # type: ignore[arg-type]
        kv_bytes = step.batch * step.kv_len * 2 * kv_heads * model.head_dim * dtype_bytes(prec.kv_dtype)
        nodes.append(Node(Collective("all_gather", float(kv_bytes), par.cp, prec.act_dtype, stride=par.tp), 1,
                          "cp_kv_allgather"))
        nodes.append(Node(attn, 0.5, "attention"))
    else:
        variant = par.decode_attention if step.new_tokens == 1 else par.attention
        attn = Attention(batch=step.batch, heads=heads, kv_heads=kv_heads, head_dim=model.head_dim,
                         q_len=step.new_tokens, kv_len=step.kv_len, causal=causal, dtype=prec.act_dtype,
                         kv_dtype=prec.kv_dtype, window=window, variant=variant)  # type: ignore[arg-type]
        nodes.append(Node(attn, 1, "attention"))
    return [*nodes, Node(out, 1, "o_proj")]


def _mla_nodes(model: ModelConfig, step: Step, par: Parallelism, prec: Precision, heads: int,
               causal: bool) -> list[Node]:
    m = model.mla
    assert m is not None
    qk = m.qk_nope_head_dim + m.qk_rope_head_dim
    nodes = []
    if m.q_lora_rank:
        nodes += [Node(_gemm(step.tokens, m.q_lora_rank, model.hidden, prec), 1, "q_a_proj"),
                  Node(_gemm(step.tokens, heads * qk, m.q_lora_rank, prec), 1, "q_b_proj")]
    else:
        nodes.append(Node(_gemm(step.tokens, heads * qk, model.hidden, prec), 1, "q_proj"))
    nodes.append(Node(_gemm(step.tokens, m.kv_lora_rank + m.qk_rope_head_dim, model.hidden, prec), 1, "kv_a_proj"))
    if step.new_tokens > 1:  # prefill: expand the latent to per-head K and V, then ordinary attention
        nodes.append(Node(_gemm(step.tokens, heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank, prec), 1,
                          "kv_b_proj"))
        attn = Attention(batch=step.batch, heads=heads, head_dim=qk, v_head_dim=m.v_head_dim, q_len=step.new_tokens,
                         kv_len=step.kv_len, causal=causal, dtype=prec.act_dtype, kv_dtype=prec.act_dtype)
    else:  # decode: absorb W_UK into the query and W_UV into the output; attend over the cached latent (MQA)
        nodes.append(Node(Gemm(m=heads, n=m.kv_lora_rank, k=m.qk_nope_head_dim, batch=step.tokens,
                               dtype=prec.matmul_input_dtype, b_dtype=prec.weight_dtype, out_dtype=prec.act_dtype),
                          1, "q_absorb"))
        attn = Attention(batch=step.batch, heads=heads, kv_heads=1, head_dim=m.kv_lora_rank + m.qk_rope_head_dim,
                         v_head_dim=m.kv_lora_rank, q_len=1, kv_len=step.kv_len, dtype=prec.act_dtype,
                         kv_dtype=prec.kv_dtype)
    nodes.append(Node(attn, 1, "attention"))
    if step.new_tokens == 1:
        nodes.append(Node(Gemm(m=heads, n=m.v_head_dim, k=m.kv_lora_rank, batch=step.tokens,
                               dtype=prec.matmul_input_dtype, b_dtype=prec.weight_dtype, out_dtype=prec.act_dtype),
                          1, "v_absorb"))
    nodes.append(Node(_gemm(step.tokens, model.hidden, heads * m.v_head_dim, prec), 1, "o_proj"))
    return nodes


def split_gated_gemms(nodes: list[Node], halves: dict[str, tuple[str, str]]) -> list[Node]:
    """Each fused gate/up GEMM named in `halves` (n = 2H, one kernel) as the two GEMMs of n = H on the same input
    that an unfused framework runs (named by `halves[name]`): the same FLOPs, two kernels and two launches."""
    out = []
    for node in nodes:
        names = halves.get(node.name)
        if names is None or not isinstance(node.op, Gemm | GroupedGemm):
            out.append(node)
            continue
        half = replace(node.op, n=node.op.n // 2)
        out += [Node(half, node.count, name) for name in names]
    return out


def mlp_nodes(model: ModelConfig, step: Step, par: Parallelism, prec: Precision, width: int, label: str) -> list[Node]:
    local = max(width // par.tp, 1)
    if model.mlp == "swiglu":
        nodes = [Node(_gemm(step.tokens, 2 * local, model.hidden, prec), 1, f"{label}_gate_up"),
                 Node(Elementwise("swiglu", step.tokens * local, prec.act_dtype), 1, f"{label}_act"),
                 Node(_gemm(step.tokens, model.hidden, local, prec), 1, f"{label}_down")]
        return nodes if par.fused_gate_up else split_gated_gemms(
            nodes, {f"{label}_gate_up": (f"{label}_gate", f"{label}_up")})
    return [Node(_gemm(step.tokens, local, model.hidden, prec), 1, f"{label}_up"),
            Node(Elementwise("gelu", step.tokens * local, prec.act_dtype), 1, f"{label}_act"),
            Node(_gemm(step.tokens, model.hidden, local, prec), 1, f"{label}_down")]


def expected_active_experts(experts: int, top_k: int, tokens: float) -> float:
    """Distinct experts hit when `tokens` tokens each pick top_k of `experts` uniformly: E·(1 - (1 - k/E)^T)."""
    return experts * (1.0 - (1.0 - top_k / experts) ** tokens)


def moe_nodes(model: ModelConfig, step: Step, par: Parallelism, prec: Precision) -> list[Node]:
    moe = model.moe
    assert moe is not None
    moe_tp = max(par.tp // par.ep, 1)
    local_experts = moe.experts // par.ep
    width = max(moe.intermediate // moe_tp, 1)
    # distinct tokens in one EP group: EP nested in TP shares the TP group's tokens; EP beyond TP spans
    # ep/tp data-parallel ranks, each with its own tokens
    distinct = step.tokens * max(par.ep / par.tp, 1.0)
    routed = distinct * moe.top_k / par.ep * moe.imbalance  # token-expert pairs on the busiest device
    active = max(1, min(local_experts, round(expected_active_experts(local_experts, moe.top_k * local_experts
                                                                      / moe.experts, distinct))))
    rows = _spread(routed, active, local_experts)
    router = Gemm(m=step.tokens, n=moe.experts, k=model.hidden, dtype=prec.act_dtype, out_dtype="fp32", shared_b=True)
    nodes = [Node(router, 1, "router")]
    # token permute: each routed copy of a token gathered into its expert's contiguous rows (reads the tokens,
    # writes top_k copies); unpermute: the expert outputs read back and summed with the routing weights
    # (Megatron-LM moe_utils permute / unpermute, vLLM's moe permute kernels)
    tokens_h = max(int(step.tokens), 1) * model.hidden
    nodes.append(Node(Elementwise("copy", tokens_h, prec.act_dtype, inputs=1, outputs=moe.top_k), 1,
                      "moe_permute"))
    nodes += _a2a(model, step, par, prec, "moe_dispatch")
    if model.mlp == "swiglu":
        nodes += [
            Node(_grouped(local_experts, 2 * width, model.hidden, rows, prec), 1, "experts_gate_up"),
            Node(Elementwise("swiglu", max(int(routed) * width, 1), prec.act_dtype), 1, "experts_act"),
            Node(_grouped(local_experts, model.hidden, width, rows, prec), 1, "experts_down"),
        ]
    else:
        nodes += [Node(_grouped(local_experts, width, model.hidden, rows, prec), 1, "experts_up"),
                  Node(Elementwise("gelu", max(int(routed) * width, 1), prec.act_dtype), 1, "experts_act"),
                  Node(_grouped(local_experts, model.hidden, width, rows, prec), 1, "experts_down")]
    nodes += _a2a(model, step, par, prec, "moe_combine")
    nodes.append(Node(Elementwise("unpermute", tokens_h, prec.act_dtype, inputs=moe.top_k, outputs=1,
                                  flops_per_element=2 * moe.top_k), 1, "moe_unpermute"))
    if moe.shared_experts:
        nodes += mlp_nodes(model, step, par, prec, moe.shared_intermediate, "shared_expert")
    return nodes


def _spread(rows: float, active: int, groups: int) -> tuple[int, ...]:
    per = math.ceil(rows / active) if rows > 0 else 0
    return tuple([per] * active + [0] * (groups - active))


def _grouped(groups: int, n: int, k: int, rows: tuple[int, ...], prec: Precision) -> GroupedGemm:
    return GroupedGemm(groups=groups, n=n, k=k, m_per_group=rows, dtype=prec.matmul_input_dtype,
                       b_dtype=prec.weight_dtype, out_dtype=prec.act_dtype)


def _a2a(model: ModelConfig, step: Step, par: Parallelism, prec: Precision, label: str) -> list[Node]:
    if par.ep <= 1:
        return []
    moe = model.moe
    assert moe is not None
    # each device sends its share of tokens (1/tp of them), top_k copies of the hidden vector
    nbytes = step.tokens / par.tp * moe.top_k * model.hidden * dtype_bytes(prec.act_dtype)
    return [Node(Collective("all_to_all", max(nbytes, 1.0), par.ep, prec.act_dtype), 1, label)]


def tp_reduce(model: ModelConfig, step: Step, par: Parallelism, prec: Precision, label: str) -> list[Node]:
    if par.tp <= 1:
        return []
    nbytes = float(step.tokens * model.hidden * dtype_bytes(prec.act_dtype))
    if par.sp:
        return [Node(Collective("reduce_scatter", nbytes, par.tp, prec.act_dtype), 1, f"{label}_rs"),
                Node(Collective("all_gather", nbytes, par.tp, prec.act_dtype), 1, f"{label}_ag")]
    impl = "custom" if par.custom_allreduce else "library"
    return [Node(Collective("all_reduce", nbytes, par.tp, prec.act_dtype, impl=impl), 1, label)]


def stage_layers(model: ModelConfig, par: Parallelism, stage: int) -> Sequence[int]:
    """Layers of pipeline stage `stage`: `par.stage_split`'s where given, else an even split (the first stages take
    the remainder)."""
    if par.stage_split is not None:
        chunks = par.stage_split[stage::par.pp]
        return chunks[0] if len(chunks) == 1 else tuple(i for chunk in chunks for i in chunk)
    base, extra = divmod(model.layers, par.pp)
    start = stage * base + min(stage, extra)
    return range(start, start + base + (1 if stage < extra else 0))


def mtp_count(model: ModelConfig, layers: Sequence[int]) -> int:
    """How many of `layers` are multi-token-prediction layers (indices past the decoder's)."""
    return 0 if isinstance(layers, range) else sum(1 for i in layers if i >= model.layers)


def forward_graph(model: ModelConfig, step: Step, par: Parallelism, prec: Precision, stage: int = 0,
                  parts: GraphParts | None = None) -> Graph:
    """One device's forward pass for pipeline stage `stage`: embedding on the first, LM head on the last.

    Identical layers are merged into one node with a count, so an 80-layer model is a ~20-node graph. `parts`: the
    builders of its pieces (`GraphParts`; the llm layer passes memoized ones); the graph is the same.
    """
    counts = stage_counts(model, step, par, prec, stage, parts)
    nodes = tuple(Node(op, count, name) for (name, op), count in counts.items())
    return Graph(nodes, name=f"{model.name} stage {stage}")


def stage_counts(model: ModelConfig, step: Step, par: Parallelism, prec: Precision, stage: int = 0,
                 parts: GraphParts | None = None) -> dict[tuple[str, Op], float]:
    """`forward_graph`'s nodes as (name, op) -> count, in the graph's order (a planner sums their estimates
    without building the graph: llm.infer.pass_seconds). A layer kind's ops and the first and last stages' own ops
    come from `parts` (memoized ones share them between every stage, pipeline depth and batch that has them)."""
    parts = parts or PLAIN_PARTS
    counts: dict[tuple[str, Op], float] = {}
    layers = stage_layers(model, par, stage)
    if stage == 0:
        for name, op in parts.first_ops(model, step, prec):
            _add(counts, name, op)
    layer_par = _layer_parallelism(par)
    for kind, repeat in _layer_kinds(model, layers):
        for name, op, count in parts.kind_nodes(model, step, layer_par, prec, *kind):
            _add(counts, name, op, count * repeat)
    if mtp := mtp_count(model, layers):
        for name, op, count in mtp_ops(model, step, par.tp, prec):
            _add(counts, name, op, count * mtp)
    if stage == par.pp - 1:
        for name, op in parts.last_ops(model, step, par.tp, prec):
            _add(counts, name, op)
    if par.pp > 1 and stage < par.pp - 1:
        _add(counts, "pp_send", parts.pp_send(model, step, prec))
    return counts


# Names of the nodes a stage adds around its layers (stage_counts): never a layer node's name, so a stage's nodes
# are its own nodes, then its layers' merged nodes, then its last nodes (`stage_blocks`)
EDGE_NAMES = frozenset({"embedding", "pos_embedding", "pos_add", "final_norm", "lm_head", "pp_send",
                        "mtp_embedding", "mtp_norm", "mtp_proj"})


def stage_blocks(model: ModelConfig, step: Step, par: Parallelism, prec: Precision, stage: int = 0,
                 parts: GraphParts | None = None
                 ) -> tuple[tuple[tuple[str, Op], ...], tuple[Any, ...] | None, int, tuple[tuple[str, Op], ...]]:
    """`stage_counts` in pieces, for a stage of one layer kind whose node names do not meet its first and last
    nodes (every model today): (first nodes, the kind's key for `kind_merged`, its layer count, last nodes), each
    first and last node counted once; the key is None when the stage needs `stage_counts`' general merge."""
    parts = parts or PLAIN_PARTS
    first = parts.first_ops(model, step, prec) if stage == 0 else ()
    last = parts.last_ops(model, step, par.tp, prec) if stage == par.pp - 1 else ()
    if par.pp > 1 and stage < par.pp - 1:
        last = (*last, ("pp_send", parts.pp_send(model, step, prec)))
    layers = stage_layers(model, par, stage)
    kinds = _layer_kinds(model, layers)
    if len(kinds) != 1 or mtp_count(model, layers):
        return first, None, 0, last
    kind, repeat = kinds[0]
    key = (model, step, _layer_parallelism(par), prec, *kind)
    return first, (key if EDGE_NAMES.isdisjoint(parts.kind_merged(*key)[1]) else None), repeat, last


def kind_merged(model: ModelConfig, step: Step, par: Parallelism, prec: Precision, moe: bool, sliding: bool
                ) -> tuple[tuple[tuple[str, Op, tuple[float, ...]], ...], frozenset[str]]:
    """One layer kind's nodes merged as stage_counts merges them: per distinct (name, op), in order of first
    appearance, the counts of its occurrences (a stage of `repeat` such layers counts it
    `merged_count(counts, repeat)` times); and the names."""
    merged: dict[tuple[str, Op], list[float]] = {}
    for name, op, count in kind_nodes(model, step, par, prec, moe, sliding):
        merged.setdefault((name, op), []).append(count)
    return tuple((name, op, tuple(counts)) for (name, op), counts in merged.items()), frozenset(n for n, _ in merged)


def merged_count(counts: tuple[float, ...], repeat: int) -> float:
    """The count stage_counts gives a node that occurs with `counts` in each of `repeat` layers: its `_add`s one
    after another from 0.0, so the same float."""
    total = 0.0
    for count in counts:
        total = total + count * repeat
    return total


def stage_kind(model: ModelConfig, par: Parallelism, stage: int
               ) -> tuple[bool, bool, tuple[tuple[tuple[bool, bool], int], ...], int]:
    """What `stage_counts` reads of the stage index: first, last, its layer kinds with their counts and its MTP
    layers (the middle stages of an evenly split pipeline are one kind: the same nodes)."""
    layers = stage_layers(model, par, stage)
    return stage == 0, stage == par.pp - 1, tuple(_layer_kinds(model, layers)), mtp_count(model, layers)


def first_stage_ops(model: ModelConfig, step: Step, prec: Precision) -> tuple[tuple[str, Op], ...]:
    ops: list[tuple[str, Op]] = [("embedding", Embedding(tokens=step.tokens, hidden=model.hidden, vocab=model.vocab,
                                                         dtype=prec.act_dtype))]
    if model.learned_positions:  # GPT-2/3, Megatron learned_absolute, MPT: wpe(positions) added to wte(tokens)
        ops.append(("pos_embedding", Embedding(tokens=step.tokens, hidden=model.hidden, vocab=model.learned_positions,
                                               dtype=prec.act_dtype)))
        ops.append(("pos_add", Elementwise("residual_add", step.tokens * model.hidden, prec.act_dtype)))
    return tuple(ops)


def last_stage_ops(model: ModelConfig, step: Step, tp: int, prec: Precision) -> tuple[tuple[str, Op], ...]:
    logits = step.batch * (step.logits_tokens or step.new_tokens)
    return (("final_norm", Norm(rows=logits, hidden=model.hidden, norm=model.norm, dtype=prec.act_dtype)),
            ("lm_head", _gemm(logits, max(model.vocab // tp, 1), model.hidden, prec)))


def mtp_ops(model: ModelConfig, step: Step, tp: int, prec: Precision) -> tuple[tuple[str, Op, float], ...]:
    """(name, op, count) of one multi-token-prediction layer's own ops, around its decoder layer (whose nodes
    `stage_counts` adds with the stage's layers). Megatron Core's MultiTokenPredictionLayer (megatron/core/
    transformer/multi_token_prediction.py): the shifted tokens' embedding (the MTP stage holds its own copy of the
    embedding, gpt_model.py `if self.pre_process or self.mtp_process`), enorm and hnorm, eh_proj (a
    column-parallel linear from the concatenated 2h to h), the decoder layer, final_layernorm; then the shared
    output layer on its hidden states (its cross-entropy is the training step's, llm/train.py)."""
    tokens = step.tokens
    logits = step.batch * (step.logits_tokens or step.new_tokens)
    return (("mtp_embedding", Embedding(tokens=tokens, hidden=model.hidden, vocab=model.vocab, dtype=prec.act_dtype),
             1.0),
            ("mtp_norm", Norm(rows=tokens, hidden=model.hidden, norm=model.norm, dtype=prec.act_dtype), 3.0),
            ("mtp_proj", _gemm(tokens, max(model.hidden // tp, 1), 2 * model.hidden, prec), 1.0),
            ("lm_head", _gemm(logits, max(model.vocab // tp, 1), model.hidden, prec), 1.0))


def pp_send_op(model: ModelConfig, step: Step, prec: Precision) -> Op:
    nbytes = float(step.tokens * model.hidden * dtype_bytes(prec.act_dtype))
    return Collective("send_recv", nbytes, 2, prec.act_dtype)


def _layer_kinds(model: ModelConfig, layers: Sequence[int]) -> list[tuple[tuple[bool, bool], int]]:
    """The distinct layer kinds (MoE, sliding window) among `layers` in order of first appearance, with counts."""
    if model.moe is None and isinstance(layers, range):  # only the sliding-window boundary splits the layers (no loop over 80-126 layers)
        sliding = max(0, min(layers.stop, model.sliding_layers) - layers.start)
        kinds = [((False, True), sliding), ((False, False), len(layers) - sliding)]
        return [(kind, count) for kind, count in kinds if count > 0]
    found: dict[tuple[bool, bool], int] = {}
    for index in layers:
        kind = (model.is_moe_layer(index), index < model.sliding_layers)
        found[kind] = found.get(kind, 0) + 1
    return list(found.items())


def _layer_parallelism(par: Parallelism) -> Parallelism:
    """`par` as a layer's ops read it: pipeline and data parallelism do not change a layer's ops, so layouts that
    differ only there share their layer templates (`kind_nodes`)."""
    if par.pp == 1 and par.dp == 1 and par.stage_split is None:
        return par
    return replace(par, pp=1, dp=1, stage_split=None)


def kind_nodes(model: ModelConfig, step: Step, par: Parallelism, prec: Precision, moe: bool,
                sliding: bool) -> tuple[tuple[str, Op, float], ...]:
    """(name, op, count) of one decoder layer of a kind (`layer_nodes` reads the index only for its kind): one
    template for every stage, pipeline depth and recompute policy that has that kind."""
    index = next(i for i in range(model.layers)
                 if model.is_moe_layer(i) == moe and (i < model.sliding_layers) == sliding)
    return tuple((node.name, node.op, node.count) for node in layer_nodes(model, step, par, prec, index))


def _add(counts: dict[tuple[str, Op], float], name: str, op: Op, count: float = 1.0) -> None:
    counts[(name, op)] = counts.get((name, op), 0.0) + count


@dataclass(frozen=True)
class GraphParts:
    """The builders of a stage graph's pieces: a layer kind's nodes (`kind_nodes`), the first and last stages' own
    ops, the pipeline send, a layer kind's merged nodes (`kind_merged`). Each is a pure function of its arguments,
    so a caller may pass memoized ones (llm/graph_parts.py: built once per memo scope and shared by every stage,
    pipeline depth, recompute policy and batch that has them) and get the same graphs."""

    kind_nodes: Callable[..., tuple[tuple[str, Op, float], ...]]
    first_ops: Callable[..., tuple[tuple[str, Op], ...]]
    last_ops: Callable[..., tuple[tuple[str, Op], ...]]
    pp_send: Callable[..., Op]
    kind_merged: Callable[..., tuple[tuple[tuple[str, Op, tuple[float, ...]], ...], frozenset[str]]]


PLAIN_PARTS = GraphParts(kind_nodes, first_stage_ops, last_stage_ops, pp_send_op, kind_merged)
