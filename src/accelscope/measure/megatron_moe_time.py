"""Kernels of Megatron-LM's MoE-layer benchmark (source MM) that the generic MoE graph (moe_nodes) leaves out.

The alltoall dispatcher (megatron/core/transformer/moe/token_dispatcher.py, MoEAlltoAllTokenDispatcher) receives
the all-to-all's rows grouped by source rank; with more than one local expert it sorts them into local-expert
order for the grouped GEMM ("Permutation 2": sort_chunks_by_idxs, TE's fused moe_sort_chunks_by_index under
moe_permute_fusion) and, before the combine's all-to-all, sorts the experts' output back into source-rank order
("Unpermutation 2"). Each is a copy of the P x hidden routed rows (P = tokens x top-k on the rank, balanced by
moe_router_force_load_balancing), and autograd runs the inverse copy for each in the backward. With one local
expert (the Mixtral proxy on EP8) both are skipped; DeepEP and HybridEP (the flex dispatcher) permute locally
instead (moe_nodes' moe_permute / moe_unpermute).

Under FP8 TEGroupedMLP pads each local expert's rows to the recipe's alignment before fc1 (Transformer Engine
fp8_padding.py Fp8Padding: 16 rows for the blockwise recipe, a fused_multi_row_padding copy of the P x hidden bf16
input into a new tensor) and unpads fc2's output (Fp8Unpadding, fused_multi_row_unpadding); each copy's backward is
the opposite copy of the gradient. Fp8Padding returns its input untouched only when every expert's row count is
already a multiple of the alignment: the forced balance draws random logits (moe_router_force_load_balancing),
so the counts are not, except under HybridEP, whose dispatch pads each expert's rows itself (pad_multiple) and
leaves TE nothing to pad (as measure/megatron_moe_memory.py forward_peak).

DeepEP and HybridEP deduplicate the dispatch: a token crosses the fabric once to each rank that holds one of its
experts, and the combine sends back one partial sum per (token, rank) (DeepEP buffer.py get_dispatch_layout ->
num_tokens_per_rank / is_token_in_rank, then dispatch; HybridEP's dispatch kernel writes each token once into
every destination rank's buffer, hybrid_ep executor.cu dispatch_core, and its permute kernel expands it to the
expert rows afterwards, dispatch_postprocess permute_launcher). So T x ranks_per_token rows move each way instead
of alltoall's T x top-k (megatron_moe_memory.ranks_per_token: 3.85 for the DeepSeek proxy's group-limited top-8,
2 for Mixtral's top-2 of 8 single-expert ranks, where nothing changes). The local permute / unpermute passes
stay: DeepEP's Megatron manager permutes the received rows, HybridEP runs its own permute and unpermute kernels
(dispatch_postprocess, combine_preprocess: "to avoid standalone D2D memory copy", not to avoid the pass).

Not modelled here yet (docs/validation.md, branch mm-time): the harness's GELU experts (two GEMMs, the unfused
`gelu(fc1) * permuted_probs` in fp32 and its cast back, and their autograd backward). With them and the
mechanisms above every MM time row is 10-27 % too fast (held out 17.1 %), short by 0.64-1.66 ms a pass, about as
much in the backward (four expert GEMMs) as in the forward (two) and as much for Mixtral (0.39 ms of all-to-all)
as for DeepSeek (1.1-2.3 ms): time that grows neither with the GEMMs nor with the traffic. Until it is found the
graph keeps moe_nodes' SwiGLU experts, whose third GEMM stands in for it.
"""

from __future__ import annotations

from ..workload.ops import Collective, Elementwise, Graph, Node
from .megatron_moe_memory import BF16, MoELayerShape, ranks_per_token

# the moe_nodes all-to-alls that carry the routed tokens, forward and backward
_ALL_TO_ALLS = ("moe_dispatch", "moe_combine", "moe_dispatch_bwd", "moe_combine_bwd")
# the experts' first and last GEMM, forward (fc1 is moe_nodes' gate/up GEMM) and backward
_FIRST_EXPERT_GEMM = ("experts_gate_up", "experts_up", "experts_down_dgrad")
_LAST_EXPERT_GEMM = ("experts_down", "experts_gate_up_wgrad", "experts_up_wgrad")

# (forward node after which the sort runs, its label); the backward runs each sort's inverse copy after the
# backward of the node that follows it in the forward
_SORTS = {"moe_dispatch": "moe_sort_chunks", "experts_down": "moe_sort_chunks_back"}


def _routed_copy(m: MoELayerShape, label: str) -> Node:
    """One copy of the P routed rows (bf16, hidden wide): read and written once."""
    return Node(Elementwise("copy", m.routed * m.hidden, "bf16"), 1, label)


def sort_chunks_nodes(m: MoELayerShape, label: str) -> list[Node]:
    """alltoall's sort_chunks_by_idxs: the P routed rows read and written once in the new order (bf16), only with
    more than one local expert and only for the alltoall dispatcher."""
    if m.dispatcher != "alltoall" or m.local_experts <= 1:
        return []
    return [_routed_copy(m, label)]


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


def dispatch_rows(m: MoELayerShape) -> float:
    """Rows one rank's dispatch sends (its combine returns as many): alltoall every token-expert pair, DeepEP and
    HybridEP each token once per destination rank."""
    if m.dispatcher in ("deepep", "hybridep"):
        return m.tokens * ranks_per_token(m)
    return float(m.routed)


def with_dispatch_traffic(forward: Graph, backward: Graph, m: MoELayerShape) -> tuple[Graph, Graph]:
    """The graphs with each token all-to-all carrying the dispatcher's rows (bf16, hidden wide)."""
    collective = Collective("all_to_all", max(dispatch_rows(m) * m.hidden * BF16, 1.0), m.ep, "bf16")

    def carry(graph: Graph) -> Graph:
        return Graph(tuple(Node(collective, n.count, n.name) if n.name in _ALL_TO_ALLS and m.ep > 1 else n
                           for n in graph.nodes), name=graph.name)

    return carry(forward), carry(backward)


def fp8_padding_nodes(m: MoELayerShape, label: str) -> list[Node]:
    """One TE FP8 (un)padding copy of the P routed rows (bf16, hidden wide), where TE pads: FP8, and a dispatcher
    that does not pad the rows itself (alltoall, DeepEP)."""
    if not m.fp8 or m.dispatcher == "hybridep":
        return []
    return [_routed_copy(m, label)]


def with_fp8_padding(forward: Graph, backward: Graph, m: MoELayerShape) -> tuple[Graph, Graph]:
    """The padding copy before the experts' first GEMM and the unpadding copy after their last, forward (pad,
    unpad) and backward (the unpadding's backward pads the output gradient, the padding's unpads the input
    gradient)."""

    def around(graph: Graph, before: str, after: str) -> Graph:
        nodes: list[Node] = []
        for node in graph.nodes:
            if node.name in _FIRST_EXPERT_GEMM:
                nodes += fp8_padding_nodes(m, before)
            nodes.append(node)
            if node.name in _LAST_EXPERT_GEMM:
                nodes += fp8_padding_nodes(m, after)
        return Graph(tuple(nodes), name=graph.name)

    return (around(forward, "experts_fp8_pad", "experts_fp8_unpad"),
            around(backward, "experts_fp8_unpad_bwd", "experts_fp8_pad_bwd"))
