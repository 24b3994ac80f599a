"""Figures from demo records: interactive (plotly) for the HTML report, static (matplotlib PNG + SVG) for slides.

Every function takes plain records (DemoResults) and returns figures; nothing here calls a performance model.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .demo import DemoResults

RESOURCE_COLORS = {"matrix": "#1f77b4", "vector": "#ff7f0e", "sfu": "#9467bd", "memory": "#2ca02c",
                   "interconnect": "#d62728", "launch": "#7f7f7f"}
ATTENTION_HEAD_DIM = 128  # the SFU roof is drawn for attention at this head dim: 4·D matrix FLOPs per exp
# one marker per kernel (plotly symbol, matplotlib marker), in the scenario's kernel order; colour = limiting resource
PLOTLY_SYMBOLS = ["circle", "square", "diamond", "triangle-up", "triangle-down", "cross", "x", "star", "pentagon",
                  "hexagon", "triangle-left", "triangle-right"]
MPL_MARKERS = ["o", "s", "D", "^", "v", "P", "X", "*", "p", "h", "<", ">"]
ROOF_STYLES = {"HBM slope": ("#1f77b4", "-", 1.6), "matrix bf16": ("#ff7f0e", "-", 1.6),
               "matrix fp8": ("#2ca02c", "-", 1.6), "vector fp32": ("#d62728", ":", 1.6)}
SFU_STYLE = ("#9467bd", "--", 2.6)  # drawn last and wider, so it shows where it meets another roof


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


def kernel_names(results: DemoResults) -> list[str]:
    """The scenario's kernels in order: the index of a name picks its marker."""
    return list(dict.fromkeys(k["kernel"] for k in results.kernels))


def _roof_style(name: str) -> tuple[str, str, float]:
    return SFU_STYLE if name.startswith("SFU") else ROOF_STYLES.get(name, ("#7f7f7f", "-", 1.4))


def _coincides(roofs: dict[str, Any], name: str) -> str | None:
    """The flat roof the SFU roof lies on (within 3 %), to say so in its label."""
    level = float(roofs[name][-1])
    return next((other for other, y in roofs.items()
                 if other != name and not other.startswith("HBM") and abs(float(y[-1]) / level - 1) < 0.03), None)


def _roof_label(roofs: dict[str, Any], name: str) -> str:
    same = _coincides(roofs, name) if name.startswith("SFU") else None
    return f"{name} = {same}" if same else name


def plotly_roofline(results: DemoResults, chip: dict[str, Any]) -> Any:
    """One chip's roofs and the kernels: a marker shape per kernel (named in the legend), coloured by what bounds
    it; the SFU roof dashed, wider and drawn last, labelled with the roof it meets."""
    import plotly.graph_objects as go

    data = roofline_traces(results, chip)
    names = kernel_names(results)
    fig = go.Figure()
    for name in sorted(data["roofs"], key=lambda n: n.startswith("SFU")):
        color, style, width = _roof_style(name)
        dash = {"-": None, ":": "dot", "--": "dash"}[style]
        fig.add_trace(go.Scatter(x=data["x"], y=data["roofs"][name] / 1e12, mode="lines",
                                 name=_roof_label(data["roofs"], name),
                                 line={"dash": dash, "color": color, "width": width}))
    for p in data["points"]:
        symbol = PLOTLY_SYMBOLS[names.index(p["kernel"]) % len(PLOTLY_SYMBOLS)]
        emulated = f" (emulated on {p['emulated_on']})" if p.get("emulated_on") else ""
        fig.add_trace(go.Scatter(
            x=[p["intensity"]], y=[p["achieved"] / 1e12], mode="markers", name=f"{p['kernel']}{emulated}",
            marker={"size": 11, "symbol": symbol, "color": RESOURCE_COLORS.get(p["bound"], "black"),
                    "line": {"width": 1, "color": "black"}},
            hovertemplate=f"{p['kernel']}{emulated}<br>bound: {p['bound']}<br>%{{y:.0f}} TFLOP/s"
                          f"<br>%{{x:.1f}} FLOP/B<extra></extra>"))
    fig.update_layout(title=f"Roofline: {chip['name']}<br><sup>{results.level} level; marker = kernel, "
                            "colour = limiting resource</sup>",
                      xaxis={"type": "log", "title": "FLOP / byte of HBM traffic"},
                      yaxis={"type": "log", "title": "TFLOP/s"}, height=520,
                      legend={"font": {"size": 10}, "orientation": "h", "y": -0.22, "x": 0},
                      margin={"b": 40})
    return fig


