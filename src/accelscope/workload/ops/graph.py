"""Graphs: ops with multiplicities, estimated as the sum of their nodes."""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import Op, OpCost


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
        """Total work (sum over nodes): useful for FLOP counts; SFU ops merged by function. `add_costs` of the
        nodes one after another, the sums kept as numbers rather than an OpCost per node (the same additions in
        the same order, so the same floats)."""
        matrix = vector = convert = read = written = comm = 0.0
        matrix_dtype: str | None = None
        sfu: dict[str, float] = {}
        for node in self.nodes:
            cost, count = node.op.cost(), node.count
            matrix += cost.matrix_flops * count
            matrix_dtype = matrix_dtype or cost.matrix_dtype
            vector += cost.vector_flops * count
            for fn, n in cost.sfu_ops:
                sfu[fn] = sfu.get(fn, 0.0) + n * count
            read += cost.bytes_read * count
            written += cost.bytes_written * count
            comm += cost.comm_bytes * count
            convert += cost.convert_elements * count
        return OpCost(matrix_flops=matrix, matrix_dtype=matrix_dtype, vector_flops=vector, sfu_ops=tuple(sfu.items()),
                      bytes_read=read, bytes_written=written, comm_bytes=comm, convert_elements=convert)


