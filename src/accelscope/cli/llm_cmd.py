"""`accelscope llm infer|train|show|list`."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..hardware.units import format_quantity as fq
from .app_options import HwOpt, JsonOpt, LevelOpt, SetOpt, named, spec_from
from .errors import MAX_INT, check_dtypes, naming_arguments, refuse_given, require_positive, short

llm_app = typer.Typer(help="LLM serving and training estimates.", no_args_is_help=True)
console = Console()
ModelArg = Annotated[str, typer.Argument(help="Model preset id (accelscope llm list), a config.json or its folder.")]


@llm_app.command("list")
def llm_list(as_json: JsonOpt = False) -> None:
    """Model presets with their size."""
    from ..workload.model_config import list_models, load_model

    models = [load_model(name) for name in list_models()]
    if as_json:
        print(json.dumps([{"id": m.name, "family": m.family, "params": m.params(),
                           "active_params": m.params(active=True)} for m in models], indent=2))
        return
    wide = console.width >= 96  # the family column only where it fits: ids are never cut
    table = Table(title="Model presets (parameters in billions)", header_style="bold", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    table.add_column("id", no_wrap=True)
    columns = ["family"] * wide + ["layers", "hidden", "attention", "experts", "params", "active"]
    for col in columns:
        table.add_column(col, justify="left" if col in ("family", "attention") else "right", no_wrap=True)
    for m in models:
        experts = f"{m.moe.experts} top {m.moe.top_k}" if m.moe else "—"
        table.add_row(escape(m.name), *[m.family] * wide, str(m.layers), f"{m.hidden:,}",
                      f"{m.attention_kind} {m.heads}/{m.kv_heads}", experts, f"{m.params() / 1e9:.1f}",
                      f"{m.params(active=True) / 1e9:.1f}")
    console.print(table)


@llm_app.command("show")
def llm_show(model: ModelArg, as_json: JsonOpt = False) -> None:
    """Architecture, parameters, FLOPs per token and KV-cache size."""
    from ..workload.model_config import load_model

    m = load_model(model)
    facts = {
        "family": m.family, "layers": m.layers, "hidden": m.hidden, "heads": m.heads, "kv_heads": m.kv_heads,
        "head_dim": m.head_dim, "attention": m.attention_kind, "mlp": m.mlp, "intermediate": m.intermediate,
        "vocab": m.vocab, "params": m.params(), "active_params": m.params(active=True),
        # forward FLOPs per token ~ 2 x active non-embedding params (attention over the context comes on top)
        "forward_flops_per_token": 2 * (m.params(active=True) - m.vocab * m.hidden),
        "kv_cache_bytes_per_token_bf16": m.kv_bytes_per_token(2),
        "weights_bytes_bf16": 2 * m.params(),
    }
    if m.moe:
        facts.update(experts=m.moe.experts, top_k=m.moe.top_k, shared_experts=m.moe.shared_experts,
                     moe_layers=m.moe_layers)
    if m.sliding_window:
        facts.update(sliding_window=m.sliding_window, sliding_layers=m.sliding_layers)
    if as_json:
        print(json.dumps({"model": m.name, "source": m.source, **facts}, indent=2))
        return
    table = Table(title=escape(f"{m.name} ({m.source})"), header_style="bold")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in facts.items():
        if key.endswith("params"):
            value = f"{value / 1e9:.2f} B"
        elif key.startswith("weights_bytes"):
            value = f"{value / 1e9:.2f} GB"
        elif key.startswith("kv_cache"):
            value = f"{value / 1e6:.3g} MB"
        elif key.endswith("flops_per_token"):
            value = f"{value / 1e9:.1f} GFLOP"
        table.add_row(key.replace("_", " "), escape(str(value)))
    console.print(table)


@llm_app.command("infer")
def llm_infer(
    model: ModelArg, hw: HwOpt,
    tp: Annotated[int, typer.Option(help="Tensor-parallel devices.")] = 1,
    pp: Annotated[int, typer.Option(help="Pipeline stages.")] = 1,
    ep: Annotated[int, typer.Option(help="Expert-parallel ways (inside the TP group).")] = 1,
    batch: Annotated[str, typer.Option(help="Sequences per batch, or 'max' for the largest that fits.")] = "1",
    input_len: Annotated[int, typer.Option(help="Prompt tokens.")] = 2048,
    output_len: Annotated[int, typer.Option(help="Generated tokens.")] = 256,
    dtype: Annotated[str, typer.Option(help="Weights/matmul dtype: bf16, fp8_e4m3, int4 (W4A16), int4_g128 (with group scales), nvfp4, ...")] = "bf16",
    kv_dtype: Annotated[str, typer.Option(help="KV-cache dtype.")] = "bf16",
    moe_imbalance: Annotated[float | None, typer.Option(help="Busiest expert's tokens / mean (>= 1).")] = None,
    allreduce: Annotated[str, typer.Option(help="TP all-reduce: custom (vLLM/TRT-LLM peer-memory kernels) or "
                                                "library (NCCL).")] = "custom",
    decode_attention: Annotated[str | None, typer.Option(
        help="Decode attention kernel: fa2 | fa3 | mmha (TensorRT-LLM <= 0.7's masked MHA) | math (unfused, as "
             "gpt-fast compiles it); default: the best "
             "for the chip (analytical level).")] = None,
    cuda_graphs: Annotated[bool, typer.Option(
        "--cuda-graphs/--eager",
        help="--eager: the engine enqueues every kernel from the host (no CUDA graphs, e.g. TensorRT-LLM's "
             "gptSession by default): each pass takes max(GPU, kernels x runtime.host_op_latency).")] = True,
    sets: SetOpt = None, level: LevelOpt = "roofline", as_json: JsonOpt = False,
) -> None:
    """Serving: TTFT, TPOT, tokens/s and memory per device."""
    from ..llm import infer
    from ..workload.model_config import load_model

    size: int | str = "max" if batch == "max" else _int(batch, "--batch")
    require_positive(tp=tp, pp=pp, ep=ep, input_len=input_len, output_len=output_len,
                     batch=size if isinstance(size, int) else None)
    check_dtypes(dtype=dtype, kv_dtype=kv_dtype)
    if moe_imbalance is not None:
        _check_imbalance(load_model(model), moe_imbalance)
    if tp == 1 and allreduce == "library":  # accepted and ignored: one device has no tensor-parallel all-reduce
        refuse_given(("allreduce",), "the TP all-reduce implementation; applies with --tp 2 or more")
    spec = spec_from(hw, sets)
    _check_attention_kernel("--decode-attention", decode_attention, spec)
    _warn_context(load_model(model), input_len + output_len, "--input-len + --output-len")
    with naming_arguments(INFER_OPTIONS):
        r = infer(model, spec, tp=tp, pp=pp, ep=ep, batch=size, input_len=input_len, output_len=output_len,
                  dtype=dtype, kv_dtype=kv_dtype, level=level, moe_imbalance=moe_imbalance, allreduce=allreduce,
                  decode_attention=decode_attention, cuda_graphs=cuda_graphs)
    if as_json:
        print(json.dumps(named(r.to_dict(), spec), indent=2))
        return
    console.print(f"[bold]{escape(r.model)}[/] on {r.devices} x [bold]{escape(spec.name)}[/] ({escape(spec.label)}, tp={tp} pp={pp} ep={ep}), "
                  f"batch {r.batch}, {input_len} in / {output_len} out, {dtype} weights, {kv_dtype} KV — {level}")
    rows = [("time to first token", fq(r.ttft_s, "time"), r.prefill.bound),
            ("time per output token", fq(r.tpot_s, "time"), r.decode.bound),
            ("end-to-end latency", fq(r.e2e_latency_s, "time"), ""),
            ("output tokens/s (replica)", f"{r.output_tokens_per_s:,.0f}", ""),
            ("decode tokens/s (replica)", f"{r.decode_tokens_per_s:,.0f}", "")]
    console.print(_metric_table([*rows, *_memory_rows(r.memory.to_dict(), extra="")], ("metric", "value", "bound by")))
    _print_notes(r.notes)


@llm_app.command("train")
def llm_train(
    model: ModelArg, hw: HwOpt,
    tp: Annotated[int, typer.Option(help="Tensor-parallel devices.")] = 1,
    pp: Annotated[int, typer.Option(help="Pipeline stages.")] = 1,
    dp: Annotated[int, typer.Option(help="Data-parallel replicas.")] = 1,
    cp: Annotated[int, typer.Option(help="Context-parallel ways (the sequence split across devices).")] = 1,
    ep: Annotated[int, typer.Option(help="Expert-parallel ways (MoE).")] = 1,
    vpp: Annotated[int, typer.Option(help="Interleaved virtual stages per device.")] = 1,
    zero: Annotated[int, typer.Option(help="ZeRO stage 0-3 (3 = FSDP).")] = 1,
    seq_len: Annotated[int, typer.Option(help="Tokens per training sequence.")] = 4096,
    global_batch: Annotated[int, typer.Option(help="Sequences per optimizer step.")] = 1024,
    micro_batch: Annotated[int, typer.Option(help="Sequences per micro-batch (per pipeline step).")] = 1,
    dtype: Annotated[str, typer.Option(help="Matmul dtype: bf16, or fp8_e4m3 for FP8 linears.")] = "bf16",
    recompute: Annotated[str, typer.Option(help="none | selective | full | op_sac (torchtitan per-op)")] = "selective",
    etp: Annotated[int | None, typer.Option(help="Expert tensor-parallel size (default tp / ep).")] = None,
    tp_overlap: Annotated[bool, typer.Option("--tp-overlap/--no-tp-overlap",
                                             help="TP communication overlapped with GEMMs.")] = False,
    elementwise: Annotated[str, typer.Option(help="fused (TE, torch.compile) | eager (PyTorch eager)")] = "fused",
    check_memory: Annotated[bool, typer.Option(
        "--check-memory/--no-check-memory", help="Refuse a configuration whose memory per device does not fit.")] = True,
    attention: Annotated[str | None, typer.Option(
        help="Attention kernel: fa2 | fa3 | math (unfused, pre-FlashAttention frameworks) | triton (MPT's Triton "
             "FlashAttention); default: the best for "
             "the chip (analytical level).")] = None,
    megatron: Annotated[bool, typer.Option(
        "--megatron/--no-megatron",
        help="The step as Megatron-LM runs it: Transformer Engine layers, its loss path and the loss NaN check as "
             "host ops, batched P2P sync without interleaving, one hardware queue (CUDA_DEVICE_MAX_CONNECTIONS=1).")
    ] = False,
    host_op_us: Annotated[float | None, typer.Option(
        help="Framework host time per op on this system, in us, taken as is (default: the chip's "
             "runtime.host_op_latency, else the fitted time of the reference host core over runtime.host_speed; "
             "0: no host bound).")] = None,
    moe_aux_loss: Annotated[bool, typer.Option(
        "--moe-aux-loss/--no-moe-aux-loss", help="MoE router computes a load-balancing loss (host ops).")] = True,
    optimizer: Annotated[str, typer.Option(
        help="adam (mixed precision, fp32 states) | sgd (in the model's dtype) | muon (Megatron's Muon: Newton-Schulz "
             "on the hidden matrices, Adam on the rest; --zero 0 or 1)")] = "adam",
    muon_sharding: Annotated[str, typer.Option(
        help="With --optimizer muon --zero 1: how the layer-wise optimizer deals whole tensors to data-parallel "
             "ranks: balanced (its param layout) | ping_pong (--no-use-layer-wise-param-layout)")] = "balanced",
    grouped_gemm: Annotated[str, typer.Option(
        help="MoE experts' grouped GEMM kernel: searched (best tile) | torch (PyTorch's library kernels)")
    ] = "searched",
    cross_entropy: Annotated[str, typer.Option(help="Loss over the vocabulary: fp32 | fused (see train())")] = "fp32",
    fp8_recipe: Annotated[str | None, typer.Option(
        help="FP8 scaling recipe with an 8-bit --dtype (default: tensorwise; mxfp8 for MX dtypes)")] = None,
    pipeline_split: Annotated[str | None, typer.Option(
        help="Decoder layers per pipeline stage where not even: counts per stage or per virtual stage "
             "('7,9,9,7'), a Megatron Core layout ('Et*3|(tt|)*6mL', its stages set --vpp), or 'balanced' (the "
             "fastest first / last stage counts)")] = None,
    mtp_layers: Annotated[int, typer.Option(
        help="Multi-token-prediction layers on the last stage (DeepSeek-V3's MTP, Megatron --mtp-num-layers)")] = 0,
    optimizer_instances: Annotated[int, typer.Option(
        help="With --zero 1: copies of the distributed optimizer across data parallelism, each sharding over "
             "dp / n ranks (Megatron --num-distributed-optimizer-instances)")] = 1,
    defer_embedding_wgrad: Annotated[int | None, typer.Option(
        help="With --pp 2+: defer the output layer's weight gradient into the pipeline drain, keeping its operands "
             "for up to N micro-batches (0: all; Megatron --defer-embedding-wgrad-compute "
             "--wgrad-deferral-limit N)")] = None,
    sets: SetOpt = None, level: LevelOpt = "roofline", as_json: JsonOpt = False,
) -> None:
    """Training: step time, tokens/s/device, MFU, memory and the time breakdown."""
    _check_train_options(tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp, zero=zero, seq_len=seq_len,
                         global_batch=global_batch, micro_batch=micro_batch)
    check_dtypes(dtype=dtype)
    _check_fp8_recipe(fp8_recipe, dtype)
    if vpp > 1 and pp == 1:  # accepted and ignored: the interleaved bubble (pp - 1) / vpp is 0 either way; `plan`
        # prunes the same layouts ("vpp without enough layers per stage")
        raise ValueError(f"--vpp {vpp}: interleaved virtual stages need --pp 2 or more (with --pp 1 there is no "
                         "pipeline to interleave)")
    if host_op_us is not None and not 0 <= host_op_us < 1e6:  # train() takes under 1 s per op
        raise ValueError(f"--host-op-us: expected microseconds per op from 0 to under 1,000,000, e.g. 90 "
                         f"(got {host_op_us:g})")
    from ..llm import train
    from ..workload.model_config import load_model

    if optimizer != "muon" or zero != 1:  # accepted and ignored: only the layer-wise distributed Muon deals tensors
        refuse_given(("muon_sharding",), "how Muon's layer-wise distributed optimizer deals tensors; applies with "
                                         "--optimizer muon --zero 1")
    if tp == 1 and tp_overlap:  # accepted and ignored: one device has no tensor-parallel communication to overlap
        refuse_given(("tp_overlap",), "overlaps tensor-parallel communication; applies with --tp 2 or more")
    spec = spec_from(hw, sets)
    _check_attention_kernel("--attention", attention, spec)
    config = load_model(model)
    if config.moe is None:  # accepted and ignored on a dense model: there are no experts to shard or balance
        refuse_given(("etp", "moe_aux_loss"), f"{config.name} has no experts (a MoE option); drop it")
    if seq_len >= 1:
        _warn_context(config, seq_len, "--seq-len")
    with naming_arguments(TRAIN_OPTIONS):
        r = train(model, spec, tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp, zero=zero, seq_len=seq_len,
                  global_batch=global_batch, micro_batch=micro_batch, dtype=dtype, recompute=recompute, level=level,
                  check_memory=check_memory, attention=attention, etp=etp, tp_overlap=tp_overlap,
                  elementwise=elementwise, moe_aux_loss=moe_aux_loss, optimizer=optimizer,
                  muon_sharding=muon_sharding, grouped_gemm=grouped_gemm, cross_entropy=cross_entropy,
                  fp8_recipe=fp8_recipe,
                  host_op_latency=None if host_op_us is None else host_op_us * 1e-6,
                  pipeline_split=_split_option(pipeline_split), mtp_layers=mtp_layers,
                  optimizer_instances=optimizer_instances, defer_embedding_wgrad=defer_embedding_wgrad,
                  **_megatron_runtime(megatron, pp, vpp))
    if as_json:
        print(json.dumps(named(r.to_dict(), spec), indent=2))
        return
    console.print(f"[bold]{escape(r.model)}[/] on {r.devices:,} x [bold]{escape(spec.name)}[/] ({escape(spec.label)}, tp={tp} pp={pp} dp={dp} cp={cp} "
                  f"ep={ep} vpp={r.vpp} zero={zero}), seq {seq_len}, {global_batch} seqs/step, recompute {recompute}"
                  + (f", layers per stage {'/'.join(map(str, r.stage_layers))}" if pipeline_split or mtp_layers else ""))
    unit, scale = ("s", 1.0) if r.step_s >= 1 else ("ms", 1e3)  # the step and its parts in one unit

    def in_unit(seconds: float) -> str:
        return f"{seconds * scale:,.2f} {unit}"

    rows = [("step time", in_unit(r.step_s)),
            *((f"  {part.replace('_', ' ')}", f"{in_unit(seconds)} ({seconds / r.step_s:.0%})")
              for part, seconds in r.breakdown.items()),
            *((f"    {part.replace('_', ' ')}", f"{fq(seconds, 'time')} ({seconds / r.step_s:.0%})")
              for part, seconds in r.detail.items() if seconds > 0),
            *_stage_rows(r.stage_micro_batch_s),
            ("tokens/s/device", f"{r.tokens_per_s_per_device:,.0f}"),
            ("model TFLOP/s/device", f"{r.model_tflops_per_device:,.0f}"),
            ("MFU", f"{r.mfu:.1%}")]
    memory = {k: v for k, v in r.memory.to_dict().items() if k != "stage" and v}
    console.print(_metric_table([*rows, *_memory_rows(memory)], ("metric", "value")))
    _print_notes(r.notes)


def _stage_rows(stage_s: tuple[float, ...]) -> list[tuple[str, str]]:
    """The pipeline's slowest and fastest rank per micro-batch (it runs at the slowest one's pace), when pp > 1."""
    if len(stage_s) < 2:
        return []
    slow = max(range(len(stage_s)), key=stage_s.__getitem__)
    fast = min(range(len(stage_s)), key=stage_s.__getitem__)
    return [("micro-batch, slowest stage", f"stage {slow}: {fq(stage_s[slow], 'time')}"),
            ("micro-batch, fastest stage", f"stage {fast}: {fq(stage_s[fast], 'time')}")]


def _split_option(text: str | None) -> tuple[int, ...] | str | None:
    """--pipeline-split: comma-separated layer counts as integers, anything else as a Megatron layout string."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else text


