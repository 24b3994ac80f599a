"""Collectives: alpha-beta model of ring, double-binary-tree and in-switch (NVLS) all-reduce; NCCL picks the
fastest, and so do we. Hierarchical beyond a scale-up domain (the stages added), or, where the switch reduces,
NCCL's NVLS_TREE (NVLS in each domain, a tree between domains, pipelined: the slower stage plus both latencies).
Inside an NVLink domain with `scale_up.library: nccl`, NCCL's own cost model (nccl.py).
"""

from __future__ import annotations

import math

from ...hardware import HardwareSpec
from ...hardware.spec import ScaleUp
from ...workload.ops import (
    Collective,
)
from ..collectives import group_bandwidth, wire_factor
from ..estimate import Estimate
from ..nccl import (
    NET_STEP_LATENCY_US,
    nccl_multinode_seconds,
    nccl_pcie_node_seconds,
    nccl_seconds,
    nvls_tree_seconds,
    p2p_seconds,
    restrict,
)
from .common import _estimate

CUSTOM_ALLREDUCE_MAX_BYTES = 8 * 2**20


def collective(op: Collective, hw: HardwareSpec) -> Estimate:
    cost = op.cost()
    custom = _custom_allreduce(op, hw)
    link, algorithm = custom if custom else collective_seconds(op.op, op.bytes, op.group, hw, op.stride,
                                                               op.algorithm)
    # the buffers are read and written locally too (a chip scratchpad holds its share)
    memory = hw.memory_seconds(cost.bytes_read, cost.bytes_written, cost.bytes)
    return _estimate(op, hw, {"interconnect": link, "memory": memory}, max(link, memory), cost,
                     {"algorithm": algorithm})


