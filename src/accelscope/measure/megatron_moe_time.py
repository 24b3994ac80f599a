"""Kernels of Megatron-LM's MoE-layer benchmark (source MM) that the generic MoE graph (moe_nodes) leaves out.

The alltoall dispatcher (megatron/core/transformer/moe/token_dispatcher.py, MoEAlltoAllTokenDispatcher) receives
the all-to-all's rows grouped by source rank; with more than one local expert it sorts them into local-expert
order for the grouped GEMM ("Permutation 2": sort_chunks_by_idxs, TE's fused moe_sort_chunks_by_index under
moe_permute_fusion) and, before the combine's all-to-all, sorts the experts' output back into source-rank order
("Unpermutation 2"). Each is a copy of the P x hidden routed rows (P = tokens x top-k on the rank, balanced by
moe_router_force_load_balancing), and autograd runs the inverse copy for each in the backward. With one local
expert (the Mixtral proxy on EP8) both are skipped; DeepEP and HybridEP (the flex dispatcher) permute locally
instead (moe_nodes' moe_permute / moe_unpermute).

Not modelled here yet (docs/validation.md, branch mm-time): the harness's GELU experts (two GEMMs, the unfused
`gelu(fc1) * permuted_probs` in fp32 and its cast back, and their autograd backward) and the flex dispatchers'
deduplicated traffic (T x ranks_per_token rows, not T x top-k). Priced as the harness runs them they leave every
MM time row 8-37 % too fast, by 0.6-2.2 ms a pass that grows neither with the GEMMs nor with the traffic, so
the graph keeps moe_nodes' SwiGLU experts until that time is found.
"""

from __future__ import annotations

from ..workload.ops import Elementwise, Graph, Node
from .megatron_moe_memory import MoELayerShape

# (forward node after which the sort runs, its label); the backward runs each sort's inverse copy after the
# backward of the node that follows it in the forward
_SORTS = {"moe_dispatch": "moe_sort_chunks", "experts_down": "moe_sort_chunks_back"}


def sort_chunks_nodes(m: MoELayerShape, label: str) -> list[Node]:
    """alltoall's sort_chunks_by_idxs: the P routed rows read and written once in the new order (bf16), only with
    more than one local expert and only for the alltoall dispatcher."""
    if m.dispatcher != "alltoall" or m.local_experts <= 1:
        return []
    return [Node(Elementwise("copy", m.routed * m.hidden, "bf16"), 1, label)]


def with_local_expert_sorts(forward: Graph, backward: Graph, m: MoELayerShape) -> tuple[Graph, Graph]:
    """The forward with the two local-expert sorts after the dispatch's all-to-all and after the experts, and the
    backward with their inverse copies: after the experts' backward (before the dispatch's all-to-all backward)
    and after the combine's all-to-all backward (before the experts' backward)."""
    fwd: list[Node] = []
    for node in forward.nodes:
        fwd.append(node)
        if node.name in _SORTS:
            fwd += sort_chunks_nodes(m, _SORTS[node.name])
    bwd: list[Node] = []
    for node in backward.nodes:
        if node.name == "moe_dispatch_bwd":
            bwd += sort_chunks_nodes(m, "moe_sort_chunks_bwd")
        bwd.append(node)
        if node.name == "moe_combine_bwd":
            bwd += sort_chunks_nodes(m, "moe_sort_chunks_back_bwd")
    return Graph(tuple(fwd), name=forward.name), Graph(tuple(bwd), name=backward.name)
