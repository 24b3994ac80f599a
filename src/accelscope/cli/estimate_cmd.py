"""`accelscope estimate`: one operator on one chip at a chosen level."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ..workload import ops as ir
from .app_options import DtypeOpt, ExplainOpt, HwOpt, JsonOpt, LevelOpt, SetOpt, spec_from
from .errors import build_op as _op
from .errors import naming_arguments, naming_options, short

if TYPE_CHECKING:
    from ..hardware import HardwareSpec

est_app = typer.Typer(help="Estimate one operator on a chip.", no_args_is_help=True)
console = Console()


# ----- estimate ---------------------------------------------------------------------------------------
def _report(op: ir.Op, hw: str, sets: list[str] | None, level: str, as_json: bool, explain: bool) -> None:
    from ..perf import estimate
    from . import render

    spec = spec_from(hw, sets)
    with naming_options({"norm": "--kind"}), naming_arguments(("level",)):
        _check_kernel_runs(op, spec)
        est = estimate(op, spec, level=level)
    if as_json:
        print(json.dumps({"input": render.op_dict(op), **est.to_dict()}, indent=2))
        return
    render.print_estimate(console, op, spec, est, explain=explain)


def _check_kernel_runs(op: ir.Op, spec: HardwareSpec) -> None:
    """An attention kernel the chip cannot run (fa3 needs wgmma, fa4 tcgen05) is refused at every level: the
    roofline ignores the kernel, so `--kernel fa4 --hw mi300x` printed an estimate there and an error at the
    analytical level."""
    if isinstance(op, ir.Attention) and op.variant in ("fa3", "fa4"):
        from ..perf.analytical.attention import kernel

        kernel(op, spec)


@est_app.command("gemm")
def est_gemm(
    m: Annotated[int, typer.Option(help="Rows of A and C.")],
    n: Annotated[int, typer.Option(help="Columns of B and C.")],
    k: Annotated[int, typer.Option(help="Reduction dimension.")],
    hw: HwOpt,
    dtype: DtypeOpt = "bf16",
    batch: Annotated[int, typer.Option(help="Batch count.")] = 1,
    out_dtype: Annotated[str | None, typer.Option(help="Output dtype (default: input, or bf16 for <16-bit).")] = None,
    b_dtype: Annotated[str | None, typer.Option(help="Weight (B) dtype when it differs, e.g. int4.")] = None,
    schedule: Annotated[str, typer.Option(
        help="data-parallel (waves, split-K) | stream-k (also persistent stream-K kernels: no tail wave); "
             "read by the analytical level")] = "data-parallel",
    sets: SetOpt = None, level: LevelOpt = "roofline", as_json: JsonOpt = False, explain: ExplainOpt = False,
) -> None:
    """C = A @ B: 2·M·N·K FLOPs."""
    op = _op(ir.Gemm, m=m, n=n, k=k, dtype=dtype, batch=batch, out_dtype=out_dtype, b_dtype=b_dtype, schedule=schedule)
    _report(op, hw, sets, level, as_json, explain)


@est_app.command("grouped-gemm")
def est_grouped_gemm(
    groups: Annotated[int, typer.Option(help="Number of experts/groups.")],
    n: Annotated[int, typer.Option(help="Output features per group.")],
    k: Annotated[int, typer.Option(help="Input features.")],
    hw: HwOpt,
    tokens: Annotated[int | None, typer.Option(help="Total rows, spread evenly.")] = None,
    m_per_group: Annotated[str | None, typer.Option(help="Comma-separated rows per group (uneven MoE).")] = None,
    dtype: DtypeOpt = "bf16",
    sets: SetOpt = None, level: LevelOpt = "roofline", as_json: JsonOpt = False, explain: ExplainOpt = False,
) -> None:
    """MoE expert GEMMs with their own weights."""
    if (tokens is None) == (m_per_group is None):
        raise ValueError("--tokens / --m-per-group: give exactly one (total rows spread evenly over the groups, or "
                         "comma-separated rows per group)")
    if tokens is not None and tokens < 1:  # 0 rows priced as an estimate of nothing, exit 0
        raise ValueError(f"--tokens: must be >= 1 (got {tokens})")
    rows = _row_counts(m_per_group) if m_per_group is not None else None
    if rows is not None and all(m == 0 for m in rows):
        raise ValueError(f"--m-per-group: every group has 0 rows (got {short(m_per_group)!r}); give at least one "
                         "group some rows")
    op = _op(ir.GroupedGemm, groups=groups, n=n, k=k, tokens=tokens, m_per_group=rows, dtype=dtype)
    _report(op, hw, sets, level, as_json, explain)


def _row_counts(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--m-per-group: expected comma-separated whole numbers like 96,160,128 (got "
                         f"{short(text)!r})") from None


@est_app.command("attention")
def est_attention(
    batch: Annotated[int, typer.Option(help="Sequences in the batch.")],
    heads: Annotated[int, typer.Option(help="Query heads.")],
    head_dim: Annotated[int, typer.Option(help="Dimension of each query/key head.")],
    q_len: Annotated[int, typer.Option(help="Query length (1 for decode).")],
    kv_len: Annotated[int, typer.Option(help="Key/value length (the KV-cache length in decode).")],
    hw: HwOpt,
    kv_heads: Annotated[int | None, typer.Option(help="KV heads (GQA/MQA); default = heads.")] = None,
    causal: Annotated[bool, typer.Option("--causal/--no-causal", help="Causal mask: half the score blocks.")] = False,
    dtype: DtypeOpt = "bf16",
    phase: Annotated[str, typer.Option(help="fwd | bwd | fwd_bwd")] = "fwd",
    v_head_dim: Annotated[int | None, typer.Option(help="Value head dim if different (MLA).")] = None,
    kv_dtype: Annotated[str | None, typer.Option(help="KV-cache dtype if different.")] = None,
    variant: Annotated[str | None, typer.Option(
        "--kernel", "--variant",
        help="The attention kernel: fa2 (mma.sync) | fa3 (Hopper wgmma) | fa4 (Blackwell tcgen05) | cudnn | math "
             "(unfused, input dtype) | sdpa_math (torch SDPA's math backend: unfused in fp32) | mmha (TensorRT-LLM "
             "<= 0.7 decode) | triton (flash_attn_triton.py, MPT); default: the chip's (fa2 / fa3 / fa4 by its "
             "matrix instruction)")] = None,
    page_size: Annotated[int | None, typer.Option(
        help="Paged KV cache: tokens per page (vLLM block_size); default contiguous.")] = None,
    window: Annotated[int | None, typer.Option(help="Sliding window: each query sees the last N keys.")] = None,
    deterministic: Annotated[bool, typer.Option(help="Backward with an ordered (non-atomic) dQ reduction.")] = False,
    sets: SetOpt = None, level: LevelOpt = "roofline", as_json: JsonOpt = False, explain: ExplainOpt = False,
) -> None:
    """FlashAttention-style attention: 4·B·H·Sq·Skv·D forward FLOPs (half when causal)."""
    op = _op(ir.Attention, batch=batch, heads=heads, kv_heads=kv_heads, head_dim=head_dim, q_len=q_len, kv_len=kv_len,
                      causal=causal, dtype=dtype, phase=phase, v_head_dim=v_head_dim, kv_dtype=kv_dtype,
                      variant=variant, page_size=page_size, window=window,  # type: ignore[arg-type]
                      deterministic=deterministic)
    _report(op, hw, sets, level, as_json, explain)


KernelOpt = Annotated[str, typer.Option(
    help="The kernel that runs: vectorized (16-B loads, 4 in flight) | scalar (vLLM: one element at a time, row "
         "read twice) | looped (TorchInductor, rows > 1024: row read twice) | aten (PyTorch eager softmax: three "
         "passes in step); see workload.ops.STREAMING_KERNELS")]
CachedOpt = Annotated[bool, typer.Option(
    "--cached", help="Operands already in the chip-wide cache (the previous kernel wrote them): read and written "
                     "there when the working set fits half of it")]


@est_app.command("softmax")
def est_softmax(
    rows: Annotated[int, typer.Option(help="Rows (tokens x heads).")],
    cols: Annotated[int, typer.Option(help="Elements per row (softmax length).")], hw: HwOpt,
    dtype: DtypeOpt = "bf16",
    kernel: KernelOpt = "vectorized", cached: CachedOpt = False,
    sets: SetOpt = None, level: LevelOpt = "roofline", as_json: JsonOpt = False, explain: ExplainOpt = False,
) -> None:
    """Row softmax (unfused)."""
    op = _op(ir.Softmax, rows=rows, cols=cols, dtype=dtype, kernel=kernel, cached=cached)
    _report(op, hw, sets, level, as_json, explain)


@est_app.command("norm")
def est_norm(
    rows: Annotated[int, typer.Option(help="Rows (tokens).")],
    hidden: Annotated[int, typer.Option(help="Hidden size: elements normalized per row.")], hw: HwOpt,
    kind: Annotated[str, typer.Option(help="rms | layer")] = "rms",
    dtype: DtypeOpt = "bf16",
    kernel: KernelOpt = "vectorized", cached: CachedOpt = False,
    sets: SetOpt = None, level: LevelOpt = "roofline", as_json: JsonOpt = False, explain: ExplainOpt = False,
) -> None:
    """RMSNorm or LayerNorm."""
    op = _op(ir.Norm, {"norm": "--kind"}, rows=rows, hidden=hidden, norm=kind, dtype=dtype, kernel=kernel, cached=cached)  # type: ignore[arg-type]
    _report(op, hw, sets, level, as_json, explain)


@est_app.command("elementwise")
def est_elementwise(
    op: Annotated[str, typer.Option("--op", help=f"One of: {', '.join(ir.ELEMENTWISE_OPS)}")],
    elements: Annotated[int, typer.Option(help="Elements in the tensor.")], hw: HwOpt,
    dtype: DtypeOpt = "bf16",
    kernel: KernelOpt = "vectorized", cached: CachedOpt = False,
    sets: SetOpt = None, level: LevelOpt = "roofline", as_json: JsonOpt = False, explain: ExplainOpt = False,
) -> None:
    """A named pointwise op."""
    work = _op(ir.Elementwise, op=op, elements=elements, dtype=dtype, kernel=kernel, cached=cached)
    _report(work, hw, sets, level, as_json, explain)


@est_app.command("collective")
def est_collective(
    op: Annotated[str, typer.Option("--op", help=", ".join(ir.COLLECTIVES))],
    size: Annotated[str, typer.Option("--bytes", help="Buffer per device, e.g. '1 GiB' or 1073741824.")],
    group: Annotated[int, typer.Option(help="Devices in the group.")],
    hw: HwOpt,
    algorithm: Annotated[str, typer.Option(
        help="auto | ring | tree | nvls: pin the library's algorithm as NCCL_ALGO does (analytical level)")] = "auto",
    sets: SetOpt = None, level: LevelOpt = "roofline", as_json: JsonOpt = False, explain: ExplainOpt = False,
) -> None:
    """A collective over the spec's interconnect (hierarchical beyond one scale-up domain)."""
    from ..hardware import parse_quantity

    try:
        nbytes = parse_quantity(size, "bytes")
    except ValueError as exc:  # the unit parser's message names no option
        raise ValueError(f"--bytes: {exc}") from None
    _report(_op(ir.Collective, op=op, bytes=nbytes, group=group, algorithm=algorithm), hw, sets, level, as_json, explain)


@est_app.command("quantize")
def est_quantize(
    elements: Annotated[int, typer.Option(help="Elements in the tensor.")], hw: HwOpt,
    fmt: Annotated[str, typer.Option(help="Target format: mxfp8, mxfp4, nvfp4, fp8_e4m3, ...")] = "mxfp8",
    block: Annotated[int | None, typer.Option(help="Elements per scale block (default: the format's own: 32 for "
                                                     "MX, 16 for NVFP4; 32 for others).")] = None,
    src_dtype: Annotated[str, typer.Option(help="Source dtype.")] = "bf16",
    sets: SetOpt = None, level: LevelOpt = "roofline", as_json: JsonOpt = False, explain: ExplainOpt = False,
) -> None:
    """Quantize to a (block-)scaled format."""
    _report(_op(ir.Quantize, elements=elements, fmt=fmt, block=block, src_dtype=src_dtype), hw, sets, level, as_json,
            explain)
