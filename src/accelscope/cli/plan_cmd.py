"""`accelscope llm plan`: the best software mapping of a model on a cluster, for training or serving."""

from __future__ import annotations

import json
import math
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..hardware.units import format_quantity as fq
from .app_options import HwOpt, JsonOpt, SetOpt, spec_from
from .errors import (
    check_level,
    naming_arguments,
    refuse_given,
    refuse_repeats,
    require_positive,
)
from .llm_cmd import ModelArg, _check_attention_kernel, llm_app

console = Console()


@llm_app.command("plan")
def llm_plan(
    model: ModelArg, hw: HwOpt,
    devices: Annotated[int, typer.Option(help="Devices in the cluster (the scale-up domain comes from the spec).")],
    serve_goal: Annotated[bool, typer.Option("--serve/--train", help="Plan serving instead of training.")] = False,
    top: Annotated[int, typer.Option(help="Layouts to show, best first.")] = 5,
    seq_len: Annotated[int, typer.Option(help="Training: tokens per sequence.")] = 4096,
    global_batch: Annotated[int, typer.Option(help="Training: sequences per optimizer step.")] = 1024,
    dtype: Annotated[str, typer.Option(
        help="Training: matmul dtype (bf16, fp8_e4m3, mxfp8), or several comma-separated to search them")] = "bf16",
    tp: Annotated[int | None, typer.Option(help="Pin tensor parallelism instead of searching it.")] = None,
    pp: Annotated[int | None, typer.Option(help="Pin pipeline stages instead of searching them.")] = None,
    input_len: Annotated[int, typer.Option(help="Serving: prompt tokens.")] = 2048,
    output_len: Annotated[int, typer.Option(help="Serving: output tokens.")] = 256,
    dtypes: Annotated[str, typer.Option(help="Serving: weight dtypes to try, comma-separated.")] = "bf16",
    kv_dtypes: Annotated[str, typer.Option(help="Serving: KV-cache dtypes to try, comma-separated.")] = "bf16",
    slo_tpot: Annotated[float | None, typer.Option(help="Serving: TPOT limit in milliseconds.")] = None,
    slo_ttft: Annotated[float | None, typer.Option(help="Serving: TTFT limit in milliseconds.")] = None,
    simulate: Annotated[bool, typer.Option(
        "--simulate/--no-simulate",
        help="Serving: rate each layout by its capacity, the highest request rate whose percentile TTFT / TPOT meet "
             "the SLOs in the request-level simulation of the whole cluster (continuous batching), instead of the "
             "largest static batch within them; needs --slo-tpot and/or --slo-ttft.")] = False,
    disaggregated: Annotated[bool, typer.Option(
        "--disaggregated/--colocated-only",
        help="Serving, with --simulate: also try every split of the replicas into prefill and decode pools.")] = False,
    requests: Annotated[int, typer.Option(help="Serving, with --simulate: requests per simulation.")] = 300,
    percentile: Annotated[int, typer.Option(help="Serving, with --simulate: SLO percentile, 50 | 90 | 99.")] = 99,
    optimizer: Annotated[str | None, typer.Option(
        help="Training: adam (default) | sgd | muon (Megatron's Muon: ZeRO 0 or 1 layouts only)")] = None,
    muon_sharding: Annotated[str | None, typer.Option(
        help="Training, with --optimizer muon: balanced (default) | ping_pong")] = None,
    optimizer_instances: Annotated[int | None, typer.Option(
        help="Training: distributed-optimizer copies across data parallelism (ZeRO 1 layouts whose dp x cp "
             "they divide)")] = None,
    fp8_recipe: Annotated[str | None, typer.Option(
        help="Training, with an 8-bit --dtype: tensorwise | rowwise | mxfp8 | blockwise | delayed")] = None,
    tp_overlap: Annotated[bool | None, typer.Option(
        "--tp-overlap/--no-tp-overlap", help="Training: TP communication overlapped with the GEMMs (default off)")
    ] = None,
    attention: Annotated[str | None, typer.Option(
        help="Training: the attention kernel, fa2 | fa3 | math | triton (default: the best for the chip)")] = None,
    elementwise: Annotated[str | None, typer.Option(
        help="Training: fused (default: TE, torch.compile) | eager (PyTorch eager)")] = None,
    cross_entropy: Annotated[str | None, typer.Option(help="Training: fp32 (default) | fused")] = None,
    balance_pipeline: Annotated[bool, typer.Option(
        "--balance-pipeline/--even-pipeline",
        help="Training: give each top layout with pp > 1 the fastest uneven layer split that fits "
             "(Megatron's first / last stage layer counts).")] = False,
    sets: SetOpt = None, level: Annotated[str, typer.Option("--level", help="roofline | analytical | sim")]
    = "analytical", as_json: JsonOpt = False,
) -> None:
    """Search TP/PP/CP/EP/ZeRO/micro-batch/recompute (training) or TP/PP/dtypes/batch (serving): top layouts."""
    from ..llm.plan import plan

    for option, value in (("--slo-tpot", slo_tpot), ("--slo-ttft", slo_ttft)):
        if value is not None and not (value > 0):  # (finite: checked as parsed) a 0 or -5 pruned every layout
            raise ValueError(f"{option}: expected a positive time in milliseconds (got {value})")
    check_level(level)
    options = {k: v for k, v in (("optimizer", optimizer), ("muon_sharding", muon_sharding),
                                 ("optimizer_instances", optimizer_instances), ("fp8_recipe", fp8_recipe),
                                 ("tp_overlap", tp_overlap), ("attention", attention), ("elementwise", elementwise),
                                 ("cross_entropy", cross_entropy)) if v is not None}
    if serve_goal:  # the other mode's options were accepted and ignored
        refuse_given(("seq_len", "global_batch", "dtype", "balance_pipeline", *options), "a training option; with "
                     "--serve give --input-len, --output-len, --dtypes")
    else:
        refuse_given(("input_len", "output_len", "dtypes", "kv_dtypes", "slo_tpot", "slo_ttft", "simulate",
                      "disaggregated", "requests", "percentile"), "a serving option; add --serve")
    if not simulate:  # accepted and ignored: the static plan runs no simulation
        refuse_given(("disaggregated", "requests", "percentile"), "an option of the simulated plan; add --simulate")
    elif slo_tpot is None and slo_ttft is None:
        raise ValueError("--simulate: the capacity is the highest request rate within the latency SLOs; give "
                         "--slo-tpot and/or --slo-ttft (milliseconds)")
    require_positive(tp=tp, pp=pp)  # the search's own check printed the pinned tuple: "(got (0,))"
    _check_pins_divide(devices, tp, pp)
    dtypes_trained = _names(dtype, "--dtype")
    spec = spec_from(hw, sets)
    _check_attention_kernel("--attention", attention, spec)
    _warn_plan_context(model, serve_goal, seq_len, input_len, output_len)
    pins = {k: v for k, v in (("tp", tp), ("pp", pp)) if v is not None}
    if serve_goal:
        workload = {"input_len": input_len, "output_len": output_len, "dtypes": _names(dtypes, "--dtypes"),
                    "kv_dtypes": _names(kv_dtypes, "--kv-dtypes"),
                    "slo_tpot": None if slo_tpot is None else slo_tpot / 1e3,
                    "slo_ttft": None if slo_ttft is None else slo_ttft / 1e3, **pins}
        if simulate:
            workload.update(simulate=True, requests=requests, percentile=percentile,
                            schedulers=("vllm", "disaggregated") if disaggregated else ("vllm",))
    else:
        if muon_sharding is not None and optimizer != "muon":  # accepted and ignored: only Muon deals tensors
            refuse_given(("muon_sharding",), "how Muon's layer-wise distributed optimizer deals tensors; applies "
                                             "with --optimizer muon")
        workload = {"seq_len": seq_len, "global_batch": global_batch, **pins, **options,
                    "dtype": dtypes_trained if len(dtypes_trained) > 1 else dtypes_trained[0]}
    with naming_arguments(("devices", "top", "seq_len", "global_batch", "dtype", "tp", "pp", "input_len",
                           "output_len", "requests", "percentile", "simulate", *options)):
        result = plan(model, spec, devices=devices, goal="serve" if serve_goal else "train", top=top, level=level,
                      balance_pipeline=balance_pipeline, **workload)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    console.print(f"[bold]{escape(result.model)}[/] on {devices:,} x [bold]{escape(spec.name)}[/], "
                  f"{'serving' if serve_goal else 'training'} — {level}: {result.estimated:,} layouts estimated of "
                  f"{result.candidates:,} ({result.search_s:.1f} s)"
                  + (f"; every layout with {escape(_options_text(result.options))}" if result.options else ""))
    shared, varying = _layout_columns([c.layout for c in result.configs])
    if shared:  # what every shown layout has in common, said once above the table
        console.print("every layout shown: " + escape(" ".join(f"{k}={v}" for k, v in shared.items())))
    table = Table(header_style="bold")
    metric_keys = list(result.configs[0].metrics)
    table.add_column("#", justify="right")
    table.add_column("layout", overflow="fold")
    for key in metric_keys:
        table.add_column(_header(key), justify="right")
    for rank, config in enumerate(result.configs, start=1):
        layout = " ".join(f"{k}={config.layout[k]}" for k in varying if k in config.layout) or "(above)"
        table.add_row(str(rank), escape(layout), *(_value(k, config.metrics[k]) for k in metric_keys))
    console.print(table)
    console.print(f"why the best: {escape(result.why)}")
    if result.pruned:
        console.print("pruned: " + ", ".join(f"{n:,} ({escape(reason)})" for reason, n in result.pruned.items()))