def _custom_allreduce(op: Collective, hw: HardwareSpec) -> tuple[float, str] | None:
    """A serving engine's all-reduce over NVLink peer memory, or None where it does not apply (not an all-reduce,
    beyond one switched / fully connected domain, larger than its buffer).

    one-shot: a barrier, every device reads the n-1 peers' buffers and reduces locally, a barrier:
        2 x link latency + (n-1) x bytes / link bandwidth
    two-shot: reduce-scatter then all-gather through peer memory, three barriers:
        3 x link latency + 2 (n-1)/n x bytes / link bandwidth
    whichever is faster (vLLM picks one-shot for small buffers, two-shot above)."""
    up = hw.interconnect.scale_up
    if (op.impl != "custom" or op.op != "all_reduce" or up is None or op.bytes > CUSTOM_ALLREDUCE_MAX_BYTES
            or op.group > max(up.domain_size // op.stride, 1) or up.topology not in ("switch", "fully_connected")):
        return None
    n = op.group
    bandwidth = group_bandwidth(up, n) * up.efficiency
    one_shot = 2 * up.latency + (n - 1) * op.bytes / bandwidth
    two_shot = 3 * up.latency + 2 * (n - 1) / n * op.bytes / bandwidth
    return (one_shot, "custom one-shot") if one_shot <= two_shot else (two_shot, "custom two-shot")


def collective_seconds(kind: str, nbytes: float, group: int, hw: HardwareSpec, stride: int = 1,
                       algorithm: str = "auto") -> tuple[float, str]:
    """`algorithm` pins the library's algorithm inside the domain; across domains the network level keeps ring or
    tree when asked for one and picks the faster of the two otherwise (NVLS exists only inside a switch)."""
    if group <= 1:
        return 0.0, "none"
    up, out = hw.interconnect.scale_up, hw.interconnect.scale_out
    domain = max(up.domain_size // stride, 1) if up else 1
    if up is not None and group <= domain:
        return _in_domain(kind, nbytes, group, up, algorithm)
    if out is None:
        raise ValueError(f"{hw.id}: a collective over {group} devices needs interconnect.scale_out")
    inner = min(domain, group) if up else 1
    outer = -(-group // inner)  # domains the group touches (the last may hold fewer members)
    if out.topology == "pcie" and up is not None and up.library == "nccl":
        # the domains share one host's PCIe: NCCL sees one node and runs one ring or tree over every rank
        # (perf/nccl.py: nccl_pcie_node_seconds)
        nvlink_bus = group_bandwidth(up, inner) * up.efficiency if inner > 1 else math.inf  # no NVLink hop
        seconds, chosen = nccl_pcie_node_seconds(kind, nbytes, group, nvlink_bus, out.bandwidth * out.efficiency,
                                                 algorithm)
        return seconds, f"{chosen} x {group} over pcie"
    inner_t, inner_alg = _in_domain(kind, nbytes, inner, up, algorithm) if (up and inner > 1) else (0.0, "")
    outer_bytes = nbytes / inner if kind in ("all_reduce", "reduce_scatter", "all_gather") else nbytes
    out_bw = out.bandwidth * out.efficiency
    if kind == "send_recv" and up is not None and up.library == "nccl":
        # NCCL's p2p through the NIC: one hop at the network transport's latency (perf/nccl.py: p2p_seconds)
        outer_t, outer_alg = p2p_seconds(outer_bytes, out_bw, NET_STEP_LATENCY_US)
    else:
        outer_t, outer_alg = _flat(kind, outer_bytes, outer, out_bw, out.latency, False,
                                   algorithm=algorithm if algorithm in ("ring", "tree") else "auto")
    options = {f"hierarchical({inner_alg or '-'} x {inner}, {outer_alg} x {outer})": inner_t + outer_t}
    if up is not None and up.library == "nccl" and kind in ("all_reduce", "all_gather", "reduce_scatter"):
        # NCCL runs one flat ring or tree over every rank, priced by its own multi-node model (perf/nccl.py)
        intra_bus = group_bandwidth(up, inner) * up.efficiency
        seconds, chosen = nccl_multinode_seconds(kind, nbytes, group, outer, intra_bus, out_bw, algorithm,
                                                 out.library_latency)
        options = {f"{chosen} x {outer} nodes": seconds}
    if (up is not None and up.in_network_reduction and inner > 1 and kind == "all_reduce"
            and algorithm in ("auto", "nvls")):
        options[f"nvls-tree(nvls x {inner}, tree x {outer})"] = (
            nvls_tree_seconds(nbytes, outer, inner, group_bandwidth(up, inner) * up.efficiency * up.nvls_efficiency,
                              out_bw, out.library_latency) if up.library == "nccl"
            else _nvls_tree(nbytes, inner, outer, up, out_bw, out.latency))
    best = min(options, key=options.__getitem__)
    return options[best], best


def _nvls_tree(nbytes: float, inner: int, outer: int, up: ScaleUp, out_bw: float, out_latency: float) -> float:
    """NCCL's NVLS_TREE all-reduce across domains: NVLS inside each switch domain, each device carrying 1/inner of
    the buffer up and down a tree between domains over its own NIC, the two stages pipelined chunk by chunk
    (NCCL_ALGO_NVLS_TREE, the algorithm NCCL runs across nodes when NVLS is on): the slower stage's transfer time
    plus both latencies (each stage's time for an empty buffer), where the hierarchical estimate adds the two
    stages whole."""
    inner_t, _ = _in_domain("all_reduce", nbytes, inner, up, "nvls")
    inner_lat, _ = _in_domain("all_reduce", 0.0, inner, up, "nvls")
    outer_t, _ = _flat("all_reduce", nbytes / inner, outer, out_bw, out_latency, False, algorithm="tree")
    outer_lat, _ = _flat("all_reduce", 0.0, outer, out_bw, out_latency, False, algorithm="tree")
    return max(inner_t - inner_lat, outer_t - outer_lat) + inner_lat + outer_lat


def _in_domain(kind: str, nbytes: float, group: int, up: ScaleUp, algorithm: str = "auto") -> tuple[float, str]:
    """A collective inside one scale-up domain: the library's cost model if the spec names one, else alpha-beta."""
    bandwidth = group_bandwidth(up, group) * up.efficiency
    if up.library == "nccl":
        return nccl_seconds(kind, nbytes, group, bandwidth, up.in_network_reduction, up.nvls_efficiency, algorithm)
    seconds, chosen = _flat(kind, nbytes, group, bandwidth, up.latency, up.in_network_reduction,
                            up.nvls_efficiency, algorithm)
    return seconds + up.collective_latency, chosen


def _flat(kind: str, nbytes: float, n: int, bandwidth: float, alpha: float, nvls: bool,
          nvls_efficiency: float = 1.0, algorithm: str = "auto") -> tuple[float, str]:
    """Fastest algorithm in one flat group: alpha-beta costs (Thakur et al. 2005; NCCL's algorithms)."""
    if kind != "all_reduce":
        steps = n - 1 if kind != "send_recv" else 1
        restrict({"ring": 0.0}, algorithm, kind)  # alpha-beta prices these as rings only
        return steps * alpha + wire_factor(kind, n) * nbytes / bandwidth, "ring"
    options = {
        "ring": 2 * (n - 1) * alpha + 2 * (n - 1) / n * nbytes / bandwidth,
        # double binary tree: 2 log2(n) latency hops, each byte up and down a tree (pipelined)
        "tree": 2 * math.ceil(math.log2(n)) * alpha + 2 * nbytes / bandwidth,
    }
    if nvls:  # in-switch reduction: each GPU sends its buffer once and receives the result once
        options["nvls"] = 2 * alpha + nbytes / (bandwidth * nvls_efficiency)
    options = restrict(options, algorithm, kind)
    best = min(options, key=lambda k: options[k])
    return options[best], best
