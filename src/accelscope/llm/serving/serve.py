"""`acs.llm.serve`: a request-level serving simulation on one model replica layout, at any perf level.

Requests arrive (Poisson, gamma or a trace), a scheduler batches them (engine.py), and each iteration's time
comes from the chosen performance level for the real mixed batch (costs.py), so the answer holds for a chip
that does not exist yet. Schedulers:
- `vllm`: continuous batching with chunked prefill and a paged KV cache with preemption (engine.continuous);
- `static`: static batches of `batch` requests (today's `infer`, which it reproduces for identical requests);
- `disaggregated`: prefill and decode on separate pools of replicas (DistServe / Splitwise / vLLM's disaggregated
  prefill): a request prefills in the prefill pool, its KV cache moves to a decode replica over the interconnect
  (scale-up links when both pools fit in one scale-up domain, else the scale-out NIC), and decodes there.
Requests go to the replicas of a pool in turn (round robin).

Metrics, per request: TTFT (arrival to first token), TPOT (mean time between its later tokens, vLLM's
definition), end-to-end latency; their P50/P90/P99 and means; throughput over the run (first arrival to last
completion); goodput: requests per second that met every SLO given.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ...hardware import HardwareSpec, load_hardware
from ...hardware.dtypes import dtype_bytes
from ...workload.llm_graph import Parallelism, Precision
from ...workload.model_config import ModelConfig, load_model
from ..infer import (
    DEFAULT_MEMORY_FRACTION,
    DoesNotFit,
    activation_bytes,
    kv_bytes_per_token_per_device,
    weight_bytes_per_device,
)
from .costs import Features, IterationCosts
from .engine import Limits, Speculation, Trace, continuous, static
from .moe import WideEP, expert_weight_bytes
from .requests import Requests, generate, load_trace

SCHEDULERS = ("vllm", "static", "disaggregated")
PERCENTILES = {"p50": 50, "p90": 90, "p99": 99}
TIMELINE_POINTS = 400  # samples of the KV-cache and queue timelines kept in results


@dataclass(frozen=True)
class ServeResult:
    model: str
    hw: str
    level: str
    scheduler: str
    tp: int
    pp: int
    replicas: int  # colocated replicas, or prefill + decode replicas
    completed: int
    duration_s: float
    ttft_s: dict[str, float]
    tpot_s: dict[str, float]
    e2e_s: dict[str, float]
    output_tokens_per_s: float
    input_tokens_per_s: float
    requests_per_s: float
    goodput_requests_per_s: float
    slo: dict[str, float | None]
    preemptions: int
    iterations: int
    kv_blocks: int
    kv_utilization: dict[str, float]
    queue_length: dict[str, float]
    mean_in_system: float  # time-averaged requests arrived and not finished, from the engine's own queues
    estimates: int  # distinct iteration pieces estimated at the perf level
    sim_wall_s: float
    timeline: dict[str, list[float]] = field(repr=False, default_factory=dict)
    per_request: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    @property
    def devices(self) -> int:
        return self.tp * self.pp * self.replicas

    def to_dict(self, timeline: bool = False) -> dict[str, Any]:
        keys = ("model", "hw", "level", "scheduler", "tp", "pp", "replicas", "devices", "completed", "duration_s",
                "ttft_s", "tpot_s", "e2e_s", "output_tokens_per_s", "input_tokens_per_s", "requests_per_s",
                "goodput_requests_per_s", "slo", "preemptions", "iterations", "kv_blocks", "kv_utilization",
                "queue_length", "mean_in_system", "estimates", "sim_wall_s")
        out = {key: getattr(self, key) for key in keys}
        # a statistic over no requests (TPOT when every request has one output token) is undefined: null, since
        # NaN is not JSON
        for key in ("ttft_s", "tpot_s", "e2e_s"):
            out[key] = {k: v if math.isfinite(v) else None for k, v in out[key].items()}
        if timeline:
            out["timeline"] = self.timeline
        return out


def serve(
    model: str | dict | ModelConfig,
    hw: HardwareSpec | str,
    tp: int = 1,
    pp: int = 1,
    ep: int = 1,
    rate: float = 1.0,
    requests: int = 1000,
    input_len: int | str = 2048,
    output_len: int | str = 256,
    trace: str | Requests | None = None,
    arrival: str = "poisson",
    cv: float = 1.0,
    seed: int = 0,
    scheduler: str = "vllm",
    dtype: str = "bf16",
    kv_dtype: str = "bf16",
    level: str = "roofline",
    max_batched_tokens: int = 8192,
    max_seqs: int = 256,
    block_size: int = 16,
    batch: int | None = None,
    replicas: int = 1,
    prefill_replicas: int = 1,
    decode_replicas: int = 1,
    slo_ttft: float | None = None,
    slo_tpot: float | None = None,
    memory_fraction: float = DEFAULT_MEMORY_FRACTION,
    allreduce: str = "custom",
    draft_tokens: int = 0,
    acceptance: float = 0.7,
    draft_model: str | dict | ModelConfig | None = None,
    prefix_hit_rate: float = 0.0,
    cuda_graphs: bool = True,
    tp_overlap: bool = False,
    wide_ep: WideEP | None = None,
    decode_wide_ep: WideEP | None = None,
    costs: IterationCosts | None = None,
) -> ServeResult:
    """Simulate serving `requests` requests (or a `trace`) on `replicas` replicas of tp x pp devices of `hw`.

    `draft_tokens` > 0 turns on speculative decoding with i.i.d. `acceptance`; `draft_model` proposes (a model id,
    config, or "mtp" for one extra decoder layer of the served model, DeepSeek-V3's multi-token prediction);
    None proposes for free (n-gram / prompt lookup). `prefix_hit_rate`: the fraction of each prompt found in the
    prefix cache (its prefill is skipped; the rest attends to it). `cuda_graphs=False` runs eagerly (host time
    per op, `runtime.host_op_latency`); `tp_overlap` overlaps TP collectives with GEMMs; `wide_ep` serves an MoE
    model DeepSeek-style: `wide_ep.ep` attention-DP ranks of one device each (tp = pp = 1), experts spread over
    them, DeepEP dispatch/combine (moe.py); the colocated schedulers then run one engine per rank (`replicas` =
    ep); disaggregated, the prefill pool is `wide_ep.ep` ranks and the decode pool `decode_wide_ep.ep` (default: the
    same group size), as SGLang deploys DeepSeek-V3 (prefill EP32, decode EP72). `costs` reuses the memoized
    iteration costs of an earlier call with the same model, hardware, layout, level and features (capacity searches
    do)."""
    started = time.perf_counter()
    _check_options(scheduler, replicas, prefill_replicas, decode_replicas, slo_ttft, slo_tpot, draft_tokens,
                   acceptance, prefix_hit_rate, max_batched_tokens, max_seqs, block_size, batch)
    config = load_model(model)
    spec = load_hardware(hw)
    for name, flag in (("cuda_graphs", cuda_graphs), ("tp_overlap", tp_overlap)):
        if not isinstance(flag, bool):  # "no" is truthy: it would price the option on
            raise ValueError(f"{name}: expected True or False (got {flag!r})")
    features = Features(cuda_graphs=cuda_graphs, tp_overlap=tp_overlap, wide_ep=wide_ep)
    for name, group in (("wide_ep", wide_ep), ("decode_wide_ep", decode_wide_ep)):
        if group is not None and not isinstance(group, WideEP):
            raise ValueError(f"{name}: expected a WideEP(ep=...) (got {group!r})")
    if wide_ep is not None:
        replicas = _wide_ep_replicas(config, wide_ep, tp, pp, ep, replicas, scheduler)
        if decode_wide_ep is not None:
            _check_decode_wide_ep(config, decode_wide_ep, scheduler)
        if scheduler == "disaggregated":
            prefill_replicas, decode_replicas = wide_ep.ep, (decode_wide_ep or wide_ep).ep
    elif decode_wide_ep is not None:
        raise ValueError("decode_wide_ep: needs wide_ep (the prefill pool's expert group)")
    if costs is None:
        costs = iteration_costs(config, spec, tp, pp, ep, dtype, kv_dtype, level, allreduce, cuda_graphs=cuda_graphs,
                                tp_overlap=tp_overlap, wide_ep=wide_ep)
    elif (costs.config.name, costs.hw.id, costs.level, costs.par.tp, costs.par.pp, costs.features) != (
            config.name, spec.id, level, tp, pp, features):
        raise ValueError("costs: these iteration costs were built for another model, chip, level, layout or "
                         f"features ({costs.config.name} on {costs.hw.id}, {costs.level}, tp={costs.par.tp} "
                         f"pp={costs.par.pp}, {costs.features})")
    reqs = trace if isinstance(trace, Requests) else load_trace(trace) if trace is not None else generate(
        rate, requests, input_len, output_len, arrival, cv, seed)
    limits = Limits(kv_blocks=_kv_blocks(costs, reqs, max_batched_tokens, max_seqs, block_size, memory_fraction),
                    max_batched_tokens=max_batched_tokens, max_seqs=max_seqs, block_size=block_size)
    speculation = _speculation(costs, config, draft_tokens, acceptance, draft_model)
    if scheduler == "static":
        traces = _round_robin(reqs, replicas, lambda r: static(r, costs, batch or _static_batch(limits, r)))
        first, finish = _merge(reqs, replicas, traces)
    elif scheduler == "vllm":
        traces = _round_robin(reqs, replicas, lambda r: continuous(r, costs, limits, "mixed", speculation,
                                                                   prefix_hit_rate))
        first, finish = _merge(reqs, replicas, traces)
    else:
        decode_costs, decode_limits = costs, limits
        if decode_wide_ep is not None and decode_wide_ep != wide_ep:
            decode_costs = _decode_pool_costs(costs, decode_wide_ep)
            decode_limits = replace(limits, kv_blocks=_kv_blocks(decode_costs, reqs, max_batched_tokens, max_seqs,
                                                                 block_size, memory_fraction))
        first, finish, traces = _disaggregated(reqs, costs, limits, prefill_replicas, decode_replicas, speculation,
                                               prefix_hit_rate, decode_costs, decode_limits)
    used = replicas if scheduler != "disaggregated" else prefill_replicas + decode_replicas
    return _result(config, spec, costs, scheduler, tp, pp, used, reqs, first, finish, traces, limits,
                   {"ttft_s": slo_ttft, "tpot_s": slo_tpot}, time.perf_counter() - started)


def iteration_costs(model: str | dict | ModelConfig, hw: HardwareSpec | str, tp: int = 1, pp: int = 1, ep: int = 1,
                    dtype: str = "bf16", kv_dtype: str = "bf16", level: str = "roofline",
                    allreduce: str = "custom", cuda_graphs: bool = True, tp_overlap: bool = False,
                    wide_ep: WideEP | None = None) -> IterationCosts:
    """The memoized iteration costs of one replica layout (shared by several `serve` calls); with `wide_ep`, of
    one attention-DP rank of the expert-parallel group (tp = pp = 1, ep = wide_ep.ep)."""
    if allreduce not in ("custom", "library"):
        raise ValueError(f"allreduce: expected custom or library (got {allreduce!r})")
    config = load_model(model)
    if wide_ep is not None:
        wide_ep.check(config)
        if (tp, pp, ep) != (1, 1, 1) and (tp, pp, ep) != (1, 1, wide_ep.ep):
            raise ValueError(f"wide_ep: each attention-DP rank is one device (tp=1, pp=1; got tp={tp} pp={pp}); "
                             f"the expert group is wide_ep.ep={wide_ep.ep} (got ep={ep})")
        ep = wide_ep.ep
        if wide_ep.imbalance != 1.0:
            config = replace(config, moe=replace(config.moe, imbalance=wide_ep.imbalance))
    par = Parallelism(tp=tp, pp=pp, ep=ep, custom_allreduce=allreduce == "custom")
    par.check(config)
    return IterationCosts(config, load_hardware(hw), par, Precision(dtype=dtype, kv_dtype=kv_dtype), level,
                          Features(cuda_graphs=cuda_graphs, tp_overlap=tp_overlap, wide_ep=wide_ep))


def _wide_ep_replicas(config: ModelConfig, wide_ep: WideEP, tp: int, pp: int, ep: int, replicas: int,
                      scheduler: str) -> int:
    """Colocated engines under wide EP: one per attention-DP rank (SGLang's DP attention)."""
    wide_ep.check(config)
    if scheduler == "disaggregated":
        return replicas
    if replicas not in (1, wide_ep.ep):
        raise ValueError(f"replicas: wide_ep runs one engine per rank ({wide_ep.ep}); leave replicas at 1 "
                         f"(got {replicas})")
    return wide_ep.ep


def _check_decode_wide_ep(config: ModelConfig, decode_wide_ep: WideEP, scheduler: str) -> None:
    """The decode pool's own expert group exists only where there is a decode pool."""
    if scheduler != "disaggregated":
        raise ValueError(f"decode_wide_ep: the decode pool's expert group needs scheduler='disaggregated' "
                         f"(got {scheduler!r})")
    try:
        decode_wide_ep.check(config)
    except ValueError as error:
        raise ValueError(f"decode_wide_ep: {error}".replace("wide_ep: ", "", 1)) from None


def _check_options(scheduler: str, replicas: int, prefill_replicas: int, decode_replicas: int,
                   slo_ttft: float | None, slo_tpot: float | None, draft_tokens: int, acceptance: float,
                   prefix_hit_rate: float, max_batched_tokens: int, max_seqs: int, block_size: int,
                   batch: int | None) -> None:
    if scheduler not in SCHEDULERS:
        raise ValueError(f"scheduler: expected one of {', '.join(SCHEDULERS)} (got {scheduler!r})")
    for name, value in (("replicas", replicas), ("prefill_replicas", prefill_replicas),
                        ("decode_replicas", decode_replicas), ("max_batched_tokens", max_batched_tokens),
                        ("max_seqs", max_seqs), ("block_size", block_size)):
        if not isinstance(value, int) or not 1 <= value <= 1_000_000:
            raise ValueError(f"{name}: expected an integer from 1 to 1,000,000 (got {value!r})")
    if batch is not None and (not isinstance(batch, int) or not 1 <= batch <= 1_000_000):
        raise ValueError(f"batch: expected an integer from 1 to 1,000,000 (got {batch!r})")
    for name, slo in (("slo_ttft", slo_ttft), ("slo_tpot", slo_tpot)):
        if slo is not None and not (0 < slo < 1e6):
            raise ValueError(f"{name}: expected seconds > 0 (got {slo!r})")
    if not isinstance(draft_tokens, int) or not 0 <= draft_tokens <= 64:
        raise ValueError(f"draft_tokens: expected an integer from 0 to 64 (got {draft_tokens!r})")
    if not 0 <= acceptance <= 1:
        raise ValueError(f"acceptance: expected a probability from 0 to 1 (got {acceptance!r})")
    if not 0 <= prefix_hit_rate < 1:
        raise ValueError(f"prefix_hit_rate: expected a fraction from 0 to below 1 (got {prefix_hit_rate!r})")


def _kv_blocks(costs: IterationCosts, reqs: Requests, max_batched_tokens: int, max_seqs: int, block_size: int,
               memory_fraction: float) -> int:
    """KV blocks per replica: usable memory less weights and one iteration's activations, per block of tokens.
    Every request must fit on its own (its whole context), or no scheduler can ever run it."""
    if not 0 < memory_fraction <= 1:
        raise ValueError(f"memory_fraction: must be in (0, 1] (got {memory_fraction})")
    config, par, prec = costs.config, costs.par, costs.prec
    usable = costs.hw.main_memory.capacity * memory_fraction
    weights = weight_bytes_per_device(config, par, prec)
    if costs.features.wide_ep is not None:  # each rank keeps 1/ep of the routed experts, all of the rest
        weights -= expert_weight_bytes(config, dtype_bytes(prec.weight_dtype)) * (1 - 1 / par.ep)
    activations = activation_bytes(config, par, prec, max_seqs, max(1, max_batched_tokens // max_seqs))
    per_token = kv_bytes_per_token_per_device(config, par, prec, reqs.max_context)
    blocks = int((usable - weights - activations) // (per_token * block_size))
    gb = 1e9
    if blocks < 1:
        raise DoesNotFit(f"{config.name} does not fit on {par.tp * par.pp} x {costs.hw.id}: per device "
                         f"{weights / gb:.1f} GB of weights + {activations / gb:.1f} GB of activations leave no room "
                         f"for a KV cache in {usable / gb:.1f} GB usable; use more devices (--tp/--pp) or a smaller "
                         "weight dtype")
    longest = -(-reqs.max_context // block_size)
    if longest > blocks:
        raise DoesNotFit(f"the longest request ({reqs.max_context:,} tokens of context) needs {longest:,} KV blocks "
                         f"but a replica's cache holds {blocks:,} ({blocks * block_size:,} tokens); use more devices "
                         "per replica, an fp8 KV cache or shorter requests")
    return blocks


def _speculation(costs: IterationCosts, config: ModelConfig, draft_tokens: int, acceptance: float,
                 draft_model: str | dict | ModelConfig | None) -> Speculation | None:
    if draft_tokens == 0:
        return None
    if draft_model is None:
        return Speculation(draft_tokens, acceptance)
    if draft_model == "mtp":  # one more decoder layer of the served model proposes (DeepSeek-V3 MTP module)
        draft = replace(config, name=f"{config.name} MTP", layers=1, sliding_layers=min(config.sliding_layers, 1))
    else:
        try:
            draft = load_model(draft_model)
        except ValueError as exc:  # named the model but not which of the two models it was
            raise ValueError(f"draft_model: {exc}") from None
    # the proposer runs in the same engine: eager or graphed, TP overlapped or not, as the target (its experts,
    # if any, stay on the rank: no wide EP for a draft)
    features = Features(cuda_graphs=costs.features.cuda_graphs, tp_overlap=costs.features.tp_overlap)
    return Speculation(draft_tokens, acceptance, IterationCosts(draft, costs.hw, Parallelism(tp=costs.par.tp),
                                                                 costs.prec, costs.level, features))


def _static_batch(limits: Limits, reqs: Requests) -> int:
    """The largest static batch whose whole contexts fit the cache, at most max_seqs."""
    per_request = -(-reqs.max_context // limits.block_size)
    return max(1, min(limits.max_seqs, limits.kv_blocks // per_request))


def _round_robin(reqs: Requests, replicas: int, run: Any) -> list[tuple[np.ndarray, Trace]]:
    out = []
    for replica in range(replicas):
        indices = np.arange(replica, len(reqs), replicas)
        if len(indices):
            out.append((indices, run(reqs.subset(indices))))
    return out


def _merge(reqs: Requests, replicas: int, traces: list[tuple[np.ndarray, Trace]]) -> tuple[np.ndarray, np.ndarray]:
    first = np.full(len(reqs), np.nan)
    finish = np.full(len(reqs), np.nan)
    for indices, trace in traces:
        first[indices] = trace.first_token_s
        finish[indices] = trace.finish_s
    return first, finish


def _decode_pool_costs(costs: IterationCosts, wide: WideEP) -> IterationCosts:
    """The decode pool's iteration costs under its own expert group, kept beside the prefill pool's (a capacity
    search reuses both memos)."""
    if wide not in costs.derived:
        wide.check(costs.config)
        par = Parallelism(tp=1, pp=1, ep=wide.ep, custom_allreduce=costs.par.custom_allreduce)
        config = replace(costs.config, moe=replace(costs.config.moe, imbalance=wide.imbalance))
        costs.derived[wide] = IterationCosts(config, costs.hw, par, costs.prec, costs.level,
                                             replace(costs.features, wide_ep=wide))
    return costs.derived[wide]


def _disaggregated(reqs: Requests, costs: IterationCosts, limits: Limits, prefill_replicas: int,
                   decode_replicas: int, speculation: Speculation | None, prefix_hit_rate: float,
                   decode_costs: IterationCosts | None = None, decode_limits: Limits | None = None,
                   ) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, Trace]]]:
    """Prefill pool first (it does not wait on the decode pool), then the decode pool with the KV arrivals."""
    decode_costs, decode_limits = decode_costs or costs, decode_limits or limits
    prefill = _round_robin(reqs, prefill_replicas, lambda r: continuous(r, costs, limits, "prefill", None,
                                                                        prefix_hit_rate))
    first, _ = _merge(reqs, prefill_replicas, prefill)
    transfer = kv_transfer_seconds(costs, reqs.input_tokens, prefill_replicas + decode_replicas)
    finish = first.copy()  # single-token requests are done at their first token
    more = reqs.output_tokens > 1
    decode_in = Requests(first[more] + transfer[more], reqs.input_tokens[more], reqs.output_tokens[more])
    order = np.argsort(decode_in.arrival_s, kind="stable")
    decode_reqs = decode_in.subset(order)
    decode = _round_robin(decode_reqs, decode_replicas, lambda r: continuous(r, decode_costs, decode_limits, "decode",
                                                                             speculation))
    finish_sorted = np.full(len(decode_reqs), np.nan)
    for indices, trace in decode:
        finish_sorted[indices] = trace.finish_s
    finish[np.flatnonzero(more)[order]] = finish_sorted
    return first, finish, prefill + decode


def kv_transfer_seconds(costs: IterationCosts, prompt_tokens: np.ndarray, replicas: int) -> np.ndarray:
    """Moving each request's KV cache from a prefill replica to a decode replica: every device of the replica
    sends its own share in parallel, over scale-up links when both pools fit one scale-up domain, else the NIC."""
    par = costs.par
    per_device = prompt_tokens * kv_bytes_per_token_per_device(costs.config, par, costs.prec, int(prompt_tokens.max()))
    interconnect = costs.hw.interconnect
    up = interconnect.scale_up if interconnect else None
    out = interconnect.scale_out if interconnect else None
    devices = replicas * par.tp * par.pp
    link = up if up is not None and devices <= up.domain_size else out or up
    if link is None:
        raise ValueError(f"scheduler=disaggregated: {costs.hw.id} has no interconnect section to move KV caches "
                         "between pools")
    return link.latency + per_device / link.bandwidth


def _percentiles(values: np.ndarray) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return {**dict.fromkeys(PERCENTILES, float("nan")), "mean": float("nan")}
    return {**{key: float(np.percentile(finite, q)) for key, q in PERCENTILES.items()}, "mean": float(finite.mean())}


def _result(config: ModelConfig, spec: HardwareSpec, costs: IterationCosts, scheduler: str, tp: int, pp: int,
            replicas: int, reqs: Requests, first: np.ndarray, finish: np.ndarray,
            traces: list[tuple[np.ndarray, Trace]], limits: Limits, slo: dict[str, float | None],
            wall: float) -> ServeResult:
    ttft = first - reqs.arrival_s
    decode_tokens = reqs.output_tokens - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(decode_tokens > 0, (finish - first) / np.maximum(decode_tokens, 1), np.nan)
    e2e = finish - reqs.arrival_s
    duration = float(np.nanmax(finish) - reqs.arrival_s.min())
    met = np.isfinite(finish)
    if slo["ttft_s"] is not None:
        met &= ttft <= slo["ttft_s"]
    if slo["tpot_s"] is not None:
        met &= ~(tpot > slo["tpot_s"])  # a one-token request has no TPOT and meets any TPOT SLO
    kv = [u for _, t in traces for u in t.kv_used]
    waiting = [w for _, t in traces for w in t.waiting]
    in_system = _time_average_in_system(traces)
    return ServeResult(
        model=config.name, hw=spec.id, level=costs.level, scheduler=scheduler, tp=tp, pp=pp, replicas=replicas,
        completed=int(np.isfinite(finish).sum()), duration_s=duration, ttft_s=_percentiles(ttft),
        tpot_s=_percentiles(tpot), e2e_s=_percentiles(e2e),
        output_tokens_per_s=float(reqs.output_tokens.sum()) / duration,
        input_tokens_per_s=float(reqs.input_tokens.sum()) / duration, requests_per_s=len(reqs) / duration,
        goodput_requests_per_s=float(met.sum()) / duration, slo=slo,
        preemptions=sum(t.preemptions for _, t in traces), iterations=sum(t.iterations for _, t in traces),
        kv_blocks=limits.kv_blocks,
        kv_utilization={"mean": float(np.mean(kv)) if kv else 0.0, "max": float(np.max(kv)) if kv else 0.0},
        queue_length={"mean": float(np.mean(waiting)) if waiting else 0.0,
                      "max": float(np.max(waiting)) if waiting else 0.0},
        mean_in_system=in_system, estimates=costs.estimates, sim_wall_s=wall,
        timeline=_timeline(traces[0][1]) if traces else {},
        per_request={"ttft_s": ttft, "tpot_s": tpot, "e2e_s": e2e},
    )


def _time_average_in_system(traces: list[tuple[np.ndarray, Trace]]) -> float:
    """Requests in the system averaged over the run, from each engine's per-iteration counts and durations
    (idle gaps count zero), summed over replicas: Little's law's L."""
    total = 0.0
    span = 0.0
    for _, trace in traces:
        if trace.in_system:
            total += float(np.dot(trace.in_system, trace.durations))
            span = max(span, trace.times[-1] + trace.durations[-1] - trace.times[0])
    return total / span if span else 0.0


def _timeline(trace: Trace) -> dict[str, list[float]]:
    """At most TIMELINE_POINTS evenly spaced samples of the first replica's engine state."""
    if not trace.times:
        return {}
    pick = np.unique(np.linspace(0, len(trace.times) - 1, min(TIMELINE_POINTS, len(trace.times))).astype(int))
    series = {"time_s": trace.times, "kv_used": trace.kv_used, "waiting": trace.waiting, "running": trace.running}
    return {key: [float(values[i]) for i in pick] for key, values in series.items() if values}
