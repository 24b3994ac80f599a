"""Megatron-LM MoE-layer benchmark kernels beyond the generic MoE graph (measure/megatron_moe_time.py), by hand."""

from __future__ import annotations

from accelscope.measure.megatron_moe_memory import MoELayerShape
from accelscope.measure.megatron_moe_time import sort_chunks_nodes, with_local_expert_sorts
from accelscope.workload.ops import Collective, Elementwise, Graph, Node

# the harness's two proxies on EP8, 4096 tokens a rank (moe_perf/test_cases.py)
DEEPSEEK = dict(tokens=4096, hidden=7168, ffn=2048, experts=32, top_k=8, ep=8, groups=8, group_top_k=4)
MIXTRAL = dict(tokens=4096, hidden=4096, ffn=14336, experts=8, top_k=2, ep=8)


def test_alltoall_sorts_the_routed_rows_only_with_several_local_experts():
    """DeepSeek proxy: 32 experts / EP8 = 4 local experts, P = 4096 x 8 = 32,768 rows of 7168: one copy of
    234,881,024 bf16 elements (read and written once: 939.5 MB moved). Mixtral proxy: 8 / 8 = 1 local expert,
    no sort. DeepEP and HybridEP never run sort_chunks_by_idxs."""
    (node,) = sort_chunks_nodes(MoELayerShape(dispatcher="alltoall", **DEEPSEEK), "s")
    assert node.op == Elementwise("copy", 32768 * 7168, "bf16")
    assert node.op.cost().bytes_read + node.op.cost().bytes_written == 2 * 2 * 32768 * 7168
    assert sort_chunks_nodes(MoELayerShape(dispatcher="alltoall", **MIXTRAL), "s") == []
    assert sort_chunks_nodes(MoELayerShape(dispatcher="deepep", **DEEPSEEK), "s") == []
    assert sort_chunks_nodes(MoELayerShape(dispatcher="hybridep", **DEEPSEEK), "s") == []


def test_sorts_sit_between_the_all_to_alls_and_the_experts():
    """token_dispatcher.py order: forward permute, all-to-all, sort, experts, sort back, all-to-all; backward
    all-to-all (combine), inverse of the sort back, experts, inverse of the sort, all-to-all (dispatch)."""
    a2a = Collective("all_to_all", 1e6, 8)
    gemm = Elementwise("copy", 16, "bf16")
    fwd = Graph(tuple(Node(op, 1, n) for n, op in (("moe_dispatch", a2a), ("experts_up", gemm),
                                                    ("experts_down", gemm), ("moe_combine", a2a))))
    bwd = Graph(tuple(Node(op, 1, n) for n, op in (("moe_combine_bwd", a2a), ("experts_down_dgrad", gemm),
                                                    ("experts_up_dgrad", gemm), ("moe_dispatch_bwd", a2a))))
    f, b = with_local_expert_sorts(fwd, bwd, MoELayerShape(dispatcher="alltoall", **DEEPSEEK))
    assert [n.name for n in f.nodes] == ["moe_dispatch", "moe_sort_chunks", "experts_up", "experts_down",
                                         "moe_sort_chunks_back", "moe_combine"]
    assert [n.name for n in b.nodes] == ["moe_combine_bwd", "moe_sort_chunks_back_bwd", "experts_down_dgrad",
                                         "experts_up_dgrad", "moe_sort_chunks_bwd", "moe_dispatch_bwd"]
    f, b = with_local_expert_sorts(fwd, bwd, MoELayerShape(dispatcher="alltoall", **MIXTRAL))
    assert (f, b) == (fwd, bwd)
