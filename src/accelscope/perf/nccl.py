"""NCCL's own cost model of a collective inside one NVLink domain: algorithms x protocols.

NCCL picks, per call, the algorithm (ring, tree, NVLS) and protocol (LL, LL128, Simple) its tuning model says is
fastest, and that model is public: NVIDIA/nccl src/graph/tuning.cc (ncclTopoTuneModel, ncclTopoGetAlgoTime).
    time = base latency[algorithm][protocol] + steps x per-step latency[NVLink][algorithm][protocol]
           + bytes / algorithm bandwidth
with the protocols' bandwidth fractions: LL moves 8-byte words that carry 4 bytes of data and a 4-byte flag (NCCL
charges a ring 1/4 of the bus bandwidth for all-reduce, 1/3 otherwise, capped at 87.7 GB/s per node on
Ampere/Hopper), LL128 128-byte lines with 120 bytes of data (0.92), Simple the full bandwidth behind a fence per
step. The bus bandwidth here is the spec's scale-up link bandwidth x its achievable efficiency; everything else
is NCCL's constants, quoted below with their tuning.cc names. These are the library's planning numbers, not
measurements, so the model inherits their error; it is used when a scale-up domain says `library: nccl`.
"""

from __future__ import annotations

import math

PROTOCOLS = ("ll", "ll128", "simple")
# baseLat [Tree|Ring][LL, LL128, Simple], us
BASE_LATENCY_US = {"tree": (6.8, 14.0, 0.0), "ring": (6.6, 14.0, 8.4)}
# hwLat[NCCL_HW_NVLINK][Tree|Ring|NVLS][LL, LL128, Simple], us per step
STEP_LATENCY_US = {"tree": (0.6, 1.25, 28.0), "ring": (0.6, 1.9, 3.4)}
NVLS_LATENCY_US = 23.0  # hwLat[NVLINK][NVLS][Simple]; NVLS has no base latency and runs Simple only
LL_MAX_BUS_BW = 87.7e9  # llMaxBws[Ampere/Hopper][one node], B/s
TREE_BW_FRACTION = 0.92  # busBw * .92 for trees
TREE_PROTOCOL_FRACTION = (1 / 3.8, 7 / 9, 1.0)  # tree LL, LL128 (one node), Simple
RING_LL128_FRACTION = 0.92  # 120/128
NVLS_ALGBW_RATIO = 5 / 6  # busBw -> algorithm bandwidth for NVLS
NVLS_CHANNELS = 16  # NCCL_NVLS_NCHANNELS default (src/transport/nvls.cc): CTAs an NVLS collective runs on
NVLS_CHUNK_BYTES = 128 * 1024  # NCCL_NVLS_CHUNKSIZE default (src/transport/nvls.cc), before enqueue.cc shrinks it
# Send/recv is not a collective in NCCL: it never enters the tuning model (no baseLat, no ring steps). enqueue.cc
# (addP2pToPlan) runs a p2p transfer with LL when it is at most NCCL_P2P_LL_THRESHOLD bytes (default 16384), else
# with Simple, as one hop to the peer; we charge that hop the transport's per-step latency hwLat[hw][Ring][proto].
P2P_LL_THRESHOLD = 16384  # bytes, NCCL_PARAM(P2pLLThreshold, "P2P_LL_THRESHOLD", 16384) in src/enqueue.cc
# hwLat[NCCL_HW_NET][Ring][LL, LL128, Simple], us: a hop through the NIC (and the proxy thread that drives it)
NET_STEP_LATENCY_US = (2.7, 4.0, 14.0)

# ----- one node whose ring crosses PCIe (GPUs joined by NVLink bridges in pairs, nothing between the pairs) -------
# hwLat[NCCL_HW_PCI][Tree|Ring][LL, LL128, Simple], us per step: the ring graph's typeIntra is the worst link it
# crosses (a PCIe path), so NCCL prices every step at PCI latency (tuning.cc: intraHw = typeIntra == LINK_NVL ?
# NVLINK : PCI)
PCI_STEP_LATENCY_US = {"tree": (1.0, 1.9, 28.0), "ring": (1.0, 2.5, 5.7)}

