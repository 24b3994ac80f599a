"""Megatron-LM MoE-layer benchmark kernels beyond the generic MoE graph (measure/megatron_moe_time.py), by hand."""

from __future__ import annotations

import pytest

from accelscope.measure.megatron_moe_memory import HARNESS_PROXIES, MoELayerShape
from accelscope.measure.megatron_moe_time import (
    dispatch_rows,
    sort_chunks_nodes,
    with_dispatch_traffic,
    with_fp8_padding,
    with_local_expert_sorts,
)
from accelscope.workload.ops import Collective, Elementwise, Graph, Node

DEEPSEEK, MIXTRAL = HARNESS_PROXIES["deepseek"], HARNESS_PROXIES["mixtral"]


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


def test_flex_dispatchers_send_a_token_once_per_rank():
    """DeepSeek proxy: a token's 8 experts sit on 3.846 ranks (4 x (1 - C(12,8)/C(16,8))), so DeepEP and HybridEP
    move 4096 x 3.846 = 15,754 rows of 7168 bf16 each way (225.8 MB) where alltoall moves 4096 x 8 = 32,768 rows
    (469.8 MB). Mixtral proxy: top-2 experts on 2 ranks, 8192 rows either way."""
    rows = 4096 * 4 * 12375 / 12870
    for dispatcher in ("deepep", "hybridep"):
        assert dispatch_rows(MoELayerShape(dispatcher=dispatcher, **DEEPSEEK)) == pytest.approx(rows)
        assert dispatch_rows(MoELayerShape(dispatcher=dispatcher, **MIXTRAL)) == pytest.approx(8192)
    assert dispatch_rows(MoELayerShape(dispatcher="alltoall", **DEEPSEEK)) == 32768
    a2a = Collective("all_to_all", 1.0, 8)
    graph = Graph((Node(a2a, 1, "moe_dispatch"), Node(Elementwise("copy", 16, "bf16"), 1, "experts_up")))
    f, b = with_dispatch_traffic(graph, graph, MoELayerShape(dispatcher="deepep", **DEEPSEEK))
    assert f.nodes[0].op.bytes == pytest.approx(rows * 7168 * 2)
    assert f.nodes[1] == graph.nodes[1] and b == f


def test_fp8_pads_the_routed_rows_unless_hybridep_did():
    """FP8 blockwise: TE's Fp8Padding copies the P = 32,768 x 7168 bf16 input (a pass of 939.5 MB read + written)
    before fc1 and Fp8Unpadding fc2's output after it; the backward copies each gradient back. HybridEP's dispatch
    already padded the rows (pad_multiple), and bf16 has no padding."""
    fwd = Graph(tuple(Node(Elementwise("copy", 16, "bf16"), 1, n) for n in ("experts_gate_up", "experts_down")))
    bwd = Graph(tuple(Node(Elementwise("copy", 16, "bf16"), 1, n) for n in ("experts_down_dgrad",
                                                                              "experts_gate_up_wgrad")))
    f, b = with_fp8_padding(fwd, bwd, MoELayerShape(dispatcher="alltoall", fp8=True, **DEEPSEEK))
    assert [n.name for n in f.nodes] == ["experts_fp8_pad", "experts_gate_up", "experts_down", "experts_fp8_unpad"]
    assert [n.name for n in b.nodes] == ["experts_fp8_unpad_bwd", "experts_down_dgrad", "experts_gate_up_wgrad",
                                         "experts_fp8_pad_bwd"]
    assert f.nodes[0].op == Elementwise("copy", 32768 * 7168, "bf16")
    for kind in (dict(dispatcher="hybridep", fp8=True), dict(dispatcher="alltoall", fp8=False)):
        assert with_fp8_padding(fwd, bwd, MoELayerShape(**kind, **DEEPSEEK)) == (fwd, bwd)
