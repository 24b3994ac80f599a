"""`accelscope numerics formats|quantize`: low-precision formats and what quantising does to numbers."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import refuse_repeats

if TYPE_CHECKING:
    import numpy as np

numerics_app = typer.Typer(help="Low-precision formats: list them (formats), quantize numbers (quantize), accuracy vs "
                                "speed per format (tradeoff), accuracy studies (study gemm|lm).", no_args_is_help=True)
console = Console()
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
USER_ERROR_EXIT = 2


# the library's argument names -> the options the user typed (`fmt` is --format / -f)
LIBRARY_ARGUMENTS = {"fmt": "--format", "scaling": "--scaling", "scale_rule": "--scale-rule",
                     "rounding": "--rounding", "overflow": "--overflow"}


def _as_option(message: str) -> str:
    """`scale_rule: nvfp4 accepts te` -> `--scale-rule: nvfp4 accepts te`."""
    name, colon, rest = message.partition(":")
    return f"{LIBRARY_ARGUMENTS[name]}:{rest}" if colon and name in LIBRARY_ARGUMENTS else message


def _user_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Bad input (ValueError) becomes one line on stderr and exit code 2, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except ValueError as exc:
            message = _as_option(str(exc))
            print(f"error: {' '.join(message.split())}", file=sys.stderr)
            raise typer.Exit(USER_ERROR_EXIT) from None

    return wrapper


def _dumps(value: object) -> str:
    """JSON text with NaN/Inf as strings: json.dumps writes them as `NaN`/`Infinity`, which are not JSON, and never
    asks `default` about a float."""
    return json.dumps(_jsonable(value), indent=2, default=_number, allow_nan=False)


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return _number(value)


def _number(value: object) -> object:
    """JSON-safe number: NaN/Inf as strings (JSON has no such literals)."""
    import numpy as np

    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return str(float(value))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


@numerics_app.command("formats")
@_user_errors
def formats_command(as_json: JsonOpt = False) -> None:
    """Every format with its range and precision."""
    from ..hardware.display import magnitude
    from ..numerics import BLOCK_FORMATS, ELEMENT_FORMATS

    elements = [f.describe() for f in ELEMENT_FORMATS]
    blocks = [f.describe() for f in BLOCK_FORMATS]
    if as_json:
        print(_dumps({"element_formats": elements, "block_formats": blocks}))
        return
    table = Table(title="Element formats", header_style="bold")
    for col in ("name", "bits", "E/M", "bias", "max", "min normal", "min subn.", "Inf", "NaN", "specials"):
        table.add_column(col, justify="left" if col in ("name", "specials") else "right", no_wrap=True)
    for d in elements:
        em = f"{d['exp_bits']}/{d['man_bits']}" if d["kind"] == "float" else "int"
        table.add_row(str(d["name"]), str(d["bits"]), em, str(d.get("bias", "—")), magnitude(d["max"], 6),
                      magnitude(d["min_normal"]) if "min_normal" in d else "—", magnitude(d["min_subnormal"]),
                      "yes" if d["has_inf"] else "no", "yes" if d["has_nan"] else "no", str(d.get("specials", "int")))
    console.print(table)
    blocks_table = Table(title="Block formats", header_style="bold")
    for col in ("name", "element", "block", "scale", "bits/elem", "max elem"):
        blocks_table.add_column(col, justify="left" if col in ("name", "element", "scale") else "right",
                                no_wrap=True)
    for d in blocks:
        blocks_table.add_row(str(d["name"]), str(d["element"]), str(d["block"]), str(d["scale"]),
                             f"{d['bits_per_element']:.4g}", magnitude(d["max_element"], 6))
    console.print(blocks_table)


MAX_RANDOM = 1 << 20  # --random inputs: 1 Mi, plenty for error metrics (and --json prints every one of them)


def _parse_values(values: str | None, random: int | None, seed: int) -> np.ndarray:
    import numpy as np

    if (values is None) == (random is None):
        raise ValueError("--values: give exactly one of --values 1.0,2.5,... or --random N")
    if seed < 0:
        raise ValueError(f"--seed: must be >= 0 (got {seed})")
    if random is not None:
        if not 1 <= random <= MAX_RANDOM:
            raise ValueError(f"--random: must be between 1 and {MAX_RANDOM:,} inputs (got {random})")
        return np.random.default_rng(seed).standard_normal(random).astype(np.float32)
    try:
        parsed = np.array([float(v) for v in values.split(",") if v.strip()], dtype=np.float32)
    except ValueError:
        raise ValueError(f"--values: must be comma-separated numbers, e.g. 1.0,2.5,-3 (got {values[:40]!r})") from None
    if parsed.size == 0:  # numpy's "cannot reshape array of size 0" came out of the block quantizer
        raise ValueError(f"--values: expected at least one number, e.g. 1.0,2.5,-3 (got {values[:40]!r})")
    return parsed


@numerics_app.command("quantize")
@_user_errors
def quantize_command(
    fmt: Annotated[str, typer.Option("--format", "-f", help="Format name (accelscope numerics formats).")],
    values: Annotated[str | None, typer.Option("--values", help="Comma-separated inputs, e.g. 1.0,2.5,-3.")] = None,
    random: Annotated[int | None, typer.Option("--random", help="Use N standard-normal inputs.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for --random and stochastic rounding.")] = 0,
    rounding: Annotated[str, typer.Option("--rounding", help="rne | rna | rtz | raz | stochastic")] = "rne",
    overflow: Annotated[str, typer.Option("--overflow", help="saturate | infnan")] = "saturate",
    scaling: Annotated[str | None, typer.Option("--scaling", help="Element formats: none|tensor|channel|token")] = None,
    scale_rule: Annotated[str | None, typer.Option("--scale-rule", help="MX: floor|ceil|rceil; FP32: amax|pow2")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows shown in the table.")] = 32,
    as_json: JsonOpt = False,
) -> None:
    """Quantize numbers: codes, scales, dequantized values and error metrics."""
    import numpy as np

    from ..numerics import dequantize, error_report, quantize

    if limit < 0:
        raise ValueError(f"--limit: rows shown must be >= 0 (got {limit})")
    x = _parse_values(values, random, seed)
    q = quantize(x, fmt, rounding=rounding, overflow=overflow, scaling=scaling, scale_rule=scale_rule, seed=seed)
    y = dequantize(q)
    codes = q.element_codes().ravel()
    scales = q.scale_values()
    finite = np.isfinite(x) & np.isfinite(y)
    metrics = error_report(x[finite], y[finite]) if finite.any() else {}
    result = {
        "format": q.fmt.name, "rounding": rounding, "overflow": overflow, "scaling": q.scaling,
        "scale_rule": q.scale_rule, "input": x.tolist(), "codes": codes.tolist(),
        "scale_codes": None if q.scales is None else np.asarray(q.scales).ravel().tolist(),
        "scales": None if scales is None else np.asarray(scales).ravel().tolist(),
        "tensor_scale": None if q.tensor_scale is None else float(q.tensor_scale),
        "dequantized": y.tolist(), "metrics": metrics, "bytes": q.nbytes,
    }
    if as_json:
        print(_dumps(result))
        return
    _print_quantized(x, y, codes, q, result, limit)


def _print_quantized(x, y, codes, q, result, limit: int) -> None:
    code_width = (q.element_format.bits + 3) // 4
    table = Table(title=f"{result['format']} ({result['rounding']}, {result['overflow']})", header_style="bold")
    for col in ("#", "input", "code", "dequantized", "error"):
        table.add_column(col, justify="right")
    for i in range(min(limit, x.size)):
        table.add_row(str(i), f"{x[i]:.8g}", f"0x{int(codes[i]):0{code_width}X}", f"{y[i]:.8g}",
                      f"{float(y[i]) - float(x[i]):.3g}")
    console.print(table)
    if x.size > limit:
        console.print(f"... {x.size - limit} more (use --limit or --json)")
    if result["scales"] is not None:
        shown = ", ".join(f"{s:.6g}" for s in result["scales"][:8])
        more = " ..." if len(result["scales"]) > 8 else ""
        console.print(f"scales: {shown}{more}")
    if result["tensor_scale"] is not None:
        console.print(f"tensor scale s_enc: {result['tensor_scale']:.8g}")
    m = result["metrics"]
    if m:
        console.print(f"SQNR {m['sqnr_db']:.2f} dB, relative error {m['relative_error']:.4g}, "
                      f"max |error| {m['max_abs_error']:.4g}, {result['bytes']} bytes")


@numerics_app.command("tradeoff")
def tradeoff(
    model: Annotated[str, typer.Argument(help="Model preset id or config.json.")],
    hw: Annotated[str, typer.Option("--hw", help="Preset id or spec file.")],
    tp: Annotated[int, typer.Option(help="Tensor-parallel devices.")] = 1,
    batch: Annotated[int, typer.Option(help="Sequences per batch.")] = 1,
    input_len: Annotated[int, typer.Option(help="Prompt tokens.")] = 2048,
    output_len: Annotated[int, typer.Option(help="Generated tokens.")] = 256,
    level: Annotated[str, typer.Option(help="Performance level.")] = "analytical",
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Accuracy (GEMM error at the model's hidden size) and estimated serving speed per number format."""
    from ..llm.tradeoff import format_tradeoff
    from ..workload.llm_graph import Parallelism
    from ..workload.model_config import load_model
    from .errors import check_level, naming_arguments, require_positive

    require_positive(tp=tp, batch=batch, input_len=input_len, output_len=output_len)
    check_level(level)  # before the accuracy study's seconds of work
    with naming_arguments(("tp", "batch", "input_len", "output_len", "level")):  # `tp=3: ...` -> `--tp=3: ...`
        Parallelism(tp=tp).check(load_model(model))  # a tp that does not divide the heads failed after 3 s
        rows = format_tradeoff(model, hw, tp=tp, batch=batch, input_len=input_len, output_len=output_len,
                               level=level)
    if as_json:
        print(_dumps(rows))
        return
    table = Table(title=escape(f"{model} on {tp} x {hw}: accuracy vs speed per format ({level})"),
                  header_style="bold")
    for col in ("format", "priced as", "GEMM rel. error", "SQNR dB", "TTFT", "TPOT", "tokens/s", "weights/dev"):
        table.add_column(col, justify="left" if col in ("format", "priced as") else "right")
    for r in rows:
        speed = ([f"{r['ttft_s'] * 1e3:.1f} ms", f"{r['tpot_s'] * 1e3:.2f} ms", f"{r['output_tokens_per_s']:,.0f}",
                  f"{r['weights_bytes_per_device'] / 1e9:.1f} GB"] if r["fits"] else ["does not fit", "", "", ""])
        table.add_row(r["format"], str(r["priced_as"]), f"{r['gemm_relative_error']:.2%}", f"{r['gemm_sqnr_db']:.1f}",
                      *speed)
    Console().print(table)