# ----- across nodes (nNodes > 1): the same tuning model with the network's terms ---------------------------------
# hwLat[NCCL_HW_NET][Tree][LL, LL128, Simple], us per inter-node tree level
NET_TREE_LATENCY_US = (5.0, 8.5, 28.0)
# getNetOverhead(): the proxy's cost to post one network send, us (1.0 on Intel x86 hosts, 2.0 on AMD; NCCL_NET_OVERHEAD
# overrides); every ring step of an inter-node ring pays at least it, three times for Simple (its flush and fence)
NET_OVERHEAD_US = 1.0
# llMaxBws[Intel CPU][2 nodes, > 2 nodes], B/s: the LL cap across nodes follows the host CPU, not the GPU
LL_MAX_BUS_BW_NET = (39.0e9, 20.4e9)
NET_NVLS_TREE_LATENCY_US = 14.0  # hwLat[NCCL_HW_NET][NVLS_TREE][Simple], us per inter-node tree level
# The network transport's own latency (ncclNetProperties_t.latency, us: the spec's scale_out.library_latency):
# search.cc sets graph->latencyInter = net->net.latency and ncclTopoTuneModel adds it to every inter-node step,
#     interLat = hwLat[NET][a][p] + latencyInter (+ latencyInter again for Simple: "Also add the flush extra latency")
# NCCL's own IB / socket transports report 0 ("Not set"), so the model is unchanged there; a net plugin may report
# more (aws-ofi-nccl: 35 us on p5en / p6 over EFA, 75 us on p4d / p5). See net_step_latency_us.
# ncclTopoGetAlgoTime: an inter-node ring all-reduce with Simple pays its latency x 1.4 (x 1.9 before Ampere) once
# nBytes / (nChannels x nRanks) >= 64, "Plateau effect of ring"; with at most MAXCHANNELS = 32 channels (NCCL
# src/include/device.h) that holds for every buffer of at least 64 x 32 x nRanks bytes, below which we leave it out
RING_PLATEAU_FACTOR = 1.4
RING_PLATEAU_MIN_BYTES_PER_RANK = 64 * 32
# fraction of the bus, tuning.cc: ring LL128 busBw x (ppn < 2 ? 0.7 : 0.92), "ppn < 2: sending/receiving at the same
# GPU through the NIC"
RING_LL128_FRACTION_ONE_PPN = 0.7
# fraction of the bus, tuning.cc: tree LL128 busBw x (nNodes == 1 ? 7.0/9.0 : 120.0/128.0)
TREE_LL128_FRACTION_NET = 120 / 128
# treeCorrectionFactor[LL, LL128, Simple][log2(bytes / 64)], 64 B .. 256 MiB: NCCL's own fix of the tree's bandwidth
# at medium sizes (ncclTopoGetAlgoTime), larger buffers take 1.0
TREE_CORRECTION = (
    (1.0, 1.0, 1.0, 1.0, .9, .8, .7, .7, .7, .7, .6, .5, .4, .4, .5, .6, .7, .8, .9, 1.0, 1.0, 1.0, 1.0),
    (1.0, 1.0, 1.0, 1.0, 1.0, .9, .8, .8, .8, .7, .6, .6, .6, .6, .6, .6, .8, .9, .9, .9, .9, 1.0, 1.0),
    (.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7, .8, .9, .9),
)


