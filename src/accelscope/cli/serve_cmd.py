"""`accelscope llm serve` (request-level simulation) and `accelscope llm capacity` (highest rate within SLOs)."""

from __future__ import annotations

import json
import math
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .app_options import HwOpt, JsonOpt, LevelOpt, SetOpt, spec_from
from .errors import check_dtypes, naming_arguments, refuse_given
from .llm_cmd import ModelArg, llm_app

console = Console()

TpOpt = Annotated[int, typer.Option(help="Tensor-parallel devices per replica.")]
PpOpt = Annotated[int, typer.Option(help="Pipeline stages per replica.")]
EpOpt = Annotated[int, typer.Option(help="Expert-parallel ways (inside the TP group).")]
InputOpt = Annotated[str, typer.Option(help="Prompt tokens: a count, uniform:LO:HI or exp:MEAN.")]
OutputOpt = Annotated[str, typer.Option(help="Output tokens: a count, uniform:LO:HI or exp:MEAN.")]
RequestsOpt = Annotated[int, typer.Option(help="Requests to simulate.")]
# keyword arguments of serve() and capacity() that are options of the same name: their errors name the option
SERVE_OPTIONS = ("requests", "tp", "pp", "ep", "input_len", "output_len", "arrival", "cv", "seed", "scheduler",
                 "max_batched_tokens", "max_seqs", "batch", "replicas", "prefill_replicas", "decode_replicas",
                 "draft_tokens", "acceptance", "draft_model", "prefix_hit_rate", "percentile",
                 "max_nodes", "dtype", "kv_dtype", "level", "wide_ep")

SchedulerOpt = Annotated[str, typer.Option(help="vllm | static | disaggregated: continuous batching with chunked "
                                                "prefill (vLLM), static batches, or prefill/decode pools.")]
SloTtftOpt = Annotated[float | None, typer.Option(help="TTFT limit in milliseconds (goodput, capacity).")]
SloTpotOpt = Annotated[float | None, typer.Option(help="TPOT limit in milliseconds (goodput, capacity).")]
DtypeOpt = Annotated[str, typer.Option(help="Weights/matmul dtype: bf16, fp8_e4m3, int4, nvfp4, ...")]
KvDtypeOpt = Annotated[str, typer.Option(help="KV-cache dtype.")]
MaxTokensOpt = Annotated[int, typer.Option(help="Token budget per iteration (vLLM max_num_batched_tokens).")]
MaxSeqsOpt = Annotated[int, typer.Option(help="Sequences per iteration (vLLM max_num_seqs).")]
ArrivalOpt = Annotated[str, typer.Option(help="poisson | gamma (with --cv).")]
CvOpt = Annotated[float, typer.Option(help="Coefficient of variation of inter-arrival gaps (gamma; 1 = Poisson).")]
SeedOpt = Annotated[int, typer.Option(help="Random seed of arrivals and lengths.")]
PlotOpt = Annotated[str | None, typer.Option(help="Write PNG and SVG figures to this folder.")]
CudaGraphsOpt = Annotated[bool, typer.Option("--cuda-graphs/--eager", help="Replay CUDA graphs (default) or run "
                                                                        "eagerly: host time per op "
                                                                        "(runtime.host_op_latency).")]
TpOverlapOpt = Annotated[bool, typer.Option("--tp-overlap", help="Overlap TP collectives with the GEMMs (async TP).")]
WideEpOpt = Annotated[int | None, typer.Option(help="MoE wide expert parallelism: this many attention-DP ranks of one "
                                                    "device, experts spread over them, DeepEP dispatch/combine "
                                                    "(replaces --tp/--ep).")]
DecodeWideEpOpt = Annotated[int | None, typer.Option(help="With --wide-ep and --scheduler disaggregated: the decode "
                                                         "pool's expert group (ranks); default: --wide-ep.")]
TboOpt = Annotated[bool, typer.Option("--tbo", help="Two-batch overlap (with --wide-ep): hide one micro-batch's "
                                                    "dispatch/combine under the other's compute.")]