def plotly_breakdown(results: DemoResults, phase: str) -> Any:
    """Stacked bars: wall time of one decode step (or the prefill) charged to its limiting resource, per chip."""
    import plotly.graph_objects as go

    rows = first_dtype_rows(results)
    key = f"{phase}_attribution"
    scale, unit = (1e3, "ms per decode step") if phase == "decode" else (1.0, "seconds of prefill (whole batch)")
    fig = go.Figure()
    for resource, color in RESOURCE_COLORS.items():
        values = [s[key].get(resource, 0.0) * scale for s in rows]
        if any(values):
            fig.add_trace(go.Bar(name=resource, x=[s["hw"] for s in rows], y=values, marker_color=color))
    dtype = rows[0]["dtype"] if rows else ""
    fig.update_layout(barmode="stack", title=f"{_serving_label(results)} {phase}: time by limiting resource"
                                             f"<br><sup>{dtype}, {serving_config(results)}</sup>",
                      yaxis={"title": unit}, height=420)
    return fig


def plotly_tornado(results: DemoResults) -> Any:
    import plotly.graph_objects as go

    items = sorted(results.elasticity.items(), key=lambda kv: abs(kv[1]))
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h",
                           marker_color=["#2ca02c" if v > 0 else "#d62728" for _, v in items]))
    fig.update_layout(title=f"What limits decode: elasticity of tokens/s<br><sup>{_serving_label(results)} on "
                            f"{results.elasticity_chip}, {serving_config(results)}; ±10 % central differences</sup>",
                      xaxis={"title": "d log(tokens/s) / d log(parameter)"}, height=420, margin={"l": 260})
    return fig


def plotly_training(results: DemoResults) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for part, color in (("compute", "#1f77b4"), ("bubble", "#bcbd22"), ("exposed_comm", "#d62728"),
                        ("optimizer", "#7f7f7f"), ("host", "#9467bd")):  # host: the framework's time beyond the GPU's
        fig.add_trace(go.Bar(name=part, x=[t["hw"] for t in results.training],
                             y=[t["breakdown"].get(part, 0.0) for t in results.training], marker_color=color))
    fig.update_layout(barmode="stack", title=f"{_training_label(results)}: time per step",
                      yaxis={"title": "seconds per step"}, height=420)
    return fig


