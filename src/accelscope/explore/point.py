"""One design point of a sweep: its chip, every workload's metrics, the physical model, constraints and what limits
it. A point that fails for any reason is recorded with its error (exception type and message) and never costs the
other points. Shared by the grid sweep (sweep.py), the search (search.py) and sensitivity.
"""

from __future__ import annotations

from typing import Any

from ..hardware import load_hardware
from ..llm import capacity, infer, plan, train
from ..perf import estimate
from .space import SweepSpec, _number


def evaluate_point(spec: SweepSpec, index: int, point: dict[str, Any], base: Any = None) -> dict[str, Any]:
    """One design point: every workload's metrics, the physical model if asked, constraints, what limits it.

    A failure of any kind (an invalid spec value, a model that does not fit, a bug in a model) is recorded in
    `error` as its exception type and message and the point marked infeasible; a failing workload does not stop the
    point's other workloads, and a failing point never stops the sweep. `base` replaces the spec's base chip."""
    record: dict[str, Any] = {"point": index, **{f"axis:{k}": _si(v) for k, v in point.items()}}
    try:
        return _evaluate(spec, dict(record), point, base)
    except Exception as exc:  # anything a point raises is that point's result, not the sweep's end
        return {**record, "feasible": False, "error": failure(exc)}


MAX_ERROR_CHARS = 1000  # an error message kept per point (a pathological input can produce megabytes)


