"""Collective communication time from the spec's interconnect: the bandwidth floor of each collective.

Per device, a ring-style collective over n devices must send (and receive):
  all_reduce      2(n-1)/n x bytes     (reduce-scatter then all-gather)
  reduce_scatter   (n-1)/n x bytes
  all_gather       (n-1)/n x bytes     (bytes = the gathered output)
  all_to_all       (n-1)/n x bytes
  broadcast / send_recv    1 x bytes
(Patarasuk & Yuan, "Bandwidth optimal all-reduce algorithms", JPDC 2009; NCCL's busbw convention.)

Group members sit `stride` devices apart (a data-parallel group skips the TP ranks in between), so one
scale-up domain of d devices holds d // stride of them. A group larger than that is hierarchical: the intra-domain part runs on scale-up links and the
inter-domain part on the scale-out network with 1/d of the data per device (after an intra-domain
reduce-scatter, each of the d devices owns 1/d). The two phases pipeline, so the floor is the slower one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..hardware import HardwareSpec
from ..hardware.spec import ScaleUp
from .nccl import NET_STEP_LATENCY_US, PCI_STEP_LATENCY_US, STEP_LATENCY_US


@dataclass(frozen=True, slots=True)
class CollectiveTime:
    seconds: float
    bandwidth_seconds: float
    latency_seconds: float
    network: str  # "scale_up", "scale_out" or "hierarchical"


def group_bandwidth(up: ScaleUp, group: int) -> float:
    """Per-device bandwidth a group of `group` devices can use inside one scale-up domain.

    Behind a switch every device drives all its links whatever the group. In a fully connected mesh (AMD
    Infinity Fabric: one link per peer) a group of n uses only its n - 1 peer links: (n - 1)/(domain - 1)
    of the aggregate. Rings and tori use their neighbour links in either case."""
    if up.topology == "fully_connected" and up.domain_size > 1:
        return up.bandwidth * min(group - 1, up.domain_size - 1) / (up.domain_size - 1)
    return up.bandwidth


def wire_factor(kind: str, n: int) -> float:
    """Bytes each device sends, as a multiple of the buffer size, for a bandwidth-optimal algorithm."""
    if n <= 1:
        return 0.0
    if kind == "all_reduce":
        return 2.0 * (n - 1) / n
    if kind in ("all_gather", "reduce_scatter", "all_to_all"):
        return (n - 1) / n
    if kind in ("broadcast", "send_recv"):
        return 1.0
    raise ValueError(f"unknown collective {kind!r}")


def collective_floor(kind: str, nbytes: float, group: int, hw: HardwareSpec, stride: int = 1) -> CollectiveTime:
    """Lower bound on the time of one collective: the slowest link phase plus one hop of latency."""
    if group <= 1 or nbytes <= 0:
        return CollectiveTime(0.0, 0.0, 0.0, "none")
    up, out = hw.interconnect.scale_up, hw.interconnect.scale_out
    domain = max(up.domain_size // stride, 1) if up else 1  # members of this group inside one domain
    if up is not None and group <= domain:
        factor = wire_factor(kind, group)
        if kind == "all_reduce" and up.in_network_reduction:
            factor = min(factor, 1.0)  # the switch reduces: each byte goes up once and comes back once
        bw_time = factor * nbytes / group_bandwidth(up, group)
        latency = hop_latency(up.latency, up.library, STEP_LATENCY_US["ring"][0])
        return CollectiveTime(bw_time + latency, bw_time, latency, "scale_up")
    if out is None:
        raise ValueError(
            f"{hw.id}: a collective over {group} devices needs interconnect.scale_out "
            f"(the scale-up domain holds {domain}); add it to the spec"
        )
    inner = min(domain, group)
    outer = -(-group // inner)  # domains the group touches (the last may hold fewer members)
    inner_factor = wire_factor(kind, inner)
    if kind == "all_reduce" and up is not None and up.in_network_reduction:
        inner_factor = min(inner_factor, 1.0)  # the domain's switch reduces, as in the one-domain case above
    inner_time = inner_factor * nbytes / group_bandwidth(up, inner) if (up and inner > 1 and kind != "send_recv") \
        else 0.0
    outer_bytes = nbytes / inner if kind in ("all_reduce", "reduce_scatter", "all_gather") else nbytes
    outer_fraction = wire_factor(kind, outer) if kind != "all_to_all" else (group - inner) / group
    outer_time = outer_fraction * outer_bytes / out.bandwidth
    nccl = up.library if up else None
    net_hop = PCI_STEP_LATENCY_US["ring"][0] if out.topology == "pcie" else NET_STEP_LATENCY_US[0]
    latency = hop_latency(out.latency, nccl, net_hop)
    if up and inner > 1 and kind != "send_recv":  # a send crosses to the other domain directly: one hop
        latency += hop_latency(up.latency, nccl, STEP_LATENCY_US["ring"][0])
    bw_time = max(inner_time, outer_time)
    network = "hierarchical" if inner > 1 else "scale_out"
    return CollectiveTime(bw_time + latency, bw_time, latency, network)


def hop_latency(link_latency: float, library: str | None, nccl_hop_us: float) -> float:
    """One hop's latency for the floor: the link's, or, where NCCL prices the link (`scale_up.library: nccl`) and
    its own lowest per-hop latency (hwLat, LL protocol, perf/nccl.py) is smaller, that one, so the floor stays
    below the analytical level's NCCL model."""
    return min(link_latency, nccl_hop_us * 1e-6) if library == "nccl" else link_latency
