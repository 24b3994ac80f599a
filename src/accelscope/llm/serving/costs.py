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

import numpy as np

from ...hardware import HardwareSpec
from ...perf.estimate import estimate_graphs
from ...workload.llm_graph import Parallelism, Precision, Step, forward_graph
from ...workload.model_config import ModelConfig
from ...workload.ops import Graph

HEAD_NODES = ("final_norm", "lm_head")  # llm_graph.forward_graph's labels of the per-sampled-token work
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


class IterationCosts:
    """Memoized iteration pieces of one model replica (tp x pp devices) at one perf level."""

    def __init__(self, config: ModelConfig, hw: HardwareSpec, par: Parallelism, prec: Precision, level: str):
        self.config, self.hw, self.par, self.prec, self.level = config, hw, par, prec, level
        self._memo: dict[tuple, float] = {}
        self.estimates = 0  # distinct pieces estimated (a measure of the simulation's cost)
        # launch latency of one attention kernel in every layer of every stage
        self.attention_launch_s = hw.runtime.launch_latency * sum(
            node.count for stage in range(par.pp)
            for node in forward_graph(config, Step(1, 1, 1), par, prec, stage).nodes if node.name == "attention")

    def iteration(self, decodes: int, decode_context: float, chunks: list[tuple[int, int]],
                  verify_tokens: int = 1) -> float:
        """Seconds for one iteration: `decodes` sequences each adding `verify_tokens` tokens (1, or the draft
        length + 1 under speculative decoding) at mean context `decode_context`, plus prefill chunks
        (new tokens, context already computed)."""
        tokens = decodes * verify_tokens + sum(c for c, _ in chunks)
        if tokens == 0:
            return 0.0
        completing = decodes + len(chunks)  # at most one sampled position per sequence reaches the LM head
        seconds = self.token_parallel(tokens, completing, decode_only=not chunks)
        if decodes:
            seconds += self.decode_attention(decodes, decode_context, verify_tokens)
        for new, context in chunks:
            seconds += self.prefill_attention(new, context)
        # one varlen attention kernel per layer runs every sequence of the iteration (vLLM's FlashAttention
        # call), so the pieces priced apart share one launch per layer
        pieces = len(chunks) + (1 if decodes else 0)
        return seconds - (pieces - 1) * self.attention_launch_s if pieces > 1 else seconds

    def prefill_attention_batch(self, sequences: int, new_tokens: int) -> float:
        """`sequences` identical fresh prompts as one batched attention kernel per layer (static batching)."""
        low, high, w = grid_neighbours(new_tokens)
        value = self._attention_at(sequences, low, 0)
        if w:
            value += w * (self._attention_at(sequences, high, 0) - value)
        return value

    def token_parallel(self, tokens: int, sampled: int, decode_only: bool) -> float:
        """Everything but attention for `tokens` tokens of which `sampled` reach the LM head."""
        decode_form = decode_only and self.config.mla is not None  # only MLA's layers differ in decode
        low, high, w = grid_neighbours(tokens)
        value = self._body_at(low, decode_form)
        if w:
            value += w * (self._body_at(high, decode_form) - value)
        return value + self._head_at(max(1, sampled))

    def decode_iterations(self, sequences: int, contexts: np.ndarray, verify_tokens: int = 1) -> np.ndarray:
        """Seconds of consecutive decode-only iterations of the same sequences at these mean contexts."""
        fixed = self.token_parallel(sequences * verify_tokens, sequences, decode_only=True)
        return fixed + self.decode_attention_many(sequences, contexts, verify_tokens)

    def decode_attention_many(self, sequences: int, contexts: np.ndarray, new_tokens: int = 1) -> np.ndarray:
        """`decode_attention` for an array of contexts (vectorized over the pricing grid)."""
        contexts = np.asarray(contexts, dtype=float)
        exact = contexts <= EXACT_BELOW
        steps = GRID_POINTS_PER_DOUBLING * np.log2(np.maximum(contexts, EXACT_BELOW) / EXACT_BELOW)
        low_step = np.floor(steps + 1e-9)
        low = np.where(exact, np.maximum(np.ceil(contexts), 1),
                       np.round(EXACT_BELOW * 2 ** (low_step / GRID_POINTS_PER_DOUBLING)))
        high = np.where(exact, low, np.round(EXACT_BELOW * 2 ** ((low_step + 1) / GRID_POINTS_PER_DOUBLING)))
        weight = np.where((high > low) & (contexts > low), (contexts - low) / np.maximum(high - low, 1), 0.0)
        points = {int(x): self._attention_at(sequences, new_tokens, int(x)) for x in np.unique(np.concatenate([low,
                                                                                                               high]))}
        low_value = np.array([points[int(x)] for x in low])
        high_value = np.array([points[int(x)] for x in high])
        return low_value + weight * (high_value - low_value)

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
    def _body_at(self, tokens: int, decode_form: bool) -> float:
        """The layers' token-parallel work (and embedding, pipeline sends), without the LM head."""
        key = ("body", tokens, decode_form)
        if key not in self._memo:
            # decode-only iterations use the decode form of the layers (MLA's absorbed projections)
            step = Step(tokens, 1, 0) if decode_form else Step(1, tokens, 0, logits_tokens=1)
            self._memo[key] = self._stages_seconds(step, "body")
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

    def _stages_seconds(self, step: Step, part: str) -> float:
        graphs = []
        for stage in range(self.par.pp):
            graph = forward_graph(self.config, step, self.par, self.prec, stage)
            nodes = tuple(n for n in graph.nodes if _part(n.name) == part)
            graphs.append(Graph(nodes, name=graph.name))
        self.estimates += 1
        return sum(e.seconds for e in estimate_graphs(graphs, self.hw, self.level))


def _part(node_name: str) -> str:
    if node_name == "attention":
        return "attention"
    return "head" if node_name in HEAD_NODES else "body"