def plotly_load(results: DemoResults) -> Any:
    """Serving under load: P99 TPOT and P99 TTFT (left) and goodput (right) against the request rate, per chip,
    with the SLOs as dashed lines."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    load = (results.scenario.get("serving") or {}).get("load") or {}
    fig = make_subplots(rows=1, cols=3, subplot_titles=("P99 TPOT (ms)", "P99 TTFT (ms)",
                                                        "goodput (requests/s within SLOs)"))
    chips = list(dict.fromkeys(row["hw"] for row in results.load))
    for index, chip in enumerate(chips):
        rows = [row for row in results.load if row["hw"] == chip]
        rates = [row["rate"] for row in rows]
        color = f"hsl({int(360 * index / max(len(chips), 1))},60%,45%)"
        for col, key, scale in ((1, "tpot_p99_s", 1e3), (2, "ttft_p99_s", 1e3), (3, "goodput", 1.0)):
            fig.add_trace(go.Scatter(x=rates, y=[row[key] * scale for row in rows], name=chip, legendgroup=chip,
                                     showlegend=col == 1, mode="lines+markers", line={"color": color}),
                          row=1, col=col)
    for col, key in ((1, "slo_tpot_ms"), (2, "slo_ttft_ms")):
        if load.get(key):
            fig.add_hline(y=load[key], line_dash="dash", line_color="grey", row=1, col=col)
    fig.update_xaxes(title_text="request rate (requests/s)")
    fig.update_layout(title=f"{_serving_label(results)} under Poisson load", height=420)
    return fig


def _serving_label(results: DemoResults) -> str:
    s = results.scenario.get("serving") or {}
    model = results.names.get(s.get("model", ""), s.get("model", "model"))
    return f"{model} TP{s.get('tp', 1)}"


def serving_config(results: DemoResults) -> str:
    """The serving configuration a figure states: batch, prompt and output lengths, level."""
    s = results.scenario.get("serving") or {}
    return (f"batch {s.get('batch')}, {s.get('input_len')} in / {s.get('output_len')} out, "
            f"{results.level} level")


def _training_label(results: DemoResults) -> str:
    t = results.scenario.get("training") or {}
    devices = t.get("tp", 1) * t.get("pp", 1) * t.get("dp", 1) * t.get("cp", 1)
    model = results.names.get(t.get("model", ""), t.get("model", "model"))
    return f"{model} training on {devices:,} devices (TP{t.get('tp')} PP{t.get('pp')} DP{t.get('dp')})"


def first_dtype(results: DemoResults) -> str | None:
    """The scenario's first serving dtype that some chip ran (a chip that could not run one is in `failures`)."""
    ran = {s["dtype"] for s in results.serving}
    return next((d for d in results.scenario.get("serving", {}).get("dtypes", ()) if d in ran),
                results.serving[0]["dtype"] if results.serving else None)


def first_dtype_rows(results: DemoResults) -> list[dict[str, Any]]:
    """Serving rows of the scenario's first dtype (first_dtype), one per chip that ran it."""
    first = first_dtype(results)
    return [s for s in results.serving if s["dtype"] == first]


# ----- static figures (matplotlib) -------------------------------------------------------------------------------
def png_load(plt: Any, results: DemoResults) -> Any:
    """Serving under load for slides: P99 TPOT and goodput against the request rate, per chip."""
    load = (results.scenario.get("serving") or {}).get("load") or {}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.0))
    for chip in dict.fromkeys(row["hw"] for row in results.load):
        rows = [row for row in results.load if row["hw"] == chip]
        rates = [row["rate"] for row in rows]
        left.plot(rates, [row["tpot_p99_s"] * 1e3 for row in rows], marker="o", label=chip)
        right.plot(rates, [row["goodput"] for row in rows], marker="o", label=chip)
    if load.get("slo_tpot_ms"):
        left.axhline(load["slo_tpot_ms"], color="grey", ls="--", lw=0.8)
    left.set(xlabel="request rate (requests/s)", ylabel="P99 TPOT (ms)")
    right.set(xlabel="request rate (requests/s)", ylabel="goodput (requests/s within SLOs)")
    left.legend(fontsize=8, frameon=False)
    fig.suptitle(f"{_serving_label(results)} under Poisson load ({results.level} level)", fontsize=10)
    fig.tight_layout()
    return fig


