"""Capacity planning: the highest request rate a layout serves within latency SLOs, and the curve around it.

The SLO is met at a rate when the chosen percentile (P99 by default) of TTFT and of TPOT over the simulated
requests is within its limit. Latency grows with the rate (queues build as the engine nears saturation), so the
highest such rate is found by bisection between an idle server (rate -> 0) and the saturated throughput (every
request queued at time 0): a rate above that is unstable (the queue grows without bound), even where a finite
run has not yet shown it. Every simulation shares one memo of iteration costs, so a search costs about one simulation's
worth of estimates. Same seed for every rate: the arrival pattern is scaled, not redrawn, between rates.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from ...hardware import HardwareSpec, load_hardware
from ...workload.model_config import ModelConfig, load_model
from .serve import ServeResult, iteration_costs, serve

CURVE_FRACTIONS = (0.25, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25)  # of the capacity, for the latency-throughput curve
BISECTION_STEPS = 10  # ~0.1 % of the bracket


@dataclass(frozen=True)
class CapacityResult:
    model: str
    hw: str
    level: str
    scheduler: str
    devices: int
    percentile: int
    slo_ttft_s: float | None
    slo_tpot_s: float | None
    capacity_requests_per_s: float  # highest rate meeting the SLOs (0 when even an idle server misses them)
    capacity_per_device: float
    saturation_requests_per_s: float  # throughput with every request queued at once
    at_capacity: ServeResult | None
    curve: list[dict[str, float]] = field(default_factory=list)  # rate -> latency percentiles and throughput
    reason: str = ""
    sim_wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        keys = ("model", "hw", "level", "scheduler", "devices", "percentile", "slo_ttft_s", "slo_tpot_s",
                "capacity_requests_per_s", "capacity_per_device", "saturation_requests_per_s", "curve", "reason",
                "sim_wall_s")
        out = {key: getattr(self, key) for key in keys}
        out["at_capacity"] = self.at_capacity.to_dict() if self.at_capacity else None
        return out


def capacity(model: str | dict | ModelConfig, hw: HardwareSpec | str, slo_ttft: float | None = None,
             slo_tpot: float | None = None, percentile: int = 99, requests: int = 1000, tp: int = 1, pp: int = 1,
             ep: int = 1, dtype: str = "bf16", kv_dtype: str = "bf16", level: str = "roofline",
             allreduce: str = "custom", curve: bool = True, **serve_options: Any) -> CapacityResult:
    """Highest Poisson (or gamma) request rate at which the `percentile` of TTFT and TPOT meet the SLOs.
    `curve=False` skips the latency-throughput curve around it (CURVE_FRACTIONS: 8 more simulations; a planner
    comparing layouts needs only the capacity)."""
    started = time.perf_counter()
    if slo_ttft is None and slo_tpot is None:
        raise ValueError("capacity: give at least one SLO (slo_ttft and/or slo_tpot, in seconds)")
    if percentile not in (50, 90, 99):
        raise ValueError(f"percentile: expected 50, 90 or 99 (got {percentile!r})")
    config = load_model(model)
    spec = load_hardware(hw)
    features = {key: serve_options[key] for key in ("cuda_graphs", "tp_overlap", "wide_ep") if key in serve_options}
    costs = iteration_costs(config, spec, tp, pp, ep, dtype, kv_dtype, level, allreduce, **features)
    key = f"p{percentile}"

    def run(rate: float) -> ServeResult:
        return serve(config, spec, tp=tp, pp=pp, ep=ep, rate=rate, requests=requests, level=level, costs=costs,
                     slo_ttft=slo_ttft, slo_tpot=slo_tpot, dtype=dtype, kv_dtype=kv_dtype, **serve_options)

    def meets(result: ServeResult) -> bool:
        return meets_slo(result, percentile, slo_ttft, slo_tpot)

    saturated = run(math.inf)
    ceiling = saturated.requests_per_s
    idle = run(ceiling * 1e-4)
    devices = saturated.devices
    if not meets(idle):
        reason = (f"the SLO is missed even at an idle server: P{percentile} TTFT {idle.ttft_s[key] * 1e3:.1f} ms, "
                  f"TPOT {idle.tpot_s[key] * 1e3:.2f} ms")
        return _result(config, spec, costs.level, saturated, percentile, slo_ttft, slo_tpot, 0.0, None, [], reason,
                       started)
    # a rate above the saturated throughput only looks fine while the finite queue has not yet grown: it is
    # unstable, so the saturated throughput bounds the search
    if meets(saturated):
        return _result(config, spec, costs.level, saturated, percentile, slo_ttft, slo_tpot, ceiling, saturated,
                       _curve(run, ceiling, key) if curve else [], "", started, devices)
    low, high = ceiling * 1e-4, ceiling
    best = idle
    for _ in range(BISECTION_STEPS):
        mid = math.sqrt(low * high)  # geometric: the bracket spans decades
        result = run(mid)
        if meets(result):
            low, best = mid, result
        else:
            high = mid
    return _result(config, spec, costs.level, saturated, percentile, slo_ttft, slo_tpot, low, best,
                   _curve(run, low, key) if curve else [], "", started, devices)


def meets_slo(result: ServeResult, percentile: int, slo_ttft: float | None, slo_tpot: float | None) -> bool:
    """Whether the run's `percentile` TTFT and TPOT are within the SLOs (seconds; None: no limit). A TPOT of NaN
    (no request decoded a second token) does not miss its SLO."""
    key = f"p{percentile}"
    return ((slo_ttft is None or result.ttft_s[key] <= slo_ttft)
            and (slo_tpot is None or not result.tpot_s[key] > slo_tpot))

def _curve(run: Any, rate: float, key: str) -> list[dict[str, float]]:
    """Latency percentiles and throughput at fractions of the capacity `rate`."""
    curve = []
    for fraction in CURVE_FRACTIONS:
        point = run(rate * fraction)
        curve.append({"rate": rate * fraction, f"ttft_{key}_s": point.ttft_s[key], f"tpot_{key}_s": point.tpot_s[key],
                      "output_tokens_per_s": point.output_tokens_per_s,
                      "goodput_requests_per_s": point.goodput_requests_per_s})
    return curve


def _result(config: ModelConfig, spec: HardwareSpec, level: str, saturated: ServeResult, percentile: int,
            slo_ttft: float | None, slo_tpot: float | None, rate: float, best: ServeResult | None,
            curve: list[dict[str, float]], reason: str, started: float, devices: int | None = None) -> CapacityResult:
    devices = devices or saturated.devices
    return CapacityResult(
        model=config.name, hw=spec.id, level=level, scheduler=saturated.scheduler, devices=devices,
        percentile=percentile, slo_ttft_s=slo_ttft, slo_tpot_s=slo_tpot, capacity_requests_per_s=rate,
        capacity_per_device=rate / devices, saturation_requests_per_s=saturated.requests_per_s, at_capacity=best,
        curve=curve, reason=reason, sim_wall_s=time.perf_counter() - started)
