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
(backward): one layer's share of each is exposed as well. Where the GEMMs are persistent with a static tile
schedule (Hopper's cuBLAS) they take two rounds beside a collective, and s grows with their share of the pass
(overlap_share).
"""

from __future__ import annotations

from ..hardware import HardwareSpec
from ..workload.model_config import ModelConfig
from ..workload.ops import Elementwise, Graph, Node

# SMs NCCL occupies on a DGX-class node with one NIC per GPU: "If you are on DGX with 8 NICs and a top speed of
# 190 GB/s, then it would use 16 SMs" (S. Jeaugey, NVIDIA/nccl issue #689, 2023); one CTA per channel, alone on
# its SM. A property of the library on that class of system, the same for every workload.
NCCL_CHANNELS = 16
FP8_PARAM_BYTES = 1  # torchao float8 all-gather: the linear weights travel cast to float8 (e4m3), 1 byte each
BF16_PARAM_BYTES = 2


def nccl_sm_share(hw: HardwareSpec, channels: int = NCCL_CHANNELS) -> float:
    """Share of the chip's cores (SMs) a running NCCL collective holds: channels / cores."""
    return min(1.0, channels / hw.compute.cores)


# A persistent GEMM launches one CTA per SM and walks a tile list fixed at launch (cuBLAS's Hopper kernels: "they
# launch as many CUDA blocks as there are SMs on the GPU (i.e., 132) and each of these blocks will process several
# tiles in a row"). Beside an NCCL collective the CTAs that find no free SM wait for the first ones to finish
# their whole lists: two rounds, "the matmuls take 2x as long to complete when they are overlapped with a NCCL
# kernel" (pytorch/pytorch issue #143988, FSDP on H100). PyTorch's remedy, torch._C._set_sm_carveout_experimental
# (pull #147966), is opt-in and torchtitan / Composer do not set it. Blackwell's tile schedulers take tiles through
# cluster launch control instead, so the CTAs that run pick up the work of the SMs NCCL holds (CUTLASS docs,
# "Blackwell Cluster Launch Control": a static scheduler "is susceptible to workload imbalance if the resources of
# some SMs are unavailable"); AMD's hipBLASLt kernels launch one workgroup per tile.
PERSISTENT_GEMM_SLOWDOWN = 2.0  # times its own duration a persistent GEMM takes beside a collective (#143988)


def static_persistent_gemms(hw: HardwareSpec) -> bool:
    """Whether the chip's library GEMMs are persistent with a static tile schedule: NVIDIA's wgmma generation
    (Hopper: asynchronous single-CTA MMAs, matrix.async_overlap without matrix.paired_cores). Blackwell (paired
    tcgen05 MMAs) schedules with cluster launch control; older and other chips launch a CTA per tile."""
    return hw.vendor.upper() == "NVIDIA" and hw.matrix.async_overlap and not hw.matrix.paired_cores


def overlap_share(share: float, gemm_fraction: float, persistent: bool) -> float:
    """The share s' of the cores a collective effectively takes from a pass whose compute is `gemm_fraction`
    persistent GEMMs (static_persistent_gemms), so that the pass takes max(C, X + s' C) as in the module
    docstring. While the collective runs, other kernels advance at (1 - s) and those GEMMs at
    1 / PERSISTENT_GEMM_SLOWDOWN, so a second of compute takes d = g x 2 + (1 - g) / (1 - s) seconds and
    s' = 1 - 1 / d (s' = s when g = 0 or the GEMMs are not persistent)."""
    if not persistent or gemm_fraction <= 0 or share >= 1:
        return share
    g = min(gemm_fraction, 1.0)
    slowdown = g * PERSISTENT_GEMM_SLOWDOWN + (1 - g) / (1 - share)
    return 1 - 1 / slowdown


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
                 micro_batches: int, backward_prefetch: str = "pre", backward_share: float | None = None) -> float:
    """Exposed FSDP communication of a step: per micro-batch, the forward's gathers over its compute, the
    backward's gathers and reduce-scatters over its compute (recompute included), each sharing the SMs (share;
    `backward_share` for the backward where it differs: overlap_share), plus the first gather and the last
    reduce-scatter, which nothing hides (one layer's share of each).
    With `backward_prefetch` "post" the backward's gathers are exposed whole (BACKWARD_PREFETCH)."""
    layers = max(layers, 1)
    bshare = share if backward_share is None else backward_share
    forward = overlap_exposed(fwd_s, gather_s, share) + gather_s / layers
    if backward_prefetch == "post":
        backward = gather_s + overlap_exposed(bwd_s, scatter_s, bshare) + scatter_s / layers
    else:
        backward = overlap_exposed(bwd_s, gather_s + scatter_s, bshare) + scatter_s / layers
    return micro_batches * (forward + backward)


def fsdp_copy_graph(params: float, fp8_all_gather: bool = False) -> Graph:
    """The memory-bound kernels FSDP runs around one micro-batch's collectives over `params` local (unsharded)
    parameters, each a pass over all of them. Both FSDP versions move 14 bytes per parameter in bf16:
    - the gradients cast from bf16 into the fp32 reduce-scatter input (read 2 B, write 4 B): FSDP1's
      _post_backward_hook casts the unsharded gradient to the reduce dtype, FSDP2's foreach_reduce copies the
      gradients into it with _chunk_cat (torch/distributed/fsdp/_runtime_utils.py, _fully_shard/_fsdp_collectives.py);
    - FSDP1 then divides that fp32 gradient in place before the reduce-scatter (_reduce_grad: _div_if_needed by
      the gradient pre-divide factor: read 4 B, write 4 B); FSDP2 instead copies each gathered parameter out of
      the all-gather buffer, forward and backward (foreach_all_gather_copy_out, split_with_sizes_copy: read 2 B,
      write 2 B, twice); a float8 all-gather copies 1-byte weights (1 B + 1 B, twice).
    Priced as the FSDP1 sequence (cast + divide); with float8 all-gather, as FSDP2's (cast + two 1-byte copies)."""
    n = max(int(params), 1)
    cast = Node(Elementwise("cast", n, "bf16", inputs=1, outputs=1, out_dtype="fp32"), 1, "fsdp_grad_cast")
    if fp8_all_gather:
        copy = Node(Elementwise("copy", n, "fp8_e4m3", inputs=1, outputs=1, flops_per_element=0), 2,
                    "fsdp_copy_out")
        return Graph((cast, copy), name="fsdp copies")
    divide = Node(Elementwise("scale", n, "fp32", inputs=1, outputs=1), 1, "fsdp_grad_predivide")
    return Graph((cast, divide), name="fsdp copies")