ImbalanceOpt = Annotated[float, typer.Option(help="With --wide-ep: routed tokens on the busiest rank / the mean.")]
MaxNodesOpt = Annotated[int | None, typer.Option(help="With --wide-ep: nodes a token's experts may span "
                                                      "(DeepSeek-V3: 4).")]


@llm_app.command("serve")
def llm_serve(
    model: ModelArg, hw: HwOpt,
    rate: Annotated[float, typer.Option(help="Requests per second (Poisson or gamma arrivals).")] = 1.0,
    at_once: Annotated[bool, typer.Option("--at-once", help="Queue every request at time 0 (saturated throughput; "
                                                            "replaces --rate).")] = False,
    requests: RequestsOpt = 1000, input_len: InputOpt = "2048", output_len: OutputOpt = "256",
    trace: Annotated[str | None, typer.Option(help="Replay a trace: CSV or JSONL with arrival_s, input_tokens, "
                                                   "output_tokens (replaces --rate/--requests/lengths).")] = None,
    scheduler: SchedulerOpt = "vllm",
    tp: TpOpt = 1, pp: PpOpt = 1, ep: EpOpt = 1,
    replicas: Annotated[int, typer.Option(help="Colocated replicas (requests go round robin).")] = 1,
    prefill_replicas: Annotated[int, typer.Option(help="Prefill pool replicas (--scheduler disaggregated).")] = 1,
    decode_replicas: Annotated[int, typer.Option(help="Decode pool replicas (--scheduler disaggregated).")] = 1,
    batch: Annotated[int | None, typer.Option(help="Static batch size (--scheduler static); default: the largest "
                                                   "that fits, at most --max-seqs.")] = None,
    slo_ttft: SloTtftOpt = None, slo_tpot: SloTpotOpt = None,
    dtype: DtypeOpt = "bf16", kv_dtype: KvDtypeOpt = "bf16",
    max_batched_tokens: MaxTokensOpt = 8192, max_seqs: MaxSeqsOpt = 256,
    arrival: ArrivalOpt = "poisson", cv: CvOpt = 1.0, seed: SeedOpt = 0,
    draft_tokens: Annotated[int, typer.Option(help="Speculative decoding: tokens proposed per step (0 = off).")] = 0,
    acceptance: Annotated[float, typer.Option(help="Speculative decoding: probability each draft is accepted.")]
    = 0.7,
    draft_model: Annotated[str | None, typer.Option(help="Proposer: a model id or config, 'mtp' (one extra layer of "
                                                         "the served model); default: free (n-gram lookup).")] = None,
    prefix_hit_rate: Annotated[float, typer.Option(help="Fraction of each prompt already in the prefix cache.")]
    = 0.0,
    cuda_graphs: CudaGraphsOpt = True, tp_overlap: TpOverlapOpt = False, wide_ep: WideEpOpt = None,
    decode_wide_ep: DecodeWideEpOpt = None,
    tbo: TboOpt = False, expert_imbalance: ImbalanceOpt = 1.0, max_nodes: MaxNodesOpt = None,
    plot: PlotOpt = None,
    sets: SetOpt = None, level: LevelOpt = "roofline", as_json: JsonOpt = False,
) -> None:
    """Request-level serving simulation: latency percentiles, throughput, goodput under SLOs, KV cache use."""
    from ..llm.serving import serve

    check_dtypes(dtype=dtype, kv_dtype=kv_dtype)  # else the attention op's field was named (Attention.kv_dtype)
    _refuse_ignored(scheduler=scheduler, at_once=at_once, trace=trace, draft_tokens=draft_tokens, arrival=arrival,
                    batch=batch, max_seqs=max_seqs)
    if tp == 1 and tp_overlap:  # accepted and ignored: one device has no tensor-parallel communication to overlap
        refuse_given(("tp_overlap",), "overlaps tensor-parallel communication; applies with --tp 2 or more")
    spec = spec_from(hw, sets)
    if trace is None:
        _warn_lengths(model, input_len, output_len)
    with naming_arguments(SERVE_OPTIONS):
        result = serve(model, spec, tp=tp, pp=pp, ep=ep, rate=math.inf if at_once else _rate(rate), requests=requests, input_len=input_len,
                       output_len=output_len, trace=trace, arrival=arrival, cv=cv, seed=seed, scheduler=scheduler,
                       dtype=dtype, kv_dtype=kv_dtype, level=level, max_batched_tokens=max_batched_tokens,
                       max_seqs=max_seqs, batch=batch, replicas=replicas, prefill_replicas=prefill_replicas,
                       decode_replicas=decode_replicas, slo_ttft=_seconds(slo_ttft, "--slo-ttft"),
                       slo_tpot=_seconds(slo_tpot, "--slo-tpot"), draft_tokens=draft_tokens, acceptance=acceptance,
                       draft_model=draft_model, prefix_hit_rate=prefix_hit_rate,
                       **_features(cuda_graphs, tp_overlap, wide_ep, tbo, expert_imbalance, max_nodes, decode_wide_ep))
    figures = _plots(plot, result, "serve")
    if as_json:
        print(json.dumps({**result.to_dict(), "figures": figures}, indent=2))
        return
    console.print(f"[bold]{escape(result.model)}[/] on {result.devices} x [bold]{escape(spec.name)}[/] "
                  f"({result.scheduler}, tp={tp} pp={pp}, {result.replicas} replica(s)), {result.completed:,} "
                  f"requests over {result.duration_s:,.1f} s — {level}")
    table = Table(header_style="bold")
    for column in ("latency", "P50 (ms)", "P90 (ms)", "P99 (ms)", "mean (ms)"):
        table.add_column(column, justify="left" if column == "latency" else "right")
    for label, values in (("time to first token", result.ttft_s), ("time per output token", result.tpot_s),
                          ("end-to-end", result.e2e_s)):
        table.add_row(label, *(f"{values[key] * 1e3:,.1f}" for key in ("p50", "p90", "p99", "mean")))
    console.print(table)
    facts = Table(header_style="bold")
    facts.add_column("metric")
    facts.add_column("value", justify="right")
    for label, value in (("requests/s", f"{result.requests_per_s:,.2f}"),
                         ("goodput (requests/s within SLOs)", f"{result.goodput_requests_per_s:,.2f}"),
                         ("output tokens/s", f"{result.output_tokens_per_s:,.0f}"),
                         ("input tokens/s", f"{result.input_tokens_per_s:,.0f}"),
                         ("KV cache used: mean / max", f"{result.kv_utilization['mean']:.0%} / "
                                                       f"{result.kv_utilization['max']:.0%}"),
                         ("waiting requests: mean / max", f"{result.queue_length['mean']:,.1f} / "
                                                          f"{result.queue_length['max']:,.0f}"),
                         ("preemptions", f"{result.preemptions:,}"), ("iterations", f"{result.iterations:,}"),
                         ("simulation wall time", f"{result.sim_wall_s:.2f} s")):
        facts.add_row(label, value)
    console.print(facts)
    for path in figures:
        console.print(f"wrote {escape(path)}")


