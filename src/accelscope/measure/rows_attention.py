"""Attention rows -> an `Attention` op and the row's own FLOP count.

Two families of rows:
- FlashAttention's benchmark (dev set, FA-*): `seqlen_q/seqlen_k/head_dim`, TFLOP/s of fwd or fwd+bwd.
- cudnn-frontend's SDPA benchmarks (CU-*, shared/data/more/README.md "CU"): `q_len/kv_len`, `head_dim` or
  `head_dim_qk/head_dim_vo` (MLA-shaped heads), `kv_heads` (GQA), `sliding_window`, `backend`, `mode` (fwd | bwd)
  and `deterministic_bwd`; the time of one call (ms), or TFLOP/s for the early sample (cuDNN 9.1).

The backend names the kernel:
- cudnn, cudnn bf16 / fp8, cudnn_fe, cudnn_fe_fp8, cuDNN BF16 / FP8, pyt_cudnn -> "cudnn" (cuDNN's fused SDPA);
  "fp8" in the backend name is the dtype (cudnn_fe_fp8 rows carry dtype "bf16", the script's input dtype).
- flash_attention (the native `flash_attn` package of NGC 25.09 / 25.11 on B200 / GB200: flash-attn 2.x, whose
  csrc/ kernels are the Ampere mma.sync ones; FA3 lives in `flash_attn_interface`, FA4 in `flash_attn.cute`),
  pyt_flash_attention and "Pytorch" (torch SDPA's flash backend, a vendored FlashAttention-2) -> "fa2".
- pyt_math -> "sdpa_math" (torch SDPA's math backend: the unfused graph, upcast to fp32).
- A FlashAttention-3 / -4 row would say so in the backend or op text ("fa3", "flash_attn_interface", "fa4",
  "cute").
Script FLOP counts (CU notes): 2·B·Hq·Sq·Skv·(Dqk+Dvo), half when causal, backward 2.5x; FA: 4·B·H·S²·D, half
when causal, fwd+bwd 3.5x.

Event-timed single calls (`host_issue_seconds`): the first SDPA training benchmarks (artifacts @ 0b1577c8, B200)
time one Python call between two CUDA events on an idle GPU, so the host's issue time up to the kernel's launch is
inside the measured time; the later artifacts and the model-preset runs are kernel times.
"""

from __future__ import annotations

from typing import Any

from ..hardware import HardwareSpec
from ..llm.train_host import system_host_op_latency
from ..workload import Attention
from .dataset import MeasuredRow


def kernel(backend: str, op_text: str = "") -> str | None:
    """The Attention.variant a row's backend (or op text) names; None when it names none."""
    text = f"{backend} {op_text}".lower()
    if "pyt_math" in text:
        return "sdpa_math"
    if "math" in text.split():
        return "math"
    if "cudnn" in text:
        return "cudnn"
    if "fa4" in text or "flash_attn.cute" in text or "flashattention-4" in text:
        return "fa4"
    if "fa3" in text or "flash_attn_interface" in text or "flashattention-3" in text:
        return "fa3"
    if "flash" in text or "pytorch" in text or "flashattention-2" in text:
        return "fa2"
    return None


def dtype(row: MeasuredRow) -> str:
    """The dtype Q, K and V are in: the backend's name wins over the dtype column (cudnn_fe_fp8 rows say bf16)."""
    backend = str(row.shape.get("backend", "")).lower()
    text = f"{backend} {row.dtype}".lower()
    if "mxfp8" in text:
        return "mxfp8"
    if "fp8" in text:
        return "fp8_e4m3"
    if "bf16" in text or "bfloat16" in text:
        return "bf16"
    return "fp16"


def phase(row: MeasuredRow) -> str:
    mode = str(row.shape.get("mode", "")).lower()
    if mode in ("fwd", "bwd"):
        return mode
    text = f"{row.op} {row.metric}".lower()
    if "forward+backward" in text or "fwd_bwd" in text:
        return "fwd_bwd"
    return "bwd" if "backward" in text or "bwd" in text else "fwd"


def attention_op(row: MeasuredRow) -> Attention:
    s: dict[str, Any] = row.shape
    d = int(s.get("head_dim_qk") or s["head_dim"])
    dv = int(s.get("head_dim_vo") or d)
    heads = int(s["heads"])
    kv_heads = int(s.get("kv_heads") or heads)
    window = s.get("sliding_window")
    return Attention(batch=int(s["batch"]), heads=heads, kv_heads=kv_heads if kv_heads != heads else None,
                     head_dim=d, v_head_dim=dv if dv != d else None,
                     q_len=int(s.get("q_len") or s["seqlen_q"]), kv_len=int(s.get("kv_len") or s["seqlen_k"]),
                     causal=bool(s.get("causal")), dtype=dtype(row), phase=phase(row),  # type: ignore[arg-type]
                     window=int(window) if window else None,
                     variant=kernel(str(s.get("backend", "")), row.op),  # type: ignore[arg-type]
                     deterministic=bool(s.get("deterministic_bwd")))