def failure(exc: BaseException) -> str:
    """How a failed point or workload is recorded: `Type: message`, cut to MAX_ERROR_CHARS."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + f"... ({len(text):,} characters)"


def _evaluate(spec: SweepSpec, record: dict[str, Any], point: dict[str, Any], base: Any) -> dict[str, Any]:
    hw = load_hardware(base if base is not None else spec.base).with_overrides(point)
    physical = _physical(hw) if spec.needs_physical() else None
    if physical is not None:
        record.update(area_mm2=physical.area_mm2, tdp_w=physical.tdp_w, cost_usd=physical.cost_usd)
    errors: list[str] = []
    fits = True
    for name, workload in spec.named_workloads().items():
        prefix = f"{name}." if name else ""
        try:
            metrics = evaluate_workload(workload, hw, spec.level, check_memory=False)
        except Exception as exc:  # recorded; the point's other workloads still run
            errors.append(prefix + failure(exc))
            continue
        fits &= metrics.get("memory_headroom_bytes", 0.0) >= 0
        if physical is not None:
            metrics.update(_efficiency(workload.kind, metrics, physical))
        record.update({prefix + key: value for key, value in metrics.items()})
    constraints = spec.parsed_constraints()
    feasible = not errors and all(c.holds(record) if c.op != "fits" else fits for c in constraints)
    if not errors and not fits and any(c.op == "fits" for c in constraints):
        errors.append("DoesNotFit: memory per device exceeds capacity")
    return {**record, "feasible": feasible, "error": "; ".join(errors) or None}


def evaluate_workload(workload: Any, hw: Any, level: str, check_memory: bool = False) -> dict[str, Any]:
    """Metrics of one workload on one chip (KIND_METRICS), plus `bound` and `limit.<resource>` shares of time."""
    if workload.kind in ("op", "graph"):
        est = estimate(workload.build(), hw, level=level)
        return {"seconds": est.seconds, "flops_per_s": est.achieved_flops, "bound": est.bound,
                **_limits(est.attribution, est.seconds)}
    if workload.kind == "serve":
        return _serve_metrics(workload, hw, level)
    if workload.kind == "train":
        return _train_metrics(workload, hw, level, check_memory)
    return _infer_metrics(workload, hw, level, check_memory)


def _train_metrics(w: Any, hw: Any, level: str, check_memory: bool) -> dict[str, Any]:
    layout: dict[str, Any] = {}
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in (w.train_options or {}).items()}
    if w.attention is not None:
        options["attention"] = w.attention
    if w.plan == "auto":  # this hardware point's own best layout on the same devices
        best = plan(w.model, hw, devices=w.tp * w.pp * w.dp * w.cp, goal="train", top=1, level=level,
                    seq_len=w.seq_len, global_batch=w.global_batch, **{"dtype": w.dtype, **(w.search or {})},
                    **options).best
        t, layout = best.result, {f"plan.{k}": v for k, v in best.layout.items()}
    else:
        t = train(w.model, hw, tp=w.tp, pp=w.pp, dp=w.dp, cp=w.cp, ep=w.ep, vpp=w.vpp, zero=w.zero,
                  seq_len=w.seq_len, global_batch=w.global_batch, micro_batch=w.micro_batch, dtype=w.dtype,
                  recompute=w.recompute, level=level, check_memory=check_memory,
                  pipeline_split=tuple(w.pipeline_split) if isinstance(w.pipeline_split, list) else w.pipeline_split,
                  mtp_layers=w.mtp_layers, **options)
    shares = _limits(t.breakdown, t.step_s)
    return {"tokens_per_s": t.tokens_per_s_per_device * t.devices, "tokens_per_s_per_device":
            t.tokens_per_s_per_device, "step_s": t.step_s, "mfu": t.mfu,
            "memory_headroom_bytes": t.memory.headroom, "bound": max(shares, key=shares.__getitem__)
            .removeprefix("limit."), **shares, **layout}


def _infer_metrics(w: Any, hw: Any, level: str, check_memory: bool) -> dict[str, Any]:
    if w.plan == "auto":  # the best serving layout on the same tp x pp devices: TP x PP x replicas, batch
        best = plan(w.model, hw, devices=w.tp * w.pp, goal="serve", top=1, level=level, input_len=w.input_len,
                    output_len=w.output_len, dtypes=(w.dtype,), kv_dtypes=(w.kv_dtype,), slo_tpot=w.slo_tpot_s,
                    slo_ttft=w.slo_ttft_s).best
        r, replicas = best.result, best.layout["replicas"]
        return {"tokens_per_s": r.output_tokens_per_s * replicas,
                "tokens_per_s_per_device": r.output_tokens_per_s / r.devices, "tpot_s": r.tpot_s,
                "ttft_s": r.ttft_s, "memory_headroom_bytes": r.memory.headroom, "bound": r.decode.bound,
                **_limits(r.decode.attribution, r.decode.seconds),
                **{f"plan.{k}": v for k, v in best.layout.items()}}
    r = infer(w.model, hw, tp=w.tp, pp=w.pp, ep=w.ep, batch=w.batch, input_len=w.input_len,
              output_len=w.output_len, dtype=w.dtype, kv_dtype=w.kv_dtype, level=level, check_memory=check_memory,
              allreduce=w.allreduce, decode_attention=w.decode_attention)
    return {"tokens_per_s": r.output_tokens_per_s, "tokens_per_s_per_device": r.output_tokens_per_s / r.devices,
            "tpot_s": r.tpot_s, "ttft_s": r.ttft_s, "memory_headroom_bytes": r.memory.headroom,
            "bound": r.decode.bound, **_limits(r.decode.attribution, r.decode.seconds)}


def _serve_metrics(w: Any, hw: Any, level: str) -> dict[str, Any]:
    """Capacity at the SLOs from the request-level simulation; 0 requests/s when an idle server misses them."""
    if w.plan == "auto":  # the best serving layout of the same tp x pp devices, by capacity per device
        best = plan(w.model, hw, devices=w.tp * w.pp, goal="serve", top=1, level=level, input_len=w.input_len,
                    output_len=w.output_len, dtypes=(w.dtype,), kv_dtypes=(w.kv_dtype,), slo_tpot=w.slo_tpot_s,
                    slo_ttft=w.slo_ttft_s, simulate=True, requests=w.requests, percentile=w.percentile,
                    schedulers=("vllm", "disaggregated") if w.disaggregated else ("vllm",),
                    serve_options={"max_seqs": w.max_seqs, "max_batched_tokens": w.max_batched_tokens,
                                   "seed": w.seed, "cuda_graphs": w.cuda_graphs, "tp_overlap": w.tp_overlap}).best
        m = best.metrics
        return {"requests_per_s": m["requests_per_s"], "requests_per_s_per_device": m["requests_per_s_per_device"],
                "tokens_per_s": m["tokens_per_s_per_device"] * w.tp * w.pp,
                "tokens_per_s_per_device": m["tokens_per_s_per_device"], "ttft_s": m["ttft_s"], "tpot_s": m["tpot_s"],
                "bound": "capacity", **{f"plan.{k}": v for k, v in best.layout.items()}}
    result = capacity(w.model, hw, slo_ttft=w.slo_ttft_s, slo_tpot=w.slo_tpot_s, percentile=w.percentile,
                      requests=w.requests, tp=w.tp, pp=w.pp, ep=w.ep, dtype=w.dtype, kv_dtype=w.kv_dtype, level=level,
                      input_len=w.input_len, output_len=w.output_len, max_seqs=w.max_seqs,
                      max_batched_tokens=w.max_batched_tokens, seed=w.seed, cuda_graphs=w.cuda_graphs,
                      tp_overlap=w.tp_overlap, wide_ep=_wide_ep(w))
    best = result.at_capacity
    key = f"p{w.percentile}"
    return {"requests_per_s": result.capacity_requests_per_s,
            "requests_per_s_per_device": result.capacity_per_device,
            "tokens_per_s": best.output_tokens_per_s if best else 0.0,
            "tokens_per_s_per_device": best.output_tokens_per_s / result.devices if best else 0.0,
            "ttft_s": best.ttft_s[key] if best else float("nan"), "tpot_s": best.tpot_s[key] if best else float("nan"),
            "bound": "slo" if result.reason else "capacity"}


def _wide_ep(w: Any) -> Any:
    """The serve workload's wide expert parallelism (None when off); tbo and the rest need it."""
    from ..llm.serving.moe import wide_ep_from

    return wide_ep_from(w.wide_ep, w.expert_imbalance, w.tbo, w.max_nodes,
                        "serve workload: tbo, expert_imbalance and max_nodes need wide_ep")


def _limits(seconds_by_cause: Any, total: float) -> dict[str, float]:
    """What limits the workload: the share of its time charged to each cause (adds up to 1)."""
    return {f"limit.{cause}": (value / total if total > 0 else 0.0) for cause, value in seconds_by_cause.items()}


def _efficiency(kind: str, metrics: dict[str, Any], physical: Any) -> dict[str, float]:
    """Throughput of one device per W (modelled TDP), per USD (modelled build cost) and per mm² (silicon)."""
    per_device, unit = {"op": (metrics.get("flops_per_s"), "flops_per_s"),
                        "graph": (metrics.get("flops_per_s"), "flops_per_s"),
                        "serve": (metrics.get("requests_per_s_per_device"), "requests_per_s")}.get(
        kind, (metrics.get("tokens_per_s_per_device"), "tokens_per_s"))
    return {f"{unit}_per_w": per_device / physical.tdp_w, f"{unit}_per_usd": per_device / physical.cost_usd,
            f"{unit}_per_mm2": per_device / physical.area_mm2}


def _physical(hw: Any) -> Any:
    from .physical import estimate_physical

    return estimate_physical(hw)


def _si(value: Any) -> Any:
    """Unit strings as SI numbers, so each axis column has one type."""
    if isinstance(value, str):
        try:
            return _number(value)
        except ValueError:
            return value
    return value