def nccl_seconds(kind: str, nbytes: float, ranks: int, bus_bandwidth: float, nvls: bool,
                 nvls_efficiency: float = 1.0, algorithm: str = "auto") -> tuple[float, str]:
    """(seconds, "algorithm/protocol") of the option NCCL's model ranks fastest, for one collective call;
    `algorithm` ("ring", "tree", "nvls") restricts the choice to that algorithm's protocols, as NCCL_ALGO does."""
    if ranks <= 1:
        return 0.0, "none"
    if kind == "send_recv":
        restrict({"p2p": 0.0, "ring": 0.0}, algorithm, kind)
        return p2p_seconds(nbytes, bus_bandwidth, STEP_LATENCY_US["ring"])
    options = {f"ring/{p}": _ring(kind, nbytes, ranks, bus_bandwidth, i, p) for i, p in enumerate(PROTOCOLS)}
    if kind == "all_reduce":
        options |= {f"tree/{p}": _tree(nbytes, ranks, bus_bandwidth, i) for i, p in enumerate(PROTOCOLS)}
    if nvls and kind in ("all_reduce", "all_gather", "reduce_scatter"):
        algbw = bus_bandwidth * nvls_efficiency * NVLS_ALGBW_RATIO
        options["nvls/simple"] = NVLS_LATENCY_US * 1e-6 + nbytes / algbw
    options = restrict(options, algorithm, kind)
    best = min(options, key=options.__getitem__)
    if best == "nvls/simple" and kind == "all_reduce":
        # NCCL picks by its tuning model (above); the kernel it launches then runs whole blocks per channel
        algbw = bus_bandwidth * nvls_efficiency * NVLS_ALGBW_RATIO
        return nvls_allreduce_seconds(nbytes, ranks, algbw), best
    return options[best], best


def nvls_chunk_bytes(nbytes: float, ranks: int) -> int:
    """enqueue.cc (NCCL_ALGO_NVLS): the chunk starts at NCCL_NVLS_CHUNKSIZE and halves for smaller buffers, against
    concurrentOps = nChannels x nHeads: 64 KiB below 64 x ops x 128 KiB, 32 KiB below 8 x ops x 64 KiB, 16 KiB
    below 2 x ops x 32 KiB."""
    ops = NVLS_CHANNELS * ranks
    chunk = NVLS_CHUNK_BYTES
    for times, smaller in ((64, 65536), (8, 32768), (2, 16384)):
        if nbytes < times * ops * chunk and chunk > smaller:
            chunk = smaller
    return chunk


def nvls_allreduce_seconds(nbytes: float, ranks: int, algbw: float) -> float:
    """One-node NVLS all-reduce as its kernel splits the buffer (all_reduce.h, RunWorkElement<NCCL_ALGO_NVLS>):
    channel `bid` takes the blocks of nHeads x chunk bytes at gridOffset + bid x nHeads x chunk, gridOffset stepping
    by nChannels x nHeads x chunk, so each of the NVLS_CHANNELS channels moves ceil(blocks / channels) blocks, one
    after another, at its share of the algorithm bandwidth, and a buffer smaller than channels x block leaves
    channels idle. The chunk shrinks for smaller buffers (nvls_chunk_bytes). Channel 0 carries the most: k - 1 whole
    blocks and the first (largest) block of the last round, k = ceil(blocks / channels); the call ends with it.
    Plus NVLS's latency. What separates this from bytes / algorithm bandwidth is the whole number of blocks per
    channel: at 1 MiB on 8 GPUs (16 KiB chunks) 8 blocks run on 8 of the 16 channels, at half the bandwidth."""
    block = ranks * nvls_chunk_bytes(nbytes, ranks)
    rounds = math.ceil(nbytes / (NVLS_CHANNELS * block))
    channel_bytes = (rounds - 1) * block + min(block, nbytes - NVLS_CHANNELS * (rounds - 1) * block) if rounds else 0.0
    return NVLS_LATENCY_US * 1e-6 + channel_bytes / (algbw / NVLS_CHANNELS)