@llm_app.command("capacity")
def llm_capacity(
    model: ModelArg, hw: HwOpt,
    slo_ttft: SloTtftOpt = None, slo_tpot: SloTpotOpt = None,
    percentile: Annotated[int, typer.Option(help="Latency percentile the SLOs apply to: 50, 90 or 99.")] = 99,
    requests: RequestsOpt = 1000, input_len: InputOpt = "2048", output_len: OutputOpt = "256",
    scheduler: SchedulerOpt = "vllm",
    tp: TpOpt = 1, pp: PpOpt = 1, ep: EpOpt = 1,
    dtype: DtypeOpt = "bf16", kv_dtype: KvDtypeOpt = "bf16",
    max_batched_tokens: MaxTokensOpt = 8192, max_seqs: MaxSeqsOpt = 256,
    arrival: ArrivalOpt = "poisson", cv: CvOpt = 1.0, seed: SeedOpt = 0,
    cuda_graphs: CudaGraphsOpt = True, tp_overlap: TpOverlapOpt = False, wide_ep: WideEpOpt = None,
    decode_wide_ep: DecodeWideEpOpt = None,
    tbo: TboOpt = False, expert_imbalance: ImbalanceOpt = 1.0, max_nodes: MaxNodesOpt = None,
    plot: PlotOpt = None,
    sets: SetOpt = None, level: LevelOpt = "roofline", as_json: JsonOpt = False,
) -> None:
    """Capacity planning: the highest request rate whose latency percentile meets the SLOs, and the curve."""
    from ..llm.serving import capacity

    if slo_ttft is None and slo_tpot is None:
        raise ValueError("--slo-ttft / --slo-tpot: give at least one SLO, in milliseconds (e.g. --slo-tpot 50)")
    check_dtypes(dtype=dtype, kv_dtype=kv_dtype)
    _refuse_ignored(scheduler=scheduler, at_once=False, trace=None, draft_tokens=0, arrival=arrival)
    if tp == 1 and tp_overlap:  # accepted and ignored: one device has no tensor-parallel communication to overlap
        refuse_given(("tp_overlap",), "overlaps tensor-parallel communication; applies with --tp 2 or more")
    spec = spec_from(hw, sets)
    _warn_lengths(model, input_len, output_len)
    with naming_arguments(SERVE_OPTIONS):
        result = capacity(model, spec, slo_ttft=_seconds(slo_ttft, "--slo-ttft"), slo_tpot=_seconds(slo_tpot, "--slo-tpot"),
                          percentile=percentile, requests=requests, tp=tp, pp=pp, ep=ep, dtype=dtype, kv_dtype=kv_dtype,
                          level=level, input_len=input_len, output_len=output_len, scheduler=scheduler,
                          max_batched_tokens=max_batched_tokens, max_seqs=max_seqs, arrival=arrival, cv=cv, seed=seed,
                          **_features(cuda_graphs, tp_overlap, wide_ep, tbo, expert_imbalance, max_nodes, decode_wide_ep))
    figures = _plots(plot, result, "capacity")
    if as_json:
        print(json.dumps({**result.to_dict(), "figures": figures}, indent=2))
        return
    slos = ", ".join(f"{name} <= {value * 1e3:g} ms" for name, value in (("TTFT", result.slo_ttft_s),
                                                                          ("TPOT", result.slo_tpot_s)) if value)
    console.print(f"[bold]{escape(result.model)}[/] on {result.devices} x [bold]{escape(spec.name)}[/] "
                  f"(tp={tp} pp={pp}), P{percentile} {slos} — {level}")
    if result.reason:
        console.print(f"capacity: 0 requests/s: {escape(result.reason)}")
        return
    console.print(f"capacity: [bold]{result.capacity_requests_per_s:,.2f} requests/s[/] "
                  f"({result.capacity_per_device:,.3f} per device); saturated throughput "
                  f"{result.saturation_requests_per_s:,.2f} requests/s")
    key = f"p{percentile}"
    table = Table(title="latency against load", header_style="bold")
    for column in ("rate (req/s)", f"P{percentile} TTFT (ms)", f"P{percentile} TPOT (ms)", "output tokens/s",
                   "goodput (req/s)"):
        table.add_column(column, justify="right")
    for point in result.curve:
        table.add_row(f"{point['rate']:,.2f}", f"{point[f'ttft_{key}_s'] * 1e3:,.1f}",
                      f"{point[f'tpot_{key}_s'] * 1e3:,.1f}", f"{point['output_tokens_per_s']:,.0f}",
                      f"{point['goodput_requests_per_s']:,.2f}")
    console.print(table)
    for path in figures:
        console.print(f"wrote {escape(path)}")


