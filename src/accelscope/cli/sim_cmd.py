"""`accelscope sim gemm|softmax|norm|attention|quantize|isa-study`: the cycle-level level, its programs and traces."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..workload import ops as ir
from .app_options import DtypeOpt, HwOpt, JsonOpt, SetOpt, named, spec_from
from .errors import MAX_INT, build_op, naming_options, refuse_repeats, short

if TYPE_CHECKING:
    from ..hardware.spec import HardwareSpec
    from ..perf.sim.model import SimResult

sim_app = typer.Typer(help="Cycle-level simulation: tile programs on a core model, traces, ISA studies.",
                      no_args_is_help=True)
console = Console()
TraceOpt = Annotated[str | None, typer.Option("--trace", help="Write a Chrome/Perfetto trace (JSON) to this file.")]
ShowOpt = Annotated[bool, typer.Option("--show-program", help="Print the compiled tile program.")]
PROGRAM_LINES = 60  # instructions shown per program


def _run(op: ir.Op, hw: str, sets: list[str] | None, trace: str | None, show: bool, as_json: bool) -> None:
    from ..perf.sim import simulate
    from ..perf.sim.isa import describe

    spec = spec_from(hw, sets)
    with naming_options({"norm": "--kind"}):
        result = simulate(op, spec, trace=trace is not None)
    if trace:
        _write_trace(trace, result)
    if as_json:
        out: dict[str, Any] = named(result.estimate.to_dict(), spec)
        if show:
            out["program"] = {p.name: [describe(i) for i in p.instrs] for p in result.programs}
        if trace:
            out["trace"] = trace
        print(json.dumps(out, indent=2))
        return
    _print_result(result, spec, show)
    if trace:
        console.print(f"trace: {escape(trace)} (open in ui.perfetto.dev or chrome://tracing)")


def _write_trace(path: str, result: SimResult) -> None:
    from ..perf.sim import chrome_trace

    try:
        with open(path, "w") as handle:
            json.dump(chrome_trace(result), handle)
    except OSError as exc:
        raise ValueError(f"--trace: cannot write {path}: {exc.strerror or exc}") from None


def _print_result(result: SimResult, spec: HardwareSpec, show: bool) -> None:
    from ..perf.sim.isa import describe

    est = result.estimate
    d = est.details
    console.print(f"[bold]{escape(est.op)}[/] on {escape(spec.name)} ({escape(spec.label)}): [bold]{est.seconds * 1e6:.2f} µs[/], bound by "
                  f"[bold]{est.bound_label}[/]" + (f" ({d['cycles']:.0f} cycles at {d['clock_hz'] / 1e9:.2f} GHz)"
                                              if "cycles" in d else ""))
    if "sim_fallback" in d:
        console.print(f"[yellow]not simulated:[/] {escape(str(d['sim_fallback']))}")
        return
    table = Table(header_style="bold", title="busiest core")
    for col in ("unit", "utilization", "idle because (cycles)"):
        table.add_column(col, justify="left" if col != "utilization" else "right")
    stalls = d["stalls_cycles"]
    for unit, value in d["utilization"].items():
        reasons = sorted(stalls.get(unit, {}).items(), key=lambda kv: -kv[1])[:3]
        table.add_row(unit, f"{value:.1%}", ", ".join(f"{r} {c:.0f}" for r, c in reasons))
    console.print(table)
    for program in d["programs"]:
        notes = {k: v for k, v in program.items() if k not in ("name", "cycles", "mapping")}
        console.print(escape(f"  {program['name']}: {program['cycles']:.0f} cycles; {notes}"), highlight=False)
        if "mapping" in program:
            console.print(escape(f"    mapping: {program['mapping']}"), highlight=False)
    if show:
        for program in result.programs:
            console.print(f"[bold]program {program.name}[/] ({len(program.instrs)} instructions simulated)")
            for instr in program.instrs[:PROGRAM_LINES]:
                console.print("  " + escape(describe(instr)), highlight=False)
            if len(program.instrs) > PROGRAM_LINES:
                console.print(f"  ... {len(program.instrs) - PROGRAM_LINES} more")


@sim_app.command("gemm")
def sim_gemm(
    m: Annotated[int, typer.Option(help="Rows of A and C.")],
    n: Annotated[int, typer.Option(help="Columns of B and C.")],
    k: Annotated[int, typer.Option(help="Reduction dimension.")],
    hw: HwOpt, dtype: DtypeOpt = "bf16", batch: Annotated[int, typer.Option(help="Batch count.")] = 1,
    sets: SetOpt = None, trace: TraceOpt = None, show: ShowOpt = False, as_json: JsonOpt = False,
) -> None:
    """C = A @ B on the matrix unit: tiles, multi-buffered DMA, epilogue."""
    _run(build_op(ir.Gemm, m=m, n=n, k=k, dtype=dtype, batch=batch), hw, sets, trace, show, as_json)


@sim_app.command("softmax")
def sim_softmax(
    rows: Annotated[int, typer.Option(help="Rows (tokens x heads).")],
    cols: Annotated[int, typer.Option(help="Elements per row (softmax length).")], hw: HwOpt,
    dtype: DtypeOpt = "bf16", sets: SetOpt = None, trace: TraceOpt = None, show: ShowOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Row softmax: max, exp2 (SFU or polynomial), sum, reciprocal, scale."""
    _run(build_op(ir.Softmax, rows=rows, cols=cols, dtype=dtype), hw, sets, trace, show, as_json)