def _print_notes(notes: tuple[str, ...]) -> None:
    """The framework's launch rules the layout breaks (llm/refusals.py), one `note:` line each after the table:
    the estimate stands, but Megatron-LM / vLLM would refuse to launch it."""
    for note in notes:
        console.print(f"note: {escape(note)}", soft_wrap=True)  # one line each, whatever the terminal's width


def _megatron_runtime(megatron: bool, pp: int, vpp: int) -> dict[str, bool]:
    """train()'s options for Megatron-LM's runtime (llm.train.megatron_runtime, as measure/training_rows.py maps
    its CI runs), or none."""
    from ..llm.train import megatron_runtime

    return megatron_runtime(pp, vpp) if megatron else {}


def _memory_rows(parts: dict[str, float], extra: str | None = None) -> list[tuple[str, ...]]:
    """memory/device rows, all in GB (one unit for the table's memory; a negative headroom keeps its sign);
    `extra` fills a third column."""
    rows = []
    for part, value in parts.items():
        text = f"{value / 1e9:,.2f} GB"
        rows.append((f"memory/device: {part}", text) if extra is None else (f"memory/device: {part}", text, extra))
    return rows


def _metric_table(rows: list[tuple[str, ...]], columns: tuple[str, ...]) -> Table:
    table = Table(header_style="bold")
    for i, column in enumerate(columns):
        table.add_column(column, justify="right" if i == 1 else "left")
    for row in rows:
        table.add_row(*row)
    return table