def _layout_columns(layouts: list[dict]) -> tuple[dict, list[str]]:
    """(the fields every layout has with one value, the fields that differ or some lack), in the layouts' order:
    a table of ten layouts then shows what tells them apart (a simulated serving plan's layouts carry ten
    fields)."""
    keys = list(dict.fromkeys(k for layout in layouts for k in layout))
    shared = {k: layouts[0][k] for k in keys
              if len(layouts) > 1 and all(k in layout and layout[k] == layouts[0][k] for layout in layouts)}
    return shared, [k for k in keys if k not in shared]


def _options_text(options: dict) -> str:
    return ", ".join(f"--{k.replace('_', '-')} {v}" if not isinstance(v, bool) else
                     f"--{'' if v else 'no-'}{k.replace('_', '-')}" for k, v in options.items())


def _warn_plan_context(model: str, serve_goal: bool, seq_len: int, input_len: int, output_len: int) -> None:
    """A context beyond the model's positions, as `llm train` / `llm infer` warn about (plan said nothing)."""
    from ..workload.model_config import load_model
    from .llm_cmd import _warn_context

    tokens, option = (input_len + output_len, "--input-len + --output-len") if serve_goal else (seq_len, "--seq-len")
    if tokens >= 1:
        _warn_context(load_model(model), tokens, option)


