"""FSDP (ZeRO-3) per-layer collectives overlapped with compute on shared SMs.

PyTorch FSDP (FULL_SHARD; FSDP2's fully_shard) all-gathers each layer's parameters before its forward and again
before its backward, and reduce-scatters its gradients after its backward. The next layer's gather is prefetched
on another CUDA stream while the current layer computes, so communication overlaps compute, but not for free:
NCCL runs its collectives as kernels, one CTA per channel, and "NCCL CTAs won't share an SM with compute kernels"
(S. Jeaugey, NVIDIA/nccl issue #689; #1656). While a collective runs, the compute kernels have the other SMs only.

A pass of X seconds of compute overlapped with C seconds of collectives on a share s of the SMs:
- while the collective runs (C), compute advances at (1 - s): (1 - s) x C of its work;
- the rest, X - (1 - s) x C, runs on all SMs after it;
so the pass takes C + X - (1 - s) C = X + s C, or C when the collective is the longer (C >= X / (1 - s)):
    time = max(C, X + s C),   exposed beyond the compute = max(C - X, s C).
The first layer's gather has nothing to hide behind (forward) and the last layer's reduce-scatter neither
(backward): one layer's share of each is exposed as well.
"""

from __future__ import annotations

from ..hardware import HardwareSpec
from ..workload.model_config import ModelConfig

# SMs NCCL occupies on a DGX-class node with one NIC per GPU: "If you are on DGX with 8 NICs and a top speed of
# 190 GB/s, then it would use 16 SMs" (S. Jeaugey, NVIDIA/nccl issue #689, 2023); one CTA per channel, alone on
# its SM. A property of the library on that class of system, the same for every workload.
NCCL_CHANNELS = 16
FP8_PARAM_BYTES = 1  # torchao float8 all-gather: the linear weights travel cast to float8 (e4m3), 1 byte each
BF16_PARAM_BYTES = 2


def nccl_sm_share(hw: HardwareSpec, channels: int = NCCL_CHANNELS) -> float:
    """Share of the chip's cores (SMs) a running NCCL collective holds: channels / cores."""
    return min(1.0, channels / hw.compute.cores)


def overlap_exposed(compute_s: float, comm_s: float, share: float) -> float:
    """Seconds a pass takes beyond its `compute_s` when `comm_s` of collectives overlap it on `share` of the
    cores (module docstring): max(C - X, s x C); 0 without communication."""
    if comm_s <= 0:
        return 0.0
    return max(comm_s - compute_s, share * comm_s)


def linear_param_fraction(config: ModelConfig) -> float:
    """Share of the parameters that are transformer-layer weights (not the embedding, positions or the untied
    output layer): those torchao's float8 training converts (torchtitan leaves `output` in bf16) and so those its
    float8 all-gather sends in one byte. Norm weights are counted in with the layers (under 0.01 %)."""
    outside = (config.vocab + config.learned_positions) * config.hidden
    if not config.tie_embeddings:
        outside += config.vocab * config.hidden
    total = config.params()
    return max(0.0, (total - outside) / total) if total else 0.0


def gather_bytes_per_param(config: ModelConfig, fp8_all_gather: bool) -> float:
    """Bytes per parameter of an FSDP all-gather: bf16; with float8 all-gather the layers' weights in 1 byte
    (torchao Float8Linear with enable_fsdp_float8_all_gather: FSDP2 gathers the float8 data and one scale)."""
    if not fp8_all_gather:
        return BF16_PARAM_BYTES
    f = linear_param_fraction(config)
    return f * FP8_PARAM_BYTES + (1 - f) * BF16_PARAM_BYTES


# When the backward issues the next layer's all-gather (torch.distributed.fsdp.BackwardPrefetch):
# "pre": before this layer's gradient computation (FSDP1 BACKWARD_PRE; FSDP2 prefetches so by default), so the
#   gather overlaps it;
# "post": after it, reordered before this layer's reduce-scatter (FSDP1 BACKWARD_POST, the default of
#   Composer's FSDPConfig, which llm-foundry trains with): the next layer's backward needs those parameters and
#   no compute is left to hide the gather behind, so every backward gather is exposed; only the reduce-scatter
#   overlaps the next layer's gradient computation.
BACKWARD_PREFETCH = ("pre", "post")


def fsdp_exposed(gather_s: float, scatter_s: float, fwd_s: float, bwd_s: float, layers: int, share: float,
                 micro_batches: int, backward_prefetch: str = "pre") -> float:
    """Exposed FSDP communication of a step: per micro-batch, the forward's gathers over its compute, the
    backward's gathers and reduce-scatters over its compute (recompute included), each sharing the SMs (share),
    plus the first gather and the last reduce-scatter, which nothing hides (one layer's share of each).
    With `backward_prefetch` "post" the backward's gathers are exposed whole (BACKWARD_PREFETCH)."""
    layers = max(layers, 1)
    forward = overlap_exposed(fwd_s, gather_s, share) + gather_s / layers
    if backward_prefetch == "post":
        backward = gather_s + overlap_exposed(bwd_s, scatter_s, share) + scatter_s / layers
    else:
        backward = overlap_exposed(bwd_s, gather_s + scatter_s, share) + scatter_s / layers
    return micro_batches * (forward + backward)
