"""Graphs: ops with multiplicities, estimated as the sum of their nodes."""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import Op, OpCost, sum_costs


@dataclass(frozen=True, slots=True)
class Node:
    """One op in a graph, repeated `count` times (e.g. once per layer)."""

    op: Op
    count: float = 1
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.op.name


@dataclass(frozen=True, slots=True)
class Graph:
    """A sequence of ops with multiplicities. Its estimate is the sum of its nodes' estimates."""

    nodes: tuple[Node, ...]
    name: str = "graph"
    meta: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def of(cls, *items: Op | Node | tuple[Op, float], name: str = "graph") -> Graph:
        nodes = []
        for item in items:
            if isinstance(item, Node):
                nodes.append(item)
            elif isinstance(item, tuple):
                nodes.append(Node(item[0], item[1]))
            else:
                nodes.append(Node(item))
        return cls(tuple(nodes), name=name)

    def __add__(self, other: Graph) -> Graph:
        return Graph(self.nodes + other.nodes, name=self.name)

    def scaled(self, factor: float) -> Graph:
        return Graph(tuple(Node(n.op, n.count * factor, n.label) for n in self.nodes), name=self.name)

    def cost(self) -> OpCost:
        """Total work (sum over nodes, in order): useful for FLOP counts; SFU ops merged by function."""
        return sum_costs((node.op.cost(), node.count) for node in self.nodes)