def write_static_figures(results: DemoResults, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    if results.kernels:
        fig = png_roofline_grid(plt, results)
        paths += _save(fig, out / "roofline")
        plt.close(fig)

    if not results.serving:
        return paths
    if results.load:
        fig = png_load(plt, results)
        paths += _save(fig, out / "serving_load")
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    items = sorted(results.elasticity.items(), key=lambda kv: abs(kv[1]))
    ax.barh([k for k, _ in items], [v for _, v in items], color=["#2ca02c" if v > 0 else "#d62728" for _, v in items])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("d log(decode tokens/s) / d log(parameter)")
    ax.set_title(f"What limits {_serving_label(results)} decode on {results.elasticity_chip}\n"
                 f"{serving_config(results)}", fontsize=10)
    fig.tight_layout()
    paths += _save(fig, out / "tornado")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    rows = first_dtype_rows(results)
    bottom = [0.0] * len(rows)
    for resource, color in RESOURCE_COLORS.items():
        values = [s["decode_attribution"].get(resource, 0.0) * 1e3 for s in rows]
        if any(values):
            ax.bar([s["hw"] for s in rows], values, bottom=bottom, color=color, label=resource)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("ms per decode step")
    ax.set_title(f"{_serving_label(results)} decode step by limiting resource\n"
                 f"{rows[0]['dtype'] if rows else ''}, {serving_config(results)}", fontsize=10)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    paths += _save(fig, out / "decode_breakdown")
    plt.close(fig)
    return paths


def png_roofline_grid(plt: Any, results: DemoResults) -> Any:
    """Slide-ready rooflines: one panel per chip in a grid of up to three columns, shared axes ranges, and one
    legend below naming every roof and every kernel (marker shape = kernel, fill colour = limiting resource)."""
    from matplotlib.lines import Line2D

    chips, names = results.chips, kernel_names(results)
    cols = min(3, len(chips))
    rows = math.ceil(len(chips) / cols)
    spare = rows * cols > len(chips)  # an empty panel holds the legend; else it goes below the grid
    legend_height = 0.0 if spare else 0.25 * (len(names) + 10) / 2
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.7 * rows + 0.6 + legend_height), squeeze=False,
                             sharey=True)
    roof_handles: dict[str, Any] = {}
    for ax, chip in zip(axes.flat, chips, strict=False):
        data = roofline_traces(results, chip)
        for name in sorted(data["roofs"], key=lambda n: n.startswith("SFU")):
            color, style, width = _roof_style(name)
            (line,) = ax.plot(data["x"], data["roofs"][name] / 1e12, ls=style, lw=width, color=color)
            label = _roof_label(data["roofs"], name)
            if name.startswith("SFU") and label != name:
                ax.annotate("SFU roof", (data["x"][-1], data["roofs"][name][-1] / 1e12), xytext=(-4, 4),
                            textcoords="offset points", ha="right", va="bottom", fontsize=7, color=color)
            roof_handles.setdefault(name, line)
        for p in data["points"]:
            marker = MPL_MARKERS[names.index(p["kernel"]) % len(MPL_MARKERS)]
            ax.scatter(p["intensity"], p["achieved"] / 1e12, marker=marker, s=55, zorder=3, edgecolors="black",
                       linewidths=0.6, color=RESOURCE_COLORS.get(p["bound"], "k"))
        ax.set(xscale="log", yscale="log", xlabel="FLOP / byte of HBM traffic")
        ax.set_title(chip["name"], fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes.flat[len(chips):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("TFLOP/s")
    kernels = [Line2D([], [], ls="", marker=MPL_MARKERS[i % len(MPL_MARKERS)], color="white", markeredgecolor="black",
                      markersize=7, label=name) for i, name in enumerate(names)]
    bounds = sorted({p["bound"] for p in results.kernels})
    colours = [Line2D([], [], ls="", marker="o", color=RESOURCE_COLORS.get(b, "k"), markersize=7,
                      label=f"bound by {b}") for b in bounds]
    handles = list(roof_handles.values()) + colours + kernels
    labels = list(roof_handles) + [h.get_label() for h in colours + kernels]
    if spare:
        axes.flat[-1].legend(handles, labels, loc="center", fontsize=7.5, frameon=False)
    else:
        fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    work = results.scenario.get("serving") or results.scenario.get("training") or {}
    model = results.names.get(work.get("model", ""), work.get("model", ""))
    fig.suptitle(f"Rooflines with the critical kernels of {model} (TP{work.get('tp', 1)} shapes, "
                 f"{results.level} level)", fontsize=12)
    fig.tight_layout(rect=(0, legend_height / fig.get_figheight(), 1, 0.97))
    return fig


def _save(fig: Any, stem: Path) -> list[Path]:
    paths = []
    for suffix in (".png", ".svg"):
        fig.savefig(stem.with_suffix(suffix), dpi=130)
        paths.append(stem.with_suffix(suffix))
    return paths


def plotly_by_op(results: DemoResults) -> Any:
    """Stacked bars: one decode step split by op type (attention, GEMMs, norms, communication, elementwise)."""
    import plotly.graph_objects as go

    rows = first_dtype_rows(results)
    fig = go.Figure()
    for group in rows[0]["decode_by_op"] if rows else []:
        fig.add_trace(go.Bar(name=group, x=[s["hw"] for s in rows], y=[s["decode_by_op"][group] * 1e3 for s in rows]))
    fig.update_layout(barmode="stack", title=f"{_serving_label(results)} decode step by op type"
                                             f"<br><sup>{rows[0]['dtype'] if rows else ''}, "
                                             f"{serving_config(results)}</sup>",
                      yaxis={"title": "ms per decode step"}, height=420)
    return fig


def plotly_tradeoff(results: DemoResults) -> Any:
    """Accuracy vs speed per number format: GEMM relative error against serving throughput."""
    import plotly.graph_objects as go

    rows = [r for r in results.tradeoff if r.get("fits")]
    xs = [100 * r["gemm_relative_error"] for r in rows]
    ys = [r["output_tokens_per_s"] for r in rows]
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="markers+text", text=[r["format"] for r in rows],
                               textposition=label_positions(xs, ys), marker={"size": 12}, cliponaxis=False,
                               hovertemplate="%{text}: %{x:.2f} % error, %{y:,.0f} tokens/s<extra></extra>"))
    if rows:  # room around the points so no label is cut at the plot's edge
        lo, hi = math.log10(min(xs)), math.log10(max(xs))
        span = max(max(ys) - min(ys), 0.05 * max(ys))
        fig.update_xaxes(range=[lo - 0.15 * (hi - lo or 1), hi + 0.15 * (hi - lo or 1)])
        fig.update_yaxes(range=[min(ys) - 0.15 * span, max(ys) + 0.18 * span])
    fig.update_layout(title=f"Accuracy vs speed per number format<br><sup>{_serving_label(results)} on "
                            f"{results.tradeoff_chip}, {serving_config(results)}; weights, activations and KV cache "
                            "in the format</sup>",
                      xaxis={"title": "GEMM relative error at K = hidden size (%)", "type": "log"},
                      yaxis={"title": "output tokens/s (replica)"}, height=460)
    return fig


