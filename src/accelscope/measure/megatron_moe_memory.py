"""Peak allocated bytes of Megatron-LM's MoE-layer benchmark (source MM): one MoELayer forward + backward.

The harness (tests/functional_tests/test_cases/common/moe_perf/__main__.py, NVIDIA/Megatron-LM) builds the layer
from a TransformerConfig that sets neither gated_linear_unit, activation_func nor bias_activation_fusion, so the
experts are TransformerConfig's defaults: fc1 (hidden -> ffn), F.gelu, fc2 (ffn -> hidden), run by TEGroupedMLP's
unfused path (experts.py bias_act_func): `act(fc1_out) * permuted_probs` in fp32 (the router's fp32 probs),
then `.to(bf16)`. It never passes the proxy's shared-expert size, so there is no shared expert.

`torch.cuda.max_memory_allocated()` is reset before each iteration's forward and read after its backward; the
peak is the larger of two moments, each the sum of the tensors alive then (sizes in bytes, P = tokens x top-k
routed rows on the rank, balanced by moe_router_force_load_balancing):

- forward, where the combine starts: the tensors autograd keeps (fc1 input, GELU input and output, fc2 input),
  the dispatcher's copies that MoELayer.forward's locals still reference (custom_forward keeps the
  dispatch_preprocess output and the dispatch output until it returns), and the combine's new buffers;
- backward, inside the probs multiply's backward: the grad the `.to(bf16)` backward casts up to fp32 and the
  two fp32 products MulBackward forms (grad x probs, grad x GELU output before its sum over ffn), beside the
  saved fc1 input and GELU input/output and fc2's weight gradient.

Always alive: bf16 parameters (local experts and router), the input, the previous iteration's output and
backward_grad (the loop's variables, rebound only after the next forward) or this iteration's, and the cuBLAS
workspaces PyTorch and Transformer Engine hold in PyTorch's allocator.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb
from typing import Any

BF16, FP32 = 2, 4  # bytes per element
MIB = 2**20
# cuBLAS workspaces in PyTorch's allocator on Hopper: PyTorch's handle (32 MiB, CublasHandlePool.cpp
# getDefaultWorkspaceSize 4096 KiB x 8 on sm90; the harness's dummy matmul and the backward's matmuls), Transformer
# Engine's single GEMM workspace (router GEMM, te_general_gemm) and one per compute stream for its grouped GEMMs
# (transformer_engine/pytorch/module/base.py get_workspace / get_multi_stream_cublas_workspace: 32 MiB each on
# sm90, 4 streams: transformer_engine/common/util/multi_stream.cpp num_compute_streams)
HOPPER_WORKSPACES = (1 + 1 + 4) * 32 * MIB
# Transformer Engine quantizes each expert weight per forward with both usages (rowwise for fprop, columnwise for
# dgrad: grouped_linear.py weight_quantizer.set_usage(rowwise=True, columnwise=inp.requires_grad)) and saves it
# for backward: 2 bytes per parameter, one FP8 copy and its transpose
FP8_WEIGHT_BYTES = 2


@dataclass(frozen=True)
class MoELayerShape:
    """One rank's share of the benchmark's layer: tokens on the rank, hidden and expert ffn widths, experts."""

    tokens: int
    hidden: int
    ffn: int
    experts: int
    top_k: int
    ep: int
    dispatcher: str  # "alltoall", "deepep" or "hybridep"
    fp8: bool = False
    groups: int = 0  # router_num_groups (group-limited routing), 0 when off
    group_top_k: int = 0

    @property
    def local_experts(self) -> int:
        return self.experts // self.ep

    @property
    def routed(self) -> int:
        """Rows the local experts process: every token-expert pair lands on its expert's rank."""
        return self.tokens * self.top_k


# The harness's two proxies on EP8, 4096 tokens a rank (moe_perf/test_cases.py): the layers the MM rows measure,
# as MoELayerShape fields (add dispatcher= and fp8=)
HARNESS_PROXIES: dict[str, dict[str, int]] = {
    "deepseek": dict(tokens=4096, hidden=7168, ffn=2048, experts=32, top_k=8, ep=8, groups=8, group_top_k=4),
    "mixtral": dict(tokens=4096, hidden=4096, ffn=14336, experts=8, top_k=2, ep=8),
}


def shape_from_row(s: dict[str, Any], fp8: bool) -> MoELayerShape:
    dispatcher = str(s.get("token_dispatcher", "alltoall"))
    if dispatcher == "flex":
        dispatcher = str(s.get("flex_backend") or "deepep")
    return MoELayerShape(tokens=int(s.get("seq_length", 4096)) * int(s.get("micro_batch_size", 1)),
                         hidden=int(s["hidden_size"]), ffn=int(s["moe_ffn_hidden_size"]),
                         experts=int(s["num_experts"]), top_k=int(s["router_topk"]), ep=int(s.get("EP", 1)),
                         dispatcher=dispatcher, fp8=fp8, groups=int(s.get("router_num_groups") or 0),
                         group_top_k=int(s.get("router_group_topk") or 0))


