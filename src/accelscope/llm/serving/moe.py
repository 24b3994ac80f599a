"""Wide expert parallelism for serving (DeepSeek-V3 style): experts spread over `ep` devices, attention data-parallel.

Each of the `ep` devices runs attention (and the dense layers, the LM head) for its own batch, as one attention
data-parallel rank (SGLang's DP attention); the routed experts are spread `experts / ep` to a device. Between the
attention and the experts of every MoE layer each rank *dispatches* its tokens to the ranks holding their top-k
experts and afterwards *combines* the expert outputs back. DeepEP (deepseek-ai/DeepEP) implements both in two
modes, which this module prices on the chip's interconnect:

- **low-latency** (decode): every routed copy of a token goes straight to the rank of its expert (no node
  deduplication): peers in the scale-up domain over NVLink, the rest over the scale-out NIC (RDMA). Dispatch
  sends FP8 with one FP32 scale per 128 elements, combine sends BF16 (DeepEP README: "FP8 dispatching and BF16
  combining"). The kernels take no SMs while the data moves (the receive "hook"), so two-batch overlap costs the
  compute nothing.
- **normal** (prefill): a token crosses the network once per remote *node* that holds one of its experts, then is
  forwarded over NVLink inside that node (DeepEP's NVLink/RDMA forwarding); the kernels run on `comm_sms` SMs
  (DeepEP README: `Buffer.set_num_sms(24)`), which the compute of the other micro-batch loses while they run.

Time of one transfer = launch + scale-out latency + max(remote bytes / NIC bandwidth, local bytes / scale-up
bandwidth x its efficiency), on the busiest rank, which receives `imbalance` times the mean (EPLB lowers it).

**Two-batch overlap** (TBO, SGLang; DeepSeek's "dual micro-batch overlap"): the iteration is split into two
micro-batches; one's dispatch/combine runs while the other computes, so a layer takes at best
2 x max(compute of half the batch, communication of half the batch) instead of compute + communication of the
whole, when the stages pair up evenly (`overlapped_seconds` pairs them stage by stage). Half a batch is not
half the work: decode's expert GEMMs read the same weights for each micro-batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...hardware import HardwareSpec
from ...hardware.dtypes import dtype_bytes
from ...workload.model_config import ModelConfig

# DeepEP low-latency dispatch: FP8 payload plus one FP32 scale per 128 elements (DeepEP README: FP8 dispatching;
# the scales are DeepSeek-V3's 1x128 activation blocks, arXiv 2412.19437 section 3.3)
FP8_SCALE_BLOCK = 128
FP32_BYTES = 4
COMBINE_DTYPE = "bf16"  # DeepEP README: BF16 combining
NORMAL_COMM_SMS = 24  # DeepEP README example: Buffer.set_num_sms(24) for the normal (prefill) kernels
MODES = ("low_latency", "normal")


@dataclass(frozen=True)
class WideEP:
    """A wide expert-parallel deployment: `ep` attention-DP ranks, one expert group of `ep` devices.

    `imbalance`: routed tokens on the busiest rank / the mean (1 = perfect balance; EPLB's goal).
    `two_batch_overlap`: split each iteration into two micro-batches that hide each other's communication.
    `max_nodes`: the routing's limit on nodes per token (DeepSeek-V3's topk_group = 4, config.json); None: none.
    `comm_sms`: SMs the normal-mode kernels occupy while they run (DeepEP's example: 24)."""

    ep: int
    imbalance: float = 1.0
    two_batch_overlap: bool = False
    max_nodes: int | None = None
    comm_sms: int = NORMAL_COMM_SMS

    def check(self, config: ModelConfig) -> None:
        if config.moe is None:
            raise ValueError(f"wide_ep: {config.name} has no experts")
        if not isinstance(self.ep, int) or self.ep < 2 or config.moe.experts % self.ep:
            raise ValueError(f"wide_ep: ep must be >= 2 and divide the {config.moe.experts} experts of "
                             f"{config.name} (got {self.ep!r})")
        if not isinstance(self.imbalance, int | float) or not 1 <= self.imbalance <= self.ep:
            raise ValueError(f"wide_ep: imbalance must be a number from 1 to ep (got {self.imbalance!r})")
        if self.max_nodes is not None and (not isinstance(self.max_nodes, int) or self.max_nodes < 1):
            raise ValueError(f"wide_ep: max_nodes must be a whole number >= 1 (got {self.max_nodes!r})")
        if not isinstance(self.comm_sms, int) or self.comm_sms < 1:
            raise ValueError(f"wide_ep: comm_sms must be a whole number of SMs >= 1 (got {self.comm_sms!r})")


def wide_ep_from(ep: int | None, imbalance: float = 1.0, two_batch_overlap: bool = False,
                 max_nodes: int | None = None, needs: str = "two_batch_overlap, imbalance and max_nodes need ep"
                 ) -> WideEP | None:
    """The WideEP of flat options (a CLI's flags, a sweep's workload fields); None when `ep` is None, where the
    other options must keep their defaults (`needs` is the error that says so in the caller's words)."""
    if ep is None:
        if two_batch_overlap or imbalance != 1.0 or max_nodes is not None:
            raise ValueError(needs)
        return None
    return WideEP(ep, imbalance=imbalance, two_batch_overlap=two_batch_overlap, max_nodes=max_nodes)

def dispatch_bytes_per_token(hidden: int, dtype: str = "fp8_e4m3") -> float:
    """Bytes of one routed token copy in dispatch: the payload plus, for FP8, an FP32 scale per 128 elements."""
    width = dtype_bytes(dtype)
    scales = math.ceil(hidden / FP8_SCALE_BLOCK) * FP32_BYTES if width == 1 else 0
    return hidden * width + scales


def domain(hw: HardwareSpec, ep: int) -> int:
    """Ranks of the EP group that share a scale-up domain (a node of 8 on HGX, 72 on NVL72)."""
    up = hw.interconnect.scale_up if hw.interconnect else None
    return min(ep, up.domain_size) if up is not None else 1


def _links(hw: HardwareSpec) -> tuple[float, float, float]:
    """(scale-up bytes/s, scale-out bytes/s, scale-out latency s); a missing network is never used."""
    inter = hw.interconnect
    up = inter.scale_up if inter else None
    out = inter.scale_out if inter else None
    up_bw = up.bandwidth * (up.efficiency or 1.0) if up is not None else math.inf
    out_bw = out.bandwidth if out is not None else math.inf
    latency = (out.latency or 0.0) if out is not None else ((up.latency or 0.0) if up is not None else 0.0)
    return up_bw, out_bw, latency


def low_latency_seconds(config: ModelConfig, hw: HardwareSpec, wide: WideEP, tokens: float,
                        phase: str) -> float:
    """One low-latency dispatch or combine of `tokens` tokens per rank: each of the top_k copies goes to its
    expert's rank; a copy stays in the scale-up domain with probability domain/ep (itself included: no
    transfer for its own rank)."""
    moe = config.moe
    assert moe is not None
    per_copy = dispatch_bytes_per_token(config.hidden) if phase == "dispatch" else \
        config.hidden * dtype_bytes(COMBINE_DTYPE)
    copies = tokens * moe.top_k * wide.imbalance  # the busiest rank receives imbalance x the mean
    inside = domain(hw, wide.ep)
    remote = copies * per_copy * (1 - inside / wide.ep)
    local = copies * per_copy * (inside - 1) / wide.ep
    up_bw, out_bw, latency = _links(hw)
    return hw.runtime.launch_latency + latency + max(remote / out_bw, local / up_bw)


def expected_nodes(nodes: int, top_k: int, max_nodes: int | None) -> float:
    """Distinct nodes a token's top_k experts fall on, experts uniform over `nodes`: N (1 - (1 - 1/N)^k),
    capped by the routing's node limit."""
    distinct = nodes * (1 - (1 - 1 / nodes) ** top_k)
    return min(distinct, max_nodes) if max_nodes else distinct


def normal_seconds(config: ModelConfig, hw: HardwareSpec, wide: WideEP, tokens: float, phase: str) -> float:
    """One normal-mode dispatch or combine: each token crosses the NIC once per remote node among its experts'
    nodes, then is forwarded over NVLink to each expert's rank inside the node."""
    moe = config.moe
    assert moe is not None
    per_token = dispatch_bytes_per_token(config.hidden) if phase == "dispatch" else \
        config.hidden * dtype_bytes(COMBINE_DTYPE)
    inside = domain(hw, wide.ep)
    nodes = math.ceil(wide.ep / inside)
    load = tokens * per_token * wide.imbalance
    remote_nodes = expected_nodes(nodes, moe.top_k, wide.max_nodes) * (nodes - 1) / nodes if nodes > 1 else 0.0
    forwarded = moe.top_k * (inside - 1) / inside  # copies that leave their landing rank inside a node
    up_bw, out_bw, latency = _links(hw)
    return hw.runtime.launch_latency + (latency if nodes > 1 else 0.0) + max(load * remote_nodes / out_bw,
                                                                             load * forwarded / up_bw)


def a2a_seconds(config: ModelConfig, hw: HardwareSpec, wide: WideEP, tokens: float, mode: str,
                phase: str | None = None) -> float:
    """Dispatch + combine (or the one `phase`) of one MoE layer for `tokens` tokens per rank in `mode`."""
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {', '.join(MODES)} (got {mode!r})")
    if tokens <= 0:
        return 0.0
    price = low_latency_seconds if mode == "low_latency" else normal_seconds
    phases = ("dispatch", "combine") if phase is None else (phase,)
    return sum(price(config, hw, wide, tokens, p) for p in phases)


def overlapped_seconds(before: float, experts: float, dispatch: float, combine: float) -> float:
    """Two micro-batches A and B of a layer under two-batch overlap, each term for one micro-batch: A's dispatch
    runs under B's attention side (`before`: attention, projections, router), B's dispatch under A's experts, A's
    combine under B's experts, B's combine under A's next attention side (SGLang's two-batch-overlap operation
    order; DeepSeek's "dual micro-batch overlap"). Each pair takes the longer of its two, so a communication
    stage longer than the compute it is paired with shows, even when the layer's totals would balance."""
    return max(dispatch, before) + max(experts, dispatch) + max(combine, experts) + max(combine, before)


def compute_slowdown(hw: HardwareSpec, wide: WideEP, mode: str) -> float:
    """Compute time multiplier while normal-mode kernels hold `comm_sms` of the chip's SMs (low-latency
    kernels hold none while data moves)."""
    if mode != "normal":
        return 1.0
    cores = hw.compute.cores
    if wide.comm_sms >= cores:
        raise ValueError(f"wide_ep: comm_sms {wide.comm_sms} leaves none of {hw.id}'s {cores} cores for compute; "
                         "give fewer (DeepEP's example: 24)")
    return cores / (cores - wide.comm_sms)


def expert_weight_bytes(config: ModelConfig, linear_bytes: float) -> float:
    """Bytes of all routed experts of all MoE layers."""
    moe = config.moe
    assert moe is not None
    moe_layers = sum(1 for i in range(config.layers) if config.is_moe_layer(i))
    return moe_layers * moe.experts * config.mlp_params(moe.intermediate) * linear_bytes
