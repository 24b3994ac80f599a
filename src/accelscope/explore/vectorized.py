"""Vectorized roofline over many design points for one fixed workload (an LLM serving scenario).

The graph does not depend on the hardware, so it is built once; each op's roofline time is
    max(matrix FLOPs / matrix peak, vector FLOPs / vector peak, SFU ops / SFU rate, bytes / HBM bandwidth,
        collective floor) + launch latency
evaluated with numpy over arrays of parameters, one entry per design point. It reproduces `estimate(...,
level="roofline")` exactly (tested) for the parameters listed in SUPPORTED; a sweep over anything else uses the
per-point path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..hardware import HardwareSpec, load_hardware
from ..llm.infer import memory_use
from ..perf.collectives import group_bandwidth, hop_latency, wire_factor
from ..perf.estimate import RESOURCES
from ..perf.nccl import STEP_LATENCY_US
from ..perf.roofline import SFU_POLYNOMIAL_FLOPS
from ..workload.llm_graph import Parallelism, Precision, Step, forward_graph
from ..workload.model_config import load_model
from .space import SweepSpec


def supported(spec: SweepSpec, hw: HardwareSpec) -> bool:
    """Whether every axis is a parameter the vectorized roofline reads (or one it provably ignores)."""
    main = hw.main_memory_name
    allowed = {f"memory.{main}.bandwidth", f"memory.{main}.capacity", "vector.peak.fp32", "runtime.launch_latency",
               "interconnect.scale_up.bandwidth", "interconnect.scale_up.latency", "compute.clock",
               *(f"isa.dequantize_ops.{d}" for d in hw.matrix.peak)}
    allowed |= {f"matrix.peak.{d}" for d in hw.matrix.peak}
    allowed |= {f"sfu.ops_per_clock_per_core.{f}" for f in (hw.sfu.ops_per_clock_per_core if hw.sfu else {})}
    ignored = {name for name, level in hw.memory.items() if level.kind != "dram"}  # caches: no roofline effect
    workloads = list(spec.named_workloads().values())
    # a chip scratchpad splits each op's bytes between two memories: the per-point path prices that. One unnamed
    # `workload:` only: a named one's metric columns carry its name, which the vectorized table does not write
    return (spec.level == "roofline" and spec.workload is not None and hw.scratchpad_name is None
            and workloads[0].kind == "infer"
            and workloads[0].ep == 1 and not spec.needs_physical() and all(
                path in allowed or path.split(".")[:2] in (["memory", n] for n in ignored)
                for path in spec.axis_paths()))


class _Params:
    """Per-point parameter arrays (or scalars from the base spec)."""

    def __init__(self, hw: HardwareSpec, columns: dict[str, np.ndarray]):
        self.hw, self.columns = hw, columns

    def get(self, path: str, default: float) -> np.ndarray | float:
        return self.columns.get(path, default)


def _op_times(cost: Any, p: _Params) -> tuple[dict[str, Any], Any]:
    """Busy time per resource (arrays or scalars) and the launch latency of one op."""
    hw = p.hw
    times: dict[str, Any] = {}
    if cost.matrix_flops:
        dtype = hw.matrix_dtype(cost.matrix_dtype)
        times["matrix"] = cost.matrix_flops / p.get(f"matrix.peak.{dtype}", hw.matrix.peak[dtype])
    vector_peak = p.get("vector.peak.fp32", hw.vector_peak("fp32")) if cost.vector_dtype == "fp32" else \
        hw.vector_peak(cost.vector_dtype)
    vector = cost.vector_flops / vector_peak
    if cost.convert_elements:  # dequantized weights: FP32 lane slots (2 FLOPs each) at the FP32 vector rate
        path = hw.matrix_dtype(cost.matrix_dtype)
        slots = p.get(f"isa.dequantize_ops.{path}", hw.dequantize_flops(path) / 2.0)
        vector = vector + cost.convert_elements * 2.0 * slots / p.get("vector.peak.fp32", hw.vector_peak("fp32"))
    sfu = 0.0
    clock = p.get("compute.clock", hw.compute.clock)
    for function, count in cost.sfu_ops:
        per_clock = hw.sfu.ops_per_clock_per_core.get(function) if hw.sfu else None
        if per_clock is None:
            vector = vector + count * SFU_POLYNOMIAL_FLOPS[function] / vector_peak
        else:
            rate = p.get(f"sfu.ops_per_clock_per_core.{function}", per_clock) * hw.compute.cores * clock
            sfu = sfu + count / rate
    times.update(vector=vector, sfu=sfu,
                 memory=cost.bytes / p.get(f"memory.{hw.main_memory_name}.bandwidth", hw.hbm_bandwidth))
    if cost.comm_kind:
        times["interconnect"] = _collective_floor(cost, p)
    return times, p.get("runtime.launch_latency", hw.runtime.launch_latency)


def _collective_floor(cost: Any, p: _Params) -> Any:
    up = p.hw.interconnect.scale_up
    domain = max(up.domain_size // cost.comm_stride, 1) if up else 1
    if up is None or cost.comm_group > domain:
        raise ValueError("vectorized roofline: collectives beyond one scale-up domain use the per-point path")
    factor = wire_factor(cost.comm_kind, cost.comm_group)
    if cost.comm_kind == "all_reduce" and up.in_network_reduction:
        factor = min(factor, 1.0)
    scale = group_bandwidth(up, cost.comm_group) / up.bandwidth
    bandwidth = p.get("interconnect.scale_up.bandwidth", up.bandwidth) * scale
    latency = hop_latency(p.get("interconnect.scale_up.latency", up.latency), up.library, STEP_LATENCY_US["ring"][0])
    return factor * cost.comm_bytes / bandwidth + latency


def _graph_seconds(graph: Any, p: _Params, attribution: dict[str, Any] | None = None) -> np.ndarray:
    """Sum over the graph's ops of max(busy times) + launch; charges each op's time to its bound resource
    (the roofline level's attribution: an op whose launch exceeds its busy time is charged to launch)."""
    total: Any = 0.0
    for node in graph.nodes:
        times, launch = _op_times(node.op.cost(), p)
        names = list(times)
        stacked = np.broadcast_arrays(*(np.asarray(times[n], dtype=float) for n in names), np.asarray(launch))
        busy = np.stack(stacked[:-1])
        peak = busy.max(axis=0)
        total = total + node.count * (peak + launch)
        if attribution is not None:
            winner = busy.argmax(axis=0)
            overhead = launch >= peak
            for i, name in enumerate(names):
                attribution[name] = attribution.get(name, 0.0) + node.count * np.where(
                    (winner == i) & ~overhead, peak, 0.0)
            attribution["launch"] = attribution.get("launch", 0.0) + node.count * (launch + np.where(
                overhead, peak, 0.0))
    return np.asarray(total, dtype=float)


def evaluate_vectorized(spec: SweepSpec, points: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """tokens_per_s, tpot_s, ttft_s, memory_headroom_bytes and feasible for every point, as arrays."""
    from .space import _number

    hw = load_hardware(spec.base)
    w = spec.workload
    assert w is not None and w.kind == "infer", "vectorized sweeps take one infer workload"
    model = load_model(w.model)
    par, prec = Parallelism(tp=w.tp, pp=w.pp), Precision(dtype=w.dtype, kv_dtype=w.kv_dtype)
    par.check(model)
    columns = {path: np.array([_number(pt[path]) if isinstance(pt[path], str) else float(pt[path]) for pt in points])
               for path in spec.axis_paths()}
    p = _Params(hw, columns)
    prefill = sum(_graph_seconds(forward_graph(model, Step(w.batch, w.input_len, 0, logits_tokens=1), par, prec, s), p)
                  for s in range(par.pp))
    attribution: dict[str, Any] = {}
    decode = sum(_graph_seconds(forward_graph(model, Step(w.batch, 1, w.input_len + w.output_len // 2), par, prec, s),
                                p, attribution) for s in range(par.pp))
    ones = np.ones(len(points))
    ttft, tpot = prefill * ones, decode * ones
    e2e = ttft + (w.output_len - 1) * tpot
    need = memory_use(model, hw, par, prec, w.batch, w.input_len, w.output_len)
    capacity = p.get(f"memory.{hw.main_memory_name}.capacity", hw.main_memory.capacity) * 0.9
    headroom = capacity - need.total
    feasible = headroom >= 0 if "memory_fits" in spec.constraints else np.ones(len(points), dtype=bool)
    return {"tokens_per_s": w.batch * w.output_len / e2e, "tpot_s": tpot, "ttft_s": ttft,
            "tokens_per_s_per_device": w.batch * w.output_len / e2e / (w.tp * w.pp),
            "memory_headroom_bytes": headroom * ones, "feasible": np.asarray(feasible) & np.ones(len(points), bool),
            **_bound_and_limits(attribution, decode * ones)}


def _bound_and_limits(attribution: dict[str, Any], total: np.ndarray) -> dict[str, Any]:
    """Decode's bound (the resource with the most attributed time) and each resource's share, per point."""
    names = list(RESOURCES)
    shares = np.stack([np.broadcast_to(np.asarray(attribution.get(n, 0.0), dtype=float), total.shape) / total
                       for n in names])
    return {"bound": np.array(names, dtype=object)[shares.argmax(axis=0)],
            **{f"limit.{n}": shares[i] for i, n in enumerate(names)}}