# Keyword arguments of infer() / train() that are also options: their errors are reported under the option.
INFER_OPTIONS = ("tp", "pp", "ep", "batch", "input_len", "output_len", "dtype", "kv_dtype", "moe_imbalance",
                 "allreduce", "decode_attention", "level")
TRAIN_OPTIONS = ("tp", "pp", "dp", "cp", "ep", "vpp", "zero", "seq_len", "global_batch", "micro_batch", "dtype",
                 "recompute", "level", "attention", "optimizer", "grouped_gemm", "cross_entropy", "fp8_recipe",
                 "elementwise", "etp", "pipeline_split", "mtp_layers", "muon_sharding", "optimizer_instances",
                 "defer_embedding_wgrad")


def _check_train_options(zero: int, global_batch: int, dp: int, micro_batch: int, **counts: int) -> None:
    """Parallel degrees, lengths and batches >= 1, a ZeRO stage, and a global batch that splits into micro-batches."""
    require_positive(global_batch=global_batch, dp=dp, micro_batch=micro_batch, **counts)
    if zero not in (0, 1, 2, 3):
        raise ValueError(f"--zero: expected a ZeRO stage 0, 1, 2 or 3 (got {zero})")
    if global_batch % (dp * micro_batch):
        raise ValueError(f"--global-batch: {global_batch} sequences do not split into --dp {dp} replicas x "
                         f"--micro-batch {micro_batch}; use a multiple of {dp * micro_batch}")