def restrict(options: dict[str, float], algorithm: str, kind: str) -> dict[str, float]:
    """The options of one algorithm ("auto": all), or a clear error when the collective cannot run that way."""
    if algorithm == "auto":
        return options
    kept = {name: t for name, t in options.items() if name.split("/")[0] == algorithm}
    if not kept:
        offered = sorted({name.split("/")[0] for name in options})
        why = ("; nvls needs interconnect.scale_up.in_network_reduction" if algorithm == "nvls"
               else "; tree is an all-reduce algorithm")
        raise ValueError(f"Collective.algorithm={algorithm!r} is not available for {kind} here (the library offers "
                         f"{', '.join(offered)}{why})")
    return kept


def p2p_seconds(nbytes: float, bus_bandwidth: float, step_latency_us: tuple[float, float, float]) -> tuple[float, str]:
    """(seconds, "p2p/protocol") of one NCCL send/recv: one hop's latency (`step_latency_us`: the transport's
    hwLat[..][Ring][LL, LL128, Simple]) plus the bytes at the protocol's bandwidth. LL carries 4 bytes of data in
    each 8-byte line and is charged a third of the bus as NCCL's ring LL is for a non-reducing collective, capped
    at llMaxBw; Simple gets the whole bus."""
    if nbytes <= P2P_LL_THRESHOLD:
        return step_latency_us[0] * 1e-6 + nbytes / min(LL_MAX_BUS_BW, bus_bandwidth / 3), "p2p/ll"
    return step_latency_us[2] * 1e-6 + nbytes / bus_bandwidth, "p2p/simple"


def tree_correction(nbytes: float, index: int) -> float:
    """NCCL's treeCorrectionFactor for a buffer of `nbytes` (log2i(nBytes >> 6), an integer floor log)."""
    chunks = int(nbytes) >> 6
    log_size = chunks.bit_length() - 1 if chunks > 0 else 0
    return TREE_CORRECTION[index][log_size] if log_size < len(TREE_CORRECTION[index]) else 1.0


def net_step_latency_us(hw_latency_us: float, net_latency_us: float, index: int) -> float:
    """interLat of tuning.cc for protocol `index` (0 LL, 1 LL128, 2 Simple): NCCL's hwLat[NET] for the algorithm
    plus the transport's reported latency, twice for Simple (its flush), us."""
    return hw_latency_us + net_latency_us * (2 if index == 2 else 1)