@sim_app.command("norm")
def sim_norm(
    rows: Annotated[int, typer.Option(help="Rows (tokens).")],
    hidden: Annotated[int, typer.Option(help="Hidden size: elements normalized per row.")], hw: HwOpt,
    kind: Annotated[str, typer.Option(help="rms | layer")] = "rms", dtype: DtypeOpt = "bf16",
    sets: SetOpt = None, trace: TraceOpt = None, show: ShowOpt = False, as_json: JsonOpt = False,
) -> None:
    """RMSNorm or LayerNorm: sum of squares (dot4 when native), rsqrt, scale."""
    _run(build_op(ir.Norm, {"norm": "--kind"}, rows=rows, hidden=hidden, norm=kind, dtype=dtype), hw, sets, trace, show,  # type: ignore[arg-type]
         as_json)


@sim_app.command("attention")
def sim_attention(
    batch: Annotated[int, typer.Option(help="Sequences in the batch.")],
    heads: Annotated[int, typer.Option(help="Query heads.")],
    head_dim: Annotated[int, typer.Option(help="Dimension of each query/key head.")],
    q_len: Annotated[int, typer.Option(help="Query length (1 for decode).")],
    kv_len: Annotated[int, typer.Option(help="Key/value length.")], hw: HwOpt,
    kv_heads: Annotated[int | None, typer.Option(help="KV heads (GQA); default = heads.")] = None,
    causal: Annotated[bool, typer.Option("--causal/--no-causal", help="Causal mask: half the score blocks.")] = False,
    dtype: DtypeOpt = "bf16",
    sets: SetOpt = None, trace: TraceOpt = None, show: ShowOpt = False, as_json: JsonOpt = False,
) -> None:
    """FlashAttention forward: QK^T, online softmax, PV per KV block."""
    op = build_op(ir.Attention, batch=batch, heads=heads, kv_heads=kv_heads, head_dim=head_dim, q_len=q_len, kv_len=kv_len,
                      causal=causal, dtype=dtype)
    _run(op, hw, sets, trace, show, as_json)


@sim_app.command("quantize")
def sim_quantize(
    elements: Annotated[int, typer.Option(help="Elements in the tensor.")], hw: HwOpt,
    fmt: Annotated[str, typer.Option(help="mxfp8, mxfp4, nvfp4, ...")] = "mxfp8",
    block: Annotated[int, typer.Option(help="Elements per scale block.")] = 32,
    src_dtype: Annotated[str, typer.Option(help="Source dtype.")] = "bf16",
    sets: SetOpt = None, trace: TraceOpt = None, show: ShowOpt = False, as_json: JsonOpt = False,
) -> None:
    """MX / NVFP4 quantize: block amax, scale, multiply, round to the element format."""
    _run(build_op(ir.Quantize, elements=elements, fmt=fmt, block=block, src_dtype=src_dtype), hw, sets, trace, show, as_json)


