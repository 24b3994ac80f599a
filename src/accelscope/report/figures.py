"""Figures from demo records: interactive (plotly) for the HTML report, static (matplotlib PNG + SVG) for slides.

Every function takes plain records (DemoResults) and returns figures; nothing here calls a performance model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .demo import DemoResults

RESOURCE_COLORS = {"matrix": "#1f77b4", "vector": "#ff7f0e", "sfu": "#9467bd", "memory": "#2ca02c",
                   "interconnect": "#d62728", "launch": "#7f7f7f"}
ATTENTION_HEAD_DIM = 128  # the SFU roof is drawn for attention at this head dim: 4·D matrix FLOPs per exp


def roofline_traces(results: DemoResults, chip: dict[str, Any]) -> dict[str, Any]:
    """Roofs (memory slope, bf16 and fp8 matrix peaks, vector peak, SFU roof for attention) and the kernels."""
    import numpy as np

    x = np.logspace(-1, 5, 200)
    roofs = {
        "HBM slope": np.minimum(x * chip["bandwidth"], chip["fp8"]),
        "matrix bf16": np.full_like(x, chip["bf16"]),
        "matrix fp8": np.full_like(x, chip["fp8"]),
        "vector fp32": np.full_like(x, chip["vector"]),
    }
    if chip["exp2"]:
        roofs[f"SFU roof (attention, D={ATTENTION_HEAD_DIM})"] = np.full_like(x, chip["exp2"] * 4 * ATTENTION_HEAD_DIM)
    points = [k for k in results.kernels if k["hw"] == chip["id"] and k["intensity"]]
    return {"x": x, "roofs": roofs, "points": points}


def plotly_roofline(results: DemoResults, chip: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    data = roofline_traces(results, chip)
    fig = go.Figure()
    for name, y in data["roofs"].items():
        dash = "dot" if name.startswith(("vector", "SFU")) else None
        fig.add_trace(go.Scatter(x=data["x"], y=y / 1e12, mode="lines", name=name, line={"dash": dash}))
    for p in data["points"]:
        fig.add_trace(go.Scatter(x=[p["intensity"]], y=[p["achieved"] / 1e12], mode="markers", name=p["kernel"],
                                 marker={"size": 10, "color": RESOURCE_COLORS.get(p["bound"], "black")},
                                 hovertemplate=f"{p['kernel']}<br>bound: {p['bound']}<br>%{{y:.0f}} TFLOP/s"
                                               f"<br>%{{x:.1f}} FLOP/B<extra></extra>"))
    fig.update_layout(title=f"Roofline: {chip['name']}", xaxis={"type": "log", "title": "FLOP / byte of HBM traffic"},
                      yaxis={"type": "log", "title": "TFLOP/s"}, height=460, legend={"font": {"size": 10}})
    return fig


def plotly_breakdown(results: DemoResults, phase: str) -> Any:
    """Stacked bars: wall time of one decode step (or the prefill) charged to its limiting resource, per chip."""
    import plotly.graph_objects as go

    rows = _first_dtype_rows(results)
    key = f"{phase}_attribution"
    fig = go.Figure()
    for resource, color in RESOURCE_COLORS.items():
        values = [s[key].get(resource, 0.0) * 1e3 for s in rows]
        if any(values):
            fig.add_trace(go.Bar(name=resource, x=[s["hw"] for s in rows], y=values, marker_color=color))
    unit = "ms per decode step" if phase == "decode" else "ms of prefill"
    fig.update_layout(barmode="stack", title=f"{_serving_label(results)} {phase}: time by limiting resource ({rows[0]['dtype'] if rows else ''})",
                      yaxis={"title": unit}, height=420)
    return fig


def plotly_tornado(results: DemoResults) -> Any:
    import plotly.graph_objects as go

    items = sorted(results.elasticity.items(), key=lambda kv: abs(kv[1]))
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h",
                           marker_color=["#2ca02c" if v > 0 else "#d62728" for _, v in items]))
    fig.update_layout(title=f"What limits {_serving_label(results)} decode on {results.elasticity_chip}: elasticity of tokens/s",
                      xaxis={"title": "d log(tokens/s) / d log(parameter)"}, height=420, margin={"l": 260})
    return fig


def plotly_training(results: DemoResults) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for part, color in (("compute", "#1f77b4"), ("bubble", "#bcbd22"), ("exposed_comm", "#d62728"),
                        ("optimizer", "#7f7f7f")):
        fig.add_trace(go.Bar(name=part, x=[t["hw"] for t in results.training],
                             y=[t["breakdown"][part] for t in results.training], marker_color=color))
    fig.update_layout(barmode="stack", title=f"{_training_label(results)}: time per step",
                      yaxis={"title": "seconds per step"}, height=420)
    return fig


def _serving_label(results: DemoResults) -> str:
    serving = results.scenario.get("serving") or {}
    return f"{serving.get('model', 'model')} TP{serving.get('tp', 1)}"


def _training_label(results: DemoResults) -> str:
    t = results.scenario.get("training") or {}
    devices = t.get("tp", 1) * t.get("pp", 1) * t.get("dp", 1) * t.get("cp", 1)
    return f"{t.get('model', 'model')} training on {devices:,} devices (TP{t.get('tp')} PP{t.get('pp')} DP{t.get('dp')})"


def _first_dtype_rows(results: DemoResults) -> list[dict[str, Any]]:
    """Serving rows of the scenario's first dtype, one per chip."""
    if not results.serving:
        return []
    first = results.serving[0]["dtype"]
    return [s for s in results.serving if s["dtype"] == first]