def _warn_lengths(model: str, input_len: str, output_len: str) -> None:
    """The longest context the length options allow, checked against the model's positions as `llm infer` does
    (a 200,000-token prompt on a 131,072-position model was simulated without a word). exp:MEAN has no longest."""
    from ..workload.model_config import load_model
    from .llm_cmd import _warn_context

    longest = [_longest(text) for text in (input_len, output_len)]
    if all(n is not None and n >= 1 for n in longest):
        _warn_context(load_model(model), sum(n for n in longest if n is not None), "--input-len + --output-len")


def _longest(text: str) -> int | None:
    """The largest token count of a length option (a count, or uniform:LO:HI), None when it has none or is not
    one of those forms (serve() reports that)."""
    parts = text.strip().split(":")
    try:
        if len(parts) == 1:
            return int(parts[0])
        if len(parts) == 3 and parts[0] == "uniform":
            return int(parts[2])
    except ValueError:
        return None
    return None


def _refuse_ignored(scheduler: str, at_once: bool, trace: str | None, draft_tokens: int, arrival: str,
                    batch: int | None = None, max_seqs: int | None = None) -> None:
    """Options the chosen mode does not read, typed anyway: each ran with exit 0 and no effect; and a --max-seqs
    typed below the static --batch (the batch ran anyway, with activations reserved for --max-seqs sequences)."""
    if trace is not None:
        refuse_given(("rate", "at_once", "requests", "input_len", "output_len", "arrival", "cv"),
                     "the --trace replaces it (arrivals and lengths come from the trace); leave it out")
    elif at_once:
        refuse_given(("rate", "arrival", "cv"), "--at-once queues every request at time 0; leave it out")
    if arrival != "gamma":
        refuse_given(("cv",), "applies with --arrival gamma (Poisson gaps have a cv of 1)")
    if scheduler != "static":
        refuse_given(("batch",), "applies with --scheduler static (vllm admits up to --max-seqs sequences)")
    elif batch is not None and max_seqs is not None and batch > max_seqs:
        refuse_given(("max_seqs",), f"caps the sequences per iteration at {max_seqs}, but --batch {batch} runs "
                                    f"{batch} at once; raise --max-seqs to at least {batch} or lower --batch to at "
                                    f"most {max_seqs}")
    if scheduler != "disaggregated":
        refuse_given(("prefill_replicas", "decode_replicas"), "applies with --scheduler disaggregated")
    if draft_tokens == 0:
        refuse_given(("acceptance", "draft_model"), "applies with --draft-tokens N > 0 (speculative decoding is off)")