# ----- ISA study --------------------------------------------------------------------------------------------------
KERNELS = {
    "softmax": (lambda a: ir.Softmax(rows=a.get("rows", 4096), cols=a.get("cols", 4096), dtype=a.get("dtype", "bf16")),
                ["isa.exp2", "isa.rcp", "vector.peak.fp32*2"]),
    "attention": (lambda a: ir.Attention(batch=a.get("batch", 1), heads=a.get("heads", 32),
                                         head_dim=a.get("head_dim", 128), q_len=a.get("q_len", 4096),
                                         kv_len=a.get("kv_len", 4096), dtype=a.get("dtype", "bf16")),
                  ["isa.exp2", "vector.peak.fp32*2", "sfu.ops_per_clock_per_core.exp2*2"]),
    "quantize": (lambda a: ir.Quantize(elements=a.get("elements", 1 << 24), fmt=a.get("fmt", "mxfp8"),
                                       block=a.get("block"), src_dtype=a.get("src_dtype", "bf16")),
                 ["isa.fp8_convert", "isa.mx_scale", "vector.peak.fp32*2"]),
    "norm": (lambda a: ir.Norm(rows=a.get("rows", 4096), hidden=a.get("hidden", 8192)),
             ["isa.rsqrt", "isa.dot4_accumulate", "vector.peak.fp32*2"]),
    "gemm": (lambda a: ir.Gemm(m=a.get("m", 4096), n=a.get("n", 4096), k=a.get("k", 4096),
                               dtype=a.get("dtype", "bf16")),
             ["matrix.peak.bf16*2", "memory.hbm.bandwidth*2"]),
}


def variant(spec: HardwareSpec, vary: str) -> tuple[str, dict[str, Any]]:
    """`isa.exp2` toggles a flag; `path=value` sets; `path*2` scales a number. Returns (label, overrides)."""
    from ..hardware import parse_set_options

    if "=" in vary:
        return vary, parse_set_options([vary], option=f"--vary {vary}")
    if "*" in vary:
        path, _, factor = vary.partition("*")
        current = _current(spec, path)
        if not isinstance(current, int | float) or isinstance(current, bool):
            raise ValueError(f"--vary {vary}: {path} is not a number on {spec.id}")
        try:
            scale = float(factor)
        except ValueError:  # float()'s own message names neither the option nor the form
            raise ValueError(f"--vary {vary}: expected path*factor with a number factor (got {factor!r})") from None
        return f"{path} x{factor}", {path: current * scale}
    if not vary.startswith("isa."):
        raise ValueError(f"--vary {vary}: expected isa.FLAG (toggle), path=value or path*factor")
    flag = _native_flag(spec, vary.removeprefix("isa."))
    return f"{vary} {'off' if flag else 'on'}", {vary: not flag}


def _current(spec: HardwareSpec, path: str) -> Any:
    node: Any = spec.model_dump()
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ValueError(f"--vary: {path}: no such field on {spec.id}")
        node = node[part]
    return node


def _native_flag(spec: HardwareSpec, name: str) -> bool:
    from ..perf.sim import core_model

    core = core_model(spec)
    if name in ("exp2", "log2", "rcp", "rsqrt"):
        return name in core.sfu_rate
    if name in core.native:
        return core.native[name]
    raise ValueError(f"--vary isa.{name}: unknown instruction; choose from exp2, log2, rcp, rsqrt, fp8_convert, "
                     "mx_scale, dot4_accumulate")


# The shape keys each kernel reads from --arg (the others default); dtype-like keys take names, the rest sizes.
KERNEL_ARGS = {"softmax": ("rows", "cols", "dtype"), "attention": ("batch", "heads", "head_dim", "q_len", "kv_len",
                                                                  "dtype"),
               "quantize": ("elements", "fmt", "block", "src_dtype"), "norm": ("rows", "hidden"),
               "gemm": ("m", "n", "k", "dtype")}
NAME_ARGS = ("dtype", "fmt", "src_dtype")