study_app = typer.Typer(help="Accuracy studies: GEMM error vs format and K, perplexity of a small LM per format.",
                        no_args_is_help=True)
numerics_app.add_typer(study_app, name="study")


MAX_STUDY_K = 1 << 20  # K of the study's 32 x K x 32 GEMM: 32 Mi operand elements per format at most


def _study_ks(text: str) -> list[int]:
    try:
        ks = [int(x) for x in text.split(",")]
    except ValueError:
        raise ValueError(f"--k: expected comma-separated whole numbers like 256,1024 (got {text[:40]!r})") from None
    for kk in ks:
        if not 1 <= kk <= MAX_STUDY_K:
            raise ValueError(f"--k: each K must be between 1 and {MAX_STUDY_K:,} (got {str(kk)[:20]})")
    refuse_repeats("--k", ks)
    return ks


@study_app.command("gemm")
@_user_errors
def study_gemm(
    formats: Annotated[str, typer.Option(help="Comma-separated formats.")] = "bf16,fp8_e4m3,mxfp8_e4m3,mxfp6_e3m2,"
                                                                              "mxfp4,nvfp4",
    k: Annotated[str, typer.Option(help="Comma-separated reduction lengths.")] = "256,1024,4096",
    seed: Annotated[int, typer.Option(help="Operand seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """GEMM relative error and SQNR per format and K (standard-normal operands, exact accumulation)."""
    from ..numerics import get_format
    from ..numerics.studies import gemm_error_vs_format

    names = [f.strip() for f in formats.split(",") if f.strip()]
    for name in names or [formats]:
        try:
            get_format(name)
        except ValueError as exc:
            raise ValueError(f"--formats: {str(exc).removeprefix('fmt: ')}") from None
    refuse_repeats("--formats", names)
    if seed < 0:
        raise ValueError(f"--seed: must be >= 0 (got {seed})")
    records = [r for kk in _study_ks(k) for r in gemm_error_vs_format(names, k=kk, seed=seed)]
    if as_json:
        print(_dumps(records))
        return
    table = Table(title="GEMM error vs format and K", header_style="bold")
    for col in ("format", "K", "relative error", "SQNR dB"):
        table.add_column(col, justify="left" if col == "format" else "right")
    for r in records:
        table.add_row(str(r["format"]), str(r["k"]), f"{r['relative_error']:.3%}", f"{r['sqnr_db']:.1f}")
    Console().print(table)


# TinyGPT steps: ~100x the documented 300, already hours on a CPU; more is a typo, not a study
MAX_LM_STEPS = 30_000


@study_app.command("lm")
@_user_errors
def study_lm(
    steps: Annotated[int, typer.Option(help="Training steps of the TinyGPT (the docs use 300).")] = 300,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
) -> None:
    """Train a byte-level TinyGPT on the Python standard library and print perplexity per format (Markdown)."""
    if steps < 1:
        raise ValueError(f"--steps: must be >= 1 (got {steps})")
    if seed < 0:  # was reported as a --steps problem
        raise ValueError(f"--seed: must be >= 0 (got {seed})")
    if steps > MAX_LM_STEPS:  # 10**15 steps was accepted and ran without end
        raise ValueError(f"--steps: at most {MAX_LM_STEPS:,} (the docs use 300; got {steps:,})")
    from ..numerics import lm_study  # torch: a second to import, after the checks

    lm_study.main(steps=steps, seed=seed)