def nccl_multinode_seconds(kind: str, nbytes: float, ranks: int, nodes: int, intra_bus: float, net_bus: float,
                           algorithm: str = "auto", net_latency: float = 0.0) -> tuple[float, str]:
    """(seconds, "algorithm/protocol") of NCCL's flat ring or tree over `ranks` GPUs on `nodes` nodes, as
    ncclTopoTuneModel prices them once nNodes > 1 (tuning.cc):
      ring latency = baseLat + (nsteps - nInterSteps) x max(hwLat[NVLINK], netOverhead) + nInterSteps x interLat
          nInterSteps = 2 nNodes for all-reduce, nNodes - 1 for all-gather / reduce-scatter
      tree latency = baseLat + 2 ((ppn - 1) x hwLat[NVLINK][Tree] + log2(nNodes) x interLat)
      interLat = hwLat[NET] + the transport's `net_latency` (s; x 2 for Simple): net_step_latency_us
    The bus bandwidth is what the node's NICs carry for each ring crossing it: `net_bus` (one NIC per GPU,
    rail-optimised) x ppn, at most the NVLink bus `intra_bus` when ppn > 1."""
    ppn = max(ranks // nodes, 1)
    bus = net_bus * ppn if ppn < 2 else min(intra_bus, net_bus * ppn)
    ll_cap = LL_MAX_BUS_BW_NET[0 if nodes <= 2 else 1]
    net_us = net_latency * 1e6
    options = {f"ring/{p}": _net_ring(kind, nbytes, ranks, nodes, ppn, bus, ll_cap, i, net_us)
               for i, p in enumerate(PROTOCOLS)}
    if kind == "all_reduce":
        options |= {f"tree/{p}": _net_tree(nbytes, nodes, ppn, bus, ll_cap, i, net_us)
                    for i, p in enumerate(PROTOCOLS)}
    options = restrict(options, algorithm if algorithm in ("ring", "tree") else "auto", kind)
    best = min(options, key=options.__getitem__)
    return options[best], best


def nccl_pcie_node_seconds(kind: str, nbytes: float, ranks: int, nvlink_bus: float, pcie_bus: float,
                           algorithm: str = "auto") -> tuple[float, str]:
    """(seconds, "algorithm/protocol") of NCCL's ring or tree over `ranks` GPUs of ONE node whose NVLink pairs meet
    over PCIe (nNodes = 1: no network transport, no net latencies). tuning.cc then
      - charges each step hwLat[PCI] (PCI_STEP_LATENCY_US), the ring graph's typeIntra being a PCIe path;
      - disables LL128 (enabled by default only when typeIntra <= PATH_NVB, i.e. over NVLink);
      - plans the bus at nChannels x bwIntra, which the search caps at the slowest link the ring crosses: every
        channel's ring enters and leaves each pair through the same GPUs' PCIe links, one direction each, so the
        bus is min(NVLink bus, one PCIe link per direction) = `pcie_bus` in practice.
    LL is capped at llMaxBws[Hopper/Ampere][one node] as inside an NVLink domain."""
    if ranks <= 1:
        return 0.0, "none"
    bus = min(nvlink_bus, pcie_bus)
    if kind == "send_recv":
        restrict({"p2p": 0.0, "ring": 0.0}, algorithm, kind)
        return p2p_seconds(nbytes, bus, PCI_STEP_LATENCY_US["ring"])
    protocols = ((0, "ll"), (2, "simple"))  # no LL128 across PCIe
    options = {f"ring/{p}": _ring(kind, nbytes, ranks, bus, i, p, PCI_STEP_LATENCY_US) for i, p in protocols}
    if kind == "all_reduce":
        options |= {f"tree/{p}": _tree(nbytes, ranks, bus, i, PCI_STEP_LATENCY_US) for i, p in protocols}
    options = restrict(options, algorithm if algorithm in ("ring", "tree") else "auto", kind)
    best = min(options, key=options.__getitem__)
    return options[best], best


def nvls_tree_seconds(nbytes: float, nodes: int, ppn: int, nvls_bus: float, net_bus: float,
                      net_latency: float = 0.0) -> float:
    """NCCL's NVLS_TREE all-reduce: NVLS in each node's switch, a tree between nodes, priced as tuning.cc does:
    latency = hwLat[NVLINK][NVLS_TREE] + 2 log2(nNodes) x interLat (hwLat[NET][NVLS_TREE] + 2 x the transport's
    `net_latency`, s: NVLS_TREE runs Simple); bus = min(the NVLS bus, the node's NICs, halved beyond two nodes: a
    tree's inner nodes send up and down), x 5/6 to algorithm bandwidth."""
    net = net_bus * ppn if nodes <= 2 else net_bus * ppn / 2
    inter = net_step_latency_us(NET_NVLS_TREE_LATENCY_US, net_latency * 1e6, 2)
    latency = NVLS_LATENCY_US + 2 * (nodes.bit_length() - 1) * inter
    return latency * 1e-6 + nbytes / (min(nvls_bus, net) * NVLS_ALGBW_RATIO)


def _net_ring(kind: str, nbytes: float, ranks: int, nodes: int, ppn: int, bus: float, ll_cap: float,
              index: int, net_us: float = 0.0) -> float:
    steps = ring_steps(kind, ranks)
    inter = 2 * nodes if kind == "all_reduce" else (nodes if kind in ("broadcast", "reduce") else nodes - 1)
    if index == 0:
        bus = min(ll_cap, bus / 4)  # LL across nodes: a quarter of the bus for every collective
    elif index == 1:
        bus *= RING_LL128_FRACTION_ONE_PPN if ppn < 2 else RING_LL128_FRACTION
    overhead = NET_OVERHEAD_US * (3 if index == 2 else 1)
    intra = max(STEP_LATENCY_US["ring"][index], overhead)
    inter_lat = net_step_latency_us(NET_STEP_LATENCY_US[index], net_us, index)
    latency = BASE_LATENCY_US["ring"][index] + max(steps - inter, 0) * intra + inter * inter_lat
    if kind == "all_reduce" and index == 2 and nbytes >= RING_PLATEAU_MIN_BYTES_PER_RANK * ranks:
        latency *= RING_PLATEAU_FACTOR
    return latency * 1e-6 + nbytes / (bus * ranks / steps)


def _net_tree(nbytes: float, nodes: int, ppn: int, bus: float, ll_cap: float, index: int,
              net_us: float = 0.0) -> float:
    """The tree across nodes: ppn - 1 NVLink steps inside the node and log2i(nNodes) network levels, each way;
    LL capped by the network's llMaxBw, LL128 at 120/128 of the bus."""
    fraction = (TREE_PROTOCOL_FRACTION[0], TREE_LL128_FRACTION_NET, 1.0)[index]
    levels = nodes.bit_length() - 1  # log2i(nNodes): floor log2
    latency = BASE_LATENCY_US["tree"][index] + 2 * ((ppn - 1) * STEP_LATENCY_US["tree"][index]
                                                    + levels * net_step_latency_us(NET_TREE_LATENCY_US[index],
                                                                                   net_us, index))
    return _tree_seconds(nbytes, bus * fraction, ll_cap, latency, index)


def ring_steps(kind: str, ranks: int) -> int:
    """nsteps of tuning.cc: 2 (nRanks - 1) for all-reduce, nRanks - 1 for all-gather / reduce-scatter (and the
    all-to-all priced as their ring), nRanks for broadcast / reduce. The ring's algorithm bandwidth is the bus x
    nRanks / nsteps: a broadcast moves the whole buffer over every link, at the bus bandwidth."""
    if kind == "all_reduce":
        return 2 * (ranks - 1)
    return ranks if kind in ("broadcast", "reduce") else ranks - 1


def _ring(kind: str, nbytes: float, ranks: int, bus: float, index: int, protocol: str,
          step_latency: dict[str, tuple[float, float, float]] = STEP_LATENCY_US) -> float:
    """The ring inside one node: `ring_steps` steps, each at `step_latency` (hwLat of the link the ring crosses:
    NVLink, or PCIe for bridged pairs)."""
    steps = ring_steps(kind, ranks)
    if protocol == "ll":
        bus = min(LL_MAX_BUS_BW, bus * (0.25 if kind == "all_reduce" else 1 / 3))
    elif protocol == "ll128":
        bus *= RING_LL128_FRACTION
    algbw = bus * ranks / steps
    latency = BASE_LATENCY_US["ring"][index] + steps * step_latency["ring"][index]
    return latency * 1e-6 + nbytes / algbw


def _tree(nbytes: float, ranks: int, bus: float, index: int,
          step_latency: dict[str, tuple[float, float, float]] = STEP_LATENCY_US) -> float:
    """The tree inside one node: ranks - 1 steps each way at the one-node protocol fractions, each at
    `step_latency` (as for _ring)."""
    latency = BASE_LATENCY_US["tree"][index] + 2 * (ranks - 1) * step_latency["tree"][index]
    return _tree_seconds(nbytes, bus * TREE_PROTOCOL_FRACTION[index], LL_MAX_BUS_BW, latency, index)


def _tree_seconds(nbytes: float, bus: float, ll_cap: float, latency_us: float, index: int) -> float:
    """ncclTopoGetAlgoTime for a tree: `bus` (B/s, already x the protocol's fraction) x 0.92, LL capped at
    `ll_cap`, x treeCorrectionFactor; the algorithm bandwidth is half of it (up the tree and down)."""
    bus *= TREE_BW_FRACTION
    if index == 0:
        bus = min(bus, ll_cap)
    bus *= tree_correction(nbytes, index)
    return latency_us * 1e-6 + nbytes / (bus * 0.5)