def _check_kernel_args(kernel: str, args: dict[str, Any]) -> None:
    """--arg keys the kernel reads (an unknown one would be ignored in silence), sizes as whole numbers."""
    for key, value in args.items():
        if key not in KERNEL_ARGS[kernel]:
            raise ValueError(f"--arg {key}: {kernel} takes {', '.join(KERNEL_ARGS[kernel])}")
        if key in NAME_ARGS:
            if not isinstance(value, str):
                raise ValueError(f"--arg {key}: expected a name like bf16 (got {short(value)})")
        elif isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_INT:
            raise ValueError(f"--arg {key}: expected a whole number up to 1e15 (got {short(value)})")


def isa_study(kernel: str, spec: HardwareSpec, varies: list[str], args: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per variant: the baseline spec, then each `--vary` applied alone."""
    from ..perf.sim import simulate

    if kernel not in KERNELS:
        raise ValueError(f"--kernel: expected one of {', '.join(KERNELS)} (got {kernel!r})")
    build, defaults = KERNELS[kernel]
    _check_kernel_args(kernel, args)
    with naming_options({field: f"--arg {field}" for field in args}):
        op = build(args)
    rows = []
    base = None
    for label, overrides in [("baseline", {}), *(variant(spec, v) for v in (varies or defaults))]:
        est = simulate(op, _varied(spec, label, overrides)).estimate
        base = base or est.seconds
        stalls = est.details.get("stalls_cycles", {})
        busiest = est.details.get("busiest_unit", "")
        why = max(stalls.get(busiest, {}).items(), key=lambda kv: kv[1], default=("", 0))[0]
        rows.append({"variant": label, "op": op.describe(), "seconds": est.seconds, "vs_baseline": est.seconds / base - 1,
                     "bound": est.bound, "busiest_unit": busiest,
                     "busiest_utilization": est.details.get("utilization", {}).get(busiest, 0.0),
                     "busiest_unit_waits_on": why})
    return rows


def _varied(spec: HardwareSpec, label: str, overrides: dict[str, Any]) -> HardwareSpec:
    """The spec with one --vary applied; a value out of range is reported under --vary (it said `h100-sxm
    overrides: ...`, which names no option)."""
    if not overrides:
        return spec
    try:
        return spec.with_overrides(overrides)
    except ValueError as exc:  # the spec's origin (`--set (on h100-sxm)`, `h100-sxm overrides`) gives way to --vary
        reason = re.sub(r"^(--set \(on [^)]*\)|\S+ overrides): ", "", str(exc))
        raise ValueError(f"--vary {label} (on {spec.id}): {reason}") from None


@sim_app.command("isa-study")
def sim_isa_study(
    hw: HwOpt,
    kernel: Annotated[str, typer.Option(help=f"One of: {', '.join(KERNELS)}")] = "softmax",
    vary: Annotated[list[str] | None, typer.Option(
        "--vary", help="isa.exp2 (toggle), path=value, or path*factor (e.g. vector.peak.fp32*2); repeatable.")] = None,
    arg: Annotated[list[str] | None, typer.Option(
        "--arg", help="Kernel shape, key=value (rows=, cols=, q_len=, elements=, fmt=, ...); repeatable.")] = None,
    sets: SetOpt = None, as_json: JsonOpt = False,
) -> None:
    """Run one kernel with each ISA feature (or spec field) varied alone and tabulate the effect."""
    from ..hardware import parse_set_options

    refuse_repeats("--vary", vary or [])
    spec = spec_from(hw, sets)
    rows = isa_study(kernel, spec, vary or [], parse_set_options(arg or [], option="--arg"))
    if as_json:
        print(json.dumps([named({"hw": spec.id, **row}, spec) for row in rows], indent=2))
        return
    table = Table(title=escape(f"ISA study: {rows[0]['op']} on {spec.label} (level=sim)"), header_style="bold")
    for col in ("variant", "time", "vs baseline", "bound", "busiest unit", "its top stall"):
        table.add_column(col, justify="right" if col in ("time", "vs baseline") else "left")
    for r in rows:
        table.add_row(escape(r["variant"]), f"{r['seconds'] * 1e6:.2f} µs", f"{r['vs_baseline']:+.1%}", r["bound"],
                      f"{r['busiest_unit']} {r['busiest_utilization']:.0%}", r["busiest_unit_waits_on"])
    console.print(table)