def convention_flops(op: Attention) -> float:
    """The benchmarks' FLOP count: 2·B·H·Sq·Skv·(Dqk+Dvo), half when causal; bwd 2.5x, fwd+bwd 3.5x (the sliding
    window is not discounted: no TFLOP/s row has one)."""
    dv = op.v_head_dim or op.head_dim
    fwd = 2 * op.batch * op.heads * op.q_len * op.kv_len * (op.head_dim + dv) / (2 if op.causal else 1)
    return fwd * {"fwd": 1.0, "bwd": 2.5, "fwd_bwd": 3.5}[op.phase]


# Harness revisions whose rows time one call with CUDA events around it on an idle GPU. cudnn-frontend's
# benchmark/sdpa_benchmark_training/benchmark_bf16_sdpa.py and benchmark_fp8_sdpa.py @ 9793df56 (the scripts that
# wrote the artifacts committed @ 0b1577c8: artifacts/sample_b200_bf16_run.txt logs their backends and versions)
# loop: create the inputs, `start_event.record(); out = sdpa(q, k, v); end_event.record();
# torch.cuda.synchronize()`, then sleep min(t/100, 1 s) before the next call. The GPU is idle when the start event
# runs, so the kernel starts only once the host has issued it: time = host issue up to the launch + kernel time.
# (The later artifacts @ b372d398 and the model-preset results are kernel times: their 512-token cuDNN rows match
# the kernel estimate within a few per cent.)
EVENT_TIMED_ARTIFACTS: tuple[str, ...] = ("sdpa_benchmark_training/artifacts/sdpa_bf16_benchmark_results_NVIDIA_B200.csv"
                                          " @ 0b1577c8", "sdpa_benchmark_training/artifacts/"
                                          "sdpa_fp8_benchmark_results_NVIDIA_B200.csv @ 0b1577c8")

# cudnn-frontend's Python `pygraph.execute(variant_pack, workspace)` converts the variant pack (a dict from graph
# tensor to torch tensor) into the uid -> device-pointer map before cudnnBackendExecute launches the kernel:
# NVIDIA/cudnn-frontend issue #1086 measures ~45-50 us of host time per call for a 13-tensor SDPA graph, ~14 us of
# it in cudnnBackendExecute (GPU idle, medians over 2000 calls, SM100 host): (45 - 14) / 13 = 2.4 us per tensor of
# binding, all before the launch. Seconds per variant-pack tensor on that host (taken as the reference core's).
CUDNN_FE_BINDING_PER_TENSOR = 31e-6 / 13
# cudnnBackendExecute's own host time per call (same issue): the launch is enqueued inside it, so it overlaps the
# kernel; it bounds the call only when the kernel is shorter.
CUDNN_FE_BACKEND_EXECUTE = 14e-6


def variant_pack_tensors(fp8: bool, backward: bool) -> int:
    """Tensors in the variant pack benchmark_fp8_sdpa.py @ 9793df56 passes to `execute`: forward Q, K, V, O and the
    softmax stats (5); backward Q, K, V, O, dO, stats, dQ, dK, dV (9). FP8 adds per-tensor scales: forward the
    descales of Q, K, V, S, the scales of S, O and the amaxes of S, O (+8 = 13); backward the descales of Q, K, V,
    O, dO, S, dP, the scales of S, dQ, dK, dV, dP and the amaxes of dQ, dK, dV, dP (+16 = 25)."""
    if backward:
        return 25 if fp8 else 9
    return 13 if fp8 else 5


def host_issue_seconds(row: MeasuredRow, op: Attention, hw: HardwareSpec, kernel_seconds: float) -> float:
    """Seconds the row's time holds beyond the kernel: 0 for kernel-timed rows; for an event-timed call, the host
    time before the kernel's launch (the GPU waits for it), or the call's whole host time when that is longer.

    - cudnn-frontend graphs (backends "cudnn bf16" / "cudnn fp8"): the variant pack's binding, then
      cudnnBackendExecute, which overlaps the kernel.
    - torch-level calls (torch SDPA with `sdpa_kernel` forcing a backend, `flash_attn_func`, autograd's
      `backward()`): one eager framework op of a training graph (Python, autograd, dispatch, launch), the
      system's `runtime.host_op_latency` or the training host time per op over its `host_speed`
      (llm/train_host.py: 80 us on the Xeon 8480C core, fitted on the llm_training rows; 76 us on DGX B200)."""
    if not any(harness in row.source for harness in EVENT_TIMED_ARTIFACTS):
        return 0.0
    backend = str(row.shape.get("backend", "")).lower()
    speed = hw.runtime.host_speed or 1.0
    if backend.startswith("cudnn"):
        binding = variant_pack_tensors("fp8" in op.dtype, op.phase != "fwd") * CUDNN_FE_BINDING_PER_TENSOR / speed
        return binding + max(0.0, CUDNN_FE_BACKEND_EXECUTE / speed - kernel_seconds)
    return system_host_op_latency(hw.runtime.host_op_latency, hw.runtime.host_speed)
