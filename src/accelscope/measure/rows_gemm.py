"""GEMM rows whose shape is more than one M x N x K product: what each source's harness ran, as IR ops.

- Vidur per-layer profiles (VP): one `F.linear` per row (y = x·Wᵀ, x: M x K tokens), fp16, timed as the sum of
  its CUDA kernel durations. The launch latency stays in (`launch=True`): the presets' `runtime.launch_latency`
  (2.5 µs) is mostly the grid's ramp-up and tail drain, which a kernel's duration contains, and vidur's H100
  GEMMs at M <= 128 fit 4.4-6.4 µs + bytes / bandwidth, an intercept the model reaches only with it (its DRAM
  latencies give ~1-2 µs). rows_elementwise takes the launch off its kernel-timed rows instead; which part of the
  2.5 µs a kernel's duration holds needs a GPU measurement (docs/validation.md, "Tiny kernels"). A row with a bias
  adds one read of the bias vector in cuBLAS's epilogue, which the C write dominates: mapped as the plain GEMM.
- ThunderKittens (TK): the full bf16 B200 kernel (TK-010) is a library-grade GEMM (tcgen05, 2-CTA, pipelined);
  the educational levels 1-9 each leave out a mechanism the model assumes (tensor cores, TMA, warp specialization,
  epilogue pipelining, the CTA pair) and are skipped with that reason.
- torchao MoE training (TA):
  - `time_fwd_bwd` rows (torchao/prototype/moe_training README, "Autograd function"): one grouped linear forward
    and backward, three grouped GEMMs with balanced tokens (M_total / groups rows per expert):
      out   = x  · W     per group: (M/G) x N x K
      dgrad = dY · Wᵀ    per group: (M/G) x K x N
      wgrad = xᵀ · dY    per group: K x N x (M/G)
    The MXFP8 variant (`_to_mxfp8_then_scaled_grouped_mm`) quantizes dynamically: each GEMM's two operands along
    its contraction dimension, x and dY twice (row- and column-wise), W twice: 2·(M·K + M·N + G·K·N) elements from
    bf16 to MXFP8 (block 32), as `Quantize` ops, and rearranges each operand's scales (mx_scale_rearranges).
    Both variants run inside benchmarks/utils.py's harness, whose MSE loss, loss gradient and gradient
    accumulation share the timed region (fwd_bwd_harness_ops), with torchao's random jagged token groups
    (jagged_largest_share).
  - kernel rows ("2D-3D" / "2D-2D scaled grouped GEMM"): one grouped GEMM from its `input_shape`.
Every part is one kernel launch in the source's timing (CUDA events around the whole call, or kernel sums).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..workload import Gemm
from ..workload.ops import Elementwise, Quantize
from .dataset import MeasuredRow, harness_of

MX_BLOCK = 32  # OCP MX v1.0 elements per shared scale


@dataclass(frozen=True, slots=True)
class GemmParts:
    """The ops a row's harness ran, and how its time is read: a sum of kernel durations (no launch gaps) or a
    wall time of the whole call. `work`: FLOPs for a TFLOP/s row."""

    ops: tuple[Any, ...]
    launch: bool = True
    work: float = 0.0
    # torchao's MXFP8 scale-layout rearrangements (rows_elementwise.scale_rearrange_seconds): (kernel kind, dims of
    # the 1-byte scale tensor, groups), one kernel each
    rearranges: tuple[tuple[str, tuple[int, ...], int], ...] = ()
    # what the source's harness runs around the call under test, in the same timed region (torchao's
    # bench_fwd_bwd_microseconds: the MSE loss, its gradient, the gradient accumulation into the leaves): priced like
    # `ops`, but not GEMMs, so they leave a row fit-eligible (only_gemms looks at `ops`)
    harness: tuple[Any, ...] = ()
    # the share of the tokens the largest expert group holds, for the rearrangements whose programs walk their
    # group serially (rows_elementwise.scale_rearrange_seconds); None: equal groups
    largest_group_share: float | None = None


def handles(row: MeasuredRow) -> bool:
    return row.category == "gemm" and harness_of(row) in ("VP", "TK", "TA")


def parts(row: MeasuredRow) -> GemmParts | str:
    """The row as ops, or the reason it cannot be mapped."""
    prefix = harness_of(row)
    if prefix == "VP":
        return _vidur(row)
    if prefix == "TK":
        return _thunderkittens(row)
    if prefix == "TA":
        return _torchao(row)
    return f"{prefix}: no GEMM mapping"


def _vidur(row: MeasuredRow) -> GemmParts:
    s = row.shape
    op = Gemm(m=int(s["M"]), n=int(s["N"]), k=int(s["K"]), dtype="fp16")
    return GemmParts((op,), launch=True, work=op.cost().matrix_flops)


def _thunderkittens(row: MeasuredRow) -> GemmParts | str:
    s = row.shape
    level = s.get("level")
    if level is not None:
        return (f"ThunderKittens educational level {level}: a teaching kernel missing mechanisms a library GEMM has "
                "(the model prices the full kernel, TK-010)")
    op = Gemm(m=int(s["M"]), n=int(s["N"]), k=int(s["K"]), dtype="bf16")
    return GemmParts((op,), work=op.cost().matrix_flops)


def _torchao(row: MeasuredRow) -> GemmParts | str:
    s = row.shape
    mx = "mxfp8" in row.dtype.lower() or "mxfp8" in row.op.lower()
    dtype = "mxfp8" if mx else "bf16"
    # the library kernel each harness calls: torch._grouped_mm (bf16) or, through torch._scaled_grouped_mm, FBGEMM's
    # MXFP8 grouped GEMM; each runs its own fixed tile (perf/analytical/gemm.py library_kernel)
    kernel = "fbgemm-mx8-grouped" if mx else "torch-grouped-mm"
    if "M_total" in s:
        m, n, k, g = int(s["M_total"]), int(s["N"]), int(s["K"]), int(s["groups"])
        rows = m // g
        # the weight gradient contracts over the tokens, split into the harness's random groups (jagged_largest_share)
        ops: list[Any] = [
            Gemm(m=rows, n=n, k=k, dtype=dtype, batch=g, out_dtype="bf16", kernel=kernel),  # out
            Gemm(m=rows, n=k, k=n, dtype=dtype, batch=g, out_dtype="bf16", kernel=kernel),  # dgrad
            Gemm(m=k, n=n, k=rows, dtype=dtype, batch=g, out_dtype="bf16", kernel=kernel,
                 k_group_share=jagged_largest_share(g)),  # wgrad
        ]
        harness = fwd_bwd_harness_ops(m, n, k, g)
        if not mx:
            return GemmParts(tuple(ops), harness=harness)
        ops += [Quantize(elements=2 * e, fmt="mxfp8", src_dtype="bf16", block=MX_BLOCK)
                for e in (m * k, m * n, g * k * n)]
        return GemmParts(tuple(ops), rearranges=mx_scale_rearranges(m, n, k, g), harness=harness,
                         largest_group_share=jagged_largest_share(g))
    shape = str(s.get("input_shape", ""))
    dims = [tuple(int(x) for x in part.split(",") if x.strip()) for part in re.findall(r"\(([^)]*)\)", shape)]
    if len(dims) != 2:
        return f"input_shape {shape!r} not understood"
    (a0, a1), b = dims
    if len(b) == 3:  # 2D-3D: (M_total, K) @ (G, K, N): G groups of M_total / G rows
        g, kk, n = b
        op = Gemm(m=a0 // g, n=n, k=kk, dtype=dtype, batch=g, out_dtype="bf16", kernel=kernel)
    else:  # 2D-2D: (M, K_total) @ (K_total, N): the contraction split into G groups (weight gradient), at random
        # (roofline_unified.py draws them with generate_jagged_offs, as the forward+backward harness does)
        g = group_count(s)
        op = Gemm(m=a0, n=b[1], k=a1 // g, dtype=dtype, batch=g, out_dtype="bf16", kernel=kernel,
                  k_group_share=jagged_largest_share(g))
    return GemmParts((op,), work=op.cost().matrix_flops)


def fwd_bwd_harness_ops(m: int, n: int, k: int, g: int) -> tuple[Elementwise, ...]:
    """The kernels torchao's forward+backward harness runs around the grouped linear, inside its timed region, for
    both the bf16 and the MXFP8 row (benchmarks/utils.py bench_fwd_bwd_microseconds: `out = fn(A, B_t, offs);
    loss = F.mse_loss(out, labels); loss.backward()`, torch.compile'd, timed by triton's do_bench, median):
      - the loss: one reduction reading `out` and `labels` (M x N bf16 each; the all-ones labels are a real tensor);
      - its gradient dY = 2 (out - labels) / (M N): reads both again, writes dY (M x N bf16), the backward's input;
      - gradient accumulation: do_bench calls the function again and again without clearing the gradients
        (grad_to_none unset), so from the second call on autograd's AccumulateGrad adds each new gradient into the
        leaf's `.grad` in place: A.grad (M x K) and the expert weights' (G x N x K), each read twice, written once.
    Whatever the partitioner saves for the loss's backward (out and labels, or their difference) the M x N traffic
    is five passes; inductor may fuse dY's pointwise into the MXFP8 dim-0 cast that reads it, saving one read of
    M x N, which is left out (the dim-1 CUDA cast, an opaque op, needs dY in memory either way)."""
    return harness_ops(m * n, m * k, g * n * k)


def harness_ops(out_elements: int, input_elements: int, weight_elements: int) -> tuple[Elementwise, ...]:
    """bench_fwd_bwd_microseconds' own kernels (fwd_bwd_harness_ops) for a module whose output has `out_elements`,
    whose input `input_elements` and whose parameters `weight_elements` (bf16 each): the MSE loss (reads the output
    and the labels), its gradient (reads both, writes dY), and the in-place gradient accumulation into the input's
    and the parameters' `.grad` (each read twice, written once)."""
    return (Elementwise("mse_loss", out_elements, "bf16", inputs=2, outputs=0, flops_per_element=3),
            Elementwise("mse_loss_backward", out_elements, "bf16", inputs=2, outputs=1, flops_per_element=3),
            Elementwise("add", input_elements, "bf16"),
            Elementwise("add", weight_elements, "bf16"))