def label_positions(xs: list[float], ys: list[float]) -> list[str]:
    """Text positions that keep neighbouring labels apart: points close in (log x, y) alternate above/below and
    left/right, the rest sit above."""
    if not xs:
        return []
    lx = [math.log10(max(x, 1e-12)) for x in xs]
    x_span = (max(lx) - min(lx)) or 1.0
    y_span = (max(ys) - min(ys)) or 1.0
    order = sorted(range(len(xs)), key=lambda i: (lx[i], ys[i]))
    positions = ["top center"] * len(xs)
    for rank, i in enumerate(order):
        crowded = [j for j in order[:rank] if abs(lx[i] - lx[j]) / x_span < 0.12 and abs(ys[i] - ys[j]) / y_span < 0.25]
        if crowded:
            j = crowded[-1]
            below = ys[i] < ys[j] or (ys[i] == ys[j] and positions[j].startswith("top"))
            side = "right" if lx[i] >= lx[j] else "left"
            positions[i] = f"{'bottom' if below else 'top'} {side}"
            if positions[j] == "top center":
                positions[j] = f"{'top' if below else 'bottom'} {'left' if side == 'right' else 'right'}"
    return positions


def plotly_validation(results: DemoResults) -> Any:
    """Mean absolute error against the public measured dev set, per category and level."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for level in dict.fromkeys(v["level"] for v in results.validation):
        rows = [v for v in results.validation if v["level"] == level]
        fig.add_trace(go.Bar(name=level, x=[v["category"] for v in rows], y=[100 * v["mean_abs"] for v in rows]))
    fig.update_layout(barmode="group", title="Error vs published measurements<br><sup>dev set, mean |error| per "
                                             "category and level</sup>",
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
    fig.update_layout(boxmode="group", title="Predicted / measured time per dev-set row<br><sup>1 = exact, > 1 = the model is slow</sup>",
                      yaxis={"type": "log", "title": "predicted / measured time"}, height=440)
    return fig