def _features(cuda_graphs: bool, tp_overlap: bool, wide_ep: int | None, tbo: bool, imbalance: float,
              max_nodes: int | None, decode_wide_ep: int | None = None) -> dict[str, object]:
    from ..llm.serving.moe import wide_ep_from

    needs = "--tbo, --expert-imbalance, --max-nodes and --decode-wide-ep need --wide-ep"
    if wide_ep is None and decode_wide_ep is not None:
        raise ValueError(needs)
    for option, ep in (("--wide-ep", wide_ep), ("--decode-wide-ep", decode_wide_ep)):
        # said "--wide-ep: imbalance must be ...", naming the option the user did not get wrong
        if isinstance(ep, int) and ep >= 2 and not 1 <= imbalance <= ep:
            raise ValueError(f"--expert-imbalance: must be from 1 (even routing) to {option} {ep} (every token on "
                             f"the busiest rank's experts); got {imbalance:g}")
    options: dict[str, object] = {"cuda_graphs": cuda_graphs, "tp_overlap": tp_overlap,
                                  "wide_ep": wide_ep_from(wide_ep, imbalance, tbo, max_nodes, needs)}
    if decode_wide_ep is not None:
        options["decode_wide_ep"] = wide_ep_from(decode_wide_ep, imbalance, tbo, max_nodes, needs)
    return options


def _rate(rate: float) -> float:
    if math.isnan(rate) or rate <= 0:
        raise ValueError(f"--rate: expected requests per second > 0, or --at-once (got {rate})")
    return rate


def _seconds(milliseconds: float | None, option: str) -> float | None:
    if milliseconds is None:
        return None
    # at most 1e9 ms (11.6 days): the simulator's own bound is 1e6 s; beyond it "seconds > 0" named no option
    if not (math.isfinite(milliseconds) and 0 < milliseconds < 1e9):
        raise ValueError(f"{option}: expected a positive time in milliseconds, under 1e9 (got {milliseconds})")
    return milliseconds / 1e3


def _plots(folder: str | None, result: object, kind: str) -> list[str]:
    if folder is None:
        return []
    from ..report.serving_figures import capacity_figure, serving_figures

    paths = serving_figures(result, folder) if kind == "serve" else capacity_figure(result, folder)
    return [str(path) for path in paths]