def _check_pins_divide(devices: int, tp: int | None, pp: int | None) -> None:
    """Pinned --tp / --pp that cannot tile --devices: the search pruned every candidate and said "no layout works"
    without naming the option."""
    pinned = [(option, value) for option, value in (("--tp", tp), ("--pp", pp)) if value is not None]
    size = math.prod(value for _, value in pinned)
    if pinned and devices >= 1 and devices % size:
        given = " x ".join(f"{option} {value}" for option, value in pinned)
        raise ValueError(f"{given}{f' = {size}' if len(pinned) > 1 else ''}: does not divide --devices {devices:,}; "
                         "pin values whose product divides the device count (or leave them to the search)")


def _names(text: str, option: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise ValueError(f"{option}: expected one or more dtypes, comma-separated (got {text!r})")
    from ..hardware.dtypes import check_dtype_names

    check_dtype_names(names, option)
    refuse_repeats(option, names)
    return names


def _header(key: str) -> str:
    return {"tokens_per_s_per_device": "tokens/s/device", "step_s": "step (s)", "mfu": "MFU",
            "memory_per_device_bytes": "memory/device (GB)", "output_tokens_per_s": "output tokens/s",
            "tpot_s": "TPOT (ms)", "ttft_s": "TTFT (ms)", "micro_batch": "micro-batch", "requests_per_s": "requests/s",
            "requests_per_s_per_device": "requests/s/device"}.get(key, key)


def _value(key: str, value: float) -> str:
    if key == "mfu":
        return f"{value:.1%}"
    if key == "memory_per_device_bytes":
        return f"{value / 1e9:,.1f}"
    if key in ("tpot_s", "ttft_s"):
        return f"{value * 1e3:,.1f}"
    if key == "step_s":
        return f"{value:,.2f}"
    if key.startswith("requests_per_s"):  # a rate, not a time
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,.0f}" if abs(value) >= 100 else fq(value, "time") if key.endswith("_s") else f"{value:,.2f}"