def jagged_largest_share(groups: int) -> float:
    """The expected share of the tokens the largest of `groups` groups holds in torchao's benchmark, whose group
    ends come from `generate_jagged_offs` (torchao/prototype/moe_training/utils.py): groups - 1 cut points drawn
    at random (Python's `random.sample`, not seeded by the script's torch.manual_seed) from the multiples of 32,
    so the sizes are the spacings of uniform random points, whose largest has expectation H_G / G of the whole
    (H_G = 1 + 1/2 + ... + 1/G): 1 for one group, 0.75 for 2, 0.52 for 4, 0.34 for 8. The GEMMs' total work
    does not depend on the split; the serial per-group scale walks do."""
    g = max(1, groups)
    return sum(1 / i for i in range(1, g + 1)) / g


def mx_scale_rearranges(m: int, n: int, k: int, g: int) -> tuple[tuple[str, tuple[int, ...], int], ...]:
    """The scale-layout kernels `_to_mxfp8_then_scaled_grouped_mm` runs for one MXFP8 grouped linear forward and
    backward (torchao torchao/prototype/moe_training/mxfp8_grouped_mm.py; the README's "Kernel Microbenchmarks:
    Breakdown by Pass" times each, rows TA-051/052/056/057/061/062): the grouped GEMM reads every operand's e8m0
    scales (one per 32 elements along its contraction) in cuBLAS's blocked layout, so each quantized operand's
    scales are rearranged once by a kernel of their own:
      out   = x · W      x scales (m, k/32) by triton_mx_block_rearrange_2d_M_groups; W scales (g, n, k/32) per
                         group 3D
      dgrad = dY · Wᵀ    dY scales (m, n/32) 2D M-groups; W scales (g, k, n/32) per group 3D
      wgrad = xᵀ · dY    dYᵀ scales (n, m/32) and xᵀ scales (k, m/32) by triton_mx_block_rearrange_2d_K_groups
    The forward+backward rows (torchao 0.14) ran the Triton M-groups kernel ("2d_m_groups", a serial walk over
    each group's rows); the CUDA kernel the newer "Breakdown by Pass" rows time (TA-051/056,
    mx_block_rearrange_2d_M_groups_cuda, a copy) replaced it in pytorch/ao#3556 (Dec 2025)."""
    b = MX_BLOCK
    return (("2d_m_groups", (m, k // b), g), ("per_group_3d", (g, n, k // b), g),
            ("2d_m_groups", (m, n // b), g), ("per_group_3d", (g, k, n // b), g),
            ("2d_k_groups", (n, m // b), g), ("2d_k_groups", (k, m // b), g))


def group_count(shape: dict[str, Any]) -> int:
    """The group count a row's shape text names (\"groups 8\"); 1 when it names none."""
    match = re.search(r"groups\s+(\d+)", json.dumps(shape))
    return int(match.group(1)) if match else 1


def only_gemms(row: MeasuredRow) -> bool:
    """Whether the row times GEMM kernels only (a plain M/N/K row, or a mapping whose parts are all GEMMs): the rows
    a matrix efficiency may be fitted on. torchao's MXFP8 forward+backward also times its dynamic casts."""
    if not handles(row):
        return True
    mapped = parts(row)
    return not isinstance(mapped, str) and all(isinstance(op, Gemm) for op in mapped.ops)


def parts_seconds(row: MeasuredRow, hw: Any, level: str) -> tuple[float, str, float] | str:
    """(seconds as the row's harness saw them, the bound of the longest part, FLOPs) or the reason it is skipped.
    A kernel-duration harness does not see the host's launch, so each part's launch latency is taken off."""
    from ..perf import estimate  # the perf layer imports nothing from measure

    mapped = parts(row)
    if isinstance(mapped, str):
        return mapped
    total, longest, bound = 0.0, -1.0, ""
    for op in mapped.ops:
        est = estimate(op, hw, level)
        seconds = est.seconds if mapped.launch else est.seconds - est.breakdown.get("launch", 0.0)
        total += seconds
        if seconds > longest:
            longest, bound = seconds, est.bound
    for op in mapped.harness:
        est = estimate(op, hw, level)
        total += est.seconds if mapped.launch else est.seconds - est.breakdown.get("launch", 0.0)
    if mapped.rearranges:
        from .rows_elementwise import scale_rearrange_seconds  # rows_elementwise imports this module

        for kind, dims, groups in mapped.rearranges:
            seconds, why = scale_rearrange_seconds(kind, list(dims), groups, hw, level,
                                                   mapped.largest_group_share)
            total += seconds if mapped.launch else seconds - _launch_seconds(hw)
            if seconds > longest:
                longest, bound = seconds, why
    work = mapped.work or sum(op.cost().matrix_flops for op in mapped.ops)
    return total, bound, work


def _launch_seconds(hw: Any) -> float:
    from ..hardware import load_hardware

    return (load_hardware(hw) if isinstance(hw, str) else hw).runtime.launch_latency
