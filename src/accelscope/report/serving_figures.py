"""Figures of a serving simulation: latency CDFs, the engine's KV cache and queue over time, and the
latency-throughput curve of a capacity search with its SLO knee. PNG (for slides) and SVG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out: Path, name: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    _pyplot().close(fig)
    return paths


def serving_figures(result: Any, out: str | Path) -> list[Path]:
    """Latency CDFs (TTFT, TPOT, end-to-end) and the KV-cache / queue timeline of a `ServeResult`."""
    plt = _pyplot()
    out = Path(out)
    title = (f"{result.model} on {result.devices} x {result.hw}, {result.scheduler} scheduler, "
             f"{result.requests_per_s:.2f} req/s ({result.level})")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (key, label) in zip(axes, (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("e2e_s", "end-to-end latency")),
                                strict=True):
        values = np.sort(result.per_request[key][np.isfinite(result.per_request[key])]) * 1e3
        ax.plot(values, np.arange(1, len(values) + 1) / max(len(values), 1), color="#1f77b4")
        slo = result.slo.get(key)
        if slo is not None:
            ax.axvline(slo * 1e3, color="#d62728", linestyle="--", label=f"SLO {slo * 1e3:g} ms")
            ax.legend(loc="lower right")
        ax.axhline(0.99, color="#999999", linewidth=0.8)
        ax.set_xlabel(f"{label} (ms)")
        ax.set_ylabel("fraction of requests")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    paths = _save(fig, out, "latency_cdf")
    timeline = result.timeline
    if timeline.get("time_s"):
        fig, ax = plt.subplots(figsize=(9, 3.8))
        ax.plot(timeline["time_s"], np.array(timeline.get("kv_used", [])) * 100, label="KV cache used (%)",
                color="#2ca02c")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("KV cache used (%)")
        ax.set_ylim(0, 105)
        twin = ax.twinx()
        twin.plot(timeline["time_s"], timeline.get("waiting", []), label="waiting requests", color="#ff7f0e")
        twin.plot(timeline["time_s"], timeline.get("running", []), label="running requests", color="#9467bd")
        twin.set_ylabel("requests")
        twin.set_ylim(bottom=0)
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        labels = ax.get_legend_handles_labels()[1] + twin.get_legend_handles_labels()[1]
        ax.legend(handles, labels, loc="upper left")
        ax.set_title(f"Engine state over time (first replica): {title}", fontsize=9)
        paths += _save(fig, out, "kv_queue_timeline")
    return paths


def capacity_figure(result: Any, out: str | Path) -> list[Path]:
    """Output tokens/s against the latency percentile, one point per request rate, with the SLO lines."""
    plt = _pyplot()
    if not result.curve:
        return []
    key = f"p{result.percentile}"
    rates = [p["rate"] for p in result.curve]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, (metric, slo, label) in zip(axes, ((f"ttft_{key}_s", result.slo_ttft_s, f"P{result.percentile} TTFT"),
                                               (f"tpot_{key}_s", result.slo_tpot_s, f"P{result.percentile} TPOT")),
                                        strict=True):
        ax.plot(rates, [p[metric] * 1e3 for p in result.curve], marker="o", color="#1f77b4", label=label)
        if slo is not None:
            ax.axhline(slo * 1e3, color="#d62728", linestyle="--", label=f"SLO {slo * 1e3:g} ms")
        ax.axvline(result.capacity_requests_per_s, color="#2ca02c", linestyle=":",
                   label=f"capacity {result.capacity_requests_per_s:.2f} req/s")
        ax.set_xlabel("request rate (req/s)")
        ax.set_ylabel(f"{label} (ms)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(f"{result.model} on {result.devices} x {result.hw}: latency against load ({result.level})")
    return _save(fig, Path(out), "capacity_curve")