# ----- static figures (matplotlib) -------------------------------------------------------------------------------
def write_static_figures(results: DemoResults, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    chips = results.chips
    fig, axes = plt.subplots(1, len(chips), figsize=(4.2 * len(chips), 4), squeeze=False)
    for ax, chip in zip(axes[0], chips, strict=True):
        data = roofline_traces(results, chip)
        for name, y in data["roofs"].items():
            ax.plot(data["x"], y / 1e12, ls=":" if name.startswith(("vector", "SFU")) else "-", label=name)
        for p in data["points"]:
            ax.scatter(p["intensity"], p["achieved"] / 1e12, color=RESOURCE_COLORS.get(p["bound"], "k"), zorder=3)
        ax.set(xscale="log", yscale="log", title=chip["id"], xlabel="FLOP/B")
    axes[0][0].set_ylabel("TFLOP/s")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    paths += _save(fig, out / "roofline")
    plt.close(fig)

    if not results.serving:
        return paths
    fig, ax = plt.subplots(figsize=(6.5, 4))
    items = sorted(results.elasticity.items(), key=lambda kv: abs(kv[1]))
    ax.barh([k for k, _ in items], [v for _, v in items], color=["#2ca02c" if v > 0 else "#d62728" for _, v in items])
    ax.set_xlabel(f"elasticity of {_serving_label(results)} decode tokens/s")
    fig.tight_layout()
    paths += _save(fig, out / "tornado")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4))
    rows = _first_dtype_rows(results)
    bottom = [0.0] * len(rows)
    for resource, color in RESOURCE_COLORS.items():
        values = [s["decode_attribution"].get(resource, 0.0) * 1e3 for s in rows]
        if any(values):
            ax.bar([s["hw"] for s in rows], values, bottom=bottom, color=color, label=resource)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("ms per decode step")
    ax.legend(fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    paths += _save(fig, out / "decode_breakdown")
    plt.close(fig)
    return paths


def _save(fig: Any, stem: Path) -> list[Path]:
    paths = []
    for suffix in (".png", ".svg"):
        fig.savefig(stem.with_suffix(suffix), dpi=130)
        paths.append(stem.with_suffix(suffix))
    return paths


def plotly_by_op(results: DemoResults) -> Any:
    """Stacked bars: one decode step split by op type (attention, GEMMs, norms, communication, elementwise)."""
    import plotly.graph_objects as go

    rows = _first_dtype_rows(results)
    fig = go.Figure()
    for group in rows[0]["decode_by_op"] if rows else []:
        fig.add_trace(go.Bar(name=group, x=[s["hw"] for s in rows], y=[s["decode_by_op"][group] * 1e3 for s in rows]))
    fig.update_layout(barmode="stack", title=f"{_serving_label(results)} decode step by op type",
                      yaxis={"title": "ms per decode step"}, height=420)
    return fig


def plotly_tradeoff(results: DemoResults) -> Any:
    """Accuracy vs speed per number format: GEMM relative error against serving throughput."""
    import plotly.graph_objects as go

    rows = [r for r in results.tradeoff if r.get("fits")]
    fig = go.Figure(go.Scatter(
        x=[100 * r["gemm_relative_error"] for r in rows], y=[r["output_tokens_per_s"] for r in rows],
        mode="markers+text", text=[r["format"] for r in rows], textposition="top center", marker={"size": 12}))
    fig.update_layout(title=f"Accuracy vs speed per format: {_serving_label(results)} on {results.tradeoff_chip}",
                      xaxis={"title": "GEMM relative error at K = hidden size (%)", "type": "log"},
                      yaxis={"title": "output tokens/s (replica)"}, height=440)
    return fig


def plotly_validation(results: DemoResults) -> Any:
    """Mean absolute error against the public measured dev set, per category and level."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for level in dict.fromkeys(v["level"] for v in results.validation):
        rows = [v for v in results.validation if v["level"] == level]
        fig.add_trace(go.Bar(name=level, x=[v["category"] for v in rows], y=[100 * v["mean_abs"] for v in rows]))
    fig.update_layout(barmode="group", title="Error vs published measurements (dev set), mean |error|",
                      yaxis={"title": "%", "type": "log"}, height=420)
    return fig


def plotly_predicted_vs_measured(results: DemoResults) -> Any:
    """Every dev-set row: predicted time / measured time (> 1: the model is too slow), per category and level."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for level in dict.fromkeys(r["level"] for r in results.validation_rows):
        rows = [r for r in results.validation_rows if r["level"] == level]
        fig.add_trace(go.Box(x=[r["category"] for r in rows], y=[r["time_ratio"] for r in rows], name=level,
                             boxpoints="all", jitter=0.4, text=[r["id"] for r in rows]))
    fig.add_hline(y=1.0, line_color="black")
    fig.update_layout(boxmode="group", title="Predicted / measured time per dev-set row (1 = exact, > 1 = model slow)",
                      yaxis={"type": "log", "title": "predicted / measured time"}, height=440)
    return fig
