"""estimate_graphs with a level's `many` model (register_level): the analytical level estimates a graph set's new
ops at once (its GEMMs' tile searches together, gemm.py `gemm_mappings`); every estimate is the one the per-op
model gives, bit for bit, and an op that fails still raises the error it raised one op at a time."""

from __future__ import annotations

import importlib

import pytest

import accelscope as acs
from accelscope.perf.estimate import combine, estimate_graphs, nodes_seconds, ops_seconds, shared_estimates
from accelscope.workload import Gemm
from accelscope.workload.llm_graph import Parallelism, Precision, Step, forward_graph
from accelscope.workload.model_config import load_model
from accelscope.workload.ops import Graph, Node

estimate_module = importlib.import_module("accelscope.perf.estimate")


def _graphs() -> list[Graph]:
    config = load_model("llama-3.1-70b")
    prefill, decode = Step(batch=4, new_tokens=2048), Step(batch=4, new_tokens=1, context=2048, logits_tokens=1)
    return [forward_graph(config, step, Parallelism(tp=8, pp=2), Precision(dtype=dtype), stage)
            for step in (prefill, decode) for dtype in ("bf16", "fp8_e4m3") for stage in (0, 1)]


def _one_op_at_a_time(graph: Graph, hw: acs.HardwareSpec) -> acs.Estimate:
    """What estimate_graphs returned before `many`: each node's op through the per-op model, summed by combine."""
    items = [(node.name, float(node.count), acs.estimate(node.op, hw, level="analytical")) for node in graph.nodes]
    return combine(items, name=graph.name, level="analytical", hw=hw.id)


@pytest.mark.parametrize("name", ["h100-sxm", "a100-sxm-80gb", "mi300x"])
def test_many_gives_the_per_op_estimates(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    hw = acs.load_hardware(name)
    if name == "mi300x":  # a spec with an override: the estimates name it, as the per-op path's do
        hw = hw.with_overrides({"compute.cores": 300})
    graphs = _graphs()
    assert sum(isinstance(node.op, Gemm) for node in graphs[0].nodes) > 1  # the GEMMs are searched together
    many, made = estimate_module._MANY["analytical"], []

    def recorded(ops, spec):  # the batched model ran to the end (no fall back to one op at a time)
        made.extend(many(ops, spec))
        return made

    monkeypatch.setitem(estimate_module._MANY, "analytical", recorded)
    with shared_estimates():
        together = estimate_graphs(graphs, hw, level="analytical")
    assert len(made) == len({node.op for graph in graphs for node in graph.nodes})
    for graph, est in zip(graphs, together, strict=True):
        # to_dict holds every figure of every part, the chosen mappings included; repr: the floats exactly
        assert repr(est.to_dict()) == repr(_one_op_at_a_time(graph, hw).to_dict())
        assert est.overrides == hw.overrides


def test_nodes_seconds_with_many_is_the_graphs_sum() -> None:
    """nodes_seconds (the planner grid's path) estimates its new ops at once too: the same float as the graph's
    estimate one op at a time."""
    hw = acs.load_hardware("h100-sxm")
    for graph in _graphs():
        nodes = [(node.op, node.count) for node in graph.nodes]
        assert nodes_seconds(iter(nodes), hw, "analytical") == _one_op_at_a_time(graph, hw).seconds


def test_ops_seconds_is_nodes_seconds_of_each_op() -> None:
    """ops_seconds (a serving grid's layer kind: each merged node's seconds) gives each op's one-node
    nodes_seconds, the same floats, in and outside a shared scope; an op listed twice is estimated once."""
    hw = acs.load_hardware("h100-sxm")
    ops = [node.op for node in _graphs()[2].nodes]
    ops.append(ops[0])
    expected = tuple(nodes_seconds([(op, 1.0)], hw, "analytical") for op in ops)
    assert ops_seconds(ops, hw, "analytical") == expected
    with shared_estimates():
        assert ops_seconds(ops, hw, "analytical") == expected


def test_a_failing_many_falls_back_to_one_op_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Should the batched model fail, nothing it made is kept and the ops are estimated one by one, in the graphs'
    order: the same estimates, or the first failing op's own error (not whichever the batch met first)."""
    hw = acs.load_hardware("h100-sxm")
    graph = _graphs()[0]

    def broken(ops, spec):
        raise ValueError("batched model failed")

    monkeypatch.setitem(estimate_module._MANY, "analytical", broken)
    est = estimate_graphs([graph], hw, level="analytical")[0]
    assert repr(est.to_dict()) == repr(_one_op_at_a_time(graph, hw).to_dict())
    monkeypatch.undo()
    # two GEMMs with no matrix rate on H100 (int32), after one it has: the first int32 one's error, as before
    bad = Graph(tuple(Node(Gemm(m, 64, 64, dtype=dtype), 1, dtype) for m, dtype in
                      ((64, "bf16"), (128, "int32"), (256, "int32"))))
    with pytest.raises(ValueError, match="no matrix peak for int32") as one_by_one:
        _one_op_at_a_time(bad, hw)
    with pytest.raises(ValueError) as together:
        estimate_graphs([bad], hw, level="analytical")
    assert str(together.value) == str(one_by_one.value)
