"""How long one engine iteration takes: the real mixed batch (prefill chunks beside decodes) at a perf level.

An iteration runs every layer once over all scheduled tokens. Its time splits into
- the token-parallel work (GEMMs, norms, activations, TP all-reduces, embedding, the LM head over the tokens that
  sample): a function of the total token count T and of the sampled tokens L only, so one forward graph of T
  tokens prices it;
- attention, which depends on each sequence's own context: the decodes as one batch at their mean context
  (decode attention is linear in the context read, as `infer` uses), each prefill chunk at its own context.
Pipeline stages run one after another for an iteration (no micro-batching), as in `infer`.

Each distinct piece is estimated once and memoized, so a long simulation costs a few hundred estimates. Token
counts and contexts above 256 are priced on a geometric grid (32 points per doubling, exact at powers of two)
and interpolated linearly between grid points: the token-parallel time is close to linear in T between them
(< 0.1 % error, tests/test_serve.py), and it bounds the number of distinct estimates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...hardware import HardwareSpec
from ...perf.estimate import Estimate, estimate_graphs
from ...workload.llm_graph import Parallelism, Precision, Step, forward_graph
from ...workload.model_config import ModelConfig
from ...workload.ops import Collective, Gemm, Graph, GroupedGemm
from ..infer import eager_kernels
from .moe import WideEP, a2a_seconds, compute_slowdown, overlapped_seconds

HEAD_NODES = ("final_norm", "lm_head")  # llm_graph.forward_graph's labels of the per-sampled-token work
A2A_NODES = ("moe_dispatch", "moe_combine")  # llm_graph.moe_nodes' all-to-alls (wide EP prices them in moe.py)
TP_COLLECTIVES = ("all_reduce", "reduce_scatter", "all_gather")  # llm_graph.tp_reduce
EXPERT_NODES = ("experts_", "shared_expert_")  # the work between dispatch and combine (llm_graph.moe_nodes)
EXACT_BELOW = 256  # counts up to this are priced exactly
GRID_POINTS_PER_DOUBLING = 32


def _grid_point(step: int) -> int:
    return round(EXACT_BELOW * 2 ** (step / GRID_POINTS_PER_DOUBLING))


def _grid_step(x: float) -> int:
    """The grid step whose (rounded) point is the largest at or below x (x > EXACT_BELOW)."""
    step = math.floor(GRID_POINTS_PER_DOUBLING * math.log2(x / EXACT_BELOW) + 1e-9)
    while _grid_point(step + 1) <= x:
        step += 1
    while step > 0 and _grid_point(step) > x:
        step -= 1
    return step


def grid_neighbours(x: float) -> tuple[int, int, float]:
    """(low, high, weight of high) bracketing x on the pricing grid; exact counts give (x, x, 0)."""
    if x <= EXACT_BELOW:
        n = max(1, math.ceil(x))
        return n, n, 0.0
    step = _grid_step(x)
    low, high = _grid_point(step), _grid_point(step + 1)
    if x == low:
        return low, low, 0.0
    return low, high, (x - low) / (high - low)


def cell_end(x: float) -> float:
    """The largest count priced by the same linear piece as x: up to 256 every whole count is its own point
    (counts in (n - 1, n] price as n), above it the next grid point."""
    if x <= EXACT_BELOW:
        return float(max(1, math.ceil(x)))
    return float(_grid_point(_grid_step(x) + 1))


@dataclass(frozen=True)
class Features:
    """Serving-engine options that change an iteration's time.

    `cuda_graphs`: iterations replay captured CUDA graphs, so the host issues no per-kernel work (the perf
    levels' per-kernel device launch cost stays); False runs eagerly: the host spends `runtime.host_op_latency`
    per kernel (HOST_OP_LATENCY over the host's speed when the spec gives none) and the GPU waits when that exceeds
    the kernels' time.
    `tp_overlap`: tensor-parallel collectives decomposed into per-rank chunks that run under the neighbouring
    GEMMs (async / micro-pipelined TP, Wang et al. ASPLOS 2023; PyTorch's async TP): a layer's GEMMs and TP
    collectives take max(G, C) + min(G, C) / tp instead of G + C (the first chunk cannot overlap).
    `wide_ep`: DeepSeek-style expert parallelism over attention-DP ranks (moe.py)."""

    cuda_graphs: bool = True
    tp_overlap: bool = False
    wide_ep: WideEP | None = None


# Host time per eagerly launched op (framework dispatch, the engine's Python model code and the CUDA launch call)
# when the spec gives no runtime.host_op_latency. The host issues kernels asynchronously, so an eager iteration
# takes max(GPU time, ops x host time per op) (`compose`). Llama-3.1-8B decode at batch 1 on H100 SXM takes 8.4 ms
# eager and 5.1 ms as a CUDA graph (cloudai.pt, "CUDA Graphs + torch.compile: 1.65x LLM Decode Speedup"): eager
# is host-bound, 8.4 ms over the 355 kernels of a step (this graph's count: 32 layers x 11 + embedding, final
# norm, LM head) = 24 us per op. Bare PyTorch dispatch of a small op is ~3.3 us (operator micro-benchmarks in
# pytorch/pytorch #32194); the rest is module and engine Python (dev-discuss.pytorch.org "Overhead in nn.Module").
HOST_OP_LATENCY = 24e-6


def host_seconds_per_kernel(hw: HardwareSpec) -> float:
    """Host seconds per eagerly enqueued kernel on `hw`'s reference system: the spec's `runtime.host_op_latency`
    where given (0: no host time), else HOST_OP_LATENCY (measured on DGX H100's Xeon Platinum 8480C host) over the
    system's `runtime.host_speed`, its host core's single-thread speed relative to that core (unset: 1.0), as
    llm/train_host.py scales the training host time: the work per kernel is serial single-thread host work."""
    if hw.runtime.host_op_latency is not None:
        return hw.runtime.host_op_latency
    return HOST_OP_LATENCY / (hw.runtime.host_speed or 1.0)


class IterationCosts:
    """Memoized iteration pieces of one model replica (tp x pp devices) at one perf level."""

    def __init__(self, config: ModelConfig, hw: HardwareSpec, par: Parallelism, prec: Precision, level: str,
                 features: Features | None = None):
        self.config, self.hw, self.par, self.prec, self.level = config, hw, par, prec, level
        self.features = features or Features()
        self._memo: dict[tuple, Any] = {}  # floats, and the body terms (arrays)
        self.estimates = 0  # distinct pieces estimated (a measure of the simulation's cost)
        # launch latency of one attention kernel in every layer of every stage
        self.attention_launch_s = hw.runtime.launch_latency * sum(
            node.count for stage in range(par.pp)
            for node in forward_graph(config, Step(1, 1, 1), par, prec, stage).nodes if node.name == "attention")
        self.host_op_s = host_seconds_per_kernel(hw)
        self._mla = config.mla is not None
        self._tp_overlap = self.features.tp_overlap
        self._plain = self.features == Features()  # no feature changes an iteration's composition
        self.derived: dict[Any, IterationCosts] = {}  # costs of related layouts (a decode pool's own expert group)
        wide = self.features.wide_ep
        self.moe_layers = sum(1 for i in range(config.layers) if config.is_moe_layer(i)) if wide else 0

    def iteration(self, decodes: int, decode_context: float, chunks: list[tuple[int, int]],
                  verify_tokens: int = 1) -> float:
        """Seconds for one iteration: `decodes` sequences each adding `verify_tokens` tokens (1, or the draft
        length + 1 under speculative decoding) at mean context `decode_context`, plus prefill chunks
        (new tokens, context already computed)."""
        tokens = decodes * verify_tokens + sum(c for c, _ in chunks)
        if tokens == 0:
            return 0.0
        completing = decodes + len(chunks)  # at most one sampled position per sequence reaches the LM head
        attention = 0.0
        if decodes:
            attention += self.decode_attention(decodes, decode_context, verify_tokens)
        for new, context in chunks:
            attention += self.prefill_attention(new, context)
        # one varlen attention kernel per layer runs every sequence of the iteration (vLLM's FlashAttention
        # call), so the pieces priced apart share one launch per layer
        pieces = len(chunks) + (1 if decodes else 0)
        if pieces > 1:
            attention -= (pieces - 1) * self.attention_launch_s
        return self.compose(tokens, completing, not chunks, attention)

    def compose(self, tokens: float, sampled: int, decode_only: bool, attention: float) -> float:
        """An iteration's seconds from its token count, sampled tokens and attention time, with the features:
        wide-EP dispatch/combine (and two-batch overlap), TP overlap (inside the body), eager host time."""
        decode_form = decode_only and self._mla  # only MLA's layers differ in decode
        if self._plain:  # the default engine: the simulation's hot path
            return self.body(tokens, decode_form) + attention + self._head_at(max(1, sampled))
        seconds = self.body(tokens, decode_form) + attention
        wide = self.features.wide_ep
        if wide is not None:
            mode = "low_latency" if decode_only else "normal"
            if wide.two_batch_overlap and tokens >= 2:
                slowdown = compute_slowdown(self.hw, wide, mode)
                experts = self._body_terms(tokens / 2, decode_form)[3]
                before = (self.body(tokens / 2, decode_form) - experts + attention / 2) * slowdown
                dispatch, combine = (self.moe_layers * a2a_seconds(self.config, self.hw, wide, tokens / 2, mode, p)
                                     for p in ("dispatch", "combine"))
                seconds = overlapped_seconds(before, experts * slowdown, dispatch, combine)
            else:
                seconds += self.a2a(tokens, mode)
        seconds += self._head_at(max(1, sampled))
        if not self.features.cuda_graphs:  # the GPU waits for a host that issues one op per host_op_s
            seconds = max(seconds, self.eager_ops(decode_form) * self.host_op_s)
        return seconds

    def a2a(self, tokens: float, mode: str) -> float:
        """Wide-EP dispatch + combine of every MoE layer for `tokens` tokens on this rank (0 without wide EP)."""
        wide = self.features.wide_ep
        return self.moe_layers * a2a_seconds(self.config, self.hw, wide, tokens, mode) if wide else 0.0

    def eager_ops(self, decode_form: bool) -> float:
        """Kernels one forward pass launches (every node's count, every stage): the host's work when eager."""
        key = ("ops", decode_form)
        if key not in self._memo:
            step = Step(1, 1, 1) if decode_form else Step(1, 2, 0, logits_tokens=1)
            self._memo[key] = eager_kernels(self.config, self.par, self.prec, step)  # infer's own count
        return self._memo[key]

    def prefill_attention_batch(self, sequences: int, new_tokens: int) -> float:
        """`sequences` identical fresh prompts as one batched attention kernel per layer (static batching)."""
        low, high, w = grid_neighbours(new_tokens)
        value = self._attention_at(sequences, low, 0)
        if w:
            value += w * (self._attention_at(sequences, high, 0) - value)
        return value

    def token_parallel(self, tokens: int, sampled: int, decode_only: bool) -> float:
        """Everything but attention for `tokens` tokens of which `sampled` reach the LM head (wide-EP
        dispatch/combine included, no two-batch overlap, no eager host floor: `compose` applies those)."""
        decode_form = decode_only and self.config.mla is not None  # only MLA's layers differ in decode
        a2a = self.a2a(tokens, "low_latency" if decode_only else "normal")
        return self.body(tokens, decode_form) + a2a + self._head_at(max(1, sampled))

    def body(self, tokens: float, decode_form: bool) -> float:
        """The layers' token-parallel work for `tokens` tokens (wide-EP all-to-alls left out)."""
        low, high, w = grid_neighbours(tokens)
        plain = self._body_sum(low, decode_form)  # floats, not the terms: the simulation's hot path
        if w:
            plain += w * (self._body_sum(high, decode_form) - plain)
        chunks = self.par.tp
        if not (self._tp_overlap and chunks > 1 and tokens >= chunks):
            return plain
        other = self._body_terms(tokens, decode_form)[0]
        # async TP: `tp` chunks of tokens/tp, chunk i's collective under chunk i+1's GEMMs (a pipeline of n
        # stages: n x max(g, c) + min(g, c)); each chunk re-reads the weights, so a weight-bound (decode) GEMM
        # loses what the overlap gains: engines turn it on where it pays, so the faster of the two is taken
        _, g, c, _ = self._body_terms(tokens / chunks, decode_form)
        return min(plain, other + chunks * max(g, c) + min(g, c))

    def _body_terms(self, tokens: float, decode_form: bool) -> np.ndarray:
        """(other, GEMM, TP-collective, expert-side) seconds of the body, interpolated on the pricing grid; the
        first three add up to the body, the expert side (routed and shared experts) is part of them."""
        low, high, w = grid_neighbours(tokens)
        value = self._body_at(low, decode_form)
        if w:
            value = value + w * (self._body_at(high, decode_form) - value)
        return value

    def decode_attention(self, sequences: int, context: float, new_tokens: int = 1) -> float:
        low, high, w = grid_neighbours(context)
        value = self._attention_at(sequences, new_tokens, low)
        if w:
            value += w * (self._attention_at(sequences, new_tokens, high) - value)
        return value

    def prefill_attention(self, new_tokens: int, context: int) -> float:
        """One sequence's chunk of `new_tokens` after `context` computed tokens (causal within the chunk)."""
        new_low, new_high, w_new = grid_neighbours(new_tokens)
        value = self._chunk_attention(new_low, context)
        if w_new:
            value += w_new * (self._chunk_attention(new_high, context) - value)
        return value

    def _chunk_attention(self, new_tokens: int, context: int) -> float:
        if context == 0:
            return self._attention_at(1, new_tokens, 0)
        low, high, w = grid_neighbours(context)
        value = self._attention_at(1, new_tokens, low)
        if w:
            value += w * (self._attention_at(1, new_tokens, high) - value)
        return value

    # ----- memoized estimates -------------------------------------------------------------------------------
    def _body_at(self, tokens: int, decode_form: bool) -> np.ndarray:
        """The layers' token-parallel work (and embedding, pipeline sends), without the LM head."""
        key = ("body", tokens, decode_form)
        if key not in self._memo:
            # decode-only iterations use the decode form of the layers (MLA's absorbed projections)
            step = Step(tokens, 1, 0) if decode_form else Step(1, tokens, 0, logits_tokens=1)
            self._memo[key] = self._stages_seconds(step, "body")
        return self._memo[key]

    def _body_sum(self, tokens: int, decode_form: bool) -> float:
        key = ("body_sum", tokens, decode_form)
        if key not in self._memo:
            self._memo[key] = float(self._body_at(tokens, decode_form)[:3].sum())
        return self._memo[key]

    def _head_at(self, sampled: int) -> float:
        """The final norm and the LM head over the sampled tokens."""
        key = ("head", sampled)
        if key not in self._memo:
            self._memo[key] = self._stages_seconds(Step(1, sampled, 0, logits_tokens=sampled), "head")
        return self._memo[key]

    def _attention_at(self, sequences: int, new_tokens: int, context: int) -> float:
        key = ("attention", sequences, new_tokens, context)
        if key not in self._memo:
            self._memo[key] = self._stages_seconds(Step(sequences, new_tokens, context), "attention")
        return self._memo[key]

    def _stages_seconds(self, step: Step, part: str) -> Any:
        graphs = []
        for stage in range(self.par.pp):
            graph = forward_graph(self.config, step, self.par, self.prec, stage)
            nodes = tuple(n for n in graph.nodes if _part(n.name) == part)
            graphs.append(Graph(nodes, name=graph.name))
        self.estimates += 1
        estimates = estimate_graphs(graphs, self.hw, self.level)
        if part != "body":
            return sum(e.seconds for e in estimates)
        return sum(self._body_terms_of(graph, estimate) for graph, estimate in zip(graphs, estimates, strict=True))

    def _body_terms_of(self, graph: Graph, estimate: Estimate) -> np.ndarray:
        """A stage's body as (other, GEMM, TP-collective) seconds; wide-EP dispatch/combine taken out (moe.py
        prices them)."""
        ops = {node.name: node.op for node in graph.nodes}
        gemm = comm = other = experts = 0.0
        for name, count, one in estimate.parts:
            seconds = count * one.seconds
            if self.features.wide_ep is not None and name in A2A_NODES:
                continue
            if name.startswith(EXPERT_NODES):
                experts += seconds  # also counted in its category below
            op = ops.get(name)
            if isinstance(op, Gemm | GroupedGemm):
                gemm += seconds
            elif isinstance(op, Collective) and op.op in TP_COLLECTIVES:
                comm += seconds
            else:
                other += seconds
        return np.array([other, gemm, comm, experts])


def _part(node_name: str) -> str:
    if node_name == "attention":
        return "attention"
    return "head" if node_name in HEAD_NODES else "body"