def _check_fp8_recipe(fp8_recipe: str | None, dtype: str) -> None:
    """A scaling recipe with a bf16 --dtype was accepted and ignored (train() applies it to 8-bit matmuls only)."""
    from ..hardware.dtypes import canonical_dtype
    from ..llm.train import FP8_RECIPES

    # an unknown name is train()'s to refuse, with the list of recipes
    if fp8_recipe in FP8_RECIPES and not canonical_dtype(dtype).startswith(("fp8", "mx")):
        raise ValueError(f"--fp8-recipe: applies to an 8-bit --dtype (fp8_e4m3, mxfp8); --dtype is {dtype}")


def _check_imbalance(config: Any, imbalance: float) -> None:
    """Busiest expert / mean: at least 1 (even routing), at most experts / top_k (the busiest expert gets every
    token, while the mean expert gets top_k / experts of them)."""
    if config.moe is None:
        raise ValueError(f"--moe-imbalance: {config.name} has no experts")
    most = config.moe.experts / config.moe.top_k
    if not 1 <= imbalance <= most:
        raise ValueError(f"--moe-imbalance: must be between 1 (even routing) and experts / top_k = {most:g} (the "
                         f"busiest expert gets every token) for {config.name} (got {imbalance:g})")


def _int(text: str, option: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{option}: expected an integer or 'max' (got {short(text)!r})") from None
    if abs(value) > MAX_INT:
        raise ValueError(f"{option}: {short(value)} is out of range (at most 1e15)")
    return value


def _check_attention_kernel(option: str, variant: str | None, spec: Any) -> None:
    """A kernel the chip cannot run (fa3 needs asynchronous MMAs) was estimated at the roofline, which ignores the
    kernel, and refused at the analytical level as `Attention.variant='fa3'`, naming no option."""
    if variant not in ("fa3", "fa4"):
        return
    from ..perf.analytical.attention import kernel
    from ..workload import ops as ir

    try:
        kernel(ir.Attention(batch=1, heads=1, head_dim=64, q_len=1, kv_len=1, variant=variant), spec)
    except ValueError as exc:
        message = str(exc).replace(f"Attention.variant={variant!r}", f"{option} {variant}")
        raise ValueError(re.sub(r"variant='(\w+)'", r"\1", message)) from None


def _warn_context(config: Any, tokens: int, option: str) -> None:
    """A context beyond the model's positions is estimated as asked, with one `warning:` line saying so."""
    limit = getattr(config, "max_position", None)
    if isinstance(limit, int) and tokens > limit:
        from rich.console import Console

        Console(stderr=True).print(
            f"[yellow]warning:[/] {option}: {tokens:,} tokens exceed {escape(config.name)}'s "
            f"max_position_embeddings = {limit:,}; estimated as if the model attended that far", highlight=False,
            soft_wrap=True)
