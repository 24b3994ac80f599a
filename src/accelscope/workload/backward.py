"""Backward-pass ops for a forward graph (training).

Rules (each a standard identity; FLOP convention of DESIGN.md):
- Gemm C = A·B  ->  dA = dC·Bᵀ (m x k, reduce over n) and dB = Aᵀ·dC (k x n, reduce over m): 2x forward FLOPs.
- GroupedGemm   ->  the same per group. NB: the weight-gradient GEMMs are written as a GroupedGemm with the
  forward's rows, which has the right FLOPs and nearly the right bytes (X and dY in, dW out).
- Attention     ->  phase="bwd" (2.5x forward matrix work, recomputes P).
- Norm / elementwise -> one pass reading the saved input(s) and the output gradient, writing input gradients,
  with twice the forward arithmetic.
- Collectives   ->  the same collective on the gradients (the TP all-reduce of dX mirrors the forward's).
- Embedding     ->  scatter-add of the output gradient into the table gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .ops import (
    ELEMENTWISE_OPS,
    Attention,
    Collective,
    Elementwise,
    Embedding,
    Gemm,
    Graph,
    GroupedGemm,
    Node,
    Norm,
    Op,
)


def backward_ops(op: Op) -> list[tuple[str, Op]]:
    """The ops that compute the gradients of `op`, each with a suffix for its label."""
    if isinstance(op, Gemm):
        # dA[m,k] = dC[m,n] B^T: weights (B) are shared across the batch, read once
        d_input = Gemm(m=op.m, n=op.k, k=op.n, dtype=op.dtype, batch=op.batch, b_dtype=op.b_dtype,
                       out_dtype=op.out_dtype, shared_b=op.shared_b)
        # dB[k,n] = A^T dC: one reduction over all batch rows when B is shared
        rows = op.m * (op.batch if op.shared_b else 1)
        d_weight = Gemm(m=op.k, n=op.n, k=rows, dtype=op.dtype, batch=1 if op.shared_b else op.batch,
                        out_dtype=op.out_dtype)
        return [("dgrad", d_input), ("wgrad", d_weight)]
    if isinstance(op, GroupedGemm):
        d_input = replace(op, n=op.k, k=op.n)
        return [("dgrad", d_input), ("wgrad", op)]
    if isinstance(op, Attention):
        return [("bwd", replace(op, phase="bwd"))]
    if isinstance(op, Norm):
        elements = op.rows * op.hidden
        flops = 2 * Norm.VECTOR_FLOPS[op.norm]
        return [("bwd", Elementwise(f"{op.norm}_norm_bwd", elements, op.dtype, inputs=2, outputs=1,
                                    flops_per_element=flops))]
    if isinstance(op, Elementwise) and op.op == "concat":
        # torch.cat of views of one tensor (x.chunk(2, -1) -> clamp each -> cat): the cat's gradient is views of the
        # output gradient and the chunk's (SplitBackward) concatenates the halves' gradients: one copy, read once
        return [("bwd", Elementwise("concat_bwd", op.elements, op.dtype, inputs=1, outputs=1, flops_per_element=0))]
    if isinstance(op, Elementwise):
        flops, _, n_in, _ = ELEMENTWISE_OPS.get(op.op, (op.flops_per_element or 1, (), 1, 1))
        n_in = op.inputs or n_in
        return [("bwd", Elementwise(f"{op.op}_bwd", op.elements, op.dtype, inputs=n_in + 1, outputs=n_in,
                                    flops_per_element=2 * (op.flops_per_element or flops) + 1))]
    if isinstance(op, Collective):
        return [("bwd", op)]
    if isinstance(op, Embedding):
        return [("bwd", Elementwise("embedding_bwd", op.tokens * op.hidden, op.dtype, inputs=2, outputs=1,
                                    flops_per_element=1))]
    raise ValueError(f"no backward rule for {type(op).__name__}")


def backward_graph(forward: Graph, ops_of: Callable[[Op], list[tuple[str, Op]]] = backward_ops) -> Graph:
    """The backward pass of `forward`, its nodes in reverse order. `ops_of`: `backward_ops` or a memoized copy
    (llm.train: a pipeline's stages share most forward ops, so their gradient ops are built once)."""
    nodes = []
    for node in reversed(forward.nodes):
        for suffix, op in ops_of(node.op):
            nodes.append(Node(op, node.count, f"{node.name}_{suffix}"))
    return Graph(tuple(nodes), name=f"{forward.name} backward")
