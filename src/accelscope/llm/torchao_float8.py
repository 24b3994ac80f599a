"""The cast kernels of torchao's float8 training (Float8Linear, dynamic scaling) around each FP8 GEMM, as torchao
writes them and torch.compile runs them (torchtitan compiles every transformer block).

torchao/float8/float8_linear.py (matmul_with_hp_or_float8_args) saves the high-precision input and weight for the
backward and casts each GEMM operand there again, along the axis its GEMM reduces over:
- forward  out = A W^T:       A along K, W along K;
- backward dA  = dY W:        dY along N, W along N;
- backward dW  = dY^T A:      dY along M, A along M.
Per recipe (torchao Float8LinearRecipeName):
- "tensorwise": one scale per tensor: an amax reduction over the whole tensor, then the scale-and-cast pass
  (two kernels: the cast cannot start before the global amax). The backward's dY serves both GEMMs with one
  scale: one amax, two casts (the row-major and transposed layouts torch._scaled_mm wants; torch.compile writes
  the transposes inside the casts). With FSDP float8 all-gather (enable_fsdp_float8_all_gather) the weight is
  cast on the local shard before the gather (its amax precomputed for all weights at once,
  precompute_float8_dynamic_scale_for_fsdp) and arrives in float8: the forward casts 1/shard of it, and the
  backward only copies the gathered float8 weight to the transposed layout of dA's GEMM (1 byte in, 1 out).
- "rowwise": one scale per row along the reduction axis (axiswise_dim): along the contiguous axis (A and W
  forward, dY for dA) the row amax and the cast are one kernel; along the other axis (W for dA, dY and A for dW)
  a column reduction first, then the cast.
- "rowwise_gw_hp" (ROWWISE_WITH_GW_HP): as rowwise, but dW = dY^T A runs in bf16 (no casts for it).
- "mxfp8" (torchao MX training): 32-element blocks whose scale the cast kernel computes itself; six casts.
"""

from __future__ import annotations

from dataclasses import replace

from ..workload.ops import Elementwise, Gemm, Graph, GroupedGemm, Node, Quantize

TORCHAO_RECIPES = ("tensorwise", "rowwise", "rowwise_gw_hp", "mxfp8")
FP8 = "fp8_e4m3"
MX_BLOCK = 32


def _amax(elements: float) -> Elementwise:
    """A max-|x| reduction over a bf16 tensor: read once, nothing written but the scale."""
    return Elementwise("amax", max(int(elements), 1), "bf16", inputs=1, outputs=0, flops_per_element=1)


def _cast(elements: float, block: int) -> Quantize:
    return Quantize(elements=max(int(elements), 1), fmt=FP8, src_dtype="bf16", block=max(block, 1))


def _fp8_transpose(elements: float) -> Elementwise:
    return Elementwise("copy", max(int(elements), 1), FP8, inputs=1, outputs=1, flops_per_element=0)


def _gemm_dims(op: Gemm | GroupedGemm) -> tuple[float, float, float, float]:
    """(m, n, k, weight elements) of one FP8 GEMM node's forward."""
    if isinstance(op, GroupedGemm):
        m = sum(op.m_per_group or ()) or (op.tokens or 1)
        return m, op.n, op.k, op.groups * op.k * op.n
    return op.m * op.batch, op.n, op.k, op.k * op.n


def linear_casts(m: float, n: float, k: float, w: float, recipe: str, weight_shard: int = 1
                 ) -> tuple[list[tuple[str, object]], list[tuple[str, object]]]:
    """(forward, backward) kernels of one linear: (label, op) pairs (module docstring). `weight_shard`: FSDP
    ranks the weight is cast across before a float8 all-gather (1: no float8 all-gather)."""
    if recipe == "mxfp8":
        fwd = [("a", _cast(m * k, MX_BLOCK)), ("w", _cast(w, MX_BLOCK))]
        bwd = [("dy", _cast(m * n, MX_BLOCK)), ("wt", _cast(w, MX_BLOCK)), ("dyt", _cast(m * n, MX_BLOCK)),
               ("at", _cast(m * k, MX_BLOCK))]
        return fwd, bwd
    if recipe == "tensorwise":
        fwd = [("a_amax", _amax(m * k)), ("a", _cast(m * k, int(m * k))),
               ("w_amax", _amax(w / weight_shard)), ("w", _cast(w / weight_shard, int(w)))]
        bwd = [("dy_amax", _amax(m * n)), ("dy", _cast(m * n, int(m * n))), ("dyt", _cast(m * n, int(m * n))),
               ("at_amax", _amax(m * k)), ("at", _cast(m * k, int(m * k)))]
        if weight_shard > 1:
            bwd.append(("wt", _fp8_transpose(w)))
        else:
            bwd += [("wt_amax", _amax(w)), ("wt", _cast(w, int(w)))]
        return fwd, bwd
    if recipe in ("rowwise", "rowwise_gw_hp"):
        fwd = [("a", _cast(m * k, int(k))), ("w", _cast(w, int(k)))]
        bwd = [("dy", _cast(m * n, int(n))), ("wt_amax", _amax(w)), ("wt", _cast(w, int(n)))]
        if recipe == "rowwise":
            bwd += [("dyt_amax", _amax(m * n)), ("dyt", _cast(m * n, int(m))),
                    ("at_amax", _amax(m * k)), ("at", _cast(m * k, int(m)))]
        return fwd, bwd
    raise ValueError(f"torchao float8 recipe: expected one of {', '.join(TORCHAO_RECIPES)} (got {recipe!r})")


def torchao_float8_casts(forward: Graph, backward: Graph, recipe: str, weight_shard: int = 1
                         ) -> tuple[Graph, Graph]:
    """The graphs with torchao's cast kernels added around every FP8 GEMM (labels fp8_<operand>:<gemm>); for
    "rowwise_gw_hp" the weight-gradient GEMMs (<gemm>_wgrad) run in bf16."""
    fwd_nodes, bwd_nodes = [], []
    for node in forward.nodes:
        op = node.op
        if not isinstance(op, Gemm | GroupedGemm) or not op.dtype.startswith(("fp8", "mx")):
            continue
        fwd, bwd = linear_casts(*_gemm_dims(op), recipe, weight_shard)
        fwd_nodes += [Node(cast, node.count, f"fp8_{label}:{node.name}") for label, cast in fwd]
        bwd_nodes += [Node(cast, node.count, f"fp8_{label}:{node.name}") for label, cast in bwd]
    backward_nodes = backward.nodes
    if recipe == "rowwise_gw_hp":
        backward_nodes = tuple(_wgrad_in_bf16(n) for n in backward_nodes)
    return (Graph(forward.nodes + tuple(fwd_nodes), name=forward.name),
            Graph(backward_nodes + tuple(bwd_nodes), name=backward.name))


def _wgrad_in_bf16(node: Node) -> Node:
    op = node.op
    if node.name.endswith("_wgrad") and isinstance(op, Gemm | GroupedGemm) and op.dtype.startswith("fp8"):
        return Node(replace(op, dtype="bf16", b_dtype="bf16" if op.b_dtype else None), node.count, node.name)
    return node