def ranks_per_token(m: MoELayerShape) -> float:
    """Expected distinct EP ranks among a token's top-k experts, the experts drawn uniformly (forced balance)
    from those the router may pick: all of them, or with group-limited routing the group_top_k groups' experts
    (router.py group_limited_topk; groups are contiguous experts, so when there are as many groups as EP ranks a
    group is one rank's local experts)."""
    ranks, per_rank = m.ep, m.local_experts
    if m.groups == m.ep and 0 < m.group_top_k < m.groups:
        ranks = m.group_top_k
    pool = ranks * per_rank
    return ranks * (1 - comb(pool - per_rank, m.top_k) / comb(pool, m.top_k))


def dispatcher_rows(m: MoELayerShape) -> tuple[float, float]:
    """(rows the forward keeps referenced beyond the experts' input, rows the combine allocates at its worst
    step), each a [rows, hidden] bf16 tensor. Megatron-Core token_dispatcher.py, MoELayer.forward:

    - alltoall: permute (T x k rows) -> all-to-all (T x k) -> sort_chunks_by_idxs (T x k, only with several
      local experts, else the all-to-all output is the experts' input); custom_forward's locals keep the first
      two. Combine: sort back (T x k) while the expert output is referenced, all-to-all (T x k), unpermute (T):
      two routed copies and the output at once.
    - deepep: DeepEP's dispatch sends each token once per destination rank (T x ranks_per_token rows, kept by
      custom_forward), then permutes locally. Combine: unpermute to those rows while the expert output is
      referenced, then DeepEP's combine (T rows).
    - hybridep: HybridEP's dispatch permutes into the experts' layout itself (its output is the experts'
      input) and its combine unpermutes in the same kernel: the expert output and the T output rows."""
    routed, tokens = m.routed, m.tokens
    if m.dispatcher == "deepep":
        received = tokens * ranks_per_token(m)
        return received, routed + received
    if m.dispatcher == "hybridep":
        return 0.0, routed + tokens
    held = 2 * routed if m.local_experts > 1 else routed
    return held, 2 * routed + tokens


def static_bytes(m: MoELayerShape) -> float:
    """Parameters (two expert GEMMs of hidden x ffn per local expert, the router), the input, the loop's output
    and backward_grad, the cuBLAS workspaces; FP8 weight copies come with the moments that hold them."""
    params = 2 * m.hidden * m.ffn * m.local_experts + m.hidden * m.experts
    return BF16 * (params + 3 * m.tokens * m.hidden) + HOPPER_WORKSPACES


def saved_bytes(m: MoELayerShape) -> float:
    """What autograd keeps of the experts: fc1 input (P x hidden), GELU input and output and fc2 input
    (P x ffn each). Under FP8 Transformer Engine keeps the GEMM inputs as an FP8 copy and its transpose: the
    same 2 bytes per element."""
    return BF16 * m.routed * (m.hidden + 3 * m.ffn)


def forward_peak(m: MoELayerShape) -> float:
    """Activations alive at the forward's high point: where the combine starts, or under FP8 at the experts'
    end. Under FP8 the saved GEMM inputs are FP8 copies, so the bf16 expert input (still referenced by
    routed_experts_compute's dispatched_input, or by custom_forward's for HybridEP) is extra; with alltoall and
    DeepEP TEGroupedMLP pads each expert's rows to the FP8 alignment (fp8_padding copies its input,
    fp8_unpadding its output), while HybridEP's dispatch pads them itself (pad_multiple). The FP8 weight
    copies of both GEMMs are alive."""
    held, combine = dispatcher_rows(m)
    rows = held + combine
    fp8 = 0.0
    if m.fp8:
        padding = 2 * m.routed if m.dispatcher != "hybridep" else 0
        rows = max(rows + m.routed, held + m.routed + padding + m.routed)
        fp8 = FP8_WEIGHT_BYTES * 2 * m.hidden * m.ffn * m.local_experts
    return BF16 * rows * m.hidden + saved_bytes(m) + fp8


def backward_peak(m: MoELayerShape) -> float:
    """Inside MulBackward0 of `act * probs`: three fp32 P x ffn tensors (the upcast grad, grad x probs,
    grad x GELU output before its sum), the saved fc1 input and GELU input/output, fc2's weight gradient, and
    under FP8 fc1's saved weight copies (fc2's are freed with its backward)."""
    expert = m.hidden * m.ffn * m.local_experts
    fp8 = FP8_WEIGHT_BYTES * expert if m.fp8 else 0.0
    return (FP32 * 3 * m.routed * m.ffn + BF16 * m.routed * (m.hidden + 2 * m.ffn) + BF16 * expert + fp8)


def moe_layer_peak(m: MoELayerShape) -> float:
    """Peak allocated bytes of the benchmark's iteration: what is always alive plus the higher of its two moments."""
    return static_bytes(m) + max(forward_peak(m), backward_peak(m))
